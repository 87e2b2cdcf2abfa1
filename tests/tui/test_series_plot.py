"""The detail screen's plot widget, fed real series: round durations and spend that agent-runner 0.3.14
recorded (``tests/fixtures/agent_runner``), shaped as the history store's ``series`` returns them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult

from fleetwatch.snapshot import parse_ts
from fleetwatch.store import Store
from fleetwatch.tui.chart import braille
from fleetwatch.tui.history import Points, SeriesProvider, on_own_store
from fleetwatch.tui.widgets.series_plot import SeriesPlot
from tests.tui.harness import NOW

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agent_runner"
CAPTURES = ("peek_healthy_max_rounds_done.json", "peek_healthy_draining_after_stop.json")


def _points(metric: str) -> list[tuple[float, float]]:
    """``round_duration_s`` (agent_exit) or ``spend_usd`` (agent_usage_recorded) from the captures."""
    kind, field = {
        "round_duration_s": ("agent_exit", "duration_s"),
        "spend_usd": ("agent_usage_recorded", "cost_usd"),
    }[metric]
    seen: dict[float, float] = {}
    for name in CAPTURES:
        for e in json.loads((FIXTURES / name).read_text())["recent_events"]:
            ts = parse_ts(e.get("ts"))
            if e.get("event") == kind and ts is not None and isinstance(e.get(field), int | float):
                seen[ts] = float(e[field])
    return sorted(seen.items())


def captured_series(end: float = NOW) -> SeriesProvider:
    """A ``series(host, metric, since, until)`` over the captured rounds, moved in time to end at ``end``
    (the shape issue 9's history store answers in); disk and load: the captures' own system figures."""
    rounds = _points("round_duration_s")
    shift = end - rounds[-1][0]
    system = json.loads((FIXTURES / CAPTURES[-1]).read_text())["system"]
    data: dict[str, Points] = {
        "round_duration_s": [(t + shift, v) for t, v in rounds],
        "spend_usd": [(t + shift, v) for t, v in _points("spend_usd")],
        "disk_used_pct": [(t + shift, float(system["disk_used_pct"])) for t, _ in rounds],
        "load_1m": [(t + shift, float(system["load_1m"]) + 0.1 * i) for i, (t, _) in enumerate(rounds)],
    }

    def series(host: str, metric: str, since: float, until: float) -> Points:
        return [(t, v) for t, v in data.get(metric, []) if since <= t <= until]

    return series


class PlotApp(App[None]):
    def __init__(self, provider: SeriesProvider, window_s: float = 3600.0) -> None:
        super().__init__()
        self.provider = provider
        self.window_s = window_s

    def compose(self) -> ComposeResult:
        yield SeriesPlot(
            "pi3",
            "round_duration_s",
            "round duration",
            "{:.0f} s".format,
            self.provider,
            window_s=self.window_s,
            clock=lambda: NOW,
        )


def rendered(provider: SeriesProvider) -> str:
    async def main() -> str:
        app = PlotApp(provider)
        async with app.run_test(size=(60, 8)) as pilot:
            plot = app.query_one(SeriesPlot)
            for _ in range(100):
                if plot.points is not None or plot.problem is not None:
                    break
                await pilot.pause(0.02)
            await pilot.pause()
            return str(plot.render())

    return asyncio.run(main())


def test_a_real_series_is_drawn_with_its_latest_value_and_range() -> None:
    text = rendered(captured_series())
    assert text.startswith("round duration (1 h)  now 8 s")
    lines = text.splitlines()
    assert len(lines) == 8 and any(ch not in " ⠀" for ch in lines[1][8:])  # dots drawn
    assert lines[1].strip().startswith("8 s") or lines[1].lstrip()[0].isdigit()


def test_no_samples_and_a_failing_provider_say_so_instead_of_raising() -> None:
    assert "no samples in this window" in rendered(lambda *_: [])

    def broken(host: str, metric: str, since: float, until: float) -> Points:
        raise OSError("database is locked")

    assert "history unavailable: OSError: database is locked" in rendered(broken)


def test_braille_joins_samples_and_keeps_inside_its_box() -> None:
    lines = braille([(0.0, 0.0), (10.0, 10.0)], 5, 2, 0.0, 10.0)
    assert len(lines) == 2 and all(len(x) == 5 for x in lines)
    assert lines[1][0] != "⠀" and lines[0][-1] != "⠀"  # bottom-left to top-right
    flat = braille([(0.0, 3.0), (5.0, 3.0)], 4, 1, 0.0, 5.0)
    assert flat[0] != "⠀" * 4  # a constant is still a line
    assert braille([], 3, 1, 0.0, 1.0) == ["⠀⠀⠀"]


def test_on_own_store_gives_each_thread_its_own_connection(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    seen: list[int] = []

    def latest_polls(store: Store, host: str) -> int:
        seen.append(id(store.connection))
        return len(store.polls())

    bound: Callable[[str], int] = on_own_store(tmp_path, latest_polls)

    async def main() -> None:
        await asyncio.gather(*(asyncio.to_thread(bound, "pi3") for _ in range(4)))

    asyncio.run(main())
    assert bound("pi3") == 0 and len(seen) == 5
