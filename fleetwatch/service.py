"""The headless watcher every front end drives: passes, the notification outbox, auto-stop, heartbeat.

``fleetwatch --host``, ``--once``, ``check``, ``demo`` (and the TUI) all run ``Watcher``; none of them
holds detection or delivery logic.  Order per pass: poll → settle (episodes + outbox, one transaction)
→ auto-stop (opt-in) → send what is due → heartbeat.  Delivery never blocks polling: in watch mode it
runs as its own task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch import silences
from fleetwatch.config import Config
from fleetwatch.episodes import Episode, EpisodeKey
from fleetwatch.errors import FleetwatchError, HostError, StateError
from fleetwatch.findings import Severity
from fleetwatch.inventory.fleet import load_fleet
from fleetwatch.inventory.model import Host
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import flush
from fleetwatch.pipeline import PassResult, run_pass
from fleetwatch.settings import WATCH_INTERVAL, PassSettings
from fleetwatch.store import Store
from fleetwatch.transport import Transport
from fleetwatch.vantage import describe_gap

if TYPE_CHECKING:
    from fleetwatch.actions.stop import ActionOutcome

Report = Callable[[str], None]


@dataclass
class Fleet:
    """The selected hosts, plus those that failed to resolve (they are polled as failures)."""

    hosts: list[Host]
    unresolved: Mapping[str, HostError]
    ssh_config: Path

    @property
    def names(self) -> list[str]:
        """Every selected alias, resolved or not."""
        return [h.alias for h in self.hosts] + [a for a in self.unresolved if a not in self.by_alias]

    @property
    def by_alias(self) -> dict[str, Host]:
        """Resolved hosts by alias."""
        return {h.alias: h for h in self.hosts}


def select_fleet(
    ssh_config: Path,
    inventories: Sequence[Path],
    names: Sequence[str],
    groups: Sequence[str],
    *,
    explicit_config: bool,
    everything: bool = False,
) -> Fleet:
    """Discover, select and resolve hosts."""
    hosts, errors = load_fleet(
        ssh_config, inventories, names, groups, explicit_config=explicit_config, everything=everything
    )
    return Fleet(hosts, {e.host: e for e in errors if isinstance(e, HostError)}, ssh_config)


KEEP_SENT_S = 30 * 86400.0
"""How long delivered notifications stay in the state database."""


@dataclass
class Watcher:
    """One fleet, one state database, one transport: run passes and everything that follows them."""

    fleet: Fleet
    store: Store
    config: Config
    keep_open: bool = False
    default_interval: float = WATCH_INTERVAL
    report: Report = field(default=lambda message: None)
    transport: Transport = field(init=False)
    settings: PassSettings = field(init=False)
    outbox: Outbox = field(init=False)
    _sending: asyncio.Task[object] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        config_path = self.fleet.ssh_config
        self.transport = Transport(
            keep_open=self.keep_open, resolve_jump=lambda name: resolve_alias(name, config_path)
        )
        self.settings = self.config.passes.with_default_interval(self.default_interval)
        self.outbox = Outbox(self.store.connection, self.config.notify)

    async def run_pass(self) -> PassResult:
        """Poll, detect, settle: episodes and the notification outbox in one transaction."""
        result = await run_pass(
            self.transport,
            self.store,
            self.fleet.hosts,
            unresolved=self.fleet.unresolved,
            settings=self.settings,
            sink=self.outbox,
        )
        gap = describe_gap(result.vantage)
        if gap:
            self.report(gap)
        return result

    async def after_pass(self, result: PassResult, *, dry_run: bool, background: bool) -> list[ActionOutcome]:
        """Auto-stop (opt-in), send what is due (in the background in watch mode: delivery never blocks
        polling), heartbeat.  Returns the auto-stop outcomes of this pass."""
        outcomes = await self._auto_stop(result, dry_run) if self.config.auto_stop.on else []
        if background:
            if self._sending is None or self._sending.done():
                self._sending = asyncio.create_task(self.send())
        else:
            await self.send()
        if self.config.heartbeat_url:
            await self._heartbeat(self.config.heartbeat_url)
        return outcomes

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
            report=self.report,
            timeout=float(self.settings.timeout),
        )
        by_alias = self.fleet.by_alias
        for o in outcomes:
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
                f"{severity.tag} {o.host} auto-stop {o.outcome}",
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
            await flush(self.outbox, report=self.report)
        try:
            self.outbox.prune(time.time() - KEEP_SENT_S)
        except StateError as exc:  # busy with another writer: prune next pass, never fail the watcher
            self.report(f"old notifications not pruned this pass: {exc}")

    async def drain(self) -> None:
        """Wait for a background send to finish (before exiting)."""
        if self._sending is not None:
            await self._sending

    def muted(self, episodes: Mapping[EpisodeKey, Episode]) -> dict[EpisodeKey, str]:
        """Open episodes a silence or ack covers, with how (for check output and its status)."""
        now = time.time()
        active_ones = silences.list_active(self.store.connection, now)
        muted = {}
        for key, ep in episodes.items():
            s = silences.active(active_ones, ep.host, ep.detector, now, ep.started_at)
            if s is not None:
                who = f" by {s.created_by}" if s.created_by else ""
                why = f": {s.reason}" if s.reason else ""
                muted[key] = ("ACK" if s.ack else "SILENCED") + who + why
        return muted

    def silence_lines(self) -> list[str]:
        """One line per active silence or ack, and per notification backlog."""
        now = time.time()
        lines = [silences.describe(s, now) for s in silences.list_active(self.store.connection, now)]
        return lines + [b.describe() for b in self.outbox.pending_summary(now)]

    def silence_records(self) -> list[dict[str, object]]:
        """Active silences and notification backlogs as JSON-able records."""
        now = time.time()
        return [dataclasses.asdict(s) for s in silences.list_active(self.store.connection, now)] + [
            dataclasses.asdict(b) for b in self.outbox.pending_summary(now)
        ]

    def outbox_counts(self) -> dict[str, int]:
        """Perfdata: notifications still pending and failing."""
        backlog = self.outbox.pending_summary(time.time())
        return {"pending": sum(b.pending for b in backlog), "failed": sum(b.failed for b in backlog)}

    async def _heartbeat(self, url: str) -> None:
        from fleetwatch.heartbeat import ping

        try:
            await asyncio.to_thread(ping, url)
        except FleetwatchError as exc:
            self.report(str(exc))

    async def close(self) -> None:
        """Finish sending, close connections."""
        await self.drain()
        await self.transport.close()
