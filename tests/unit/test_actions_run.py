"""``run_auto_stop`` end to end against a scripted transport: outcomes, audit table and audit.log.

The transport is faked here (the real sshd + agent-runner path is ``tests/integration/test_auto_stop.py``):
these tests pin what the facade records and returns for remote answers that are hard to stage for real.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwatch.actions import MANUAL, AutoStopPolicy, Outcome, run_auto_stop, run_manual_stop
from fleetwatch.actions.audit import Audit
from fleetwatch.actions.stop import ActionOutcome
from fleetwatch.episodes import Episode, EpisodeKey
from fleetwatch.errors import Stage, TransportError
from fleetwatch.findings import Severity
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.probe.command import SENTINEL
from fleetwatch.probe.parse import parse_gather
from fleetwatch.settings import HostSettings
from fleetwatch.snapshot import Snapshot
from fleetwatch.store import Store
from fleetwatch.transport import CommandResult

RUNNING = {"mode": "pid_file", "active": True, "pid": 4242, "rate_limit": None}
GONE = {"mode": "none", "active": False, "pid": None, "rate_limit": None}
POLICY = AutoStopPolicy(on=frozenset({"oauth_fail"}))


@dataclass
class Remote:
    """One scripted host: its serve state and how it answers ``stop``."""

    service: dict[str, Any] = field(default_factory=lambda: dict(RUNNING))
    after_stop: dict[str, Any] = field(default_factory=lambda: dict(GONE))
    stop_rc: int = 0
    stop_stderr: str = "agent-runner: stopping service...\nagent-runner: stopped (0.7s)\n"
    stop_error: Exception | None = None
    delay: float = 0.0


class FakeTransport:
    """Answers the probe from ``Remote.service`` and applies ``stop``; records every stop line."""

    def __init__(self, remotes: Mapping[str, Remote]) -> None:
        self.remotes = remotes
        self.stops: list[tuple[str, list[str]]] = []

    async def run(self, target: SshTarget, command: str, timeout: float) -> CommandResult:
        remote = self.remotes[target.alias]
        argv = shlex.split(command)
        await asyncio.sleep(remote.delay)
        if "fleetwatch-stop" in argv:
            self.stops.append((target.alias, argv))
            if remote.stop_error is not None:
                raise remote.stop_error
            remote.service = dict(remote.after_stop)
            return CommandResult("", remote.stop_stderr, remote.stop_rc, 0.7)
        doc = {"schema_version": "2.6", "project": "proj", "service": remote.service}
        gather = {
            "gather": 1,
            "runner": "/home/pi/.local/bin/agent-runner",
            "python": "/usr/bin/python3",
            "peek": {"rc": 0, "stdout": json.dumps(doc), "stderr": ""},
        }
        return CommandResult(SENTINEL + json.dumps(gather) + "\n", "", 0, 0.2)


def hosts(*aliases: str) -> list[Host]:
    """Hosts with a remote ``config:``."""
    return [
        Host(a, SshTarget(a, f"10.0.0.{i}", "pi"), settings=HostSettings(config="~/proj/agent-runner.toml"))
        for i, a in enumerate(aliases, 1)
    ]


def snap(alias: str, remote: Remote) -> Snapshot:
    """This pass's snapshot of a host, as the pipeline parsed it."""
    doc = {"schema_version": "2.6", "project": "proj", "service": remote.service}
    gather = {"gather": 1, "runner": "/home/pi/.local/bin/agent-runner", "python": "/usr/bin/python3"}
    gather["peek"] = {"rc": 0, "stdout": json.dumps(doc), "stderr": ""}
    return parse_gather(alias, SENTINEL + json.dumps(gather), "", time.time())


def episode(alias: str, started: float, hits: int = 2) -> Episode:
    """An open oauth_fail episode seen on this pass (settled just after the answers arrived)."""
    message = f"auth failing on {alias}"
    return Episode(
        alias, "oauth_fail", Severity.CRITICAL, message, "", {}, started, time.time() + 5, hits=hits
    )


def run(
    state: Path,
    remotes: Mapping[str, Remote],
    eps: Mapping[EpisodeKey, Episode],
    *,
    policy: AutoStopPolicy = POLICY,
    dry_run: bool = False,
    now: float | None = None,
) -> tuple[list[ActionOutcome], list[str], FakeTransport]:
    """One separate run (own Store, own transport), as a cron ``check`` would do."""
    transport = FakeTransport(remotes)
    said: list[str] = []
    store = Store.open(state)
    try:
        outcomes = asyncio.run(
            run_auto_stop(
                transport,  # type: ignore[arg-type]
                store.connection,
                hosts(*remotes),
                {a: snap(a, r) for a, r in remotes.items()},
                eps,
                policy,
                dry_run=dry_run,
                now=time.time() if now is None else now,
                state_dir=state,
                report=said.append,
            )
        )
    finally:
        store.close()
    return outcomes, said, transport


def log_lines(state: Path) -> list[dict[str, Any]]:
    """audit.log as JSON objects."""
    return [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]


def test_a_verified_stop_is_stopped_and_audited_in_the_table_and_the_log(tmp_path: Path) -> None:
    remotes = {"pi1": Remote()}
    [out], said, transport = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)})
    assert out.outcome is Outcome.STOPPED and not out.dry_run, out
    assert out.argv == ("/home/pi/.local/bin/agent-runner", "--config", "~/proj/agent-runner.toml", "stop")
    assert "serve gone" in out.detail and "stopped (0.7s)" in out.detail
    assert said == []
    assert transport.stops == [
        (
            "pi1",
            [
                "sh",
                "-c",
                transport.stops[0][1][2],
                "fleetwatch-stop",
                out.argv[0],
                "~/proj/agent-runner.toml",
            ],
        )
    ]
    store = Store.open(tmp_path)
    [rec] = Audit(store.connection, tmp_path).since(0)
    assert (rec.id, rec.outcome, rec.host, rec.detector, rec.where) == (
        out.record_id,
        Outcome.STOPPED,
        "pi1",
        "oauth_fail",
        "pi@10.0.0.1:22",
    )
    assert rec.reason == "auth failing on pi1" and rec.episode_started_at == 100.0 and "@" in rec.who
    claimed, finished = log_lines(tmp_path)
    assert (claimed["event"], claimed["outcome"], finished["event"], finished["outcome"]) == (
        "claimed",
        "started",
        "finished",
        "stopped",
    )
    assert finished["why"] == {"detector": "oauth_fail", "message": "auth failing on pi1"}
    assert finished["argv"] == list(out.argv) and finished["where"] == "pi@10.0.0.1:22"


def test_a_stop_that_returned_while_serve_runs_is_draining_then_stopped_when_reverified(
    tmp_path: Path,
) -> None:
    remotes = {"pi1": Remote(after_stop=dict(RUNNING))}
    eps = {("pi1", "oauth_fail"): episode("pi1", 100.0)}
    [out], _, _ = run(tmp_path, remotes, eps)
    assert out.outcome is Outcome.DRAINING and "still running" in out.detail, out
    remotes["pi1"].service = dict(GONE)  # serve finished its round meanwhile
    [again], said, transport = run(tmp_path, remotes, eps)
    assert transport.stops == []  # never stopped twice for one episode
    assert "already stopped for this episode" in said[0] and "(draining)" in said[0]
    assert again.reverified and again.outcome is Outcome.STOPPED and again.record_id == out.record_id
    assert again.previous is Outcome.DRAINING
    assert [x["event"] for x in log_lines(tmp_path)] == ["claimed", "finished", "re-verified"]


def test_a_stop_still_draining_after_the_deadline_is_failed(tmp_path: Path) -> None:
    remotes = {"pi1": Remote(after_stop=dict(RUNNING))}
    eps = {("pi1", "oauth_fail"): episode("pi1", 100.0)}
    run(tmp_path, remotes, eps)
    [late], _, _ = run(tmp_path, remotes, eps, now=time.time() + 601)
    assert late.outcome is Outcome.FAILED and "did not stop within 10 min" in late.detail
    [], _, _ = run(tmp_path, remotes, eps)  # settled: no more re-verification


def test_a_non_zero_stop_is_failed_with_the_remote_words(tmp_path: Path) -> None:
    remotes = {
        "pi1": Remote(stop_rc=1, stop_stderr="Traceback ...\nValueError: invalid project name 'my proj'\n")
    }
    [out], _, _ = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)})
    assert out.outcome is Outcome.FAILED
    assert out.detail.endswith("exited 1: ValueError: invalid project name 'my proj'")


def test_an_unreachable_host_is_failed_and_nothing_ran(tmp_path: Path) -> None:
    remotes = {
        "pi1": Remote(stop_error=TransportError("pi1", Stage.CONNECT, "connection refused by 10.0.0.1:22"))
    }
    [out], _, _ = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)})
    assert out.outcome is Outcome.FAILED
    assert out.detail == "nothing was run: connect failed: connection refused by 10.0.0.1:22"


def test_an_unexpected_error_is_recorded_failed_not_left_started(tmp_path: Path) -> None:
    remotes = {"pi1": Remote(stop_error=RuntimeError("bug"))}
    [out], _, _ = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)})
    assert out.outcome is Outcome.FAILED and "RuntimeError: bug" in out.detail
    assert log_lines(tmp_path)[-1]["outcome"] == "failed"


def test_dry_run_runs_nothing_and_says_exactly_what_and_where(tmp_path: Path) -> None:
    remotes = {"pi1": Remote()}
    [out], _, transport = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)}, dry_run=True)
    assert transport.stops == [] and remotes["pi1"].service == RUNNING
    assert out.outcome is Outcome.DRY_RUN and out.dry_run
    command = "/home/pi/.local/bin/agent-runner --config '~/proj/agent-runner.toml' stop"
    assert out.detail.startswith(f"would run `{command}` on pi@10.0.0.1:22")
    [line] = log_lines(tmp_path)
    assert line["dry_run"] is True and line["outcome"] == "dry-run"
    [real], _, transport = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0)})
    assert real.outcome is Outcome.STOPPED and len(transport.stops) == 1  # a dry run never blocks a real one


def test_the_breaker_holds_across_separate_runs(tmp_path: Path) -> None:
    policy = AutoStopPolicy(on=frozenset({"oauth_fail"}), max_per_hour=1)
    remotes = {"pi1": Remote(), "pi2": Remote()}
    eps = {("pi1", "oauth_fail"): episode("pi1", 100.0), ("pi2", "oauth_fail"): episode("pi2", 200.0)}
    [first], said, _ = run(tmp_path, remotes, eps, policy=policy)
    assert first.host == "pi1" and first.outcome is Outcome.STOPPED
    assert [s.split(":")[0] for s in said] == ["pi2 oauth_fail"] and "fleet breaker" in said[0]
    outcomes, said, transport = run(tmp_path, remotes, eps, policy=policy)
    assert outcomes == [] and transport.stops == [] and remotes["pi2"].service == RUNNING
    assert any("pi2" in s and "fleet breaker" in s for s in said)


def test_not_enough_consecutive_polls_runs_nothing(tmp_path: Path) -> None:
    remotes = {"pi1": Remote()}
    outcomes, said, transport = run(tmp_path, remotes, {("pi1", "oauth_fail"): episode("pi1", 100.0, hits=1)})
    assert outcomes == [] and transport.stops == [] and "1 of 2 consecutive polls" in said[0]


def test_hosts_are_stopped_concurrently(tmp_path: Path) -> None:
    remotes = {f"pi{i}": Remote(delay=0.3) for i in range(1, 4)}
    eps = {(a, "oauth_fail"): episode(a, 100.0 + i) for i, a in enumerate(remotes)}
    started = time.monotonic()
    outcomes, _, _ = run(tmp_path, remotes, eps)
    assert [o.outcome for o in outcomes] == [Outcome.STOPPED] * 3
    assert time.monotonic() - started < 1.2  # 3 hosts x (stop + peek) x 0.3 s would be 1.8 s in series


def manual(state: Path, remotes: Mapping[str, Remote], alias: str, *, dry_run: bool = False) -> ActionOutcome:
    """A stop a person asked for (the TUI's ``s``), with its own Store as the TUI's backend has."""
    store = Store.open(state)
    try:
        return asyncio.run(
            run_manual_stop(
                FakeTransport(remotes),  # type: ignore[arg-type]
                store.connection,
                hosts(alias)[0],
                snap(alias, remotes[alias]),
                reason="asked for by ops in the TUI",
                dry_run=dry_run,
                state_dir=state,
            )
        )
    finally:
        store.close()


def test_a_manual_stop_is_claimed_run_verified_and_audited_like_an_auto_stop(tmp_path: Path) -> None:
    remotes = {"pi1": Remote()}
    out = manual(tmp_path, remotes, "pi1")
    assert out.outcome is Outcome.STOPPED and out.detector == MANUAL and out.kind == "stop"
    assert out.summary.startswith("pi1 stop: stopped — peek shows serve gone")
    store = Store.open(tmp_path)
    [rec] = Audit(store.connection, tmp_path).since(0)
    store.close()
    assert (rec.id, rec.detector, rec.outcome, rec.reason) == (
        out.record_id,
        MANUAL,
        Outcome.STOPPED,
        "asked for by ops in the TUI",
    )
    assert [(x["event"], x["outcome"]) for x in log_lines(tmp_path)] == [
        ("claimed", "started"),
        ("finished", "stopped"),
    ]


def test_a_manual_dry_run_runs_nothing_and_says_what_would_have_run(tmp_path: Path) -> None:
    remotes = {"pi1": Remote()}
    out = manual(tmp_path, remotes, "pi1", dry_run=True)
    assert out.outcome is Outcome.DRY_RUN and "would run" in out.detail and "nothing was run" in out.detail
    assert remotes["pi1"].service == RUNNING


def test_a_draining_manual_stop_is_reverified_by_a_later_pass_without_auto_stop(tmp_path: Path) -> None:
    remotes = {"pi1": Remote(after_stop=dict(RUNNING))}
    assert manual(tmp_path, remotes, "pi1").outcome is Outcome.DRAINING
    remotes["pi1"].service = dict(GONE)
    [again], said, transport = run(tmp_path, remotes, {}, policy=AutoStopPolicy())
    assert again.reverified and again.outcome is Outcome.STOPPED and transport.stops == [] and said == []


def test_manual_stops_do_not_count_for_the_fleet_breaker(tmp_path: Path) -> None:
    remotes = {a: Remote() for a in ("pi1", "pi2")}
    manual(tmp_path, remotes, "pi1")
    eps = {("pi2", "oauth_fail"): episode("pi2", 100.0)}
    [out], said, _ = run(
        tmp_path, remotes, eps, policy=AutoStopPolicy(frozenset({"oauth_fail"}), max_per_hour=1)
    )
    assert out.host == "pi2" and out.outcome is Outcome.STOPPED and said == []
