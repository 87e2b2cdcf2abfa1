"""Detectors over agent-runner's event stream and round logs, matching agent-runner's own semantics.

Window: the last ``exit_window`` (10) ``agent_exit`` events.  A rate detector fires when at least
``rate_threshold`` (20 %) of a *full* window matches, i.e. 2 rounds of 10.  agent-runner also
requires the window to be full; we do not, because its crash-loop breaker stops serve after 5
short crashes, so an auth-failing project never reaches 10 exits and would never be reported.
"""

from __future__ import annotations

import math
import re
from typing import Any

from fleetwatch.basics import human_duration, iso
from fleetwatch.detect.base import Context, Needs, detector
from fleetwatch.findings import Finding, Severity
from fleetwatch.snapshot import MONITOR_SELF_KINDS, Event, parse_ts

# agent-runner 0.3.14 config/models.py _DEFAULT_AUTH_PATTERNS, plus the words claude prints on an
# expired login that the default misses ("Please run /login", "invalid api key" is covered).
AUTH_PATTERNS = re.compile(
    r"\b(oauth|unauthorized|401|api[_ ]key|auth(entication)?[_ -]?(failed|error|expired)|session.*expired)\b"
    r"|please run /login|token (has )?expired",
    re.IGNORECASE,
)
# agent-runner 0.3.14 _monitor_detectors.py NETWORK_PATTERNS, plus what the real claude CLI prints
# (``API Error: Connection error.``, Node's ECONNRESET / ENOTFOUND / ETIMEDOUT / EAI_AGAIN), which
# agent-runner's regex misses.
NETWORK_PATTERNS = re.compile(
    r"\b(connection refused|econnrefused|dns|name or service not known|connect(ion)? timed out|"
    r"nodename nor servname|network unreachable|50[023] (service unavailable|bad gateway|gateway timeout)|"
    r"connection reset|connection error|econnreset|enotfound|etimedout|eai_again)\b",
    re.IGNORECASE,
)
PAUSE_KINDS = ("schedule_paused", "round_deferred")
RESUME_KINDS = ("schedule_resumed", "round_resumed")
PAUSE_HORIZON_S = 8 * 86400  # agent-runner's resume horizon for a pause without resume_at
# serve ended on purpose or by a breaker: its own detector says why, so silence after it is not "stale".
TERMINAL_KINDS = frozenset(
    {
        "crash_loop",
        "stalled_no_progress",
        "config_broken",
        "mem_loop",
        "mem_loop_persistent",
        "max_rounds_reached",
    }
)


def _needed(ctx: Context) -> int:
    return max(1, math.ceil(ctx.thresholds.rate_threshold * ctx.thresholds.exit_window - 1e-9))


def _tail_excerpt(text: str, pattern: re.Pattern[str]) -> str:
    for line in reversed(text.splitlines()):
        if pattern.search(line):
            return line.strip()[:200]
    return ""


def _failing_rounds(
    ctx: Context, pattern: re.Pattern[str], reported: dict[Any, str], gate_reported: bool
) -> list[tuple[Event, str]]:
    """Window exits that failed this way, each with its evidence: a matching line from a short exit's
    log tail, or a plugin-reported event for that round (``gate_reported``: only on a short exit)."""
    out = []
    for e in ctx.exits:
        rn = e.data.get("round_num")
        tail = ctx.log_tails.get(int(rn or -1), "")
        if ctx.short_exit(e) and pattern.search(tail):
            out.append((e, _tail_excerpt(tail, pattern)))
        elif rn in reported and (ctx.short_exit(e) or not gate_reported):
            out.append((e, reported[rn]))
    return out


def _rate_finding(
    ctx: Context, name: str, severity: Severity, failed: list[tuple[Event, str]], what: str, hint: str
) -> Finding | None:
    if len(failed) < _needed(ctx):
        return None
    return ctx.finding(
        name,
        severity,
        f"{len(failed)}/{len(ctx.exits)} recent rounds {what}: {failed[-1][1]}",
        hint,
        matches=len(failed),
        window=len(ctx.exits),
        rounds=[e.data.get("round_num") for e, _ in failed],
        evidence=failed[-1][1],
    )


def _reported(ctx: Context, kind: str, default: str, field: str = "") -> dict[Any, str]:
    return {
        e.data["round_num"]: str(e.data.get(field) or default) if field else default
        for e in ctx.events
        if e.kind == kind and e.data.get("round_num") is not None
    }


@detector("oauth_fail", Needs.PEEK)
def oauth_fail(ctx: Context) -> Finding | None:
    """Rounds failing auth: ``agent_auth_error_detected`` events, or auth patterns in short-exit log tails."""
    # Plugin-reported auth errors need no exit gate: some CLIs exit 0 on a rejected credential.
    reported = _reported(ctx, "agent_auth_error_detected", "agent-reported auth error")
    return _rate_finding(
        ctx,
        "oauth_fail",
        Severity.CRITICAL,
        _failing_rounds(ctx, AUTH_PATTERNS, reported, False),
        "failed auth",
        "log the agent CLI in again on the host (e.g. `claude /login`) or refresh its API key",
    )


@detector("network_fail", Needs.PEEK)
def network_fail(ctx: Context) -> Finding | None:
    """Short-exit rounds with a network error: ``agent_network_blip`` events or patterns in log tails."""
    reported = _reported(ctx, "agent_network_blip", "network blip", "matched")
    return _rate_finding(
        ctx,
        "network_fail",
        Severity.WARNING,
        _failing_rounds(ctx, NETWORK_PATTERNS, reported, True),
        "short-exited with a network error",
        "check the host's DNS / VPN / upstream provider status",
    )


@detector("timeout_rate", Needs.PEEK)
def timeout_rate(ctx: Context) -> Finding | None:
    """Rounds hitting the round budget (grace kills excluded), over the exit window."""
    timed = [e for e in ctx.exits if e.data.get("timed_out") and e.data.get("exit_cause") != "grace_kill"]
    if len(timed) < _needed(ctx):
        return None
    return ctx.finding(
        "timeout_rate",
        Severity.WARNING,
        f"{len(timed)}/{len(ctx.exits)} recent rounds timed out (budget {ctx.round_budget_s:g} s)",
        "the agent may be stuck on a task; look at the latest round log",
        timed_out=len(timed),
        window=len(ctx.exits),
    )


@detector("hung", Needs.PEEK)
def hung(ctx: Context) -> Finding | None:
    """The newest round started longer ago than ``stale_factor`` × budget and has not ended."""
    open_rounds: dict[int, float] = {}
    highest: int | None = None
    for e in ctx.events:
        rn = e.data.get("round_num")
        if not isinstance(rn, int) or e.kind not in ("round_start", "round_end"):
            continue
        if e.kind == "round_start":
            open_rounds[rn] = e.ts
            highest = rn if highest is None else max(highest, rn)
        else:
            open_rounds.pop(rn, None)
    if highest is None or highest not in open_rounds:
        return None
    elapsed = ctx.remote_now - open_rounds[highest]
    limit = ctx.round_budget_s * ctx.thresholds.stale_factor
    if elapsed <= limit:
        return None
    return ctx.finding(
        "hung",
        Severity.WARNING,
        f"round {highest} started {human_duration(elapsed)} ago and has not ended "
        f"(limit {human_duration(limit)})",
        "the agent or its round kill may be stuck; check the process on the host",
        round_num=highest,
        elapsed_s=round(elapsed),
        threshold_s=limit,
    )


@detector("rate_limit_active", Needs.PEEK)
def rate_limit_active(ctx: Context) -> Finding | None:
    """The agent is throttled by its provider: a transient error with its reset still in the future."""
    peek = ctx.obs.snapshot.peek if ctx.obs.snapshot else None
    throttle = peek.throttle() if peek else None
    if throttle is None or throttle.until is None or not throttle.active(ctx.remote_now):
        return None
    return ctx.finding(
        "rate_limit_active",
        Severity.WARNING,
        f"{throttle.agent} throttled until {iso(throttle.until)} ({throttle.classification})",
        "nothing to do unless it persists; the supervisor backs off by itself",
        throttled_until=iso(throttle.until),
        classification=throttle.classification,
    )


def _pause_suppresses(ctx: Context, threshold: float) -> bool:
    newest = next((e for e in reversed(ctx.events) if e.kind in PAUSE_KINDS + RESUME_KINDS), None)
    if newest is None or newest.kind not in PAUSE_KINDS:
        return False
    bound = parse_ts(newest.data.get("resume_at") or None) or newest.ts + PAUSE_HORIZON_S
    return ctx.remote_now <= bound + threshold


def stale_threshold(ctx: Context) -> tuple[float, str]:
    """``supervisor_stale``'s threshold (0: off) and where it comes from: the inventory's absolute
    ``supervisor_stale_threshold_s``, else the project's agent-runner.toml ``[monitor]
    supervisor_stale_threshold_s``, else ``stale_factor`` × the round budget (as agent-runner derives it)."""
    own = ctx.thresholds.supervisor_stale_threshold_s
    if own is not None:
        return own, "inventory"
    snap = ctx.obs.snapshot
    declared = snap.stale_threshold_s if snap is not None else None
    if declared is not None:
        return declared, "agent-runner.toml"
    return float(int(ctx.round_budget_s * ctx.thresholds.stale_factor)), "round budget"  # truncated too


@detector("supervisor_stale", Needs.PEEK)
def supervisor_stale(ctx: Context) -> Finding | None:
    """Newest supervisor event older than the threshold (``stale_threshold``; not during a live pause)."""
    supervised = [e for e in ctx.events if e.kind not in MONITOR_SELF_KINDS]
    if not supervised:
        return None  # never started: nothing to be stale against
    threshold, source = stale_threshold(ctx)
    if threshold <= 0:
        return None  # turned off for this host or project
    last = supervised[-1]
    age = ctx.remote_now - last.ts
    if age <= threshold or last.kind in TERMINAL_KINDS or _pause_suppresses(ctx, threshold):
        return None
    peek = ctx.obs.snapshot.peek if ctx.obs.snapshot else None
    service = peek.service if peek else {}
    if service.get("mode") == "pid_file" and not service.get("active"):
        return None  # serve died leaving its pid file: supervisor_died says so, critically
    active = bool(service.get("active"))
    state = "running but silent (stuck?)" if active else "not running (stopped cleanly, or never restarted)"
    return ctx.finding(
        "supervisor_stale",
        Severity.WARNING,
        f"no supervisor events for {human_duration(age)} (threshold {human_duration(threshold)}"
        f"{'' if source == 'round budget' else f', from the {source}'}); "
        f"serve is {state}; last event {last.kind} at {iso(last.ts)}",
        "check `agent-runner status` on the host; restart the service if it is stuck or should be running",
        age_s=round(age),
        threshold_s=threshold,
        threshold_from=source,
        last_event=last.kind,
        service_active=active,
    )


DETECTORS = (oauth_fail, network_fail, timeout_rate, hung, rate_limit_active, supervisor_stale)
"""This module's detectors, in the order they run."""
