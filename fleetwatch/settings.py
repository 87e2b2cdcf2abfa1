"""Typed per-host settings: what a YAML inventory may set for a host, a group or as defaults.

Pure data: no I/O.  Defaults follow agent-runner's own detector semantics where they overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds; every field may be overridden per host, per group or in ``defaults``."""

    disk_warning_pct: float = 90.0
    """Disk use (of the filesystem holding the runner's logs) at or above which ``disk_warning`` fires."""
    disk_critical_pct: float = 95.0
    """Disk use at or above which ``disk_critical`` fires (critical)."""
    stale_factor: float = 1.5
    """``supervisor_stale`` fires when the newest supervisor event is older than this × the round budget."""
    stale_default_budget_s: float = 3600.0
    """Round budget assumed when the snapshot does not say (agent-runner's default round timeout)."""
    remote_failure_tolerance_s: float = 300.0
    """SSH must fail continuously this long before ``remote_giveup`` (critical); before: ``remote_blip``."""
    exit_window: int = 10
    """How many of the latest ``agent_exit`` events the rate detectors look at."""
    short_exit_s: float = 60.0
    """A non-zero, not-timed-out exit faster than this is a "short exit"."""
    rate_threshold: float = 0.20
    """Fraction of the window at which ``timeout_rate`` / ``network_fail`` fire."""
    clock_skew_s: float = 120.0
    """Remote clock further than this from ours is ``clock_skew`` (warning)."""


@dataclass(frozen=True)
class HostSettings:
    """Per-host settings from YAML inventories (host > group > defaults > built-in)."""

    enabled: bool = True
    """A disabled host is listed by ``fleetwatch hosts`` but never polled."""
    runner: str | None = None
    """Remote path of ``agent-runner``; default: found on PATH or in ~/.local/bin on the host."""
    config: str | None = None
    """Remote ``--config`` path for agent-runner; default: ./agent-runner.toml in the SSH login directory."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    """Detector thresholds."""
