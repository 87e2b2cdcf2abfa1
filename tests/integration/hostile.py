"""The hostile persona: a real OpenSSH sshd whose hosts misbehave on purpose, one case per host alias.

Its ``ForceCommand`` (``fakes/hostile/force-command``) misbehaves on the SSH stream itself: 50 MB of
output, endless output, output trickling past the deadline, Latin-1 on stdout and stderr, a sentinel line
nested 100,000 deep, host facts rewritten to NaN / Infinity.  Its fake ``agent-runner``
(``fakes/hostile/agent-runner``) prints a real captured peek spoiled as the case asks.  A case is chosen
by the host's inventory ``runner: ~/cases/CASE/agent-runner``, so it travels in the very command
fleetwatch sends and needs nothing else on the wire.  Everything else the persona runs as sshd would.

Self-contained (its own host key, client key and known_hosts), so ``bench/hostile_hosts.py`` runs the
same persona against any fleetwatch checkout, and the tests against this one.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.sshd import Sshd, host_block, keygen, start_sshd
from tests.unit.builders import PEEK_FIELDS

FAKES = Path(__file__).parent / "fakes" / "hostile"
PEEK = Path(__file__).parents[1] / "fixtures" / "agent_runner" / "peek_healthy_running.json"
TYPE_FIELDS = PEEK_FIELDS
"""Every top-level field of peek's document that fleetwatch reads: ``type-FIELD`` makes it the wrong type."""
CASES = (
    "huge",  # 50 MB of output, then exit 0
    "endless",  # `yes`, until the session is closed
    "trickle",  # a line every 0.2 s, forever: under any byte cap, so only the deadline ends it
    "latin1",  # Latin-1 greetings on stdout and stderr, then the real probe
    "deep-gather",  # the sentinel line itself nested 100,000 deep
    "deep-peek",  # peek's stdout nested 100,000 deep
    "nan",  # NaN / Infinity in the host facts and in peek
    "full",  # a valid 99 % disk: the control that auto-stop does act on
    *(f"type-{f.replace('_', '-')}" for f in TYPE_FIELDS),
)


@dataclass
class HostileLab:
    """The running persona and the client files that reach its cases."""

    sshd: Sshd
    home: Path
    client_key: Path
    known_hosts: Path

    @staticmethod
    def alias(case: str) -> str:
        """The host alias of ``case``."""
        return f"hostile-{case}"

    def ssh_config(self) -> str:
        """One ``Host`` block per case."""
        key, known, port = self.client_key, self.known_hosts, self.sshd.port
        return "\n".join(host_block(self.alias(c), port, key, known) for c in CASES)

    def inventory_hosts(self) -> dict[str, dict[str, Any]]:
        """Inventory entries naming each case's runner (the case marker) and a config path."""
        return {
            self.alias(c): {"runner": f"~/cases/{c}/agent-runner", "config": "~/agent-runner.toml"}
            for c in CASES
        }

    def stops(self) -> list[str]:
        """Cases whose fake ``agent-runner stop`` was invoked, in order."""
        log = self.home / "stops.log"
        return log.read_text().split() if log.exists() else []


def start_hostile(root: Path) -> HostileLab:
    """Keys, a home with one ``cases/CASE/agent-runner`` per case, and the persona's sshd."""
    root.mkdir(parents=True, exist_ok=True)
    host_line = keygen(root / "hostile_host_key", "fleetwatch-hostile-host")
    client_line = keygen(root / "hostile_client", "fleetwatch-hostile-client")
    (root / "hostile_authorized_keys").write_text(client_line + "\n")
    home = root / "home-hostile"
    for case in CASES:
        (home / "cases" / case).mkdir(parents=True)
        (home / "cases" / case / "agent-runner").symlink_to(FAKES / "agent-runner")
    sshd = start_sshd(
        "hostile",
        root / "sshd-hostile",
        home,
        root / "hostile_host_key",
        root / "hostile_authorized_keys",
        getpass.getuser(),
        {"HOSTILE_PEEK": str(PEEK)},
        extra_config=[f"ForceCommand {FAKES / 'force-command'}"],
    )
    known = root / "hostile_known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {host_line}\n")
    return HostileLab(sshd, home, root / "hostile_client", known)


@dataclass(frozen=True)
class Measured:
    """One fleetwatch run as a child process: how it ended, what it said, its peak memory and time."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """stdout's JSON lines."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def __repr__(self) -> str:
        return (
            f"exit {self.code} after {self.seconds:.2f} s, peak RSS {self.max_rss_mb:.0f} MB\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def run_measured(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    timeout: float = 300,
) -> Measured:
    """``python -m fleetwatch ARGV`` in ``cwd``; its own peak RSS comes from ``wait4`` on its pid (the
    kernel's ru_maxrss of that child alone, its waited-for children included).  Killed after
    ``timeout`` seconds (then the exit code is -9)."""
    full_env = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [python, "-m", "fleetwatch", *argv], cwd=cwd, env=full_env, stdout=out, stderr=err
        )
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
            usage.ru_maxrss / 1024,  # KiB on Linux
        )
