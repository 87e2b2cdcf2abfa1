"""contrib/prometheus/ is valid for the real tools and mirrors fleetwatch's detectors and metrics."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fleetwatch.detect import names
from fleetwatch.errors import Stage
from fleetwatch.events import DeliveriesFlushed, PassFinished
from fleetwatch.exporter import Exposed, PassStats
from fleetwatch.exporter.serve import render
from fleetwatch.findings import Severity
from fleetwatch.notify.model import Backlog
from fleetwatch.vantage import VANTAGE_DETECTORS
from tests.unit.test_status import ep, failed_poll, fleet, ok_poll

CONTRIB = Path(__file__).parents[2] / "contrib" / "prometheus"
RULES = CONTRIB / "fleetwatch.rules.yml"


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(
            f"{name} is missing: run .ci/install-system-deps (Debian prometheus, prometheus-alertmanager)"
        )
    return found


def run(*argv: str) -> str:
    proc = subprocess.run([tool(argv[0]), *argv[1:]], cwd=CONTRIB, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def rules() -> dict[str, dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for group in doc["groups"] for r in group["rules"]}


def camel(detector: str) -> str:
    return "Fleetwatch" + "".join(part.capitalize() for part in detector.split("_"))


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    assert "SUCCESS: 33 rules found" in run("promtool", "check", "rules", RULES.name)
    assert "SUCCESS" in run("promtool", "test", "rules", "fleetwatch.rules.test.yml")


def test_promtool_accepts_the_scrape_config_with_its_rule_file() -> None:
    assert "is valid prometheus config file syntax" in run("promtool", "check", "config", "prometheus.yml")


def test_amtool_accepts_the_alertmanager_config_and_routes_critical_alerts_to_the_pager() -> None:
    found = run("amtool", "check-config", "alertmanager.yml")
    assert "SUCCESS" in found and "1 inhibit rules" in found
    test = ("amtool", "config", "routes", "test", "--config.file=alertmanager.yml")
    assert run(*test, "detector=oauth_fail", "severity=critical", "host=pi1").split()[0] == "fleet-pager"
    assert run(*test, "detector=disk_warning", "severity=warning", "host=pi1").split()[0] == "fleet-team"


def test_alertmanager_groups_by_detector_and_inhibits_an_unreachable_hosts_other_alerts() -> None:
    config = yaml.safe_load((CONTRIB / "alertmanager.yml").read_text())
    assert config["route"]["group_by"][0] == "detector"
    [inhibit] = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['detector="remote_giveup"'] and inhibit["equal"] == ["host"]
    assert 'detector!="remote_giveup"' in inhibit["target_matchers"]


def test_every_detector_has_one_mirrored_rule_that_fires_on_its_open_alert() -> None:
    found = rules()
    for detector in sorted(names() | VANTAGE_DETECTORS):
        rule = found.get(camel(detector))
        assert rule is not None, f"no alerting rule for detector {detector} in {RULES.name}"
        assert rule["expr"] == f'max without (instance) (fleetwatch_alert_active{{detector="{detector}"}})'
        assert "for" not in rule and "labels" not in rule, (
            "fleetwatch already damped it; its severity rides along"
        )
    mirrored = {r for r in found if 'fleetwatch_alert_active{detector="' in str(found[r]["expr"])}
    assert mirrored == {camel(d) for d in names() | VANTAGE_DETECTORS}


def test_the_users_own_rules_fire_one_rule_that_excludes_exactly_the_built_ins() -> None:
    expr = str(rules()["FleetwatchRule"]["expr"])
    built_in = re.fullmatch(r'max without \(instance\) \(fleetwatch_alert_active\{detector!~"(.*)"\}\)', expr)
    assert built_in is not None, expr
    assert built_in.group(1).split("|") == sorted(names() | VANTAGE_DETECTORS)


def test_the_rules_use_only_metrics_fleetwatch_exposes() -> None:
    status = fleet(
        [failed_poll("pi2", Stage.CONNECT), ok_poll("pi1")],
        [ep("pi2", "remote_giveup", Severity.CRITICAL)],
    )
    backlog = Backlog("json://x/", 1, 0, 60.0, 30.0, 1, "refused", True)
    stats = PassStats().after(PassFinished(1, 0.0, 1.0, 2, 1)).after(DeliveriesFlushed(0, 1))
    exposed = Exposed(dataclasses.replace(status, backlog=(backlog,)), stats)
    text = render(exposed, lifetime=True).decode()
    exposed_names = {line.split("{")[0].split()[0] for line in text.splitlines() if not line.startswith("#")}
    used = {name for r in rules().values() for name in re.findall(r"\bfleetwatch_[a-z_]+", str(r["expr"]))}
    assert used and used <= exposed_names, used - exposed_names


def test_every_exposed_family_is_in_the_metric_reference() -> None:
    status = fleet([failed_poll("pi2", Stage.CONNECT), ok_poll("pi1")], [ep("pi2", "remote_giveup")])
    status = dataclasses.replace(
        status, hosts=(status.hosts[0], dataclasses.replace(status.hosts[1], spend_today_usd=1.0))
    )
    backlog = Backlog("json://x/", 1, 0, 60.0, 30.0, 1, "refused", True)
    exposed = Exposed(
        dataclasses.replace(status, backlog=(backlog,)), PassStats().after(PassFinished(1, 0, 1, 2, 1))
    )
    text = render(exposed, lifetime=True).decode()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    reference = (CONTRIB / "README.md").read_text()
    assert families and not [f for f in families if f"`{f}`" not in reference]
