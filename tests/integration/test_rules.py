"""User rules and declared thresholds over the real sshd fleet with real agent-runner projects.

A rule file fires on exactly the hosts it should (hosts globs and groups scope it even where the
condition also holds), resolves when the condition clears (a supervisor SIGSTOPped, then resumed), and
shows in ``check`` and ``status`` like a built-in; ``rules test`` explains it from the stored fields.
``supervisor_stale`` honours the project's ``[monitor] supervisor_stale_threshold_s`` (and 0), with the
inventory's absolute threshold winning over it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import STALE_BUDGET_S, Fleet, Result, inventory_yaml, run_cli
from tests.integration.projects import Project, make_project, wait_until
from tests.integration.receivers import HttpReceiver
from tests.integration.sshd import host_block

pytestmark = pytest.mark.integration

RULES = """\
# Silent for more than 3 s: only the rules box may page for it (pi-stale's old events match too).
- name: quiet_supervisor
  when: facts.newest_event_age_s > 3
  severity: critical
  hosts: [pi-rules*]
  message: "{host}: no supervisor event for {facts.newest_event_age_s} s"
  hint: "look at serve on {host}"

# Rounds happen on every live project; the rule is for the lab group (pi-healthy, pi-stale) only.
- name: lab_has_rounds
  when: facts.round >= 1
  severity: info
  groups: [lab]

# A field no host has between rounds: never evaluated there, never an alert or a resolution.
- name: phase_is_x
  when: current_round.phase == "x"
"""


@dataclass
class RulesFleet:
    ssh_config: Path
    inventory: Path
    rules: Path
    box: Project
    serve_pid: int


@pytest.fixture(scope="module")
def rules_fleet(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RulesFleet]:
    """The session fleet plus pi-rules1: a project of its own whose supervisor the test can pause."""
    home = fleet.remote.root / "home-fleet"
    box = make_project(home, "rulesbox", round_budget_s=600)
    proc = box.serve("ok", 100000, FAKE_CLAUDE_DELAY_S="1")
    try:
        wait_until("the rules box's first round", lambda: box.count("round_end") >= 1)
        here = tmp_path_factory.mktemp("rules")
        ssh_config = here / "ssh_config"
        ssh_config.write_text(
            fleet.ssh_config.read_text()
            + "\n"
            + host_block("pi-rules1", fleet.remote.fleet.port, fleet.remote.client_key, fleet.known_hosts)
        )
        hosts = {
            "pi-healthy": fleet.hosts["pi-healthy"],
            "pi-stale": fleet.hosts["pi-stale"],
            "pi-rules1": {"config": box.remote_config},
        }
        inventory = here / "fleet.yaml"
        inventory.write_text(inventory_yaml(hosts, groups={"lab": {"hosts": ["pi-healthy", "pi-stale"]}}))
        rules = here / "rules.yaml"
        rules.write_text(RULES)
        yield RulesFleet(ssh_config, inventory, rules, box, proc.pid)
    finally:
        with_cont(proc.pid)
        box.kill_all()


def with_cont(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def fleetwatch(rf: RulesFleet, state: Path, *argv: str) -> Result:
    common = ["--ssh-config", str(rf.ssh_config), "--inventory", str(rf.inventory), "--rules", str(rf.rules)]
    command, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else (None, argv)
    return run_cli(*([command] if command else []), *common, "--state-dir", str(state), *rest)


def test_a_rule_file_fires_on_exactly_its_hosts_and_resolves_when_the_condition_clears(
    rules_fleet: RulesFleet, tmp_path: Path, http: HttpReceiver
) -> None:
    state = tmp_path / "state"
    first = fleetwatch(rules_fleet, state, "--once", "--json")
    assert first.code in (0, 1, 2), first
    assert "quiet_supervisor" not in first.firing("pi-rules1"), "its supervisor is busy"
    assert "quiet_supervisor" not in first.firing("pi-stale"), "hosts: [pi-rules*] leaves pi-stale out"
    assert {h for h in ("pi-healthy", "pi-stale", "pi-rules1") if "lab_has_rounds" in first.firing(h)} == {
        "pi-healthy",
        "pi-stale",
    }, first
    assert not any("phase_is_x" in first.firing(h) for h in ("pi-healthy", "pi-stale", "pi-rules1"))

    os.kill(rules_fleet.serve_pid, signal.SIGSTOP)  # alive but silent
    try:
        time.sleep(4.5)
        paused = fleetwatch(rules_fleet, state, "--once", "--json", "--notify", http.url())
        alert = paused.firing("pi-rules1").get("quiet_supervisor")
        assert alert is not None, paused
        assert alert["severity"] == "critical" and paused.code == 2, paused
        assert alert["message"].startswith("pi-rules1: no supervisor event for ") and alert["hint"]
        assert alert["context"]["rule"] == f"{rules_fleet.rules}:2"
        assert "quiet_supervisor" not in paused.firing("pi-stale")
        # Notified like a built-in: the rule's own message and hint, its name as the detector.
        paged = [b for b in http.accepted if b["title"] == "[CRIT] pi-rules1 quiet_supervisor"]
        assert len(paged) == 1, http.accepted
        body = paged[0]["message"].splitlines()
        assert body[0] == alert["message"] and body[1] == "What to do: look at serve on pi-rules1", body

        metrics = tmp_path / "fleetwatch.prom"
        check = fleetwatch(rules_fleet, state, "check", "--host", "pi-rules1", "--metrics-file", str(metrics))
        assert check.code == 2 and "quiet_supervisor" in check.stdout, check
        assert (
            'fleetwatch_alert_active{detector="quiet_supervisor",host="pi-rules1",severity="critical"} 1.0'
            in metrics.read_text()
        ), metrics.read_text()
        status = fleetwatch(rules_fleet, state, "status", "--json")
        row = next(h for h in json.loads(status.stdout)["hosts"] if h["host"] == "pi-rules1")
        assert "quiet_supervisor" in {a["detector"] for a in row["alerts"]}, status.stdout

        tested = run_cli(
            "rules",
            "test",
            "--rules",
            str(rules_fleet.rules),
            "--state-dir",
            str(state),
            "--host",
            "pi-rules1",
        )
        assert tested.code == 0, tested
        assert "quiet_supervisor (" in tested.stdout and "FIRES  critical" in tested.stdout, tested
    finally:
        os.kill(rules_fleet.serve_pid, signal.SIGCONT)

    wait_until(
        "the resumed supervisor's next event",
        lambda: time.time() - _newest_event_at(rules_fleet.box) < 2,
        timeout_s=30,
    )
    resumed = fleetwatch(rules_fleet, state, "--once", "--json")
    assert "quiet_supervisor" in resumed.resolved("pi-rules1"), resumed
    assert "quiet_supervisor" not in resumed.firing("pi-rules1")


def _newest_event_at(project: Project) -> float:
    from datetime import datetime

    events = project.events()
    if not events:
        return 0.0
    ts = str(events[-1]["ts"]).replace("Z", "+00:00")
    return datetime.fromisoformat(ts).timestamp()


# -- the project's own supervisor_stale threshold -----------------------------------------------------


@contextlib.contextmanager
def declaring(project: Project, value: int | None) -> Iterator[None]:
    """The project's agent-runner.toml declaring ``[monitor] supervisor_stale_threshold_s = value`` for
    the block (agent-runner only reads a file named agent-runner.toml; the SIGSTOPped serve never
    rereads it), then as it was."""
    text = project.config.read_text()
    assert text.count("[monitor]\n") == 1, "the scaffold's [monitor] table moved"
    if value is not None:
        project.config.write_text(
            text.replace("[monitor]\n", f"[monitor]\nsupervisor_stale_threshold_s = {value}\n")
        )
    try:
        yield
    finally:
        project.config.write_text(text)


@pytest.mark.parametrize(
    ("declared", "inventory", "fires", "threshold"),
    [
        (None, None, True, int(1.5 * STALE_BUDGET_S)),  # agent-runner's default: 1.5 × round budget
        (86400, None, False, None),  # the project allows a day of silence
        (1, None, True, 1),  # … or barely a second
        (0, None, False, None),  # 0 turns the detector off for the project
        (0, 1, True, 1),  # the inventory's absolute threshold wins over the project's
        (1, 0, False, None),  # … including 0
    ],
)
def test_supervisor_stale_honours_the_projects_declared_threshold(
    fleet: Fleet,
    tmp_path: Path,
    declared: int | None,
    inventory: int | None,
    fires: bool,
    threshold: int | None,
) -> None:
    stuck = fleet.remote.projects["stuck"]  # SIGSTOPped: alive but silent since the session started
    host: dict[str, object] = {"config": stuck.remote_config}
    if inventory is not None:
        host["thresholds"] = {"supervisor_stale_threshold_s": inventory}
    path = tmp_path / "fleet.yaml"
    path.write_text(inventory_yaml({"pi-stuck": host}))
    with declaring(stuck, declared):
        result = run_cli(
            "--ssh-config", str(fleet.ssh_config), "--inventory", str(path),
            "--state-dir", str(tmp_path / "state"), "--once", "--json",
        )  # fmt: skip
    assert "snapshot_invalid" not in result.firing("pi-stuck"), result
    alert = result.firing("pi-stuck").get("supervisor_stale")
    assert (alert is not None) is fires, result
    if alert is not None:
        assert alert["context"]["threshold_s"] == threshold, alert
        source = {None: "round budget", 1: "agent-runner.toml"}.get(declared, "agent-runner.toml")
        assert alert["context"]["threshold_from"] == ("inventory" if inventory is not None else source)
