"""Change the polling interval live (``i``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from fleetwatch.basics import finite_duration, human_duration

SHORTEST_S = 5.0
"""A shorter interval would poll the fleet back to back."""
LONGEST_S = 86400.0
"""A longer one is not watching any more."""


def parse_interval(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``; ValueError with what to type instead."""
    seconds = finite_duration(text)
    if seconds < SHORTEST_S:
        raise ValueError(f"at least {SHORTEST_S:g} s, please")
    if seconds > LONGEST_S:
        raise ValueError("at most a day (1d), please: longer is not watching")
    return seconds


class IntervalScreen(ModalScreen[float | None]):
    """Dismissed with the new interval in seconds, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current_s: float) -> None:
        super().__init__(classes="dialog")
        self.current_s = current_s

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Poll every (now {human_duration(self.current_s)}): e.g. 30s, 2m, 5m")
            yield Input(value=f"{self.current_s:g}s", id="interval")
            yield Static(id="dialog-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.dismiss(parse_interval(event.value))
        except ValueError as exc:
            self.query_one("#dialog-error", Static).update(str(exc))

    def action_cancel(self) -> None:
        """Keep the interval."""
        self.dismiss(None)
