"""The state database's schema, in one place: its version and the forward migrations to it.

``PRAGMA user_version`` holds the version.  ``migrate`` brings an older database forward one step at a
time inside one write transaction (the version moves with the tables, or neither does), so a watcher
and a cron ``check`` upgrading the same file at once queue instead of racing.  A database written by a
newer fleetwatch is refused before anything is written to it.

Release 0.1.0 had no version (0) and created its tables from four modules, some only when first used;
step 1 creates whatever of them is missing, so every 0.1.0 state dir opens.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from fleetwatch.errors import StateError
from fleetwatch.store.sqlite import immediate

_RELEASE_0_1 = [
    """CREATE TABLE IF NOT EXISTS episodes (
        host TEXT NOT NULL, detector TEXT NOT NULL, severity INTEGER NOT NULL, message TEXT NOT NULL,
        hint TEXT NOT NULL, context TEXT NOT NULL, started_at REAL NOT NULL, last_seen_at REAL NOT NULL,
        opened INTEGER NOT NULL DEFAULT 1, hits INTEGER NOT NULL DEFAULT 1, misses INTEGER NOT NULL DEFAULT 0,
        reminded_at REAL,
        PRIMARY KEY (host, detector)
    )""",
    """CREATE TABLE IF NOT EXISTS transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        change TEXT NOT NULL, at REAL NOT NULL,
        host TEXT NOT NULL, detector TEXT NOT NULL, severity INTEGER NOT NULL, message TEXT NOT NULL,
        hint TEXT NOT NULL, context TEXT NOT NULL, started_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS failure_clocks (
        host TEXT PRIMARY KEY, failing_since REAL NOT NULL, last_failure_at REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Silences and acks: transitions are still stored and shown, but nobody is notified.
    """CREATE TABLE IF NOT EXISTS silences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        host TEXT NOT NULL,            -- an alias or a glob (pi*)
        detector TEXT,                 -- NULL: every detector
        until REAL,                    -- silences: when it ends; acks: NULL (they end with the episode)
        ack INTEGER NOT NULL DEFAULT 0,
        started_at REAL,               -- acks: the acked episode's start
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL DEFAULT ''
    )""",
    # The notification outbox: what must be sent for a transition commits with it.
    """CREATE TABLE IF NOT EXISTS notifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        severity INTEGER NOT NULL,
        detector TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        hosts TEXT NOT NULL,            -- JSON list of aliases
        host_groups TEXT NOT NULL,      -- JSON list ("groups" is an SQL keyword)
        created_at REAL NOT NULL,
        suppressed TEXT                 -- why nobody was notified (silence, ack); NULL otherwise
    )""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        target_url TEXT NOT NULL,       -- the raw URL (a secret): the state dir is 0700
        state TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        claim TEXT,                     -- token of the sender holding it while 'sending'
        claimed_at REAL,
        sent_at REAL,
        last_error TEXT,                -- redacted
        UNIQUE (notification_id, target_url)
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (target_url, state)",
    "CREATE INDEX IF NOT EXISTS notifications_detector ON notifications (detector, created_at)",
    # The audit trail of remote actions (auto-stop); audit.log holds a JSON-lines copy.
    """CREATE TABLE IF NOT EXISTS actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        host TEXT NOT NULL,
        detector TEXT NOT NULL,
        episode_started_at REAL NOT NULL,
        reason TEXT NOT NULL,            -- the episode's message when the stop was decided: the why
        argv TEXT NOT NULL,              -- JSON list, as run on the host (~ expanded there)
        where_ TEXT NOT NULL,            -- user@hostname:port [via jump]
        who TEXT NOT NULL,               -- local user@hostname that decided it
        started_at REAL NOT NULL,
        finished_at REAL,                -- NULL while running; updated when re-verified
        outcome TEXT NOT NULL,           -- started | stopped | draining | unverified | failed | dry-run
        detail TEXT NOT NULL,
        dry_run INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS actions_started_at ON actions (started_at)",
]
# Columns 0.1.0 added to `episodes` during its development, for databases created before them.
_EPISODE_COLUMNS = {
    "opened": "INTEGER NOT NULL DEFAULT 1",
    "hits": "INTEGER NOT NULL DEFAULT 1",
    "misses": "INTEGER NOT NULL DEFAULT 0",
    "reminded_at": "REAL",
}


def _release_0_1(conn: sqlite3.Connection) -> None:
    for ddl in _RELEASE_0_1:
        conn.execute(ddl)
    have = {r[1] for r in conn.execute("PRAGMA table_info(episodes)")}
    for column, decl in _EPISODE_COLUMNS.items():
        if column not in have:
            conn.execute(f"ALTER TABLE episodes ADD COLUMN {column} {decl}")


def _host_polls(conn: sqlite3.Connection) -> None:
    # The latest poll of each host, for `status` and every other view that must not poll: what was
    # seen, when it last worked, when and how it last failed.  `facts` (JSON) is the last good
    # snapshot's summary and survives failures, so a failed host keeps its last values with their age.
    conn.execute(
        """CREATE TABLE host_polls (
            host TEXT PRIMARY KEY,
            polled_at REAL NOT NULL,        -- the latest pass that polled it, success or failure
            ok_at REAL,                     -- the latest poll the probe answered
            failed_at REAL,                 -- the latest failed poll
            stage TEXT,                     -- that failure's stage (resolve, connect, host key, auth, …)
            message TEXT,                   -- and its one line
            hint TEXT,
            latency_s REAL,                 -- the latest poll's duration
            facts TEXT                      -- JSON summary of the latest answered poll
        )"""
    )


def _poll_via(conn: sqlite3.Connection) -> None:
    # The ProxyJump hop a failed poll stopped at: the host's alerts are then explained by its jump host.
    conn.execute("ALTER TABLE host_polls ADD COLUMN via TEXT")


def _history(conn: sqlite3.Connection) -> None:
    # History (fleetwatch/history/): one sample per host per pass, rolled up into 5-minute and hourly
    # buckets (res = 300, 3600; n = passes folded in) as it ages.  Values are scaled integers
    # (history.model.METRICS): a year of 200 hosts stays small.
    conn.execute(
        """CREATE TABLE samples (
            host TEXT NOT NULL, res INTEGER NOT NULL, at INTEGER NOT NULL, n INTEGER NOT NULL,
            stage TEXT, reachable INTEGER, latency_s INTEGER, disk_used_pct INTEGER, disk_free_gb INTEGER,
            load_1m INTEGER, mem_available_mb INTEGER, clock_offset_s INTEGER, round INTEGER,
            event_age_s INTEGER, serve_active INTEGER, rate_limited INTEGER,
            PRIMARY KEY (host, res, at)
        ) WITHOUT ROWID"""
    )
    # One row per agent round (agent_usage_recorded), deduplicated across the peeks that repeat it;
    # kept a week, and summed into hourly and (operator's timezone) daily totals kept much longer.
    conn.execute(
        """CREATE TABLE usage (
            host TEXT NOT NULL, round INTEGER NOT NULL, ts REAL NOT NULL, phase TEXT NOT NULL,
            agent TEXT NOT NULL, model TEXT NOT NULL, cost_usd REAL NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, tool_calls INTEGER NOT NULL,
            success INTEGER NOT NULL, duration_s REAL, seen_at REAL NOT NULL,
            PRIMARY KEY (host, round, ts, phase)
        ) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX usage_by_time ON usage (host, ts)")
    for table, key in (("usage_hourly", "hour INTEGER"), ("usage_daily", "day TEXT")):
        conn.execute(
            f"""CREATE TABLE {table} (
                host TEXT NOT NULL, {key} NOT NULL, rounds INTEGER NOT NULL, successes INTEGER NOT NULL,
                cost_usd REAL NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                cached_tokens INTEGER NOT NULL, tool_calls INTEGER NOT NULL, duration_s REAL NOT NULL,
                PRIMARY KEY (host, {key.split()[0]})
            ) WITHOUT ROWID"""
        )


def _host_fields(conn: sqlite3.Connection) -> None:
    # What the user's rules read on each host (rules/fields.py), as of a recent answered poll: what
    # `fleetwatch rules test` evaluates new rules against without polling.  Rewritten at most every few
    # minutes per host (pipeline.FIELDS_EVERY_S), not every pass.
    conn.execute(
        """CREATE TABLE host_fields (
            host TEXT PRIMARY KEY,
            at REAL NOT NULL,               -- when the poll was made
            fields TEXT NOT NULL            -- JSON: the rule fields document
        )"""
    )


STEPS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _release_0_1,
    _host_polls,
    _poll_via,
    _history,
    _host_fields,
)
"""``STEPS[n]`` takes a database from version n to n + 1."""
VERSION = len(STEPS)
"""The schema version this code writes."""


def version_of(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database (0 for release 0.1.0 and for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database to ``VERSION``; refuse one written by a newer fleetwatch."""
    found = version_of(conn)
    if found > VERSION:
        raise StateError(
            f"state database {path} has schema version {found}, newer than this fleetwatch knows "
            f"({VERSION}): upgrade fleetwatch, or point --state-dir / FLEETWATCH_STATE_DIR elsewhere"
        )
    if found == VERSION:
        return
    with immediate(conn):
        found = version_of(conn)  # another process may have migrated while we waited for the lock
        if found >= VERSION:
            return
        for step in STEPS[found:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {VERSION}")
