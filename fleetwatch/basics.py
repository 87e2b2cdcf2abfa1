"""The bottom layer: durations and timestamps for people, and who runs fleetwatch.

Imports nothing from fleetwatch, so every other module (pure core and edges alike) may use it.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Duration(float):
    """Seconds; written in config files as a number or as ``30m``, ``4h``, ``1h30m``."""


def yaml_key(name: str, *aliases: str) -> Mapping[str, Any]:
    """Dataclass field metadata: the config file spells this field ``name`` (older spellings: ``aliases``)."""
    return {"key": name, "aliases": aliases}


INLINE: Mapping[str, Any] = {"inline": True}
"""Dataclass field metadata: this nested settings object's keys sit at its parent's level in the file."""


def human_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.0 d``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def human_bytes(count: float) -> str:
    """``512 B``, ``64 KiB``, ``4 MiB``, ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if count == int(count) else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``4h``, ``1h30m``, ``2d`` -> seconds; ValueError otherwise."""
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 4h, 1h30m, 2d)")
    return total


def finite_duration(text: str) -> float:
    """``parse_duration``, refusing what no duration can be: NaN, infinity, negative."""
    seconds = parse_duration(text)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {text!r} (a number of seconds, 0 or more; or 90s, 30m, 4h)")
    return seconds


def host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:9464``, ``[::1]:9464``, ``localhost:0`` -> (host, port); ValueError otherwise.

    The host is required (``0.0.0.0:9464`` listens on every address, never by accident); port 0 means
    any free port."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # a bare IPv6 address: its port would be ambiguous
        host = ""
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464 (0.0.0.0:9464 listens on every "
            f"address, port 0 on any free port), got {text!r}"
        )
    return host, int(port)


def require(ok: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``ok``: settings objects check themselves when built."""
    if not ok:
        raise ValueError(message)


def positive(value: float) -> bool:
    """A finite number above zero (NaN and infinity are not)."""
    return math.isfinite(value) and value > 0


def iso(ts: float, *, sep: str = "T", ms: bool = False) -> str:
    """UTC ISO-8601: ``2026-11-21T10:50:43Z`` (``sep=" "`` for prose, ``ms`` for audit records); a time no
    calendar holds (a stored year-9999 silence) is clamped to the calendar's ends rather than raising."""
    try:
        moment = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        moment = datetime.max.replace(tzinfo=UTC) if ts > 0 else datetime.min.replace(tzinfo=UTC)
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if ms:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def whoami() -> str:
    """``user@hostname`` of this fleetwatch process (audit records, silences and acks say who)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (a bare container)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
