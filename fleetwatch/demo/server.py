"""The SSH side of ``fleetwatch demo``: one asyncssh listener per simulated host on 127.0.0.1.

The listeners run as tasks in the caller's event loop, so the real transport can poll them in the
same loop.  They accept only public-key auth with the demo's client key and only two commands: the
probe, and fleetwatch's ``agent-runner stop`` (after which the host's peek shows serve gone); an
interactive ``ssh`` gets a one-line greeting and ends on enter.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncssh

from fleetwatch.demo.hosts import SimHost, gather_answer

LOOPBACK = "127.0.0.1"
UNSUPPORTED_EXIT = 127


def probe_args(command: str | None) -> tuple[int, int, int] | None:
    """(events, tail lines, round logs) when ``command`` is fleetwatch's probe, else None."""
    try:
        argv = shlex.split(command or "")
    except ValueError:
        return None
    # sh -c LOCATE fleetwatch-gather RUNNER CONFIG EVENTS TAIL_LINES ROUND_LOGS GATHER_B64
    if len(argv) != 10 or argv[0:2] != ["sh", "-c"] or argv[3] != "fleetwatch-gather":
        return None
    try:
        return int(argv[6]), int(argv[7]), int(argv[8])
    except ValueError:
        return None


def is_stop(command: str | None) -> bool:
    """Whether ``command`` is fleetwatch's ``agent-runner stop`` (``actions.stop.stop_command``)."""
    try:
        argv = shlex.split(command or "")
    except ValueError:
        return False
    # sh -c STOP_SCRIPT fleetwatch-stop RUNNER CONFIG
    return len(argv) == 6 and argv[0:2] == ["sh", "-c"] and argv[3] == "fleetwatch-stop"


def _handler(
    host: SimHost, stopped: dict[str, float], since: float
) -> Callable[[asyncssh.SSHServerProcess[str]], Awaitable[None]]:
    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        if process.command is None:  # `ssh demo-x` from the TUI's `e`: say where you are, wait for enter
            process.stdout.write(
                f"{host.alias}: a simulated agent-runner host ({host.summary}).\r\n"
                "On a real host this is your shell. Press enter to go back.\r\n"
            )
            await process.stdin.readline()
            process.exit(0)
            return
        if is_stop(process.command):
            stopped.setdefault(host.alias, time.time())
            process.stderr.write("agent-runner: stopping service...\nagent-runner: stopped (0.1s)\n")
            process.exit(0)
            return
        args = probe_args(process.command)
        if args is None:
            process.stderr.write("demo host: unsupported command\n")
            process.exit(UNSUPPORTED_EXIT)
            return
        await asyncio.sleep(host.delay_s)
        stopped_at = stopped.get(host.alias)
        sim = replace(host, service_active=False) if stopped_at is not None else host
        process.stdout.write(gather_answer(sim, time.time(), *args, since=since, stopped_at=stopped_at))
        process.exit(0)

    return handle


class _Server(asyncssh.SSHServer):
    """Tracks live connections: closing a listener leaves accepted connections open."""

    def __init__(self, live: set[asyncssh.SSHServerConnection]) -> None:
        self._live = live
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._live.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._live.discard(self._conn)


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    # Another process could grab it in between; on loopback in a short demo that risk is acceptable.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def serve(
    hosts: tuple[SimHost, ...], host_key: asyncssh.SSHKey, client_public_key: str
) -> AsyncIterator[dict[str, int]]:
    """Listen for every reachable host; yield alias -> port (unreachable hosts get a closed port)."""
    authorized = asyncssh.import_authorized_keys(client_public_key)
    live: set[asyncssh.SSHServerConnection] = set()
    stopped: dict[str, float] = {}  # hosts whose serve fleetwatch stopped, and when: their peek says so
    since = time.time()  # the simulated histories are anchored here and move on with the clock
    listeners: list[asyncssh.SSHAcceptor] = []
    ports: dict[str, int] = {}
    try:
        for host in hosts:
            if host.history is None:
                ports[host.alias] = closed_port()
                continue
            acceptor = await asyncssh.listen(
                LOOPBACK,
                0,
                server_factory=lambda: _Server(live),
                process_factory=_handler(host, stopped, since),
                server_host_keys=[host_key],
                authorized_client_keys=authorized,
                # Public key only: no password, keyboard-interactive or GSSAPI prompts to fall back to.
                password_auth=False,
                kbdint_auth=False,
                gss_host=None,
            )
            listeners.append(acceptor)
            ports[host.alias] = acceptor.get_port()
        yield ports
    finally:
        for acceptor in listeners:
            acceptor.close()
        for conn in list(live):
            conn.close()
        await asyncio.gather(*(a.wait_closed() for a in listeners), *(c.wait_closed() for c in live))
