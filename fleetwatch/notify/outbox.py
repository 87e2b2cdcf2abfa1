"""The notification outbox: decide -> store -> send -> mark sent, in the state database.

- ``record`` stores a pass's notifications and one delivery per wanting target inside the pass's
  own write transaction, so a transition and what must be sent for it commit (or vanish) together.
- ``claim_due`` is the lock: a short ``BEGIN IMMEDIATE`` marks deliveries ``sending`` with a claim
  token, so two processes (a cron ``check`` overlapping a watcher) never send the same delivery.  A
  claim older than the lease was abandoned by a crashed sender and is claimable again: the alert is
  not lost, at worst it is sent once more if the crash came after the service accepted it.
- Per target, deliveries go out oldest first: a backed-off delivery holds back newer ones to the
  same target, so a service that was down receives its backlog in order when it is back.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fleetwatch import silences
from fleetwatch.episodes import Change, EpisodeKey, Transition
from fleetwatch.findings import Severity
from fleetwatch.inventory.model import Host
from fleetwatch.notify import apprise_edge
from fleetwatch.notify.messages import compose
from fleetwatch.notify.model import Backlog, DeliveryStatus, Notification, Target
from fleetwatch.store import immediate

LEASE_S = 120.0
"""A ``sending`` claim older than this was abandoned (the sender bounds each send well below it)."""
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure in a row: 30 s doubling, capped at 1 h."""
    return float(min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S))


@dataclass(frozen=True)
class Delivery:
    """One notification claimed for sending to one target."""

    id: int
    target_url: str = field(repr=False)
    attempts: int
    claim: str
    notification: Notification


_NOTIFICATION_COLUMNS = ", ".join(
    f"n.{c}"
    for c in ("key", "kind", "severity", "detector", "title", "body", "hosts", "host_groups", "created_at")
)


def _due(d: str) -> str:
    """SQL: delivery ``d`` may be claimed now (due for a try, or its claim was abandoned)."""
    return (
        f"(({d}.state IN ('pending','failed') AND {d}.next_attempt_at <= :now)"
        f" OR ({d}.state = 'sending' AND {d}.claimed_at <= :stale))"
    )


def _notification(r: Any) -> Notification:
    return Notification(
        key=r["key"],
        kind=r["kind"],
        severity=Severity(r["severity"]),
        title=r["title"],
        body=r["body"],
        hosts=tuple(json.loads(r["hosts"])),
        groups=tuple(json.loads(r["host_groups"])),
        created_at=r["created_at"],
        detector=r["detector"],
    )


class Outbox:
    """Notifications and their deliveries, in the same SQLite database as the ``Store``."""

    def __init__(self, conn: sqlite3.Connection, targets: Sequence[Target] = ()) -> None:
        self._conn = conn
        self.targets = tuple(targets)

    def _query(self, sql: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows as ``sqlite3.Row`` whatever the connection's own row factory."""
        cur = self._conn.cursor()
        cur.row_factory = sqlite3.Row
        return list(cur.execute(sql, args))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A short write transaction of our own, or the caller's when one is open."""
        with immediate(self._conn, join=True):
            yield

    def _store(self, n: Notification, suppressed: str | None, targets: Sequence[Target]) -> int:
        """Insert a notification and its deliveries; 0 when its key was already stored."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO notifications (key, kind, severity, detector, title, body, hosts,"
            " host_groups, created_at, suppressed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                n.key,
                n.kind,
                int(n.severity),
                n.detector,
                n.title,
                n.body,
                json.dumps(n.hosts),
                json.dumps(n.groups),
                n.created_at,
                suppressed,
            ),
        )
        if cur.rowcount != 1 or cur.lastrowid is None:
            return 0
        if suppressed is None:
            for target in targets:
                if target.wants(n):
                    self._conn.execute(
                        "INSERT OR IGNORE INTO deliveries (notification_id, target_url, next_attempt_at)"
                        " VALUES (?,?,?)",
                        (cur.lastrowid, target.url, n.created_at),
                    )
        return cur.lastrowid

    def _announced(self, t: Transition) -> bool:
        """Whether anything about this episode went out unsuppressed (else its end is not news)."""
        rows = self._query(
            "SELECT 1 FROM notifications n WHERE n.detector=? AND n.created_at>=? AND n.suppressed IS NULL"
            " AND n.kind != 'resolved' AND EXISTS (SELECT 1 FROM json_each(n.hosts) h WHERE h.value=?)"
            " LIMIT 1",
            (t.episode.detector, t.episode.started_at, t.episode.host),
        )
        return bool(rows)

    def record(
        self,
        transitions: Sequence[Transition],
        hosts: Mapping[str, Host],
        now: float,
        inhibited: Mapping[EpisodeKey, str] | None = None,
    ) -> None:
        """Store the notifications for one pass's transitions, in the caller's write transaction; those of
        ``inhibited`` episodes (a root cause explains them) are stored suppressed, like silenced ones."""
        if not transitions:
            return
        if not self._conn.in_transaction:
            raise RuntimeError("Outbox.record must run inside the pass's write transaction")
        muting = silences.load(self._conn, now)
        kept: list[Transition] = []
        muted: dict[str, list[Transition]] = {}
        for t in transitions:
            ep = t.episode
            s = silences.active(muting, ep.host, ep.detector, now, ep.started_at)
            cause = (inhibited or {}).get(ep.key)
            if cause is not None:
                muted.setdefault(f"inhibited by {cause}", []).append(t)
            elif s is not None:
                why = f"acked ({s.target}, id {s.id})" if s.ack else f"silenced ({s.target}, id {s.id})"
                muted.setdefault(why + (f": {s.reason}" if s.reason else ""), []).append(t)
            elif t.change is Change.RESOLVED and not self._announced(t):
                # Its start was silenced or acked (or predates the notifier): its end is not news.
                muted.setdefault("nothing about this episode was sent before", []).append(t)
            else:
                kept.append(t)
        for n in compose(kept, hosts, now):
            self._store(n, None, self.targets)
        for reason, ts in muted.items():
            for n in compose(ts, hosts, now):
                self._store(n, reason, ())

    def enqueue_one(
        self, notification: Notification, targets: Sequence[Target] | None = None, now: float | None = None
    ) -> bool:
        """Queue an ad-hoc notification (e.g. an auto-stop outcome) for the targets that want it."""
        if now is not None and now != notification.created_at:
            notification = replace(notification, created_at=now)
        with self._writing():
            return self._store(notification, None, self.targets if targets is None else targets) > 0

    def claim_due(self, now: float, limit: int = 50) -> list[Delivery]:
        """Atomically take up to ``limit`` due deliveries (abandoned claims included), oldest first."""
        urls = sorted({t.url for t in self.targets})
        if not urls:
            return []
        token = uuid.uuid4().hex
        args: dict[str, Any] = {"now": now, "stale": now - LEASE_S, "limit": limit}
        args.update({f"u{i}": url for i, url in enumerate(urls)})
        configured = ",".join(f":u{i}" for i in range(len(urls)))
        # An older undelivered delivery to the same target that is not due (backing off, or being
        # sent by another process) holds the newer ones back: each target gets its backlog in order.
        sql = (
            f"SELECT d.id AS delivery_id, d.target_url, d.attempts, {_NOTIFICATION_COLUMNS} FROM deliveries d"
            " JOIN notifications n ON n.id = d.notification_id"
            f" WHERE d.target_url IN ({configured}) AND {_due('d')}"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e JOIN notifications m ON m.id = e.notification_id"
            "   WHERE e.target_url = d.target_url AND e.state != 'sent'"
            f"   AND (m.created_at, m.id) < (n.created_at, n.id) AND NOT {_due('e')})"
            " ORDER BY n.created_at, n.id, d.id LIMIT :limit"
        )
        with immediate(self._conn):
            rows = self._query(sql, args)
            self._conn.executemany(
                "UPDATE deliveries SET state='sending', claim=?, claimed_at=? WHERE id=?",
                [(token, now, r["delivery_id"]) for r in rows],
            )
        return [
            Delivery(r["delivery_id"], r["target_url"], r["attempts"], token, _notification(r)) for r in rows
        ]

    def mark_sent(self, delivery: Delivery, now: float) -> bool:
        """Record a successful send; False if the claim had lapsed and another sender took it over."""
        cur = self._conn.execute(
            "UPDATE deliveries SET state='sent', sent_at=?, claim=NULL, last_error=NULL"
            " WHERE id=? AND claim=?",
            (now, delivery.id, delivery.claim),
        )
        return cur.rowcount == 1

    def mark_failed(self, delivery: Delivery, error: str, now: float) -> float:
        """Record a failed send and back off its whole target; return when it is tried next."""
        attempts = delivery.attempts + 1
        retry_at = now + backoff(attempts)
        with self._writing():
            self._conn.execute(
                "UPDATE deliveries SET state='failed', attempts=?, next_attempt_at=?, last_error=?,"
                " claim=NULL WHERE id=? AND claim=?",
                (attempts, retry_at, error, delivery.id, delivery.claim),
            )
            # The rest of this target's queue waits too (and this sender's unsent claims are released),
            # so the backlog goes out in order once the service is back.
            self._conn.execute(
                "UPDATE deliveries SET next_attempt_at = max(next_attempt_at, ?),"
                " state = CASE WHEN state != 'sending' THEN state WHEN attempts > 0 THEN 'failed'"
                " ELSE 'pending' END, claim = CASE WHEN state = 'sending' THEN NULL ELSE claim END"
                " WHERE target_url=? AND id != ? AND (state IN ('pending','failed') OR claim=?)",
                (retry_at, delivery.target_url, delivery.id, delivery.claim),
            )
        return retry_at

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Hand back claimed deliveries that were not tried (a sender shutting down)."""
        with self._writing():
            self._conn.executemany(
                "UPDATE deliveries SET state = CASE WHEN attempts > 0 THEN 'failed' ELSE 'pending' END,"
                " claim = NULL WHERE id=? AND claim=? AND state='sending'",
                [(d.id, d.claim) for d in deliveries],
            )

    def waiting(self, target_url: str) -> int:
        """Undelivered deliveries to one target."""
        rows = self._query(
            "SELECT count(*) FROM deliveries WHERE target_url=? AND state != 'sent'", (target_url,)
        )
        return int(rows[0][0])

    def pending_summary(self, now: float) -> list[Backlog]:
        """Per target (redacted): what is waiting, since when, and the last error."""
        rows = self._query(
            "SELECT d.target_url, sum(d.state != 'failed') AS pending, sum(d.state = 'failed') AS failed,"
            " min(n.created_at) AS oldest, min(d.next_attempt_at) AS next_at, max(d.attempts) AS attempts,"
            " (SELECT e.last_error FROM deliveries e WHERE e.target_url = d.target_url"
            "   AND e.last_error IS NOT NULL ORDER BY e.next_attempt_at DESC LIMIT 1) AS last_error"
            " FROM deliveries d JOIN notifications n ON n.id = d.notification_id"
            " WHERE d.state != 'sent' GROUP BY d.target_url ORDER BY oldest, min(d.id)"
        )
        configured = {t.url for t in self.targets}
        return [
            Backlog(
                target=apprise_edge.redact(r["target_url"]),
                pending=int(r["pending"]),
                failed=int(r["failed"]),
                oldest_age_s=max(0.0, now - r["oldest"]),
                next_attempt_in_s=max(0.0, r["next_at"] - now),
                attempts=int(r["attempts"]),
                last_error=r["last_error"],
                configured=r["target_url"] in configured,
            )
            for r in rows
        ]

    def recent(self, limit: int = 200) -> list[DeliveryStatus]:
        """The newest notifications' delivery states, one per (notification, target), newest first."""
        rows = self._query(
            "SELECT n.id AS nid, n.kind, n.severity, n.title, n.hosts, n.created_at, n.suppressed,"
            " d.id AS did, d.target_url, d.state, d.attempts, d.next_attempt_at, d.sent_at, d.last_error"
            " FROM notifications n LEFT JOIN deliveries d ON d.notification_id = n.id"
            " ORDER BY n.created_at DESC, n.id DESC, d.id LIMIT ?",
            (limit,),
        )
        out = []
        for r in rows:
            shared = {
                "notification_id": r["nid"],
                "kind": r["kind"],
                "severity": Severity(r["severity"]),
                "title": r["title"],
                "hosts": tuple(json.loads(r["hosts"])),
                "created_at": r["created_at"],
            }
            if r["did"] is None:
                state = "suppressed" if r["suppressed"] is not None else "no target"
                out.append(
                    DeliveryStatus(**shared, delivery_id=None, target=None, state=state, note=r["suppressed"])
                )
                continue
            out.append(
                DeliveryStatus(
                    **shared,
                    delivery_id=r["did"],
                    target=apprise_edge.redact(r["target_url"]),
                    state=r["state"],
                    attempts=r["attempts"],
                    next_attempt_at=r["next_attempt_at"],
                    sent_at=r["sent_at"],
                    note=r["last_error"],
                )
            )
        return out

    def discard(self, target: str) -> dict[str, int]:
        """Drop the undelivered backlog of the target written as ``target`` (its URL, or the redacted form
        ``check`` and ``status`` show); returns how many were dropped per redacted target."""
        rows = self._query("SELECT DISTINCT target_url FROM deliveries WHERE state != 'sent'")
        urls = [
            r["target_url"] for r in rows if target in (r["target_url"], apprise_edge.redact(r["target_url"]))
        ]
        dropped: dict[str, int] = {}
        with self._writing():
            for url in urls:
                cur = self._conn.execute(
                    "DELETE FROM deliveries WHERE state != 'sent' AND target_url = ?", (url,)
                )
                shown = apprise_edge.redact(url)
                dropped[shown] = dropped.get(shown, 0) + cur.rowcount
        return dropped

    def prune(self, before: float) -> int:
        """Forget notifications created before ``before`` with nothing left to deliver."""
        with self._writing():
            self._conn.execute(
                "DELETE FROM deliveries WHERE state = 'sent' AND notification_id IN"
                " (SELECT id FROM notifications WHERE created_at < ?)",
                (before,),
            )
            cur = self._conn.execute(
                "DELETE FROM notifications WHERE created_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM deliveries d WHERE d.notification_id = notifications.id)",
                (before,),
            )
        return cur.rowcount
