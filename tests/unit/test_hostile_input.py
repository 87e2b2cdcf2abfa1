"""Whatever a host sends becomes a snapshot with named problems or a parse failure, never an exception,
never a finding built on invalid numbers, and never an OK host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetwatch.detect import detect
from fleetwatch.errors import SnapshotError
from fleetwatch.findings import Observation, Severity
from fleetwatch.polls import HostFacts
from fleetwatch.probe.command import SENTINEL
from fleetwatch.probe.parse import parse_gather
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Snapshot
from tests.unit.builders import PEEK_FIELDS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agent_runner"
NOW = 1_800_000_000.0
PEEK = json.loads((FIXTURES / "peek_healthy_running.json").read_text())


def gather(peek: Any = None, *, peek_text: str | None = None, facts: Any = None, logs: Any = None) -> str:
    doc = {
        "gather": 1,
        "runner": "/home/pi/.local/bin/agent-runner",
        "python": "/usr/bin/python3",
        "peek": {
            "rc": 0,
            "stdout": peek_text if peek_text is not None else json.dumps(peek or PEEK),
            "stderr": "",
        },
        "round_logs": logs if logs is not None else [],
        "facts": facts
        if facts is not None
        else {
            "time": NOW,
            "disk": {"path": "/", "used_pct": 40.0, "free_gb": 9.0},
            "mem_total_mb": 4000,
            "mem_available_mb": 2000,
            "load_1m": 0.4,
        },
    }
    return SENTINEL + json.dumps(doc, allow_nan=True) + "\n"


def parsed(text: str) -> Snapshot:
    return parse_gather("pi", text, "", NOW)


def judged(snap: Snapshot) -> dict[str, Any]:
    findings, _, _ = detect(Observation("pi", NOW, snap), Thresholds(), NOW)
    return {f.detector: f for f in findings}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_a_real_peek_validates_cleanly() -> None:
    snap = parsed(gather())
    assert snap.problems is None and snap.peek is not None and len(snap.peek.events) == 25


def test_nesting_100000_deep_in_any_document_is_a_named_problem_not_a_crash() -> None:
    bomb = deep(100_000)
    peek = parsed(gather(peek_text=bomb))  # peek's own output
    assert peek.peek is None and "nested" in (peek.peek_error or "")
    in_event = json.dumps({**PEEK, "recent_events": [{"event": "x", "ts": 1, "data": "HERE"}]})
    event = parsed(gather(peek_text=in_event.replace('"HERE"', deep(50_000))))  # deep inside one event
    assert event.peek is None and "nested" in (event.peek_error or "")
    for line in (SENTINEL + bomb, gather().replace('"facts": {', '"facts": {"x": ' + bomb + ", ", 1)):
        with pytest.raises(SnapshotError, match="nested"):  # the probe's own document, facts included
            parsed(line)


@pytest.mark.parametrize(
    ("field", "wrong"),
    [
        (field, wrong)
        for wrong in ("x", 5, [1, 2], True)
        for field in PEEK_FIELDS
        if not (field == "project" and isinstance(wrong, str))  # text is right for project
    ],
)
def test_a_wrong_type_in_any_top_level_peek_field_is_named_and_the_host_not_ok(
    field: str, wrong: Any
) -> None:
    snap = parsed(gather({**PEEK, field: wrong}))
    assert snap.problems is not None and f"peek.{field}" in snap.problems, snap.problems
    assert not HostFacts.from_snapshot(snap).understood
    found = judged(snap)
    assert (
        found["snapshot_invalid"].severity is Severity.WARNING
        and f"peek.{field}" in found["snapshot_invalid"].message
    )


def test_numbers_as_text_are_not_numbers() -> None:
    peek = {
        **PEEK,
        "status": {**PEEK["status"], "round_num": "3"},
        "system": {**PEEK["system"], "disk_used_pct": "99"},
    }
    snap = parsed(gather(peek))
    assert snap.problems is not None
    assert "peek.status.round_num is text '3', expected a whole number of 0 or more" in snap.problems
    assert (
        snap.peek is not None
        and snap.peek.status["round_num"] is None
        and snap.peek.system["disk_used_pct"] is None
    )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_host_facts_are_invalid_data_never_evidence(value: str) -> None:
    facts = (
        f'{{"time": {NOW}, "disk": {{"path": "/", "used_pct": {value}, "free_gb": 1}}, "load_1m": {value}}}'
    )
    text = gather()[:-1]
    text = text[: text.rindex('"facts": ')] + '"facts": ' + facts + "}\n"
    snap = parsed(text)
    assert snap.facts is not None and snap.facts.disk_used_pct is None and snap.facts.load_1m is None
    assert snap.problems is not None and "facts.disk.used_pct" in snap.problems
    found = judged(snap)
    assert "disk_critical" not in found and "disk_warning" not in found  # an inf% disk is no evidence
    assert found["snapshot_invalid"].severity is Severity.WARNING


def test_a_clock_that_is_not_a_number_is_no_clock() -> None:
    text = gather()[:-1]
    text = text[: text.rindex('"facts": ')] + '"facts": {"time": NaN, "load_1m": 1}}\n'
    snap = parsed(text)
    assert snap.facts is None and snap.problems is not None and "facts.time" in snap.problems
    assert "clock_skew" not in judged(snap)


def test_events_with_bad_fields_are_dropped_and_named() -> None:
    events = PEEK["recent_events"] + [
        {"event": "agent_exit", "ts": "yesterday", "round_num": 9},
        {"event": "agent_exit", "ts": PEEK["recent_events"][-1]["ts"], "round_num": 9, "duration_s": "long"},
        "not an event",
    ]
    snap = parsed(gather({**PEEK, "recent_events": events}))
    assert snap.peek is not None and len(snap.peek.events) == 25
    assert snap.problems is not None and "peek.recent_events[25].ts is text 'yesterday'" in snap.problems
    assert (
        "peek.recent_events[26].duration_s" in snap.problems
        and "peek.recent_events[27] is text" in snap.problems
    )


def test_round_logs_of_the_wrong_shape_are_dropped_and_named() -> None:
    snap = parsed(gather(logs=[{"path": "/r/R1-x.log", "mtime": "soon", "tail": "t"}, 7]))
    assert snap.round_logs == () and snap.problems is not None and "round_logs[0].mtime" in snap.problems


def test_a_host_with_invalid_data_is_held_back_from_auto_stop() -> None:
    from fleetwatch.actions.plan import AutoStopPolicy  # noqa: F401  (the guard itself is in run_auto_stop)

    snap = parsed(gather(facts={"time": NOW, "disk": {"path": "/", "used_pct": 99.5}, "load_1m": "high"}))
    assert snap.problems is not None and snap.facts is not None and snap.facts.disk_used_pct == 99.5


def test_a_document_with_too_many_values_is_refused_before_it_is_parsed() -> None:
    from fleetwatch.probe.validate import MAX_VALUES

    flood = SENTINEL + json.dumps({"gather": 1, "x": [{}] * MAX_VALUES})
    with pytest.raises(SnapshotError, match=f"values \\(fleetwatch reads at most {MAX_VALUES}\\)"):
        parsed(flood)  # peek's output travels inside this document: the same bound covers it


# --- found in review: numbers too large, text that drives terminals, dates in the future -------------------


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("facts.time", "1" + "0" * 400),
        ("facts.disk.used_pct", "1" + "0" * 400),
        ("facts.mem_total_mb", str(2**70)),
        ("facts.load_1m", "1e308"),
        ("peek.status.round_num", str(2**70)),
        ("peek.status.round_num", "1" + "0" * 5000),
        ("event.cost_usd", "1" + "0" * 400),
        ("event.input_tokens", str(2**70)),
    ],
)
def test_numbers_beyond_what_a_float_or_sqlite_holds_are_invalid_data_not_a_crash(
    where: str, value: str
) -> None:
    # 10**400 made float() raise OverflowError, 5,000 digits made json raise ValueError, and 2**70 passed
    # validation only to overflow SQLite's integers when the pass was stored: each ended the whole pass.
    marker = 987654321
    peek = json.loads(json.dumps(PEEK))
    facts: dict[str, Any] = {"time": NOW, "disk": {"path": "/", "used_pct": 40.0}, "mem_total_mb": 4000}
    if where == "peek.status.round_num":
        peek["status"]["round_num"] = marker
    elif where.startswith("event."):
        peek["recent_events"].append(
            {"ts": "2027-01-15T08:00:00Z", "event": "agent_usage_recorded", where[6:]: marker}
        )
    elif where == "facts.disk.used_pct":
        facts["disk"]["used_pct"] = marker
    else:
        facts[where.removeprefix("facts.")] = marker
    text = gather(peek, facts=facts).replace(str(marker), value)
    snap = parsed(text)  # never raises
    assert snap.problems is not None or snap.peek_error is not None, snap
    facts_now = HostFacts.from_snapshot(snap)
    json.loads(facts_now.to_json())  # what the pass stores: finite, within SQLite's integers
    for number in (facts_now.round, facts_now.mem_total_mb, facts_now.load_1m, facts_now.disk_used_pct):
        assert number is None or abs(number) <= 2**53


def test_terminal_escapes_and_lone_surrogates_from_a_host_never_reach_a_terminal_or_the_store() -> None:
    peek = json.loads(json.dumps(PEEK))
    peek["project"] = "proj\x1b]0;PWNED\x07\x1b[2J\x1b[32mFAKE OK\x1b[0m"
    peek["recent_events"].append({"ts": "2026-11-21T10:50:47Z", "event": "ev\x1b[1A\r\x9b2K\ud800"})
    facts = {"time": NOW, "disk": {"path": "/data\ud800\x1b[31m", "used_pct": 99.0}}
    snap = parsed(gather(peek, facts=facts))
    shown = repr((snap.peek, snap.facts, snap.problems))
    for bad in ("\\x1b", "\\x07", "\\r", "\\x9b", "\\ud800"):
        assert bad not in shown, bad
    assert snap.peek is not None and snap.peek.project == "projFAKE OK"
    assert snap.facts is not None and snap.facts.disk_path == "/data?"
    HostFacts.from_snapshot(snap).to_json().encode()  # storable: no surrogate left
    found = judged(snap)
    assert "disk_critical" in found and "\x1b" not in found["disk_critical"].message


def test_a_host_s_words_make_one_bounded_line_in_an_alert() -> None:
    from fleetwatch.findings import MAX_MESSAGE, Finding

    forged = Finding(
        "pi", "config_broken", Severity.WARNING, "bad\n05:03:13 [ OK ] pi x resolved\r" + "x" * 10**6
    )
    assert "\n" not in forged.message and "\r" not in forged.message
    assert len(forged.message) == MAX_MESSAGE and forged.message.endswith("…")
    big = Finding("pi", "d", Severity.INFO, "m", context={"reason": "r" * 10**6, "rounds": [1, 2]})
    assert len(big.context["reason"]) <= 8192 and big.context["rounds"] == [1, 2]


def test_an_event_dated_after_the_host_s_own_clock_is_not_believed() -> None:
    # One event dated 2999 made a stuck host look busy: supervisor_stale and hung went quiet.
    stuck = parsed(gather(PEEK, facts={"time": NOW + 30 * 86400}))
    peek = json.loads(json.dumps(PEEK))
    peek["recent_events"].append({"ts": "2999-01-01T00:00:00Z", "event": "round_end"})
    fooled = parsed(gather(peek, facts={"time": NOW + 30 * 86400}))
    assert fooled.problems is not None and "dated after the host's own clock" in fooled.problems
    assert fooled.peek is not None and stuck.peek is not None
    assert [e.ts for e in fooled.peek.events] == [e.ts for e in stuck.peek.events]


def test_thousands_of_events_are_cut_to_the_newest_and_said() -> None:
    from fleetwatch.probe.parse import MAX_EVENTS

    peek = json.loads(json.dumps(PEEK))
    peek["recent_events"] = [
        {"ts": NOW - 100_000 + i, "event": "round_end", "round_num": i} for i in range(MAX_EVENTS * 10)
    ]
    snap = parsed(gather(peek))
    assert snap.peek is not None and len(snap.peek.events) == MAX_EVENTS
    assert snap.peek.events[-1].data["round_num"] == MAX_EVENTS * 10 - 1
    assert snap.problems is not None and f"fleetwatch reads the newest {MAX_EVENTS}" in snap.problems


def test_a_bug_met_by_one_host_s_data_is_that_host_s_parse_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from fleetwatch.errors import Stage
    from fleetwatch.findings import PollFailure
    from fleetwatch.inventory.model import Host, SshTarget
    from fleetwatch.probe import poll

    class Answer:
        stdout, stderr, seconds = gather(PEEK), "", 0.1

    class Transport:
        async def run(self, *args: Any) -> Answer:
            return Answer()

    def broken(*args: Any) -> Snapshot:
        raise ZeroDivisionError("a parser bug")

    monkeypatch.setattr(poll, "parse_gather", broken)
    result = asyncio.run(poll.poll_host(Transport(), Host("pi", SshTarget("pi", "10.0.0.1", "pi")), 5))  # type: ignore[arg-type]
    assert isinstance(result, PollFailure) and result.stage is Stage.PARSE
    assert "ZeroDivisionError: a parser bug" in result.message


def test_a_peek_far_larger_than_any_real_one_is_refused_so_a_pass_s_memory_stays_bounded() -> None:
    # 500 hosts each sending a valid 3.9 MB peek (just under the output cap) held ~14 MB each until the
    # pass was stored; a real one with 50 events is ~15 KB.
    peek = json.loads(json.dumps(PEEK))
    peek["recent_events"] = [
        {"ts": NOW - 1000 + i, "event": "note", "reason": "x" * 1000} for i in range(300)
    ]
    snap = parsed(gather(peek))
    assert (
        snap.peek is None
        and snap.peek_error is not None
        and "fleetwatch reads at most 256 KiB" in snap.peek_error
    )
    assert judged(snap), "a host whose peek was refused is never OK"
