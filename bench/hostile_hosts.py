"""The hostile persona (tests/integration/hostile.py) against any fleetwatch checkout: one host per case,
each polled alone with ``--once --json --timeout 8``; how it ended, how long it took, its peak RSS.

    .venv/bin/python bench/hostile_hosts.py [CHECKOUT ...]     # default: this checkout

Used for issue 8's before/after table: run it on this checkout and on one made with
``git worktree add /tmp/before a42c87c``.  Starts its own sshd on 127.0.0.1 and stops it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.conftest import inventory_yaml  # noqa: E402
from tests.integration.hostile import HostileLab, run_measured, start_hostile  # noqa: E402

CASES = ("huge", "endless", "trickle", "latin1", "deep-gather", "deep-peek", "nan", "type-status")
TOGETHER = ("huge", "endless", "trickle")
"""Also polled in one pass: the deadline and memory with all three at once."""
TIMEOUT_S = 8


FIRST = ("snapshot_invalid", "remote_blip")
"""Shown first when present: what the pass made of the host's data."""


def summary(stdout: str, stderr: str, code: int) -> str:
    """Every detector that fired and the most telling alert's message, or the last line of stderr."""
    alerts = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if alerts:
        alerts.sort(key=lambda a: a["detector"] not in FIRST)
        fired = ",".join(sorted({a["detector"] for a in alerts}))
        return f"[{fired}] {alerts[0]['message'][:100]}"
    tail = [ln for ln in stderr.splitlines() if ln.strip()]
    return f"exit {code}: {tail[-1][:100] if tail else ''}"


def main(checkouts: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lab = start_hostile(root / "lab")
        try:
            config = root / "ssh_config"
            config.write_text(lab.ssh_config())
            inventory = root / "hostile.yaml"
            inventory.write_text(inventory_yaml(lab.inventory_hosts()))
            for checkout in checkouts:
                print(f"== {checkout}")
                auto_stop = root / f"config-{checkout.name}.yaml"
                auto_stop.write_text(
                    # auto-stop armed, in the config format of that checkout (0.1.0: auto_stop_on:)
                    "auto_stop:\n  on: [disk_critical, disk_warning]\n  consecutive: 1\n"
                    if "AutoStopPolicy" in (checkout / "fleetwatch" / "config.py").read_text()
                    else "auto_stop_on: [disk_critical, disk_warning]\nauto_stop:\n  consecutive: 1\n"
                )
                for case in (*CASES, TOGETHER):
                    hosts = [case] if isinstance(case, str) else list(case)
                    name = "+".join(hosts)
                    state = root / f"state-{checkout.name}-{name}"
                    argv = ["--ssh-config", str(config), "--inventory", str(inventory)]
                    argv += ["--state-dir", str(state), "--config", str(auto_stop)]
                    argv += ["--once", "--json", "--timeout", str(TIMEOUT_S)]
                    argv += [arg for host in hosts for arg in ("--host", HostileLab.alias(host))]
                    stops = len(lab.stops())
                    m = run_measured(argv, cwd=checkout, timeout=120)
                    stopped = " STOPPED" if len(lab.stops()) > stops else ""
                    print(
                        f"{name:20} exit {m.code:3} {m.seconds:6.1f} s {m.max_rss_mb:7.0f} MB{stopped}  "
                        f"{summary(m.stdout, m.stderr, m.code)}"
                    )
        finally:
            lab.sshd.stop()


if __name__ == "__main__":
    main([Path(p).resolve() for p in sys.argv[1:]] or [REPO])
