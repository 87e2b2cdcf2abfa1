"""What the backend (the watcher's thread) tells the App: immutable past events.

Each message carries frozen model objects (``FleetStatus``, ``Snapshot``, ``PollFailure``, tuples), never
something either side mutates later, so the thread boundary has nothing to race on.  A newer message
of the same kind may replace one still queued (``can_replace``): only the latest status matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from fleetwatch.actions.plan import AuditRecord
from fleetwatch.episodes import Transition
from fleetwatch.events import WatcherEvent
from fleetwatch.findings import PollFailure
from fleetwatch.notify.model import DeliveryStatus
from fleetwatch.snapshot import Snapshot
from fleetwatch.status import FleetStatus
from fleetwatch.tui.report import Notice


@dataclass(frozen=True)
class FleetInfo:
    """What the App needs to know about the fleet and the watcher, once."""

    aliases: tuple[str, ...]
    where: Mapping[str, str]
    """Alias -> ``user@hostname:port`` (plus jump hosts), as resolved."""
    ssh_config: Path
    state_dir: Path
    interval_s: float
    targets: int
    """Configured notification targets."""
    dry_run: bool
    read_only: bool


@dataclass(frozen=True)
class PassSummary:
    """One pass as the summary line shows it."""

    number: int
    seconds: float
    transitions: int


@dataclass(frozen=True)
class LogUpdate:
    """New alert-log material: transitions since the last update, and the latest deliveries and actions."""

    transitions: tuple[tuple[int, Transition], ...]
    deliveries: tuple[DeliveryStatus, ...]
    actions: tuple[AuditRecord, ...]


class BackendStarted(Message):
    """The watcher is open: the fleet is known, the state store is readable."""

    def __init__(self, info: FleetInfo) -> None:
        super().__init__()
        self.info = info


class BackendFailed(Message):
    """The watcher could not be opened (the App shows why and offers to quit)."""

    def __init__(self, notice: Notice) -> None:
        super().__init__()
        self.notice = notice


class BackendStopped(Message):
    """The watcher closed its connections and the state store."""


class PassStarted(Message):
    """A pass began polling these hosts."""

    def __init__(self, number: int, hosts: tuple[str, ...], at: float) -> None:
        super().__init__()
        self.number = number
        self.hosts = hosts
        self.at = at


class SnapshotReceived(Message):
    """One host's poll of the running pass ended: a snapshot, or the failure with its stage."""

    def __init__(self, host: str, result: Snapshot | PollFailure) -> None:
        super().__init__()
        self.host = host
        self.result = result


class StatusRead(Message):
    """The fleet's status as the state store holds it: after a pass (``after``; ``ended`` also when the
    pass failed), or after an action."""

    def __init__(self, status: FleetStatus, after: PassSummary | None = None, *, ended: bool = False) -> None:
        super().__init__()
        self.status = status
        self.after = after
        self.ended = ended or after is not None


class AlertLogRead(Message):
    """New transitions, and the latest deliveries and actions, read from the state store."""

    def __init__(self, update: LogUpdate) -> None:
        super().__init__()
        self.update = update


class WatcherReported(Message):
    """The watcher reported an event (a delivery failed, an auto-stop ran, a gap …)."""

    def __init__(self, event: WatcherEvent) -> None:
        super().__init__()
        self.event = event


class TroubleMet(Message):
    """Something the backend tried failed (a pass, a state read); it carries on."""

    def __init__(self, notice: Notice) -> None:
        super().__init__()
        self.notice = notice
