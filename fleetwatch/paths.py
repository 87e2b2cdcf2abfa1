"""XDG paths, in one place."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def state_dir(override: str | None = None) -> Path:
    """Directory for the SQLite state: --state-dir > $FLEETWATCH_STATE_DIR > $XDG_STATE_HOME/fleetwatch."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("FLEETWATCH_STATE_DIR")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_STATE_HOME", ".local/state") / "fleetwatch"


def cache_dir() -> Path:
    """What fleetwatch can rebuild (resolved ``ssh -G`` answers): ``$XDG_CACHE_HOME/fleetwatch``."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "fleetwatch"


def tui_view_file() -> Path:
    """The TUI's remembered view (sort, filter): ``$XDG_STATE_HOME/fleetwatch/tui.json``, whatever
    ``--state-dir`` says, so a demo's throwaway state directory does not forget it."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "fleetwatch" / "tui.json"


def config_dir() -> Path:
    """Directory holding fleetwatch's own config file."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "fleetwatch"


def default_ssh_config() -> Path:
    """The user's OpenSSH client config."""
    return Path.home() / ".ssh" / "config"
