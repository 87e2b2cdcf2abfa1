"""The supervisor stopped itself: one detector per agent-runner breaker event, with the reason.

agent-runner 0.3.14 writes ``crash_loop`` and ``stalled_no_progress`` with an empty ``reason``,
so the finding carries the crashed rounds' log tails instead; ``config_broken`` is explained by
the ``smoke_check_failed`` event just before it.
"""

from __future__ import annotations

from fleetwatch.basics import human_duration
from fleetwatch.detect.base import Context, Detector, Needs, detector
from fleetwatch.findings import Finding, Severity
from fleetwatch.snapshot import MONITOR_SELF_KINDS, Event

BREAKERS: dict[str, str] = {
    "crash_loop": "stopped after {consecutive} consecutive short crashes (exit {exit_code})",
    "stalled_no_progress": "stopped after {consecutive} fast rounds that recorded no usage (no progress)",
    "config_broken": "stopped: the config is broken",
    "mem_loop": "stopped after {consecutive} rounds killed under memory pressure",
    "mem_loop_persistent": "stopped for good: memory-pressure loops keep recurring",
}
HINTS: dict[str, str] = {
    "crash_loop": "read the crashed rounds' logs below, fix the cause, then restart the service",
    "stalled_no_progress": "the agent CLI exits without working (provider or login trouble?); read its log",
    "config_broken": "run `agent-runner doctor` on the host, fix agent-runner.toml, then restart",
    "mem_loop": "free memory on the host or lower the agent's footprint, then restart",
    "mem_loop_persistent": "the host cannot hold this workload; free memory, then restart the service",
}
TAIL_LINES = 3


def _in_effect(ctx: Context, kind: str) -> Event | None:
    """The newest breaker event of ``kind`` with no later round started (serve not restarted)."""
    for e in reversed(ctx.events):
        if e.kind == "round_start":
            return None
        if e.kind == kind:
            return e
    return None


def _why(ctx: Context, event: Event) -> tuple[str, dict[str, str]]:
    reason = str(event.data.get("reason") or "")
    if event.kind == "config_broken":
        smoke = next(
            (e for e in reversed(ctx.events) if e.kind == "smoke_check_failed" and e.ts <= event.ts), None
        )
        if smoke is not None and smoke.data.get("reason"):
            reason = f"{smoke.data['reason']}; {reason}" if reason else str(smoke.data["reason"])
    count = int(event.data.get("consecutive") or 0)
    crashed = [e for e in ctx.events if e.kind == "agent_exit" and e.ts <= event.ts][-count:] if count else []
    tails = {}
    for e in crashed:
        rn = e.data.get("round_num")
        lines = [ln for ln in ctx.log_tails.get(int(rn or -1), "").splitlines() if ln.strip()]
        if lines:
            tails[str(rn)] = "\n".join(lines[-TAIL_LINES:])
    return reason, tails


def _make(kind: str) -> Detector:
    def check(ctx: Context) -> Finding | None:
        event = _in_effect(ctx, kind)
        if event is None:
            return None
        reason, tails = _why(ctx, event)
        what = BREAKERS[kind].format(
            consecutive=event.data.get("consecutive", "several"), exit_code=event.data.get("exit_code", "?")
        )
        said = reason or (tails[max(tails, key=int)].splitlines()[-1] if tails else "no reason recorded")
        return ctx.finding(
            kind,
            Severity.CRITICAL,
            f"supervisor {what}: {said}",
            HINTS[kind],
            reason=reason,
            log_tails=tails,
            consecutive=event.data.get("consecutive"),
        )

    check.__doc__ = f"agent-runner's breaker `{kind}` stopped serve ({BREAKERS[kind].split(':')[0]})."
    return detector(kind, Needs.PEEK)(check)


@detector("supervisor_died", Needs.PEEK)
def supervisor_died(ctx: Context) -> Finding | None:
    """serve left a stale pid file: it crashed, was killed, or the host rebooted (no clean stop)."""
    peek = ctx.obs.snapshot.peek if ctx.obs.snapshot else None
    if peek is None or peek.service.get("mode") != "pid_file" or peek.service.get("active"):
        return None
    last = next((e for e in reversed(ctx.events) if e.kind not in MONITOR_SELF_KINDS), None)
    if last is not None and last.kind in BREAKERS:
        return None  # the breaker's own detector explains why serve is gone
    since = (
        f"; last event {last.kind} {human_duration(max(0.0, ctx.remote_now - last.ts))} ago" if last else ""
    )
    return ctx.finding(
        "supervisor_died",
        Severity.CRITICAL,
        f"serve is not running but left its pid file: it crashed or was killed{since}",
        "restart it (`agent-runner start`, or serve under your process manager) and check why it died",
        last_event=last.kind if last else None,
    )


@detector("supervisor_finished", Needs.PEEK)
def supervisor_finished(ctx: Context) -> Finding | None:
    """serve ended on purpose after ``--max-rounds`` (info: nothing is wrong, nothing is running)."""
    event = _in_effect(ctx, "max_rounds_reached")
    if event is None:
        return None
    done = event.data.get("rounds_completed", "?")
    return ctx.finding(
        "supervisor_finished",
        Severity.INFO,
        f"serve finished after {done} rounds (--max-rounds)",
        "start it again when you want more rounds",
        rounds_completed=done,
    )


DETECTORS = (*(_make(kind) for kind in BREAKERS), supervisor_died, supervisor_finished)
"""This module's detectors, in the order they run."""
