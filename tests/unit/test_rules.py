"""User rules: loading with file:line problems, evaluation over real agent-runner captures, damping,
containment of a broken rule, the catalogue in the config, and the stale threshold a project declares.

Pure: data and ``now`` in, no fakes.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from fleetwatch import detect as detect_module
from fleetwatch.cli.settings import effective_config
from fleetwatch.config import Config, parse_config
from fleetwatch.detect import BUILTIN, detect
from fleetwatch.detect.base import Context
from fleetwatch.detect.rounds import stale_threshold
from fleetwatch.episodes import Change, advance
from fleetwatch.errors import ConfigError, Stage
from fleetwatch.findings import Observation, PollFailure, Severity
from fleetwatch.history.model import HostHistory, Spend, Trend
from fleetwatch.pipeline import settle
from fleetwatch.probe.parse import parse_gather
from fleetwatch.rules.catalogue import load_catalogue
from fleetwatch.rules.fields import FIELDS, data_of
from fleetwatch.rules.model import Outcome
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Peek
from fleetwatch.store import Store
from tests.unit.builders import facts, observed, snapshot
from tests.unit.test_detectors_real_captures import load

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "detectors" / "examples"


def write(tmp: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def captured(name: str, after_s: float = 60.0, host: str = "pi") -> Observation:
    """A real capture as seen ``after_s`` after its newest event."""
    p: Peek = load(name)
    now = (p.events[-1].ts if p.events else 1_800_000_000.0) + after_s
    return observed(snapshot(p, f=facts(time=now), received_at=now, host=host), at=now, host=host)


def run(rules_text: str, obs: Observation, tmp: Path, groups: tuple[str, ...] = ()) -> detect_module.Detected:
    cat = load_catalogue([write(tmp, rules_text)])
    assert not cat.problems, cat.problems
    return detect(obs, Thresholds(), obs.at, cat.detectors, groups)


def by_rules(found: detect_module.Detected) -> list:  # type: ignore[type-arg]
    """The findings of user rules (their context names the rule), not the built-ins'."""
    return [f for f in found.findings if "rule" in f.context]


# -- loading ---------------------------------------------------------------------------------------------


def test_the_shipped_examples_load_without_a_problem() -> None:
    cat = load_catalogue([EXAMPLES])
    assert cat.problems == ()
    assert {r.name for r in cat.rules} >= {"load_high", "unexpected_model", "no_round_in_2h"}
    assert len(cat.files) == len(list(EXAMPLES.glob("*.yaml")))


def test_every_field_and_every_example_is_documented() -> None:
    readme = (REPO / "detectors" / "README.md").read_text()
    missing = [f for f in FIELDS if f"`{f}" not in readme]
    assert missing == [], f"detectors/README.md does not document {missing}"
    for example in EXAMPLES.glob("*.yaml"):
        assert f"examples/{example.name}" in readme


def test_each_broken_rule_is_skipped_with_its_file_line_and_the_rest_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
- name: load_high
  when: facts.load_1m > 4
- name: disk_critical
  when: facts.disk_used_pct > 50
- name: typo
  when: facts.lod_1m > 4
- name: syntax
  when: facts.load_1m >> > 4
- name: dur
  when: facts.load_1m > 4
  for: 10 parsecs
- name: sev
  when: facts.load_1m > 4
  severity: loud
- name: load_high
  when: facts.load_1m > 5
- name: extra
  when: facts.load_1m > 5
  colour: red
- name: always
  when: 1 > 0
- name: fine
  when: facts.load_1m > 8
""",
    )
    cat = load_catalogue([path])
    assert [r.name for r in cat.rules] == ["load_high", "fine"]
    expected = [
        (3, "rule disk_critical: the name is taken by a built-in detector"),
        (6, "rule typo: `when` reads unknown field 'facts.lod_1m' (did you mean facts.load_1m?)"),
        (8, "rule syntax: `when` is not an expression"),
        (11, "rule dur: `for: 10 parsecs` is neither a duration"),
        (14, "rule sev: unknown severity 'loud'"),
        (15, f"rule load_high: the name is taken by the rule at {path}:1"),
        (19, "rule extra: unknown key 'colour'"),
        (21, "rule always: `when` reads no field"),
    ]
    assert len(cat.problems) == len(expected), cat.problems
    for problem, (line, words) in zip(cat.problems, expected, strict=True):
        assert problem.startswith(f"{path}:{line}: {words}"), problem


def test_a_file_that_is_not_yaml_or_not_a_list_is_one_problem(tmp_path: Path) -> None:
    bad = write(tmp_path, "- name: x\n  when: [\n", "bad.yaml")
    mapping = write(tmp_path, "name: x\nwhen: facts.load_1m > 1\n", "mapping.yaml")
    cat = load_catalogue([bad, mapping])
    assert cat.rules == () and len(cat.problems) == 2
    assert cat.problems[0].startswith(f"{bad}:3: not valid YAML")
    assert cat.problems[1].startswith(f"{mapping}:1: a rule file is a list of rules")


# -- evaluation over real captures ---------------------------------------------------------------------------


def test_rules_read_peek_facts_and_usage_of_a_real_healthy_capture(tmp_path: Path) -> None:
    obs = captured("peek_healthy_running.json")
    rules = """\
- name: opus_in_use
  when: usage.model == "claude-opus-5" and usage.success
  message: "{host} ran round {usage.round} on {usage.model} for ${usage.cost_usd}"
- name: serve_down
  when: not service.active
  severity: critical
- name: disk_over_10
  when: facts.disk_used_pct > 10 and system.mem_total_mb > 1000
"""
    found = run(rules, obs, tmp_path)
    fired = {f.detector: f for f in by_rules(found)}
    assert set(fired) == {"opus_in_use", "disk_over_10"}
    assert fired["opus_in_use"].message == "pi ran round 3 on claude-opus-5 for $0.0012"
    assert fired["opus_in_use"].context["usage.model"] == "claude-opus-5"
    assert {"opus_in_use", "serve_down", "disk_over_10"} <= found.evaluated


def test_a_killed_supervisor_capture_fires_a_serve_rule_and_a_missing_field_is_not_evaluated(
    tmp_path: Path,
) -> None:
    obs = captured("peek_sigkill_stale.json", after_s=3600)
    rules = """\
- name: serve_down
  when: not service.active
  severity: critical
  message: "serve is down on {host} (mode {service.mode})"
- name: phase_x
  when: current_round.phase == "x"
"""
    found = run(rules, obs, tmp_path)
    [f] = [f for f in found.findings if f.detector == "serve_down"]
    assert f.severity is Severity.CRITICAL and f.message == "serve is down on pi (mode pid_file)"
    assert "phase_x" not in found.evaluated  # no current_round between rounds: its episode is left alone


def test_history_fields_are_missing_without_history_so_the_rule_is_not_evaluated(tmp_path: Path) -> None:
    found = run(
        "- name: rich\n  when: history.spend_usd_1h > 1\n", captured("peek_healthy_running.json"), tmp_path
    )
    assert by_rules(found) == [] and "rich" not in found.evaluated


def test_history_fields_come_from_the_hosts_summary(tmp_path: Path) -> None:
    base = captured("peek_healthy_running.json")
    assert base.snapshot is not None and base.snapshot.facts is not None
    now_pct = base.snapshot.facts.disk_used_pct
    assert now_pct is not None
    history = HostHistory(
        Spend(4.0, 2.5, None, 3, None, rounds_last_hour=2, last_day_usd=30.0, rounds_last_day=20),
        Trend(60, base.at - 3600, base.at, 1 / 3600),
        polls_last_hour=60,
        returns_last_hour=1,
        disk_hour_ago=now_pct - 7.5,
    )
    data = data_of(dataclasses.replace(base, history=history), ())
    assert data["history"] == {
        "spend_usd_today": 4.0,
        "spend_usd_1h": 2.5,
        "spend_usd_24h": 30.0,
        "rounds_completed_1h": 2,
        "rounds_completed_24h": 20,
        "returns_1h": 1,
        "polls_1h": 60,
        "disk_used_pct_per_h": pytest.approx(1.0),
        "disk_used_pct_delta_1h": pytest.approx(7.5),
    }
    found = run("- name: filling\n  when: history.disk_used_pct_delta_1h > 5\n", base, tmp_path)
    assert "filling" not in found.evaluated and by_rules(found) == []  # the bare capture has no history
    found = detect(
        dataclasses.replace(base, history=history),
        Thresholds(),
        base.at,
        load_catalogue([tmp_path / "rules.yaml"]).detectors,
        (),
    )
    assert [f.detector for f in by_rules(found)] == ["filling"]
    # An unreachable host keeps its history (it was "not evaluated" for `history.*`): only disk delta,
    # which needs this poll's disk, is missing.
    failed = Observation("pi", base.at, None, PollFailure(Stage.CONNECT, "refused"), history=history)
    assert data_of(failed, ())["history"]["polls_1h"] == 60
    assert "disk_used_pct_delta_1h" not in data_of(failed, ())["history"]


def test_hosts_and_groups_scope_a_rule_even_where_its_condition_holds(tmp_path: Path) -> None:
    rules = """\
- name: lab_disk
  when: facts.disk_used_pct > 10
  groups: [lab]
- name: pi_disk
  when: facts.disk_used_pct > 10
  hosts: [pi*]
"""
    cat = load_catalogue([write(tmp_path, rules)])
    for host, groups, expected in (("pi1", ("lab",), {"lab_disk", "pi_disk"}), ("nas", (), set())):
        obs = captured("peek_healthy_running.json", host=host)
        found = detect(obs, Thresholds(), obs.at, cat.detectors, groups)
        assert {f.detector for f in by_rules(found)} == expected
        # Checked everywhere, quiet outside its scope: an alert from before the scope changed resolves.
        assert {"lab_disk", "pi_disk"} <= found.evaluated


def test_an_alert_of_a_rule_narrowed_or_removed_resolves_unless_a_rule_file_was_skipped(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "state")
    results = {"pi1": captured("peek_healthy_running.json", host="pi1").snapshot}
    assert results["pi1"] is not None
    at = results["pi1"].received_at

    def opened(rules: str, when: float, complete: bool = True) -> set[str]:
        cat = load_catalogue([write(tmp_path, rules)])
        settle(store, [], results, when, catalogue=cat.detectors, complete=complete)  # type: ignore[arg-type]
        return {d for (h, d), ep in store.episodes().items() if h == "pi1" and ep.opened}

    assert {"lab_disk", "old_disk"} <= opened(
        "- name: lab_disk\n  when: facts.disk_used_pct > 10\n"
        "- name: old_disk\n  when: facts.disk_used_pct > 10\n",
        at,
    )
    # lab_disk now only for nas*, old_disk gone; a rule file was skipped: old_disk may be in it.
    narrowed = "- name: lab_disk\n  when: facts.disk_used_pct > 10\n  hosts: [nas*]\n"
    left = opened(narrowed, at + 60, complete=False)
    assert "lab_disk" not in left and "old_disk" in left
    assert "old_disk" not in opened(narrowed, at + 120), "every file loaded: its rule is gone"


def test_verdicts_say_what_was_read_and_what_was_missing(tmp_path: Path) -> None:
    [rule] = load_catalogue(
        [write(tmp_path, "- name: r\n  when: facts.load_1m > 4 and usage.cost_usd > 1\n")]
    ).rules
    obs = captured("peek_healthy_running.json")
    data = data_of(obs, ())
    verdict = rule.evaluate(data)
    assert verdict.outcome is Outcome.QUIET and verdict.values == {
        "facts.load_1m": 0.5,
        "usage.cost_usd": 0.0012,
    }
    del data["usage"]
    missing = rule.evaluate(data)
    assert missing.outcome is Outcome.NOT_EVALUATED and missing.missing == ("usage.cost_usd",)


# -- a broken or slow rule is contained ----------------------------------------------------------------------


def test_a_rule_that_raises_is_not_evaluated_on_that_host_and_said_once_per_pass_not_an_alert(
    tmp_path: Path,
) -> None:
    obs = captured("peek_crash_loop.json", after_s=3600)
    found = run("- name: div\n  when: facts.load_1m / (facts.round - facts.round) > 1\n", obs, tmp_path)
    assert "div" not in found.evaluated and "div" not in {f.detector for f in found.findings}
    [problem] = found.problems
    assert (problem.rule, problem.host, problem.kind) == ("div", "pi", "failed")
    assert "ZeroDivisionError" in problem.message and "rules.yaml:1" in problem.message
    assert "crash_loop" in {f.detector for f in found.findings}, "the built-ins still run"


def test_a_slow_rule_is_reported_and_still_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect_module, "SLOW_RULE_S", 0.0)
    found = run("- name: r\n  when: facts.load_1m >= 0\n", captured("peek_healthy_running.json"), tmp_path)
    assert "r" in {f.detector for f in found.findings}
    assert [p.kind for p in found.problems] == ["slow"]


# -- damping: for / clear in polls and in time -----------------------------------------------------------


def test_for_and_clear_in_time_and_polls_become_the_rules_damping(tmp_path: Path) -> None:
    text = "- name: hot\n  when: facts.disk_used_pct > 30\n  for: 10m\n  clear: 2 polls\n"
    config = parse_config(f"rules: [{write(tmp_path, text)}]\n", str(tmp_path / "config.yaml"))
    policy = config.passes.policy
    assert (policy.damping_for("hot").for_s, policy.damping_for("hot").clear_polls) == (600.0, 2)
    cat = config.catalogue
    episodes: dict = {}  # type: ignore[type-arg]
    opened_at = None
    for minute in range(0, 13, 2):
        obs = captured("peek_healthy_running.json", after_s=60 + minute * 60)
        found = detect(obs, Thresholds(), obs.at, cat.detectors)
        episodes, transitions = advance(episodes, found.findings, {"pi": found.evaluated}, obs.at, policy)
        if any(t.change is Change.OPENED for t in transitions):
            opened_at = minute
    assert opened_at == 10, "pending until the condition has held 10 minutes"
    cool = Thresholds()
    obs = observed(snapshot(load("peek_healthy_running.json"), f=facts(disk=5.0)), at=obs.at + 60)
    for expect_resolved in (False, True):
        found = detect(obs, cool, obs.at, cat.detectors)
        episodes, transitions = advance(episodes, found.findings, {"pi": found.evaluated}, obs.at, policy)
        assert any(t.change is Change.RESOLVED for t in transitions) is expect_resolved


# -- the catalogue in the config -----------------------------------------------------------------------


def test_detectors_next_to_the_config_listed_rules_and_extra_rules_all_load(tmp_path: Path) -> None:
    (tmp_path / "detectors").mkdir()
    write(tmp_path / "detectors", "- name: from_dir\n  when: facts.load_1m > 1\n", "a.yaml")
    write(tmp_path, "- name: listed\n  when: facts.load_1m > 2\n", "listed.yaml")
    extra = write(tmp_path, "- name: extra\n  when: facts.load_1m > 3\n  auto_stop: true\n", "extra.yaml")
    text = "rules: [listed.yaml]\ndamping:\n  listed: {for: 3}\nauto_stop:\n  on: [from_dir]\n"
    config = parse_config(text, str(tmp_path / "config.yaml"), (str(extra),))
    assert [r.name for r in config.catalogue.rules] == ["from_dir", "listed", "extra"]
    assert config.passes.policy.damping_for("listed").for_polls == 3, "the config's damping wins"
    assert config.auto_stop.on == {"from_dir", "extra"}, "auto_stop: true joins auto_stop.on"
    assert "extra" in config.catalogue.names and "disk_critical" in config.catalogue.names


def test_the_demo_takes_rules_from_the_command_line_but_nothing_from_the_users_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = write(
        tmp_path, "notify: [{url: 'json://127.0.0.1:9/real-pager'}]\nrules: [mine.yaml]\n", "config.yaml"
    )
    write(tmp_path, "- name: from_config\n  when: facts.load_1m > 1\n", "mine.yaml")
    extra = write(tmp_path, "- name: asked_for\n  when: facts.load_1m > 2\n  auto_stop: true\n", "x.yaml")
    monkeypatch.setenv("FLEETWATCH_CONFIG", str(user))
    args = argparse.Namespace(rules=[str(extra)])
    demo = effective_config(args, base=Config())
    assert [r.name for r in demo.catalogue.rules] == ["asked_for"] and not demo.notify
    assert "asked_for" in demo.auto_stop.on
    assert [r.name for r in effective_config(args).catalogue.rules] == ["from_config", "asked_for"]


def test_config_names_an_unknown_detector_or_a_missing_rule_file_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"c.yaml:3: .*unknown detector 'disk_crit' \(did you mean disk_critical\?\)"
    ):
        parse_config("timeout: 20\nauto_stop:\n  on: [disk_crit]\n", str(tmp_path / "c.yaml"))
    with pytest.raises(ConfigError, match=r"c.yaml:2: rules: nope.yaml: no such rule file"):
        parse_config("rules:\n  - nope.yaml\n", str(tmp_path / "c.yaml"))


def fleetwatch(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetwatch", *argv], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(REPO), "HOME": str(cwd), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_rules_check_lists_rules_and_exits_3_when_one_is_skipped(tmp_path: Path) -> None:
    none = fleetwatch("rules", "check", cwd=tmp_path)
    assert none.returncode == 0 and none.stdout.startswith(
        f"no rule files: put *.yaml in {tmp_path}/.config/fleetwatch/detectors/"
    ), none
    good = fleetwatch("rules", "check", str(EXAMPLES), cwd=tmp_path)
    assert good.returncode == 0 and good.stdout.rstrip().endswith("0 skipped: all good"), good
    assert "load_high  warning  when facts.load_1m > 4  for 10m  clear 2 polls" in good.stdout
    write(tmp_path, "- name: bad\n  when: facts.nope > 1\n", "bad.yaml")
    bad = fleetwatch("rules", "check", str(tmp_path / "bad.yaml"), cwd=tmp_path)
    assert bad.returncode == 3 and "bad.yaml:2: rule bad: `when` reads unknown field" in bad.stdout, bad
    missing = fleetwatch("rules", "check", "nowhere.yaml", cwd=tmp_path)
    assert missing.returncode == 3 and "nowhere.yaml: no such rule file" in missing.stderr
    flag = fleetwatch("status", "--rules", "nowhere.yaml", cwd=tmp_path)
    assert flag.returncode == 3 and "--rules nowhere.yaml: no such rule file" in flag.stderr


def test_rules_test_without_stored_data_says_how_to_get_some(tmp_path: Path) -> None:
    result = fleetwatch(
        "rules", "test", str(EXAMPLES), "--host", "pi9", "--state-dir", str(tmp_path / "s"), cwd=tmp_path
    )
    assert result.returncode == 3
    assert "pi9: no saved data to test rules on" in result.stderr and "--once --host pi9" in result.stderr


def test_a_skipped_rule_file_is_said_once_and_the_command_goes_on(tmp_path: Path) -> None:
    write(tmp_path, "- name: Bad\n  when: facts.load_1m > 1\n", "bad.yaml")
    ssh_config = write(tmp_path, "Host pi1\n  HostName 127.0.0.1\n", "ssh_config")
    Store.open(tmp_path / "s").close()  # status reads a state store, it never makes one
    result = fleetwatch(
        "status", "--rules", "bad.yaml", "--ssh-config", str(ssh_config), "--state-dir", "s", cwd=tmp_path
    )
    assert result.stderr.count("rule skipped: ") == 1 and "bad.yaml:1" in result.stderr, result
    assert "pi1" in result.stdout and result.returncode == 3  # NEVER POLLED: unknown, but listed
    # rules check lists it itself: once, on stdout.
    listed = fleetwatch("rules", "check", "--rules", "bad.yaml", cwd=tmp_path)
    assert listed.stdout.count("bad.yaml:1") == 1 and listed.stderr == "" and listed.returncode == 3, listed


def test_a_skipped_rule_named_in_the_config_says_why_it_was_skipped(tmp_path: Path) -> None:
    write(tmp_path, "- name: load_high\n  when: facts.nope > 1\n", "bad.yaml")
    with pytest.raises(
        ConfigError, match=r"c.yaml:3: .*'load_high' is a rule that was skipped: .*bad.yaml:2: "
    ):
        parse_config("rules: [bad.yaml]\nauto_stop:\n  on: [load_high]\n", str(tmp_path / "c.yaml"))


# -- the stale threshold a project declares --------------------------------------------------------------


def gather_line(monitor: object) -> str:
    doc = {"gather": 1, "runner": "/usr/bin/agent-runner", "python": "/usr/bin/python3", "monitor": monitor}
    import json

    return "FLEETWATCH-GATHER-1 " + json.dumps(doc) + "\n"


@pytest.mark.parametrize(
    ("monitor", "declared", "problem"),
    [
        ({"supervisor_stale_threshold_s": 7200}, 7200, None),
        ({"supervisor_stale_threshold_s": 0}, 0, None),
        ({}, None, None),
        ({"supervisor_stale_threshold_s": -5}, None, "monitor.supervisor_stale_threshold_s"),
        ({"supervisor_stale_threshold_s": "soon"}, None, "monitor.supervisor_stale_threshold_s"),
        ("x", None, "monitor"),
    ],
)
def test_the_declared_threshold_is_read_from_the_probe_and_validated(
    monitor: object, declared: float | None, problem: str | None
) -> None:
    snap = parse_gather("pi", gather_line(monitor), "", 1.0)
    assert snap.stale_threshold_s == declared
    assert (problem is None and snap.problems is None) or (problem and problem in (snap.problems or ""))


@pytest.mark.parametrize(
    ("declared", "own", "expected"),
    [
        (None, None, (30.0, "round budget")),  # the capture's 20 s round budget × 1.5
        (7200.0, None, (7200.0, "agent-runner.toml")),
        (0.0, None, (0.0, "agent-runner.toml")),
        (7200.0, 60.0, (60.0, "inventory")),
        (7200.0, 0.0, (0.0, "inventory")),
    ],
)
def test_stale_threshold_precedence(
    declared: float | None, own: float | None, expected: tuple[float, str]
) -> None:
    snap = snapshot(load("peek_healthy_running.json"))
    snap = type(snap)(**{**snap.__dict__, "stale_threshold_s": declared})
    ctx = Context(observed(snap), Thresholds(supervisor_stale_threshold_s=own), snap.received_at)
    assert stale_threshold(ctx) == expected


def test_the_built_ins_alone_are_the_default_catalogue(tmp_path: Path) -> None:
    assert parse_config("", str(tmp_path / "c.yaml")).catalogue.detectors == BUILTIN


# -- found in review ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "said"),
    [
        ("(lambda: 1)() and facts.load_1m > 0", "can be called in a rule"),
        ("(x := facts.load_1m) > 0", "NamedExpr is not available"),
        ("'x'.ljust(10**9) and facts.load_1m > 0", "can be called in a rule"),
        ("[g for g in groups] and facts.load_1m > 0", "ListComp is not available"),
    ],
)
def test_what_a_rule_cannot_run_is_refused_when_it_is_loaded(tmp_path: Path, when: str, said: str) -> None:
    # These loaded, then failed on every host, every pass (or built a 1 GB string inside the pass).
    cat = load_catalogue([write(tmp_path, f'- name: odd\n  when: "{when}"\n')])
    assert not cat.rules and said in cat.problems[0] and "rules.yaml:2" in cat.problems[0], cat.problems


@pytest.mark.parametrize("expensive", ["4000000**4000000 > 1", "max([[0]*100000]*100000) == [0]"])
def test_an_expensive_expression_is_refused_at_once_on_the_host_not_computed_inside_the_pass(
    tmp_path: Path, expensive: str
) -> None:
    # The power ran 25 s per evaluation, the max() for hours: inside the pass, on every host.
    obs = captured("peek_healthy_running.json")
    cat = load_catalogue(
        [write(tmp_path, f'- name: slow_pow\n  when: "facts.load_1m >= 0 and {expensive}"\n')]
    )
    found = detect(obs, Thresholds(), obs.at, cat.detectors)
    assert not by_rules(found) and "slow_pow" not in found.evaluated
    assert found.problems and "for a rule" in found.problems[0].message
    assert found.problems[0].kind != "slow"


def test_a_key_given_twice_an_unknown_placeholder_and_a_file_read_twice_are_told(tmp_path: Path) -> None:
    twice = write(
        tmp_path, "- name: twice\n  when: facts.load_1m > 1\n  when: facts.load_1m > 400\n", "t.yaml"
    )
    typo = write(
        tmp_path, '- name: typo\n  when: facts.load_1m > 1\n  message: "load {facts.lod_1m}"\n', "p.yaml"
    )
    cat = load_catalogue([twice, typo, tmp_path / "t.yaml"])
    assert not cat.rules
    assert any("t.yaml:2: rule twice: `when` is given twice" in p for p in cat.problems), cat.problems
    assert any("p.yaml:3: rule typo: `message` names unknown field {facts.lod_1m}" in p for p in cat.problems)
    assert len(cat.problems) == 2, "t.yaml named twice is read once, not a clash with itself"


def test_damping_for_a_rule_sets_only_what_it_names(tmp_path: Path) -> None:
    text = "- name: load_high\n  when: facts.load_1m > 4\n  for: 10m\n  clear: 2 polls\n"
    config = parse_config(
        f"rules: [{write(tmp_path, text)}]\ndamping:\n  load_high: {{clear: 3}}\n", str(tmp_path / "c.yaml")
    )
    damping = config.passes.policy.damping_for("load_high")
    assert (damping.for_s, damping.clear_polls) == (600.0, 3), "clear from the config, for: 10m from the rule"
