"""The SQLite connection every part of fleetwatch shares, and the write transaction they take."""

from __future__ import annotations

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
        raise StateError(f"state database is locked or unwritable: {exc}") from None
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
