"""The host detail screen (``enter``): open alerts with hints and evidence, key facts, history plots with
the disk-full estimate, recent supervisor events and the latest round log tail."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from fleetwatch.basics import human_duration
from fleetwatch.tui import detail
from fleetwatch.tui.bugs import guarded
from fleetwatch.tui.history import METRICS
from fleetwatch.tui.widgets.series_plot import SeriesPlot

if TYPE_CHECKING:
    from fleetwatch.tui.app import FleetwatchApp

WINDOWS = (3600.0, 86400.0, 7 * 86400.0)
"""The plots' time windows, cycled with ``w``."""
WIDE = 120
"""From this width, facts and plots sit side by side."""


class HostScreen(Screen[None]):
    """Everything about one host; the App's keys (stop, ack, silence, ssh, copy) act on it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "window", "Plot window", show=False),
    ]

    def __init__(self, alias: str) -> None:
        super().__init__()
        self.alias = alias
        self.window_s = WINDOWS[1]

    @property
    def fleet_app(self) -> FleetwatchApp:
        """The App, typed."""
        return cast("FleetwatchApp", self.app)

    def selected_host(self) -> str | None:
        """The host this screen shows."""
        return self.alias

    def compose(self) -> ComposeResult:
        yield Static(id="host-header")
        with VerticalScroll(id="host-body"):
            yield Label("Open alerts", classes="section")
            yield Static(id="host-alerts")
            with Horizontal(id="host-middle"):
                with Vertical(id="host-facts-box"):
                    yield Label("Facts", classes="section")
                    yield Static(id="host-facts")
                with Vertical(id="host-plots"):
                    yield Label("History", classes="section")
                    yield from self._plots()
            yield Label("Recent supervisor events", classes="section")
            yield Static(id="host-events")
            yield Label("Latest round log", classes="section")
            yield Static(id="host-log")
        yield Footer(compact=True)

    def _plots(self) -> ComposeResult:
        history = self.fleet_app.state.history
        if history is None:
            yield Static(
                Text(
                    "No history store in this build: plots of disk %, load, round duration and spend, "
                    "and the disk-full estimate, appear once fleetwatch keeps history.",
                    style="dim",
                ),
                id="no-history",
            )
            return
        for metric, label, fmt in METRICS:
            yield SeriesPlot(
                self.alias,
                metric,
                label,
                fmt,
                history.series,
                window_s=self.window_s,
                clock=self.fleet_app.state.clock,
            )

    def on_mount(self) -> None:
        self.refresh_view()
        self._eta()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self, event: Resize) -> None:
        self.query_one("#host-middle").set_class(event.size.width >= WIDE, "-wide")

    @guarded("showing the host")
    def refresh_view(self) -> None:
        """Render the host's latest status and snapshot."""
        if not self.is_mounted:
            return
        state = self.fleet_app.state
        h = state.host(self.alias)
        now = state.clock()
        snapshot = state.snapshots.get(self.alias)
        if h is None:
            self.query_one("#host-header", Static).update(Text(f"{self.alias}: not in the status (yet)"))
            return
        where = state.info.where.get(self.alias) if state.info else None
        self.query_one("#host-header", Static).update(detail.header(h, where, now))
        self.query_one("#host-alerts", Static).update(detail.alerts_section(h, snapshot, now))
        self.query_one("#host-facts", Static).update(detail.facts_section(h, now))
        self.query_one("#host-events", Static).update(detail.events_section(snapshot, now))
        self.query_one("#host-log", Static).update(detail.round_log_section(snapshot))

    @guarded("after pass")
    def after_pass(self) -> None:
        """A pass settled: the plots and the estimate read the history again."""
        for plot in self.query(SeriesPlot):
            plot.reload()
        self._eta()

    @guarded("window")
    def action_window(self) -> None:
        """Cycle the plots' window: 1 h, 24 h, 7 d."""
        self.window_s = WINDOWS[(WINDOWS.index(self.window_s) + 1) % len(WINDOWS)]
        for plot in self.query(SeriesPlot):
            plot.window_s = self.window_s
            plot.reload()

    @work(thread=True, exclusive=True, group="eta", exit_on_error=False)
    def _eta(self) -> None:
        history = self.fleet_app.state.history
        if history is None or history.disk_full_eta is None:
            return
        now = self.fleet_app.state.clock()
        try:
            eta = history.disk_full_eta(self.alias, now)
        except Exception as exc:
            note = f"disk-full estimate unavailable: {type(exc).__name__}"
        else:
            note = f"full in ~{human_duration(max(0.0, eta - now))}" if eta is not None else ""
        self.app.call_from_thread(self._show_eta, note)

    def _show_eta(self, note: str) -> None:
        for plot in self.query(SeriesPlot):
            if plot.metric == "disk_used_pct":
                plot.note = note
                plot.refresh()
