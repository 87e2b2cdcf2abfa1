"""What the App knows, on the UI thread only: the latest status, polls in flight, snapshots, the alert
log, the view.  Filled from the backend's messages; the screens render from it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fleetwatch.actions.plan import AuditRecord
from fleetwatch.episodes import Transition
from fleetwatch.notify.model import DeliveryStatus
from fleetwatch.snapshot import Snapshot
from fleetwatch.status import FleetStatus, HostStatus
from fleetwatch.tui.backend import TRANSITIONS_KEPT
from fleetwatch.tui.columns import RowContext
from fleetwatch.tui.history import History
from fleetwatch.tui.messages import FleetInfo, LogUpdate, PassSummary
from fleetwatch.tui.prefs import View
from fleetwatch.tui.report import Notice


@dataclass
class UiState:
    """The App's picture of the fleet (mutated by the App's message handlers only)."""

    clock: Callable[[], float]
    view: View = field(default_factory=View)
    history: History | None = None
    info: FleetInfo | None = None
    failure: Notice | None = None
    """Why the watcher could not be opened, if it could not."""
    status: FleetStatus | None = None
    last_pass: PassSummary | None = None
    polling: dict[str, float] = field(default_factory=dict)
    """Hosts of the running pass whose poll has not ended, and since when."""
    polling_since: float | None = None
    latency: dict[str, float | None] = field(default_factory=dict)
    """Polls that ended in the running pass, before it settles."""
    failed: dict[str, str] = field(default_factory=dict)
    """Polls of the running pass that failed, and at which stage."""
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    """Each host's latest snapshot from this TUI's own polls (for the detail screen)."""
    transitions: deque[tuple[int, Transition]] = field(default_factory=lambda: deque(maxlen=TRANSITIONS_KEPT))
    deliveries: tuple[DeliveryStatus, ...] = ()
    actions: tuple[AuditRecord, ...] = ()

    def row_context(self) -> RowContext:
        """What the fleet table's cells need besides each host's status."""
        return RowContext(self.clock(), dict(self.polling), dict(self.latency), dict(self.failed))

    def host(self, alias: str) -> HostStatus | None:
        """The status row of ``alias``."""
        if self.status is None:
            return None
        return next((h for h in self.status.hosts if h.alias == alias), None)

    def pass_started(self, hosts: tuple[str, ...], at: float) -> None:
        """A pass began: every host of it is out."""
        self.polling = dict.fromkeys(hosts, at)
        self.polling_since = at
        self.latency, self.failed = {}, {}

    def polled(
        self, host: str, latency: float | None, snapshot: Snapshot | None, failed_at: str | None = None
    ) -> None:
        """One host's poll ended (``failed_at``: the stage where it failed)."""
        self.polling.pop(host, None)
        self.latency[host] = latency
        if failed_at is not None:
            self.failed[host] = failed_at
        if snapshot is not None:
            self.snapshots[host] = snapshot

    def status_read(self, status: FleetStatus, after: PassSummary | None, ended: bool) -> None:
        """A new status; once a pass has ended, nothing is out any more."""
        self.status = status
        if after is not None:
            self.last_pass = after
        if ended:
            self.polling, self.polling_since, self.latency, self.failed = {}, None, {}, {}

    def log_read(self, update: LogUpdate) -> None:
        """New alert-log material."""
        self.transitions.extend(update.transitions)
        self.deliveries = update.deliveries
        self.actions = update.actions
