"""The probe's output -> typed ``Snapshot``.  Pure: no I/O, no clock reads.

The gatherer (``remote/gather.py``) prints one sentinel line of JSON holding agent-runner's own
``peek`` output (stdout, stderr, exit code), tails of recent round logs and live host facts.
Parsing never raises for what a host says about itself: a crashed or unreadable peek becomes
``peek_error`` (with the remote's own words) so ``snapshot_invalid`` can report it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fleetwatch.errors import SnapshotError, Stage
from fleetwatch.probe.command import SENTINEL
from fleetwatch.snapshot import Event, Facts, Peek, RoundLog, Snapshot, parse_ts

SUPPORTED_MAJORS = (1, 2)


def _events(raw: Any) -> tuple[Event, ...]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("event", item.get("kind"))
        ts = parse_ts(item.get("ts"))
        if isinstance(kind, str) and ts is not None:
            out.append(Event(ts=ts, kind=kind, data=item))
    out.sort(key=lambda e: e.ts)
    return tuple(out)


def _round_budget(doc: Mapping[str, Any]) -> float | None:
    for defense in doc.get("defenses") or []:
        if isinstance(defense, dict) and defense.get("name") == "round_budget_s":
            value = defense.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                return float(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def parse_peek(stdout: str, stderr: str, rc: int | None) -> tuple[Peek | None, str | None]:
    """agent-runner's ``--json peek`` output -> (Peek, None) or (None, why it is unusable)."""
    if rc not in (0, None) or not stdout.strip():
        said = _last_line(stderr) or _last_line(stdout) or "no output"
        crashed = "Traceback (most recent call last)" in stderr
        what = "crashed" if crashed else f"exited {rc}" if rc is not None else "did not run"
        return None, f"agent-runner peek {what}: {said}"
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError as exc:
        return None, f"agent-runner peek printed non-JSON ({exc.msg} at char {exc.pos}): {stdout[:80]!r}"
    if not isinstance(doc, dict):
        return None, f"agent-runner peek printed JSON that is not an object: {stdout[:80]!r}"
    schema = str(doc.get("schema_version", "1.0"))
    try:
        major = int(schema.split(".")[0])
    except ValueError:
        major = -1
    if major not in SUPPORTED_MAJORS:
        return None, (
            f"agent-runner peek schema {schema} is not supported (fleetwatch reads 1.x and 2.x): "
            "upgrade fleetwatch"
        )
    status = _mapping(doc.get("status"))
    peek = Peek(
        schema=schema,
        project=str(doc.get("project", "")),
        status=status,
        service=_mapping(doc.get("service")),
        system=_mapping(doc.get("system")),
        schedule=doc.get("schedule") if isinstance(doc.get("schedule"), dict) else None,
        events=_events(doc.get("recent_events", doc.get("events"))),
        round_budget_s=_round_budget(doc),
        raw=doc,
    )
    return peek, None


def _facts(raw: Any) -> Facts | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("time"), int | float):
        return None
    disk = _mapping(raw.get("disk"))

    def num(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    mem_total, mem_avail = num(raw.get("mem_total_mb")), num(raw.get("mem_available_mb"))
    return Facts(
        time=float(raw["time"]),
        disk_path=str(disk.get("path", "")),
        disk_used_pct=num(disk.get("used_pct")),
        disk_free_gb=num(disk.get("free_gb")),
        mem_total_mb=int(mem_total) if mem_total is not None else None,
        mem_available_mb=int(mem_avail) if mem_avail is not None else None,
        load_1m=num(raw.get("load_1m")),
    )


def _round_logs(raw: Any) -> tuple[RoundLog, ...]:
    logs = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("tail"), str):
            logs.append(RoundLog(str(item.get("path", "")), float(item.get("mtime") or 0), item["tail"]))
    return tuple(logs)


def parse_gather(host: str, stdout: str, stderr: str, received_at: float) -> Snapshot:
    """The gatherer's output -> Snapshot; ``SnapshotError`` (stage parse) when it is not there at all."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(SENTINEL)), None)
    if line is None:
        said = _last_line(stderr) or _last_line(stdout) or "no output at all"
        raise SnapshotError(
            host,
            Stage.PARSE,
            f"the remote did not answer the probe: {said[:200]}",
            "check the login shell and that sh and python3 exist on the host (ForceCommand?)",
        )
    try:
        doc = json.loads(line[len(SENTINEL) :])
    except json.JSONDecodeError as exc:
        raise SnapshotError(host, Stage.PARSE, f"probe output is truncated or garbled ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise SnapshotError(host, Stage.PARSE, "probe output is not a JSON object")
    runner = doc.get("runner") if isinstance(doc.get("runner"), str) else None
    peek, problem = None, None
    raw_peek = doc.get("peek")
    if runner is None:
        problem = None
    elif doc.get("python", "") is None:
        problem = f"found {runner} but no Python to run the probe with"
    elif isinstance(raw_peek, dict):
        peek, problem = parse_peek(
            str(raw_peek.get("stdout", "")), str(raw_peek.get("stderr", "")), raw_peek.get("rc")
        )
    else:
        problem = "the probe did not run agent-runner peek"
    return Snapshot(
        host=host,
        received_at=received_at,
        runner=runner,
        runner_searched=str(doc.get("searched", "")),
        peek=peek,
        peek_error=problem,
        round_logs=_round_logs(doc.get("round_logs")),
        facts=_facts(doc.get("facts")),
    )
