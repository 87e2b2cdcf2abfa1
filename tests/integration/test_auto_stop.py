"""Auto-stop against the real sshd and real detached ``agent-runner serve`` supervisors.

Each test starts its own projects (``stop_fixtures.serving``); the episodes that ask for the stop are
built here, since what is under test is the stop, its verification, the guards and the audit, not the
detectors.  Snapshots come from the real probe over SSH, as in a pass.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleetwatch.actions import AutoStopPolicy, Outcome, run_auto_stop
from fleetwatch.actions.audit import Audit
from fleetwatch.actions.stop import ActionOutcome
from fleetwatch.episodes import Episode, EpisodeKey
from fleetwatch.findings import PollFailure, Severity
from fleetwatch.inventory.model import Host
from fleetwatch.probe.poll import poll_many
from fleetwatch.snapshot import Snapshot
from fleetwatch.store import Store
from fleetwatch.transport import Transport
from tests.integration.conftest import USER
from tests.integration.projects import wait_until
from tests.integration.stop_fixtures import Serve, Served, fleet_target_fixture, serving_fixture  # noqa: F401

pytestmark = pytest.mark.integration

ON = frozenset({"oauth_fail"})
TIMEOUT = 20.0


def auth_episode(host: Host, started: float) -> Episode:
    """An oauth_fail episode open on two consecutive polls, the latest one just now."""
    return Episode(
        host=host.alias,
        detector="oauth_fail",
        severity=Severity.CRITICAL,
        message=f"2/10 rounds failed auth on {host.alias}: API Error: 401",
        hint="",
        context={},
        started_at=started,
        last_seen_at=time.time(),
        hits=2,
    )


def service(result: Snapshot | PollFailure) -> Mapping[str, Any]:
    """The peek's service block of a real probe answer."""
    assert isinstance(result, Snapshot) and result.peek is not None, result
    return result.peek.service


class Check:
    """One ``check``-like run: its own transport and Store on a shared state dir, like separate cron runs."""

    def __init__(self, state: Path, policy: AutoStopPolicy, *, dry_run: bool = False) -> None:
        self.state, self.policy, self.dry_run = state, policy, dry_run
        self.said: list[str] = []
        self.before: dict[str, Snapshot | PollFailure] = {}
        self.after: dict[str, Snapshot | PollFailure] = {}

    async def _run(
        self, hosts: Sequence[Host], episodes: Mapping[EpisodeKey, Episode]
    ) -> list[ActionOutcome]:
        transport = Transport()
        store = Store.open(self.state)
        try:
            self.before = await poll_many(transport, hosts, timeout=TIMEOUT, concurrency=8)
            outcomes = await run_auto_stop(
                transport,
                store.connection,
                hosts,
                self.before,
                # settled after the answers, as the pipeline does
                {k: replace(e, last_seen_at=time.time()) for k, e in episodes.items()},
                self.policy,
                dry_run=self.dry_run,
                now=time.time(),
                state_dir=self.state,
                report=self.said.append,
            )
            self.after = await poll_many(transport, hosts, timeout=TIMEOUT, concurrency=8)
            return outcomes
        finally:
            store.close()
            await transport.close()

    def __call__(self, hosts: Sequence[Host], episodes: Mapping[EpisodeKey, Episode]) -> list[ActionOutcome]:
        return asyncio.run(self._run(hosts, episodes))


def audit_rows(state: Path) -> list[Any]:
    """Every stored action."""
    conn = sqlite3.connect(state / "state.db")
    try:
        return Audit(conn, state).since(0)
    finally:
        conn.close()


def audit_log(state: Path) -> list[dict[str, Any]]:
    """audit.log as JSON objects."""
    return [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]


def test_auto_stop_really_stops_serve_and_proves_it_with_a_fresh_peek(serving: Serve, tmp_path: Path) -> None:
    s: Served = serving("stop")
    check = Check(tmp_path, AutoStopPolicy(on=ON))
    started = time.monotonic()
    [out] = check([s.host], {(s.host.alias, "oauth_fail"): auth_episode(s.host, time.time() - 120)})
    print(f"\nstop + verify: {time.monotonic() - started:.2f} s; {out.summary}")
    assert service(check.before[s.host.alias])["active"] is True
    assert out.outcome is Outcome.STOPPED, out
    assert out.argv[1:] == ("--config", s.project.remote_config, "stop")
    assert out.argv[0].endswith("/.local/bin/agent-runner")  # the path the probe found
    assert s.proc.wait(timeout=10) == 0  # serve itself exited, cleanly (a graceful stop, not a kill)
    assert not (s.project.log_dir / "serve.pid").exists()
    assert service(check.after[s.host.alias])["mode"] == "none"
    [row] = audit_rows(tmp_path)
    assert (row.outcome, row.dry_run, row.where) == (
        Outcome.STOPPED,
        False,
        f"{USER}@127.0.0.1:{s.host.target.port}",
    )
    assert [e["event"] for e in audit_log(tmp_path)] == ["claimed", "finished"]


def test_dry_run_says_what_would_run_where_and_leaves_serve_running(serving: Serve, tmp_path: Path) -> None:
    s = serving("dry")
    check = Check(tmp_path, AutoStopPolicy(on=ON), dry_run=True)
    [out] = check([s.host], {(s.host.alias, "oauth_fail"): auth_episode(s.host, time.time() - 120)})
    assert out.outcome is Outcome.DRY_RUN and out.dry_run
    where = f"{USER}@127.0.0.1:{s.host.target.port}"
    assert f"`{out.command}` on {where}" in out.detail and "nothing was run" in out.detail
    assert out.command.endswith(f"agent-runner --config '{s.project.remote_config}' stop")
    time.sleep(1.0)  # a stop would have reached serve by now
    assert s.alive and service(check.after[s.host.alias])["active"] is True
    [row] = audit_rows(tmp_path)
    assert row.dry_run and row.outcome is Outcome.DRY_RUN and row.where == where
    [line] = audit_log(tmp_path)
    assert line["dry_run"] is True and line["argv"] == list(out.argv) and line["where"] == where


def test_the_fleet_breaker_holds_the_second_host_across_separate_runs(serving: Serve, tmp_path: Path) -> None:
    first, second = serving("breaker"), serving("breaker")
    policy = AutoStopPolicy(on=ON, max_per_hour=1)
    hosts = [first.host, second.host]
    now = time.time()
    eps = {
        (first.host.alias, "oauth_fail"): auth_episode(first.host, now - 300),  # the older episode goes first
        (second.host.alias, "oauth_fail"): auth_episode(second.host, now - 200),
    }
    run1 = Check(tmp_path, policy)
    [out] = run1(hosts, eps)
    assert (out.host, out.outcome) == (first.host.alias, Outcome.STOPPED), out
    [held] = run1.said
    assert held.startswith(f"{second.host.alias} oauth_fail: auto-stop held back by the fleet breaker"), held
    run2 = Check(tmp_path, policy)  # a separate `check` a little later: the audit log still counts run 1
    assert run2(hosts, eps) == []
    assert any(
        line.startswith(f"{second.host.alias} oauth_fail") and "fleet breaker" in line for line in run2.said
    )
    assert first.proc.wait(timeout=10) == 0
    assert second.alive and service(run2.after[second.host.alias])["active"] is True
    assert [r.host for r in audit_rows(tmp_path)] == [first.host.alias]


def test_a_serve_in_a_rate_limit_back_off_is_draining_then_stopped_on_reverification(
    serving: Serve, tmp_path: Path
) -> None:
    # The fake says the limit resets in 9 s.  serve first sits out its restart delay (2 s, which SIGTERM
    # does cut short), then sleeps until the reset plus 5-30 s of jitter in chunks of up to 30 s that
    # SIGTERM does not cut short: so it is still alive when `stop` stops waiting after 5 s.
    s = serving("backoff", fake="rate_limit", max_rounds=2, FAKE_RESET_IN_S="9")
    wait_until("the rate-limit detection", lambda: s.project.count("transient_error_detected") >= 1, 30)
    time.sleep(3.0)  # past the restart delay, into the back-off (it writes no event when it starts)
    eps = {(s.host.alias, "oauth_fail"): auth_episode(s.host, time.time() - 120)}
    check = Check(tmp_path, AutoStopPolicy(on=ON))
    [out] = check([s.host], eps)
    print(f"\nright after the stop: {out.summary}")
    assert out.outcome is Outcome.DRAINING, out
    assert "is still running" in out.detail and "rate-limit back-off" in out.detail, out.detail
    assert s.alive
    drained_at = time.monotonic()
    assert s.proc.wait(timeout=40) == 0  # it acts on the SIGTERM once the back-off chunk ends
    print(f"serve exited {time.monotonic() - drained_at:.1f} s after the draining verdict")
    later = Check(tmp_path, AutoStopPolicy(on=ON))
    [again] = later([s.host], eps)
    assert again.reverified and again.outcome is Outcome.STOPPED and again.record_id == out.record_id, again
    assert any("already stopped for this episode" in line for line in later.said)  # no second stop
    [row] = audit_rows(tmp_path)
    assert row.outcome is Outcome.STOPPED
    assert [e["outcome"] for e in audit_log(tmp_path)] == ["started", "draining", "stopped"]
