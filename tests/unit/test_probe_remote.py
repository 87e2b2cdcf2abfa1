"""The remote probe (locate.sh + gather.py) run by a local ``sh``, against launchers pip, pipx and uv write.

These run the real remote scripts in a subprocess, as sshd would (``sh -c`` of the poll's command line),
with a fake agent-runner module whose ``main`` reports its argv and whether it runs in the gatherer's
own interpreter (whose ``__main__`` holds the gatherer) or in a process of its own.
"""

from __future__ import annotations

import ast
import base64
import importlib.metadata
import json
import shlex
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from fleetwatch.probe.command import SENTINEL, gather_command
from fleetwatch.probe.parse import parse_gather
from fleetwatch.settings import HostSettings

FAKE_MODULE = """
import json, os, sys

def main():
    mode = os.environ.get("FAKE_PEEK", "ok")
    if mode == "crash":
        raise ValueError("invalid project name 'my project'")
    if mode == "exit-text":
        sys.exit("agent-runner: config error: round_budget_s must be positive")
    if mode == "exit-78":
        print("config error", file=sys.stderr)
        return 78
    if mode == "fd-noise":
        os.write(1, b"written straight to fd 1, no newline")
    in_gatherer = hasattr(sys.modules["__main__"], "launcher_entry")
    print(json.dumps({"schema_version": "2.6", "project": "p", "in_gatherer": in_gatherer, "argv": sys.argv}))
    return 0
"""

PIP_LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""

# pip's launcher when the interpreter path is long or has spaces: valid sh and valid Python at once.
SH_LAUNCHER = """#!/bin/sh
'''exec' "{python}" "$0" "$@"
' '''
# -*- coding: utf-8 -*-
import re
import sys
from {module} import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""

UV_LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
import sys
from {module} import main
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit(main())
"""

WRAPPER = """#!/bin/sh
# A shell wrapper, as people write for venvs or env setup.
exec "{target}" "$@"
"""


@dataclass
class Probe:
    """What one run of the probe printed."""

    stdout: str
    stderr: str

    @property
    def doc(self) -> dict[str, Any]:
        line = next(ln for ln in reversed(self.stdout.splitlines()) if ln.startswith(SENTINEL))
        doc: dict[str, Any] = json.loads(line[len(SENTINEL) :])
        return doc

    @property
    def peek(self) -> dict[str, Any]:
        peek: dict[str, Any] = json.loads(self.doc["peek"]["stdout"])
        return peek

    @property
    def in_process(self) -> bool:
        return bool(self.peek["in_gatherer"])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "venv" / "bin").mkdir(parents=True)
    (home / "venv" / "bin" / "fakerunner.py").write_text(FAKE_MODULE)
    return home


def launcher(home: Path, text: str, *, python: str = sys.executable, module: str = "fakerunner") -> str:
    path = home / "venv" / "bin" / "agent-runner"
    path.write_text(text.format(python=python, module=module))
    path.chmod(0o755)
    return str(path)


def run(home: Path, runner: str | None, *, cwd: Path | None = None, command: str = "", **env: str) -> Probe:
    command = command or gather_command(HostSettings(runner=runner, config="~/proj/agent-runner.toml"))
    proc = subprocess.Popen(
        ["sh", "-c", command],
        cwd=cwd or home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return Probe(out, err)


@pytest.mark.parametrize("template", [PIP_LAUNCHER, SH_LAUNCHER, UV_LAUNCHER], ids=["pip", "pip-sh", "uv"])
def test_console_script_launcher_runs_in_the_gatherers_own_interpreter(home: Path, template: str) -> None:
    runner = launcher(home, template)
    probe = run(home, runner)
    assert probe.in_process, probe
    assert probe.doc["python"] == sys.executable
    assert probe.peek["argv"] == [
        runner,
        "--json",
        "--config",
        f"{home}/proj/agent-runner.toml",
        "peek",
        "--events",
        "50",
    ]
    snapshot = parse_gather("pi", probe.stdout, probe.stderr, 0.0)
    assert snapshot.peek is not None and snapshot.peek_error is None
    assert snapshot.facts is not None


def test_launcher_found_on_path_or_in_local_bin_runs_in_process(home: Path) -> None:
    target = launcher(home, PIP_LAUNCHER)
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "agent-runner").symlink_to(target)  # pipx links ~/.local/bin into its venv
    probe = run(home, None)
    assert probe.doc["runner"] == f"{home}/.local/bin/agent-runner"
    assert probe.in_process


def test_crash_in_process_reads_as_the_subprocess_traceback_did(home: Path) -> None:
    probe = run(home, launcher(home, PIP_LAUNCHER), FAKE_PEEK="crash")
    peek = probe.doc["peek"]
    assert peek["rc"] == 1 and peek["stdout"] == ""
    assert peek["stderr"].startswith("Traceback (most recent call last)")
    assert "fleetwatch-gather" not in peek["stderr"], "the gatherer's own frame is not shown"
    assert peek["stderr"].strip().endswith("ValueError: invalid project name 'my project'")
    snapshot = parse_gather("pi", probe.stdout, probe.stderr, 0.0)
    assert snapshot.peek_error == "agent-runner peek crashed: ValueError: invalid project name 'my project'"


@pytest.mark.parametrize(
    ("mode", "rc", "said"),
    [
        ("exit-text", 1, "agent-runner: config error: round_budget_s must be positive"),
        ("exit-78", 78, "config error"),
    ],
)
def test_exit_status_and_message_are_those_of_the_process(home: Path, mode: str, rc: int, said: str) -> None:
    probe = run(home, launcher(home, PIP_LAUNCHER), FAKE_PEEK=mode)
    assert (probe.doc["peek"]["rc"], probe.doc["peek"]["stderr"].strip()) == (rc, said)


def test_writes_straight_to_fd_1_cannot_garble_the_sentinel_line(home: Path) -> None:
    probe = run(home, launcher(home, PIP_LAUNCHER), FAKE_PEEK="fd-noise")
    assert probe.in_process and probe.peek["project"] == "p"


def test_launcher_whose_module_does_not_import_falls_back_to_a_subprocess(home: Path) -> None:
    probe = run(home, launcher(home, PIP_LAUNCHER, module="not_installed_here"))
    peek = probe.doc["peek"]
    assert peek["rc"] == 1
    assert "ModuleNotFoundError: No module named 'not_installed_here'" in peek["stderr"]


def test_the_gatherer_runs_under_the_launchers_own_interpreter(home: Path) -> None:
    system = shutil.which("python3", path="/usr/bin:/bin")
    assert system is not None and system != sys.executable
    probe = run(home, launcher(home, PIP_LAUNCHER, python=system))
    assert probe.doc["python"] == system
    assert probe.in_process and probe.peek["project"] == "p"


def test_launcher_whose_interpreter_is_gone_is_run_as_a_subprocess_and_reported(home: Path) -> None:
    runner = launcher(home, PIP_LAUNCHER, python="/opt/gone/bin/python3")
    probe = run(home, runner)
    assert probe.doc["python"] != "/opt/gone/bin/python3"  # python3 from PATH runs the gatherer
    peek = probe.doc["peek"]
    assert peek["rc"] is None and peek["stderr"].startswith(f"could not run {runner}: ")


def test_shell_wrapper_runner_runs_as_a_subprocess(home: Path) -> None:
    target = launcher(home, PIP_LAUNCHER)
    wrapper = home / "bin" / "agent-runner-wrapper"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(target=target))
    wrapper.chmod(0o755)
    probe = run(home, "~/bin/agent-runner-wrapper")
    assert not probe.in_process and probe.peek["project"] == "p"
    assert probe.doc["runner"] == str(wrapper)


def test_missing_runner_is_reported_with_where_it_looked(home: Path) -> None:
    probe = run(home, None)
    assert probe.doc["runner"] is None
    assert f"{home}/.local/bin/agent-runner" in probe.doc["searched"]


def test_modules_in_the_login_directory_do_not_shadow_the_stdlib(home: Path, tmp_path: Path) -> None:
    login = tmp_path / "login"
    login.mkdir()
    for name in ("json", "base64", "signal"):
        (login / f"{name}.py").write_text("raise SystemExit('shadowed')\n")
    probe = run(home, launcher(home, PIP_LAUNCHER), cwd=login)
    assert probe.in_process and probe.peek["project"] == "p"


def test_a_zlib_compressed_gatherer_runs_as_well(home: Path) -> None:
    # What gather_command can send instead of the plain source: a third of the bytes on every poll.
    remote = resources.files("fleetwatch.probe.remote")
    payload = base64.b64encode(zlib.compress(remote.joinpath("gather.py").read_bytes(), 9)).decode()
    runner = launcher(home, PIP_LAUNCHER)
    argv = ["sh", "-c", remote.joinpath("locate.sh").read_text(), "fleetwatch-gather", runner, "", "50", "40"]
    probe = run(home, runner, command=shlex.join([*argv, "10", payload]))
    assert probe.in_process and probe.peek["argv"][1:] == ["--json", "peek", "--events", "50"]


def test_gatherer_is_python_3_6_syntax_and_locate_is_posix_sh() -> None:
    remote = resources.files("fleetwatch.probe.remote")
    ast.parse(remote.joinpath("gather.py").read_text(), feature_version=(3, 6))
    for shell in ("sh", "dash", "bash"):
        if shutil.which(shell):
            subprocess.run([shell, "-n", "-c", remote.joinpath("locate.sh").read_text()], check=True)


def test_the_runners_version_comes_from_the_imported_package_or_its_dist_info(home: Path) -> None:
    installed = importlib.metadata.version("cli-agent-runner")
    real = Path(sys.executable).parent / "agent-runner"  # the real agent-runner, a pip launcher
    probe = run(home, str(real))
    assert probe.doc["runner_version"] == installed, "read from the package the in-process peek imported"
    # A launcher whose module is not agent-runner's: the dist-info beside its interpreter still says it.
    fake = run(home, launcher(home, PIP_LAUNCHER))
    assert fake.in_process and fake.doc["runner_version"] == installed
    snapshot = parse_gather("pi", fake.stdout, fake.stderr, 0.0)
    assert snapshot.runner_version == installed
    # A shell wrapper tells nothing: no version rather than a guess.
    wrapper = home / "bin" / "wrapped"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(target=real))
    wrapper.chmod(0o755)
    assert run(home, str(wrapper)).doc["runner_version"] is None
