"""Parsing the probe's answer and agent-runner's peek output, from real captures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetwatch.errors import SnapshotError, Stage
from fleetwatch.probe.command import SENTINEL
from fleetwatch.probe.parse import parse_gather, parse_peek
from fleetwatch.snapshot import parse_ts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "agent_runner"


def gather_doc(peek_stdout: str, rc: int | None = 0, stderr: str = "", **extra: object) -> str:
    doc = {
        "gather": 1,
        "runner": "/home/pi/.local/bin/agent-runner",
        "python": "/usr/bin/python3",
        "peek": {"rc": rc, "stdout": peek_stdout, "stderr": stderr, "seconds": 0.3},
        "rounds_dir": "/home/pi/.agent-runner/p/logs/rounds",
        "round_logs": [
            {
                "path": "/home/pi/.agent-runner/p/logs/rounds/R3-20261121T105046.log",
                "mtime": 1.0,
                "size": 10,
                "tail": "done",
            }
        ],
        "facts": {
            "time": 1800000000.0,
            "disk": {"path": "/home", "used_pct": 42.5, "free_gb": 3.2},
            "mem_total_mb": 3800,
            "mem_available_mb": 1200,
            "load_1m": 0.7,
            "hostname": "pi",
        },
        **extra,
    }
    return f"motd noise from .bashrc\n{SENTINEL}{json.dumps(doc)}\n"


@pytest.mark.parametrize("capture", sorted(p.name for p in FIXTURES.glob("peek_*.json")))
def test_every_real_peek_capture_parses(capture: str) -> None:
    peek, problem = parse_peek((FIXTURES / capture).read_text(), "", 0)
    assert problem is None and peek is not None
    assert peek.schema.startswith("2.")
    assert all(e.ts > 1.7e9 for e in peek.events)
    assert list(peek.events) == sorted(peek.events, key=lambda e: e.ts)


def test_round_budget_comes_from_peeks_defenses() -> None:
    peek, _ = parse_peek((FIXTURES / "peek_healthy_max_rounds_done.json").read_text(), "", 0)
    assert peek is not None and peek.round_budget_s == 5.0


def test_gather_output_with_shell_noise_before_it_parses() -> None:
    text = (FIXTURES / "peek_healthy_running.json").read_text()
    snap = parse_gather("pi", gather_doc(text), "", 1800000001.0)
    assert snap.peek is not None and snap.peek_error is None
    assert snap.facts is not None and snap.facts.disk_used_pct == 42.5
    assert snap.round_logs[0].tail == "done"


def test_peek_traceback_becomes_peek_error_with_the_last_line() -> None:
    tb = (
        'Traceback (most recent call last):\n  File "x", line 1\nValueError: invalid project name "my proj"\n'
    )
    snap = parse_gather("pi", gather_doc("", rc=1, stderr=tb), "", 0)
    assert snap.peek is None
    assert snap.peek_error == 'agent-runner peek crashed: ValueError: invalid project name "my proj"'


def test_truncated_peek_json_is_reported_not_raised() -> None:
    text = (FIXTURES / "peek_healthy_running.json").read_text()[:500]
    peek, problem = parse_peek(text, "", 0)
    assert peek is None and problem is not None and "non-JSON" in problem


def test_unknown_major_schema_is_refused_with_what_to_do() -> None:
    peek, problem = parse_peek(json.dumps({"schema_version": "3.0", "project": "p"}), "", 0)
    assert peek is None and problem is not None
    assert "schema 3.0" in problem and "upgrade fleetwatch" in problem


def test_schema_1_and_unknown_fields_are_tolerated() -> None:
    doc = {
        "schema_version": "1.4",
        "project": "p",
        "status": {},
        "surprise": {"x": 1},
        "recent_events": [{"ts": "2026-11-21T10:50:46.456Z", "event": "round_start", "round_num": 1}],
    }
    peek, problem = parse_peek(json.dumps(doc), "", 0)
    assert problem is None and peek is not None and peek.events[0].kind == "round_start"


def test_missing_runner_is_a_snapshot_without_peek_naming_where_it_looked() -> None:
    line = SENTINEL + json.dumps(
        {"gather": 1, "runner": None, "searched": "PATH (/usr/bin:/bin) ~/.local/bin"}
    )
    snap = parse_gather("pi", line, "", 0)
    assert snap.runner is None and snap.peek is None and "/usr/bin:/bin" in snap.runner_searched


def test_no_probe_answer_at_all_is_a_parse_stage_error_with_the_remotes_words() -> None:
    with pytest.raises(SnapshotError) as err:
        parse_gather("pi", "", "sh: 1: python3: not found\n", 0)
    assert err.value.stage is Stage.PARSE and "python3: not found" in str(err.value)
    assert str(err.value).startswith("pi: parse failed:")


def test_garbled_probe_line_is_a_parse_error() -> None:
    with pytest.raises(SnapshotError, match="truncated or garbled"):
        parse_gather("pi", SENTINEL + '{"gather": 1, "runner": "/x", "pe', "", 0)


@pytest.mark.parametrize("value", [float("nan"), 1e20, -5, "not a time", None, True])
def test_poisoned_timestamps_parse_to_none(value: object) -> None:
    assert parse_ts(value) is None
