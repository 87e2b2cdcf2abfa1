"""What the TUI tells the user in a notification: a title per kind of event or error, the text, a
severity.  Pure.  No traceback ever reaches the screen: an unexpected exception becomes an "Internal
error" notice naming the log file that holds its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fleetwatch.actions.plan import Outcome
from fleetwatch.errors import (
    ConfigError,
    FleetwatchError,
    HostError,
    InventoryError,
    NotifyError,
    StateError,
)
from fleetwatch.events import (
    ActionFinished,
    ActionHeld,
    DeliveriesFlushed,
    DeliveriesPaused,
    DeliveryFailed,
    DeliveryLapsed,
    GapDetected,
    PassFinished,
    Trouble,
    WatcherEvent,
)

Level = Literal["information", "warning", "error"]


@dataclass(frozen=True)
class Notice:
    """One notification: title, text, severity (Textual's names)."""

    title: str
    text: str
    level: Level = "information"


_OUTCOME_LEVELS: dict[str, Level] = {
    str(Outcome.STOPPED): "information",
    str(Outcome.DRY_RUN): "information",
    str(Outcome.DRAINING): "warning",
    str(Outcome.UNVERIFIED): "warning",
    str(Outcome.STARTED): "warning",
    str(Outcome.FAILED): "error",
}


def outcome_level(outcome: str) -> Level:
    """How loudly a stop's outcome is shown."""
    return _OUTCOME_LEVELS.get(outcome, "warning")


def of_event(event: WatcherEvent) -> Notice | None:
    """The notification for a watcher event, or None for those only the views show."""
    if isinstance(event, PassFinished | DeliveriesFlushed):
        return None  # the summary line and the alert log say these
    if isinstance(event, DeliveryFailed):
        return Notice("Notification not delivered", str(event), "warning")
    if isinstance(event, DeliveryLapsed):
        return Notice("Notification may be sent twice", str(event), "warning")
    if isinstance(event, DeliveriesPaused):
        return Notice("Notifications paused", str(event), "warning")
    if isinstance(event, GapDetected):
        return Notice("Gap in watching", str(event), "warning")
    if isinstance(event, ActionHeld):
        return Notice("Auto-stop held back", str(event))
    if isinstance(event, ActionFinished):
        title = "Stop re-verified" if event.reverified else "Auto-stop"
        return Notice(title, event.summary, outcome_level(event.outcome))
    if isinstance(event, Trouble):
        return Notice("Watcher trouble", str(event), "warning")
    return None


def of_error(exc: BaseException, doing: str = "") -> Notice:
    """The notification for an error met while ``doing`` something (``"polling"``, ``"ack"``)."""
    lead = f"{doing}: " if doing else ""
    if isinstance(exc, InventoryError):
        title = "Inventory"
    elif isinstance(exc, ConfigError):
        title = "Configuration"
    elif isinstance(exc, StateError):
        title = "State database"
    elif isinstance(exc, HostError):
        title = f"SSH to {exc.host}"
    elif isinstance(exc, NotifyError):
        title = "Notifications"
    elif isinstance(exc, FleetwatchError):
        title = "fleetwatch"
    else:
        return Notice("Internal error", f"{lead}{type(exc).__name__}: {exc}", "error")
    return Notice(title, f"{lead}{exc}", "error")
