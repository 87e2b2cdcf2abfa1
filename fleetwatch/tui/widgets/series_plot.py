"""One history plot of the host detail screen: a metric over a window, from a series provider.

The provider is a plain callable ``(host, metric, since, until) -> [(time, value), …]`` (the history
store's ``series`` bound to a store, ``fleetwatch.tui.history``); it is called in a thread worker, so a
slow query never blocks the screen, and what it raises is shown in the plot, never as a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import work
from textual.widget import Widget

from fleetwatch.tui.chart import bounds, braille
from fleetwatch.tui.history import Points, SeriesProvider

GUTTER = 8
"""Cells left of the chart for the value labels."""


def window_label(seconds: float) -> str:
    """``1 h``, ``24 h``, ``7 d``."""
    if seconds >= 86400 * 2:
        return f"{seconds / 86400:g} d"
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


class SeriesPlot(Widget):
    """Title, latest value and a braille chart of one metric over ``window_s``."""

    def __init__(
        self,
        host: str,
        metric: str,
        label: str,
        fmt: Callable[[float], str],
        provider: SeriesProvider,
        *,
        window_s: float,
        clock: Callable[[], float],
        note: str = "",
    ) -> None:
        super().__init__(classes="plot")
        self.host = host
        self.metric = metric
        self.label = label
        self.fmt = fmt
        self.provider = provider
        self.window_s = window_s
        self.clock = clock
        self.note = note
        """A line under the title (the disk-full estimate)."""
        self.points: Sequence[tuple[float, float]] | None = None
        self.problem: str | None = None
        self._span = (0.0, 1.0)

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read the series again (after a pass)."""
        until = self.clock()
        self._load(until - self.window_s, until)

    @work(thread=True, exclusive=True, group="series", exit_on_error=False)
    def _load(self, since: float, until: float) -> None:
        try:
            points: Points | None = list(self.provider(self.host, self.metric, since, until))
            problem = None
        except Exception as exc:  # the history store is not ours to trust: say it, never crash
            points, problem = None, f"history unavailable: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._loaded, points, problem, since, until)

    def _loaded(self, points: Points | None, problem: str | None, since: float, until: float) -> None:
        self.points, self.problem, self._span = points, problem, (since, until)
        self.refresh()

    def render(self) -> Text:
        title = Text(f"{self.label} ({window_label(self.window_s)})", style="bold")
        if self.problem is not None:
            return title + Text(f"\n{self.problem}", style="italic")
        if self.points is None:
            return title + Text("\nreading…", style="italic")
        if not self.points:
            return title + Text("\nno samples in this window", style="dim")
        values = [v for _, v in self.points]
        title.append(f"  now {self.fmt(values[-1])}")
        if self.note:
            title.append(f"  {self.note}", style="bold yellow")
        rows = max(1, self.size.height - 1)
        lines = braille(self.points, max(4, self.size.width - GUTTER), rows, *self._span)
        low, high = bounds(values)
        out = title
        for i, line in enumerate(lines):
            label = self.fmt(high) if i == 0 else self.fmt(low) if i == rows - 1 else ""
            out.append("\n" + label.rjust(GUTTER - 1)[: GUTTER - 1] + " ", style="dim")
            out.append(line, style="cyan")
        return out
