"""The state database under stress: wrong modes are fixed, empty or corrupt files are moved aside with
a message, and a full or locked database loses no pass (kept in memory, stored with the next)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fleetwatch.config import Config
from fleetwatch.demo import demo_fleet
from fleetwatch.events import Trouble, WatcherEvent
from fleetwatch.inventory.fleet import select_fleet
from fleetwatch.store import Store
from fleetwatch.store import sqlite as store_sqlite
from fleetwatch.watcher import Watcher


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_state_dir_made_0755_before_is_made_0700_and_its_files_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    old = os.umask(0o022)
    try:
        store = Store.open(state)
    finally:
        os.umask(old)
    with store.transaction():
        store.set_meta("x", "y")
    assert mode(state) == 0o700 and mode(state / "state.db") == 0o600
    assert mode(state / "state.db-wal") == 0o600
    assert any("was mode 0755: made it 0700" in n for n in store.notes), store.notes
    store.close()
    (state / "state.db").chmod(0o644)
    again = Store.open(state)
    assert mode(state / "state.db") == 0o600 and any("was mode 0644" in n for n in again.notes)
    again.close()


@pytest.mark.parametrize(("content", "label"), [(b"", "empty"), (b"this is not sqlite" * 100, "corrupt")])
def test_an_empty_or_corrupt_database_is_moved_aside_with_a_message(
    tmp_path: Path, content: bytes, label: str
) -> None:
    (tmp_path / "state.db").write_bytes(content)
    store = Store.open(tmp_path)
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith(f"state.db.{label}-")]
    assert kept.read_bytes() == content, "moved aside, not deleted"
    [note] = store.notes
    assert str(tmp_path / "state.db") in note and f"moved aside to {kept.name}" in note
    with store.transaction():
        store.set_meta("works", "yes")
    store.close()


def test_processes_opening_a_new_state_dir_together_never_see_each_others_half_made_database(
    tmp_path: Path,
) -> None:
    """A database being created is 0 bytes until its schema is written; openers take turns, so a cron
    check starting beside another never mistakes it for an empty file and moves it aside."""
    script = (
        "import sys\nfrom pathlib import Path\nfrom fleetwatch.store import Store\n"
        "s = Store.open(Path(sys.argv[1]))\nprint(len(s.notes))\ns.close()\n"
    )
    for attempt in range(5):
        state = tmp_path / f"state{attempt}"
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(state)], stdout=subprocess.PIPE, text=True)
            for _ in range(6)
        ]
        notes = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert notes == ["0"] * 6, notes
        assert sorted(p.name for p in state.iterdir() if p.name.startswith("state.db.")) == []


def _watch_two_passes(state: Path, between: object) -> tuple[list[WatcherEvent], list[int]]:
    """Two demo passes with ``between`` (a callable) run after the first; events and stored pass counts."""
    events: list[WatcherEvent] = []
    counts: list[int] = []

    async def main() -> None:
        async with demo_fleet() as demo:
            fleet = select_fleet(demo.ssh_config, [], ["demo-healthy", "demo-disk"], [], explicit_config=True)
            store = Store.open(state)
            watcher = Watcher(fleet, store, Config(), emit=events.append)
            try:
                for step in range(3):
                    result = await watcher.run_pass()
                    counts.append(len(store.recent_passes()) if result is not None else -1)
                    if step == 0:
                        between()  # type: ignore[operator]
                    if step == 1:
                        between.undo()  # type: ignore[attr-defined]
            finally:
                await watcher.close()
                store.close()

    asyncio.run(main())
    return events, counts


class Locker:
    """Holds the write lock from another connection, as a long pass elsewhere would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def __call__(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def undo(self) -> None:
        assert self.conn is not None
        self.conn.execute("ROLLBACK")
        self.conn.close()


def test_a_database_locked_too_long_keeps_the_pass_and_stores_it_with_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_sqlite, "BUSY_TIMEOUT_S", 0.2)
    events, counts = _watch_two_passes(tmp_path, Locker(tmp_path / "state.db"))
    troubles = [str(e) for e in events if isinstance(e, Trouble)]
    assert counts == [1, -1, 3], "pass 2 waited in memory and was stored with pass 3"
    assert any("locked" in t and "are kept and stored with the next pass" in t for t in troubles), troubles


class DiskFull:
    """Fills the tmpfs the state dir lives on, and frees it again."""

    def __init__(self, mount: Path) -> None:
        self.filler = mount / "filler"

    def __call__(self) -> None:
        with self.filler.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass

    def undo(self) -> None:
        self.filler.unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_during_watching_is_one_line_and_no_pass_is_lost(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        events, counts = _watch_two_passes(mount, DiskFull(mount))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    troubles = [str(e) for e in events if isinstance(e, Trouble)]
    assert counts == [1, -1, 3], (counts, troubles)
    assert any("full" in t and "free space on that filesystem" in t for t in troubles), troubles
