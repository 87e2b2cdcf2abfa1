"""A DataTable that is only ever updated by key: rows added and removed by key, changed cells written,
the order fixed with one sort, the cursor kept on the selected row.  Never cleared and refilled (that
resets the cursor and the scroll) except when its columns change, on a resize across a breakpoint.

Cells come as (text, style) tuples, compared as such; only a changed cell becomes a ``Text``, and all of
an update's writes cost one refresh (``update_cell`` would schedule one per cell: at 500 hosts, a
third of the update's time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from fleetwatch.tui.columns import Cell

Cells = Mapping[str, Cell]
BLANK: Cell = ("", "")


def _text(cell: Cell) -> Text:
    return Text(cell[0], style=cell[1])


class KeyedTable(DataTable[Text]):
    """Rows keyed by a stable id (the host alias, a log record's id), fixed column widths."""

    # Columns are fitted to the width, so nothing scrolls sideways: Home/End go to the first/last row.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._keys: tuple[str, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._shown: dict[str, Cells] = {}
        self._firsts: dict[str, Text] = {}
        """Each row's first cell, the very object the table holds (``_order_by`` relies on it)."""
        self._kept: str | None = None
        """The key the cursor was on before an update: where it goes back after a re-sort."""

    def set_columns(self, columns: Sequence[tuple[str, str, int]]) -> bool:
        """Show these ``(key, label, width)`` columns; True when the table had to be rebuilt for it."""
        keys = tuple(c[0] for c in columns)
        widths = tuple(c[2] for c in columns)
        if keys == self._keys and widths == self._widths:
            return False
        self._kept = self.selected or self._kept  # where the user is now, not where the last update left it
        self.clear(columns=True)
        for key, label, width in columns:
            self.add_column(label, width=width, key=key)
        self._keys, self._widths = keys, widths
        self._shown, self._firsts = {}, {}
        return True

    def set_label(self, key: str, label: str) -> None:
        """Change a column's header (its width stays)."""
        column = self.columns.get(ColumnKey(key))
        if column is not None and column.label.plain != label:
            column.label = Text(label)
            self._update_count += 1  # DataTable caches rendered headers by this count
            self.refresh()

    @property
    def column_keys(self) -> tuple[str, ...]:
        """The keys of the columns shown, in order."""
        return self._keys

    @property
    def selected(self) -> str | None:
        """The key of the row under the cursor (read from the cursor itself: a key pressed right after
        a cursor move must act on the row the user sees)."""
        if not self._shown or not 0 <= self.cursor_row < self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key if key in self._shown else None

    def apply(self, rows: Sequence[tuple[str, Cells]]) -> int:
        """Show exactly ``rows``, in this order; return how many cells were written."""
        self._kept = self.selected or self._kept
        wanted = {key for key, _ in rows}
        written = 0
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key]
            del self._firsts[key]
        for key, cells in rows:
            old = self._shown.get(key)
            if old is None:
                values = [_text(cells.get(c, BLANK)) for c in self._keys]
                self.add_row(*values, key=key)
                self._firsts[key] = values[0]
                written += len(values)
            else:
                written += self._write(key, old, cells)
            self._shown[key] = cells  # a fresh mapping per update: never changed afterwards
        if written:
            self._update_count += 1  # what update_cell does per cell, once for them all
            self.refresh()
        order = [key for key, _ in rows]
        if [r.key.value for r in self.ordered_rows] != order:
            self._order_by(order)
        self._keep_cursor(order)
        return written

    def _write(self, key: str, old: Cells, cells: Cells) -> int:
        """``update_cell(…, update_width=False)`` for each changed cell of a row, minus its refresh."""
        row = self._data[RowKey(key)]
        written = 0
        for column in self._keys:
            new = cells.get(column, BLANK)
            if old.get(column) != new:
                text = _text(new)
                row[ColumnKey(column)] = text
                if column == self._keys[0]:
                    self._firsts[key] = text
                written += 1
        return written

    def _order_by(self, order: Sequence[str]) -> None:
        """One sort into ``order``.  DataTable's sort key sees cell values, not row keys: each row's
        first cell is its own object (the one in ``_shown``), so its identity names the row."""
        rank = {id(self._firsts[key]): i for i, key in enumerate(order)}
        self.sort(self._keys[0], key=lambda cell: rank[id(cell)])

    def _keep_cursor(self, order: Sequence[str]) -> None:
        if not order:
            return
        if self._kept not in self._shown:
            # The selected row went away (filtered out): stay at the same place in the table.
            self._kept = order[min(max(self.cursor_row, 0), len(order) - 1)]
        index = self.get_row_index(self._kept)
        if self.cursor_row != index:
            self.move_cursor(row=index, animate=False)
