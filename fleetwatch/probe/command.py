"""The one command each poll runs on a host: argv-quoted, self-contained, installs nothing."""

from __future__ import annotations

import base64
import shlex
from functools import cache
from importlib import resources

from fleetwatch.settings import HostSettings

SENTINEL = "FLEETWATCH-GATHER-1 "
EVENTS = 50
"""Recent supervisor events asked of ``peek --events`` (the detectors need the last 10 agent exits)."""
TAIL_LINES = 40
"""Lines kept from the end of each round log."""
ROUND_LOGS = 10
"""How many of the newest round logs are tailed (the log heuristics look at the last 10 rounds)."""


@cache
def _remote_source(name: str) -> str:
    return resources.files("fleetwatch.probe.remote").joinpath(name).read_text()


@cache  # one per distinct (runner, config): built once, not re-encoded on every poll
def gather_command(settings: HostSettings) -> str:
    """The shell line for one poll: ``sh -c LOCATE fleetwatch-gather ARGS…``, every word quoted."""
    # The gatherer travels base64-encoded so no login shell (bash, zsh, fish) can mangle it.
    payload = base64.b64encode(_remote_source("gather.py").encode()).decode()
    argv = [
        "sh",
        "-c",
        _remote_source("locate.sh"),
        "fleetwatch-gather",
        settings.runner or "",
        settings.config or "",
        str(EVENTS),
        str(TAIL_LINES),
        str(ROUND_LOGS),
        payload,
    ]
    return shlex.join(argv)
