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

from fleetwatch.basics import human_duration
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, PollFailure, Severity
from fleetwatch.snapshot import Snapshot

WATCHER = "fleetwatch"
"""The host name findings about the watcher itself are filed under."""
WATCHER_DETECTORS = frozenset({"watcher_offline"})
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


@dataclass(frozen=True)
class Vantage:
    """How this pass saw the fleet."""

    polled: int
    unreached: tuple[str, ...]
    offline: bool
    gap_s: float | None
    """Seconds since the previous pass when that counts as a gap, else None."""


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
    unreached = tuple(
        sorted(a for a, r in results.items() if isinstance(r, PollFailure) and r.stage in _UNREACHED)
    )
    polled = len(results)
    offline = polled >= rules.min_hosts and len(unreached) > math.floor(rules.fraction * polled)
    since = now - previous_passes[-1] if previous_passes else None
    usual = cadence(previous_passes, interval_s)
    gap = since if since is not None and since > rules.gap_factor * usual else None
    return Vantage(polled, unreached, offline, gap)


def watcher_finding(v: Vantage) -> Finding | None:
    """One finding for the whole pass when the watcher seems offline."""
    if not v.offline:
        return None
    names = ", ".join(v.unreached[:5]) + (" …" if len(v.unreached) > 5 else "")
    return Finding(
        WATCHER,
        "watcher_offline",
        Severity.WARNING,
        f"{len(v.unreached)} of {v.polled} hosts unreachable in one pass ({names}): "
        "this machine's network, VPN or jump host is probably down, not the fleet",
        "check this machine's connectivity; per-host alerts resume when it is back",
        {"unreached": list(v.unreached), "polled": v.polled},
    )


def describe_gap(v: Vantage) -> str | None:
    """A one-line diagnostic for a gap, or None."""
    if v.gap_s is None:
        return None
    return f"last pass was {human_duration(v.gap_s)} ago (sleep or suspend?): failure clocks restarted"
