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
from fleetwatch.errors import ConfigError, FleetwatchError, StateError
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
from fleetwatch.history.report import load_report, report_lines
from fleetwatch.history.store import spend_on, trends
from fleetwatch.inventory.fleet import Fleet
from fleetwatch.inventory.resolve import Jumps
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.model import Notification
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import flush
from fleetwatch.pipeline import PassResult, Polled, poll_fleet, settle_polled
from fleetwatch.probe.poll import OnPolled
from fleetwatch.settings import WATCH_INTERVAL, PassSettings
from fleetwatch.status import FleetStatus, HostEntry, StoredState, build
from fleetwatch.store import Store
from fleetwatch.transport import Transport

if TYPE_CHECKING:
    from fleetwatch.actions.stop import ActionOutcome

Emit = Callable[[WatcherEvent], None]

SHUTDOWN_GRACE_S = 5.0
"""How long stopping (Ctrl-C, SIGTERM) may take to send what is due."""
KEEP_UNSETTLED = 10
"""Passes kept in memory while the state database cannot take them (the oldest is dropped after)."""
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
        trends=trends(conn, [r.alias for r in rows], now),
        spend_today=spend_on(conn, settings.history.day(now)),
    )
    gap = settings.vantage.gap_factor
    return build(rows, stored, now, interval_s=settings.interval_s, gap_factor=gap, pending=pending)


async def send_report(store: Store, config: Config, lines: Sequence[str], now: float) -> None:
    """Queue a report to every notification target and send it now (``fleetwatch report --send``)."""
    if not config.notify:
        raise ConfigError("no notification targets to send the report to: add `notify:` or pass --notify URL")
    outbox = Outbox(store.connection, config.notify)
    outbox.enqueue_one(_report_note(lines, now), now=now)
    await flush(outbox)


def _report_note(lines: Sequence[str], now: float) -> Notification:
    return compose_text(
        "report", Severity.INFO, lines[0], "\n".join(lines[2:]), (), now, key=f"report/{now:.0f}"
    )


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
    _unsettled: list[Polled] = field(init=False, default_factory=list)
    _sending: asyncio.Task[object] | None = field(init=False, default=None)
    _told: set[tuple[str, str, str]] = field(init=False, default_factory=set)
    """Rule problems already reported: (rule, host, kind)."""

    def __post_init__(self) -> None:
        config_path = self.fleet.ssh_config
        self.settings = self.config.passes.with_defaults(self.default_interval, self.default_deadline)
        self.transport = Transport(
            keep_open=self.keep_open,
            resolve_jump=Jumps(config_path, self.fleet.jump_hosts),
            max_output_bytes=self.settings.max_output_bytes,
        )
        self.outbox = Outbox(self.store.connection, self.config.notify)

    async def run_pass(self, on_polled: OnPolled | None = None) -> PassResult | None:
        """Poll, detect, settle: episodes and the notification outbox in one transaction;
        ``on_polled`` hears of each host's result as its poll ends (the TUI shows who is still out).

        None when the state database could not take the pass (disk full, locked too long): its results
        are kept and stored before the next pass's, so a flaky disk loses nothing."""
        url = self.config.heartbeat_url
        # The /start ping goes beside the polling: a slow health-check endpoint never delays the pass.
        starting = asyncio.create_task(self._heartbeat(url, Signal.START)) if url else None
        polled = await poll_fleet(
            self.transport,
            self.fleet.hosts,
            unresolved=self.fleet.unresolved,
            settings=self.settings,
            on_polled=on_polled,
        )
        if starting is not None:
            await starting  # before the pass's own ping, so the endpoint sees start, then success
        self._unsettled = [*self._unsettled, polled][-KEEP_UNSETTLED:]
        try:
            while self._unsettled:  # oldest first: episodes and clocks advance in the order polled
                result = settle_polled(
                    self.store,
                    self.fleet.hosts,
                    self._unsettled[0],
                    self.settings,
                    sink=self.outbox,
                    catalogue=self.config.catalogue.detectors,
                    complete=not self.config.catalogue.problems,
                )
                self._tell(result)
                self._unsettled.pop(0)
        except StateError as exc:
            kept = len(self._unsettled)
            self.emit(
                Trouble(f"{exc}; the results of {kept} pass(es) are kept and stored with the next pass")
            )
            return None
        except Exception:  # not the database: a bug in settling this pass; retried it would fail each pass
            self._unsettled.pop(0)
            raise
        self.passes += 1
        if result.vantage.gap_s is not None:
            self.emit(GapDetected(result.vantage.gap_s))
        hosts = len(result.observations)
        self.emit(PassFinished(self.passes, time.time(), result.seconds, hosts, len(result.transitions)))
        return result

    def _tell(self, result: PassResult) -> None:
        """A rule that failed or was slow on a host: said once per run (per rule, host and kind)."""
        for p in result.problems:
            if (p.rule, p.host, p.kind) not in self._told:
                self._told.add((p.rule, p.host, p.kind))
                self.emit(Trouble(p.message))

    def status(self, after: PassResult | None = None, now: float | None = None) -> FleetStatus:
        """This fleet's status as the state store holds it at ``now`` (default: the clock); ``after``
        the pass just run, its pending hosts (deadline) are marked."""
        pending = after.pending if after is not None else ()
        at = time.time() if now is None else now
        return read_status(self.store, entries(self.fleet), self.config, self.settings, at, pending)

    async def after_pass(
        self, result: PassResult, *, dry_run: bool, background: bool, blind: bool | None = None
    ) -> list[ActionOutcome]:
        """Auto-stop (opt-in) and the re-verification of earlier stops still settling (a person's too),
        send what is due (in the background in watch mode: delivery never blocks polling), heartbeat
        (``blind``: the pass's ``FleetStatus.blind`` when the caller has the status already).
        Returns the stop outcomes of this pass."""
        acting = self.config.auto_stop.on or self._stops_settling()
        outcomes = await self._auto_stop(result, dry_run) if acting else []
        self._scheduled_report()
        if background:
            if self._sending is None or self._sending.done():
                self._sending = asyncio.create_task(self.send())
        else:
            await self.send()
        if self.config.heartbeat_url:
            if blind is None:
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

    def _scheduled_report(self) -> None:
        """Queue the periodic report (config ``report.every``) when it is due; sent with the rest."""
        every = self.config.report.every
        if not every or not self.outbox.targets:
            return
        now = time.time()
        last = self.store.get_meta("report_sent_at")
        if last is not None and now - float(last) < every:
            return  # not due: no write transaction taken for it
        period = float(self.config.report.period)
        try:
            # The claim and the queued report in one transaction: a watcher and a cron check never both
            # send it, and a crash between the two never marks as sent a report that was never queued.
            with self.store.transaction():
                last = self.store.get_meta("report_sent_at")
                if last is not None and now - float(last) < every:
                    return
                self.store.set_meta("report_sent_at", str(now))
                report = load_report(self.store.connection, self.fleet.names, now - period, now)
                lines = report_lines(report, self.settings.history.stamp)
                self.outbox.enqueue_one(_report_note(lines, now), now=now)
        except StateError as exc:  # busy or full: due again next pass, never the end of the watcher
            self.emit(Trouble(f"the scheduled report was not queued this pass: {exc}"))

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

    async def close(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """End cleanly (also on SIGTERM): send what is due within ``grace_s``, close connections.
        What could not be sent in time stays queued for the next run."""
        try:
            async with asyncio.timeout(grace_s):
                await self.drain()
                if self.outbox.targets:
                    await flush(self.outbox, report=self.emit)
        except TimeoutError:
            self.emit(
                Trouble(f"stopping: notifications not sent within {grace_s:g} s stay queued for the next run")
            )
        except StateError as exc:
            self.emit(Trouble(f"stopping: {exc}"))
        await self.transport.close()
