"""The watcher's own trouble is not the fleet's.  Pure.

- Offline: when most hosts fail to connect in the same pass (laptop offline, VPN or bastion down),
  one ``watcher_offline`` finding on the watcher itself replaces an episode per host, and those
  failures neither start nor extend the hosts' failure clocks.
- Gap: when the last pass is much older than the interval (laptop sleep or suspend, cron stopped),
  the failure clocks restart, so the gap alone can never add up to a ``remote_giveup``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from fleetwatch.detect.base import human_duration
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

    offline_fraction: float = 0.5
    """More than this share of the polled hosts failing to resolve/connect means we are offline."""
    offline_min_hosts: int = 3
    """Below this many polled hosts one cannot tell "offline" from "two Pis died"."""
    gap_factor: float = 3.0
    """A pass more than this × the interval after the previous one follows a gap (sleep, suspend)."""


@dataclass(frozen=True)
class Vantage:
    """How this pass saw the fleet."""

    polled: int
    unreached: tuple[str, ...]
    offline: bool
    gap_s: float | None
    """Seconds since the previous pass when that counts as a gap, else None."""


def assess(
    results: Mapping[str, Snapshot | PollFailure],
    last_pass_at: float | None,
    now: float,
    interval_s: float,
    rules: VantageRules | None = None,
) -> Vantage:
    """Decide whether this pass says more about the watcher than about the hosts."""
    rules = rules or VantageRules()
    unreached = tuple(
        sorted(a for a, r in results.items() if isinstance(r, PollFailure) and r.stage in _UNREACHED)
    )
    polled = len(results)
    offline = polled >= rules.offline_min_hosts and len(unreached) > math.floor(
        rules.offline_fraction * polled
    )
    since = None if last_pass_at is None else now - last_pass_at
    gap = since if since is not None and since > rules.gap_factor * interval_s else None
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
