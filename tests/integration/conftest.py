"""Real parts for the integration suite: OpenSSH sshd, real agent-runner projects, a generated ssh_config.

Design (see ``sshd.py`` for the persona trick):

* Two sshd personas on 127.0.0.1, sharing one generated ed25519 host key and one authorized client key:
  ``fleet`` (its home has ``~/.local/bin/agent-runner`` -> this venv's agent-runner, and the projects) and
  ``bare`` (no agent-runner anywhere; a chatty ``~/.bashrc`` like a Pi's).
* Test hosts are ssh_config aliases onto those sshds, told apart by their inventory ``config:`` /
  ``runner:``; ``pi-unreachable`` points at a bound, non-listening port, ``pi-hung`` at a TCP listener
  that never speaks, ``pi-rekeyed`` at the fleet sshd through a known_hosts holding a different key.
* Expensive parts (sshd, projects, supervisors, the tmpfs) are session-scoped; each test gets its own
  ``--state-dir``.  Teardown kills every sshd and supervisor started here and unmounts the tmpfs, even
  when tests fail.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.projects import (
    AGENT_RUNNER,
    Project,
    disk_used_pct,
    fill_filesystem,
    make_project,
    wait_until,
)
from tests.integration.receivers import HttpReceiver
from tests.integration.sshd import (
    SSHD,
    SilentListener,
    Sshd,
    host_block,
    keygen,
    refusing_port,
    start_sshd,
)

REPO = Path(__file__).resolve().parents[2]
USER = getpass.getuser()
IS_ROOT = os.geteuid() == 0
STALE_BUDGET_S = 1
"""The stale project's round budget: ``supervisor_stale`` fires 1.5 s after its supervisor was killed."""
DISK_FILL_PCT = 97.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the suite only where it cannot run at all: no sshd, and not root to install one."""
    if SSHD.exists() or IS_ROOT:
        return
    skip = pytest.mark.skip(reason=f"{SSHD} is absent and we are not root; run .ci/install-system-deps")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(skip)


# -- remote side ---------------------------------------------------------------------------------


@dataclass
class Remote:
    """The remote side: personas' sshds and the projects in the fleet persona's home."""

    root: Path
    host_key: Path
    host_key_line: str
    client_key: Path
    fleet: Sshd
    bare: Sshd
    projects: dict[str, Project]
    stale_killed_at: float
    garbage_runner: str
    wrapper_runner: str


def _persona_home(root: Path, name: str, with_runner: bool, bashrc: str) -> Path:
    home = root / f"home-{name}"
    (home / ".local" / "bin").mkdir(parents=True)
    if with_runner:
        if not AGENT_RUNNER.is_file():
            raise RuntimeError(f"{AGENT_RUNNER} missing: install cli-agent-runner into {sys.prefix}")
        (home / ".local" / "bin" / "agent-runner").symlink_to(AGENT_RUNNER)
    (home / ".bashrc").write_text(bashrc)
    return home


def _script(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return "~/" + str(path.relative_to(path.parents[1]))


GARBAGE_RUNNER = f"""#!{sys.executable}
# An agent-runner whose peek prints plain text (a broken install, a wrong wrapper): not JSON.
import sys
print("agent-runner: state file is being rewritten, try again later")
sys.exit(0)
"""
WRAPPER_RUNNER = """#!/bin/sh
# A shell wrapper around the real agent-runner, as people write for venvs or env setup.
exec "$HOME/.local/bin/agent-runner" "$@"
"""


@pytest.fixture(scope="session")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """sshd personas plus healthy / stale / auth-failing / space-named projects, started once."""
    if not SSHD.exists():
        pytest.fail(f"{SSHD} is missing: run .ci/install-system-deps (as root) first")
    root = tmp_path_factory.mktemp("remote")
    sshds: list[Sshd] = []
    projects: dict[str, Project] = {}
    try:
        host_key_line = keygen(root / "ssh_host_ed25519_key", "fleetwatch-test-host")
        client_line = keygen(root / "client_ed25519", "fleetwatch-test-client")
        authorized = root / "authorized_keys"
        authorized.write_text(client_line + "\n")
        fleet_home = _persona_home(
            root,
            "fleet",
            True,
            "# as pipx tells you to: ~/.local/bin on PATH, also for `ssh host cmd`\n"
            'export PATH="$HOME/.local/bin:$PATH"\n',
        )
        bare_home = _persona_home(
            root, "bare", False, 'echo "Welcome to a bare Raspberry Pi (no agent-runner here)"\n'
        )
        for name, home in (("fleet", fleet_home), ("bare", bare_home)):
            sshds.append(
                start_sshd(
                    name,
                    root / f"sshd-{name}",
                    home,
                    root / "ssh_host_ed25519_key",
                    authorized,
                    USER,
                    {"FLEETWATCH_TEST_PERSONA": name},
                )
            )

        healthy = projects["healthy"] = make_project(fleet_home, "healthy", round_budget_s=600)
        stale = projects["stale"] = make_project(fleet_home, "stale", round_budget_s=STALE_BUDGET_S)
        stuck = projects["stuck"] = make_project(fleet_home, "stuck", round_budget_s=STALE_BUDGET_S)
        auth = projects["authfail"] = make_project(fleet_home, "authfail", round_budget_s=600)
        projects["space"] = make_project(fleet_home, "my project", round_budget_s=600)
        # Live supervisor (pid-file mode), rounds every ~2 s for the whole session.
        healthy.serve("ok", 100000, FAKE_CLAUDE_DELAY_S="1")
        stale_serve = stale.serve("ok", 1000)
        stuck_serve = stuck.serve("ok", 1000)
        auth.serve("auth_fail", 2)
        wait_until("the stale project's first round", lambda: stale.count("round_end") >= 1)
        stale.kill(stale_serve)  # SIGKILL between rounds: serve.pid stays behind, nothing ever ends
        killed_at = time.time()
        wait_until("the stuck project's first round", lambda: stuck.count("round_end") >= 1)
        # SIGSTOP: serve is alive (its pid answers) but silent, like a supervisor wedged on a lock.
        os.kill(stuck_serve.pid, signal.SIGSTOP)
        wait_until("two auth-failing rounds", lambda: auth.count("agent_exit") >= 2)
        wait_until("the healthy project's first round", lambda: healthy.count("round_end") >= 1)
        time.sleep(max(0.0, killed_at + 1.5 * STALE_BUDGET_S + 0.5 - time.time()))

        yield Remote(
            root=root,
            host_key=root / "ssh_host_ed25519_key",
            host_key_line=host_key_line,
            client_key=root / "client_ed25519",
            fleet=sshds[0],
            bare=sshds[1],
            projects=projects,
            stale_killed_at=killed_at,
            garbage_runner=_script(fleet_home / "bin" / "agent-runner-garbage", GARBAGE_RUNNER),
            wrapper_runner=_script(fleet_home / "bin" / "agent-runner-wrapper", WRAPPER_RUNNER),
        )
    finally:
        for project in projects.values():
            project.kill_all()
        for sshd in sshds:
            sshd.stop()


@pytest.fixture(scope="session")
def diskfull(remote: Remote) -> Iterator[Project]:
    """A project whose log_dir is on an 8 MiB tmpfs filled to 97 % after one real round."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs for the nearly-full disk needs root")
    mount = remote.root / "diskfull-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mount)], check=True)
    project: Project | None = None
    try:
        project = make_project(remote.fleet.home, "diskfull", round_budget_s=600, log_dir=mount / "logs")
        proc = project.serve("ok", 1)
        proc.wait(timeout=60)
        assert project.count("round_end") == 1, f"diskfull serve ran no round (exit {proc.returncode})"
        fill_filesystem(mount, DISK_FILL_PCT)
        assert disk_used_pct(mount) >= 95.0
        assert project.remote_config == DISKFULL_CONFIG
        yield project
    finally:
        if project is not None:
            project.kill_all()
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


# -- client side -----------------------------------------------------------------------------------


def inventory_yaml(
    hosts: dict[str, dict[str, Any]],
    groups: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> str:
    """A YAML inventory in fleetwatch's format: ``defaults`` / ``groups`` / ``hosts``."""
    doc = {"defaults": defaults or {}, "groups": groups or {}, "hosts": hosts}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


@dataclass
class Fleet:
    """The client side: a generated ssh_config + known_hosts + inventory naming every test host."""

    remote: Remote
    dir: Path
    ssh_config: Path
    inventory: Path
    known_hosts: Path
    rekeyed_known_hosts: Path
    hung: SilentListener
    refused_port: int
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @cached_property
    def aliases(self) -> list[str]:
        """Every alias in the generated ssh_config, in file order."""
        return [ln.split()[1] for ln in self.ssh_config.read_text().splitlines() if ln.startswith("Host ")]


HEALTHY_CONFIG = "~/healthy/agent-runner.toml"
DISKFULL_CONFIG = "~/diskfull/agent-runner.toml"
"""The ``diskfull`` fixture builds it; tests that poll ``pi-diskfull`` request that fixture."""


@pytest.fixture(scope="session")
def fleet(remote: Remote, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The generated client config for every test host."""
    client = tmp_path_factory.mktemp("client")
    hung = SilentListener().start()
    refused = refusing_port()
    try:
        fleet_port, bare_port = remote.fleet.port, remote.bare.port
        known_hosts = client / "known_hosts"
        known_hosts.write_text(
            "".join(f"[127.0.0.1]:{p} {remote.host_key_line}\n" for p in (fleet_port, bare_port))
        )
        wrong_line = keygen(client / "other_host_key", "a-reinstalled-host")
        rekeyed = client / "known_hosts.rekeyed"
        rekeyed.write_text(f"[127.0.0.1]:{fleet_port} {wrong_line}\n")
        key = remote.client_key
        ports = {
            "pi-healthy": fleet_port,
            "pi-stale": fleet_port,
            "pi-stuck": fleet_port,
            "pi-authfail": fleet_port,
            "pi-diskfull": fleet_port,
            "pi-garbage": fleet_port,
            "pi-space": fleet_port,
            "pi-wrapper": fleet_port,
            "pi-fixable": fleet_port,
            "pi-norunner": bare_port,
            "pi-unreachable": int(refused.getsockname()[1]),
            "pi-hung": hung.port,
        }
        blocks = [host_block(a, p, key, known_hosts) for a, p in ports.items()]
        blocks.append(host_block("pi-rekeyed", fleet_port, key, rekeyed))
        config = client / "ssh_config"
        config.write_text("\n".join(blocks))
        hosts: dict[str, dict[str, Any]] = {
            "pi-healthy": {"config": HEALTHY_CONFIG},
            "pi-stale": {"config": remote.projects["stale"].remote_config},
            "pi-stuck": {"config": remote.projects["stuck"].remote_config},
            "pi-authfail": {"config": remote.projects["authfail"].remote_config},
            "pi-diskfull": {"config": DISKFULL_CONFIG},
            "pi-garbage": {"runner": remote.garbage_runner, "config": HEALTHY_CONFIG},
            "pi-wrapper": {"runner": remote.wrapper_runner, "config": HEALTHY_CONFIG},
            "pi-space": {"config": remote.projects["space"].remote_config},
            "pi-norunner": {},
            "pi-unreachable": {"thresholds": {"remote_failure_tolerance_s": 2}},
            "pi-hung": {},
            "pi-rekeyed": {"config": HEALTHY_CONFIG},
        }
        inventory = client / "fleet.yaml"
        inventory.write_text(
            inventory_yaml(
                hosts,
                groups={"lab": {"hosts": ["pi-healthy", "pi-stale"]}},
                defaults={"thresholds": {"clock_skew_s": 300}},
            )
        )
        refused_port = ports["pi-unreachable"]
        yield Fleet(remote, client, config, inventory, known_hosts, rekeyed, hung, refused_port, hosts)
    finally:
        hung.close()
        refused.close()


# -- running the real CLI ----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Result:
    """One finished ``python -m fleetwatch`` run."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @cached_property
    def alerts(self) -> list[dict[str, Any]]:
        """stdout as JSON lines; every non-empty line must be one JSON object."""
        out = []
        for line in self.stdout.splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise AssertionError(f"stdout line is not JSON: {line!r}\n{self}") from None
        return out

    def firing(self, host: str) -> dict[str, dict[str, Any]]:
        """Open alerts of ``host`` by detector."""
        return {a["detector"]: a for a in self.alerts if a["host"] == host and a["state"] == "firing"}

    def resolved(self, host: str) -> dict[str, dict[str, Any]]:
        """Resolution lines of ``host`` by detector."""
        return {a["detector"]: a for a in self.alerts if a["host"] == host and a["state"] == "resolved"}

    def __repr__(self) -> str:  # pytest prints this under a failed `assert …, result`
        return (
            f"$ fleetwatch {' '.join(self.argv)}\nexit {self.code} after {self.seconds:.2f} s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def run_cli(
    *argv: str, stdin: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> Result:
    """Run the real CLI as a subprocess from this checkout (``env`` adds to or overrides ours)."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fleetwatch", *argv],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


Once = Callable[..., Result]


@pytest.fixture
def once(fleet: Fleet, tmp_path: Path) -> Once:
    """``fleetwatch --ssh-config … --inventory … --state-dir <per test> --once --json --host …``."""

    def run(
        *hosts: str, state_dir: Path | None = None, inventory: Path | None = None, extra: tuple[str, ...] = ()
    ) -> Result:
        argv = [
            "--ssh-config",
            str(fleet.ssh_config),
            "--inventory",
            str(inventory or fleet.inventory),
            "--state-dir",
            str(state_dir or tmp_path / "state"),
            "--once",
            "--json",
            *extra,
        ]
        for host in hosts:
            argv += ["--host", host]
        return run_cli(*argv)

    return run


OpenSsh = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def openssh(fleet: Fleet) -> OpenSsh:
    """The real OpenSSH client on the generated config: ``openssh(alias, *remote_argv)``."""
    ssh = shutil.which("ssh")
    assert ssh, "the OpenSSH client (ssh) is needed: fleetwatch resolves aliases with `ssh -G`"

    def run(alias: str, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ssh, "-F", str(fleet.ssh_config), alias, *command], capture_output=True, text=True, timeout=60
        )

    return run


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    """A local HTTP receiver for Apprise ``json://`` notifications."""
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()
