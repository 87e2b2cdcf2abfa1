"""The fleet filter's input line (``/``): hidden while empty and unfocused."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """Typing filters the table as you type; enter keeps the filter, escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear", "Clear filter", show=True)]

    class Cleared(Message):
        """The user cleared the filter and left the input."""

    def __init__(self, query: str = "") -> None:
        super().__init__(
            value=query,
            placeholder="filter: host, group, state or alert  (state:crit  group:lab  !ok  pi*)",
            id="filter",
        )

    def action_clear(self) -> None:
        """Clear the filter and go back to the table."""
        self.value = ""
        self.post_message(self.Cleared())

    def on_focus(self) -> None:
        self.add_class("-active")

    def on_blur(self) -> None:
        self.set_class(bool(self.value), "-active")
