"""Detectors about the host and the SSH path to it: reachability, host key, probe, disk, clock."""

from __future__ import annotations

from fleetwatch.basics import human_duration
from fleetwatch.detect.base import Context, Needs, detector
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, Severity


def _failing_for(ctx: Context) -> float | None:
    failure, since = ctx.obs.failure, ctx.obs.failing_since
    if failure is None or failure.key_changed or failure.stage is Stage.PARSE or since is None:
        return None
    return max(0.0, ctx.now - since)


@detector("remote_blip", Needs.OBSERVATION)
def remote_blip(ctx: Context) -> Finding | None:
    """A poll failed (any stage up to running the command), for less than the give-up tolerance."""
    failing = _failing_for(ctx)
    if failing is None or failing >= ctx.thresholds.remote_failure_tolerance_s:
        return None
    f = ctx.obs.failure
    assert f is not None
    return ctx.finding(
        "remote_blip",
        Severity.WARNING,
        f"{f.stage} failed: {f.message}",
        f.hint,
        stage=str(f.stage),
        failing_for_s=round(failing),
    )


@detector("remote_giveup", Needs.OBSERVATION)
def remote_giveup(ctx: Context) -> Finding | None:
    """SSH to the host has failed continuously for ``remote_failure_tolerance_s`` (across runs)."""
    failing = _failing_for(ctx)
    if failing is None or failing < ctx.thresholds.remote_failure_tolerance_s:
        return None
    f = ctx.obs.failure
    assert f is not None
    return ctx.finding(
        "remote_giveup",
        Severity.CRITICAL,
        f"unreachable for {human_duration(failing)}; last {f.stage} failure: {f.message}",
        f.hint or "check the host is powered and on the network",
        stage=str(f.stage),
        failing_for_s=round(failing),
        tolerance_s=ctx.thresholds.remote_failure_tolerance_s,
    )


@detector("host_key_changed", Needs.HANDSHAKE)
def host_key_changed(ctx: Context) -> Finding | None:
    """The host offered a key different from the one on record; the connection was refused."""
    f = ctx.obs.failure
    if f is None or not f.key_changed:
        return None
    return ctx.finding("host_key_changed", Severity.CRITICAL, f.message, f.hint, stage=str(f.stage))


@detector("runner_missing", Needs.SNAPSHOT)
def runner_missing(ctx: Context) -> Finding | None:
    """``agent-runner`` was not found on the host (PATH of a non-interactive shell, ~/.local/bin …)."""
    snap = ctx.obs.snapshot
    if snap is None or snap.runner is not None:
        return None
    return ctx.finding(
        "runner_missing",
        Severity.CRITICAL,
        f"agent-runner not found on the host (looked in {snap.runner_searched})",
        "install cli-agent-runner there, or set `runner:` for this host in the inventory",
        searched=snap.runner_searched,
    )


@detector("snapshot_invalid", Needs.OBSERVATION)
def snapshot_invalid(ctx: Context) -> Finding | None:
    """The host answered but peek crashed, printed garbage or an unknown schema; the remote's words."""
    f = ctx.obs.failure
    if f is not None and f.stage is Stage.PARSE:
        return ctx.finding("snapshot_invalid", Severity.WARNING, f.message, f.hint, stage=str(f.stage))
    snap = ctx.obs.snapshot
    if snap is None or (snap.peek_error is None and snap.problems is None):
        return None
    if snap.peek_error is not None:
        return ctx.finding(
            "snapshot_invalid",
            Severity.WARNING,
            snap.peek_error,
            "run the same `agent-runner --json peek` on the host to see the full error",
        )
    return ctx.finding(
        "snapshot_invalid",
        Severity.WARNING,
        f"the host's data did not validate (those values were ignored): {snap.problems}",
        "a broken or mismatched agent-runner, or something on the host tampering with its output; "
        "run `agent-runner --json peek` there",
        problems=snap.problems,
    )


@detector("clock_skew", Needs.SNAPSHOT)
def clock_skew(ctx: Context) -> Finding | None:
    """The host's clock differs from ours by more than ``clock_skew_s`` (timestamps lie; TLS may fail)."""
    snap = ctx.obs.snapshot
    if snap is None or snap.facts is None:
        return None
    skew = snap.facts.time - snap.received_at
    if abs(skew) <= ctx.thresholds.clock_skew_s:
        return None
    way = "ahead of" if skew > 0 else "behind"
    return ctx.finding(
        "clock_skew",
        Severity.WARNING,
        f"host clock is {abs(skew):.0f} s {way} ours",
        "enable NTP on the host (timedatectl set-ntp true)",
        skew_s=round(skew, 1),
    )


def _disk(ctx: Context) -> tuple[float, str] | None:
    snap = ctx.obs.snapshot
    return snap.disk() if snap is not None else None


@detector("disk_critical", Needs.SNAPSHOT)
def disk_critical(ctx: Context) -> Finding | None:
    """Disk holding the runner's logs at or above ``disk_critical_pct`` (live measurement)."""
    disk = _disk(ctx)
    if disk is None or disk[0] < ctx.thresholds.disk_critical_pct:
        return None
    return ctx.finding(
        "disk_critical",
        Severity.CRITICAL,
        f"disk {disk[0]:.1f}% full (≥ {ctx.thresholds.disk_critical_pct:g}%) at {disk[1]}",
        "stop the runner and free space (old round logs under ~/.agent-runner/<project>/logs)",
        used_pct=disk[0],
        path=disk[1],
        threshold_pct=ctx.thresholds.disk_critical_pct,
    )


@detector("disk_warning", Needs.SNAPSHOT)
def disk_warning(ctx: Context) -> Finding | None:
    """Disk at or above ``disk_warning_pct`` but below critical."""
    disk = _disk(ctx)
    t = ctx.thresholds
    if disk is None or not t.disk_warning_pct <= disk[0] < t.disk_critical_pct:
        return None
    return ctx.finding(
        "disk_warning",
        Severity.WARNING,
        f"disk {disk[0]:.1f}% full (≥ {t.disk_warning_pct:g}%) at {disk[1]}",
        "free space soon: old round logs under ~/.agent-runner/<project>/logs",
        used_pct=disk[0],
        path=disk[1],
        threshold_pct=t.disk_warning_pct,
    )


DETECTORS = (
    remote_blip,
    remote_giveup,
    host_key_changed,
    runner_missing,
    snapshot_invalid,
    clock_skew,
    disk_critical,
    disk_warning,
)
"""This module's detectors, in the order they run."""
