"""The alert log (``l``): episode openings and resolutions across the fleet, notification deliveries
(sent, retrying with why, suppressed), stop actions with their verified outcomes, silences in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from fleetwatch import silences
from fleetwatch.tui import alert_log
from fleetwatch.tui.bugs import guarded
from fleetwatch.tui.widgets.keyed_table import KeyedTable

if TYPE_CHECKING:
    from fleetwatch.tui.app import FleetwatchApp

SILENCE_COLUMNS: Sequence[tuple[str, int | None]] = (("ID", 5), ("KIND", 8), ("TARGET", 24), ("WHAT", None))
TABLES = {
    "log-episodes": alert_log.EPISODE_COLUMNS,
    "log-deliveries": alert_log.DELIVERY_COLUMNS,
    "log-actions": alert_log.ACTION_COLUMNS,
    "log-silences": SILENCE_COLUMNS,
}


def fit(specs: Sequence[tuple[str, int | None]], width: int) -> list[tuple[str, str, int]]:
    """Column widths for ``width`` cells: the last column (``None``) takes what is left (the row under
    the cursor is shown in full below the table anyway)."""
    widths = [w or 0 for _, w in specs]
    room = width - 2 * len(specs) - 1  # one space either side of each column; the scrollbar
    while room - sum(widths) < 12 and max(widths) > 8:  # a narrow screen: shrink the widest first
        widths[widths.index(max(widths))] -= 1
    rest = max(12, room - sum(widths))
    return [
        (label.lower(), label, w if spec is not None else rest)
        for (label, spec), w in zip(specs, widths, strict=True)
    ]


class AlertsScreen(Screen[None]):
    """Four keyed tables in tabs, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    @property
    def fleet_app(self) -> FleetwatchApp:
        """The App, typed."""
        return cast("FleetwatchApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="log-summary")
        with TabbedContent(id="log-tabs"):
            with TabPane("Episodes", id="tab-episodes"):
                yield KeyedTable(id="log-episodes")
            with TabPane("Notifications", id="tab-deliveries"):
                yield KeyedTable(id="log-deliveries")
            with TabPane("Actions", id="tab-actions"):
                yield KeyedTable(id="log-actions")
            with TabPane("Silences", id="tab-silences"):
                yield KeyedTable(id="log-silences")
        yield Static(id="log-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self, event: Resize) -> None:
        self.refresh_view()

    @guarded("showing the alert log")
    def refresh_view(self) -> None:
        """Render the App's alert log."""
        if not self.is_mounted:
            return
        state = self.fleet_app.state
        now = state.clock()
        for table_id, specs in TABLES.items():
            self.query_one(f"#{table_id}", KeyedTable).set_columns(fit(specs, self.size.width))
        episodes = [alert_log.episode_row(tid, t, now) for tid, t in reversed(state.transitions)]
        deliveries = [alert_log.delivery_row(d, now) for d in state.deliveries]
        actions = [alert_log.action_row(rec, now) for rec in reversed(state.actions)]
        shown = state.status.silences if state.status is not None else ()
        quiet = [
            (
                f"s{s.id}",
                (
                    (f"#{s.id}", ""),
                    ("ack" if s.ack else "silence", ""),
                    (s.target, ""),
                    (silences.describe(s, now), ""),
                ),
            )
            for s in reversed(shown)
        ]
        with self.app.batch_update():
            for table_id, rows in (
                ("log-episodes", episodes),
                ("log-deliveries", deliveries),
                ("log-actions", actions),
                ("log-silences", quiet),
            ):
                table = self.query_one(f"#{table_id}", KeyedTable)
                table.apply([(key, dict(zip(table.column_keys, cells, strict=True))) for key, cells in rows])
            self.query_one("#log-summary", Static).update(self._summary())
            active = self.query_one(TabbedContent).active_pane
            if active is not None:
                self._show_row(active.query_one(KeyedTable))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        active = self.query_one(TabbedContent).active_pane
        if active is not None and event.data_table in list(active.query(KeyedTable)):
            self._show_row(event.data_table)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane
        if pane is not None:
            self._show_row(pane.query_one(KeyedTable))

    def _show_row(self, table: DataTable[Text]) -> None:
        """The highlighted row in full, wrapped, under the table."""
        detail = self.query_one("#log-detail", Static)
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            detail.update("")
            return
        cells = table.get_row_at(table.cursor_row)
        detail.update(Text(" · ").join(c if isinstance(c, Text) else Text(str(c)) for c in cells))

    def _summary(self) -> Text:
        state = self.fleet_app.state
        status = state.status
        lines = Text("Alert log", style="bold")
        if status is None:
            return lines
        opened = len(status.alerts())
        lines.append(f" · {opened} open alert{'s' if opened != 1 else ''}")
        lines.append(f" · {len(status.silences)} silence{'s' if len(status.silences) != 1 else ''}/acks")
        if state.info is not None and not state.info.targets:
            lines.append(" · no notification targets", style="dim")
        for b in status.backlog:
            lines.append(f"\n{b.describe()}", style="yellow")
        return lines
