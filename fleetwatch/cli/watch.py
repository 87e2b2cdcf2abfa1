"""``fleetwatch [--once]``, ``fleetwatch check`` and ``fleetwatch demo``: the commands that run passes."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch.cli.output import diag, out, reader_gone, run
from fleetwatch.cli.render import (
    check_document,
    check_lines,
    check_summary,
    open_lines,
    transition_lines,
)
from fleetwatch.cli.settings import effective_config, no_hosts, open_store, selected_fleet
from fleetwatch.cli.stream import Stamp, colour_wanted, pass_line, start_line
from fleetwatch.config import Config
from fleetwatch.episodes import Change
from fleetwatch.errors import ConfigError
from fleetwatch.events import ActionFinished, DeliveriesFlushed, PassFinished, WatcherEvent
from fleetwatch.inventory.fleet import Fleet
from fleetwatch.notify.apprise_edge import redact
from fleetwatch.pipeline import PassResult
from fleetwatch.settings import CHECK_DEADLINE, CHECK_INTERVAL, WATCH_INTERVAL
from fleetwatch.status import ExitCode, FleetStatus
from fleetwatch.watcher import Watcher

if TYPE_CHECKING:
    from fleetwatch.exporter import MetricsServer

QUIET_EVENTS = (PassFinished, DeliveriesFlushed, ActionFinished)
"""Events the CLI does not print on stderr (``check`` prints actions on stdout)."""


def _diagnose(event: WatcherEvent) -> None:
    """What the watcher reports, as one ``fleetwatch: …`` line on stderr."""
    if not isinstance(event, QUIET_EVENTS):
        diag(str(event))


def _first_lines(status: FleetStatus, result: PassResult, as_json: bool) -> list[str]:
    """The first pass: every open alert (the watcher's own included), then what resolved."""
    resolved = [t for t in result.transitions if t.change is Change.RESOLVED]
    return open_lines(status, as_json) + transition_lines(resolved, as_json)


def _serve_metrics(watcher: Watcher) -> MetricsServer | None:
    """Serve /metrics where the config says, starting from the stored status; count the watcher's events."""
    listen = watcher.config.metrics_listen
    if not listen:
        return None
    from fleetwatch.exporter import serve_metrics  # prometheus_client loads only when metrics are asked for

    server = serve_metrics(listen, watcher.status())
    shown = watcher.emit

    def emit(event: WatcherEvent) -> None:
        server.record(event)
        shown(event)

    watcher.emit = emit
    diag(f"serving metrics at {server.url}")  # even with --quiet: the one way to learn a port-0 address
    return server


async def _loop(args: argparse.Namespace, watcher: Watcher) -> ExitCode:
    stamp = Stamp(utc=bool(args.utc), colour=colour_wanted())
    if not args.quiet:
        targets = [redact(t.url) for t in watcher.config.notify]
        state = str(watcher.store.path.parent)
        diag(
            start_line(len(watcher.fleet.names), watcher.settings.interval_s, state, targets, bool(args.once))
        )
    first = True
    metrics = None
    try:
        metrics = None if args.once else _serve_metrics(watcher)
        while True:
            started = time.monotonic()
            result = await watcher.run_pass()
            if result is None:  # the state database could not take it: said on stderr, kept for next pass
                if args.once:
                    return ExitCode.UNKNOWN
                await asyncio.sleep(max(0.0, watcher.settings.interval_s - (time.monotonic() - started)))
                continue
            status = watcher.status(after=result)
            if metrics is not None:
                metrics.show(status)
            lines = (
                _first_lines(status, result, args.json)
                if first
                else transition_lines(result.transitions, args.json)
            )
            out(lines if args.json else stamp.lines(lines, status.now))
            if not args.quiet and not args.once:
                diag(pass_line(stamp, watcher.passes, status, result.seconds))
            await watcher.after_pass(
                result, dry_run=args.dry_run, background=not args.once, blind=status.blind
            )
            if args.once:
                await watcher.drain()
                return status.code
            if reader_gone():  # whoever read our alerts is gone (`fleetwatch | head`): end like Ctrl-C
                return ExitCode.OK
            first = False
            del result  # every host's snapshot: not kept alive through the next pass (memory at 500 hosts)
            await asyncio.sleep(max(0.0, watcher.settings.interval_s - (time.monotonic() - started)))
    finally:
        if metrics is not None:
            metrics.close()
        await watcher.close()


def _open(
    args: argparse.Namespace, config: Config, fleet: Fleet, keep_open: bool, interval: float = WATCH_INTERVAL
) -> Watcher:
    if not fleet.hosts and not fleet.unresolved:
        raise ConfigError(no_hosts(fleet))  # check prints it as its UNKNOWN status line too
    for target in config.notify:  # a misspelt group would silently never be notified
        unknown = sorted(target.groups - fleet.known_groups)
        if unknown:
            known = ", ".join(sorted(fleet.known_groups)) or "none"
            diag(
                f"notify target {redact(target.url)} names group(s) {', '.join(unknown)} that no inventory "
                f"declares (groups: {known}): nothing about them will reach it"
            )
    store = open_store(args)
    deadline = CHECK_DEADLINE if interval == CHECK_INTERVAL else None
    return Watcher(
        fleet,
        store,
        config,
        keep_open=keep_open,
        default_interval=interval,
        default_deadline=deadline,
        emit=_diagnose,
    )


def cmd_watch(args: argparse.Namespace) -> ExitCode:
    """The main command: watch continuously, or one pass with --once."""
    if args.once and getattr(args, "metrics_listen", None):
        raise ConfigError(
            "--metrics-listen serves a watcher's metrics and --once does not stay to be scraped; for one "
            "pass use `fleetwatch check --metrics-file PATH` (node_exporter's textfile collector)"
        )
    config = effective_config(args)
    watcher = _open(args, config, selected_fleet(args, config), keep_open=not args.once)
    try:
        return run(_loop(args, watcher))
    finally:
        watcher.store.close()


async def _check(args: argparse.Namespace, watcher: Watcher) -> ExitCode:
    actions: list[ActionFinished] = []
    passes: list[WatcherEvent] = []

    def emit(event: WatcherEvent) -> None:
        if isinstance(event, ActionFinished):
            actions.append(event)
        passes.append(event)
        _diagnose(event)

    watcher.emit = emit
    try:
        started = time.monotonic()
        result = await watcher.run_pass()
        if result is None:  # the state database could not take the pass (said on stderr): say so here too
            out(["FLEETWATCH UNKNOWN - the state database could not store this pass; see stderr"])
            return ExitCode.UNKNOWN
        await watcher.after_pass(result, dry_run=args.dry_run, background=False)
        await watcher.drain()
        status = watcher.status(after=result)
        summary = check_summary(status, time.monotonic() - started)
        if args.json:
            out([json.dumps(check_document(status, summary, actions), default=str)])
        else:
            out(check_lines(status, summary, actions))
        if getattr(args, "metrics_file", None):
            _write_metrics(Path(args.metrics_file), status, passes)
        return summary.code
    finally:
        await watcher.close()


def _metrics_file_writable(path: str | None) -> None:
    """Refuse a --metrics-file whose directory is missing before polling, not after."""
    if path and not Path(path).expanduser().parent.is_dir():
        raise ConfigError(
            "--metrics-file: its directory does not exist (node_exporter's textfile directory?)", path=path
        )


def _write_metrics(path: Path, status: FleetStatus, events: list[WatcherEvent]) -> None:
    """The check's metrics for node_exporter's textfile collector.  A failed write is said on stderr and
    leaves the exit code alone: it is this check's verdict on the fleet, and the file's age
    (node_textfile_mtime_seconds) shows Prometheus that it stopped being refreshed."""
    from fleetwatch.exporter import Exposed, PassStats, write_textfile

    stats = PassStats()
    for event in events:
        stats = stats.after(event)
    try:
        write_textfile(path, Exposed(status, stats))
    except ConfigError as exc:
        diag(str(exc))


def cmd_check(args: argparse.Namespace) -> ExitCode:
    """One pass for cron: a monitoring-plugin summary line, one line per open alert, exit 0/1/2/3."""
    _metrics_file_writable(getattr(args, "metrics_file", None))
    config = effective_config(args)
    watcher = _open(args, config, selected_fleet(args, config), keep_open=False, interval=CHECK_INTERVAL)
    try:
        return run(_check(args, watcher))
    finally:
        watcher.store.close()


def cmd_demo(args: argparse.Namespace) -> ExitCode:
    """Start the embedded simulated fleet and run the main command against it."""
    from fleetwatch.demo import demo_fleet

    async def demo() -> ExitCode:
        async with demo_fleet() as fleet:
            args.ssh_config, args.inventory = str(fleet.ssh_config), None
            args.state_dir = args.state_dir or str(fleet.state_dir)
            config = effective_config(args, base=Config())
            watcher = _open(args, config, selected_fleet(args, config), keep_open=not args.once)
            try:
                return await _loop(args, watcher)
            finally:
                watcher.store.close()

    return run(demo())
