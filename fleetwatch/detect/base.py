"""What every detector sees, and the registry they join.  Pure: no I/O, no clock reads."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar, cast

from fleetwatch.findings import Finding, Observation, Severity
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Event

T = TypeVar("T")
_ROUND_FILE = re.compile(r"(?:^|/)R(\d+)-[^/]*$")


class Needs(enum.IntEnum):
    """What a detector must have to say anything; without it the detector is not evaluated
    (and its open episode neither resolves nor re-fires)."""

    OBSERVATION = 0
    """Any poll outcome."""
    HANDSHAKE = 1
    """The SSH handshake got past the host key (success, or failure at auth or later)."""
    SNAPSHOT = 2
    """The probe ran and answered."""
    PEEK = 3
    """agent-runner peek output was parsed."""


NOT_EVALUATED = object()
"""What a detector returns when the host's data lacks what it reads: its episode neither fires nor
resolves (a rule whose field is missing, a rule not meant for this host)."""


@dataclass(frozen=True)
class Context:
    """One host's observation plus derived views the detectors share."""

    obs: Observation
    thresholds: Thresholds
    now: float
    groups: tuple[str, ...] = ()
    """The host's inventory groups."""

    @property
    def host(self) -> str:
        """The host alias."""
        return self.obs.host

    def derived(self, key: str, make: Callable[[], T]) -> T:
        """A view of this host's data computed once per pass and shared by every detector that asks
        for it by ``key`` (every rule reads the same fields document)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_derived", {})
        if key not in cache:
            cache[key] = make()
        return cast(T, cache[key])

    @cached_property
    def events(self) -> tuple[Event, ...]:
        """Supervisor events, oldest first (empty without a peek)."""
        snap = self.obs.snapshot
        return snap.peek.events if snap and snap.peek else ()

    @cached_property
    def remote_now(self) -> float:
        """The host's own clock at poll time: event ages measured on it are immune to clock skew."""
        snap = self.obs.snapshot
        return snap.remote_time if snap is not None else self.now

    @cached_property
    def exits(self) -> tuple[Event, ...]:
        """The last ``exit_window`` ``agent_exit`` events."""
        exits = [e for e in self.events if e.kind == "agent_exit"]
        return tuple(exits[-self.thresholds.exit_window :])

    @cached_property
    def log_tails(self) -> Mapping[int, str]:
        """Round number -> tail of that round's log (from ``R<n>-<stamp>.log``)."""
        snap = self.obs.snapshot
        tails: dict[int, str] = {}
        for log in snap.round_logs if snap else ():
            match = _ROUND_FILE.search(log.path)
            if match:
                tails[int(match.group(1))] = log.tail
        return tails

    @cached_property
    def round_budget_s(self) -> float:
        """The project's round budget, or the configured fallback."""
        snap = self.obs.snapshot
        budget = snap.peek.round_budget_s if snap and snap.peek else None
        return budget or self.thresholds.stale_default_budget_s

    def short_exit(self, exit_event: Event) -> bool:
        """agent-runner's "short exit": non-zero, under ``short_exit_s``, not timed out."""
        data = exit_event.data
        code = data.get("exit_code", 0)
        return (
            code not in (0, None)
            and float(data.get("duration_s") or 0.0) < self.thresholds.short_exit_s
            and not data.get("timed_out", False)
        )

    def finding(
        self, detector: str, severity: Severity, message: str, hint: str = "", **context: Any
    ) -> Finding:
        """A finding for this host."""
        return Finding(self.host, detector, severity, message, hint, context)


DetectorFn = Callable[[Context], object]
"""A check: returns a ``Finding``, None (nothing wrong), or ``NOT_EVALUATED``."""


@dataclass(frozen=True)
class Detector:
    """A named pure check and what it needs to be evaluated."""

    name: str
    needs: Needs
    fn: DetectorFn = field(repr=False)
    doc: str = ""
    source: str = "built-in"
    """``built-in``, or the ``file:line`` of the user's rule it was made from."""


def detector(name: str, needs: Needs) -> Callable[[DetectorFn], Detector]:
    """Make a detector of a function (its docstring is the detector's documentation); each module lists
    its detectors in ``DETECTORS``, and ``fleetwatch.detect.BUILTIN`` is the catalogue of them all."""

    def make(fn: DetectorFn) -> Detector:
        return Detector(name, needs, fn, (fn.__doc__ or "").strip())

    return make
