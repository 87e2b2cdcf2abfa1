"""Targets choose notifications by severity and host group."""

from __future__ import annotations

import pytest

from fleetwatch.config import parse_config
from fleetwatch.errors import ConfigError
from fleetwatch.findings import Severity
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.model import ALL_SEVERITIES, Notification, Target


def note(severity: Severity, *groups: str) -> Notification:
    n = compose_text("opened", severity, "x", "y", ["pi1"], 0.0)
    return Notification(**{**n.__dict__, "groups": groups})


def test_pager_gets_only_criticals_and_slack_gets_everything() -> None:
    pager = Target("tgram://1:tok/2", frozenset({Severity.CRITICAL}))
    slack = Target("slack://a/b/c")
    assert pager.wants(note(Severity.CRITICAL)) and not pager.wants(note(Severity.WARNING))
    assert all(slack.wants(note(s)) for s in Severity)


def test_group_limited_target_gets_only_its_groups_hosts() -> None:
    lab = Target("json://127.0.0.1/lab", groups=frozenset({"lab"}))
    assert lab.wants(note(Severity.WARNING, "lab", "attic"))
    assert not lab.wants(note(Severity.WARNING, "attic"))
    assert not lab.wants(note(Severity.WARNING))  # a host in no group is not the lab's


def test_severity_and_group_limits_combine() -> None:
    t = Target("json://127.0.0.1/x", frozenset({Severity.CRITICAL}), frozenset({"lab"}))
    assert t.wants(note(Severity.CRITICAL, "lab"))
    assert not t.wants(note(Severity.WARNING, "lab")) and not t.wants(note(Severity.CRITICAL, "attic"))


def test_a_config_file_target_reads_severity_names_and_groups() -> None:
    config = parse_config(
        "notify:\n  - url: tgram://1:tok/2\n    severities: [critical, WARNING]\n    groups: [lab]\n"
        "  - url: slack://a/b/c\n",
        "config.yaml",
    )
    t, every = config.notify
    assert t.severities == {Severity.CRITICAL, Severity.WARNING} and t.groups == {"lab"}
    assert every.severities == ALL_SEVERITIES


def test_target_errors_name_the_problem_without_echoing_the_url() -> None:
    with pytest.raises(ConfigError, match="unknown severity 'urgent'"):
        parse_config("notify:\n  - url: tgram://1:tok/2\n    severities: [urgent]\n", "config.yaml")
    with pytest.raises(ConfigError, match="not an Apprise URL") as err:
        parse_config("notify:\n  - url: xoxb-secret-token-123\n", "config.yaml")
    assert "secret" not in str(err.value) and "config.yaml:2" in str(err.value)


def test_target_repr_hides_the_url() -> None:
    assert "secret" not in repr(Target("slack://secret/secret/secret"))
