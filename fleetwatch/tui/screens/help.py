"""``?``: the keys, the filter syntax and what the states mean."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from fleetwatch.tui import query
from fleetwatch.tui.columns import COLUMNS, STATE_STYLES, WORST_FIRST

KEYS = (
    ("enter", "open the selected host's detail (escape goes back)"),
    ("/", "filter the fleet (escape clears)"),
    ("o / O", "sort by the next column / reverse (or click a header)"),
    ("r", "poll now;  i  change the polling interval"),
    ("s", "stop agent-runner on the host (shows what runs where, asks)"),
    ("a", "acknowledge an open alert until it resolves"),
    ("m", "silence the host or one alert for a while"),
    ("u", "remove a silence or ack covering the host"),
    ("e", "ssh to the host (the TUI returns when ssh ends)"),
    ("y", "copy the host's alert lines to the clipboard (OSC 52)"),
    ("l", "the alert log: episodes, notifications, actions, silences"),
    ("w", "(host detail) cycle the plots' window: 1 h, 24 h, 7 d"),
    ("ctrl+p", "command palette: every action, sort by any column, themes"),
    ("q", "quit"),
)
STATES = {
    "OK": "polled recently, understood, nothing open",
    "WARN": "a warning alert is open",
    "CRIT": "a critical alert is open",
    "UNREACHABLE": "the latest poll failed before the host answered",
    "UNKNOWN": "answered but not understood, or the latest poll is too old to stand for now",
    "NEVER POLLED": "no poll of it in the state store yet",
}


def help_text() -> Text:
    """The whole help page."""
    out = Text("Keys\n", style="bold")
    for key, what in KEYS:
        out.append(f"  {key:<8}", style="bold")
        out.append(f"{what}\n")
    out.append("\nStates (worst first)\n", style="bold")
    for state in WORST_FIRST:
        out.append("  ")
        out.append(f" {state} ", STATE_STYLES[state])
        out.append(f"  {STATES[str(state)]}\n")
    out.append(
        "\nColumns (a narrow screen drops GROUP, PHASE, SPEND, ROUND, LOAD, LAST EVENT, DISK first)\n",
        style="bold",
    )
    for col in COLUMNS:
        out.append(f"  {col.label:<11}", style="bold")
        out.append(f"{col.help}\n")
    out.append("  [97%] values in brackets are not current: the host's last good poll (POLL says how old)\n")
    out.append("\nFilter\n", style="bold")
    out.append(f"  {query.SYNTAX}\n")
    return out


class HelpScreen(ModalScreen[None]):
    """Any key in the bindings closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        """Back to where you were."""
        self.dismiss(None)
