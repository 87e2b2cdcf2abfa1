"""Fixtures for the auto-stop tests: fresh agent-runner projects whose real ``serve`` the tests may stop.

The session projects in ``conftest.py`` are shared by other tests, so stopping them is off limits; each
auto-stop test starts its own supervisors (detached, pid-file mode, as the fleet persona) and every one
of them is killed at teardown, whether the test stopped it or not.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest

from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.settings import HostSettings
from tests.integration.conftest import Fleet, Remote
from tests.integration.projects import Project, make_project, wait_until

_names = itertools.count(1)


@dataclass
class Served:
    """One project with a live ``agent-runner serve`` and the fleet host that reaches it."""

    project: Project
    proc: subprocess.Popen[bytes]
    host: Host

    @property
    def alive(self) -> bool:
        """Whether the serve process we started is still running."""
        return self.proc.poll() is None


Serve = Callable[..., Served]


# Registered under the short names; the function names differ so a test module can import them
# (pytest finds fixtures by name in the module) without its arguments shadowing the import.
@pytest.fixture(name="fleet_target", scope="session")
def fleet_target_fixture(fleet: Fleet) -> SshTarget:
    """How ``ssh`` reaches the fleet persona (any of its aliases will do), resolved with ``ssh -G``."""
    return resolve_alias("pi-fixable", fleet.ssh_config)


@pytest.fixture(name="serving")
def serving_fixture(remote: Remote, fleet_target: SshTarget) -> Iterator[Serve]:
    """``serving(label, fake="ok", max_rounds=1000, **env)``: a fresh project with serve running."""
    started: list[Project] = []

    def start(label: str, fake: str = "ok", max_rounds: int = 1000, **env: str) -> Served:
        name = f"autostop-{label}-{next(_names)}"
        project = make_project(remote.fleet.home, name, round_budget_s=60)
        started.append(project)
        proc = project.serve(fake, max_rounds, **env)
        wait_until(f"{name}'s first round", lambda: project.count("round_start") >= 1, timeout_s=30)
        target = replace(fleet_target, alias=name)
        return Served(project, proc, Host(name, target, settings=HostSettings(config=project.remote_config)))

    # Reap our serve children as soon as they exit.  On a real host serve's parent is init, which does
    # this at once; here pytest is the parent, and a zombie serve still looks alive to agent-runner's
    # pid check, so `stop` would sit out its whole 5 s grace and peek could call a dead serve active.
    done = threading.Event()

    def reap() -> None:
        while not done.wait(0.05):
            for project in started:
                for proc in project.serves:
                    proc.poll()

    reaper = threading.Thread(target=reap, name="serve-reaper", daemon=True)
    reaper.start()
    try:
        yield start
    finally:
        done.set()
        reaper.join(timeout=2)
        for project in started:
            project.kill_all()
