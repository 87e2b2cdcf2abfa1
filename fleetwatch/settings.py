"""Typed settings the core uses: per host (from YAML inventories) and per pass (from the config file).

Pure data: no I/O.  Each setting is defined once, here or beside the code that uses it, and the config
file holds these very objects.  Defaults follow agent-runner's own detector semantics where they overlap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from fleetwatch.basics import INLINE, Duration, positive, require, yaml_key
from fleetwatch.episodes import Policy
from fleetwatch.history.model import HistorySettings
from fleetwatch.vantage import VantageRules

DEFAULT_TIMEOUT = Duration(20)
"""Hard deadline per host covering connect + command (and per auto-stop exec)."""
DEFAULT_CONCURRENCY = 32
DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
"""Cap on what one host's command may print (stdout and stderr together); a poll's output is ~100 KiB."""
MIN_MAX_OUTPUT_BYTES = 64 * 1024
MIN_INTERVAL_S = 1.0
"""The shortest time between passes."""
WATCH_INTERVAL = Duration(60)
"""Time between passes in watch mode unless configured."""
CHECK_INTERVAL = Duration(300)
"""How often cron is assumed to run ``check`` unless configured (fleetwatch also learns it)."""
CHECK_DEADLINE = Duration(60)
"""``check`` ends its pass after this long unless configured: well under cron's usual 5 minutes."""


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds; every field may be overridden per host, per group or in ``defaults``."""

    disk_warning_pct: float = 90.0
    """Disk use (of the filesystem holding the runner's logs) at or above which ``disk_warning`` fires."""
    disk_critical_pct: float = 95.0
    """Disk use at or above which ``disk_critical`` fires (critical)."""
    stale_factor: float = 1.5
    """``supervisor_stale`` fires when the newest supervisor event is older than this × the round budget."""
    supervisor_stale_threshold_s: float | None = None
    """An absolute ``supervisor_stale`` threshold (s) for the host, winning over the project's own
    ``[monitor] supervisor_stale_threshold_s`` and over ``stale_factor``; 0 turns the detector off."""
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
    disk_fill_warning_h: float = 24.0
    """``disk_fill_eta`` warns when, at the recent fill rate, the disk is full within this many hours."""
    disk_fill_critical_h: float = 4.0
    """… and is critical within this many."""
    disk_fill_window_h: float = 3.0
    """The recent fill rate is a least-squares fit over this many hours of samples."""
    spend_budget_usd: float = 0.0
    """Daily spend budget of the host (operator's day); ``spend_budget`` warns at 90 %, critical at 100 %.
    0: no budget."""
    spend_rate_factor: float = 5.0
    """``spend_rate`` fires when the last hour cost this many times the host's usual hourly spend …"""
    spend_rate_min_usd: float = 1.0
    """… and at least this much (a few cents are never a runaway)."""
    no_progress_factor: float = 3.0
    """``no_progress`` fires when serve ran this many round budgets without completing a round."""
    flapping_per_hour: int = 3
    """``flapping`` fires when the host went unreachable and back more than this many times in an hour."""


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


@dataclass(frozen=True)
class Budgets:
    """Daily spend budgets (USD, the operator's day) that several hosts share (``budgets:``); a host's own
    is its ``spend_budget_usd`` threshold.  ``spend_budget`` warns at 90 %, critical at 100 %."""

    fleet: float = 0.0
    """Every host's spend today together (0: no fleet budget)."""
    groups: Mapping[str, float] = field(default_factory=dict)
    """An inventory group's hosts together, e.g. ``{gpu: 20}``."""

    def __post_init__(self) -> None:
        for name, usd in {"fleet": self.fleet, **{f"groups.{g}": v for g, v in self.groups.items()}}.items():
            require(math.isfinite(usd) and usd >= 0, f"budgets.{name} must be 0 USD or more, got {usd}")


@dataclass(frozen=True)
class PassSettings:
    """Knobs of one pass beyond the host list (top-level keys of the config file)."""

    timeout: Duration = DEFAULT_TIMEOUT
    """Hard deadline per host for connect + command."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Hosts polled at once."""
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    """Bytes one host's command may print (stdout and stderr together); more is that host's failure at
    stage command and its session is closed.  A pass holds at most this × ``concurrency`` of output."""
    interval: Duration | None = None
    """The expected time between passes: watch mode's interval, or how often cron runs ``check`` (for
    sleep detection); None: the command's default (60 s watching, 5 min for ``check``)."""
    policy: Policy = field(default_factory=Policy, metadata=INLINE)
    """How findings become episodes (damping, reminders)."""
    vantage: VantageRules = field(default_factory=VantageRules, metadata=yaml_key("offline"))
    """Watcher-offline and sleep detection."""
    history: HistorySettings = field(default_factory=HistorySettings)
    """How long history is kept, and the operator's day (``history:``)."""
    budgets: Budgets = field(default_factory=Budgets)
    """Daily spend budgets of the whole fleet and of groups (``budgets:``)."""
    deadline: Duration | None = None
    """End a pass after this long, naming the hosts still pending; None: ``check`` uses
    ``CHECK_DEADLINE``, watching waits for every host's own ``timeout``."""

    def __post_init__(self) -> None:
        require(positive(self.timeout), f"timeout must be more than 0 s, got {self.timeout:g}")
        require(self.concurrency >= 1, f"concurrency must be at least 1 host, got {self.concurrency}")
        require(
            self.max_output_bytes >= MIN_MAX_OUTPUT_BYTES,
            f"max_output_bytes must be at least {MIN_MAX_OUTPUT_BYTES} (a poll prints ~100 KiB), "
            f"got {self.max_output_bytes}",
        )
        if self.interval is not None:
            # Below a second passes run back to back: every one looks like the end of a laptop sleep,
            # failure clocks restart and remote_giveup can never fire.
            require(
                positive(self.interval) and self.interval >= MIN_INTERVAL_S,
                f"interval must be at least {MIN_INTERVAL_S:g} s, got {self.interval:g}",
            )
        if self.deadline is not None:
            require(positive(self.deadline), f"deadline must be more than 0 s, got {self.deadline:g}")

    def with_defaults(self, interval: float, deadline: float | None = None) -> PassSettings:
        """These settings with the command's defaults for what was not configured."""
        return replace(
            self,
            interval=self.interval if self.interval is not None else Duration(interval),
            deadline=self.deadline if self.deadline is not None or deadline is None else Duration(deadline),
        )

    @property
    def interval_s(self) -> float:
        """The expected time between passes in seconds (watch mode's default when unset)."""
        return float(self.interval if self.interval is not None else WATCH_INTERVAL)
