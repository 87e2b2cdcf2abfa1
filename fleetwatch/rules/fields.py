"""The fields a rule's ``when`` can read, under stable documented names, and how a host's data fills them.

Pure.  ``status.*``, ``service.*``, ``system.*`` and ``current_round.*`` are agent-runner's peek document
as it is (peek evolves: any field below them is accepted); ``facts.*``, ``poll.*`` and ``history.*`` are
fleetwatch's own and closed: a name not in ``FIELDS`` is an error when the rule is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetwatch.findings import Observation
from fleetwatch.polls import HostFacts

OPEN = ("status", "service", "system", "current_round")
"""Namespaces whose fields come from peek as it is."""

FIELDS: Mapping[str, str] = {
    "host": "the host's alias",
    "groups": "its inventory groups (a list: `'gpu' in groups`)",
    "status": "peek `status` (round_num, running, last_exit_code, …)",
    "service": "peek `service` (mode, active, pid, rate_limit, …)",
    "system": "peek `system`, as of the last round boundary (disk_used_pct, load_1m, mem_available_mb, …)",
    "current_round": "peek `current_round` (round_num, phase, started_at, …); missing between rounds",
    "facts.disk_used_pct": "disk use (%) of the runner's log filesystem, measured live by the probe",
    "facts.disk_free_gb": "free space there (GB)",
    "facts.load_1m": "1-minute load average, live",
    "facts.mem_available_mb": "memory available (MB), live",
    "facts.mem_total_mb": "memory installed (MB)",
    "facts.clock_offset_s": "host clock minus ours (s)",
    "facts.round": "the current round number",
    "facts.phase": "the current round's phase",
    "facts.running": "a round is in progress",
    "facts.serve_active": "`agent-runner serve` runs",
    "facts.rate_limited": "the agent is throttled by its provider",
    "facts.newest_event": "the newest supervisor event's name",
    "facts.newest_event_age_s": "its age (s), on the host's clock",
    "facts.project": "the agent-runner project",
    "facts.runner_version": 'agent-runner\'s installed version (text, e.g. "0.3.14")',
    "facts.round_completed_age_s": "since the last round ended (s, on the host's clock)",
    "usage.agent": "the newest round's agent (agent_usage_recorded: claude, gemini, …)",
    "usage.model": "… its model",
    "usage.round": "… its round number",
    "usage.success": "… whether it succeeded",
    "usage.cost_usd": "… what it cost (USD)",
    "usage.input_tokens": "… its input tokens",
    "usage.output_tokens": "… its output tokens",
    "usage.tool_calls": "… its tool calls",
    "usage.duration_s": "… how long the agent ran (s)",
    "poll.reachable": "the poll got an answer (true), or failed (false)",
    "poll.latency_s": "how long the poll took (s)",
    "poll.stage": "where a failed poll failed (resolve, connect, host key, auth, command, parse); "
    "missing when it worked",
    "history.spend_usd_today": "what the agent spent today, the operator's day (USD)",
    "history.spend_usd_1h": "… in the last hour",
    "history.spend_usd_24h": "… in the last 24 hours",
    "history.rounds_completed_1h": "rounds completed in the last hour",
    "history.rounds_completed_24h": "… in the last 24 hours",
    "history.disk_used_pct_per_h": "how fast disk use grows (%/h, least squares over disk_fill_window_h)",
    "history.disk_used_pct_delta_1h": "disk use now minus an hour ago (percentage points; missing until "
    "the host has an hour of history)",
    "history.returns_1h": "times the host came back after a failed poll in the last hour",
    "history.polls_1h": "polls in the last hour",
}


def known(path: str) -> bool:
    """Whether a dotted name can be read by a rule."""
    if path in FIELDS:
        return True
    head = path.split(".", 1)[0]
    return head in OPEN and "." in path


def data_of(obs: Observation, groups: tuple[str, ...]) -> dict[str, Any]:
    """The nested data a rule evaluates against; absent parts are left out (so the rule is not
    evaluated), never filled with defaults."""
    data: dict[str, Any] = {"host": obs.host, "groups": list(groups)}
    snap, failure = obs.snapshot, obs.failure
    poll: dict[str, Any] = {"reachable": snap is not None}
    latency = snap.latency_s if snap is not None else failure.latency_s if failure is not None else None
    if latency is not None:
        poll["latency_s"] = latency
    if failure is not None:
        poll["stage"] = str(failure.stage)
    data["poll"] = poll
    if snap is None:  # an unreachable host still has its history (flapping, returns, spend so far)
        if obs.history is not None:
            data["history"] = _history(obs, None)
        return data
    if snap.peek is not None:
        data.update(
            status=dict(snap.peek.status), service=dict(snap.peek.service), system=dict(snap.peek.system)
        )
        current = snap.peek.current_round
        if isinstance(current, dict):
            data["current_round"] = current
    facts = HostFacts.from_snapshot(snap)
    values = {
        "disk_used_pct": facts.disk_used_pct,
        "disk_free_gb": facts.disk_free_gb,
        "load_1m": facts.load_1m,
        "mem_available_mb": facts.mem_available_mb,
        "mem_total_mb": facts.mem_total_mb,
        "clock_offset_s": facts.clock_offset_s,
        "round": facts.round,
        "phase": facts.phase,
        "running": facts.running,
        "serve_active": facts.serve_active,
        "rate_limited": facts.rate_limited,
        "newest_event": facts.newest_event,
        "newest_event_age_s": facts.newest_event_age_s(facts.received_at),
        "project": facts.project,
        "runner_version": facts.runner_version,
    }
    ended = [e for e in snap.supervised_events() if e.kind == "round_end"]
    if ended:
        values["round_completed_age_s"] = max(0.0, snap.remote_time - ended[-1].ts)
    data["facts"] = {k: v for k, v in values.items() if v is not None}
    used = [e for e in snap.supervised_events() if e.kind == "agent_usage_recorded"]
    if used:
        u = used[-1].data
        ms = u.get("duration_ms")
        usage = {
            "agent": u.get("agent"),
            "model": u.get("model"),
            "round": u.get("round_num"),
            "success": u.get("success"),
            "cost_usd": u.get("cost_usd"),
            "input_tokens": u.get("input_tokens"),
            "output_tokens": u.get("output_tokens"),
            "tool_calls": u.get("tool_call_count"),
            "duration_s": ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool) else None,
        }
        data["usage"] = {k: v for k, v in usage.items() if v is not None}
    if obs.history is not None:
        data["history"] = _history(obs, data["facts"].get("disk_used_pct"))
    return data


def _history(obs: Observation, disk_now: float | None) -> dict[str, Any]:
    """``history.*`` from the host's summary (``disk_now``: this poll's disk %, None when not answered)."""
    history = obs.history
    assert history is not None
    s = history.spend
    h: dict[str, Any] = {
        "spend_usd_today": s.today_usd,
        "spend_usd_1h": s.last_hour_usd,
        "spend_usd_24h": s.last_day_usd,
        "rounds_completed_1h": s.rounds_last_hour,
        "rounds_completed_24h": s.rounds_last_day,
        "returns_1h": history.returns_last_hour,
        "polls_1h": history.polls_last_hour,
    }
    if history.disk is not None and history.disk.slope_per_s is not None:
        h["disk_used_pct_per_h"] = history.disk.slope_per_s * 3600
    if history.disk_hour_ago is not None and disk_now is not None:
        h["disk_used_pct_delta_1h"] = disk_now - history.disk_hour_ago
    return h


def lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted name in ``data``; a null value counts as not found."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return node is not None, node
