"""What the TUI remembers between runs: the fleet table's sort and filter (``paths.tui_view_file``).

Never fatal: an unreadable or damaged file means the defaults (and a note the App shows once); a file
that cannot be written is reported, not raised.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fleetwatch.tui.columns import BY_KEY


@dataclass(frozen=True)
class View:
    """The fleet table's sort column, its direction and the filter query."""

    sort: str = "state"
    """A column key; ``state`` is worst first."""
    reverse: bool = False
    query: str = ""


def load(path: Path) -> tuple[View, str | None]:
    """The remembered view, and what went wrong reading it (None when nothing did or there was none)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return View(), None
    except (OSError, ValueError) as exc:
        return View(), f"cannot read the remembered view in {path} ({exc}); starting from the defaults"
    if not isinstance(raw, dict):
        return View(), f"{path} is not a JSON object; starting from the defaults"
    sort = raw.get("sort")
    reverse = raw.get("reverse")
    query = raw.get("query")
    return (
        View(
            sort=sort if isinstance(sort, str) and sort in BY_KEY else "state",
            reverse=reverse if isinstance(reverse, bool) else False,
            query=query if isinstance(query, str) else "",
        ),
        None,
    )


def save(path: Path, view: View) -> str | None:
    """Remember ``view`` (written to a temporary file, then renamed); what went wrong, if anything."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(asdict(view)) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        return f"cannot remember the view in {path}: {exc.strerror or exc}"
    return None
