"""Flushing the outbox: oldest first, each marked sent at once, failures reported and retried."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.errors import NotifyError
from fleetwatch.findings import Severity
from fleetwatch.notify.model import Target
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import FlushResult, flush, send_test
from fleetwatch.store import Store

NOW = 1_800_000_000.0
UP = Target("json://127.0.0.1:9/up")
DOWN = Target("json://127.0.0.1:9/down?-token=downsecret")


class FakeService:
    """Stands in for Apprise (the boundary we do not own): records sends, fails for ``down`` URLs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.down: set[str] = set()
        self.delay = 0.0

    def __call__(self, url: str, title: str, body: str, severity: Severity, kind: str = "") -> None:
        time.sleep(self.delay)
        if url in self.down:
            raise NotifyError("sending to json://127.0.0.1:9/down failed: connection refused")
        self.sent.append((url, title, body))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def store_pass(
    store: Store, outbox: Outbox, hosts: list[str], at: float, detector: str = "disk_critical"
) -> None:
    ts = [
        Transition(
            Change.OPENED, Episode(h, detector, Severity.CRITICAL, "96%", "free space", {}, at, at), at
        )
        for h in hosts
    ]
    with store.transaction():
        store.add_transitions(ts)
        outbox.record(ts, {}, at)


@pytest.fixture
def outbox(tmp_path: Path) -> tuple[Store, Outbox]:
    store = Store.open(tmp_path)
    return store, Outbox(store.connection, [UP, DOWN])


def test_flush_sends_oldest_first_and_only_once(outbox: tuple[Store, Outbox]) -> None:
    store, box = outbox
    service, clock = FakeService(), Clock()
    store_pass(store, box, ["pi1"], NOW - 2)
    store_pass(store, box, ["pi2"], NOW - 1)
    result = asyncio.run(flush(box, clock, send=service, report=print))
    assert result == FlushResult(sent=4, failed=0)
    assert [(u, t) for u, t, _ in service.sent] == [
        (UP.url, "[CRIT] pi1 disk_critical"),
        (DOWN.url, "[CRIT] pi1 disk_critical"),
        (UP.url, "[CRIT] pi2 disk_critical"),
        (DOWN.url, "[CRIT] pi2 disk_critical"),
    ]
    assert asyncio.run(flush(box, clock, send=service, report=print)) == FlushResult(0, 0)


def test_a_down_target_is_reported_retried_with_backoff_and_does_not_hold_up_others(
    outbox: tuple[Store, Outbox],
) -> None:
    store, box = outbox
    service, clock, lines = FakeService(), Clock(), list[str]()
    service.down.add(DOWN.url)
    store_pass(store, box, ["pi1"], NOW)
    store_pass(store, box, ["pi2"], NOW)
    assert asyncio.run(flush(box, clock, send=service, report=lambda e: lines.append(str(e)))) == FlushResult(
        2, 1
    )
    [line] = lines  # one line per failing target, not one per message
    assert "json://127.0.0.1:9/down failed: connection refused" in line
    assert "'[CRIT] pi1 disk_critical' and 1 more stay queued, next try in 30 s (attempt 1)" in line
    assert "fleetwatch notify-test" in line and "downsecret" not in line

    clock.now += 29
    assert asyncio.run(flush(box, clock, send=service, report=lambda e: lines.append(str(e)))) == FlushResult(
        0, 0
    )
    clock.now += 1
    assert asyncio.run(flush(box, clock, send=service, report=lambda e: lines.append(str(e)))) == FlushResult(
        0, 1
    )
    assert "next try in 60 s (attempt 2)" in lines[-1]

    service.down.clear()
    clock.now += 60
    assert asyncio.run(flush(box, clock, send=service, report=lambda e: lines.append(str(e)))) == FlushResult(
        2, 0
    )
    to_down = [t for u, t, _ in service.sent if u == DOWN.url]
    assert to_down == ["[CRIT] pi1 disk_critical", "[CRIT] pi2 disk_critical"]  # in order, once each
    assert box.pending_summary(clock.now) == []


def test_a_notification_sent_late_says_when_it_was_queued(outbox: tuple[Store, Outbox]) -> None:
    store, box = outbox
    service, clock = FakeService(), Clock()
    store_pass(store, box, ["pi1"], NOW - 3 * 3600)
    asyncio.run(flush(box, clock, send=service, report=print))
    assert service.sent[0][2].endswith("(Queued 2027-01-15T05:00:00Z, sent 3.0 h late.)")


def test_a_send_that_hangs_is_a_failure_not_a_stuck_flush(outbox: tuple[Store, Outbox]) -> None:
    store, box = outbox
    service, clock, lines = FakeService(), Clock(), list[str]()
    service.delay = 0.5
    store_pass(store, box, ["pi1"], NOW)
    result = asyncio.run(flush(box, clock, send=service, report=lambda e: lines.append(str(e)), timeout=0.1))
    assert result.failed == 2 and result.sent == 0
    assert "got no answer within 0.1 s" in lines[0]


def test_flush_runs_beside_other_work_in_the_event_loop(outbox: tuple[Store, Outbox]) -> None:
    store, box = outbox
    service, clock = FakeService(), Clock()
    service.delay = 0.2
    store_pass(store, box, ["pi1"], NOW)
    ticks: list[float] = []

    async def main() -> FlushResult:
        task = asyncio.create_task(flush(box, clock, send=service, report=print))
        while not task.done():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)
        return await task

    assert asyncio.run(main()).sent == 2
    assert len(ticks) >= 10  # the loop kept running while Apprise (a thread) was busy


def test_notify_test_reports_each_target(outbox: tuple[Store, Outbox]) -> None:
    service = FakeService()
    service.down.add(DOWN.url)
    results = asyncio.run(send_test([UP, DOWN], NOW, send=service))
    assert [(r.target, r.error is None) for r in results] == [
        ("json://127.0.0.1:9/****", True),
        ("json://127.0.0.1:9/d...n", False),
    ]
    assert service.sent[0][1] == "[INFO] fleetwatch test message"


def test_a_cancelled_flush_hands_back_what_it_had_not_tried(outbox: tuple[Store, Outbox]) -> None:
    store, box = outbox
    service, clock = FakeService(), Clock()
    service.delay = 0.3
    store_pass(store, box, ["pi1", "pi2"], NOW, "a")
    store_pass(store, box, ["pi3"], NOW, "b")

    async def main() -> None:
        task = asyncio.create_task(flush(box, clock, send=service, report=print))
        await asyncio.sleep(0.1)  # the first send is in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The in-flight delivery stays leased (it may have gone out); the untried ones are free at once.
    again = box.claim_due(NOW)
    assert [(d.target_url, d.notification.detector) for d in again] == [(DOWN.url, "a"), (DOWN.url, "b")]


def test_a_busy_database_is_reported_not_raised(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    box = Outbox(store.connection, [UP])
    store_pass(store, box, ["pi1"], NOW)
    impatient = sqlite3.connect(tmp_path / "state.db", timeout=0.1, isolation_level=None)
    blocker = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # a long pass elsewhere holds the write lock
    lines: list[str] = []
    result = asyncio.run(
        flush(Outbox(impatient, [UP]), Clock(), send=FakeService(), report=lambda e: lines.append(str(e)))
    )
    assert result == FlushResult(0, 0) and "state database busy" in lines[0]
    blocker.execute("ROLLBACK")
    assert (
        asyncio.run(flush(box, Clock(), send=FakeService(), report=lambda e: lines.append(str(e)))).sent == 1
    )
