"""The SQLite connection every part of fleetwatch shares, and the write transaction they take."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from fleetwatch.errors import StateError

BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another (a watcher, a cron check, the TUI) before giving up."""


def connect(path: str) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit: ``immediate``); nothing written yet."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    """WAL: readers (``status``, the TUI) never block the writer, nor it them."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")


@contextmanager
def immediate(conn: sqlite3.Connection, *, join: bool = False) -> Iterator[None]:
    """A write transaction taken up front (``BEGIN IMMEDIATE``), so a watcher, a cron check and the TUI
    queue on the lock instead of failing half-way; with ``join``, the caller's open transaction is used."""
    if join and conn.in_transaction:
        yield
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StateError(
            _explain(exc, "is locked by another fleetwatch for too long, or unwritable")
        ) from None
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):  # disk full, I/O error, locked at COMMIT: one clear line
            raise StateError(_explain(exc, "could not be written")) from None
        raise


def _explain(exc: sqlite3.Error, what: str) -> str:
    """One line naming the database trouble and the fix."""
    text = str(exc)
    if "full" in text:
        fix = "free space on that filesystem, or point --state-dir / FLEETWATCH_STATE_DIR elsewhere"
    elif "locked" in text or "busy" in text:
        fix = "another fleetwatch holds it (a long pass?); this one retries next pass"
    else:
        fix = "check the file's permissions and the disk"
    return f"state database {what}: {text} ({fix})"
