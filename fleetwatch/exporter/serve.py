"""Where the metrics go: an HTTP ``/metrics`` endpoint on its own thread, or a textfile for node_exporter."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from fleetwatch.basics import host_port
from fleetwatch.errors import ConfigError
from fleetwatch.events import WatcherEvent
from fleetwatch.exporter.families import FleetCollector
from fleetwatch.exporter.source import Exposed
from fleetwatch.status import FleetStatus

TEXTFILE_MODE = 0o644
"""node_exporter usually runs as its own user: the textfile must be readable by others."""


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; ``show`` each pass's status, ``record`` the watcher's events."""

    url: str
    """Where it listens (the real port when 0 was asked for)."""
    exposed: Exposed
    _server: WSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def show(self, status: FleetStatus) -> None:
        """Scrapes from now on render ``status``."""
        self.exposed.show(status)

    def record(self, event: WatcherEvent) -> None:
        """Count a watcher event towards the pass counters (chain it into the watcher's ``emit``)."""
        self.exposed.record(event)

    def close(self) -> None:
        """Stop listening and wait for the serving thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(listen: str, status: FleetStatus | None = None) -> MetricsServer:
    """Serve ``/metrics`` on ``listen`` (``HOST:PORT``) from a daemon thread, starting with ``status``
    (e.g. the stored one, before the first pass); raises ``ConfigError`` when it cannot listen there."""
    try:
        host, port = host_port(listen)
    except ValueError as exc:
        raise ConfigError(f"metrics address: {exc}") from None
    exposed = Exposed(status)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(exposed, lifetime=True))
    # This process's own CPU, memory, open files and interpreter: the watcher's health, not the fleet's.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    try:
        server, thread = start_http_server(port, host, registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {listen} ({exc.strerror or exc}): choose another address or port "
            "for --metrics-listen / metrics_listen (port 0: any free one)"
        ) from None
    bound, bound_port = server.server_address[:2]
    bound_host = bound.decode() if isinstance(bound, bytes) else bound
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return MetricsServer(f"http://{shown}:{bound_port}/metrics", exposed, server, thread)


def render(exposed: Exposed, *, lifetime: bool) -> bytes:
    """The text exposition (format 0.0.4) of ``exposed``, as a scrape or the textfile shows it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(exposed, lifetime=lifetime))
    return generate_latest(registry)


def write_textfile(path: Path, exposed: Exposed) -> None:
    """Write the metrics of one ``check`` for node_exporter's textfile collector, atomically: a temporary
    file in the same directory, flushed to disk, then renamed over ``path``, so the collector never reads
    half a file.  Raises ``ConfigError`` naming the path when it cannot."""
    data = render(exposed, lifetime=False)
    target = path.expanduser()
    try:
        # A dot name without .prom: the collector reads only *.prom, so it never sees the temporary file.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write the metrics file ({exc.strerror or exc})", path=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, TEXTFILE_MODE)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write the metrics file ({exc.strerror or exc})", path=str(path)) from None
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the directory is synced
        dirfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
