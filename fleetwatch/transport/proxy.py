"""ProxyCommand as OpenSSH runs it, with its stderr kept to say why it failed.

OpenSSH runs ``$SHELL -c "exec COMMAND"`` (``/bin/sh`` without ``$SHELL``) with the command's stdin
and stdout as the connection, and lets its stderr through to the terminal.  Here the connection is
one end of a socket pair handed to asyncssh, and stderr goes to a pipe whose last bytes are kept:
a ProxyCommand that fails is named with its own last words, and nothing it prints ever lands on
fleetwatch's stderr (or over the TUI).  asyncssh's own ``proxy_command`` splits the line without a
shell and lets stderr through, so it is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field

KEEP_STDERR = 4096
"""Bytes kept from the end of a ProxyCommand's stderr."""
EXIT_WAIT_S = 0.5
"""How long a failed connection waits for its ProxyCommand's exit status."""
HANGUP_GRACE_S = 2.0
"""How long a hung-up ProxyCommand has to exit before it is killed."""


@dataclass(eq=False)
class Proxy:
    """A running ProxyCommand: our end of its stdin/stdout, and the tail of its stderr."""

    process: asyncio.subprocess.Process
    sock: socket.socket
    said: bytearray = field(default_factory=bytearray)
    reader: asyncio.Task[None] | None = None

    def last_line(self) -> str:
        """The last non-empty line the command wrote to stderr ("" when none)."""
        lines = [ln.strip() for ln in self.said.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""

    async def exit_status(self) -> int | None:
        """The command's exit status, once it has exited (waits up to ``EXIT_WAIT_S``); None if running."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(EXIT_WAIT_S):
                return await self.process.wait()
        return None

    def close(self) -> None:
        """Hang up: close our end and send SIGHUP to the command's process group, as ssh does on exit."""
        self.sock.close()
        self._signal(signal.SIGHUP)

    async def wait_closed(self) -> None:
        """Wait until the command has exited and been reaped; kill it if it outlives ``HANGUP_GRACE_S``."""
        if self.reader is None:
            return
        try:
            async with asyncio.timeout(HANGUP_GRACE_S):
                await asyncio.shield(self.reader)
                return
        except TimeoutError:
            self._signal(signal.SIGKILL)
        # A process that left the group may hold stderr open for ever: stop reading after one more grace.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANGUP_GRACE_S):
                await asyncio.shield(self.reader)
                return
        self.reader.cancel()

    def _signal(self, signum: int) -> None:
        if self.process.returncode is None:
            # Its own session: the group reaches the children of a pipeline or a wrapper script too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    async def _keep_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while chunk := await stream.read(KEEP_STDERR):
            self.said += chunk
            del self.said[:-KEEP_STDERR]
        await self.process.wait()  # reaped here, so no process outlives its connection unnoticed


async def start_proxy(command: str) -> Proxy:
    """Run ``command`` (%-tokens already expanded) as OpenSSH runs a ProxyCommand."""
    ours, theirs = socket.socketpair()
    try:
        process = await asyncio.create_subprocess_exec(
            os.environ.get("SHELL") or "/bin/sh",
            "-c",
            f"exec {command}",
            stdin=theirs.fileno(),
            stdout=theirs.fileno(),
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: closing it reaches what a pipeline started
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    proxy = Proxy(process, ours)
    proxy.reader = asyncio.ensure_future(proxy._keep_stderr())
    return proxy
