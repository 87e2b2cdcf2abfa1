"""The fleet table's columns: what each cell of a status row says, how rows sort, which columns fit.

Pure presentation of ``HostStatus`` (no Textual): a cell is its text and a rich style, plain tuples the
table widget compares cheaply by row key and column key (only changed cells become ``Text``).  A
host's values are shown bracketed and dim when they are not current
(its latest poll failed, or is too old), with their age in the POLL column, as ``fleetwatch status``
does, so nothing old ever reads as current.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleetwatch.basics import human_duration
from fleetwatch.findings import Severity
from fleetwatch.polls import HostFacts
from fleetwatch.status import HostState, HostStatus

STATE_STYLES: Mapping[HostState, str] = {
    # Badges (a background) read on dark, light and monochrome terminals alike; the word says it anyway.
    HostState.CRIT: "bold white on red",
    HostState.UNREACHABLE: "bold white on #7d3c98",  # not magenta: the dark theme draws it as CRIT's red
    HostState.WARN: "bold black on yellow",
    HostState.UNKNOWN: "bold black on cyan",
    HostState.NEVER_POLLED: "italic",
    HostState.OK: "bold green",
}


def severity_styles(no_color: bool) -> Mapping[Severity, str]:
    """How an alert's name is drawn.  Under ``NO_COLOR`` Textual turns colours into greys, and a red
    name became dark grey on the dark theme's near-black: there, weight and reverse video carry it."""
    if no_color:
        return {Severity.CRITICAL: "bold reverse", Severity.WARNING: "bold underline", Severity.INFO: ""}
    return {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: ""}


SEVERITY_STYLES = severity_styles("NO_COLOR" in os.environ)
WORST_FIRST = (
    HostState.CRIT,
    HostState.UNREACHABLE,
    HostState.WARN,
    HostState.UNKNOWN,
    HostState.NEVER_POLLED,
    HostState.OK,
)
Cell = tuple[str, str]
"""A cell's text and its rich style ("" for none)."""
OLD = "dim"
"""Style of values that are not current (bracketed as well, for monochrome terminals)."""


@dataclass(frozen=True)
class Column:
    """One column: its key, header, fixed width and how soon it is dropped on a narrow screen."""

    key: str
    label: str
    width: int
    keep: int
    """Lower is kept longer: the columns that fit are taken in this order, then shown in table order."""
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("host", "HOST", 16, 0, "the host alias"),
    Column("state", "STATE", 12, 0, "OK, WARN, CRIT, UNREACHABLE, UNKNOWN or NEVER POLLED"),
    Column("round", "ROUND", 7, 6, "agent-runner's current round"),
    Column("phase", "PHASE", 10, 8, "the round's phase (or 'serve off')"),
    Column("event", "LAST EVENT", 12, 4, "age of the newest supervisor event"),
    Column("disk", "DISK", 6, 3, "disk use of the runner's log filesystem"),
    Column("load", "LOAD", 7, 5, "1-minute load average"),
    Column("alerts", "ALERTS", 18, 1, "open alerts, worst first (* muted)"),
    Column("spend", "SPEND", 8, 7, "agents' spend today (from history)"),
    Column("poll", "POLL", 13, 2, "latest poll's latency, polling… while out, or the values' age"),
    Column("group", "GROUP", 12, 9, "inventory groups"),
)
BY_KEY: Mapping[str, Column] = {c.key: c for c in COLUMNS}
PADDING = 2
"""Cells take their width plus one space either side."""
ARROWS = ("▼", "▲")
"""After the sorted column's label: worst first, or reversed (every width leaves room for it)."""


def fitting(width: int, host_width: int, *, spend: bool) -> tuple[Column, ...]:
    """The columns that fit in ``width`` cells, in table order (HOST and STATE always: the screen
    drops columns, it never refuses to start); ``spend`` only when there is a history to read it from."""
    chosen: list[Column] = []
    used = 0
    for col in sorted(COLUMNS, key=lambda c: c.keep):
        if col.key == "spend" and not spend:
            continue
        need = (host_width if col.key == "host" else col.width) + PADDING
        if col.keep == 0 or used + need <= width:
            chosen.append(col)
            used += need
    keys = {c.key for c in chosen}
    return tuple(c for c in COLUMNS if c.key in keys)


def _load(value: float) -> str:
    """At most 5 characters (7 with the brackets of an old value, the LOAD column's width)."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def host_width(aliases: Sequence[str]) -> int:
    """The HOST column's width for these aliases (fixed for a run: widths never move under the cursor)."""
    return max(8, min(24, max((len(a) for a in aliases), default=8)))


@dataclass(frozen=True)
class RowContext:
    """What a row needs besides its status: the clock, polls in flight."""

    now: float
    polling_since: Mapping[str, float] = field(default_factory=dict)
    """Hosts whose poll of the running pass has not ended, and since when."""
    latency: Mapping[str, float | None] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    """Polls that failed in the running pass, and at which stage."""
    """Latency of polls that ended in the running pass (shown before the pass settles)."""


def money(usd: float) -> str:
    """``$12.34``; cents hide an agent's small spend, so below a dollar: ``$0.0012``."""
    return f"${usd:.2f}" if abs(usd) >= 1 else f"${usd:.4f}"


def _old(text: str, current: bool) -> Cell:
    if text == "-" or current:
        return (text, "")
    return (f"[{text}]", OLD)


def _facts(h: HostStatus) -> HostFacts | None:
    return h.poll.facts if h.poll is not None else None


def poll_cell(h: HostStatus, ctx: RowContext) -> Cell:
    """``polling… 12 s`` while out; the latest latency; or how old the shown values are."""
    since = ctx.polling_since.get(h.alias)
    if since is not None:
        return (f"polling… {human_duration(max(0.0, ctx.now - since))}", "italic")
    if h.alias in ctx.failed:
        return (f"✗ {ctx.failed[h.alias]}", OLD)
    if h.alias in ctx.latency:
        latency = ctx.latency[h.alias]
        return (f"{latency:.1f} s" if latency is not None else "done", "")
    poll = h.poll
    if poll is None:
        return ("-", "")
    if h.current:
        return (f"{poll.latency_s:.1f} s" if poll.latency_s is not None else "ok", "")
    if poll.ok_at is None:  # never answered: say where it fails
        return (f"✗ {poll.stage}" if poll.failed_last and poll.stage else "never ok", OLD)
    return (f"ok {human_duration(max(0.0, ctx.now - poll.ok_at))} ago", OLD)


def alerts_cell(h: HostStatus) -> Cell:
    """The worst open alert, ``+N`` more; ``*`` marks a muted one (silenced, acked or inhibited)."""
    if not h.alerts:
        return ("-", "")
    first = h.alerts[0]
    text = first.episode.detector + ("" if first.live else "*")
    if len(h.alerts) > 1:
        text += f" +{len(h.alerts) - 1}"
    live = h.live_severity
    return (text, SEVERITY_STYLES[live] if live is not None else OLD)


def cells(h: HostStatus, ctx: RowContext) -> dict[str, Cell]:
    """Every column's cell for one host (the table shows the ones that fit)."""
    facts = _facts(h)
    current = h.current
    state = (str(h.state), STATE_STYLES[h.state])
    row = {
        "host": (h.alias, "" if h.enabled else "dim strike"),
        "state": state,
        "round": ("-", ""),
        "phase": ("-", ""),
        "event": ("-", ""),
        "disk": ("-", ""),
        "load": ("-", ""),
        "alerts": alerts_cell(h),
        "spend": (money(h.spend_today_usd) if h.spend_today_usd is not None else "-", ""),
        "poll": poll_cell(h, ctx),
        "group": (",".join(h.groups) or "-", ""),
    }
    if facts is not None:
        age = facts.newest_event_age_s(ctx.now)
        phase = facts.phase or ("serve off" if facts.serve_active is False else "-")
        row.update(
            {
                "round": _old(f"R{facts.round}" if facts.round is not None else "-", current),
                "phase": _old(phase, current),
                "event": _old(human_duration(age) if age is not None else "-", current),
                "disk": _old(
                    f"{facts.disk_used_pct:.0f}%" if facts.disk_used_pct is not None else "-", current
                ),
                "load": _old(_load(facts.load_1m) if facts.load_1m is not None else "-", current),
            }
        )
    return row


SortKey = tuple[float | str, ...]


def _number(value: float | None, worst_high: bool = True) -> float:
    """A sort key putting the worst end first and unknown values last."""
    if value is None:
        return math.inf
    return -value if worst_high else value


def sort_key(column: str, h: HostStatus, ctx: RowContext) -> SortKey:
    """Ascending order of this key is "worst first" for ``column``; ties fall back to the state order."""
    facts = _facts(h)
    state = (
        0 if h.enabled else 1,
        WORST_FIRST.index(h.state),
        0 if h.live_severity is not None else 1,  # live alerts before muted ones
        -len(h.alerts),
    )
    age = facts.newest_event_age_s(ctx.now) if facts is not None else None
    latency = h.poll.latency_s if h.poll is not None else None
    own: SortKey
    if column == "host":
        own = (h.alias,)
    elif column == "round":
        own = (_number(float(facts.round) if facts and facts.round is not None else None),)
    elif column == "phase":
        own = (facts.phase or "~" if facts is not None else "~",)
    elif column == "event":
        own = (_number(age),)
    elif column == "disk":
        own = (_number(facts.disk_used_pct if facts else None),)
    elif column == "load":
        own = (_number(facts.load_1m if facts else None),)
    elif column == "alerts":
        own = (-sum(1 for a in h.alerts if a.live), -len(h.alerts))
    elif column == "spend":
        own = (_number(h.spend_today_usd),)
    elif column == "poll":
        since = ctx.polling_since.get(h.alias)
        own = (_number(ctx.now - since if since is not None else latency),)
    elif column == "group":
        own = (",".join(h.groups) or "~",)
    else:  # "state" and anything unknown: the default, worst first
        own = ()
    return (*own, *state, h.alias)
