"""``fleetwatch check`` as cron runs it: real sshd fleet, real Apprise to local receivers, state kept."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Fleet, Result, run_cli
from tests.integration.receivers import HttpReceiver, SmtpReceiver, wait_for

pytestmark = pytest.mark.integration


def check_args(fleet: Fleet, state: Path, *hosts: str, extra: tuple[str, ...] = ()) -> list[str]:
    """``check`` over the test fleet with its own state dir (what cron would run)."""
    argv = [
        "check",
        "--ssh-config",
        str(fleet.ssh_config),
        "--inventory",
        str(fleet.inventory),
        "--state-dir",
        str(state),
        "--interval",
        "5m",
        *extra,
    ]
    for host in hosts:
        argv += ["--host", host]
    return argv


def spawn(argv: list[str], **env: str) -> subprocess.Popen[str]:
    """The real CLI as a child process we can kill or run alongside another."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "fleetwatch", *argv],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check(fleet: Fleet, state: Path, *hosts: str, extra: tuple[str, ...] = ()) -> Result:
    return run_cli(*check_args(fleet, state, *hosts, extra=extra))


def titles(receiver: HttpReceiver) -> list[str]:
    """Titles delivered, INFO ones (pi-authfail's serve finishing its --max-rounds) left out."""
    return [str(body["title"]) for body in receiver.accepted if not str(body["title"]).startswith("[INFO]")]


def test_check_prints_a_plugin_summary_with_perfdata_and_one_line_per_alert(
    fleet: Fleet, tmp_path: Path
) -> None:
    result = check(fleet, tmp_path / "state", "pi-healthy", "pi-authfail", "pi-norunner")
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "FLEETWATCH CRITICAL - 2 critical, 0 warning, 0 unreachable, 0 unknown, 1 ok of 3 hosts | "
        "'hosts'=3;;;0 'ok'=1;;;0;3 "
    ), result
    assert "'critical'=2;;0;0;3" in lines[0] and "'time'=" in lines[0] and "'notify_pending'=0" in lines[0]
    assert any(ln.startswith("[CRIT] pi-authfail oauth_fail — ") for ln in lines[1:]), result
    assert any(ln.startswith("[CRIT] pi-norunner runner_missing — ") for ln in lines[1:]), result
    assert result.code == 2


def test_check_json_is_one_document_for_machines(fleet: Fleet, tmp_path: Path) -> None:
    result = check(fleet, tmp_path / "state", "pi-healthy", extra=("--json",))
    doc = json.loads(result.stdout)
    assert doc["status"] == "OK" and doc["perfdata"]["hosts"] == 1 and doc["alerts"] == []
    assert result.code == 0


def test_cron_runs_page_once_per_alert_and_group_hosts_failing_alike(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    hosts = ("pi-authfail", "pi-healthy", "pi-norunner", "pi-unreachable", "pi-hung")
    notify = ("--notify", http.url(), "--timeout", "3")
    first = check(fleet, state, *hosts, extra=notify)
    assert first.code == 2, first
    got = titles(http)
    assert "[CRIT] pi-authfail oauth_fail" in got, got
    # Two hosts opening remote_blip in the same pass: one grouped message, not two.
    assert [t for t in got if "remote_blip" in t] == ["[WARN] remote_blip on 2 hosts"], got
    body = next(b for b in http.accepted if "remote_blip" in b["title"])["message"]
    assert "pi-unreachable" in body and "pi-hung" in body
    for _ in range(2):  # cron fires again: the same open alerts are not sent again
        again = check(fleet, state, *hosts, extra=notify)
        assert again.code == 2, again
    after = titles(http)
    assert all(after.count(t) == 1 for t in got), f"a repeated check re-sent an alert: {after}"
    # What did change is news: pi-unreachable's 2 s tolerance ran out (give-up), so its blip ended.
    assert "[CRIT] pi-unreachable remote_giveup" in after, after


def test_most_hosts_unreachable_is_one_message_about_the_watcher_not_one_per_host(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    result = check(
        fleet,
        tmp_path / "state",
        "pi-unreachable",
        "pi-hung",
        "pi-healthy",
        extra=("--notify", http.url(), "--timeout", "3"),
    )
    assert titles(http) == ["[WARN] this watcher seems offline"], titles(http)
    assert "remote_blip" not in result.stdout, result
    assert "[WARN] fleetwatch watcher_offline" in result.stdout, result
    assert "; this watcher seems offline |" in result.stdout.splitlines()[0], result
    assert " 2 unreachable, " in result.stdout.splitlines()[0], "counted as such, never as ok"
    assert result.code == 3, "blind: UNKNOWN, never OK or a mere WARNING"


def test_a_resolution_is_sent_with_how_long_it_lasted(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "hosts:\n  pi-healthy:\n    runner: ~/nowhere/agent-runner\n    config: ~/healthy/agent-runner.toml\n"
    )
    base = ["check", "--ssh-config", str(fleet.ssh_config), "--state-dir", str(state), "--notify", http.url()]
    broken = run_cli(*base, "--inventory", str(inventory))
    assert broken.code == 2 and titles(http) == ["[CRIT] pi-healthy runner_missing"], (broken, titles(http))
    fixed = run_cli(*base, "--inventory", str(fleet.inventory), "--host", "pi-healthy")
    assert fixed.code == 0, fixed
    resolved = http.accepted[-1]
    assert resolved["title"].startswith("[ OK ] pi-healthy runner_missing resolved after"), resolved
    assert resolved["type"] == "success"


def test_alerts_that_could_not_be_sent_go_out_once_when_the_receiver_is_back(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    http.stop()  # the pager endpoint is down during the first run
    down = check(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    assert down.code == 2, down
    assert "oauth_fail" in down.stdout, "polling and reporting go on while delivery fails"
    assert "failed" in down.stderr and "127.0.0.1" in down.stderr, down
    assert "'notify_failed'=1" in down.stdout.splitlines()[0], down
    http.start()
    # The retry is backed off (30 s); a cron run after that delivers the backlog exactly once.
    with sqlite3.connect(state / "state.db") as conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = 0")
    back = check(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    assert back.code == 2, back
    assert titles(http) == ["[CRIT] pi-authfail oauth_fail"], titles(http)
    check(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    assert titles(http) == ["[CRIT] pi-authfail oauth_fail"], titles(http)


def test_check_killed_between_storing_and_sending_delivers_exactly_once_next_run(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    marker = tmp_path / "stored"
    argv = check_args(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    proc = spawn(argv, FLEETWATCH_TEST_PAUSE_AT="after-store", FLEETWATCH_TEST_PAUSE_FILE=str(marker))
    try:
        assert wait_for(marker.exists, timeout=60), "check never reached the hook after storing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    assert http.accepted == [], "nothing may be sent before the kill"
    rerun = check(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    assert rerun.code == 2, rerun
    assert titles(http) == ["[CRIT] pi-authfail oauth_fail"], titles(http)
    check(fleet, state, "pi-authfail", extra=("--notify", http.url()))
    assert titles(http) == ["[CRIT] pi-authfail oauth_fail"], titles(http)


def test_two_overlapping_checks_notify_once_and_leave_state_whole(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    argv = check_args(fleet, state, "pi-authfail", "pi-norunner", extra=("--notify", http.url()))
    procs = [spawn(argv) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [2, 2], outs
    assert sorted(titles(http)) == ["[CRIT] pi-authfail oauth_fail", "[CRIT] pi-norunner runner_missing"], (
        titles(http)
    )
    third = check(fleet, state, "pi-authfail", "pi-norunner", extra=("--json",))
    doc = json.loads(third.stdout)
    assert sorted((a["host"], a["detector"]) for a in doc["alerts"] if a["severity"] != "info") == [
        ("pi-authfail", "oauth_fail"),
        ("pi-norunner", "runner_missing"),
    ]


def test_silence_and_ack_mute_notifications_but_stay_visible(
    fleet: Fleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    silence = run_cli(
        "silence",
        "pi-norunner",
        "--for",
        "2h",
        "--reason",
        "reflashing",
        "--state-dir",
        str(state),
        "--ssh-config",
        str(fleet.ssh_config),
    )
    assert silence.code == 0 and silence.stdout.startswith("silence #1: pi-norunner"), silence
    first = check(fleet, state, "pi-norunner", "pi-authfail", extra=("--notify", http.url()))
    assert titles(http) == ["[CRIT] pi-authfail oauth_fail"], titles(http)
    assert "[CRIT] pi-norunner runner_missing" in first.stdout and "[SILENCED" in first.stdout, first
    ack = run_cli("ack", "pi-authfail:oauth_fail", "--reason", "token renewal", "--state-dir", str(state))
    assert ack.code == 0, ack
    second = check(fleet, state, "pi-norunner", "pi-authfail", extra=("--notify", http.url()))
    assert "[ACK" in second.stdout and "token renewal" in second.stdout, second
    assert second.code == 0, "muted alerts do not raise the status"
    assert "silenced pi-norunner" in second.stdout and "acked pi-authfail:oauth_fail" in second.stdout


def test_heartbeat_signals_start_then_success_or_fail_for_each_pass(fleet: Fleet, tmp_path: Path) -> None:
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = tmp_path / "config.yaml"
        config.write_text(f"heartbeat_url: http://127.0.0.1:{server.server_address[1]}/ping/abc123\n")
        for _ in range(2):
            result = check(fleet, tmp_path / "state", "pi-healthy", extra=("--config", str(config)))
            assert result.code == 0, result
        assert hits == ["/ping/abc123/start", "/ping/abc123"] * 2  # healthchecks-style: start, then done
        hits.clear()
        blind = check(fleet, tmp_path / "blind", "pi-unreachable", extra=("--config", str(config)))
        assert blind.code == 3, blind
        assert hits == ["/ping/abc123/start", "/ping/abc123/fail"]  # a pass that saw nothing is a failure
    finally:
        server.shutdown()


def test_mail_target_gets_the_alert_over_smtp(fleet: Fleet, tmp_path: Path) -> None:
    smtp = SmtpReceiver().start()
    try:
        result = check(fleet, tmp_path / "state", "pi-norunner", extra=("--notify", smtp.url()))
        assert result.code == 2, result
        assert wait_for(lambda: len(smtp.received) == 1, timeout=10), smtp.received
        mail = smtp.received[0]
        assert mail.subject == "[CRIT] pi-norunner runner_missing"
        assert "agent-runner not found" in mail.text
        assert smtp.credentials[1] not in result.stderr + result.stdout
    finally:
        smtp.stop()


def test_notify_test_reports_each_target_and_never_prints_secrets(http: HttpReceiver) -> None:
    secret = "?token=hunter2-secret"
    down = HttpReceiver().start()
    down.stop()
    result = run_cli(
        "notify-test", "--notify", http.url(query=secret[1:]), "--notify", down.url(query=secret[1:])
    )
    assert result.code == 2, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok ") and lines[1].startswith("FAILED "), result
    assert "hunter2" not in result.stdout + result.stderr
    assert [b["title"] for b in http.accepted] == ["[INFO] fleetwatch test message"]
