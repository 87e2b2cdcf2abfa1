"""Handing the terminal to ``ssh ALIAS`` (``e``) and getting it back, whatever happens.

``App.suspend`` restores the terminal on entry and takes it back on exit, but only if its body does
not raise: the body here never raises (what goes wrong is returned).  Repaints are held in a batch
while suspended (the backend keeps polling and the App keeps updating its state, but nothing is drawn
until the terminal is ours again).  The ssh runs as an asyncio subprocess, so the App's event loop keeps
handling the backend's messages meanwhile; the backend itself runs in its own thread and loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from textual.app import App, SuspendNotSupported

from fleetwatch import paths


async def _enter_pressed(said: str) -> None:
    """On a terminal, wait for Enter (the user reads what the command printed before the screen comes
    back).  The read is in a daemon thread: closing the TUI meanwhile does not wait for it."""
    if not (sys.stdin is not None and sys.stdin.isatty()):
        return
    loop = asyncio.get_running_loop()
    pressed: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not pressed.done():
            pressed.set_result(None)

    def read() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.readline()
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(done)

    print(f"\n{said}: press Enter to return to fleetwatch", file=sys.stderr, flush=True)
    threading.Thread(target=read, daemon=True, name="enter").start()
    await pressed


def ssh_argv(alias: str, ssh_config: Path) -> list[str]:
    """``ssh ALIAS``, exactly as the user's own ssh would run it; ``-F`` only when the fleet comes from
    another ssh_config than ssh's default (``--ssh-config``, the demo), which plain ssh would not read."""
    default = paths.default_ssh_config()
    if ssh_config.expanduser().resolve() == default.expanduser().resolve():
        return ["ssh", alias]
    return ["ssh", "-F", str(ssh_config), alias]


@dataclass(frozen=True)
class Ended:
    """How a command run in the terminal ended: its exit status, or why it could not run."""

    status: int | None
    error: str | None = None


@contextlib.contextmanager
def _interrupts_for_child() -> Iterator[None]:
    """Ctrl-C while ssh connects reaches our process group too: it is the child's, not a reason to quit
    the TUI.  A Python handler (not SIG_IGN, which a child would inherit) leaves ssh's own intact."""

    def ignore(signum: int, frame: FrameType | None) -> None:
        return None

    try:
        previous = signal.signal(signal.SIGINT, ignore)
    except ValueError:  # not the main thread: nothing to guard
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


async def run_suspended(app: App[Any], argv: Sequence[str]) -> Ended:
    """Suspend ``app``, run ``argv`` on the terminal, resume; never raises for what the command does."""
    status: int | None = None
    error: str | None = None
    cancelled = False
    with app.batch_update():  # no repaints pile up while the terminal belongs to ssh
        try:
            with app.suspend():
                process: asyncio.subprocess.Process | None = None
                try:
                    with _interrupts_for_child():
                        process = await asyncio.create_subprocess_exec(*argv)
                        status = await process.wait()
                        if status != 0:  # ssh's own words ("Connection refused") are on the screen: let
                            await _enter_pressed(f"{argv[0]} exited {status}")  # them be read first
                except FileNotFoundError:
                    error = f"{argv[0]} not found on PATH"
                except OSError as exc:
                    error = f"could not run {argv[0]}: {exc.strerror or exc}"
                except asyncio.CancelledError:  # the App is closing: end ssh, resume, then cancel
                    error, cancelled = "interrupted", True
                    if process is not None and process.returncode is None:
                        process.kill()
                except Exception as exc:  # resume the terminal first; the App reports it
                    error = f"{type(exc).__name__}: {exc}"
        except SuspendNotSupported:
            error = "this terminal cannot hand over to ssh (suspend is not supported here)"
    if cancelled:
        raise asyncio.CancelledError
    return Ended(status, error)
