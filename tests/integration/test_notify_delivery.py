"""Notifications through real Apprise to real receivers on loopback: HTTP (json://) and SMTP (mailto://).

No mocks: transitions are settled by the real pipeline into the state database, the outbox is
flushed by the real sender, and the receivers record what a person would get.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.notify.model import Target
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import FlushResult, flush, send_test
from fleetwatch.pipeline import settle
from fleetwatch.store import Store
from tests.integration.receivers import HttpReceiver, SmtpReceiver, free_port, wait_for

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
REPO = Path(__file__).resolve().parents[2]


def fleet(n: int, group: str = "lab") -> list[Host]:
    return [Host(f"pi{i}", SshTarget(f"pi{i}", "127.0.0.1", "pi"), groups=(group,)) for i in range(1, n + 1)]


def auth_failing(store: Store, outbox: Outbox, hosts: list[Host], now: float) -> None:
    """One pass in which every host refused our key (the pipeline's own settle, with the outbox as sink)."""
    failure = PollFailure(Stage.AUTH, "permission denied (publickey)", "is our key in authorized_keys?")
    settle(store, hosts, {h.alias: failure for h in hosts}, now, None, outbox)


def run_flush(outbox: Outbox, now: float, lines: list[str] | None = None) -> FlushResult:
    return asyncio.run(
        flush(outbox, lambda: now, report=lambda e: (lines if lines is not None else []).append(str(e)))
    )


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state")


def test_json_target_receives_the_alert_as_composed(http: HttpReceiver, store: Store) -> None:
    outbox = Outbox(store.connection, [Target(http.url("/alerts", query="-token=s3cret"))])
    auth_failing(store, outbox, fleet(1), NOW)
    assert run_flush(outbox, NOW + 1) == FlushResult(sent=1, failed=0)
    [posted] = http.received
    assert posted.path == "/alerts?token=s3cret"
    assert posted.body["title"] == "[WARN] pi1 remote_blip"
    assert posted.body["type"] == "warning"
    assert posted.body["message"].splitlines() == [
        "auth failed: permission denied (publickey)",
        "What to do: is our key in authorized_keys?",
        "Host: pi1 (groups: lab) · detector: remote_blip · severity: warning",
        "Started: 2027-01-15T08:00:00Z",
    ]


def test_mailto_target_receives_subject_and_body_over_plain_smtp(smtp: SmtpReceiver, store: Store) -> None:
    outbox = Outbox(store.connection, [Target(smtp.url())])
    auth_failing(store, outbox, fleet(1), NOW)
    assert run_flush(outbox, NOW + 1) == FlushResult(sent=1, failed=0)
    assert wait_for(lambda: len(smtp.received) == 1)
    [mail] = smtp.received
    assert mail.login == smtp.credentials  # Apprise authenticated with the URL's user and password
    assert (mail.mail_from, mail.rcpt_to) == ("fw@example.com", ("ops@example.com",))
    assert mail.subject == "[WARN] pi1 remote_blip"
    assert "auth failed: permission denied (publickey)" in mail.text
    assert "What to do: is our key in authorized_keys?" in mail.text


def test_forty_hosts_failing_together_arrive_as_one_message(http: HttpReceiver, store: Store) -> None:
    outbox = Outbox(store.connection, [Target(http.url())])
    auth_failing(store, outbox, fleet(40), NOW)
    assert run_flush(outbox, NOW + 1).sent == 1
    [posted] = http.received
    assert posted.body["title"] == "[WARN] remote_blip on 40 hosts"
    assert all(f"- pi{i}: auth failed" in posted.body["message"] for i in range(1, 41))


def test_receiver_down_then_back_gets_the_backlog_once_oldest_first(store: Store) -> None:
    port = free_port()
    receiver = HttpReceiver(port)  # not listening yet: the service is down
    outbox = Outbox(store.connection, [Target(receiver.url(query="-token=s3cret-token"))])
    lines: list[str] = []
    auth_failing(store, outbox, fleet(1), NOW)
    assert run_flush(outbox, NOW, lines) == FlushResult(sent=0, failed=1)
    assert len(lines) == 1 and f"json://127.0.0.1:{port}/h...k failed" in lines[0]
    assert "Connection refused" in lines[0] and "next try in 30 s" in lines[0]
    assert "s3cret-token" not in lines[0]

    auth_failing(store, outbox, fleet(2)[1:], NOW + 10)  # pi2 fails later: a newer alert queues behind
    assert run_flush(outbox, NOW + 10, lines) == FlushResult(0, 0)  # still backing off
    receiver.start()
    try:
        assert run_flush(outbox, NOW + 30, lines) == FlushResult(sent=2, failed=0)
        assert run_flush(outbox, NOW + 4000, lines) == FlushResult(0, 0)
        assert [b["title"] for b in receiver.accepted] == ["[WARN] pi1 remote_blip", "[WARN] pi2 remote_blip"]
    finally:
        receiver.stop()
    assert outbox.pending_summary(NOW + 4000) == []


def test_receiver_answering_500_is_retried_until_it_accepts_once(http: HttpReceiver, store: Store) -> None:
    outbox = Outbox(store.connection, [Target(http.url())])
    auth_failing(store, outbox, fleet(1), NOW)
    http.status = 500
    lines: list[str] = []
    assert run_flush(outbox, NOW, lines).failed == 1
    assert "500" in lines[0]
    [backlog] = outbox.pending_summary(NOW + 5)
    assert backlog.failed == 1 and backlog.last_error is not None and "500" in backlog.last_error
    http.status = 200
    assert run_flush(outbox, NOW + 30, lines).sent == 1
    assert [p.status for p in http.received] == [500, 200] and len(http.accepted) == 1


def test_two_processes_flushing_at_once_deliver_each_message_once(
    http: HttpReceiver, store: Store, tmp_path: Path
) -> None:
    target = Target(http.url())
    outbox = Outbox(store.connection, [target])
    for i in range(12):
        auth_failing(store, outbox, fleet(i + 1)[i:], NOW + i)  # pi(i+1) alone, one pass each

    def sender() -> None:
        other = Store.open(tmp_path / "state")  # its own connection, as another process would have
        run_flush(Outbox(other.connection, [target]), NOW + 60)
        other.close()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    titles = [b["title"] for b in http.accepted]
    assert titles == [f"[WARN] pi{i} remote_blip" for i in range(1, 13)]


KILLED_SENDER = """
import asyncio, sys
from pathlib import Path
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.notify.model import Target
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import flush
from fleetwatch.pipeline import settle
from fleetwatch.store import Store

store = Store.open(Path(sys.argv[1]))
outbox = Outbox(store.connection, [Target(sys.argv[2])])
host = Host("pi1", SshTarget("pi1", "127.0.0.1", "pi"))
now = float(sys.argv[3])
settle(store, [host], {"pi1": PollFailure(Stage.AUTH, "permission denied", "")}, now, None, outbox)
asyncio.run(flush(outbox, lambda: now))  # pauses here under FLEETWATCH_TEST_PAUSE_AT=after-store
"""


def test_killed_between_store_and_send_the_alert_is_neither_lost_nor_doubled(
    http: HttpReceiver, store: Store, tmp_path: Path
) -> None:
    pause = tmp_path / "paused"
    env = {**os.environ, "FLEETWATCH_TEST_PAUSE_AT": "after-store", "FLEETWATCH_TEST_PAUSE_FILE": str(pause)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SENDER, str(tmp_path / "state"), http.url(), repr(NOW)],
        env=env,
        cwd=REPO,
    )
    try:
        assert wait_for(pause.exists, 30), "the sender never reached the pause point"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert http.received == []  # decided and stored, not sent
    outbox = Outbox(store.connection, [Target(http.url())])
    assert run_flush(outbox, NOW + 5) == FlushResult(sent=1, failed=0)
    assert run_flush(outbox, NOW + 500) == FlushResult(0, 0)
    assert [b["title"] for b in http.accepted] == ["[WARN] pi1 remote_blip"]


def test_killed_while_sending_the_claim_lapses_and_another_run_sends_it(
    http: HttpReceiver, store: Store
) -> None:
    outbox = Outbox(store.connection, [Target(http.url())])
    auth_failing(store, outbox, fleet(1), NOW)
    [claimed] = outbox.claim_due(NOW)  # a sender claimed it, then died before sending
    assert run_flush(outbox, NOW + 60) == FlushResult(0, 0)  # leased: maybe still being sent
    assert run_flush(outbox, NOW + 121) == FlushResult(sent=1, failed=0)
    assert len(http.accepted) == 1 and claimed.notification.title == http.accepted[0]["title"]


def test_notify_test_reports_each_target(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    down = f"json://127.0.0.1:{free_port()}/hook?-token=very-secret"
    results = asyncio.run(send_test([Target(http.url()), Target(smtp.url()), Target(down)], NOW))
    assert [r.error is None for r in results] == [True, True, False]
    shown = down.split("?")[0].replace("/hook", "/h...k")  # a webhook's path is masked as a token is
    assert results[2].target == shown and "very-secret" not in str(results[2])
    assert "Connection refused" in (results[2].error or "")
    assert http.accepted[0]["title"] == "[INFO] fleetwatch test message"
    assert wait_for(lambda: len(smtp.received) == 1)
