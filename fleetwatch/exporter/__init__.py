"""Prometheus exposition of the fleet status: ``/metrics`` for watch mode (and the TUI), and the
node_exporter textfile for ``check`` run from cron.

The one home of ``prometheus_client``.  Following its "Writing exporters" guide, nothing here keeps
gauges that a pass mutates: a custom collector renders the latest ``FleetStatus`` into fresh metric
families on every scrape (so a host that leaves the fleet leaves ``/metrics``, and concurrent scrapes
never see half a pass).

- ``source``: what is exposed (the latest status, this process's pass counters), swapped whole per pass.
- ``families``: ``FleetStatus`` -> metric families: the metric names, types, labels and help live there.
- ``serve``: ``serve_metrics`` (an HTTP server on its own thread) and ``write_textfile`` (atomic).

The metric reference is ``contrib/prometheus/README.md``.
"""

from fleetwatch.exporter.serve import MetricsServer, serve_metrics, write_textfile
from fleetwatch.exporter.source import Exposed, PassStats

__all__ = ["Exposed", "MetricsServer", "PassStats", "serve_metrics", "write_textfile"]
