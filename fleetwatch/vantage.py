"""The watcher's own trouble is not the fleet's.  Pure.

- Offline: when most hosts fail to connect in the same pass (laptop offline, VPN or bastion down),
  one ``watcher_offline`` finding on the watcher itself replaces an episode per host, and those
  failures neither start nor extend the hosts' failure clocks.
- Gap: when the last pass is much older than the usual spacing of passes (laptop sleep or suspend,
  cron stopped), the failure clocks restart, so the gap alone can never add up to a ``remote_giveup``.
  The usual spacing is the configured interval or, when longer, the median of the recent passes'.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetwatch.basics import require
from fleetwatch.episodes import Episode
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, PollFailure, Severity
from fleetwatch.snapshot import Snapshot

WATCHER = "fleetwatch"
"""The host name findings about the watcher itself are filed under."""
JUMP_DOWN = "jump_host_down"
WATCHER_DETECTORS = frozenset({"watcher_offline"})
VANTAGE_DETECTORS = WATCHER_DETECTORS | {JUMP_DOWN}
"""Detectors about the path to the fleet rather than a host: known names for config, silences, docs."""
GIVEUP = "remote_giveup"
_UNREACHED = (Stage.RESOLVE, Stage.CONNECT)


@dataclass(frozen=True)
class VantageRules:
    """When to blame the watcher instead of the fleet."""

    fraction: float = 0.5
    """More than this share of the polled hosts failing to resolve/connect means we are offline."""
    min_hosts: int = 3
    """Below this many polled hosts one cannot tell "offline" from "two Pis died"."""
    gap_factor: float = 3.0
    """A pass more than this × the usual spacing after the previous one follows a gap (sleep, suspend)."""

    def __post_init__(self) -> None:
        ok = math.isfinite(self.fraction) and 0 <= self.fraction <= 1
        require(ok, f"offline.fraction must be a fraction from 0 to 1, got {self.fraction:g}")
        require(self.min_hosts >= 1, f"offline.min_hosts must be at least 1, got {self.min_hosts}")
        ok = math.isfinite(self.gap_factor) and self.gap_factor > 1
        require(ok, f"offline.gap_factor must be more than 1 (× the usual spacing), got {self.gap_factor:g}")


@dataclass(frozen=True)
class Vantage:
    """How this pass saw the fleet."""

    polled: int
    unreached: tuple[str, ...]
    offline: bool
    gap_s: float | None
    """Seconds since the previous pass when that counts as a gap, else None."""
    first_error: str = ""
    """What the first unreached host's poll said (``connect failed: …``), to show what was tried."""


def cadence(previous_passes: Sequence[float], interval_s: float) -> float:
    """The usual time between passes: the configured interval, or the median of the recent spacing when
    that is longer (cron every 30 min with no ``--interval`` must not look like a sleep every time)."""
    spacing = sorted(b - a for a, b in itertools.pairwise(previous_passes) if b > a)
    return max(interval_s, statistics.median(spacing)) if spacing else interval_s


def assess(
    results: Mapping[str, Snapshot | PollFailure],
    previous_passes: Sequence[float],
    now: float,
    interval_s: float,
    rules: VantageRules | None = None,
) -> Vantage:
    """Decide whether this pass says more about the watcher than about the hosts.

    ``previous_passes``: when the last few passes ran, oldest first.
    """
    rules = rules or VantageRules()
    # Hosts behind a jump host that is down are explained by it (``jump_findings``), not by us.
    direct = {a: r for a, r in results.items() if not (isinstance(r, PollFailure) and r.via)}
    failed = {a: r for a, r in direct.items() if isinstance(r, PollFailure) and r.stage in _UNREACHED}
    unreached = tuple(sorted(failed))
    first = failed[unreached[0]] if unreached else None
    polled = len(direct)
    offline = polled >= rules.min_hosts and len(unreached) > math.floor(rules.fraction * polled)
    since = now - previous_passes[-1] if previous_passes else None
    usual = cadence(previous_passes, interval_s)
    gap = since if since is not None and since > rules.gap_factor * usual else None
    said = f"{first.stage} failed: {first.message}" if first is not None else ""
    return Vantage(polled, unreached, offline, gap, said)


def watcher_finding(v: Vantage) -> Finding | None:
    """One finding for the whole pass when the watcher seems offline."""
    if not v.offline:
        return None
    names = ", ".join(v.unreached[:5]) + (" …" if len(v.unreached) > 5 else "")
    return Finding(
        WATCHER,
        "watcher_offline",
        Severity.WARNING,
        f"{len(v.unreached)} of {v.polled} hosts unreachable in one pass ({names}; first: {v.first_error}): "
        "this machine's network, VPN or jump host is probably down, not the fleet",
        "check this machine's connectivity (ping a host, `ssh -v` one alias); per-host alerts resume "
        "when it is back",
        {"unreached": list(v.unreached), "polled": v.polled, "first_error": v.first_error},
    )


def jump_findings(
    results: Mapping[str, Snapshot | PollFailure],
    jumps_used: Mapping[str, Sequence[str]],
    failing_since: Mapping[str, float],
    tolerance_s: Mapping[str, float],
    now: float,
) -> tuple[list[Finding], dict[str, frozenset[str]]]:
    """One ``jump_host_down`` per ProxyJump hop that failed this pass, instead of an alert per host
    behind it (Alertmanager's inhibition, Icinga's parents); critical once the hop has failed for its
    ``tolerance_s``.  Returns the findings and, per jump host used this pass, what was evaluated.

    ``jumps_used``: host -> the jump hosts its connection goes through; ``failing_since``: jump host ->
    when it started failing (its failure clock)."""
    behind: dict[str, list[tuple[str, PollFailure]]] = {}
    for alias, r in results.items():
        if isinstance(r, PollFailure) and r.via:
            behind.setdefault(r.via, []).append((alias, r))
    used = {j for alias in results for j in jumps_used.get(alias, ())} | set(behind)
    findings = []
    for jump, failed in sorted(behind.items()):
        hosts = sorted(a for a, _ in failed)
        reason = failed[0][1].message.removeprefix(f"via jump host {jump}: ")
        since = failing_since.get(jump, now)
        down_for = now - since
        severity = Severity.CRITICAL if down_for >= tolerance_s[jump] else Severity.WARNING
        names = ", ".join(hosts[:5]) + (" …" if len(hosts) > 5 else "")
        findings.append(
            Finding(
                jump,
                JUMP_DOWN,
                severity,
                f"jump host {jump} unreachable ({failed[0][1].stage} failed: {reason}); {len(hosts)} "
                f"host{'s' if len(hosts) != 1 else ''} behind it not polled ({names})",
                f"check {jump}; the hosts behind it are not judged until it answers",
                {"hosts": hosts, "failing_for_s": round(down_for), "stage": str(failed[0][1].stage)},
            )
        )
    return findings, {jump: frozenset({JUMP_DOWN}) for jump in used}


def inhibitions(
    episodes: Mapping[tuple[str, str], Episode], via: Mapping[str, str | None]
) -> dict[tuple[str, str], str]:
    """Open episodes a root cause explains, and by what: a host in ``remote_giveup`` mutes its other
    detectors, and a host whose jump host is down (``via``: host -> the hop its poll failed at) mutes
    all of its own.  They stay open and visible; they neither notify nor raise the exit code."""
    giving_up = {h for (h, d), ep in episodes.items() if d == GIVEUP and ep.opened}
    jumps_down = {h for (h, d), ep in episodes.items() if d == JUMP_DOWN and ep.opened}
    out: dict[tuple[str, str], str] = {}
    for host, detector in episodes:
        jump = via.get(host)
        if jump is not None and jump in jumps_down:
            out[(host, detector)] = f"{JUMP_DOWN} on {jump}"
        elif host in giving_up and detector != GIVEUP:
            out[(host, detector)] = f"{GIVEUP}: {host} is unreachable"
    return out
