"""The config file reads into the very settings objects the core uses; every error names file:line."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from fleetwatch.actions.plan import AutoStopPolicy
from fleetwatch.cli.settings import effective_config
from fleetwatch.config import Config, parse_config
from fleetwatch.episodes import Damping
from fleetwatch.errors import ConfigError
from fleetwatch.findings import Severity

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def documented_example() -> str:
    """The YAML block of docs/configuration.md."""
    match = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    assert match
    return match.group(1)


def test_the_documented_example_reads_into_the_core_settings() -> None:
    config = parse_config(documented_example(), "configuration.md")
    passes = config.passes
    assert (passes.timeout, passes.concurrency, passes.interval) == (20, 32, 60)
    assert passes.policy.damping_for("supervisor_stale") == Damping(for_polls=2)
    assert passes.policy.damping_for("disk_warning") == Damping(clear_polls=2)
    assert passes.policy.repeat_interval == 4 * 3600
    assert passes.vantage.gap_factor == 3
    assert config.auto_stop == AutoStopPolicy(on=frozenset(), consecutive=2, max_per_hour=3)
    slack, pager, mail = config.notify
    assert slack.severities == {Severity.WARNING, Severity.CRITICAL} and mail.groups == {"lab"}
    assert pager.severities == {Severity.CRITICAL}


def test_the_0_1_spellings_still_read_as_the_same_settings() -> None:
    old = parse_config(
        "detectors: {oauth_fail: {for: 3}}\ndefault_rule: {clear: 2}\n"
        "auto_stop_on: [oauth_fail]\nauto_stop: {consecutive: 1}\n",
        "old.yaml",
    )
    new = parse_config(
        "damping: {oauth_fail: {for: 3}}\ndefault_damping: {clear: 2}\n"
        "auto_stop: {on: [oauth_fail], consecutive: 1}\n",
        "new.yaml",
    )
    assert old == new
    assert new.auto_stop.on == {"oauth_fail"} and new.passes.policy.default == Damping(clear_polls=2)


def test_an_old_and_a_new_spelling_of_one_setting_is_an_error_at_the_second() -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:2: .*'damping' and 'detectors' are the same setting"):
        parse_config("detectors: {}\ndamping: {}\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml:1: .*auto_stop.on is set twice"):
        parse_config("auto_stop: {on: [oauth_fail]}\nauto_stop_on: [oauth_fail]\n", "c.yaml")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("timeout: 20\ncolour: red\n", 2, "unknown key 'colour' in top level"),
        ("damping:\n  oauth_fail: {for: 0}\n", 2, "at least 1"),
        ("auto_stop:\n  on: [no_such_detector]\n", 2, "unknown detector 'no_such_detector'"),
        ("timeout: soon\n", 1, "not a duration"),
        ("concurrency: many\n", 1, "expected int"),
        ("offline:\n  fraction: [1]\n", 2, "expected a single value"),
    ],
)
def test_bad_values_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert str(err.value).startswith(f"c.yaml:{line}: ") and words in str(err.value)


def test_allowed_keys_list_the_current_spellings_only() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("nope: 1\n", "c.yaml")
    allowed = str(err.value).split("allowed: ")[1]
    assert "damping" in allowed and "offline" in allowed and "timeout" in allowed
    assert "detectors" not in allowed and "auto_stop_on" not in allowed


def test_command_line_beats_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("timeout: 5\nconcurrency: 4\ninterval: 2m\n")
    monkeypatch.setenv("FLEETWATCH_TIMEOUT", "7")
    monkeypatch.setenv("FLEETWATCH_CONCURRENCY", "8")
    args = argparse.Namespace(config=str(path), timeout="9s", concurrency=None, notify=["json://x/y"])
    config = effective_config(args)
    assert (config.passes.timeout, config.passes.concurrency, config.passes.interval) == (9, 8, 120)
    assert [t.url for t in config.notify] == ["json://x/y"]
    assert config.passes.policy == Config().passes.policy


def test_a_config_file_with_notification_urls_open_to_others_is_said_once(tmp_path: Path) -> None:
    from tests.unit.test_cli_contract import fleetwatch

    config = tmp_path / "config.yaml"
    config.write_text("notify:\n  - url: json://127.0.0.1:9/hook?-token=s3cret\n")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host pi1\n    HostName 127.0.0.1\n")
    argv = ("hosts", "--config", str(config), "--ssh-config", str(ssh_config))
    config.chmod(0o644)
    loose = fleetwatch(*argv)
    assert loose.returncode == 0, loose
    assert loose.stderr.splitlines() == [
        f"fleetwatch: {config} holds notification URLs (tokens) and other users can read it (mode 0644): "
        f"chmod 600 {config}"
    ]
    assert "s3cret" not in loose.stdout + loose.stderr
    config.chmod(0o600)
    tight = fleetwatch(*argv)
    assert tight.returncode == 0 and tight.stderr == "", tight
    config.write_text("timeout: 20\n")
    config.chmod(0o644)
    assert fleetwatch(*argv).stderr == "", "no tokens, nothing to say"
