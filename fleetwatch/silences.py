"""Silences and acks: transitions still stored and shown, but nobody is notified.

- A silence covers ``HOST[:DETECTOR]`` (HOST may be a glob such as ``pi*``) until a time.
- An ack covers one open episode and ends when that episode resolves: it records the episode's
  ``started_at``, so the next episode of the same detector on the same host is reported again.

Parsing and matching are pure; the small SQLite helpers work on the store's ``silences`` table.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from fleetwatch.basics import finite_duration as plain_duration
from fleetwatch.basics import human_duration
from fleetwatch.errors import ConfigError
from fleetwatch.store import immediate

_DETECTOR = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Silence:
    """One silence (until a time) or ack (until its episode resolves)."""

    id: int
    host: str
    detector: str | None
    until: float | None
    ack: bool
    started_at: float | None
    reason: str
    created_at: float
    created_by: str

    @property
    def target(self) -> str:
        """``HOST`` or ``HOST:DETECTOR``."""
        return self.host if self.detector is None else f"{self.host}:{self.detector}"

    def covers(self, host: str, detector: str) -> bool:
        """Whether this names the host and detector (time and episode aside)."""
        return fnmatchcase(host, self.host) and self.detector in (None, detector)


def parse_duration(text: str) -> float:
    """Seconds in ``2h``, ``30m``, ``1d``, ``90s``, ``1h30m`` or ``1.5h``: a unit is required here."""
    compact = text.strip().lower().replace(" ", "")
    try:
        if not compact or _bare_number(compact):  # `--for 90` or `1e3`: minutes? seconds? say so
            raise ValueError(compact)
        seconds = plain_duration(compact)
    except ValueError:
        raise ConfigError(
            f"cannot read duration {text!r}: use a number with a unit, e.g. 90s, 30m, 2h, 1d, 1h30m"
        ) from None
    if seconds <= 0:
        raise ConfigError(f"duration {text!r} is zero: silence for at least a second")
    if seconds > MAX_SILENCE_S:
        raise ConfigError(
            f"duration {text!r} is more than a year: silence for 366d at most (or disable the host)"
        )
    return seconds


MAX_SILENCE_S = 366 * 86400.0
"""The longest silence (a longer one is a host to disable in the inventory, not to mute)."""


def _bare_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_target(text: str, known_detectors: Collection[str] = ()) -> tuple[str, str | None]:
    """``HOST[:DETECTOR]`` -> (host, detector or None); checks the detector name when ``known`` is given."""
    host, sep, detector = text.strip().rpartition(":")
    if not sep:
        host, detector = detector, ""
    if not host:
        raise ConfigError(f"{text!r} names no host: use HOST or HOST:DETECTOR, e.g. pi3:disk_critical")
    if sep and not _DETECTOR.fullmatch(detector):
        raise ConfigError(f"{text!r}: {detector!r} is not a detector name (e.g. pi3:disk_critical)")
    if sep and known_detectors and detector not in known_detectors:
        close = difflib.get_close_matches(detector, list(known_detectors), n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (see docs/detectors.md)"
        raise ConfigError(f"unknown detector {detector!r}{hint}")
    return host, detector or None


def active(
    silences: Iterable[Silence], host: str, detector: str, now: float, open_started_at: float | None
) -> Silence | None:
    """What mutes ``detector`` on ``host`` now, for the episode that started at ``open_started_at``."""
    for s in silences:
        if not s.covers(host, detector):
            continue
        if s.ack:
            if open_started_at is not None and s.started_at == open_started_at:
                return s
        elif s.until is None or now < s.until:
            return s
    return None


def describe(s: Silence, now: float) -> str:
    """One line for ``check`` output: what is muted, until when, why and by whom."""
    if s.ack:
        text = f"acked {s.target} until the episode resolves"
    elif s.until is None:
        text = f"silenced {s.target} until removed"
    else:
        text = f"silenced {s.target} for {human_duration(max(0.0, s.until - now))} more"
    if s.reason:
        text += f" — {s.reason}"
    return text + (f" (by {s.created_by}, id {s.id})" if s.created_by else f" (id {s.id})")


@contextmanager
def _writing(conn: sqlite3.Connection) -> Iterator[None]:
    """Join the caller's transaction, or run in a short one of our own."""
    with immediate(conn, join=True):
        yield


def _row(r: Any) -> Silence:
    """A ``silences`` row (a ``sqlite3.Row`` or a plain tuple, whatever the connection's row factory)."""
    return Silence(
        id=int(r[0]),
        host=str(r[1]),
        detector=None if r[2] is None else str(r[2]),
        until=None if r[3] is None else float(r[3]),
        ack=bool(r[4]),
        started_at=None if r[5] is None else float(r[5]),
        reason=str(r[6]),
        created_at=float(r[7]),
        created_by=str(r[8]),
    )


_COLUMNS = "id, host, detector, until, ack, started_at, reason, created_at, created_by"


def _insert(conn: sqlite3.Connection, values: tuple[object, ...]) -> Silence:
    with _writing(conn):
        cur = conn.execute(
            "INSERT INTO silences (host, detector, until, ack, started_at, reason, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?,?)",
            values,
        )
        row = conn.execute(f"SELECT {_COLUMNS} FROM silences WHERE id=?", (cur.lastrowid,)).fetchone()
    return _row(row)


def add_silence(
    conn: sqlite3.Connection, host: str, detector: str | None, until: float, reason: str, by: str, now: float
) -> Silence:
    """Silence ``host`` (and only ``detector`` if given) until ``until``."""
    return _insert(conn, (host, detector, until, 0, None, reason, now, by))


def add_ack(conn: sqlite3.Connection, host: str, detector: str, reason: str, by: str, now: float) -> Silence:
    """Ack the open episode of ``detector`` on ``host``; raises ConfigError when none is open."""
    row = conn.execute(
        "SELECT started_at FROM episodes WHERE host=? AND detector=? AND opened=1", (host, detector)
    ).fetchone()
    if row is None:
        raise ConfigError(
            f"{host} has no open {detector} episode to ack (see `fleetwatch check`; "
            f"to mute a future one use `fleetwatch silence {host}:{detector} --for 2h`)"
        )
    return _insert(conn, (host, detector, None, 1, float(row[0]), reason, now, by))


def load(conn: sqlite3.Connection, now: float) -> list[Silence]:
    """Silences not yet expired and every ack (``active`` tells which ack still matches an episode)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM silences WHERE ack=1 OR until IS NULL OR until > ? ORDER BY id", (now,)
    )
    return [_row(r) for r in rows]


def list_active(conn: sqlite3.Connection, now: float) -> list[Silence]:
    """Silences in force and acks whose episode is still open, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM silences s WHERE (s.ack=0 AND (s.until IS NULL OR s.until > ?))"
        " OR (s.ack=1 AND EXISTS (SELECT 1 FROM episodes e WHERE e.host=s.host"
        " AND e.detector=s.detector AND e.started_at=s.started_at)) ORDER BY s.id",
        (now,),
    )
    return [_row(r) for r in rows]


def remove(conn: sqlite3.Connection, silence_id: int) -> bool:
    """Delete a silence or ack by id; False when there was none."""
    with _writing(conn):
        cur = conn.execute("DELETE FROM silences WHERE id=?", (silence_id,))
    return cur.rowcount > 0
