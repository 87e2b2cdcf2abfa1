"""The simulated hosts of ``fleetwatch demo`` and the probe answer each one gives.

Pure: every document is built from ``since`` (when the simulated fleet started) and ``now``.  The
histories are anchored at ``since`` and move on with the clock as real ones do: a healthy host keeps
finishing rounds, a dead one stays silent, and an event keeps its timestamp from poll to poll (what
the history store's per-round deduplication relies on).
The peek document mirrors agent-runner 0.3.14 ``--json peek --events N`` (schema 2.6) as captured in
``tests/fixtures/agent_runner/peek_*.json``; events come from a small round-by-round builder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fleetwatch.basics import iso
from fleetwatch.probe.command import SENTINEL

HOME = "/home/demo"
RUNNER = f"{HOME}/.local/bin/agent-runner"
BUDGET_S = 1800
GIT_HEAD = "09bbbb1f3d81d528366a67719a863f105dae79c4"
CONFIG_DIGEST = "405f31f9b8a2165b8a36e4fc56780bd555b15c347a442df380e929246f679d35"

# What claude -p prints: a clean stream-json round, and a round on an expired OAuth login.
OK_TAIL = "\n".join(
    [
        '{"type":"system","subtype":"init","cwd":"/home/demo/work","model":"claude-opus-5","tools":[]}',
        '{"type":"assistant","message":{"model":"claude-opus-5","role":"assistant",'
        '"content":[{"type":"text","text":"Refactored the parser and ran the test suite: 214 passed."}]}}',
        '{"type":"result","subtype":"success","is_error":false,"duration_ms":471020,"num_turns":38,'
        '"result":"Refactored the parser; all tests pass.","total_cost_usd":1.84}',
    ]
)
AUTH_TAIL = "\n".join(
    [
        'API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"OAuth token has '
        'expired. Please obtain a new token or refresh your existing token."},"request_id":"req_demo"}',
        '{"type":"result","subtype":"success","is_error":true,"duration_ms":1630,"num_turns":1,'
        '"result":"Invalid API key · Please run /login","total_cost_usd":0}',
        "Invalid API key · Please run /login",
    ]
)

PLUGINS = {
    "post_round_hooks": [
        "claude_error_detector",
        "codewhale_error_detector",
        "gemini_error_detector",
        "kimi_error_detector",
        "pi_error_detector",
    ],
    "disabled": [],
    "cooperative_stop": {"claude": "SIGINT", "gemini": "SIGTERM", "pi": "SIGTERM"},
    "resolved_sigterm_grace_s": 2,
}
DEFENSES = [
    {
        "name": "round_budget_s",
        "value": BUDGET_S,
        "codifies": "R1128 — TaskOutput polling loop 60min, scheduler grace fails to trigger",
        "guarded_by": "tests/unit/test_agent_runtime.py",
        "current_state": "active",
    },
    {
        "name": "process_group_isolation",
        "value": "start_new_session=True",
        "codifies": "#307 — process group reaping for descendant cleanup",
        "guarded_by": "tests/unit/test_agent_runtime.py",
        "current_state": "active",
    },
    {
        "name": "crash_loop_breaker",
        "value": "stop after 5 consecutive short crashes; exp-escalating delay",
        "codifies": "Run 6 — crashing agent respawned ~100 empty rounds at a fixed 2x delay",
        "guarded_by": "tests/unit/test_serve_crash_loop.py",
        "current_state": "active",
    },
    {
        "name": "flock_concurrency",
        "value": "agent-runner.lock",
        "codifies": "Architectural — prevent concurrent supervisors corrupting state",
        "guarded_by": "tests/unit/test_runner.py",
        "current_state": "active",
    },
]


def event_ts(ts: float) -> str:
    """agent-runner's event timestamp format, ``2026-11-21T10:50:46.456Z``."""
    return iso(ts, ms=True)


@dataclass
class Round:
    """One round as the builder recorded it (``end`` is None while it runs)."""

    num: int
    start: float
    end: float | None = None
    exit_code: int | None = None
    tail: str = ""


@dataclass
class Timeline:
    """Supervisor history built forward from t=0, then shifted so its last event lands where wanted."""

    t: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)

    def emit(self, kind: str, after: float = 0.0, **data: Any) -> None:
        """Append an event ``after`` seconds past the previous one."""
        self.t += after
        self.events.append({"ts": self.t, "event": kind, **data})

    def round(
        self, duration: float | None, exit_code: int = 0, tail: str = OK_TAIL, gap: float = 60.0
    ) -> None:
        """One round (``duration`` None: still running), ``gap`` seconds after the previous one."""
        num = len(self.rounds) + 1
        self.emit(
            "round_substrate_before",
            gap if self.events else 0.0,
            round_num=num,
            git_head=GIT_HEAD,
            paths_hash=None,
        )
        self.emit(
            "round_start",
            0.12,
            round_num=num,
            phase=None,
            config_digest=CONFIG_DIGEST,
            config_changed=num == 1,
        )
        rnd = Round(num, self.t)
        self.rounds.append(rnd)
        self.emit("agent_spawn", 0.01, round_num=num, timeout_s=BUDGET_S)
        if duration is None:
            return
        cause = "clean" if exit_code == 0 else "error"
        self.emit(
            "agent_exit",
            duration,
            round_num=num,
            exit_code=exit_code,
            duration_s=duration,
            timed_out=False,
            exit_cause=cause,
        )
        rnd.end, rnd.exit_code, rnd.tail = self.t, exit_code, tail
        self.emit("round_end", 0.012, round_num=num)
        self.emit(
            "agent_usage_recorded",
            0.001,
            agent="claude",
            round_num=num,
            model="claude-opus-5" if exit_code == 0 else "unknown",
            success=exit_code == 0,
            input_tokens=0 if exit_code else 48_210,
            output_tokens=0 if exit_code else 9_877,
            cached_tokens=0 if exit_code else 310_442,
            cost_usd=0.0 if exit_code else 1.84,  # what the round's result line says it cost
            duration_ms=round(duration * 1000),
            tool_call_count=0 if exit_code else 37,
            phase="",
        )
        self.emit("round_substrate_after", 0.02, round_num=num, git_head=GIT_HEAD, paths_hash=None)

    def anchored(self, last_event_at: float) -> Timeline:
        """The same history shifted so the newest event happened at ``last_event_at``."""
        return self.shifted(last_event_at - self.t)

    def shifted(self, shift: float) -> Timeline:
        """The same history ``shift`` seconds later."""
        for e in self.events:
            e["ts"] += shift
        for r in self.rounds:
            r.start += shift
            r.end = r.end + shift if r.end is not None else None
        self.t += shift
        return self


def _duration(tl: Timeline) -> float:
    """The next round's length: durations drift a little, as real rounds do, so the history does not
    look machine-stamped."""
    return 472.0 + 9.5 * (len(tl.rounds) % 12)


def _serving(tl: Timeline, ok_rounds: int) -> Timeline:
    tl.emit("host_cgroup_memory_limit", memory_max=None, memory_swap_max=None, cgroup_path=None, defer=False)
    for _ in range(ok_rounds):
        tl.round(_duration(tl))
    return tl


def healthy(since: float, now: float) -> Timeline:
    """At ``since``: six clean ~8-minute rounds, the seventh started a minute and a half before; from
    then on a clean round every ~9 minutes."""
    start = _serving(Timeline(), 6)
    start.round(None)
    shift = since - 90 - start.t
    tl = _serving(Timeline(), 6)
    # Rounds that have ended by ``now``: the next one spawns 60.13 s after the previous one's last event.
    while shift + tl.t + 60.13 + _duration(tl) <= now:
        tl.round(_duration(tl))
    tl.round(None)
    return tl.shifted(shift)


def stale(since: float, now: float) -> Timeline:
    """Five clean rounds, then serve died silently about two hours before ``since``."""
    return _serving(Timeline(), 5).anchored(since - 2 * 3600 - 240)


def auth_failing(since: float, now: float) -> Timeline:
    """Five clean rounds, then four ~2 s exits on an expired OAuth token with the breaker's growing
    delay, the last 25 s before ``since``; the login is never fixed, so nothing runs after."""
    tl = _serving(Timeline(), 5)
    for gap, took in ((60.0, 1.9), (2.0, 2.1), (4.0, 1.8), (8.0, 2.0)):
        tl.round(took, exit_code=1, tail=AUTH_TAIL, gap=gap)
    return tl.anchored(since - 25)


@dataclass(frozen=True)
class SimHost:
    """One simulated host: its alias, what state it is in and how it answers."""

    alias: str
    summary: str
    history: Callable[[float, float], Timeline] | None = None
    """Supervisor history ``(since, now)`` of a fleet started at ``since``; None: nothing listens
    (unreachable)."""
    service_active: bool = True
    disk_used_pct: float = 41.3
    load_1m: float = 0.42
    delay_s: float = 0.0
    """Seconds the host waits before answering."""


HOSTS: tuple[SimHost, ...] = (
    SimHost("demo-healthy", "rounds completing normally", healthy),
    SimHost("demo-stale", "supervisor silent for ~2 h, service not running", stale, service_active=False),
    SimHost("demo-auth", "last 4 rounds exit 1 in ~2 s on an expired OAuth token", auth_failing),
    SimHost("demo-disk", "healthy rounds but the disk is 97 % full", healthy, disk_used_pct=97.0),
    SimHost("demo-unreachable", "nothing listens on its port", None),
    SimHost("demo-slow", "healthy but answers after ~3 s (loaded box)", healthy, load_1m=11.8, delay_s=3.0),
)


def _peek(host: SimHost, tl: Timeline, project: str, events: int, rounds_dir: str) -> dict[str, Any]:
    done = [r for r in tl.rounds if r.end is not None]
    last, cur = done[-1], tl.rounds[-1]
    stamp = datetime.fromtimestamp(cur.start, UTC).strftime("%Y%m%dT%H%M%S")
    return {
        "schema_version": "2.6",
        "plugins": PLUGINS,
        "project": project,
        "status": {
            "round_num": last.num,
            "running": cur.end is None,
            "last_completed_at": event_ts(last.end or 0.0),
            "last_exit_code": last.exit_code,
            "last_duration_s": (last.end or 0.0) - last.start,
            "phase_index": 0,
        },
        "defenses": DEFENSES,
        "current_round": {
            "round_num": cur.num,
            "phase": None,
            "started_at": event_ts(cur.start),
            "duration_so_far_s": cur.end - cur.start if cur.end else None,
            "pid": None,
            "exit_code": cur.exit_code,
            "timed_out": False if cur.end else None,
            "log_path": f"{rounds_dir}/R{cur.num}-{stamp}.log",
            "log_tail": cur.tail,
            "recent_events": [],
        },
        "recent_rounds": [],
        "orphan": None,
        # peek's own system block is frozen at the last round boundary, hence a slightly older figure.
        "system": {
            "mem_total_mb": 32_012,
            "mem_available_mb": 21_440,
            "disk_used_pct": host.disk_used_pct - 0.4,
            "disk_free_gb": _free_gb(host.disk_used_pct - 0.4),
            "load_1m": host.load_1m,
            "cpu_pct": 23.5,
            "agent_process_count": 1 if cur.end is None else 0,
        },
        "service": {
            "mode": "pid_file" if host.service_active else "none",
            "active": host.service_active,
            "pid": 4612 if host.service_active else None,
            "uptime_s": None,
            "unit_file": None,
            "rate_limit": None,
            "system_managed": False,
        },
        "recent_events": [{**e, "ts": event_ts(e["ts"])} for e in tl.events[-events:]],
        "recent_hook_failures": [],
        "recent_blips": [],
        "recent_cgroup_growth_warnings": [],
        "schedule": None,
        "brake": "off",
    }


def _free_gb(used_pct: float, size_gb: float = 250.0) -> float:
    return round(size_gb * (100.0 - used_pct) / 100.0, 3)


def gather_answer(
    host: SimHost,
    now: float,
    events: int,
    tail_lines: int,
    round_logs: int,
    *,
    since: float | None = None,
    stopped_at: float | None = None,
) -> str:
    """The one sentinel line the real gatherer would print on this host at ``now``, in a simulated fleet
    started at ``since`` (default: ``now``); its supervisor's history ends at ``stopped_at``."""
    assert host.history is not None, "an unreachable host never answers"
    tl = host.history(now if since is None else since, now if stopped_at is None else min(now, stopped_at))
    project = host.alias.removeprefix("demo-") + "-agent"
    rounds_dir = f"{HOME}/.agent-runner/{project}/logs/rounds"
    peek = _peek(host, tl, project, events, rounds_dir)
    logs = []
    for r in reversed(tl.rounds[-round_logs:]):
        stamp = datetime.fromtimestamp(r.start, UTC).strftime("%Y%m%dT%H%M%S")
        tail = "\n".join(r.tail.splitlines()[-tail_lines:])
        # A clean round's transcript is far longer than the tail the gatherer keeps.
        size = len(tail.encode()) + (180_000 if r.exit_code == 0 else 0)
        logs.append(
            {"path": f"{rounds_dir}/R{r.num}-{stamp}.log", "mtime": r.end or now, "size": size, "tail": tail}
        )
    used = host.disk_used_pct
    doc = {
        "gather": 1,
        "runner": RUNNER,
        "runner_version": "0.3.14",
        "python": "/usr/bin/python3",
        "home": HOME,
        "peek": {"rc": 0, "stdout": json.dumps(peek) + "\n", "stderr": "", "seconds": 0.214},
        "rounds_dir": rounds_dir,
        "round_logs": logs,
        "facts": {
            "time": now,
            "disk": {"path": rounds_dir, "used_pct": used, "free_gb": _free_gb(used)},
            "mem_total_mb": 32_012,
            "mem_available_mb": 20_915,
            "load_1m": host.load_1m,
            "hostname": host.alias.removeprefix("demo-") + "-box",
        },
    }
    return SENTINEL + json.dumps(doc) + "\n"
