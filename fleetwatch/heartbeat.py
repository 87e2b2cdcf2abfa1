"""Dead-man's switch: tell an outside monitor (healthchecks.io and the like) that passes still run.

A plain ``heartbeat_url`` is requested (GET) after each completed pass.  A healthchecks-style ping URL
(``https://hc-ping.com/<uuid>`` or a self-hosted ``…/ping/<uuid>``) also gets ``/start`` before a pass,
so the outside monitor measures how long passes take, and ``/fail`` instead of the plain ping after a
pass that could not see the fleet (watcher offline, nothing reachable, deadline reached).
"""

from __future__ import annotations

import enum
import urllib.error
import urllib.parse
import urllib.request

from fleetwatch import __version__
from fleetwatch.errors import NotifyError


class Signal(enum.StrEnum):
    """What a ping says."""

    START = "start"
    SUCCESS = ""
    FAIL = "fail"


def healthchecks_style(url: str) -> bool:
    """Whether ``url`` understands ``/start`` and ``/fail`` (healthchecks.io's ping API)."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname == "hc-ping.com" or "/ping/" in parts.path


def signal_url(url: str, signal: Signal) -> str | None:
    """The URL to request for ``signal``, or None when ``url`` has no such endpoint."""
    if signal is Signal.SUCCESS:
        return url
    if not healthchecks_style(url):
        return None
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + signal))


def redact_url(url: str) -> str:
    """Scheme and host only: heartbeat paths carry the check's secret id."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def ping(url: str, timeout: float = 10.0) -> None:
    """GET ``url``; ``NotifyError`` (secret-free) when it does not answer 2xx."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"fleetwatch/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotifyError(
            f"heartbeat {redact_url(url)} failed: {reason}; the outside monitor will alert if this persists"
        ) from None
    if not 200 <= status < 300:
        raise NotifyError(f"heartbeat {redact_url(url)} answered HTTP {status}; check heartbeat_url")
