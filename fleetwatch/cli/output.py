"""The CLI contract: data on stdout, one-line ``fleetwatch: …`` diagnostics on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterable


def diag(message: str) -> None:
    """One diagnostic line on stderr."""
    print(f"fleetwatch: {message}", file=sys.stderr, flush=True)


def out(lines: Iterable[str]) -> None:
    """Data lines on stdout, flushed (watch mode output is read live)."""
    for line in lines:
        print(line, flush=True)
