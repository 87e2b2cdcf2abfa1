"""Real agent-runner projects on the remote side, driven into real states by real ``agent-runner serve``.

Every project is a fresh ``git init`` directory scaffolded with ``agent-runner init --no-commit``; its
agent-runner.toml is edited for short rounds, and ``serve`` runs with PATH holding one of the fake
``claude`` CLIs in ``tests/integration/fakes/<variant>/``.  Supervisors run as the remote persona (same
uid, the persona's HOME) in their own process group, so teardown can kill exactly what was started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FAKES = Path(__file__).parent / "fakes"
VENV_BIN = Path(sys.prefix) / "bin"
AGENT_RUNNER = VENV_BIN / "agent-runner"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def persona_env(home: Path, fake: str | None = None, **extra: str) -> dict[str, str]:
    """The environment agent-runner sees on the remote persona, optionally with a fake ``claude``."""
    path = f"{FAKES / fake}:{SYSTEM_PATH}" if fake else SYSTEM_PATH
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", **extra}


def _set_toml(text: str, key: str, value: str) -> str:
    new, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    if count != 1:
        raise AssertionError(f"agent-runner.toml has {count} `{key} =` lines; the scaffold changed")
    return new


@dataclass
class Project:
    """One agent-runner project directory in a persona's home."""

    home: Path
    name: str
    dir: Path
    log_dir: Path
    serves: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        """The agent-runner.toml on disk."""
        return self.dir / "agent-runner.toml"

    @property
    def remote_config(self) -> str:
        """The same file as an inventory ``config:`` value (``~`` is the persona's home)."""
        return "~/" + str(self.config.relative_to(self.home))

    def events(self) -> list[dict[str, object]]:
        """Supervisor events written so far (events-YYYY-MM.jsonl), oldest first."""
        out: list[dict[str, object]] = []
        for path in sorted(self.log_dir.glob("events-*.jsonl")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line being written right now
        return out

    def count(self, kind: str) -> int:
        """How many events of ``kind`` were written."""
        return sum(1 for e in self.events() if e.get("event") == kind)

    def serve(self, fake: str, max_rounds: int, **env: str) -> subprocess.Popen[bytes]:
        """Start ``agent-runner serve --max-rounds N`` detached, with the ``fake`` claude on PATH."""
        log = (self.home / f"serve-{self.name}-{len(self.serves)}.out").open("ab")
        proc = subprocess.Popen(
            [str(AGENT_RUNNER), "serve", "--max-rounds", str(max_rounds)],
            cwd=self.dir,
            env=persona_env(self.home, fake, **env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.serves.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a supervisor we started, its process group and the agents it spawned (agent-runner
        puts each agent in a session of its own, so the group alone would miss them)."""
        for pid in [*_descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):  # exited since we looked
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill_all(self) -> None:
        """Kill every supervisor this project started."""
        for proc in self.serves:
            self.kill(proc)


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from /proc (children before grandchildren)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def make_project(
    home: Path, name: str, *, round_budget_s: int, restart_delay_s: int = 1, log_dir: Path | None = None
) -> Project:
    """``git init`` + ``agent-runner init --no-commit`` in ``home/name``, tuned for short rounds."""
    work = home / name
    work.mkdir(parents=True)
    env = persona_env(home)
    git = ["git", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True, env=env)
    subprocess.run([*git, "config", "user.email", "fleetwatch-tests@localhost"], check=True, env=env)
    subprocess.run([*git, "config", "user.name", "fleetwatch tests"], check=True, env=env)
    subprocess.run(
        [str(AGENT_RUNNER), "init", "--no-commit"], cwd=work, env=env, check=True, capture_output=True
    )
    toml = (work / "agent-runner.toml").read_text()
    toml = _set_toml(toml, "round_budget_s", str(round_budget_s))
    toml = _set_toml(toml, "restart_delay_s", str(restart_delay_s))
    if log_dir is not None:
        toml = _set_toml(toml, "log_dir", json.dumps(str(log_dir)))
    (work / "agent-runner.toml").write_text(toml)
    resolved = log_dir or home / ".agent-runner" / name / "logs"
    return Project(home=home, name=name, dir=work, log_dir=resolved)


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def fill_filesystem(path: Path, target_pct: float) -> Path:
    """Write one file so the filesystem holding ``path`` is at least ``target_pct`` used (df's Use%)."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    total = used + st.f_bavail * st.f_frsize
    want = int(total * target_pct / 100) - used
    filler = path / "filler.bin"
    with filler.open("wb") as fh:
        fh.write(b"\0" * max(0, want))  # real blocks: tmpfs counts written pages, not holes
    return filler


def disk_used_pct(path: Path) -> float:
    """df's Use% for the filesystem holding ``path``."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    return 100.0 * used / (used + avail)
