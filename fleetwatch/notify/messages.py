"""Transitions of one pass -> the notifications people read.  Pure: data and ``now`` in, messages out.

The same detector changing the same way on several hosts in one pass (every Pi failing auth
because one account's token expired) is one grouped notification, not one per host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from itertools import chain

from fleetwatch.basics import human_duration, iso
from fleetwatch.episodes import Change, Transition
from fleetwatch.findings import Severity
from fleetwatch.inventory.model import Host
from fleetwatch.notify.model import Notification
from fleetwatch.vantage import WATCHER

OK_TAG = "[ OK ]"
MAX_LISTED = 50
"""Hosts listed one per line in a grouped message; chat services cut long messages anyway."""


_WATCHER_TITLES = {
    Change.OPENED: "this watcher seems offline",
    Change.ESCALATED: "this watcher seems offline",
    Change.REMINDED: "this watcher is still offline",
    Change.RESOLVED: "this watcher is back online after {lasted}",
}
"""Titles for ``watcher_offline``: the trouble is this machine's, not a host's."""


def _natural(alias: str) -> list[str | int]:
    """Sort key putting pi2 before pi10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", alias)]


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"{parts[0]}/{parts[1]}/{digest}"


def _groups(aliases: Sequence[str], hosts: Mapping[str, Host]) -> tuple[str, ...]:
    """The hosts' groups; the watcher's own trouble concerns every group it watches."""
    if WATCHER in aliases:
        return tuple(sorted({g for h in hosts.values() for g in h.groups}))
    return tuple(sorted({g for a in aliases if a in hosts for g in hosts[a].groups}))


def _tag(change: Change, severity: Severity) -> str:
    return OK_TAG if change is Change.RESOLVED else severity.tag


def _title(change: Change, ts: Sequence[Transition]) -> str:
    ep = ts[0].episode
    lasted = human_duration(ts[0].at - ep.started_at)
    tag = _tag(change, max(t.episode.severity for t in ts))
    if ep.host == WATCHER and len(ts) == 1:
        return f"{tag} " + _WATCHER_TITLES[change].format(lasted=lasted)
    verb = {
        Change.OPENED: "",
        Change.ESCALATED: " escalated",
        Change.REMINDED: " still open",
        Change.RESOLVED: " resolved",
    }[change]
    if len(ts) > 1:
        return f"{tag} {ep.detector}{verb} on {len(ts)} hosts"
    if change is Change.RESOLVED:
        verb += f" after {lasted}"
    return f"{tag} {ep.host} {ep.detector}{verb}"


def _single_body(t: Transition, hosts: Mapping[str, Host]) -> str:
    ep = t.episode
    host = ep.host
    if host in hosts and hosts[host].groups:
        host += f" (groups: {', '.join(hosts[host].groups)})"
    lasted = human_duration(t.at - ep.started_at)
    if t.change is Change.RESOLVED:
        lines = [f"Resolved after {lasted} (open {iso(ep.started_at)} → {iso(t.at)}).", f"Was: {ep.message}"]
        if ep.host == WATCHER:
            lines.append("Notifications queued while it was offline are sent oldest first.")
    elif t.change is Change.REMINDED:
        lines = [f"Still open since {iso(ep.started_at)} ({lasted}).", ep.message]
    else:
        lines = [ep.message]
    if ep.hint and t.change is not Change.RESOLVED:
        lines.append(f"What to do: {ep.hint}")
    lines.append(f"Host: {host} · detector: {ep.detector} · severity: {ep.severity.label}")
    if t.change is not Change.RESOLVED:
        lines.append(f"Started: {iso(ep.started_at)}")
    return "\n".join(lines)


def _grouped_body(change: Change, ts: Sequence[Transition]) -> str:
    ep = ts[0].episode
    starts = {t.episode.started_at for t in ts}
    hints = {t.episode.hint for t in ts}
    lines = [f"{ep.detector} ({ep.severity.label}) {change.value} on {len(ts)} hosts:"]
    for t in ts[:MAX_LISTED]:
        e = t.episode
        if change is Change.RESOLVED:
            line = f"- {e.host}: resolved after {human_duration(t.at - e.started_at)}; was: {e.message}"
        else:
            line = f"- {e.host}: {e.message}"
            if len(starts) > 1:
                line += f" (since {iso(e.started_at)})"
            if len(hints) > 1 and e.hint:
                line += f" → {e.hint}"
        lines.append(line)
    if len(ts) > MAX_LISTED:
        rest = ", ".join(t.episode.host for t in ts[MAX_LISTED:])
        lines.append(f"… and {len(ts) - MAX_LISTED} more: {rest}")
    if change is not Change.RESOLVED:
        if len(hints) == 1 and ep.hint:
            lines.append(f"What to do: {ep.hint}")
        if len(starts) == 1:
            prefix = "Still open since" if change is Change.REMINDED else "Started:"
            lines.append(f"{prefix} {iso(ep.started_at)}")
    return "\n".join(lines)


def compose(transitions: Sequence[Transition], hosts: Mapping[str, Host], now: float) -> list[Notification]:
    """One notification per (change, detector) of this pass, listing every host it happened on."""
    buckets: dict[tuple[Change, str], list[Transition]] = {}
    for t in transitions:
        buckets.setdefault((t.change, t.episode.detector), []).append(t)
    out = []
    for (change, detector), ts in buckets.items():
        ts = sorted(ts, key=lambda t: _natural(t.episode.host))
        aliases = tuple(t.episode.host for t in ts)
        body = _single_body(ts[0], hosts) if len(ts) == 1 else _grouped_body(change, ts)
        out.append(
            Notification(
                key=_key(change.value, detector, repr(now), *aliases),
                kind=change.value,
                severity=max(t.episode.severity for t in ts),
                title=_title(change, ts),
                body=body,
                hosts=aliases,
                groups=_groups(aliases, hosts),
                created_at=now,
                detector=detector,
            )
        )
    return out


def compose_text(
    kind: str,
    severity: Severity,
    title: str,
    body: str,
    hosts: Sequence[Host | str],
    now: float,
    key: str | None = None,
) -> Notification:
    """An ad-hoc notification (an auto-stop outcome, a test message) about ``hosts``."""
    aliases = tuple(h if isinstance(h, str) else h.alias for h in hosts)
    groups = sorted(set(chain.from_iterable(h.groups for h in hosts if isinstance(h, Host))))
    tag = OK_TAG if kind == Change.RESOLVED.value else severity.tag
    return Notification(
        key=key or _key(kind, "-", repr(now), title, *aliases),
        kind=kind,
        severity=severity,
        title=title if title.startswith("[") else f"{tag} {title}",
        body=body,
        hosts=aliases,
        groups=tuple(groups),
        created_at=now,
    )
