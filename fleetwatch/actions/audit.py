"""The audit trail of remote actions: an ``actions`` table in the state database plus ``audit.log``.

The table is what the planner reads (breaker, one stop per episode), so it must live in the same
SQLite database as the episodes and be claimed in a write transaction before anything runs: a watcher
and a cron ``check`` planning at once then queue instead of both stopping hosts.  ``audit.log`` is an
append-only JSON-lines copy for people (``grep pi3 audit.log``); a row that is re-verified later gets
a new line, the row itself holds the latest outcome.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleetwatch.actions.plan import AuditRecord, Outcome
from fleetwatch.basics import iso
from fleetwatch.errors import StateError
from fleetwatch.store import immediate

COLUMNS = (
    "id, host, detector, episode_started_at, reason, argv, where_, who, started_at, finished_at, "
    "outcome, detail, dry_run"
)
LOG_NAME = "audit.log"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts, ms=True)


def _record(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        id=int(row[0]),
        host=row[1],
        detector=row[2],
        episode_started_at=float(row[3]),
        reason=row[4],
        argv=tuple(json.loads(row[5])),
        where=row[6],
        who=row[7],
        started_at=float(row[8]),
        finished_at=None if row[9] is None else float(row[9]),
        outcome=Outcome(row[10]),
        detail=row[11],
        dry_run=bool(row[12]),
    )


class Audit:
    """The ``actions`` table on the state database's connection, and ``<state_dir>/audit.log``."""

    def __init__(self, conn: sqlite3.Connection, state_dir: Path) -> None:
        self._conn = conn
        self.log_path = state_dir / LOG_NAME

    @contextmanager
    def transaction(self) -> Iterator[Audit]:
        """One write transaction (``BEGIN IMMEDIATE``: concurrent planners queue here)."""
        with immediate(self._conn):
            yield self

    def _select(self, where: str, args: tuple[Any, ...]) -> list[AuditRecord]:
        try:
            rows = self._conn.execute(f"SELECT {COLUMNS} FROM actions WHERE {where} ORDER BY id", args)
            return [_record(tuple(r)) for r in rows]
        except sqlite3.Error as exc:
            raise StateError(f"cannot read the actions table: {exc}") from None

    def since(self, ts: float) -> list[AuditRecord]:
        """Every record started at or after ``ts``, oldest first."""
        return self._select("started_at >= ?", (ts,))

    def unsettled(self) -> list[AuditRecord]:
        """Real stops still to be re-verified (started, draining or unverified), oldest first."""
        open_ = tuple(str(o) for o in Outcome if not o.settled)
        marks = ",".join("?" * len(open_))
        return self._select(f"dry_run = 0 AND outcome IN ({marks})", open_)

    def add(self, rec: AuditRecord) -> AuditRecord:
        """Insert ``rec`` (its ``id`` is ignored); return it with the id the database gave it."""
        try:
            cur = self._conn.execute(
                "INSERT INTO actions (host, detector, episode_started_at, reason, argv, where_, who,"
                " started_at, finished_at, outcome, detail, dry_run) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.host,
                    rec.detector,
                    rec.episode_started_at,
                    rec.reason,
                    json.dumps(list(rec.argv)),
                    rec.where,
                    rec.who,
                    rec.started_at,
                    rec.finished_at,
                    str(rec.outcome),
                    rec.detail,
                    int(rec.dry_run),
                ),
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot write the actions table: {exc}") from None
        assert cur.lastrowid is not None  # an INSERT into a rowid table always has one
        return replace(rec, id=cur.lastrowid)

    def update(self, rec: AuditRecord) -> None:
        """Store a record's new outcome, detail and finish time."""
        try:
            self._conn.execute(
                "UPDATE actions SET outcome=?, detail=?, finished_at=? WHERE id=?",
                (str(rec.outcome), rec.detail, rec.finished_at, rec.id),
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot write the actions table: {exc}") from None

    def log(self, rec: AuditRecord, event: str, at: float) -> None:
        """Append one JSON line about ``rec`` to audit.log (``event``: claimed, finished, re-verified)."""
        line = {
            "ts": _iso(at),
            "event": event,
            "id": rec.id,
            "who": rec.who,
            "host": rec.host,
            "where": rec.where,
            "argv": list(rec.argv),
            "why": {"detector": rec.detector, "message": rec.reason},
            "episode_started_at": _iso(rec.episode_started_at),
            "started_at": _iso(rec.started_at),
            "finished_at": _iso(rec.finished_at),
            "outcome": str(rec.outcome),
            "detail": rec.detail,
            "dry_run": rec.dry_run,
        }
        text = json.dumps(line, ensure_ascii=False) + "\n"
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # One write() on an O_APPEND file: lines from concurrent fleetwatch runs never interleave.
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise StateError(
                f"cannot append to the audit log {self.log_path}: {exc.strerror or exc} "
                "(auto-stop refuses to act unaudited; check the state directory's permissions)"
            ) from None
