"""The alert log's three tables: episode transitions across the fleet, notification deliveries and
stop actions, as keyed rows of cells (text, style).  Pure presentation of stored records.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from fleetwatch.actions.plan import MANUAL, AuditRecord, Outcome
from fleetwatch.basics import human_duration
from fleetwatch.episodes import Change, Transition
from fleetwatch.notify.model import DeliveryStatus
from fleetwatch.tui.columns import OLD, SEVERITY_STYLES, Cell
from fleetwatch.tui.detail import when

Row = tuple[str, tuple[Cell, ...]]
"""A row key and its cells."""

EPISODE_COLUMNS: Sequence[tuple[str, int | None]] = (
    ("TIME", 11),
    ("HOST", 16),
    ("CHANGE", 9),
    ("ALERT", 24),
    ("MESSAGE", None),
)
DELIVERY_COLUMNS: Sequence[tuple[str, int | None]] = (
    ("TIME", 11),
    ("NOTIFICATION", 30),
    ("TARGET", 20),
    ("STATE", 10),
    ("DETAIL", None),
)
ACTION_COLUMNS: Sequence[tuple[str, int | None]] = (
    ("TIME", 11),
    ("HOST", 16),
    ("ACTION", 22),
    ("OUTCOME", 10),
    ("DETAIL", None),
)
"""The tables' columns: header and width (``None``: the rest; the row under the cursor is also shown
in full below the table, so a narrow screen loses nothing)."""
_OUTCOME_STYLES = {
    Outcome.STOPPED: "bold green",
    Outcome.DRY_RUN: "italic",
    Outcome.DRAINING: "yellow",
    Outcome.UNVERIFIED: "yellow",
    Outcome.STARTED: "yellow",
    Outcome.FAILED: "bold red",
}
_DELIVERY_STYLES = {"sent": "green", "failed": "bold red", "pending": "yellow", "sending": "yellow"}


def episode_row(tid: int, t: Transition, now: float) -> Row:
    """One transition: opened, escalated, reminded or resolved."""
    ep = t.episode
    resolved = t.change is Change.RESOLVED
    style = "green" if resolved else SEVERITY_STYLES[ep.severity]
    if resolved:
        message = f"after {human_duration(max(0.0, t.at - ep.started_at))} — was: {ep.message}"
    else:
        message = ep.message + (f" → {ep.hint}" if ep.hint else "")
    cells = (
        (when(t.at, now), ""),
        (ep.host, ""),
        (str(t.change), style),
        (f"{'[ OK ]' if resolved else ep.severity.tag} {ep.detector}", style),
        (message, ""),
    )
    return f"t{tid}", cells


def delivery_row(d: DeliveryStatus, now: float) -> Row:
    """Where one notification stands with one target: sent, retrying (with why), suppressed …"""
    if d.state == "sent" and d.sent_at is not None:
        detail = f"sent {when(d.sent_at, now)}"
    elif d.state == "failed":
        retry = max(0.0, (d.next_attempt_at or now) - now)
        detail = f"retry in {human_duration(retry)} (attempt {d.attempts + 1}): {d.note or 'failed'}"
    elif d.state == "suppressed":
        detail = d.note or "suppressed"
    elif d.state == "no target":
        detail = "no notification target wants it"
    else:
        detail = f"attempt {d.attempts + 1}" if d.attempts else "queued"
    state = "retrying" if d.state == "failed" else d.state
    cells = (
        (when(d.created_at, now), ""),
        (d.title, SEVERITY_STYLES[d.severity]),
        (d.target or "-", ""),
        (state, _DELIVERY_STYLES.get(d.state, OLD)),
        (detail, ""),
    )
    return f"n{d.notification_id}.{d.delivery_id or 0}", cells


def action_row(rec: AuditRecord, now: float) -> Row:
    """One stop: what ran where, by whom, and its verified outcome."""
    what = "stop (by hand)" if rec.detector == MANUAL else f"auto-stop: {rec.detector}"
    if rec.dry_run:
        what += " [dry run]"
    detail = rec.detail or f"{shlex.join(rec.argv)} on {rec.where}"
    cells = (
        (when(rec.started_at, now), ""),
        (rec.host, ""),
        (what, ""),
        (str(rec.outcome), _OUTCOME_STYLES.get(rec.outcome, "")),
        (f"{detail} (by {rec.who})", ""),
    )
    return f"a{rec.id}", cells
