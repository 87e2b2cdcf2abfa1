"""The fleet table: a keyed table whose ``enter`` opens the selected host (and says so in the footer)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from fleetwatch.tui.widgets.keyed_table import KeyedTable


class FleetTable(KeyedTable):
    """One row per host, keyed by alias."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Open")]
