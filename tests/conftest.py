"""Shared test set-up: every test gets its own HOME and XDG dirs, so nothing touches the real user."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, the XDG dirs and FLEETWATCH_STATE_DIR at tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_STATE_HOME", ".local/state"), ("XDG_CONFIG_HOME", ".config")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("FLEETWATCH_STATE_DIR", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home
