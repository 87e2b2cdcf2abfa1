"""The probe's output -> typed ``Snapshot``.  Pure: no I/O, no clock reads.

The gatherer (``remote/gather.py``) prints one sentinel line of JSON holding agent-runner's own
``peek`` output (stdout, stderr, exit code), tails of recent round logs and live host facts.
Parsing never raises for what a host says about itself: a crashed or unreadable peek becomes
``peek_error`` (with the remote's own words), wrong fields become ``problems`` (``validate.py``), and
``snapshot_invalid`` reports both; a host whose data was not understood is never OK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fleetwatch.errors import SnapshotError, Stage
from fleetwatch.probe.command import SENTINEL
from fleetwatch.probe.validate import MAX_MAGNITUDE, Checker, load_json, printable
from fleetwatch.snapshot import Event, Facts, Peek, RoundLog, Snapshot, parse_ts

SUPPORTED_MAJORS = (1, 2)


# Event fields the detectors and history read, with what each must be when present.
_EVENT_COUNTS = (
    "round_num",
    "exit_code",
    "consecutive",
    "rounds_completed",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "tool_call_count",
)
_EVENT_AMOUNTS = ("duration_s", "duration_ms", "cost_usd")
_EVENT_FLAGS = ("timed_out", "success", "active")
_EVENT_TIMES = ("reset_at_epoch", "throttled_until_epoch", "resume_at")
_EVENT_FIELDS = {
    **dict.fromkeys(_EVENT_COUNTS, "count"),
    "exit_code": "whole",
    **dict.fromkeys(_EVENT_AMOUNTS, "amount"),
    **dict.fromkeys(_EVENT_FLAGS, "flag"),
    **dict.fromkeys(_EVENT_TIMES, "time"),
}
"""Each checked event field and what it must be; an event has a few of them, 50 events come per poll."""
MAX_EVENTS = 200
"""Events read per peek, the newest (the probe asks for 50): a host sending thousands is not believed and
cannot hold a pass's memory with them."""
FUTURE_S = 300.0
"""How far past the host's own clock (its facts' time) an event may be dated; later ones are invalid data:
one event dated 2999 would otherwise make a stuck host look busy forever."""
MAX_TAIL = 8192
"""Characters of a round log's tail kept (the gatherer sends at most 4 KB)."""
MAX_PEEK_CHARS = 256 * 1024
"""The largest peek document read."""
MAX_ROUND_LOGS = 20
"""Round logs read per poll (the gatherer sends the 10 newest)."""


def _event_field_ok(kind: str, value: Any) -> bool:
    """The common right values, decided without the checker (which also words what is wrong)."""
    if value is None:
        return True
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "time":
        return parse_ts(value) is not None
    if type(value) is int:  # not bool, always finite
        return (kind == "whole" or value >= 0) and -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE
    return kind == "amount" and type(value) is float and 0 <= value <= MAX_MAGNITUDE


def _event(item: Any, where: str, check: Checker) -> Event | None:
    """One supervisor event, or None (recorded as a problem) when a field fleetwatch reads is wrong."""
    if not isinstance(item, dict):
        check.wrong(where, item, "an object")
        return None
    before = len(check.problems)
    kind = check.text(item, "event", where) or check.text(item, "kind", where)
    ts = parse_ts(item.get("ts"))
    if not kind:
        check.wrong(f"{where}.event", item.get("event"), "an event name")
    if ts is None:
        check.wrong(f"{where}.ts", item.get("ts"), "a time")
    for key, value in item.items():
        field = _EVENT_FIELDS.get(key)
        if field is None or _event_field_ok(field, value):
            continue
        if field == "flag":
            check.flag(item, key, where)
        elif field == "time":
            check.wrong(f"{where}.{key}", value, "a time")
        else:
            low = None if field == "whole" else 0
            check.number(item, key, where, low=low, whole=field != "amount")
    if len(check.problems) > before or ts is None or not kind:
        return None
    return Event(ts=ts, kind=kind, data=item)


def _events(doc: Mapping[str, Any], check: Checker) -> tuple[Event, ...]:
    key = "recent_events" if "recent_events" in doc else "events"
    raw = doc.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.wrong(f"peek.{key}", raw, "a list")
        return ()
    if len(raw) > MAX_EVENTS:
        check.problems.append(
            f"peek.{key} holds {len(raw)} events (fleetwatch reads the newest {MAX_EVENTS})"
        )
    first = max(0, len(raw) - MAX_EVENTS)
    found = [
        e
        for i, item in enumerate(raw[first:], first)
        if (e := _event(item, f"peek.{key}[{i}]", check)) is not None
    ]
    found.sort(key=lambda e: e.ts)
    return tuple(found)


def _not_ahead(peek: Peek, clock: float, allowed_s: float, check: Checker) -> Peek:
    """``peek`` without events dated more than ``allowed_s`` past the host's clock (each one a problem)."""
    ahead = [e for e in peek.events if e.ts > clock + allowed_s]
    if not ahead:
        return peek
    check.problems.append(
        f"{len(ahead)} event(s) dated after the host's own clock ({ahead[-1].kind} at "
        f"{ahead[-1].ts - clock:.0f} s ahead): not believed"
    )
    return replace(peek, events=tuple(e for e in peek.events if e.ts <= clock + allowed_s))


def _round_budget(doc: Mapping[str, Any], check: Checker) -> float | None:
    defenses = doc.get("defenses")
    if defenses is None:
        return None
    if not isinstance(defenses, list):
        check.wrong("peek.defenses", defenses, "a list")
        return None
    for i, defense in enumerate(defenses):
        if not isinstance(defense, dict):
            check.wrong(f"peek.defenses[{i}]", defense, "an object")
        elif defense.get("name") == "round_budget_s":
            value = check.number(defense, "value", f"peek.defenses[{i}]", low=0)
            return value if value else None
    return None


def _checked(
    raw: dict[str, Any],
    where: str,
    check: Checker,
    *,
    counts: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    pcts: tuple[str, ...] = (),
    amounts: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``raw`` with the fields fleetwatch reads checked; a wrong one is recorded and read as null."""
    clean = dict(raw)
    for key in counts:
        if raw.get(key) is not None and check.number(raw, key, where, low=0, whole=True) is None:
            clean[key] = None
    for key in flags:
        if raw.get(key) is not None and check.flag(raw, key, where) is None:
            clean[key] = None
    for key in pcts:
        if raw.get(key) is not None and check.number(raw, key, where, low=0, high=100) is None:
            clean[key] = None
    for key in amounts:
        if raw.get(key) is not None and check.number(raw, key, where, low=0) is None:
            clean[key] = None
    for key in texts:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            check.wrong(f"{where}.{key}", raw[key], "text")
            clean[key] = None
    return clean


def _last_line(text: str) -> str:
    """The last non-blank line, printable (it is quoted to the operator) and at most 300 characters."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return printable(lines[-1].strip())[:300] if lines else ""


def parse_peek(
    stdout: str, stderr: str, rc: int | None, check: Checker | None = None
) -> tuple[Peek | None, str | None]:
    """agent-runner's ``--json peek`` output -> (Peek, None) or (None, why it is unusable).

    Fields that are there but wrong are recorded in ``check`` and read as null: the peek is still
    used for what is right, and the host is reported ``snapshot_invalid`` for the rest."""
    check = check if check is not None else Checker()
    if rc not in (0, None) or not stdout.strip():
        said = _last_line(stderr) or _last_line(stdout) or "no output"
        crashed = "Traceback (most recent call last)" in stderr
        what = "crashed" if crashed else f"exited {rc}" if rc is not None else "did not run"
        return None, f"agent-runner peek {what}: {said}"
    if len(stdout) > MAX_PEEK_CHARS:  # ~15 KB with 50 events: a host sending more is not believed, and its
        # parsed document (3-4× its size, alive until the pass is stored) cannot weigh on the pass either
        return None, (
            f"agent-runner peek printed {len(stdout) // 1024} KiB (fleetwatch reads at most "
            f"{MAX_PEEK_CHARS // 1024} KiB; a peek with 50 events is about 15 KiB)"
        )
    doc, problem = load_json(stdout, "agent-runner peek's output")
    if problem is not None:
        return None, problem.replace(
            "agent-runner peek's output is not JSON", "agent-runner peek printed non-JSON"
        )
    if not isinstance(doc, dict):
        return None, f"agent-runner peek printed JSON that is not an object: {stdout[:80]!r}"
    version = doc.get("schema_version", "1.0")
    schema = str(version) if isinstance(version, str | int | float) and not isinstance(version, bool) else "?"
    try:
        major = int(schema.split(".")[0])
    except ValueError:
        major = -1
    if major not in SUPPORTED_MAJORS:
        return None, (
            f"agent-runner peek schema {schema} is not supported (fleetwatch reads 1.x and 2.x): "
            "upgrade fleetwatch"
        )
    status = _checked(
        check.mapping(doc, "status", "peek"),
        "peek.status",
        check,
        counts=("round_num", "phase_index"),
        flags=("running",),
    )
    service = _checked(
        check.mapping(doc, "service", "peek"),
        "peek.service",
        check,
        counts=("pid",),
        flags=("active", "system_managed"),
        texts=("mode",),
    )
    if service.get("rate_limit") is not None and not isinstance(service["rate_limit"], dict):
        check.wrong("peek.service.rate_limit", service["rate_limit"], "an object or null")
        service["rate_limit"] = None
    system = _checked(
        check.mapping(doc, "system", "peek"),
        "peek.system",
        check,
        pcts=("disk_used_pct", "cpu_pct"),
        amounts=("disk_free_gb", "load_1m", "mem_total_mb", "mem_available_mb"),
    )
    current = check.optional_mapping(doc, "current_round", "peek")
    if current is not None:
        current = _checked(current, "peek.current_round", check, counts=("round_num",), texts=("log_path",))
    peek = Peek(
        schema=schema,
        project=check.text(doc, "project", "peek"),
        status=status,
        service=service,
        system=system,
        schedule=check.optional_mapping(doc, "schedule", "peek"),
        events=_events(doc, check),
        round_budget_s=_round_budget(doc, check),
        current_round=current,
    )
    return peek, None


def _facts(raw: Any, check: Checker) -> Facts | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        check.wrong("facts", raw, "an object")
        return None
    at = check.number(raw, "time", "facts", low=0)
    if at is None:
        if raw.get("time") is None:
            check.wrong("facts.time", None, "a time")
        return None
    disk = check.mapping(raw, "disk", "facts")
    total = check.number(raw, "mem_total_mb", "facts", low=0)
    available = check.number(raw, "mem_available_mb", "facts", low=0)
    return Facts(
        time=at,
        disk_path=check.text(disk, "path", "facts.disk"),
        disk_used_pct=check.number(disk, "used_pct", "facts.disk", low=0, high=100),
        disk_free_gb=check.number(disk, "free_gb", "facts.disk", low=0),
        mem_total_mb=int(total) if total is not None else None,
        mem_available_mb=int(available) if available is not None else None,
        load_1m=check.number(raw, "load_1m", "facts", low=0),
    )


def _declared_stale(raw: Any, check: Checker) -> float | None:
    """The project's own ``supervisor_stale_threshold_s`` (whole seconds, 0 or more), if it sets one."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        check.wrong("monitor", raw, "an object")
        return None
    return check.number(raw, "supervisor_stale_threshold_s", "monitor", low=0, whole=True)


def _round_logs(raw: Any, check: Checker) -> tuple[RoundLog, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.wrong("round_logs", raw, "a list")
        return ()
    if len(raw) > MAX_ROUND_LOGS:
        check.problems.append(f"round_logs holds {len(raw)} logs (fleetwatch reads {MAX_ROUND_LOGS})")
    logs = []
    for i, item in enumerate(raw[:MAX_ROUND_LOGS]):
        where = f"round_logs[{i}]"
        if not isinstance(item, dict):
            check.wrong(where, item, "an object")
            continue
        if item.get("error") is not None:
            continue  # the gatherer could not read it (gone between listing and reading): nothing to check
        before = len(check.problems)
        tail, path = check.text(item, "tail", where, limit=MAX_TAIL), check.text(item, "path", where)
        mtime = check.number(item, "mtime", where, low=0)
        if len(check.problems) == before:
            logs.append(RoundLog(path, mtime or 0.0, tail))
    return tuple(logs)


def parse_gather(host: str, stdout: str, stderr: str, received_at: float) -> Snapshot:
    """The gatherer's output -> Snapshot; ``SnapshotError`` (stage parse) when it is not there at all.

    Nothing a host sends raises anything else: malformed, non-finite, deeply nested or wrongly typed
    data becomes the snapshot's ``problems`` (or ``peek_error``), naming the first wrong fields."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(SENTINEL)), None)
    if line is None:
        said = _last_line(stderr) or _last_line(stdout) or "no output at all"
        raise SnapshotError(
            host,
            Stage.PARSE,
            f"the remote did not answer the probe: {said[:200]}",
            "check the login shell and that sh and python3 exist on the host (ForceCommand?)",
        )
    doc, problem = load_json(line[len(SENTINEL) :], "the probe's output")
    if problem is not None:
        raise SnapshotError(host, Stage.PARSE, problem.replace(" is not JSON", " is truncated or garbled"))
    if not isinstance(doc, dict):
        raise SnapshotError(host, Stage.PARSE, "probe output is not a JSON object")
    check = Checker()
    runner = check.text(doc, "runner", "probe") or None
    peek, failure = None, None
    raw_peek = doc.get("peek")
    if runner is None:
        failure = None
    elif doc.get("python", "") is None:
        failure = f"found {runner} but no Python to run the probe with"
    elif isinstance(raw_peek, dict):
        rc = raw_peek.get("rc")
        peek, failure = parse_peek(
            check.text(raw_peek, "stdout", "probe.peek", limit=None),
            check.text(raw_peek, "stderr", "probe.peek", limit=None),
            rc if isinstance(rc, int) and not isinstance(rc, bool) else None,
            check,
        )
    else:
        failure = "the probe did not run agent-runner peek"
    facts = _facts(doc.get("facts"), check)
    if peek is not None:  # the host's clock, else ours with a day's room for a skewed one
        clock, room = (facts.time, FUTURE_S) if facts is not None else (received_at, 86400.0)
        peek = _not_ahead(peek, clock, room, check)
    return Snapshot(
        host=host,
        received_at=received_at,
        runner=runner,
        runner_searched=check.text(doc, "searched", "probe"),
        runner_version=check.text(doc, "runner_version", "probe")[:64] or None if runner else None,
        peek=peek,
        peek_error=failure,
        round_logs=_round_logs(doc.get("round_logs"), check),
        facts=facts,
        stale_threshold_s=_declared_stale(doc.get("monitor"), check),
        problems=check.summary(),
    )
