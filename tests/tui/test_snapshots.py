"""Still pictures of every screen at 80×24 and 160×50, dark and light (pytest-textual-snapshot).

The App reads a state store filled from the demo hosts' answers at a fixed time and never polls, so the
pictures only change when the TUI does.  Update them with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.history import History
from tests.tui.harness import still_app, still_ready, until
from tests.tui.test_series_plot import captured_series

SIZES = {"80x24": (80, 24), "160x50": (160, 50)}
THEMES = {"dark": "textual-dark", "light": "textual-light"}

Shots = pytest.mark.parametrize("size", SIZES)
Themes = pytest.mark.parametrize("theme", THEMES)


def shoot(snap_compare: Any, app: FleetwatchApp, size: str, theme: str, *keys: str) -> bool:
    async def run_before(pilot: Pilot[int]) -> None:
        app.theme = THEMES[theme]
        await still_ready(pilot)
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        plots = ("series", "eta")  # the detail screen's history reads, in threads
        await until(pilot, lambda: all(w.is_finished for w in app.workers if w.group in plots))
        await pilot.pause()

    return bool(snap_compare(app, terminal_size=SIZES[size], run_before=run_before))


@Shots
@Themes
def test_fleet(snap_compare: Any, tmp_path: Path, size: str, theme: str) -> None:
    assert shoot(snap_compare, still_app(tmp_path), size, theme)


@Shots
@Themes
def test_host_detail(snap_compare: Any, tmp_path: Path, size: str, theme: str) -> None:
    app = still_app(tmp_path)
    app.state.history = History(series=captured_series())  # real series from agent-runner captures
    assert shoot(snap_compare, app, size, theme, "enter")  # the first row: demo-auth, worst first


@Shots
@Themes
def test_alert_log(snap_compare: Any, tmp_path: Path, size: str, theme: str) -> None:
    assert shoot(snap_compare, still_app(tmp_path), size, theme, "l")


@Themes
def test_stop_dialog(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert shoot(snap_compare, still_app(tmp_path), "80x24", theme, "down", "s")


def test_help(snap_compare: Any, tmp_path: Path) -> None:
    assert shoot(snap_compare, still_app(tmp_path), "160x50", "dark", "question_mark")
