"""``fleetwatch tui --metrics-listen``: the TUI's watcher serves ``/metrics`` as watch mode does, from the
same statuses the screen shows; a bad address is one line and exit 3 before the screen takes over."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from textual.pilot import Pilot

from fleetwatch.exporter import serve_metrics
from fleetwatch.tui.app import FleetwatchApp
from tests.tui.harness import cell, first_pass, live_app, pilot_run
from tests.unit.test_cli_contract import fleetwatch


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_tuis_watcher_serves_what_the_screen_shows(tmp_path: Path) -> None:
    server = serve_metrics("127.0.0.1:0")
    try:

        async def body(pilot: Pilot[int]) -> None:
            app = pilot.app
            assert isinstance(app, FleetwatchApp)
            await first_pass(pilot)
            assert cell(app, "demo-disk", "alerts") == "disk_critical"
            deadline = time.monotonic() + 10
            while True:  # the pass counter follows the watcher's PassFinished event
                found = await asyncio.to_thread(scrape, server.url)
                if found.get(("fleetwatch_pass_duration_seconds_count", frozenset())) == 1.0:
                    break
                assert time.monotonic() < deadline, found
                await pilot.pause(0.1)
            up = {
                dict(labels)["host"]: v for (name, labels), v in found.items() if name == "fleetwatch_host_up"
            }
            assert up["demo-unreachable"] == 0 and up["demo-healthy"] == 1, up
            alert = frozenset(
                {("host", "demo-disk"), ("detector", "disk_critical"), ("severity", "critical")}
            )
            assert found[("fleetwatch_alert_active", alert)] == 1.0, found

        pilot_run(live_app(tmp_path, publish=server), body)
    finally:
        server.close()


@pytest.mark.parametrize("extra", [(), ("--demo",)])
def test_a_bad_metrics_address_for_the_tui_is_one_line_and_exit_3(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    result = fleetwatch("tui", *extra, "--metrics-listen", "9464", "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 3, result
    [line] = result.stderr.splitlines()
    assert line.startswith("fleetwatch: ") and "expected HOST:PORT" in line, line
