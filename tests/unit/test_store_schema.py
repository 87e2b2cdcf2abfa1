"""One owner of the state schema: versioned, migrated forward, and a newer database is refused untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fleetwatch.errors import StateError
from fleetwatch.store import Store
from fleetwatch.store.schema import VERSION, version_of

RELEASE_0_1 = Path(__file__).parents[1] / "fixtures" / "state" / "release-0.1.0"


def release_db(state_dir: Path) -> Path:
    """A state dir holding the database fleetwatch 0.1.0 wrote (loaded from its SQL dump)."""
    state_dir.mkdir()
    path = state_dir / "state.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((RELEASE_0_1 / "state.sql").read_text())
    return path


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_state_dir_written_by_release_0_1_opens_migrates_and_keeps_everything(tmp_path: Path) -> None:
    path = release_db(tmp_path / "state")
    with sqlite3.connect(path) as conn:
        assert version_of(conn) == 0
        before = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in tables(path) - {"sqlite_sequence"}
        }
    store = Store.open(tmp_path / "state")
    try:
        assert version_of(store.connection) == VERSION
        episodes = store.episodes()
        assert ("demo-disk", "disk_critical") in episodes and episodes[("demo-disk", "disk_critical")].opened
        for table, count in before.items():
            assert store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count, table
        assert {"host_polls", "actions"} <= tables(path)
    finally:
        store.close()


def test_opening_twice_migrates_once_and_changes_nothing_more(tmp_path: Path) -> None:
    release_db(tmp_path / "state")
    Store.open(tmp_path / "state").close()
    store = Store.open(tmp_path / "state")
    assert version_of(store.connection) == VERSION
    store.close()


def test_a_new_state_dir_gets_every_table_at_the_current_version(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "new")
    assert version_of(store.connection) == VERSION
    store.close()
    expected = {"episodes", "transitions", "failure_clocks", "meta", "silences", "notifications"}
    assert expected | {"deliveries", "actions", "host_polls"} <= tables(tmp_path / "new" / "state.db")


def test_a_database_from_a_newer_fleetwatch_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = release_db(tmp_path / "state")
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StateError) as err:
        Store.open(tmp_path / "state")
    message = str(err.value)
    assert (
        str(path) in message
        and f"schema version {VERSION + 1}" in message
        and "upgrade fleetwatch" in message
    )
    assert path.read_bytes() == before
    assert "host_polls" not in tables(path)


def test_discard_backlog_drops_a_targets_queue_by_its_shown_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleetwatch.cli import main

    release_db(tmp_path / "state")
    state = str(tmp_path / "state")
    assert main(["discard-backlog", "json://127.0.0.1:9/h...k", "--state-dir", state]) == 0
    assert capsys.readouterr().out == "discarded 4 undelivered notifications for json://127.0.0.1:9/h...k\n"
    assert main(["discard-backlog", "json://127.0.0.1:9/h...k", "--state-dir", state]) == 3
    assert "no undelivered notifications for 'json://127.0.0.1:9/h...k'" in capsys.readouterr().err
