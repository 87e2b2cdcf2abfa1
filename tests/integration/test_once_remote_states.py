"""``fleetwatch --once --json`` against real agent-runner projects in real states, over real SSH."""

from __future__ import annotations

import pytest

from tests.integration.conftest import STALE_BUDGET_S, Once, Remote
from tests.integration.projects import Project

pytestmark = pytest.mark.integration


def test_healthy_host_with_a_live_supervisor_reports_nothing_and_exits_ok(once: Once) -> None:
    result = once("pi-healthy")
    assert (result.code, result.alerts) == (0, []), result


def test_supervisor_killed_with_sigkill_is_reported_dead(once: Once) -> None:
    result = once("pi-stale")
    alert = result.firing("pi-stale").get("supervisor_died")
    assert alert is not None, result
    assert alert["severity"] == "critical"
    assert "crashed or was killed" in alert["message"]
    assert "supervisor_stale" not in result.firing("pi-stale"), "one cause, one alert"
    assert result.code == 2, result


def test_supervisor_alive_but_silent_is_reported_stale(once: Once) -> None:
    result = once("pi-stuck")
    alert = result.firing("pi-stuck").get("supervisor_stale")
    assert alert is not None, result
    assert alert["severity"] == "warning"
    assert "running but silent" in alert["message"]
    assert alert["context"]["service_active"] is True
    assert alert["context"]["threshold_s"] == int(1.5 * STALE_BUDGET_S)
    assert result.code >= 1, result


def test_rounds_failing_auth_are_reported_as_critical_oauth_fail(once: Once) -> None:
    result = once("pi-authfail")
    alert = result.firing("pi-authfail").get("oauth_fail")
    assert alert is not None, result
    assert alert["severity"] == "critical"
    assert alert["context"]["matches"] >= 2
    # The words the fake claude printed into the round log, not a paraphrase.
    assert "Please run /login" in alert["message"] or "401" in alert["message"], alert
    assert alert["hint"]
    assert result.code == 2, result


def test_nearly_full_log_filesystem_is_reported_as_disk_critical(once: Once, diskfull: Project) -> None:
    result = once("pi-diskfull")
    alert = result.firing("pi-diskfull").get("disk_critical")
    assert alert is not None, result
    assert alert["severity"] == "critical"
    assert alert["context"]["used_pct"] >= 95.0
    assert alert["context"]["path"].startswith(str(diskfull.log_dir.parent)), alert
    assert result.code == 2, result


def test_host_without_agent_runner_on_path_or_in_local_bin_is_reported_runner_missing(
    once: Once, remote: Remote
) -> None:
    result = once("pi-norunner")
    alert = result.firing("pi-norunner").get("runner_missing")
    assert alert is not None, result
    assert alert["severity"] == "critical"
    # It says where it looked: the persona's ~/.local/bin, despite the chatty ~/.bashrc banner.
    assert f"{remote.bare.home}/.local/bin/agent-runner" in alert["context"]["searched"], alert
    assert result.code == 2, result


def test_non_json_from_the_runner_is_reported_snapshot_invalid_in_the_remotes_own_words(once: Once) -> None:
    result = once("pi-garbage")
    alert = result.firing("pi-garbage").get("snapshot_invalid")
    assert alert is not None, result
    assert "state file is being rewritten, try again later" in alert["message"], alert
    assert result.code == 3, "a host whose data was not understood is unknown, never OK or a mere warning"


def test_peek_crash_on_a_project_folder_with_a_space_is_reported_with_the_traceback_words(once: Once) -> None:
    result = once("pi-space")
    alert = result.firing("pi-space").get("snapshot_invalid")
    assert alert is not None, result
    assert "crashed" in alert["message"]
    assert "invalid project name 'my project'" in alert["message"], alert
    assert result.code == 3, result


def test_runner_configured_as_a_shell_wrapper_script_is_polled_like_the_real_one(once: Once) -> None:
    # `runner:` may name a wrapper (`#!/bin/sh … exec agent-runner "$@"`), not only the pip entry point.
    result = once("pi-wrapper")
    assert (result.code, result.alerts) == (0, []), result
