"""The pure core must not pull in the edges' libraries (asyncssh, textual, apprise, prometheus_client)."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "fleetwatch.snapshot",
    "fleetwatch.detect",
    "fleetwatch.episodes",
    "fleetwatch.findings",
    "fleetwatch.settings",
    "fleetwatch.basics",
    "fleetwatch.events",
    "fleetwatch.polls",
    "fleetwatch.status",
    "fleetwatch.probe.command",
    "fleetwatch.probe.parse",
    "fleetwatch.store",
    "fleetwatch.inventory.model",
    "fleetwatch.vantage",
    "fleetwatch.config",
    "fleetwatch.silences",
    "fleetwatch.notify.model",
    "fleetwatch.notify.messages",
    "fleetwatch.actions.plan",
]


def test_pure_modules_load_no_edge_libraries() -> None:
    code = (
        f"import sys\nfor m in {PURE!r}: __import__(m)\n"
        "edges = ('asyncssh', 'textual', 'apprise', 'prometheus_client')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in edges)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
