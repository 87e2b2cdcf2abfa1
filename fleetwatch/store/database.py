"""SQLite state under the XDG state dir: episodes, stored transitions, SSH failure clocks, latest polls.

WAL mode and ``BEGIN IMMEDIATE`` let a watcher, a cron ``check`` and the TUI share one database:
each pass reads and writes its state in one short write transaction, so overlapping runs
serialise instead of corrupting each other or reporting the same transition twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fleetwatch.episodes import Change, Episode, EpisodeKey, Transition
from fleetwatch.errors import StateError
from fleetwatch.findings import PollFailure, Severity
from fleetwatch.polls import HostFacts, HostPoll
from fleetwatch.snapshot import Snapshot
from fleetwatch.store.schema import migrate
from fleetwatch.store.sqlite import connect, immediate, use_wal


def _episode(row: sqlite3.Row) -> Episode:
    """An ``episodes`` row."""
    return Episode(
        **_shared(row),
        last_seen_at=row["last_seen_at"],
        opened=bool(row["opened"]),
        hits=row["hits"],
        misses=row["misses"],
        reminded_at=row["reminded_at"],
    )


def _transition(row: sqlite3.Row) -> Transition:
    """A ``transitions`` row: the episode as it was at the change."""
    return Transition(Change(row["change"]), Episode(**_shared(row), last_seen_at=row["at"]), row["at"])


def _shared(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "host": row["host"],
        "detector": row["detector"],
        "severity": Severity(row["severity"]),
        "message": row["message"],
        "hint": row["hint"],
        "context": json.loads(row["context"]),
        "started_at": row["started_at"],
    }


def _episode_values(ep: Episode) -> tuple[str, str, int, str, str, str, float]:
    """The columns episodes and transitions share, in (host … started_at) order."""
    context = json.dumps(ep.context, default=str)
    return (ep.host, ep.detector, int(ep.severity), ep.message, ep.hint, context, ep.started_at)


class Store:
    """The state database; open with ``Store.open(state_dir)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, notes: Sequence[str] = ()) -> None:
        self._conn = conn
        self.path = path
        self.notes = tuple(notes)
        """What opening it had to fix (permissions, a corrupt or empty file moved aside), for the user."""

    @staticmethod
    def file(state_dir: Path) -> Path:
        """Where the database of ``state_dir`` is (whether or not it exists yet)."""
        return state_dir / "state.db"

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (creating if needed) ``state.db`` in ``state_dir``: the directory 0700 and the files 0600
        whatever was there before; an empty or corrupt file is moved aside, never silently replaced."""
        path = cls.file(state_dir)
        notes: list[str] = []
        conn: sqlite3.Connection | None = None
        try:
            notes += _private_dir(state_dir)
            # One opener at a time: a database another process is creating is 0 bytes until its
            # schema is written, and must not look empty (moved aside) to a cron check starting with it.
            with _opening(state_dir):
                notes += _set_aside_if_empty(path)
                try:
                    conn = _open_checked(path)
                except sqlite3.DatabaseError as exc:
                    if isinstance(exc, sqlite3.OperationalError):
                        raise
                    notes.append(_set_aside(path, f"is not a usable SQLite database ({exc})", "corrupt"))
                    conn = _open_checked(path)
            notes += _private_files(path)
        except (OSError, sqlite3.Error, StateError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, StateError):
                raise
            raise StateError(
                f"cannot open state database {path}: {exc} "
                "(check permissions, or point --state-dir / FLEETWATCH_STATE_DIR elsewhere)"
            ) from None
        return cls(conn, path, notes)

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for edges that keep their own tables in this database (outbox, audit)."""
        return self._conn

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction, taken up front so concurrent passes queue instead of clashing."""
        with immediate(self._conn):
            yield self

    def episodes(self) -> dict[EpisodeKey, Episode]:
        """Every episode, pending ones included."""
        rows = self._conn.execute("SELECT * FROM episodes ORDER BY started_at")
        return {(r["host"], r["detector"]): _episode(r) for r in rows}

    def save_episodes(
        self, before: Mapping[EpisodeKey, Episode], after: Mapping[EpisodeKey, Episode]
    ) -> None:
        """Write the difference between two open-episode sets."""
        for key in before.keys() - after.keys():
            self._conn.execute("DELETE FROM episodes WHERE host=? AND detector=?", key)
        for key, ep in after.items():
            if before.get(key) == ep:
                continue
            self._conn.execute(
                "INSERT OR REPLACE INTO episodes (host, detector, severity, message, hint, context,"
                " started_at, last_seen_at, opened, hits, misses, reminded_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (*_episode_values(ep), ep.last_seen_at, int(ep.opened), ep.hits, ep.misses, ep.reminded_at),
            )

    def add_transitions(self, transitions: Iterable[Transition]) -> None:
        """Store transitions (the outbox notifications are sent from)."""
        for t in transitions:
            ep = t.episode
            self._conn.execute(
                "INSERT INTO transitions (host, detector, severity, message, hint, context, started_at,"
                " change, at) VALUES (?,?,?,?,?,?,?,?,?)",
                (*_episode_values(ep), str(t.change), t.at),
            )

    def transitions_since(self, after_id: int = 0) -> list[tuple[int, Transition]]:
        """Stored transitions with id > ``after_id``, oldest first."""
        rows = self._conn.execute("SELECT * FROM transitions WHERE id > ? ORDER BY id", (after_id,))
        return [(r["id"], _transition(r)) for r in rows]

    def get_meta(self, key: str) -> str | None:
        """A stored bookkeeping value (e.g. when the last pass ran)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Store a bookkeeping value."""
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    def recent_passes(self) -> list[float]:
        """When the last few passes ran, oldest first."""
        return [float(t) for t in json.loads(self.get_meta("recent_passes") or "[]")]

    def reset_failure_clocks(self, now: float) -> None:
        """Restart every failure streak at ``now`` (after a gap in watching, e.g. a laptop sleep)."""
        self._conn.execute("UPDATE failure_clocks SET failing_since=?, last_failure_at=?", (now, now))

    def failure_clocks(self) -> dict[str, float]:
        """host -> when SSH to it started failing continuously."""
        rows = self._conn.execute("SELECT host, failing_since FROM failure_clocks")
        return {r["host"]: r["failing_since"] for r in rows}

    def record_failure(self, host: str, now: float) -> float:
        """Note a failed poll; return when the failure streak started (kept across runs)."""
        self._conn.execute(
            "INSERT INTO failure_clocks VALUES (?,?,?) "
            "ON CONFLICT(host) DO UPDATE SET last_failure_at=excluded.last_failure_at",
            (host, now, now),
        )
        row = self._conn.execute("SELECT failing_since FROM failure_clocks WHERE host=?", (host,)).fetchone()
        return float(row["failing_since"])

    def record_success(self, host: str) -> None:
        """A poll got through: the failure streak is over."""
        self._conn.execute("DELETE FROM failure_clocks WHERE host=?", (host,))

    def polls(self) -> dict[str, HostPoll]:
        """The latest poll of every host ever polled."""
        rows = self._conn.execute("SELECT * FROM host_polls")
        return {r["host"]: _poll(r) for r in rows}

    def fields_saved_at(self) -> dict[str, float]:
        """When each host's rule fields were last saved."""
        return {r[0]: r[1] for r in self._conn.execute("SELECT host, at FROM host_fields")}

    def save_fields(self, rows: Iterable[tuple[str, float, Mapping[str, Any]]]) -> None:
        """Keep (host, when polled, rule fields) as each host's latest."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO host_fields VALUES (?,?,?)",
            [(host, at, json.dumps(fields, default=str)) for host, at, fields in rows],
        )

    def latest_fields(self, host: str) -> tuple[float, dict[str, Any]] | None:
        """(when polled, rule fields) of the host's latest saved answered poll, if any."""
        row = self._conn.execute("SELECT at, fields FROM host_fields WHERE host=?", (host,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def record_polls(self, results: Mapping[str, Snapshot | PollFailure], now: float) -> None:
        """Store this pass's results as each host's latest poll; a failure keeps the last good facts."""
        answered = [
            (host, now, r.latency_s, HostFacts.from_snapshot(r).to_json())
            for host, r in results.items()
            if isinstance(r, Snapshot)
        ]
        failed = [
            (host, now, str(r.stage), r.message, r.hint, r.latency_s, r.via)
            for host, r in results.items()
            if isinstance(r, PollFailure)
        ]
        self._conn.executemany(
            "INSERT INTO host_polls (host, polled_at, ok_at, latency_s, facts) VALUES (?1,?2,?2,?3,?4)"
            " ON CONFLICT(host) DO UPDATE SET polled_at=excluded.polled_at, ok_at=excluded.ok_at,"
            " latency_s=excluded.latency_s, facts=excluded.facts",
            answered,
        )
        self._conn.executemany(
            "INSERT INTO host_polls (host, polled_at, failed_at, stage, message, hint, latency_s, via)"
            " VALUES (?1,?2,?2,?3,?4,?5,?6,?7) ON CONFLICT(host) DO UPDATE SET polled_at=excluded.polled_at,"
            " failed_at=excluded.failed_at, stage=excluded.stage, message=excluded.message,"
            " hint=excluded.hint, latency_s=excluded.latency_s, via=excluded.via",
            failed,
        )


def _poll(row: sqlite3.Row) -> HostPoll:
    return HostPoll(
        host=row["host"],
        polled_at=row["polled_at"],
        ok_at=row["ok_at"],
        failed_at=row["failed_at"],
        stage=row["stage"],
        message=row["message"],
        hint=row["hint"],
        latency_s=row["latency_s"],
        via=row["via"],
        facts=HostFacts.from_json(row["facts"]) if row["facts"] else None,
    )


def _open_checked(path: Path) -> sqlite3.Connection:
    """Connect, migrate (before anything is written: a newer database stays untouched), then WAL."""
    with _private_umask():
        conn = connect(str(path))
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # reads the header: a corrupt file fails here
        migrate(conn, str(path))
        use_wal(conn)
    except BaseException:
        conn.close()
        raise
    return conn


OPEN_WAIT_S = 30.0
"""How long an opener waits for another to finish creating or migrating the database."""


@contextlib.contextmanager
def _opening(state_dir: Path) -> Iterator[None]:
    """Hold ``state_dir/open.lock`` (an advisory lock, released by the kernel if its holder dies) while
    the database is checked, created or migrated."""
    with _private_umask():
        fd = os.open(state_dir / "open.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited_until = time.monotonic() + OPEN_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > waited_until:
                    raise StateError(
                        f"another fleetwatch has been opening {Store.file(state_dir)} for "
                        f"{OPEN_WAIT_S:.0f} s (is one stopped mid-start?); try again when it is done"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """Files SQLite creates (the database, its -wal and -shm) are born 0600."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _private_dir(state_dir: Path) -> list[str]:
    """The state dir exists and is 0700 (it holds notification URLs, which carry tokens)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if mode & 0o077:
        state_dir.chmod(0o700)
        return [
            f"state directory {state_dir} was mode {mode:04o}: made it 0700 (it holds notification secrets)"
        ]
    return []


def _private_files(path: Path) -> list[str]:
    """The database and its companions are 0600, whatever created them."""
    notes = []
    for file in (
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        path.with_name("audit.log"),
    ):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            file.chmod(0o600)
            notes.append(f"{file} was mode {mode:04o}: made it 0600 (it holds notification secrets)")
    return notes


def _set_aside_if_empty(path: Path) -> list[str]:
    """A 0-byte state.db (truncated, or a failed copy) is kept aside and reported, not silently reused."""
    try:
        if path.stat().st_size > 0:
            return []
    except FileNotFoundError:
        return []
    return [_set_aside(path, "was empty (0 bytes)", "empty")]


def _set_aside(path: Path, why: str, label: str) -> str:
    """Move ``path`` (and its -wal/-shm) to ``state.db.<label>-<time>``; say so."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.{label}-{stamp}")
    path.rename(kept)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(kept.with_name(kept.name + suffix))
    return (
        f"state database {path} {why}: moved aside to {kept.name}; starting a new one (history starts over)"
    )
