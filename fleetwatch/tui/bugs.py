"""Where the TUI keeps the tracebacks it never shows (an append-only ``tui-errors.log``), and the guard
that keeps an exception from ever reaching Textual's handler (which would end the App with a traceback)."""

from __future__ import annotations

import functools
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from fleetwatch.basics import iso

F = TypeVar("F", bound=Callable[..., Any])


def record(path: Path, exc: BaseException) -> str:
    """Append ``exc``'s traceback to ``path``; return where it went (or why it could not go there)."""
    text = "".join(traceback.format_exception(exc))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"--- {iso(time.time())} pid {os.getpid()}\n{text}\n".encode())
        finally:
            os.close(fd)
    except OSError as err:
        return f"its traceback could not be written to {path}: {err.strerror or err}"
    return f"traceback in {path}"


class Reporter(Protocol):
    """What ``guarded`` hands an exception to: the App, which notifies and logs."""

    def report_error(self, error: BaseException, doing: str) -> None:
        """Say ``error`` happened while ``doing`` something; never raise."""


def guarded(doing: str) -> Callable[[F], F]:
    """Catch what a handler, action or refresh raises and hand it to the App.

    Textual stops a widget's (or the App's) message loop for good after a handler raises, so an error must
    never leave one of ours: it becomes a notification (and a traceback in the log), and the screen lives on.
    """

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                reporter = self if hasattr(self, "report_error") else self.app
                cast(Reporter, reporter).report_error(exc, doing)
                return None

        return cast(F, run)

    return wrap
