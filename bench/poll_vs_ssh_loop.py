"""fleetwatch's poll pass against the naive OpenSSH loop, measured in the same run on loopback.

    .venv/bin/python bench/poll_vs_ssh_loop.py [--hosts 20] [--rounds 3]

Starts a real OpenSSH sshd on 127.0.0.1 (as the integration tests do) whose remote home holds a real
agent-runner project, writes N aliases for it, then times:

  naive      for h in hosts; do ssh h agent-runner --json peek --events 50; done   (sequential)
  cold       fleetwatch: resolve with ssh -G, connect every host, probe, detect, store (one --once pass)
  warm       fleetwatch watch mode: the next pass on kept-open connections
  reparse    asyncssh handed the ssh_config on every connect (what fleetwatch avoids), same probe

and prints each as a ratio against the naive loop.  The fleetwatch probe does more per host than
the naive loop (peek plus round-log tails plus live disk/memory/load/clock facts).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetwatch.inventory.fleet import load_fleet  # noqa: E402
from fleetwatch.pipeline import run_pass  # noqa: E402
from fleetwatch.probe.command import gather_command  # noqa: E402
from fleetwatch.store import Store  # noqa: E402
from fleetwatch.transport import Transport  # noqa: E402
from tests.integration.projects import AGENT_RUNNER, make_project  # noqa: E402
from tests.integration.sshd import host_block, keygen, start_sshd  # noqa: E402

REMOTE_CONFIG = "~/proj/agent-runner.toml"


def setup(root: Path, hosts: int, padding: int) -> tuple[Path, Path, list[str], Callable[[], None]]:
    """sshd + a remote home with agent-runner and one project; an ssh_config and inventory of N aliases."""
    home = root / "remote-home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "agent-runner").symlink_to(AGENT_RUNNER)
    (home / ".bashrc").write_text('export PATH="$HOME/.local/bin:$PATH"\n')
    host_key_line = keygen(root / "host_key", "bench-host")
    client_line = keygen(root / "client_key", "bench-client")
    (root / "authorized_keys").write_text(client_line + "\n")
    import getpass

    sshd = start_sshd(
        "bench", root / "sshd", home, root / "host_key", root / "authorized_keys", getpass.getuser()
    )
    make_project(home, "proj", round_budget_s=600)
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {host_key_line}\n")
    aliases = [f"pi{i:02d}" for i in range(hosts)]
    config = root / "ssh_config"
    # A real ~/.ssh/config also holds work servers, git forges and wildcard defaults: ``padding`` of them.
    others = "".join(
        f"Host srv{i}.example.internal srv{i}\n    HostName 192.0.2.{i % 250 + 1}\n    User ops\n\n"
        for i in range(padding)
    )
    config.write_text(
        "\n".join(host_block(a, sshd.port, root / "client_key", known) for a in aliases)
        + "\n"
        + others
        + "Host *\n    ServerAliveInterval 30\n    ServerAliveCountMax 3\n"
    )
    inventory = root / "fleet.yaml"
    inventory.write_text(
        f"defaults:\n  config: {REMOTE_CONFIG}\nhosts:\n" + "".join(f"  {a}: {{}}\n" for a in aliases)
    )
    return config, inventory, aliases, sshd.stop


PEEK = ["agent-runner", "--config", REMOTE_CONFIG, "--json", "peek", "--events", "50"]


def naive(config: Path, aliases: list[str], command: list[str]) -> float:
    started = time.perf_counter()
    for alias in aliases:
        subprocess.run(["ssh", "-F", str(config), alias, *command], check=True, capture_output=True)
    return time.perf_counter() - started


async def transport_only(config: Path, inventory: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Connection cost alone: ``true`` on every host through fleetwatch's transport, cold then warm."""
    hosts, _ = load_fleet(config, [inventory])
    cold, warm = [], []
    for _ in range(rounds):
        transport = Transport(keep_open=True)
        for samples in (cold, warm):
            started = time.perf_counter()
            await asyncio.gather(*(transport.run(h.target, "true", 20) for h in hosts))
            samples.append(time.perf_counter() - started)
        await transport.close()
    return cold, warm


async def fleetwatch_passes(
    config: Path, inventory: Path, state: Path, rounds: int
) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        hosts, errors = load_fleet(config, [inventory])
        assert not errors, errors
        store = Store.open(state)
        transport = Transport(keep_open=True)
        first = await run_pass(transport, store, hosts)
        cold.append(time.perf_counter() - started)
        assert all(o.snapshot and o.snapshot.peek for o in first.observations), first.observations
        started = time.perf_counter()
        await run_pass(transport, store, hosts)
        warm.append(time.perf_counter() - started)
        await transport.close()
        store.close()
    return cold, warm


async def reparse(config: Path, inventory: Path, aliases: list[str], probe: bool = True) -> float:
    """Every connect re-reads the ssh_config (asyncssh's own parser), as a naive asyncssh port would."""
    hosts, _ = load_fleet(config, [inventory])
    command = {h.alias: gather_command(h.settings) if probe else "true" for h in hosts}
    started = time.perf_counter()

    async def one(alias: str) -> None:
        async with asyncssh.connect(alias, config=[str(config)]) as conn:
            await conn.run(command[alias], check=True)

    await asyncio.gather(*(one(a) for a in aliases))
    return time.perf_counter() - started


def best(samples: list[float]) -> float:
    return min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--padding", type=int, default=200, help="unrelated Host blocks in the ssh_config")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetwatch-bench-") as tmp:
        root = Path(tmp)
        config, inventory, aliases, stop = setup(root, args.hosts, args.padding)
        try:
            naive_s = [naive(config, aliases, PEEK) for _ in range(args.rounds)]
            cold_s, warm_s = asyncio.run(fleetwatch_passes(config, inventory, root / "state", args.rounds))
            reparse_s = [asyncio.run(reparse(config, inventory, aliases)) for _ in range(args.rounds)]
            naive_true = [naive(config, aliases, ["true"]) for _ in range(args.rounds)]
            t_cold, t_warm = asyncio.run(transport_only(config, inventory, args.rounds))
            reparse_true = [
                asyncio.run(reparse(config, inventory, aliases, False)) for _ in range(args.rounds)
            ]
        finally:
            stop()
    print(
        f"{args.hosts} hosts on one loopback sshd, {args.padding} other Host blocks in the ssh_config, "
        f"best of {args.rounds} [median]; ratio = naive / this"
    )
    table(
        "full poll (naive runs peek only; fleetwatch probes, detects and stores)",
        naive_s,
        [
            ("fleetwatch cold pass (incl. ssh -G)", cold_s),
            ("fleetwatch warm pass (kept open)", warm_s),
            ("asyncssh re-reading ssh_config", reparse_s),
        ],
    )
    table(
        "transport only (`true` on every host)",
        naive_true,
        [
            ("fleetwatch transport, cold", t_cold),
            ("fleetwatch transport, warm", t_warm),
            ("asyncssh re-reading ssh_config", reparse_true),
        ],
    )
    print(
        f"re-reading ssh_config per connect / resolved once: {best(reparse_true) / best(t_cold):.1f}x slower"
    )


def table(title: str, naive_s: list[float], rows: list[tuple[str, list[float]]]) -> None:
    base = best(naive_s)
    print(f"\n{title}")
    for name, samples in [("naive `for h; ssh h …` loop", naive_s), *rows]:
        b = best(samples)
        print(f"  {name:40s} {b:7.3f} s [{statistics.median(samples):7.3f}]  {base / b:6.1f}x")


if __name__ == "__main__":
    main()
