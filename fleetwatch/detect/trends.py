"""Detectors over a host's history: the problems you can see coming.  Pure: samples, spend and ``now``.

They read ``Observation.history`` (recent raw samples and spend aggregates, loaded by the pass) and
are silent without it.  Thresholds come from inventories like every other detector's.
"""

from __future__ import annotations

from fleetwatch.basics import human_duration, iso
from fleetwatch.detect.base import Context, Needs, detector
from fleetwatch.findings import Finding, Severity

MIN_POINTS = 4
"""A fill rate needs at least this many samples …"""
MIN_SPAN_FRACTION = 0.25
"""… spanning at least this share of the window."""


@detector("disk_fill_eta", Needs.SNAPSHOT)
def disk_fill_eta(ctx: Context) -> Finding | None:
    """At the recent fill rate (least squares over ``disk_fill_window_h``) the log filesystem is full
    within ``disk_fill_warning_h`` (warning) / ``disk_fill_critical_h`` (critical); quiet when flat or
    shrinking, and once ``disk_critical`` has fired."""
    history, snap, t = ctx.obs.history, ctx.obs.snapshot, ctx.thresholds
    disk = snap.disk() if snap is not None else None
    trend = history.disk if history is not None else None
    if trend is None or disk is None or disk[0] >= t.disk_critical_pct:
        return None
    window = t.disk_fill_window_h * 3600
    if trend.n < MIN_POINTS or trend.span_s < MIN_SPAN_FRACTION * window:
        return None
    slope = trend.slope_per_s
    if slope is None or slope <= 0:
        return None
    eta_s = (100.0 - disk[0]) / slope
    if eta_s > t.disk_fill_warning_h * 3600:
        return None
    severity = Severity.CRITICAL if eta_s <= t.disk_fill_critical_h * 3600 else Severity.WARNING
    per_hour = slope * 3600
    return ctx.finding(
        "disk_fill_eta",
        severity,
        f"disk {disk[0]:.1f}% full and growing {per_hour:.2f} %/h: full in {human_duration(eta_s)} "
        f"(around {iso(ctx.now + eta_s, sep=' ')}) at {disk[1]}",
        "free space before it fills: old round logs under ~/.agent-runner/<project>/logs, or a bigger disk",
        used_pct=disk[0],
        rate_pct_per_h=round(per_hour, 3),
        full_at=iso(ctx.now + eta_s),
        eta_s=round(eta_s),
        window_h=t.disk_fill_window_h,
    )


@detector("spend_budget", Needs.SNAPSHOT)
def spend_budget(ctx: Context) -> Finding | None:
    """The host spent 90 % (warning) / 100 % (critical) of its daily ``spend_budget_usd`` today (the
    operator's day); off while the budget is 0."""
    history, own = ctx.obs.history, ctx.thresholds.spend_budget_usd
    if history is None:
        return None
    mine = history.spend.today_usd
    budgets = [("", mine, own)] if own > 0 else []
    budgets += [(s.scope, s.spent_usd, s.budget_usd) for s in history.shared if s.budget_usd > 0]
    if not budgets:
        return None
    scope, spent, budget = max(budgets, key=lambda b: b[1] / b[2])  # the budget closest to its end
    if spent < 0.9 * budget:
        return None
    severity = Severity.CRITICAL if spent >= budget else Severity.WARNING
    rate = history.spend.last_hour_usd
    who = f"{scope} spent" if scope else "spent"
    this = f"; this host ${mine:.2f}" if scope else ""
    return ctx.finding(
        "spend_budget",
        severity,
        f"{who} ${spent:.2f} of ${budget:.2f} today ({spent / budget:.0%}{this}); burning ${rate:.2f}/h "
        f"(last hour, {history.spend.rounds_today} rounds today)",
        "stop the runner or raise the budget (thresholds: spend_budget_usd; budgets: in the config for "
        "a group or the fleet) if this is expected",
        budget_scope=scope or "host",
        spent_usd=round(spent, 4),
        budget_usd=budget,
        host_spent_usd=round(mine, 4),
        burn_usd_per_h=round(rate, 4),
    )


@detector("spend_rate", Needs.SNAPSHOT)
def spend_rate(ctx: Context) -> Finding | None:
    """The last hour cost ``spend_rate_factor`` × the host's usual hourly spend (and at least
    ``spend_rate_min_usd``): a runaway agent.  Needs a day of usual spend to compare with."""
    history, t = ctx.obs.history, ctx.thresholds
    if history is None or history.spend.baseline_usd_per_hour is None:
        return None
    usual, last = history.spend.baseline_usd_per_hour, history.spend.last_hour_usd
    if last < t.spend_rate_min_usd or last < t.spend_rate_factor * usual:
        return None
    since = history.spend.last_hour_since
    when = f" since {iso(since, sep=' ')}" if since is not None else ""
    factor = last / usual if usual > 0 else float("inf")
    said = f"{factor:.0f}×" if usual > 0 else "far above"
    return ctx.finding(
        "spend_rate",
        Severity.WARNING,
        f"spent ${last:.2f} in the last hour{when}: {said} its usual ${usual:.2f}/h",
        "look at what the agent is doing (latest round log); stop it if it is looping",
        last_hour_usd=round(last, 4),
        usual_usd_per_h=round(usual, 4),
        since=iso(since) if since is not None else None,
    )


@detector("no_progress", Needs.PEEK)
def no_progress(ctx: Context) -> Finding | None:
    """serve is active but no round completed for ``no_progress_factor`` × the round budget (history
    shows serve active the whole time)."""
    history, snap = ctx.obs.history, ctx.obs.snapshot
    peek = snap.peek if snap is not None else None
    if history is None or peek is None or not peek.service.get("active"):
        return None
    window = ctx.thresholds.no_progress_factor * ctx.round_budget_s
    since = history.active_since
    if since is None or since > ctx.now - window * 0.95:
        return None  # not watched long enough, or serve was restarted / stopped in between
    ends = [e.ts for e in ctx.events if e.kind == "round_end"]
    last = max([*ends, history.spend.last_round_at or 0.0]) or None
    if last is not None and ctx.remote_now - last <= window:
        return None
    said = f"last round completed {human_duration(ctx.remote_now - last)} ago" if last else "no round yet"
    return ctx.finding(
        "no_progress",
        Severity.WARNING,
        f"serve has run {human_duration(window)} without completing a round ({said}; limit "
        f"{ctx.thresholds.no_progress_factor:g} × round budget {human_duration(ctx.round_budget_s)})",
        "look at the latest round log: the agent may be stuck before finishing any round",
        window_s=round(window),
        last_round_at=iso(last) if last else None,
    )


@detector("flapping", Needs.OBSERVATION)
def flapping(ctx: Context) -> Finding | None:
    """The host went unreachable and came back more than ``flapping_per_hour`` times in the last hour
    (one alert instead of a blip each time)."""
    history = ctx.obs.history
    if history is None:
        return None
    returns, polls = history.returns_last_hour, history.polls_last_hour
    if returns <= ctx.thresholds.flapping_per_hour:
        return None
    return ctx.finding(
        "flapping",
        Severity.WARNING,
        f"went unreachable and back {returns} times in the last hour ({polls} polls)",
        "an unstable link (Wi-Fi, power, a flaky switch port) or a host rebooting in a loop",
        returns=returns,
        polls=polls,
    )


DETECTORS = (disk_fill_eta, spend_budget, spend_rate, no_progress, flapping)
"""This module's detectors, in the order they run."""
