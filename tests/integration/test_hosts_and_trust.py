"""``fleetwatch hosts`` and ``fleetwatch trust`` against the generated ssh_config and the real sshd."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import (
    HEALTHY_CONFIG,
    USER,
    Fleet,
    Remote,
    Result,
    host_block,
    inventory_yaml,
    run_cli,
)

pytestmark = pytest.mark.integration


def test_hosts_json_lists_every_ssh_config_alias_with_hostname_port_and_user(fleet: Fleet) -> None:
    result = run_cli("--ssh-config", str(fleet.ssh_config), "hosts", "--json")
    assert result.code == 0, result
    rows = {row["alias"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert list(rows) == fleet.aliases
    assert rows["pi-healthy"]["hostname"] == "127.0.0.1"
    assert rows["pi-healthy"]["port"] == fleet.remote.fleet.port
    assert rows["pi-norunner"]["port"] == fleet.remote.bare.port
    assert rows["pi-unreachable"]["port"] == fleet.refused_port
    assert {row["user"] for row in rows.values()} == {USER}


def test_hosts_json_with_an_inventory_lists_its_hosts_and_their_groups(fleet: Fleet) -> None:
    result = run_cli(
        "--ssh-config", str(fleet.ssh_config), "--inventory", str(fleet.inventory), "hosts", "--json"
    )
    assert result.code == 0, result
    rows = {row["alias"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == set(fleet.hosts)
    assert rows["pi-stale"]["groups"] == ["lab"]
    assert rows["pi-authfail"]["groups"] == []


Untrusted = tuple[Callable[[], Result], str]


@pytest.fixture
def untrusted(remote: Remote, tmp_path: Path) -> Untrusted:
    """An ssh_config alias for the fleet sshd whose known_hosts is empty, plus a runner of ``--once``."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.touch()
    config = tmp_path / "ssh_config"
    config.write_text(host_block("pi-new", remote.fleet.port, remote.client_key, known_hosts))
    inventory = tmp_path / "new.yaml"
    inventory.write_text(inventory_yaml({"pi-new": {"config": HEALTHY_CONFIG}}))

    def once() -> Result:
        return run_cli(
            "--ssh-config",
            str(config),
            "--inventory",
            str(inventory),
            "--state-dir",
            str(tmp_path / "state"),
            "--once",
            "--json",
            "--host",
            "pi-new",
        )

    return once, str(config)


def test_trust_records_the_real_host_key_once_confirmed_and_the_next_poll_connects(
    untrusted: Untrusted, remote: Remote, tmp_path: Path
) -> None:
    once, config = untrusted
    known_hosts = tmp_path / "known_hosts"
    refused = once()
    blip = refused.firing("pi-new").get("remote_blip")
    assert blip is not None and blip["context"]["stage"] == "host key", refused
    assert known_hosts.read_text() == "", "StrictHostKeyChecking yes must not record an unknown key"

    trust = run_cli("--ssh-config", config, "trust", "pi-new", stdin="y\n")
    assert trust.code == 0, trust
    assert "SHA256:" in trust.stdout, trust
    entries = [line.split() for line in known_hosts.read_text().splitlines()]
    assert entries == [[f"[127.0.0.1]:{remote.fleet.port}", *remote.host_key_line.split()]]
    # The real OpenSSH client accepts what was recorded.
    ssh = subprocess.run(["ssh", "-F", config, "pi-new", "true"], capture_output=True, text=True, timeout=30)
    assert ssh.returncode == 0, ssh.stderr

    connected = once()
    assert (connected.code, connected.firing("pi-new")) == (0, {}), connected
    assert "remote_blip" in connected.resolved("pi-new"), connected


def test_trust_declined_records_nothing(untrusted: Untrusted, tmp_path: Path) -> None:
    _, config = untrusted
    trust = run_cli("--ssh-config", config, "trust", "pi-new", stdin="n\n")
    assert trust.code == 1, trust
    assert (tmp_path / "known_hosts").read_text() == ""
