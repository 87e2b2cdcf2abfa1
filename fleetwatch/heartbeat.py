"""Dead-man's switch: request ``heartbeat_url`` after each completed pass (healthchecks.io style)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from fleetwatch import __version__
from fleetwatch.errors import NotifyError


def redact_url(url: str) -> str:
    """Scheme and host only: heartbeat paths carry the check's secret id."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def ping(url: str, timeout: float = 10.0) -> None:
    """GET ``url``; ``NotifyError`` (secret-free) when it does not answer 2xx."""
    request = urllib.request.Request(url, headers={"User-Agent": f"fleetwatch/{__version__}"})
    try:
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
