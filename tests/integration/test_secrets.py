"""Secrets stay off the command line and out of reach: notification URLs (which carry tokens) come from
the config file or ``FLEETWATCH_NOTIFY``, are delivered, are never printed, and the state files that
keep them are the owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.integration.conftest import Fleet, run_cli
from tests.integration.receivers import HttpReceiver

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-t0ken"


def poll_authfail(fleet: Fleet, state: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    argv = ["--ssh-config", str(fleet.ssh_config), "--inventory", str(fleet.inventory)]
    argv += ["--state-dir", str(state), "--once", "--json", "--host", "pi-authfail", *extra]
    result = run_cli(*argv, env=env)
    assert "oauth_fail" in result.firing("pi-authfail"), result
    assert TOKEN not in " ".join(argv), "nothing secret on the command line (ps shows it)"
    assert TOKEN not in result.stdout + result.stderr, result
    return result.stdout


@pytest.mark.parametrize("source", ["config file", "FLEETWATCH_NOTIFY"])
def test_a_notification_url_from_the_config_file_or_the_environment_is_delivered_never_shown(
    fleet: Fleet, http: HttpReceiver, tmp_path: Path, source: str
) -> None:
    url = http.url("/hook", query=f"-token={TOKEN}")
    state = tmp_path / "state"
    if source == "config file":
        config = tmp_path / "config.yaml"
        config.write_text(f"notify:\n  - url: {url}\n")
        config.chmod(0o600)
        poll_authfail(fleet, state, "--config", str(config), env={"FLEETWATCH_CONFIG": ""})
    else:
        poll_authfail(fleet, state, env={"FLEETWATCH_NOTIFY": url})
    assert any("oauth_fail" in body["title"] for body in http.accepted), http.received
    assert all(p.path.endswith(f"token={TOKEN}") for p in http.received)
    # The outbox keeps the raw URL to retry; the files that hold it are 0600 in a 0700 directory.
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (state / name).exists():
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    status = run_cli("status", "--state-dir", str(state), env={"FLEETWATCH_NOTIFY": url})
    assert TOKEN not in status.stdout + status.stderr, status
