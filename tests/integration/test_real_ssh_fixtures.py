"""The fixtures themselves, checked with the real OpenSSH client: if these fail, nothing else means much."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Fleet, OpenSsh, Remote

pytestmark = pytest.mark.integration


def test_openssh_client_runs_real_agent_runner_peek_on_the_fleet_persona(
    openssh: OpenSsh, remote: Remote
) -> None:
    proc = openssh("pi-healthy", "agent-runner", "--json", "--config", "~/healthy/agent-runner.toml", "peek")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["project"] == "healthy"
    assert doc["service"]["active"] is True, "the healthy project's supervisor should be live (pid-file mode)"
    assert doc["status"]["round_num"] >= 1


def test_remote_session_sees_the_persona_home_not_the_real_one(openssh: OpenSsh, remote: Remote) -> None:
    proc = openssh("pi-healthy", "echo", "$HOME", "$FLEETWATCH_TEST_PERSONA")
    assert proc.stdout.split() == [str(remote.fleet.home), "fleet"]


def test_bare_persona_has_no_agent_runner_and_a_chatty_bashrc(openssh: OpenSsh, remote: Remote) -> None:
    proc = openssh("pi-norunner", "command -v agent-runner || echo NO-RUNNER; echo HOME=$HOME")
    assert proc.stdout.splitlines() == [
        "Welcome to a bare Raspberry Pi (no agent-runner here)",
        "NO-RUNNER",
        f"HOME={remote.bare.home}",
    ]


def test_openssh_refuses_the_rekeyed_alias(openssh: OpenSsh, fleet: Fleet) -> None:
    proc = openssh("pi-rekeyed", "true")
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
