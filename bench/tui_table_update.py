"""Time per fleet-table update in the TUI with N hosts (default 500), headless, in the real App.

    .venv/bin/python bench/tui_table_update.py [--hosts 500] [--passes 40] [--size 160x50]

Each "pass" is a new ``FleetStatus`` built by ``status.build`` from stored polls, as the backend posts
after a real pass: every host's newest event is a pass older (so its LAST EVENT cell changes), about 10 %
of hosts report a new disk % and load, about 2 % open or resolve an alert (their state and the worst-first
order change).  Measured per pass, on the UI thread:

  update   FleetScreen.refresh_view: the cells of every row, the keyed diff, update_cell for the changed
           cells, one sort when the order changed, the cursor put back on its host
  paint    until the screen has processed the refresh (layout and render of the visible rows; the
           harness's own round trip with nothing to redraw is printed beside it)
  tick     the once-a-second refresh while a pass is out (every POLL cell reads "polling… N s")

and, for comparison, the clear-and-refill the TUI never does (it also loses the cursor).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.text import Text

from fleetwatch.episodes import Episode
from fleetwatch.findings import Severity
from fleetwatch.polls import HostFacts, HostPoll
from fleetwatch.status import FleetStatus, HostEntry, StoredState, build
from fleetwatch.tui import columns
from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.backend import Options
from fleetwatch.tui.messages import PassSummary
from fleetwatch.tui.screens.fleet import FleetScreen
from fleetwatch.watcher import Watcher

INTERVAL = 60.0
DETECTORS = ("disk_critical", "oauth_fail", "supervisor_stale", "remote_blip")


class Fleet:
    """N hosts' stored state, moved forward one pass at a time."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.now = 1_800_000_000.0
        self.entries = [HostEntry(f"pi{i:03d}", (f"rack{i % 8}",)) for i in range(n)]
        self.disk = {e.alias: self.rng.uniform(20, 90) for e in self.entries}
        self.load = {e.alias: self.rng.uniform(0, 4) for e in self.entries}
        self.event_at = {e.alias: self.now - self.rng.uniform(10, 900) for e in self.entries}
        self.episodes: dict[tuple[str, str], Episode] = {}
        self.passes: list[float] = []

    def step(self) -> FleetStatus:
        """One more pass: time moves, some values and alerts change."""
        self.now += INTERVAL
        self.passes = [*self.passes, self.now][-6:]
        for e in self.rng.sample(self.entries, max(1, len(self.entries) // 10)):
            self.disk[e.alias] = min(99.0, self.disk[e.alias] + self.rng.uniform(-2, 3))
            self.load[e.alias] = max(0.0, self.load[e.alias] + self.rng.uniform(-1, 1))
            self.event_at[e.alias] = self.now - self.rng.uniform(1, 30)
        for e in self.rng.sample(self.entries, max(1, len(self.entries) // 50)):
            key = (e.alias, self.rng.choice(DETECTORS))
            if key in self.episodes:
                del self.episodes[key]
            else:
                sev = Severity.CRITICAL if key[1] != "supervisor_stale" else Severity.WARNING
                self.episodes[key] = Episode(*key, sev, "bench", "", {}, self.now, self.now)
        polls = {
            e.alias: HostPoll(
                e.alias,
                self.now,
                ok_at=self.now,
                latency_s=round(self.rng.uniform(0.05, 0.4), 2),
                facts=HostFacts(
                    received_at=self.now,
                    remote_time=self.now,
                    understood=True,
                    round=int((self.now - 1_799_000_000) // 500),
                    phase=None,
                    newest_event="round_end",
                    newest_event_at=self.event_at[e.alias],
                    disk_used_pct=self.disk[e.alias],
                    load_1m=self.load[e.alias],
                ),
            )
            for e in self.entries
        }
        stored = StoredState(polls, dict(self.episodes), {}, (), (), self.passes)
        return build(self.entries, stored, self.now, interval_s=INTERVAL, gap_factor=3)


async def never(stack: AsyncExitStack) -> Watcher:
    """No watcher: the benchmark feeds statuses itself."""
    await asyncio.Event().wait()
    raise AssertionError


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(samples) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


async def measure(n: int, passes: int, size: tuple[int, int]) -> None:
    fleet = Fleet(n)
    app = FleetwatchApp(never, options=Options(autopoll=False), clock=lambda: fleet.now)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.table

        def timed(work: Callable[[], object]) -> float:
            started = time.perf_counter()
            work()
            return time.perf_counter() - started

        first = fleet.step()
        app.state.status_read(first, PassSummary(1, 1.0, 0), True)
        initial = timed(screen.refresh_view)
        await pilot.pause()
        table.move_cursor(row=n // 2)
        await pilot.pause()
        held = table.selected
        writes: list[int] = []
        apply = table.apply

        def counted(rows: list[tuple[str, dict[str, tuple[str, str]]]]) -> int:
            writes.append(apply(rows))
            return writes[-1]

        table.apply = counted  # type: ignore[method-assign,assignment]
        updates, paints, cells = [], [], []
        moved = 0
        for number in range(2, passes + 2):
            status = fleet.step()
            app.state.status_read(status, PassSummary(number, 1.0, 0), True)
            updates.append(timed(screen.refresh_view))
            cells.append(writes[-1])
            started = time.perf_counter()
            await pilot.pause()
            paints.append(time.perf_counter() - started)
            assert table.selected == held, "the cursor left its host"
            moved += table.cursor_row != n // 2
        idle = []
        for _ in range(10):  # what the test harness's round trip costs with nothing to redraw
            started = time.perf_counter()
            await pilot.pause()
            idle.append(time.perf_counter() - started)
        ticks = []
        app.state.pass_started(tuple(e.alias for e in fleet.entries), fleet.now)
        for _ in range(10):
            fleet.now += 1.0
            ticks.append(timed(screen.refresh_view))
            await pilot.pause()
        app.state.status_read(fleet.step(), PassSummary(0, 1.0, 0), True)
        refills = []
        ctx = app.state.row_context()
        keys = table.column_keys
        for _ in range(5):
            rows = [(h.alias, columns.cells(h, ctx)) for h in app.state.status.hosts]  # type: ignore[union-attr]

            def refill(rows: list[tuple[str, dict[str, tuple[str, str]]]] = rows) -> None:
                table.clear()
                for alias, row in rows:
                    table.add_row(*(Text(*row.get(k, ("", ""))) for k in keys), key=alias)

            refills.append(timed(refill))
            await pilot.pause()
        table._shown, table._firsts = {}, {}  # the refill bypassed the keyed bookkeeping
        print(f"{n} hosts, {passes} passes, {size[0]}x{size[1]}, columns: {', '.join(keys)}")
        print(f"  first fill          {initial * 1000:6.1f} ms")
        print(f"  update per pass     {ms(updates)}   ({statistics.median(cells):.0f} cells changed)")
        alone = statistics.median(idle) * 1000
        print(f"  paint after update  {ms(paints)}   (harness round trip alone: {alone:.0f} ms)")
        print(f"  polling tick        {ms(ticks)}")
        print(f"  clear and refill    {ms(refills)}   (what the TUI never does: the cursor jumps to row 0)")
        print(f"  cursor stayed on {held} through every re-sort ({moved} passes moved its row)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--passes", type=int, default=40)
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    asyncio.run(measure(args.hosts, args.passes, (width, height)))


if __name__ == "__main__":
    main()
