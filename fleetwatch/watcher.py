"""The headless watcher every front end drives: passes, the notification outbox, auto-stop, heartbeat.

``fleetwatch --host``, ``--once``, ``check``, ``demo`` and the TUI all run ``Watcher``; none of them
holds detection or delivery logic.  Order per pass: poll → settle (episodes + outbox, one transaction)
→ auto-stop (opt-in) → send what is due → heartbeat.  Delivery never blocks polling: in watch mode it
runs as its own task.  What happened is reported as events (``fleetwatch.events``), and what the fleet
looks like is one ``FleetStatus`` (``read_status``), the same for every view.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetwatch import silences
from fleetwatch.config import Config
from fleetwatch.episodes import open_only
from fleetwatch.errors import FleetwatchError, StateError
from fleetwatch.events import (
    ActionFinished,
    ActionHeld,
    DeliveriesFlushed,
    GapDetected,
    PassFinished,
    Trouble,
    WatcherEvent,
)
from fleetwatch.findings import Severity
from fleetwatch.heartbeat import Signal, ping, signal_url
from fleetwatch.inventory.fleet import Fleet
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import flush
from fleetwatch.pipeline import PassResult, run_pass
from fleetwatch.probe.poll import Polled
from fleetwatch.settings import WATCH_INTERVAL, PassSettings
from fleetwatch.status import FleetStatus, HostEntry, StoredState, build
from fleetwatch.store import Store
from fleetwatch.transport import Transport

if TYPE_CHECKING:
    from fleetwatch.actions.stop import ActionOutcome

Emit = Callable[[WatcherEvent], None]

KEEP_SENT_S = 30 * 86400.0
"""How long delivered notifications stay in the state database."""


def entries(fleet: Fleet) -> list[HostEntry]:
    """The status rows of a selected fleet, in inventory order."""
    return [HostEntry(m.alias, m.groups, m.settings.enabled) for m in fleet.members]


def read_status(
    store: Store,
    rows: Sequence[HostEntry],
    config: Config,
    settings: PassSettings,
    now: float,
    pending: Sequence[str] = (),
) -> FleetStatus:
    """The fleet's status from the state store alone: no poll, no notification, no action; ``pending``:
    hosts the pass just run did not reach before its deadline."""
    conn = store.connection
    stored = StoredState(
        polls=store.polls(),
        episodes=open_only(store.episodes()),
        failing_since=store.failure_clocks(),
        silences=silences.list_active(conn, now),
        backlog=Outbox(conn, config.notify).pending_summary(now),
        recent_passes=store.recent_passes(),
    )
    gap = settings.vantage.gap_factor
    return build(rows, stored, now, interval_s=settings.interval_s, gap_factor=gap, pending=pending)


@dataclass
class Watcher:
    """One fleet, one state database, one transport: run passes and everything that follows them."""

    fleet: Fleet
    store: Store
    config: Config
    keep_open: bool = False
    default_interval: float = WATCH_INTERVAL
    default_deadline: float | None = None
    emit: Emit = field(default=lambda event: None)
    transport: Transport = field(init=False)
    settings: PassSettings = field(init=False)
    outbox: Outbox = field(init=False)
    passes: int = field(init=False, default=0)
    _sending: asyncio.Task[object] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        config_path = self.fleet.ssh_config
        self.transport = Transport(
            keep_open=self.keep_open, resolve_jump=lambda name: resolve_alias(name, config_path)
        )
        self.settings = self.config.passes.with_defaults(self.default_interval, self.default_deadline)
        self.outbox = Outbox(self.store.connection, self.config.notify)

    async def run_pass(self, on_polled: Polled | None = None) -> PassResult:
        """Poll, detect, settle: episodes and the notification outbox in one transaction;
        ``on_polled`` hears of each host's result as its poll ends (the TUI shows who is still out)."""
        if self.config.heartbeat_url:
            await self._heartbeat(self.config.heartbeat_url, Signal.START)
        result = await run_pass(
            self.transport,
            self.store,
            self.fleet.hosts,
            unresolved=self.fleet.unresolved,
            settings=self.settings,
            sink=self.outbox,
            on_polled=on_polled,
        )
        self.passes += 1
        if result.vantage.gap_s is not None:
            self.emit(GapDetected(result.vantage.gap_s))
        polled = len(result.observations)
        self.emit(PassFinished(self.passes, time.time(), result.seconds, polled, len(result.transitions)))
        return result

    def status(self, after: PassResult | None = None) -> FleetStatus:
        """This fleet's status as the state store holds it now; ``after`` the pass just run, its
        pending hosts (deadline) are marked."""
        pending = after.pending if after is not None else ()
        return read_status(self.store, entries(self.fleet), self.config, self.settings, time.time(), pending)

    async def after_pass(self, result: PassResult, *, dry_run: bool, background: bool) -> list[ActionOutcome]:
        """Auto-stop (opt-in) and the re-verification of earlier stops still settling (a person's too),
        send what is due (in the background in watch mode: delivery never blocks polling), heartbeat.
        Returns the stop outcomes of this pass."""
        acting = self.config.auto_stop.on or self._stops_settling()
        outcomes = await self._auto_stop(result, dry_run) if acting else []
        if background:
            if self._sending is None or self._sending.done():
                self._sending = asyncio.create_task(self.send())
        else:
            await self.send()
        if self.config.heartbeat_url:
            blind = self.status(after=result).blind
            await self._heartbeat(self.config.heartbeat_url, Signal.FAIL if blind else Signal.SUCCESS)
        return outcomes

    def _stops_settling(self) -> bool:
        """Stops of this fleet's hosts still draining or unverified (``run_auto_stop`` re-verifies them)."""
        from fleetwatch.actions.audit import Audit

        mine = set(self.fleet.names)
        return any(
            rec.host in mine for rec in Audit(self.store.connection, self.store.path.parent).unsettled()
        )

    async def _auto_stop(self, result: PassResult, dry_run: bool) -> list[ActionOutcome]:
        from fleetwatch.actions import Outcome, run_auto_stop

        now = time.time()
        polled = {o.host: o.snapshot or o.failure for o in result.observations}
        outcomes = await run_auto_stop(
            self.transport,
            self.store.connection,
            self.fleet.hosts,
            polled,
            result.episodes,
            self.config.auto_stop,
            dry_run=dry_run,
            now=now,
            state_dir=self.store.path.parent,
            report=lambda why: self.emit(ActionHeld(why)),
            timeout=float(self.settings.timeout),
        )
        by_alias = self.fleet.by_alias
        for o in outcomes:
            self.emit(
                ActionFinished(
                    o.host, o.detector, str(o.outcome), o.summary, o.command, o.where, o.reverified
                )
            )
            if o.reverified and o.outcome == o.previous:
                continue  # still draining, as last pass said: nothing new to tell
            severity = {
                Outcome.FAILED: Severity.CRITICAL,
                Outcome.DRAINING: Severity.WARNING,
                Outcome.UNVERIFIED: Severity.WARNING,
            }.get(Outcome(o.outcome), Severity.INFO)
            host = by_alias.get(o.host)
            note = compose_text(
                "action",
                severity,
                f"{severity.tag} {o.host} {o.kind} {o.outcome}",
                f"{o.summary}\nran: {o.command} on {o.where}",
                [host or o.host],
                now,
            )
            self.outbox.enqueue_one(note, now=now)
        return outcomes

    async def send(self) -> None:
        """Deliver every due notification, oldest first; failures are reported and retried later.

        Delivered notifications older than ``KEEP_SENT_S`` are forgotten, so a watcher that runs for
        years keeps a small database; anything still undelivered is kept however old."""
        if self.outbox.targets:
            done = await flush(self.outbox, report=self.emit)
            self.emit(DeliveriesFlushed(done.sent, done.failed))
        try:
            self.outbox.prune(time.time() - KEEP_SENT_S)
        except StateError as exc:  # busy with another writer: prune next pass, never fail the watcher
            self.emit(Trouble(f"old notifications not pruned this pass: {exc}"))

    async def drain(self) -> None:
        """Wait for a background send to finish (before exiting)."""
        if self._sending is not None:
            await self._sending

    async def _heartbeat(self, url: str, signal: Signal) -> None:
        target = signal_url(url, signal)
        if target is None:
            return
        try:
            await asyncio.to_thread(ping, target)
        except FleetwatchError as exc:
            self.emit(Trouble(str(exc)))

    async def close(self) -> None:
        """Finish sending, close connections."""
        await self.drain()
        await self.transport.close()
