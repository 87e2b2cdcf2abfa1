"""The outbox: stored with the pass, claimed exclusively, retried with backoff, oldest first."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetwatch import silences
from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.findings import Severity
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.model import Target
from fleetwatch.notify.outbox import LEASE_S, Outbox, backoff
from fleetwatch.store import Store

NOW = 1_800_000_000.0
PAGER = Target("json://127.0.0.1:9/pager?-token=pagersecret", frozenset({Severity.CRITICAL}))
SLACK = Target("json://127.0.0.1:9/slack")
LAB = Target("json://127.0.0.1:9/lab", groups=frozenset({"lab"}))
HOSTS = {
    a: Host(a, SshTarget(a, a, "pi"), groups=("lab",) if a == "pi1" else ()) for a in ("pi1", "pi2", "pi3")
}


def tr(
    change: Change,
    alias: str,
    detector: str = "disk_critical",
    started: float = NOW,
    severity: Severity = Severity.CRITICAL,
    at: float = NOW,
) -> Transition:
    return Transition(change, Episode(alias, detector, severity, "96%", "free space", {}, started, at), at)


def settle(store: Store, outbox: Outbox, ts: Sequence[Transition], now: float) -> None:
    """What pipeline.settle does with its sink: transitions and the outbox in one transaction."""
    with store.transaction():
        store.add_transitions(ts)
        outbox.record(ts, HOSTS, now)


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.connection.execute(sql)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path)


def test_one_delivery_per_target_that_wants_it(store: Store) -> None:
    outbox = Outbox(store.connection, [PAGER, SLACK, LAB])
    settle(
        store,
        outbox,
        [tr(Change.OPENED, "pi1"), tr(Change.OPENED, "pi2", "disk_warning", severity=Severity.WARNING)],
        NOW,
    )
    got = rows(
        store,
        "SELECT n.title, d.target_url FROM deliveries d JOIN notifications n"
        " ON n.id = d.notification_id ORDER BY d.id",
    )
    assert got == [
        ("[CRIT] pi1 disk_critical", PAGER.url),
        ("[CRIT] pi1 disk_critical", SLACK.url),
        ("[CRIT] pi1 disk_critical", LAB.url),  # pi1 is in lab
        ("[WARN] pi2 disk_warning", SLACK.url),  # not critical, not lab
    ]


def test_nothing_is_stored_when_the_pass_rolls_back(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    with pytest.raises(RuntimeError), store.transaction():
        outbox.record([tr(Change.OPENED, "pi1")], HOSTS, NOW)
        raise RuntimeError("the pass failed after deciding")
    assert rows(store, "SELECT count(*) FROM notifications") == [(0,)]


def test_record_refuses_to_run_outside_the_pass_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError, match="inside the pass's write transaction"):
        Outbox(store.connection, [SLACK]).record([tr(Change.OPENED, "pi1")], HOSTS, NOW)


def test_silenced_transitions_are_stored_with_the_reason_but_not_delivered(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    silences.add_silence(store.connection, "pi1", None, NOW + 3600, "rewiring", "me", NOW)
    settle(store, outbox, [tr(Change.OPENED, "pi1"), tr(Change.OPENED, "pi2")], NOW)
    got = rows(
        store,
        "SELECT hosts, suppressed, (SELECT count(*) FROM deliveries d"
        " WHERE d.notification_id = n.id) FROM notifications n ORDER BY id",
    )
    assert got == [('["pi2"]', None, 1), ('["pi1"]', "silenced (pi1, id 1): rewiring", 0)]


def test_ack_mutes_its_episode_to_the_end_and_the_next_episode_is_reported(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    settle(store, outbox, [tr(Change.OPENED, "pi1", started=NOW)], NOW)
    ep = Episode("pi1", "disk_critical", Severity.CRITICAL, "96%", "", {}, NOW, NOW)
    with store.transaction():
        store.save_episodes({}, {ep.key: ep})
    silences.add_ack(store.connection, "pi1", "disk_critical", "on it", "me", NOW + 10)
    settle(store, outbox, [tr(Change.REMINDED, "pi1", started=NOW, at=NOW + 4 * 3600)], NOW + 4 * 3600)
    settle(store, outbox, [tr(Change.RESOLVED, "pi1", started=NOW, at=NOW + 5 * 3600)], NOW + 5 * 3600)
    settle(store, outbox, [tr(Change.OPENED, "pi1", started=NOW + 6 * 3600)], NOW + 6 * 3600)
    got = rows(
        store,
        "SELECT kind, suppressed IS NOT NULL, (SELECT count(*) FROM deliveries d"
        " WHERE d.notification_id = n.id) FROM notifications n ORDER BY id",
    )
    assert got == [("opened", 0, 1), ("reminded", 1, 0), ("resolved", 1, 0), ("opened", 0, 1)]


def test_resolution_of_an_episode_nobody_was_told_about_is_not_sent(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    silences.add_silence(store.connection, "pi1", None, NOW + 60, "", "me", NOW)
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    settle(store, outbox, [tr(Change.RESOLVED, "pi1", at=NOW + 3600)], NOW + 3600)  # silence is over
    assert rows(store, "SELECT kind, suppressed FROM notifications ORDER BY id")[1] == (
        "resolved",
        "nothing about this episode was sent before",
    )
    assert rows(store, "SELECT count(*) FROM deliveries") == [(0,)]


def test_backoff_doubles_from_30_s_and_stops_growing_at_an_hour() -> None:
    assert [backoff(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(50) == 3600


def test_claims_are_exclusive_between_two_connections(tmp_path: Path) -> None:
    a, b = Store.open(tmp_path), Store.open(tmp_path)
    box_a, box_b = Outbox(a.connection, [SLACK, PAGER]), Outbox(b.connection, [SLACK, PAGER])
    settle(a, box_a, [tr(Change.OPENED, f"pi{i}", f"det{i}") for i in range(1, 4)], NOW)
    first = box_a.claim_due(NOW, limit=2)
    assert [(d.target_url, d.notification.hosts) for d in first] == [
        (SLACK.url, ("pi1",)),
        (PAGER.url, ("pi1",)),
    ]
    # What A holds is not B's to send; and each target's later messages wait for the earlier ones.
    assert box_b.claim_due(NOW, limit=100) == []
    assert all(box_a.mark_sent(d, NOW) for d in first)
    second = box_b.claim_due(NOW, limit=100)
    assert [d.notification.hosts for d in second] == [("pi2",), ("pi2",), ("pi3",), ("pi3",)]
    assert box_a.claim_due(NOW, 100) == [] and box_b.claim_due(NOW, 100) == []
    assert not a.connection.in_transaction and not b.connection.in_transaction


def test_claims_come_oldest_first(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    settle(store, outbox, [tr(Change.OPENED, "pi2", at=NOW + 60)], NOW + 60)
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    assert [d.notification.hosts for d in outbox.claim_due(NOW + 60)] == [("pi1",), ("pi2",)]


def test_an_abandoned_claim_is_taken_over_after_the_lease(store: Store, tmp_path: Path) -> None:
    outbox = Outbox(store.connection, [SLACK])
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    [crashed] = outbox.claim_due(NOW)  # ...and the process died before sending
    other = Outbox(Store.open(tmp_path).connection, [SLACK])
    assert other.claim_due(NOW + LEASE_S - 1) == []  # still leased: maybe being sent right now
    [again] = other.claim_due(NOW + LEASE_S)
    assert again.id == crashed.id and again.claim != crashed.claim
    assert other.mark_sent(again, NOW + LEASE_S + 1)
    assert not outbox.mark_sent(crashed, NOW + LEASE_S + 2)  # the stale claim can no longer mark it
    assert other.claim_due(NOW + 10 * LEASE_S) == []


def test_a_failure_backs_off_the_whole_target_and_keeps_its_order(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK, PAGER])
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    settle(store, outbox, [tr(Change.OPENED, "pi2", at=NOW + 1)], NOW + 1)
    batch = outbox.claim_due(NOW + 2)
    assert [(d.target_url, d.notification.hosts) for d in batch] == [
        (SLACK.url, ("pi1",)),
        (PAGER.url, ("pi1",)),
        (SLACK.url, ("pi2",)),
        (PAGER.url, ("pi2",)),
    ]
    retry_at = outbox.mark_failed(batch[0], "slack down", NOW + 2)
    assert retry_at == NOW + 32
    assert outbox.mark_sent(batch[1], NOW + 2) and outbox.mark_sent(batch[3], NOW + 2)
    assert not outbox.mark_sent(batch[2], NOW + 2)  # released with its target's queue
    # A newer notification to the backed-off target waits behind the older one.
    settle(store, outbox, [tr(Change.OPENED, "pi3", at=NOW + 10)], NOW + 10)
    assert [d.target_url for d in outbox.claim_due(NOW + 10)] == [PAGER.url]
    later = outbox.claim_due(NOW + 32)
    assert [d.notification.hosts for d in later] == [("pi1",), ("pi2",), ("pi3",)]
    assert later[0].attempts == 1
    second = outbox.mark_failed(later[0], "slack still down", NOW + 33)
    assert second == NOW + 33 + 60


def test_pending_summary_counts_per_redacted_target(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK, PAGER])
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    [to_slack, to_pager] = outbox.claim_due(NOW)
    outbox.mark_failed(to_pager, "sending to json://127.0.0.1:9/pager failed: refused", NOW + 5)
    outbox.mark_sent(to_slack, NOW + 5)
    [b] = outbox.pending_summary(NOW + 65)
    assert (b.target, b.pending, b.failed, b.oldest_age_s, b.next_attempt_in_s, b.attempts) == (
        "json://127.0.0.1:9/p...r",
        0,
        1,
        65,
        0,
        1,
    )
    assert b.configured and "pagersecret" not in repr(b)
    assert b.describe() == (
        "1 notification queued for json://127.0.0.1:9/p...r (oldest 65 s ago, 1 failed attempt, next try in"
        " 0 s): sending to json://127.0.0.1:9/pager failed: refused"
    )


def test_recent_says_per_target_sent_retrying_or_suppressed_newest_first(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK, PAGER])
    silences.add_silence(store.connection, "pi2", None, NOW + 3600, "rewiring", "me", NOW)
    settle(store, outbox, [tr(Change.OPENED, "pi1")], NOW)
    settle(store, outbox, [tr(Change.OPENED, "pi2", at=NOW + 1)], NOW + 1)
    [to_slack, to_pager] = outbox.claim_due(NOW + 2)
    outbox.mark_sent(to_slack, NOW + 3)
    error = "sending to json://127.0.0.1:9/pager failed: refused"
    outbox.mark_failed(to_pager, error, NOW + 3)
    got = [(d.title, d.target, d.state, d.attempts, d.note) for d in outbox.recent()]
    assert got == [
        ("[CRIT] pi2 disk_critical", None, "suppressed", 0, "silenced (pi2, id 1): rewiring"),
        ("[CRIT] pi1 disk_critical", "json://127.0.0.1:9/s...k", "sent", 0, None),
        ("[CRIT] pi1 disk_critical", "json://127.0.0.1:9/p...r", "failed", 1, error),
    ]
    assert "pagersecret" not in repr(outbox.recent())
    assert outbox.recent()[2].next_attempt_at == NOW + 33
    assert len(outbox.recent(limit=1)) == 1


def test_backlog_of_a_removed_target_is_reported_not_sent_until_discarded(store: Store) -> None:
    settle(store, Outbox(store.connection, [SLACK, PAGER]), [tr(Change.OPENED, "pi1")], NOW)
    outbox = Outbox(store.connection, [SLACK])  # the pager was removed from the config
    assert [d.target_url for d in outbox.claim_due(NOW)] == [SLACK.url]
    assert [(b.target, b.configured) for b in outbox.pending_summary(NOW)] == [
        ("json://127.0.0.1:9/s...k", True),
        ("json://127.0.0.1:9/p...r", False),
    ]
    assert outbox.discard("json://127.0.0.1:9/p...r") == {"json://127.0.0.1:9/p...r": 1}
    assert [b.target for b in outbox.pending_summary(NOW)] == ["json://127.0.0.1:9/s...k"]
    assert outbox.discard("json://nowhere/else") == {}


def test_enqueue_one_queues_an_ad_hoc_notification_once(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK, PAGER])
    n = compose_text(
        "action", Severity.WARNING, "stopped pi3", "serve stopped", ["pi3"], NOW, key="stop/pi3/1"
    )
    assert outbox.enqueue_one(n, None, NOW)
    assert not outbox.enqueue_one(n, None, NOW)  # same key: stored once
    assert [d.target_url for d in outbox.claim_due(NOW)] == [SLACK.url]  # the pager wants criticals only
    assert not store.connection.in_transaction


def test_prune_forgets_old_delivered_notifications_only(store: Store) -> None:
    outbox = Outbox(store.connection, [SLACK])
    settle(store, outbox, [tr(Change.OPENED, "pi1"), tr(Change.OPENED, "pi2", "other")], NOW)
    first, _second = outbox.claim_due(NOW)
    outbox.mark_sent(first, NOW)
    assert outbox.prune(NOW + 1) == 1
    assert rows(store, "SELECT hosts FROM notifications") == [('["pi2"]',)]


def test_outbox_works_on_a_connection_without_a_row_factory(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    outbox = Outbox(conn, [SLACK])
    assert outbox.enqueue_one(compose_text("test", Severity.INFO, "t", "b", [], NOW))
    [d] = outbox.claim_due(NOW)
    assert d.notification.title == "[INFO] t"
