"""An Ansible inventory over the real sshd: fleetwatch reaches each host where Ansible itself does
(ansible_host/ansible_port/ansible_user on top of the ssh_config) and polls it with its fleetwatch_*
settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import HEALTHY_CONFIG, Fleet, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def inventory(fleet: Fleet, tmp_path: Path) -> Path:
    """Four hosts named after nothing in the ssh_config, each reaching the sshd through a test alias."""
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[lab]\n"
        "web1 ansible_host=pi-healthy\n"
        # pi-norunner's block says the bare persona's port; the inventory's port wins: the fleet persona.
        f"web2 ansible_host=pi-norunner ansible_port={fleet.remote.fleet.port}\n"
        "[far]\n"
        f"web3 ansible_host=pi-healthy ansible_port={fleet.refused_port}\n"
        "web4 ansible_host=pi-healthy ansible_user=fleetwatch-nobody\n"
        "[pis:children]\nlab\nfar\n"
        "[pis:vars]\n"
        f"fleetwatch_config={HEALTHY_CONFIG}\n"
    )
    return path


def ansible_reaches(fleet: Fleet, inventory: Path) -> dict[str, str]:
    """Where Ansible's own ssh connection lands for each host: the sshd persona, or why not."""
    ansible = Path(sys.executable).parent / "ansible"
    env = {
        **os.environ,
        "ANSIBLE_SSH_ARGS": f"-F {fleet.ssh_config}",
        "ANSIBLE_TIMEOUT": "10",
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        [
            str(ansible),
            "all",
            "-i",
            str(inventory),
            "-m",
            "raw",
            "-a",
            "echo persona=$FLEETWATCH_TEST_PERSONA",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    found: dict[str, str] = {}
    for match in re.finditer(r"^(\S+) \| (\w+)[^\n]*\n(.*?)(?=^\S+ \| |\Z)", proc.stdout, re.M | re.S):
        host, verdict, body = match.groups()
        persona = re.search(r"persona=(\w+)", body)
        found[host] = persona.group(1) if verdict == "CHANGED" and persona else verdict
    assert set(found) == {"web1", "web2", "web3", "web4"}, proc.stdout + proc.stderr
    return found


def test_fleetwatch_reaches_each_ansible_host_where_ansible_does(
    fleet: Fleet, inventory: Path, tmp_path: Path
) -> None:
    ansible = ansible_reaches(fleet, inventory)
    assert ansible == {"web1": "fleet", "web2": "fleet", "web3": "UNREACHABLE", "web4": "UNREACHABLE"}

    argv = ("--ssh-config", str(fleet.ssh_config), "--ansible-inventory", str(inventory))
    hosts = run_cli("hosts", *argv)
    assert hosts.code == 0, hosts
    rows = {line.split()[0]: line.split() for line in hosts.stdout.splitlines()[1:]}
    assert rows["web2"][3] == str(fleet.remote.fleet.port) and rows["web2"][5] == "pis,lab"
    assert rows["web4"][2] == "fleetwatch-nobody" and rows["web3"][3] == str(fleet.refused_port)

    result = run_cli(*argv, "--state-dir", str(tmp_path / "state"), "--once", "--json", "--timeout", "10")
    firing = {h: result.firing(h) for h in ("web1", "web2", "web3", "web4")}
    # Reached and polled with the group's fleetwatch_config: the healthy project, nothing wrong.
    assert firing["web1"] == {} and firing["web2"] == {}, result
    # Not reached, for the reason Ansible gave: the inventory's port refuses, its user is refused.
    assert (
        set(firing["web3"]) == {"remote_blip"}
        and "connect failed" in firing["web3"]["remote_blip"]["message"]
    )
    assert (
        set(firing["web4"]) == {"remote_blip"} and "auth failed" in firing["web4"]["remote_blip"]["message"]
    )
