"""``fleetwatch tui`` (and ``fleetwatch demo --tui``): the Textual front end on the same watcher.

Settings, the fleet and the state directory are checked here, before the screen takes over, so a bad
flag or an unreadable state store is one ``fleetwatch: …`` line and exit 3 like any other command.
Textual is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch import paths
from fleetwatch.cli.output import diag, ending_signals
from fleetwatch.cli.settings import effective_config, no_hosts, selected_fleet
from fleetwatch.config import Config
from fleetwatch.inventory.fleet import Fleet
from fleetwatch.status import ExitCode
from fleetwatch.store import Store
from fleetwatch.watcher import Watcher

if TYPE_CHECKING:
    from fleetwatch.exporter import MetricsServer
    from fleetwatch.tui.backend import Opener
    from fleetwatch.tui.history import History


def history_for(state_dir: Path) -> History:
    """The history store's series for the TUI's plots: ``series(store, host, metric, since, until)``
    and ``disk_full_eta(store, host, now)``, each bound to a state-store connection of the calling
    thread's own."""
    from fleetwatch import history
    from fleetwatch.tui.history import History, on_own_store

    return History(
        series=on_own_store(state_dir, history.series),
        disk_full_eta=on_own_store(state_dir, history.disk_full_eta),
    )


def cmd_tui(args: argparse.Namespace) -> ExitCode:
    """Watch the fleet in a full-screen terminal UI (``--demo``: on the embedded simulated fleet)."""
    demo = bool(getattr(args, "demo", False) or getattr(args, "tui", False))
    if demo:
        with tempfile.TemporaryDirectory(prefix="fleetwatch-demo-") as workdir:
            state_dir = paths.state_dir(args.state_dir) if args.state_dir else Path(workdir) / "state"
            listen = getattr(args, "metrics_listen", None)  # the demo reads no config file
            return _run(args, _demo_opener(args, Path(workdir), state_dir), state_dir, listen)
    config = effective_config(args)
    fleet = selected_fleet(args, config)
    if not fleet.hosts and not fleet.unresolved:
        diag(no_hosts(fleet))
        return ExitCode.UNKNOWN
    state_dir = paths.state_dir(args.state_dir)
    Store.open(state_dir).close()  # fail here, with one line, if it cannot be opened
    return _run(args, _opener(fleet, config, state_dir), state_dir, config.metrics_listen)


def _run(args: argparse.Namespace, opener: Opener, state_dir: Path, listen: str | None) -> ExitCode:
    from fleetwatch.tui.app import FleetwatchApp
    from fleetwatch.tui.backend import Options

    metrics = _serve_metrics(listen)  # before the screen: a port in use is one line and exit 3
    if metrics is not None:
        diag(f"serving metrics at {metrics.url}")  # under the screen while it runs, there after it
    try:
        options = Options(
            dry_run=bool(args.dry_run), read_only=bool(getattr(args, "read_only", False)), publish=metrics
        )
        app = FleetwatchApp(
            opener,
            options=options,
            history=history_for(state_dir),
            view_file=paths.tui_view_file(),
            bug_log=paths.tui_view_file().with_name("tui-errors.log"),
            end_on=ending_signals(),
        )
        app.run()
    finally:
        if metrics is not None:
            metrics.close()
    return ExitCode.UNKNOWN if app.return_code else ExitCode.OK


def _serve_metrics(listen: str | None) -> MetricsServer | None:
    """``/metrics`` for the TUI's watcher (as watch mode serves it), from the first status it reads."""
    if not listen:
        return None
    from fleetwatch.exporter import serve_metrics  # prometheus_client loads only when metrics are asked for

    return serve_metrics(listen)


def _opener(fleet: Fleet, config: Config, state_dir: Path) -> Opener:
    """The watcher on the selected fleet and the state store."""

    async def opener(stack: AsyncExitStack) -> Watcher:
        # Opened in the backend's thread: a SQLite connection belongs to the thread that opened it.
        store = Store.open(state_dir)
        stack.callback(store.close)
        return Watcher(fleet, store, config, keep_open=True)

    return opener


def _demo_opener(args: argparse.Namespace, workdir: Path, state_dir: Path) -> Opener:
    """Start the embedded demo fleet (keys and ssh_config in ``workdir``) in the backend's loop, then
    the watcher on it, its state in ``state_dir``."""

    async def opener(stack: AsyncExitStack) -> Watcher:
        from fleetwatch.demo import demo_fleet

        fleet = await stack.enter_async_context(demo_fleet(workdir))
        args.ssh_config, args.inventory = str(fleet.ssh_config), None
        config = effective_config(args, base=Config())  # never the user's notification targets
        store = Store.open(state_dir)
        stack.callback(store.close)
        return Watcher(selected_fleet(args, config), store, config, keep_open=True)

    return opener
