"""History: what each host did over time, the trends and the spend.

- ``model``: samples, usage records, the metric catalogue, retention (pure).
- ``store``: recording each pass, rolling old samples up, the queries (on the state database).
- ``report``: the per-host summary of a period (``fleetwatch report``), pure over loaded rows.

The views (``fleetwatch history``, ``report``, ``status`` trends, the TUI's plots) call ``series`` and
``disk_full_eta`` below; the detectors over history live in ``fleetwatch/detect/trends.py``.
"""

from __future__ import annotations

from fleetwatch.history.model import METRICS, USAGE_METRICS, HistorySettings, fill_rate
from fleetwatch.history.store import series as sampled_series
from fleetwatch.history.store import usage_series
from fleetwatch.store import Store

__all__ = ["METRICS", "USAGE_METRICS", "HistorySettings", "disk_full_eta", "has_history", "series"]

ETA_WINDOW_S = 3 * 3600.0


def series(store: Store, host: str, metric: str, since: float, until: float) -> list[tuple[float, float]]:
    """(time, value) of one metric of one host over a period, oldest first: a sampled metric
    (``disk_used_pct``, ``load_1m`` …, see ``METRICS``) or a usage one (``spend_usd`` and ``rounds`` per
    hour, ``round_duration_s`` per round).  KeyError for an unknown metric."""
    if metric in USAGE_METRICS:
        return usage_series(store.connection, host, metric, since, until)
    return sampled_series(store.connection, host, metric, since, until)


def has_history(store: Store, host: str) -> bool:
    """Whether the store holds any sample of ``host``."""
    row = store.connection.execute("SELECT 1 FROM samples WHERE host = ? LIMIT 1", (host,)).fetchone()
    return row is not None


ETA_HORIZON_S = 366 * 86400.0
"""A disk that would be full later than this is shown as not filling."""


def disk_full_eta(store: Store, host: str, now: float, window_s: float = ETA_WINDOW_S) -> float | None:
    """When the host's log filesystem will be full at its recent fill rate (least squares over
    ``window_s``), or None when it is flat, shrinking or not known."""
    points = sampled_series(store.connection, host, "disk_used_pct", now - window_s, now)
    if len(points) < 3:
        return None
    slope = fill_rate(points)
    if slope is None or slope <= 0:
        return None
    eta = now + (100.0 - points[-1][1]) / slope
    return eta if eta - now <= ETA_HORIZON_S else None  # years away is "not filling", not a date
