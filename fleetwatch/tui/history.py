"""What the TUI reads from the history store (issue 9): series for the detail screen's plots, the
disk-full estimate (today's spend comes with the fleet status, ``HostStatus.spend_today_usd``).

The TUI takes plain callables, already bound to a state store, and calls them off the UI thread (in
workers), so a slow query never freezes the screen.  ``fleetwatch.cli.tui.history_for`` binds
``fleetwatch.history.series`` / ``disk_full_eta`` (``(store, host, metric, since, until)`` and
``(store, host, now)``) with ``on_own_store``; without a history module the TUI shows no plots and no
spend column.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from fleetwatch.basics import human_duration
from fleetwatch.store import Store
from fleetwatch.tui.columns import money

P = ParamSpec("P")
T = TypeVar("T")

Points = Sequence[tuple[float, float]]
SeriesProvider = Callable[[str, str, float, float], Points]
"""``(host, metric, since, until) -> [(time, value), …]``, oldest first."""
EtaProvider = Callable[[str, float], float | None]
"""``(host, now) -> when the disk is estimated full`` (epoch seconds), or None."""

METRICS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("disk_used_pct", "disk %", "{:.0f}%".format),
    ("load_1m", "load", "{:.2f}".format),
    ("round_duration_s", "round duration", human_duration),
    ("spend_usd", "spend per hour", money),
)
"""The plotted metrics: key, label, how a value reads."""


@dataclass(frozen=True)
class History:
    """The history store as the TUI reads it."""

    series: SeriesProvider
    disk_full_eta: EtaProvider | None = None


def on_own_store(state_dir: Path, fn: Callable[Concatenate[Store, P], T]) -> Callable[P, T]:
    """``fn(store, …)`` with a state-store connection owned by the calling thread (SQLite connections
    belong to the thread that opened them; the TUI reads history from worker threads)."""
    local = threading.local()

    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        store = getattr(local, "store", None)
        if store is None:
            store = local.store = Store.open(state_dir)
        return fn(store, *args, **kwargs)

    return bound
