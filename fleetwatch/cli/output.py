"""The CLI contract: data on stdout, one-line ``fleetwatch: …`` diagnostics on stderr, and how a command
ends: a closed pipe (``fleetwatch check | head -1``), SIGTERM or a hang-up (SIGHUP: the terminal or the ssh
session closed) is an orderly end, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import stat
import sys
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class Stdout:
    """Whether whoever reads our stdout has gone away (then output goes nowhere, quietly)."""

    closed = False


def diag(message: str) -> None:
    """One diagnostic line on stderr."""
    with contextlib.suppress(BrokenPipeError, ValueError):  # nobody reads stderr either: drop the line
        print(f"fleetwatch: {message}", file=sys.stderr, flush=True)


def out(lines: Iterable[str]) -> None:
    """Data lines on stdout, flushed (watch mode output is read live).

    When the reader has closed the pipe, stdout is pointed at /dev/null (so the interpreter's own final
    flush cannot fail either) and ``Stdout.closed`` tells long-running commands to end."""
    if Stdout.closed:
        return
    try:
        for line in lines:
            print(line, flush=True)
    except BrokenPipeError:
        Stdout.closed = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def ending_signals() -> tuple[signal.Signals, ...]:
    """The signals that end a command as Ctrl-C does: SIGTERM, and SIGHUP unless it is ignored (``nohup``
    asked for the command to outlive its terminal)."""
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        return (signal.SIGTERM,)
    return (signal.SIGTERM, signal.SIGHUP)


def reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (``fleetwatch | head -1`` after head's line):
    watch mode then ends at once instead of at its next alert, which may be days away."""
    if Stdout.closed:
        return True
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        hung_up = any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture), or no poll here
        return False
    if hung_up:
        out([""])  # the write fails, and that ends output the one way it always ends
    return Stdout.closed


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where SIGTERM and SIGHUP end the command as Ctrl-C does: the main task is cancelled,
    so every ``finally`` runs (connections closed, temporary files removed: the demo's private key);
    raises KeyboardInterrupt after."""

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        signals = ending_signals()
        for signum in signals:
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await coro
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
