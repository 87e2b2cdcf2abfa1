"""The fleet screen: the summary, the filter and one keyed row per host, worst first."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from fleetwatch.tui import columns
from fleetwatch.tui.bugs import guarded
from fleetwatch.tui.prefs import View
from fleetwatch.tui.query import matches
from fleetwatch.tui.widgets.filter_bar import FilterBar
from fleetwatch.tui.widgets.fleet_table import FleetTable
from fleetwatch.tui.widgets.summary_bar import Summary, SummaryBar

if TYPE_CHECKING:
    from fleetwatch.tui.app import FleetwatchApp

SCROLLBAR = 1
"""The table's vertical scrollbar (``scrollbar-size-vertical`` in the stylesheet)."""


class FleetScreen(Screen[None]):
    """One row per host; ``enter`` opens its detail, the App's keys act on the selected host."""

    AUTO_FOCUS = "#fleet"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("o", "sort_next", "Sort", show=False),
        Binding("O", "sort_reverse", "Reverse sort", show=False),
    ]

    _shown: int | None = None

    @property
    def fleet_app(self) -> FleetwatchApp:
        """The App, typed."""
        return cast("FleetwatchApp", self.app)

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield FilterBar(self.fleet_app.state.view.query)
        yield FleetTable(id="fleet")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        bar = self.query_one(FilterBar)
        bar.set_class(bool(bar.value), "-active")
        self.query_one(FleetTable).focus()

    def on_resize(self, event: Resize) -> None:
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    @property
    def table(self) -> FleetTable:
        """The fleet table."""
        return self.query_one("#fleet", FleetTable)

    def selected_host(self) -> str | None:
        """The host under the cursor."""
        return self.table.selected

    def _layout(self) -> None:
        state = self.fleet_app.state
        aliases = (
            state.info.aliases
            if state.info
            else [h.alias for h in state.status.hosts]
            if state.status
            else []
        )
        host = columns.host_width(aliases)
        shown = columns.fitting(self.size.width - SCROLLBAR, host, spend=state.history is not None)
        view = state.view
        self.table.set_columns([(c.key, c.label, host if c.key == "host" else c.width) for c in shown])
        hidden = view.sort not in {c.key for c in shown}  # sorted by a column the width dropped: say so
        for c in shown:  # the sorted column says so in its header
            arrow = columns.ARROWS[view.reverse] if c.key == view.sort else ""
            if hidden and c.key == "host":
                arrow = f"(by {columns.BY_KEY[view.sort].label} {columns.ARROWS[view.reverse]})"
            self.table.set_label(c.key, f"{c.label} {arrow}" if arrow else c.label)

    @guarded("showing the fleet")
    def refresh_view(self, summary_only: bool = False) -> None:
        """Render the App's state: the summary, then the table in one batched, keyed update."""
        if not self.is_mounted:
            return
        state = self.fleet_app.state
        view = state.view
        status = state.status
        shown = self._shown if summary_only else None
        with self.app.batch_update():
            if status is not None and not summary_only:
                self._layout()
                ctx = state.row_context()
                rows = [h for h in status.hosts if matches(h, view.query)]
                rows.sort(key=lambda h: columns.sort_key(view.sort, h, ctx), reverse=view.reverse)
                self.table.apply([(h.alias, columns.cells(h, ctx)) for h in rows])
                shown = self._shown = len(rows) if view.query.strip() else None
            self.query_one(SummaryBar).show(
                Summary(
                    now=state.clock(),
                    status=status,
                    info=state.info,
                    last_pass=state.last_pass,
                    polling=len(state.polling),
                    polling_since=state.polling_since,
                    shown=shown,
                    failure=state.failure,
                    wide=self.size.width >= 100,
                )
            )

    # --- keys ----------------------------------------------------------------------------------------

    @guarded("data table row selected")
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.fleet_app.open_host(event.row_key.value)

    @guarded("filter")
    def action_filter(self) -> None:
        """Focus the filter line."""
        bar = self.query_one(FilterBar)
        bar.add_class("-active")
        bar.focus()

    @guarded("clear filter")
    def action_clear_filter(self) -> None:
        """Show every host again."""
        bar = self.query_one(FilterBar)
        if bar.value:
            bar.value = ""  # its Changed message clears the view's query
            bar.remove_class("-active")

    @guarded("input changed")
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._set_view(query=event.value)

    @guarded("input submitted")
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    @guarded("filter bar cleared")
    def on_filter_bar_cleared(self, event: FilterBar.Cleared) -> None:
        self._set_view(query="")
        self.table.focus()

    @guarded("sort next")
    def action_sort_next(self) -> None:
        """Sort by the next column shown (worst first)."""
        keys = list(self.table.column_keys) or ["state"]
        current = self.fleet_app.state.view.sort
        nxt = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        self.sort_by(nxt)

    @guarded("sort reverse")
    def action_sort_reverse(self) -> None:
        """Reverse the sort."""
        self._set_view(reverse=not self.fleet_app.state.view.reverse)

    @guarded("data table header selected")
    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key is None:
            return
        view = self.fleet_app.state.view
        if key == view.sort:
            self._set_view(reverse=not view.reverse)
        else:
            self.sort_by(key)

    @guarded("sort by")
    def sort_by(self, column: str) -> None:
        """Sort by ``column``, worst first."""
        self._set_view(sort=column, reverse=False)

    def _set_view(self, **changes: str | bool) -> None:
        old = self.fleet_app.state.view
        view = View(
            sort=str(changes.get("sort", old.sort)),
            reverse=bool(changes.get("reverse", old.reverse)),
            query=str(changes.get("query", old.query)),
        )
        if view != old:
            self.fleet_app.set_view(view)
            self.refresh_view()
