"""``fleetwatch demo``: an embedded fleet of simulated agent-runner hosts behind real SSH on loopback.

``demo_fleet()`` starts one in-process SSH server per simulated host (in the running event loop),
writes an OpenSSH client config, key pair and known_hosts for them, and yields where they are; the
normal pipeline then polls them over real SSH exactly as it would a real fleet.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from fleetwatch.demo.hosts import HOSTS, SimHost
from fleetwatch.demo.server import LOOPBACK, serve

__all__ = ["HOSTS", "DemoFleet", "SimHost", "demo_fleet"]

USER = "demo"


@dataclass(frozen=True)
class DemoFleet:
    """Where a running demo fleet is and how to reach it."""

    ssh_config: Path
    """Generated OpenSSH client config with one ``Host`` alias per simulated host."""
    state_dir: Path
    """A fresh directory for fleetwatch's state (inside the work dir)."""
    aliases: tuple[str, ...]


def _quoted(path: Path) -> str:
    # ssh_config splits arguments on whitespace; double quotes keep a path with spaces whole.
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _write_files(root: Path, ports: dict[str, int], host_key: asyncssh.SSHKey) -> Path:
    key_type, key_b64 = host_key.export_public_key("openssh").decode().split()[:2]
    known_hosts = root / "known_hosts"
    known_hosts.write_text("".join(f"[{LOOPBACK}]:{port} {key_type} {key_b64}\n" for port in ports.values()))
    blocks = [
        f"Host {alias}\n"
        f"    HostName {LOOPBACK}\n"
        f"    Port {port}\n"
        f"    User {USER}\n"
        f"    IdentityFile {_quoted(root / 'id_ed25519')}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {_quoted(known_hosts)}\n"
        "    StrictHostKeyChecking yes\n"
        for alias, port in ports.items()
    ]
    config = root / "ssh_config"
    config.write_text(
        "# fleetwatch demo: simulated hosts on loopback, valid for this run only\n\n" + "\n".join(blocks)
    )
    return config


@asynccontextmanager
async def demo_fleet(
    workdir: Path | None = None, hosts: tuple[SimHost, ...] = HOSTS
) -> AsyncIterator[DemoFleet]:
    """Run the simulated fleet (``hosts``: the demo's six unless a test wants others) in the current
    event loop until the block exits."""
    async with AsyncExitStack() as stack:
        if workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleetwatch-demo-")))
        else:
            root = workdir
            root.mkdir(parents=True, exist_ok=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519", comment="fleetwatch-demo")
        identity = root / "id_ed25519"
        client_key.write_private_key(identity)
        os.chmod(identity, 0o600)  # ssh refuses private keys others can read
        client_key.write_public_key(root / "id_ed25519.pub")
        public = client_key.export_public_key("openssh").decode()
        ports = await stack.enter_async_context(serve(hosts, host_key, public))
        config = _write_files(root, ports, host_key)
        # mkdtemp: fresh even when a caller reuses a work dir, so no earlier run's episodes leak in.
        state = Path(tempfile.mkdtemp(prefix="state-", dir=root))
        yield DemoFleet(ssh_config=config, state_dir=state, aliases=tuple(ports))
