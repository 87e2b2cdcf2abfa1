"""A remote command's output, read as bytes under a hard cap.

Everything a host sends is untrusted.  Output is read as bytes (asyncssh ``encoding=None``) and decoded
here with replacement, so a Latin-1 ``.bashrc`` greeting never breaks the session; and stdout and
stderr together may hold at most ``limit`` bytes, so a host that streams forever or prints 50 MB costs
at most ``limit`` bytes of memory before its session is closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncssh

CHUNK = 65536
"""Bytes asked for per read (asyncssh hands over what has arrived, up to this)."""


class OutputTooLarge(Exception):
    """The command's output passed the cap; what was read so far is dropped."""


@dataclass
class Collected:
    """Output read so far from one session, bytes of both streams counted against one cap."""

    limit: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)

    @property
    def size(self) -> int:
        """Bytes received so far, both streams."""
        return len(self.stdout) + len(self.stderr)

    async def drain(self, reader: asyncssh.SSHReader[bytes], into: bytearray) -> None:
        """Read ``reader`` to its end into ``into``; ``OutputTooLarge`` once the cap is passed."""
        while chunk := await reader.read(CHUNK):
            if self.size + len(chunk) > self.limit:
                raise OutputTooLarge
            into += chunk


async def collect(process: asyncssh.SSHClientProcess[bytes], into: Collected) -> None:
    """Read a process's stdout and stderr to their ends and wait for its exit status; the first error
    (``OutputTooLarge``, a lost connection) closes the channel and is raised."""
    # Both streams at once: a host filling its stderr window would otherwise stall stdout.
    reads = {
        asyncio.ensure_future(into.drain(process.stdout, into.stdout)),
        asyncio.ensure_future(into.drain(process.stderr, into.stderr)),
    }
    try:
        done, _ = await asyncio.wait(reads, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for read in reads:
            read.cancel()  # a timeout or the other stream's error: stop reading this one too
    errors = [exc for read in done if (exc := read.exception()) is not None]
    if errors:
        process.close()
        raise errors[0]
    await process.wait_closed()


def text(data: bytes | bytearray) -> str:
    """Bytes from a host as text: invalid UTF-8 becomes U+FFFD, never an error."""
    return data.decode("utf-8", "replace")
