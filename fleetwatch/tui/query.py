"""The fleet filter (``/``): which rows a query keeps.  Pure.

A query is words, all of which must match.  A bare word matches a host alias, a group, a state or the
detector of an open alert (``pi3``, ``lab``, ``crit``, ``disk``); ``host:``, ``group:``, ``state:`` and
``alert:`` (or ``detector:``) restrict a word to one of them.  Matching ignores case and finds
substrings; ``*`` and ``?`` make a word a glob (``pi?``, ``host:pi*``).  ``!`` before a word negates it
(``!ok``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from fleetwatch.status import HostStatus

FIELDS = {
    "host": "host",
    "group": "group",
    "state": "state",
    "alert": "alert",
    "detector": "alert",
}
SYNTAX = (
    "words all must match: a host, group, state or alert detector (substring, any case); "
    "host: group: state: alert: restrict a word; * ? glob; ! negates (e.g. `state:crit lab`, `!ok`)"
)


def _values(h: HostStatus) -> dict[str, list[str]]:
    return {
        "host": [h.alias.lower()],
        "group": [g.lower() for g in h.groups],
        "state": [str(h.state).lower()],
        "alert": [a.episode.detector.lower() for a in h.alerts],
    }


def _hit(word: str, values: list[str]) -> bool:
    if any(c in word for c in "*?["):
        return any(fnmatchcase(v, word) for v in values)
    return any(word in v for v in values)


def matches(h: HostStatus, query: str) -> bool:
    """Whether the row of ``h`` passes ``query`` (an empty query keeps every row)."""
    values = _values(h)
    for raw in query.lower().split():
        negate = raw.startswith("!")
        word = raw[1:] if negate else raw
        name, sep, rest = word.partition(":")
        if sep and name in FIELDS:
            hit = _hit(rest, values[FIELDS[name]]) if rest else True
        else:
            hit = any(_hit(word, vs) for vs in values.values())
        if hit == negate:
            return False
    return True
