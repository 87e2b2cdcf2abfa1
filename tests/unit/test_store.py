"""SQLite state: episodes, transitions and failure clocks survive restarts and separate runs."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from fleetwatch.episodes import advance
from fleetwatch.errors import StateError
from fleetwatch.findings import Finding, Severity
from fleetwatch.store import Store

EVAL = {"pi": frozenset({"disk_critical"})}


def test_episodes_and_transitions_survive_reopening(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with store.transaction():
        before = store.episodes()
        after, ts = advance(before, [Finding("pi", "disk_critical", Severity.CRITICAL, "97%")], EVAL, 10.0)
        store.save_episodes(before, after)
        store.add_transitions(ts)
    store.close()
    again = Store.open(tmp_path)
    assert again.episodes()[("pi", "disk_critical")].message == "97%"
    [(_id, t)] = again.transitions_since(0)
    assert t.change == "opened" and t.episode.host == "pi" and t.at == 10.0


def test_failure_clock_keeps_the_first_failure_time_across_runs(tmp_path: Path) -> None:
    s1 = Store.open(tmp_path)
    with s1.transaction():
        assert s1.record_failure("pi", 100.0) == 100.0
    s1.close()
    s2 = Store.open(tmp_path)
    with s2.transaction():
        assert s2.record_failure("pi", 400.0) == 100.0
        s2.record_success("pi")
        assert s2.failure_clocks() == {}


def test_a_failed_pass_rolls_back_completely(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with pytest.raises(RuntimeError), store.transaction():
        store.record_failure("pi", 1.0)
        raise RuntimeError("crash mid-pass")
    assert store.failure_clocks() == {}


def test_overlapping_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    errors: list[BaseException] = []

    def writer(host: str) -> None:
        try:
            s = Store.open(tmp_path)
            for i in range(50):
                with s.transaction():
                    s.record_failure(f"{host}-{i}", float(i))
            s.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(h,)) for h in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(Store.open(tmp_path).failure_clocks()) == 150


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StateError, match="--state-dir"):
        Store.open(blocker / "state")


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
