"""fleetwatch at fleet scale: N simulated hosts behind one sshd in a network namespace, against the bare
asyncssh loop, ``xargs -P32 ssh`` and a warm OpenSSH ControlMaster, measured in the same run.

    sudo .venv/bin/python bench/fleet_scale.py [--hosts 50,200,500] [--remote cheap,real] [--passes 3]
                                               [--before REV] [--hashed]

One command stands everything up and tears it all down (namespace, sshd, cgroups, ControlMaster
processes), Ctrl-C included:

* a network namespace ``fwbench-PID`` whose ``lo`` carries 127.0.0.0/8: host *i* is 127.77.x.y, all
  served by one sshd listening on 0.0.0.0:22 *inside* the namespace (one sshd cannot have 500
  ListenAddress lines; nothing is reachable from outside the namespace);
* a remote home with agent-runner installed in a venv of its own (as pipx does) and a real project
  with real events, made by ``agent-runner serve`` with the integration suite's fake ``claude``;
* a cgroup (v2) around the sshd: every session, shell, probe and ``agent-runner peek`` it starts is
  counted there, so "remote CPU per poll" is everything the hosts spent;
* one cgroup per contender on the client side (its process, ``ssh -G``, ``xargs``, every ``ssh``, the
  ControlMaster daemons), so "client CPU" is everything the monitoring side spent.

Remote sides (``--remote``):
  real   every poll runs the real ``agent-runner --json peek --events 50`` (fleetwatch: its probe).
  cheap  sshd's ForceCommand answers every session with ``cat`` of an answer captured from the real
         thing (the peek document, or fleetwatch's probe line): the hosts' own CPU is then only sshd,
         the login shell and ``cat``, as cheap as it gets, so the comparison is about the client side.

Contenders, each a fresh process (so peak RSS is its own):
  asyncssh   the bare loop: asyncssh.connect + run + json.loads, 32 at once, connections kept open
  fleetwatch load_fleet (ssh -G) + Transport(keep_open) + run_pass (probe, parse, detect, store)
  fw-cached  the same, started again: resolution from the ssh -G cache
  before     fleetwatch at --before REV (git archive of that revision), cold
  xargs      printf aliases | xargs -P32 ssh ALIAS CMD, every pass a new connection per host
  master     the same through ControlMaster=auto/ControlPersist: first pass opens the masters,
             following passes are the warm ones

Numbers per contender: client CPU per host (first pass, median of next passes), remote CPU per poll,
peak memory (ru_maxrss of the process; for the ssh-based ones, the peak sum of PSS over the client
cgroup, sampled every 0.1 s), wall time per pass.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CGROUP_ROOT = (
    Path("/sys/fs/cgroup/unified") if Path("/sys/fs/cgroup/unified").is_dir() else Path("/sys/fs/cgroup")
)
SSHD = "/usr/sbin/sshd"
CONCURRENCY = 32
REMOTE_CONFIG = "~/proj/agent-runner.toml"
PEEK_ARGV = ["agent-runner", "--config", REMOTE_CONFIG, "--json", "peek", "--events", "50"]
# One string, expanded by the remote login shell (~), as a person would type it after `ssh host`.
PEEK_COMMAND = " ".join(PEEK_ARGV)
CONTENDERS = ("asyncssh", "fleetwatch", "fw-cached", "before", "xargs", "master")


def address(i: int) -> str:
    return f"127.77.{i // 250}.{i % 250 + 1}"


# --- the driver: namespace, sshd, cgroups -------------------------------------------------------------


@dataclass
class Lab:
    """Everything stood up for one run; ``close`` tears it down in reverse."""

    root: Path
    netns: str = ""
    cgroup: Path | None = None
    sshd: subprocess.Popen[bytes] | None = None
    cleanups: list[Any] = field(default_factory=list)

    def close(self) -> None:
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(timeout=5)
        if self.cgroup is not None:
            kill_cgroup_tree(self.cgroup)
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, capture_output=True)
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def kill_cgroup_tree(group: Path) -> None:
    """Kill every process under ``group`` and remove the cgroups, children first."""
    if not group.is_dir():
        return
    kill = group / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    else:  # kernels before 5.14: signal each process
        for pid in _cgroup_pids(group):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    for sub in [*sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), group]:
        while time.monotonic() < deadline:
            try:
                sub.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def _cgroup_pids(group: Path) -> list[int]:
    pids: list[int] = []
    for procs in group.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in procs.read_text().split()]
    return pids


def cgroup_cpu_s(group: Path) -> float:
    """CPU seconds used by every process that ever ran in ``group`` (cgroup v2 cpu.stat)."""
    for line in (group / "cpu.stat").read_text().splitlines():
        key, value = line.split()
        if key == "usage_usec":
            return int(value) / 1e6
    raise RuntimeError(f"no usage_usec in {group}/cpu.stat")


def remove_stale_labs() -> None:
    """Namespaces and cgroups left by a bench run that was killed outright (SIGKILL)."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in names:
        if name.startswith("fwbench-") and name[8:].isdigit() and not Path(f"/proc/{name[8:]}").exists():
            subprocess.run(["ip", "netns", "del", name], check=False)
    for group in CGROUP_ROOT.glob("fwbench-*"):
        if group.name[8:].isdigit() and not Path(f"/proc/{group.name[8:]}").exists():
            kill_cgroup_tree(group)


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def make_remote_home(lab: Lab) -> tuple[Path, Path]:
    """A remote home with agent-runner in its own venv (as pipx installs it) and a real project."""
    sys.path.insert(0, str(ROOT))
    from tests.integration.projects import make_project, persona_env

    home = lab.root / "remote-home"
    venv = lab.root / "remote-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "pip"),
        "install",
        "-q",
        "--disable-pip-version-check",
        "cli-agent-runner==0.3.14",
    ]
    if subprocess.run(pip, capture_output=True).returncode != 0:
        raise SystemExit("fleet_scale: could not pip install cli-agent-runner==0.3.14 into the remote venv")
    runner = venv / "bin" / "agent-runner"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "agent-runner").symlink_to(runner)
    (home / ".bashrc").write_text('export PATH="$HOME/.local/bin:$PATH"\n')
    project = make_project(home, "proj", round_budget_s=600, restart_delay_s=1)
    # Three real rounds with the fake claude: events, round logs, usage; a 10-15 KB peek document.
    subprocess.run(
        [str(runner), "serve", "--max-rounds", "3"],
        cwd=project.dir,
        env=persona_env(home, "ok"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return home, runner


def capture_answers(lab: Lab, home: Path) -> tuple[Path, Path]:
    """What the real remote side prints, for --remote cheap: the peek document and the probe's line."""
    from fleetwatch.probe.command import gather_command
    from fleetwatch.settings import HostSettings

    env = {"HOME": str(home), "PATH": f"{home}/.local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    peek = subprocess.run(
        ["sh", "-c", PEEK_COMMAND], env=env, cwd=home, check=True, capture_output=True
    ).stdout
    probe = subprocess.run(
        ["sh", "-c", gather_command(HostSettings(config=REMOTE_CONFIG))],
        env=env,
        cwd=home,
        check=True,
        capture_output=True,
    ).stdout
    (lab.root / "answer-peek.json").write_bytes(peek)
    (lab.root / "answer-probe.txt").write_bytes(probe)
    return lab.root / "answer-peek.json", lab.root / "answer-probe.txt"


def start_sshd(lab: Lab, home: Path, cheap: bool) -> None:
    """One sshd on 0.0.0.0:22 inside the namespace, itself inside the remote cgroup."""
    assert lab.cgroup is not None
    workdir = lab.root / ("sshd-cheap" if cheap else "sshd-real")
    workdir.mkdir()
    force = ""
    if cheap:
        # The login shell runs this; every contender gets sshd + bash + cat, nothing else.
        force = (
            "ForceCommand case $SSH_ORIGINAL_COMMAND in *fleetwatch-gather*) "
            f"exec cat {lab.root}/answer-probe.txt;; *) exec cat {lab.root}/answer-peek.json;; esac"
        )
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 0.0.0.0",
                "Port 22",
                f"HostKey {lab.root / 'host_key'}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {lab.root / 'authorized_keys'}",
                "StrictModes no",
                "UsePAM no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin yes",
                f"AllowUsers {getpass.getuser()}",
                f"SetEnv HOME={home}",
                "PrintMotd no",
                "PrintLastLog no",
                "UseDNS no",
                "MaxStartups 1000",
                "MaxSessions 100",
                "LogLevel ERROR",
                force,
                "",
            ]
        )
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
    remote = lab.cgroup / ("remote-cheap" if cheap else "remote-real")
    remote.mkdir()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = (workdir / "sshd.log").open("ab")
    lab.sshd = subprocess.Popen(
        [
            "sh",
            "-c",
            'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$1" "$2" -D -e -f "$3"',
            str(remote),
            lab.netns,
            SSHD,
            str(config),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 10
    knock = ["ip", "netns", "exec", lab.netns, "bash", "-c", "exec 3<>/dev/tcp/127.77.0.1/22"]
    while subprocess.run(knock, capture_output=True).returncode:
        if time.monotonic() > deadline or lab.sshd.poll() is not None:
            raise SystemExit(f"fleet_scale: sshd did not start; see {workdir / 'sshd.log'}")
        time.sleep(0.05)


def stop_sshd(lab: Lab) -> None:
    if lab.sshd is not None:
        lab.sshd.terminate()
        lab.sshd.wait(timeout=10)
        lab.sshd = None


def write_client_files(lab: Lab, hosts: int, hashed: bool) -> tuple[Path, Path, Path]:
    """ssh_config (N aliases + 200 unrelated Host blocks), known_hosts, fleetwatch inventory."""
    from fleetwatch.transport.host_keys import hashed_name

    host_key = (lab.root / "host_key.pub").read_text().split()[:2]
    user = getpass.getuser()
    base = lab.root / f"client-{hosts}"
    base.mkdir(exist_ok=True)
    known = base / "known_hosts"
    known.write_text(
        "".join(
            f"{hashed_name(address(i)) if hashed else address(i)} {' '.join(host_key)}\n"
            for i in range(hosts)
        )
    )
    os.utime(known, (time.time() - 60, time.time() - 60))
    blocks = [
        f"Host pi{i:03d}\n    HostName {address(i)}\n    User {user}\n"
        f"    IdentityFile {lab.root / 'client_key'}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known}\n    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n    BatchMode yes\n"
        for i in range(hosts)
    ]
    padding = [
        f"Host srv{i}.example.internal srv{i}\n    HostName 192.0.2.{i % 250 + 1}\n    User ops\n"
        for i in range(200)
    ]
    config = base / "ssh_config"
    config.write_text("\n".join([*blocks, *padding, "Host *\n    ServerAliveInterval 30\n"]))
    inventory = base / "fleet.yaml"
    inventory.write_text(
        f"defaults:\n  config: {REMOTE_CONFIG}\nhosts:\n"
        + "".join(f"  pi{i:03d}: {{}}\n" for i in range(hosts))
    )
    return config, known, inventory


def run_worker(lab: Lab, name: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One contender in a fresh process, in its own client cgroup, inside the namespace."""
    assert lab.cgroup is not None
    group = lab.cgroup / f"client-{name}-{time.monotonic_ns()}"
    group.mkdir()
    remote = next(lab.cgroup.glob("remote-*"))
    argv = [
        "sh",
        "-c",
        'echo $$ > "$0/cgroup.procs" && exec "$@"',
        str(group),
        sys.executable,
        str(Path(__file__).resolve()),
        "worker",
        *args[:1],
        "--netns",
        lab.netns,
        "--client-cgroup",
        str(group),
        "--remote-cgroup",
        str(remote),
        *args[1:],
    ]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=3600
        )
    finally:
        kill_cgroup_tree(group)  # ControlMaster daemons and anything else it left behind
    if proc.returncode != 0:
        raise SystemExit(f"fleet_scale: worker {name} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- the workers ------------------------------------------------------------------------------------------


class Meter:
    """Client and remote CPU, wall time and memory of one pass."""

    def __init__(self, client: Path, remote: Path) -> None:
        self.client, self.remote = client, remote
        self.passes: list[dict[str, float]] = []
        self.peak_pss_kb = 0
        self._sampling = False

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        wall, client, remote = time.perf_counter(), cgroup_cpu_s(self.client), cgroup_cpu_s(self.remote)
        yield
        self.passes.append(
            {
                "wall_s": time.perf_counter() - wall,
                "client_cpu_s": cgroup_cpu_s(self.client) - client,
                "remote_cpu_s": cgroup_cpu_s(self.remote) - remote,
            }
        )

    @contextlib.contextmanager
    def sampling_pss(self) -> Iterator[None]:
        """Peak of the summed PSS of every process in the client cgroup (for many-process contenders)."""
        self._sampling = True

        def sample() -> None:
            while self._sampling:
                total = 0
                for pid in _cgroup_pids(self.client):
                    with contextlib.suppress(OSError, ValueError):
                        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                            if line.startswith("Pss:"):
                                total += int(line.split()[1])
                self.peak_pss_kb = max(self.peak_pss_kb, total)
                time.sleep(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._sampling = False
            thread.join()

    def report(self, **extra: Any) -> None:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"passes": self.passes, "rss_kb": peak_kb, "pss_kb": self.peak_pss_kb, **extra}))


async def worker_fleetwatch(args: argparse.Namespace, meter: Meter) -> None:
    if args.fleetwatch_src:
        sys.path.insert(0, args.fleetwatch_src)
    else:
        sys.path.insert(0, str(ROOT))
    import fleetwatch
    from fleetwatch.inventory.fleet import load_fleet
    from fleetwatch.pipeline import run_pass
    from fleetwatch.store import Store
    from fleetwatch.transport import Transport

    assert Path(fleetwatch.__file__).resolve().is_relative_to(Path(sys.path[0]).resolve()), (
        fleetwatch.__file__
    )
    failures: list[str] = []
    first = None
    if args.profile:
        import cProfile

        first = cProfile.Profile(time.process_time)
    with meter.measure():
        if first is not None:
            first.enable()
        hosts, errors = load_fleet(Path(args.config), [Path(args.inventory)])
        assert not errors, errors[:3]
        store = Store.open(Path(args.state))
        transport = Transport(keep_open=True)
        result = await run_pass(transport, store, hosts)
        if first is not None:
            first.disable()
            first.dump_stats(args.profile.replace("next-", "first-"))
    failures += [
        f"{o.host}: {o.failure}" for o in result.observations if o.snapshot is None or not o.snapshot.peek
    ]
    del result  # as watch mode does: the last pass's snapshots are not kept through the next pass
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    for _ in range(args.passes - 1):
        with meter.measure():
            if profiler is not None:
                profiler.enable()
            result = await run_pass(transport, store, hosts)
            if profiler is not None:
                profiler.disable()
        failures += [
            f"{o.host}: {o.failure}" for o in result.observations if o.snapshot is None or not o.snapshot.peek
        ]
        del result
    if profiler is not None:
        profiler.dump_stats(args.profile)
    await transport.close()
    store.close()
    meter.report(failures=failures[:5], failed=len(failures))


async def worker_asyncssh(args: argparse.Namespace, meter: Meter) -> None:
    import asyncio

    import asyncssh

    known = asyncssh.read_known_hosts(args.known_hosts)  # once, as a careful hand-written loop would
    key = asyncssh.read_private_key(args.key)
    gate = asyncio.Semaphore(CONCURRENCY)
    conns: dict[str, asyncssh.SSHClientConnection] = {}
    failures: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            try:
                conn = conns.get(address(i))
                if conn is None:
                    conn = conns[address(i)] = await asyncssh.connect(
                        address(i),
                        22,
                        username=getpass.getuser(),
                        client_keys=[key],
                        known_hosts=known,
                        config=None,
                    )
                result = await conn.run(PEEK_COMMAND, check=False)
                json.loads(str(result.stdout))
            except (OSError, asyncssh.Error, ValueError) as exc:
                failures.append(f"{address(i)}: {exc!r}")

    async def passes() -> None:
        for _ in range(args.passes):
            with meter.measure():
                await asyncio.gather(*(one(i) for i in range(args.hosts)))
        for conn in conns.values():
            conn.close()

    await passes()
    meter.report(failures=failures[:5], failed=len(failures))


def worker_ssh(args: argparse.Namespace, meter: Meter, master: bool) -> None:
    aliases = "".join(f"pi{i:03d}\n" for i in range(args.hosts))
    ssh = ["ssh", "-F", args.config]
    if master:
        control = Path(args.state) / "cm"
        control.mkdir(parents=True, exist_ok=True)
        ssh += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%C", "-o", "ControlPersist=600"]
    argv = ["xargs", f"-P{CONCURRENCY}", "-I{}", *ssh, "{}", PEEK_COMMAND]
    failed = 0
    with meter.sampling_pss():
        for _ in range(args.passes):
            with meter.measure():
                proc = subprocess.run(
                    argv, input=aliases, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            failed += proc.returncode != 0
    meter.report(failures=[proc.stderr[-500:]] if failed else [], failed=failed)


def enter_netns(name: str) -> None:
    """Join the lab's network namespace (setns), keeping this mount namespace: ``ip netns exec`` would
    remount /sys and hide the cgroup files the meter reads."""
    import ctypes

    clone_newnet = 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, clone_newnet) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["fleetwatch", "asyncssh", "xargs", "master"])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--client-cgroup", required=True)
    parser.add_argument("--remote-cgroup", required=True)
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--passes", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--fleetwatch-src", default="")
    parser.add_argument("--profile", default="", help="cProfile the next passes into this file")
    args = parser.parse_args(argv)
    enter_netns(args.netns)
    meter = Meter(Path(args.client_cgroup), Path(args.remote_cgroup))
    if args.contender == "fleetwatch":
        import asyncio

        asyncio.run(worker_fleetwatch(args, meter))
    elif args.contender == "asyncssh":
        import asyncio

        asyncio.run(worker_asyncssh(args, meter))
    else:
        worker_ssh(args, meter, master=args.contender == "master")


# --- the table ----------------------------------------------------------------------------------------------


def summarize(result: dict[str, Any], hosts: int) -> dict[str, float]:
    passes = result["passes"]
    first, rest = passes[0], passes[1:] or passes[:1]

    def med(key: str) -> float:
        return float(statistics.median(p[key] for p in rest))

    return {
        "client_first_ms": 1000 * first["client_cpu_s"] / hosts,
        "client_next_ms": 1000 * med("client_cpu_s") / hosts,
        "remote_first_ms": 1000 * first["remote_cpu_s"] / hosts,
        "remote_next_ms": 1000 * med("remote_cpu_s") / hosts,
        "wall_first_s": first["wall_s"],
        "wall_next_s": med("wall_s"),
        "mem_mb": (result["pss_kb"] or result["rss_kb"]) / 1024,
        "pss": bool(result["pss_kb"]),
        "failed": result["failed"],
    }


LABELS = {
    "asyncssh": "bare asyncssh loop",
    "fleetwatch": "fleetwatch (ssh -G)",
    "fw-cached": "fleetwatch (ssh -G cache)",
    "before": "fleetwatch before ({rev})",
    "xargs": "xargs -P32 ssh",
    "master": "ssh ControlMaster",
}


def print_table(title: str, rows: dict[str, dict[str, float]], rev: str) -> None:
    print(f"\n{title}")
    pad = " " * 30
    print(
        f"{pad}{'client CPU per host':>19s} {'remote CPU per poll':>20s} {'peak':>8s} {'wall per pass':>17s}"
    )
    cols = [("first", 9), ("next", 9), ("first", 9), ("next", 10), ("memory", 8), ("first", 8), ("next", 8)]
    print(pad + " ".join(f"{name:>{width}s}" for name, width in cols))
    for name, r in rows.items():
        mem = f"{r['mem_mb']:.0f} MB" + ("*" if r["pss"] else " ")
        fail = f"  ({r['failed']:.0f} FAILED)" if r["failed"] else ""
        cpu = f"{r['client_first_ms']:6.2f} ms {r['client_next_ms']:6.2f} ms"
        remote = f"{r['remote_first_ms']:6.1f} ms {r['remote_next_ms']:7.1f} ms"
        wall = f"{r['wall_first_s']:6.2f} s {r['wall_next_s']:6.2f} s"
        print(f"  {LABELS[name].format(rev=rev):28s} {cpu} {remote} {mem:>8s} {wall}{fail}")


def print_ratios(rows: dict[str, dict[str, float]], hosts: int) -> None:
    """The issue's targets, as ratios of this run's medians."""
    fw, bare, cached = rows.get("fleetwatch"), rows.get("asyncssh"), rows.get("fw-cached")
    xargs, master = rows.get("xargs"), rows.get("master")
    out = []
    if fw and bare:
        ratio = fw["client_next_ms"] / bare["client_next_ms"]
        out.append(f"client CPU, next pass, fleetwatch / bare asyncssh loop: {ratio:.2f}x")
        added = fw["remote_next_ms"] - bare["remote_next_ms"]
        out.append(f"remote CPU the probe adds per poll (fleetwatch - bare, next passes): {added:+.1f} ms")
    if fw and xargs:
        out.append(
            f"wall, xargs -P32 ssh / fleetwatch next pass: {xargs['wall_next_s'] / fw['wall_next_s']:.1f}x"
        )
        if cached:
            ratio = xargs["wall_next_s"] / cached["wall_first_s"]
            out.append(f"wall, xargs -P32 ssh / fleetwatch first pass (cached resolution): {ratio:.1f}x")
    if fw and master:
        ratio = master["wall_next_s"] / fw["wall_next_s"]
        out.append(f"wall, warm ControlMaster / fleetwatch next pass: {ratio:.1f}x")
    if fw and (xargs or master):
        # With hosts on CPUs of their own, a pass is bound by the client: fleetwatch is one asyncio thread
        # (one core), ssh processes spread over every core. A derived number, not a measurement.
        cores = os.cpu_count() or 1
        fw_s = hosts * fw["client_next_ms"] / 1000
        for name, other in (("xargs -P32 ssh", xargs), ("warm ControlMaster", master)):
            if other:
                other_s = hosts * other["client_next_ms"] / 1000 / min(cores, CONCURRENCY)
                out.append(
                    f"client-bound wall (derived: client CPU / cores it can use), {name} / fleetwatch: "
                    f"{other_s / fw_s:.1f}x"
                )
    for line in out:
        print(f"  {line}")


def measure_size(
    lab: Lab, args: argparse.Namespace, contenders: list[str], remote: str, hosts: int, before_src: str
) -> dict[str, dict[str, float]]:
    """Every contender ``args.rounds`` times, interleaved (the machine's noise hits all alike); medians."""
    config, known, inventory = write_client_files(lab, hosts, args.hashed)
    cache_home = lab.root / f"xdg-cache-{remote}-{hosts}"
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for round_ in range(args.real_rounds if remote == "real" else args.rounds):
        for name in contenders:
            state = lab.root / f"state-{remote}-{hosts}-{name}-{round_}"
            common = [
                "--hosts", str(hosts), "--passes", str(args.passes), "--config", str(config),
                "--inventory", str(inventory), "--known-hosts", str(known),
                "--key", str(lab.root / "client_key"), "--state", str(state),
            ]  # fmt: skip
            kind = {"fw-cached": "fleetwatch", "before": "fleetwatch"}.get(name, name)
            extra = ["--fleetwatch-src", before_src] if name == "before" else []
            if args.profile and name in ("fleetwatch", "fw-cached") and round_ == 0:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                dump = Path(args.profile).resolve() / f"next-{name}-{remote}-{hosts}.pstats"
                extra += ["--profile", str(dump)]
            # The cold fleetwatch starts with an empty ssh -G cache; fw-cached, started next, finds it.
            if name == "fleetwatch":
                shutil.rmtree(cache_home, ignore_errors=True)
            cache = cache_home if name != "before" else lab.root / f"xdg-cache-before-{round_}"
            result = run_worker(lab, name, [kind, *common, *extra], {"XDG_CACHE_HOME": str(cache)})
            samples[name].append(summarize(result, hosts))
            if result["failed"]:
                print(f"  {name}: {result['failed']} failures, e.g. {result['failures'][:2]}", flush=True)
    return {
        name: {key: statistics.median(float(r[key]) for r in runs) for key in runs[0]}
        for name, runs in samples.items()
    }


def probe_overhead(home: Path, before_src: str, runs: int) -> None:
    """Host CPU of one poll's remote command run locally (no sshd): peek alone vs the probe around it."""
    import resource

    from fleetwatch.probe.command import gather_command
    from fleetwatch.settings import HostSettings

    commands = {
        "agent-runner --json peek --events 50": PEEK_COMMAND,
        "fleetwatch probe (peek + facts + round logs)": gather_command(HostSettings(config=REMOTE_CONFIG)),
    }
    if before_src:
        old = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); from fleetwatch.probe.command import "
                "gather_command; from fleetwatch.settings import HostSettings; "
                "print(gather_command(HostSettings(config=sys.argv[2])), end='')",
                before_src,
                REMOTE_CONFIG,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        commands["fleetwatch probe before"] = old
    # What sshd runs for root: its login shell, bash -c, which reads ~/.bashrc when SSH_CLIENT is set.
    env = {
        "HOME": str(home),
        "PATH": f"{home}/.local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SSH_CLIENT": "127.0.0.1 40000 22",
    }
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so drift in the machine's load hits each alike
        for name, command in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(["bash", "-c", command], env=env, cwd=home, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    base = statistics.median(cpu[PEEK_LABEL])
    print(
        f"\nremote command alone, run locally (median CPU, {runs} interleaved runs, bash -c as sshd runs it)"
    )
    for name, samples in cpu.items():
        med = statistics.median(samples)
        extra = "" if name == PEEK_LABEL else f"  (+{med - base:.1f} ms over peek alone)"
        print(f"  {name:46s} {med:6.1f} ms{extra}")


PEEK_LABEL = "agent-runner --json peek --events 50"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="50,200,500", help="comma-separated fleet sizes")
    parser.add_argument("--remote", default="cheap,real", help="cheap, real or both (comma-separated)")
    parser.add_argument(
        "--passes", type=int, default=3, help="passes per contender (the first is the cold one)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="repeats of every contender, interleaved")
    parser.add_argument("--real-rounds", type=int, default=1, help="the same for --remote real (slow)")
    parser.add_argument("--probe-runs", type=int, default=30, help="local runs of each remote command")
    parser.add_argument("--contenders", default=",".join(c for c in CONTENDERS if c != "before"))
    parser.add_argument("--before", default="", help="also run fleetwatch at this git revision (cold)")
    parser.add_argument("--hashed", action="store_true", help="HashKnownHosts-style known_hosts")
    parser.add_argument(
        "--profile", default="", help="directory for cProfile dumps of fleetwatch's next passes"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("fleet_scale: run as root (network namespace, cgroups, sshd)")
    for tool in ("ip", SSHD, "ssh", "xargs", "ssh-keygen"):
        if not shutil.which(tool):
            raise SystemExit(f"fleet_scale: {tool} is missing; run .ci/install-system-deps")
    contenders = [c for c in args.contenders.split(",") if c]
    if args.before:
        contenders.insert(contenders.index("fleetwatch") + 1 if "fleetwatch" in contenders else 0, "before")
    sizes = [int(n) for n in args.hosts.split(",")]
    remotes = [r for r in args.remote.split(",") if r]

    remove_stale_labs()
    lab = Lab(Path(tempfile.mkdtemp(prefix="fwbench-")))
    lab.cleanups.append(lambda: shutil.rmtree(lab.root, ignore_errors=True))

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        lab.netns = f"fwbench-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", lab.netns], check=True)
        subprocess.run(["ip", "-n", lab.netns, "link", "set", "lo", "up"], check=True)
        lab.cgroup = CGROUP_ROOT / f"fwbench-{os.getpid()}"
        lab.cgroup.mkdir()
        sys.path.insert(0, str(ROOT))
        keygen(lab.root / "host_key")
        client_line = keygen(lab.root / "client_key")
        (lab.root / "authorized_keys").write_text(client_line + "\n")
        home, _runner = make_remote_home(lab)
        peek_file, _ = capture_answers(lab, home)
        before_src = ""
        if args.before:
            before_src = str(lab.root / "before-src")
            os.mkdir(before_src)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.before, "fleetwatch"],
                check=True,
                capture_output=True,
            )
            subprocess.run(["tar", "-x", "-C", before_src], input=archive.stdout, check=True)
        print(
            f"fleet_scale: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
            f"peek document {peek_file.stat().st_size / 1024:.1f} KB, "
            f"{'hashed' if args.hashed else 'plain'} known_hosts, {args.passes} passes "
            "(next = median of passes 2..)",
            flush=True,
        )
        for remote in remotes:
            start_sshd(lab, home, cheap=remote == "cheap")
            try:
                for hosts in sizes:
                    rows = measure_size(lab, args, contenders, remote, hosts, before_src)
                    what = (
                        "hosts answer with canned output (sshd ForceCommand: login shell + cat)"
                        if remote == "cheap"
                        else "hosts run the real agent-runner peek (fleetwatch: its probe)"
                    )
                    print_table(f"N={hosts}, remote={remote}: {what}", rows, args.before)
                    print_ratios(rows, hosts)
                    sys.stdout.flush()
            finally:
                stop_sshd(lab)
                if lab.cgroup is not None:
                    for group in lab.cgroup.glob("remote-*"):
                        kill_cgroup_tree(group)
        if "real" in remotes:
            probe_overhead(home, before_src, args.probe_runs)
        print("\n* many processes: peak of the summed PSS of the client cgroup; otherwise ru_maxrss")
    except KeyboardInterrupt:
        print("\nfleet_scale: interrupted; tearing down", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        lab.close()


if __name__ == "__main__":
    main()
