"""Every byte from a host is untrusted: decode bounded, check the shape fleetwatch relies on.  Pure.

Explicit checks rather than a schema library (pydantic, msgspec): peek's document is another project's,
versioned and loosely specified; fleetwatch needs only some of its fields, must tolerate every field it
does not know, and must name the *first wrong field* for the operator.  A few small checkers do that
with no dependency and no import cost on every start.

- ``load_json``: NaN / Infinity are never numbers here, nesting and size are capped, nothing raises, and
  no string holds a terminal control sequence or a lone surrogate (``printable``).
- ``Checker``: records "where: what is wrong" problems and hands back safe values (or None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 24
"""No document fleetwatch reads nests deeper than this (peek's nests 4 levels)."""
MAX_VALUES = 200_000
"""Nor holds more values than this (a poll's has a few thousand): parsing costs ~100 bytes per value, so
this bounds the memory one document can take (~20 MB) whatever its size."""
MAX_PROBLEMS = 5
"""Problems listed per host; the rest are counted."""
MAX_MAGNITUDE = 2.0**53
"""No number fleetwatch reads is larger than this (counts, bytes, epochs, money): beyond it a float loses
whole numbers and SQLite's 64-bit integers overflow once scaled, so it is invalid data."""
MAX_TEXT = 512
"""A short text field (a name, a path, a version) is cut to this many characters."""

# Terminal control sequences (CSI ``ESC [ … final``, OSC ``ESC ] … BEL/ST``), then any other C0 control but
# newline and tab, DEL and the C1 controls: a host's words must never drive the operator's terminal.
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# In JSON text they can only arrive escaped (\u001b, \r, \ud800 …) or as raw DEL/C1 characters: a cheap
# look at the text says whether the decoded strings need cleaning at all (a pattern starting with a
# backslash is searched for as a literal first: ~5 µs for a 17 KB peek, where one alternation tried at
# every position took 190 µs).
_ESCAPED = re.compile(r"\\(?:u00[01]|u007|u00[89]|u[dD][89a-fA-F]|[rbf])")
_C1 = re.compile(r"[\x80-\x9f]")


def _suspect(text: str) -> bool:
    """Whether ``text`` (JSON) may decode to strings ``printable`` would change."""
    if _ESCAPED.search(text) or "\x7f" in text:
        return True
    return not text.isascii() and _C1.search(text) is not None


def printable(text: str) -> str:
    """``text`` without terminal control sequences or control characters (newline and tab are kept,
    others become ``?``) and without lone surrogates (which no terminal, file or database can take)."""
    text = _CONTROL.sub("?", _SEQUENCE.sub("", text))
    return _SURROGATE.sub("?", text) if _SURROGATE.search(text) else text


def _cleaned(value: Any) -> Any:
    """A decoded document with ``printable`` applied to every string, keys included."""
    kind = type(value)
    if kind is str:
        return printable(value)
    if kind is dict:
        return {printable(k): _cleaned(v) for k, v in value.items()}
    if kind is list:
        return [_cleaned(v) for v in value]
    return value


class NonFinite:
    """What ``NaN``, ``Infinity`` and ``-Infinity`` decode to: never a number."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def load_json(text: str, what: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why it is unusable): malformed, too deeply nested or too many values
    (checked before parsing), not finite."""
    # At most one value per comma, plus one per object or list opened (commas in strings count too).
    values = 1 + text.count(",") + text.count("[") + text.count("{")
    if values > MAX_VALUES:
        return None, f"{what} holds up to {values} values (fleetwatch reads at most {MAX_VALUES})"
    try:
        value = json.loads(text, parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        return None, f"{what} is not JSON ({exc.msg} at char {exc.pos}): {printable(text[:80])!r}"
    except RecursionError:
        return None, f"{what} is nested deeper than fleetwatch reads (more than {MAX_DEPTH} levels)"
    except ValueError as exc:  # a number of more than 4,300 digits: Python refuses to read it
        return None, f"{what} holds a number fleetwatch cannot read ({str(exc)[:80]})"
    depth = _depth(value)
    if depth > MAX_DEPTH:
        return None, f"{what} is nested {depth} levels deep (fleetwatch reads at most {MAX_DEPTH})"
    if _suspect(text):
        value = _cleaned(value)
    return value, None


def _depth(value: Any, level: int = 1) -> int:
    """How deeply ``value`` (decoded JSON: dicts, lists, scalars) nests, measured only as far as one level
    past ``MAX_DEPTH``: the recursion is bounded by it, so a deep document cannot exhaust our stack.
    (Recursive with exact type checks: 4x faster than an explicit stack, on 500 hosts' documents a pass.)"""
    kind = type(value)
    if kind is not dict and kind is not list:
        return level - 1
    if level > MAX_DEPTH:
        return level  # deep enough to refuse: no need to measure the rest
    deepest = level
    for child in value.values() if kind is dict else value:
        of = type(child)
        if of is dict or of is list:
            below = _depth(child, level + 1)
            if below > deepest:
                deepest = below
                if below > MAX_DEPTH:
                    return below
    return deepest


def describe(value: Any) -> str:
    """How a wrong value is named in a problem: its type, and the value when short."""
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    kind = kinds.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
    if isinstance(value, NonFinite):
        return f"{value.text} (not a finite number)"
    shown = repr(value) if isinstance(value, str | int | float) else ""
    return f"{kind} {shown[:40]}".strip()


class Checker:
    """Collects problems with the fields it is asked about, and returns their safe values."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def wrong(self, where: str, value: Any, wanted: str) -> None:
        """Record that ``where`` holds ``value`` instead of ``wanted``."""
        self.problems.append(f"{where} is {describe(value)}, expected {wanted}")

    def mapping(
        self, parent: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> dict[str, Any]:
        """An object field (``{}`` when absent, null, or wrong: wrong is recorded)."""
        value = parent.get(key)
        if isinstance(value, dict):
            return value
        if value is not None or required:
            self.wrong(f"{where}.{key}", value, "an object")
        return {}

    def optional_mapping(self, parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
        """An object field that may be null."""
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.wrong(f"{where}.{key}", value, "an object or null")
        return None

    def text(
        self,
        parent: Mapping[str, Any],
        key: str,
        where: str,
        default: str = "",
        *,
        limit: int | None = MAX_TEXT,
    ) -> str:
        """A text field (``default`` when absent or null), cut to ``limit`` characters (None: whole, for the
        documents and log tails the probe carries, which are bounded by the output cap)."""
        value = parent.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"
        self.wrong(f"{where}.{key}", value, "text")
        return default

    def number(
        self,
        parent: Mapping[str, Any],
        key: str,
        where: str,
        *,
        low: float | None = None,
        high: float | None = None,
        whole: bool = False,
    ) -> float | None:
        """A finite number within [low, high] (None when absent or null; wrong ones recorded)."""
        value = parent.get(key)
        if value is None:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:  # also NaN and ±inf; exact for huge ints
            ok = False
        if ok and whole and isinstance(value, float) and not value.is_integer():
            ok = False
        if not ok or (low is not None and value < low) or (high is not None and value > high):
            wanted = "a whole number" if whole else "a number"
            if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
                wanted += f" no larger than {MAX_MAGNITUDE:.0f}"
            elif low is not None and high is not None:
                wanted += f" from {low:g} to {high:g}"
            elif low is not None:
                wanted += f" of {low:g} or more"
            self.wrong(f"{where}.{key}", value, wanted)
            return None
        return float(value)

    def flag(self, parent: Mapping[str, Any], key: str, where: str) -> bool | None:
        """A true/false field (None when absent or null)."""
        value = parent.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.wrong(f"{where}.{key}", value, "true or false")
        return None

    def summary(self) -> str | None:
        """The problems as one line (the first few, and how many more), or None."""
        if not self.problems:
            return None
        shown = "; ".join(self.problems[:MAX_PROBLEMS])
        more = len(self.problems) - MAX_PROBLEMS
        return shown + (f"; and {more} more" if more > 0 else "")
