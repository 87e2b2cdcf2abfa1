"""The TUI under test: the App against a live demo fleet (real SSH on loopback, in the backend's own
thread), or against a state store filled from the demo hosts' answers at a fixed time (still pictures).

Pilot tests run with ``asyncio.run`` (the suite runs with ``-p no:asyncio``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from textual.pilot import Pilot

from fleetwatch.basics import Duration
from fleetwatch.config import Config
from fleetwatch.demo import HOSTS, SimHost, demo_fleet
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.fleet import Fleet, Member, select_fleet
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.pipeline import settle
from fleetwatch.probe.command import EVENTS, ROUND_LOGS, TAIL_LINES
from fleetwatch.probe.parse import parse_gather
from fleetwatch.snapshot import Snapshot
from fleetwatch.store import Store
from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.backend import Opener, Options
from fleetwatch.watcher import Watcher

T = TypeVar("T")

NOW = 1_800_000_000.0
"""The fixed time of still pictures (2027-01-15 08:00 UTC)."""
QUICK = tuple(h for h in HOSTS if h.delay_s == 0)
"""The demo hosts without the slow one (3 s): every Pilot test polls them at least once."""


def demo_opener(
    tmp: Path, hosts: tuple[SimHost, ...] = QUICK, *, timeout: float = 10.0, base: Config | None = None
) -> Opener:
    """The watcher on a demo fleet started in the backend's loop (as ``fleetwatch tui --demo`` does);
    ``base`` is the config before the test's timeout (its rules, say)."""

    async def opener(stack: AsyncExitStack) -> Watcher:
        fleet = await stack.enter_async_context(demo_fleet(tmp / "demo", hosts=hosts))
        start = base or Config()
        config = replace(start, passes=replace(start.passes, timeout=Duration(timeout)))
        selected = select_fleet(fleet.ssh_config, [], [], [], explicit_config=True)
        store = Store.open(fleet.state_dir)
        stack.callback(store.close)
        return Watcher(selected, store, config, keep_open=True)

    return opener


def live_app(tmp: Path, hosts: tuple[SimHost, ...] = QUICK, **options: object) -> FleetwatchApp:
    """The App on a live demo fleet; ``options`` go to ``Options`` (``dry_run``, ``read_only``) but
    ``timeout`` and ``config`` (see ``demo_opener``)."""
    timeout = float(options.pop("timeout", 10.0))  # type: ignore[arg-type]
    base = options.pop("config", None)
    assert base is None or isinstance(base, Config)
    return FleetwatchApp(
        demo_opener(tmp, hosts, timeout=timeout, base=base),
        options=Options(**options),  # type: ignore[arg-type]
        view_file=tmp / "view.json",
        bug_log=tmp / "tui-errors.log",
    )


def pilot_run(
    app: FleetwatchApp, body: Callable[[Pilot[int]], Awaitable[T]], size: tuple[int, int] = (160, 50)
) -> T:
    """Run ``body`` against the App in a fresh event loop; the backend stops with the App."""

    async def main() -> T:
        async with app.run_test(size=size) as pilot:
            return await body(pilot)

    return asyncio.run(main())


async def until(
    pilot: Pilot[int], ready: Callable[[], object], timeout: float = 15.0, what: str = ""
) -> None:
    """Let the App run until ``ready()`` is true."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or ready}")
        await pilot.pause(0.05)


async def first_pass(pilot: Pilot[int]) -> None:
    """Until the first pass has settled and the table shows it."""
    app = pilot.app
    assert isinstance(app, FleetwatchApp)
    await until(pilot, lambda: app.state.last_pass is not None, what="the first pass")
    await pilot.pause()


def rows(app: FleetwatchApp) -> list[str]:
    """The fleet table's row keys, top to bottom."""
    from fleetwatch.tui.screens.fleet import FleetScreen

    screen = next(s for s in app.screen_stack if isinstance(s, FleetScreen))
    return [str(r.key.value) for r in screen.table.ordered_rows]


def cell(app: FleetwatchApp, host: str, column: str) -> str:
    """The text of one cell of the fleet table."""
    from fleetwatch.tui.screens.fleet import FleetScreen

    screen = next(s for s in app.screen_stack if isinstance(s, FleetScreen))
    return str(screen.table.get_cell(host, column).plain)


# --- still pictures: a state store filled from the demo hosts' answers at NOW ---------------------------


def still_results(at: float) -> dict[str, Snapshot | PollFailure]:
    """What each demo host answered at ``at`` (the unreachable one: a connect failure)."""
    results: dict[str, Snapshot | PollFailure] = {}
    for i, sim in enumerate(HOSTS):
        if sim.history is None:
            results[sim.alias] = PollFailure(
                Stage.CONNECT,
                "connection refused by 127.0.0.1:2205",
                "is sshd running on the host, and is the port right?",
                latency_s=0.004,
            )
            continue
        from fleetwatch.demo.hosts import gather_answer

        text = gather_answer(sim, at, EVENTS, TAIL_LINES, ROUND_LOGS)
        snap = parse_gather(sim.alias, text, "", at)
        results[sim.alias] = replace(snap, latency_s=round(0.08 + 0.01 * i + sim.delay_s, 3))
    return results


def still_fleet(state_dir: Path) -> tuple[Fleet, dict[str, Snapshot]]:
    """Two passes of the demo hosts' answers settled into a state store (at NOW - 120 and NOW - 60)."""
    groups = {"demo-healthy": ("lab",), "demo-disk": ("lab",), "demo-auth": ("attic",)}
    hosts = tuple(
        Host(s.alias, SshTarget(s.alias, "127.0.0.1", "demo", port=2200 + i), groups.get(s.alias, ()))
        for i, s in enumerate(HOSTS)
    )
    store = Store.open(state_dir)
    latest: dict[str, Snapshot] = {}
    try:
        for at in (NOW - 120, NOW - 60):
            results = still_results(at)
            settle(store, hosts, results, at)
            latest = {a: r for a, r in results.items() if isinstance(r, Snapshot)}
    finally:
        store.close()
    members = tuple(Member(h.alias, h.groups) for h in hosts)
    return Fleet(members, hosts, {}, state_dir / "ssh_config"), latest


def still_app(tmp: Path) -> FleetwatchApp:
    """The App on the filled store, at NOW, never polling: the same picture every run."""
    state_dir = tmp / "state"
    fleet, latest = still_fleet(state_dir)

    async def opener(stack: AsyncExitStack) -> Watcher:
        store = Store.open(state_dir)
        stack.callback(store.close)
        return Watcher(fleet, store, Config(), keep_open=False)

    app = FleetwatchApp(
        opener,
        options=Options(autopoll=False),
        clock=lambda: NOW,
        view_file=tmp / "view.json",
        bug_log=tmp / "tui-errors.log",
    )
    app.state.snapshots.update(latest)
    return app


async def still_ready(pilot: Pilot[int]) -> None:
    """Until the still App shows the stored status."""
    app = pilot.app
    assert isinstance(app, FleetwatchApp)
    await until(pilot, lambda: app.state.status is not None and app.state.info is not None, what="status")
    await pilot.pause()
