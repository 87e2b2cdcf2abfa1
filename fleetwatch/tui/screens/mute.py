"""Acting on alerts: acknowledge one (``a``), silence the host or one of its alerts for a while (``m``),
remove a silence or ack (``u``).  Each dialog returns what to do; the App asks the backend to do it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from fleetwatch import silences
from fleetwatch.errors import ConfigError
from fleetwatch.silences import Silence
from fleetwatch.status import Alert

DURATIONS = ("30m", "2h", "8h", "1d")


@dataclass(frozen=True)
class AckRequest:
    """Acknowledge ``detector`` on the host until its episode resolves."""

    detector: str
    reason: str


@dataclass(frozen=True)
class SilenceRequest:
    """Silence the host (every alert, or only ``detector``) for ``seconds``."""

    detector: str | None
    seconds: float
    reason: str


def _alert_option(a: Alert) -> Option:
    ep = a.episode
    return Option(
        Text.assemble((f"{ep.severity.tag} {ep.detector}", "bold"), f"  {ep.message}"), id=ep.detector
    )


class _Dialog(ModalScreen[object]):
    """A choice (``#choices``), maybe answers to type, Cancel and a confirm button."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    after_choice: ClassVar[str | None] = None
    """The input that takes the focus once a choice is made (None: the choice confirms)."""

    def __init__(self) -> None:
        super().__init__(classes="dialog")

    def on_mount(self) -> None:
        choices = self.query_one("#choices", OptionList)
        choices.highlighted = 0
        choices.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.after_choice is None:
            self.confirm()
        else:
            self.query_one(self.after_choice, Input).focus()

    def action_cancel(self) -> None:
        """Close without doing anything."""
        self.dismiss(None)

    def _error(self, text: str) -> None:
        self.query_one("#dialog-error", Static).update(Text(text, style="bold red"))

    def _buttons(self, confirm: str) -> ComposeResult:
        yield Static(id="dialog-error")
        with Horizontal(id="dialog-buttons"):
            yield Button("Cancel", id="cancel")
            yield Button(confirm, id="confirm", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.confirm()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.confirm()

    def confirm(self) -> None:
        """Check the answers and dismiss with the request."""


class AckScreen(_Dialog):
    """Which open alert to acknowledge, and why."""

    after_choice = "#reason"

    def __init__(self, host: str, alerts: Sequence[Alert]) -> None:
        super().__init__()
        self.host = host
        self.alerts = tuple(alerts)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text.assemble("Acknowledge an alert on ", (self.host, "bold"), " until it resolves"))
            yield OptionList(*(_alert_option(a) for a in self.alerts), id="choices")
            yield Label("why (shown in status and check output)")
            yield Input(placeholder="reason", id="reason")
            yield from self._buttons("Ack")

    def confirm(self) -> None:
        choices = self.query_one("#choices", OptionList)
        if choices.highlighted is None:
            self._error("choose an alert")
            return
        detector = choices.get_option_at_index(choices.highlighted).id
        assert detector is not None
        self.dismiss(AckRequest(detector, self.query_one("#reason", Input).value.strip()))


class SilenceScreen(_Dialog):
    """The whole host or one of its alerts, for how long, and why."""

    after_choice = "#duration"

    def __init__(self, host: str, alerts: Sequence[Alert]) -> None:
        super().__init__()
        self.host = host
        self.alerts = tuple(alerts)

    def compose(self) -> ComposeResult:
        options = [Option(Text.assemble((self.host, "bold"), "  every alert of this host"), id="*")]
        options += [_alert_option(a) for a in self.alerts]
        with Vertical(id="dialog"):
            yield Label(Text.assemble("Silence notifications from ", (self.host, "bold")))
            yield OptionList(*options, id="choices")
            yield Label("for how long (" + ", ".join(DURATIONS) + " …)")
            yield Input(value="2h", placeholder="e.g. 2h", id="duration")
            yield Label("why (shown in status and check output)")
            yield Input(placeholder="reason", id="reason")
            yield from self._buttons("Silence")

    def confirm(self) -> None:
        choices = self.query_one("#choices", OptionList)
        chosen = choices.get_option_at_index(choices.highlighted or 0).id
        try:
            seconds = silences.parse_duration(self.query_one("#duration", Input).value)
        except ConfigError as exc:
            self._error(str(exc))
            return
        reason = self.query_one("#reason", Input).value.strip()
        self.dismiss(SilenceRequest(None if chosen == "*" else chosen, seconds, reason))


class UnsilenceScreen(_Dialog):
    """Which silence or ack (covering this host) to remove."""

    def __init__(self, host: str, items: Sequence[Silence], now: float) -> None:
        super().__init__()
        self.host = host
        self.items = tuple(items)
        self.now = now

    def compose(self) -> ComposeResult:
        options = [Option(f"#{s.id} {silences.describe(s, self.now)}", id=str(s.id)) for s in self.items]
        with Vertical(id="dialog"):
            yield Label(Text.assemble("Remove a silence or ack covering ", (self.host, "bold")))
            yield OptionList(*options, id="choices")
            yield from self._buttons("Remove")

    def confirm(self) -> None:
        choices = self.query_one("#choices", OptionList)
        chosen = choices.get_option_at_index(choices.highlighted or 0).id
        assert chosen is not None
        self.dismiss(int(chosen))
