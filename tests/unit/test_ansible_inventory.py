"""Ansible inventories, read by Ansible's own ansible-inventory: groups (nested too), host vars, connection
variables as Ansible's ssh plugin uses them, fleetwatch_* settings, and errors that name host and variable."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fleetwatch.errors import InventoryError
from fleetwatch.inventory import ansible
from fleetwatch.inventory.ansible import hosts_from_list, load_ansible
from fleetwatch.inventory.fleet import members, pick, select_fleet
from fleetwatch.inventory.model import Destination
from fleetwatch.inventory.resolve import ssh_available
from tests.unit.test_cli_contract import fleetwatch

needs_ssh = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")


def listing(hostvars: dict[str, dict[str, Any]], **groups: dict[str, list[str]]) -> dict[str, Any]:
    """An ``ansible-inventory --list`` document."""
    doc: dict[str, Any] = {"_meta": {"hostvars": hostvars}, **groups}
    doc.setdefault("all", {"children": [g for g in groups if g != "all"]})
    return doc


def one(variables: dict[str, Any]) -> ansible.AnsibleHost:
    [host] = hosts_from_list(listing({"pi1": variables}, ungrouped={"hosts": ["pi1"]}), "inv")
    return host


# -- what the --list document means (pure) ---------------------------------------------------------


def test_nested_groups_give_a_host_every_group_above_it_in_ansibles_order() -> None:
    doc = listing(
        {"pi1": {}, "pi2": {}, "pi3": {}},
        all={"children": ["ungrouped", "house", "lab"]},
        house={"children": ["kitchen", "garage"]},
        kitchen={"hosts": ["pi1", "pi2"]},
        garage={"hosts": ["pi3"]},
        lab={"hosts": ["pi3"]},
        ungrouped={},
    )
    found = {h.alias: h.groups for h in hosts_from_list(doc, "inv")}
    assert found == {
        "pi1": ("house", "kitchen"),
        "pi2": ("house", "kitchen"),
        "pi3": ("house", "garage", "lab"),
    }
    assert [h.alias for h in hosts_from_list(doc, "inv")] == ["pi1", "pi2", "pi3"]


def test_connection_variables_become_the_destination_ansibles_ssh_plugin_would_use() -> None:
    host = one(
        {
            "ansible_host": "10.0.0.1",
            "ansible_ssh_host": "10.0.0.2",  # the later name in the plugin's list wins, as in Ansible
            "ansible_user": "pi",
            "ansible_port": "2222",  # INI group vars arrive as strings
            "ansible_ssh_private_key_file": "~/.ssh/pi key",
            "ansible_ssh_common_args": "-o ProxyJump=bastion",
            "ansible_ssh_extra_args": "-o 'ServerAliveInterval 5'",
        }
    )
    assert host.destination == Destination(
        "10.0.0.2",
        user="pi",
        port=2222,
        identity_file=os.path.expanduser("~/.ssh/pi key"),
        extra_args=("-o", "ProxyJump=bastion", "-o", "ServerAliveInterval 5"),
    )
    assert one({}).destination == Destination("pi1")  # nothing said: ssh pi1, as Ansible would run


def test_hosts_not_reached_over_ssh_are_not_part_of_the_fleet() -> None:
    doc = listing(
        {
            "localhost": {"ansible_connection": "local"},
            "box": {"ansible_connection": "community.docker.docker"},
            "pi1": {"ansible_connection": "ansible.builtin.ssh"},
            "pi2": {"ansible_connection": "paramiko"},
        },
        ungrouped={"hosts": ["localhost", "box", "pi1", "pi2"]},
    )
    assert [h.alias for h in hosts_from_list(doc, "inv")] == ["pi1", "pi2"]


def test_fleetwatch_variables_set_the_per_host_settings_and_accept_ini_strings() -> None:
    host = one(
        {
            "fleetwatch_enabled": "no",
            "fleetwatch_config": "~/proj/agent-runner.toml",
            "fleetwatch_disk_warning_pct": "80",
            "fleetwatch_exit_window": 5,
            "unrelated": "ignored",
        }
    )
    assert host.settings.enabled is False and host.settings.config == "~/proj/agent-runner.toml"
    assert host.settings.thresholds.disk_warning_pct == 80.0 and host.settings.thresholds.exit_window == 5


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        (
            {"ansible_port": "ssh"},
            "host 'pi1': ansible_port must be a port number from 1 to 65535, got 'ssh'",
        ),
        ({"ansible_host": "{{ inventory_hostname }}.lan"}, "ansible_host is a Jinja template"),
        ({"ansible_user": "a b"}, "ansible_user must be a user name"),
        ({"fleetwatch_disk_warn": 1}, "unknown variable 'fleetwatch_disk_warn'"),
        ({"fleetwatch_enabled": "maybe"}, "fleetwatch_enabled must be true or false"),
        ({"fleetwatch_disk_critical_pct": 150}, "must be a percentage from 0 to 100"),
        ({"fleetwatch_exit_window": 2.5}, "fleetwatch_exit_window must be a whole number"),
        ({"fleetwatch_clock_skew_s": "inf"}, "fleetwatch_clock_skew_s must be a positive number of seconds"),
        ({"fleetwatch_clock_skew_s": float("inf")}, "fleetwatch_clock_skew_s must be a positive number"),
        (
            {"fleetwatch_disk_warning_pct": 97},
            "fleetwatch_disk_warning_pct (97) is above fleetwatch_disk_critical_pct",
        ),
        ({"ansible_ssh_common_args": "-o 'unclosed"}, "ansible_ssh_common_args must be ssh arguments"),
    ],
)
def test_a_bad_variable_is_an_inventory_error_naming_host_and_variable(
    variables: dict[str, Any], words: str
) -> None:
    with pytest.raises(InventoryError) as err:
        one(variables)
    assert str(err.value).startswith("inv: ") and words in str(err.value)


# -- real ansible-inventory -----------------------------------------------------------------------


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    """An INI inventory with nested groups, inline host vars, [group:vars], group_vars/ and host_vars/."""
    root = tmp_path / "ansible"
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.ini").write_text(
        textwrap.dedent(
            """\
            [kitchen]
            pi1 ansible_host=10.0.0.1 ansible_user=pi
            pi2 ansible_port=2222

            [garage]
            pi3 ansible_host=pi3.lan

            [house:children]
            kitchen
            garage

            [house:vars]
            ansible_user=house
            fleetwatch_disk_warning_pct=85

            [local]
            localhost ansible_connection=local
            """
        )
    )
    (root / "group_vars" / "kitchen.yml").write_text("fleetwatch_config: ~/kitchen/agent-runner.toml\n")
    (root / "host_vars" / "pi2.yml").write_text(
        "ansible_ssh_private_key_file: /keys/pi2\nfleetwatch_enabled: false\n"
    )
    return root / "hosts.ini"


@pytest.fixture
def yml(tmp_path: Path) -> Path:
    """A YAML inventory: children three deep, vars on a parent group and on a host."""
    path = tmp_path / "lab.yml"
    path.write_text(
        textwrap.dedent(
            """\
            all:
              children:
                sites:
                  vars:
                    fleetwatch_runner: /opt/agent-runner/bin/agent-runner
                  children:
                    lab:
                      children:
                        bench:
                          hosts:
                            bench1:
                              ansible_host: 192.0.2.7
                              ansible_port: 2201
                              fleetwatch_clock_skew_s: 600
            """
        )
    )
    return path


def test_a_real_ini_inventory_with_nested_groups_and_var_files(ini: Path) -> None:
    found = {h.alias: h for h in load_ansible([ini])}
    assert list(found) == ["pi1", "pi2", "pi3"]  # localhost (connection local) is not polled over SSH
    pi1, pi2, pi3 = found["pi1"], found["pi2"], found["pi3"]
    assert pi1.groups == ("house", "kitchen") and pi3.groups == ("house", "garage")
    assert pi1.destination == Destination("10.0.0.1", user="pi")  # the host's own var beats [house:vars]
    assert pi2.destination == Destination("pi2", user="house", port=2222, identity_file="/keys/pi2")
    assert pi3.destination == Destination("pi3.lan", user="house")
    assert pi1.settings.config == "~/kitchen/agent-runner.toml" and pi3.settings.config is None
    assert pi2.settings.enabled is False and pi1.settings.thresholds.disk_warning_pct == 85.0


def test_a_real_yaml_inventory_merged_with_an_ini_one_as_ansible_merges_them(ini: Path, yml: Path) -> None:
    found = {h.alias: h for h in load_ansible([ini, yml])}
    assert sorted(found) == ["bench1", "pi1", "pi2", "pi3"]  # in the order of ansible-inventory --graph
    bench = found["bench1"]
    assert bench.groups == ("sites", "lab", "bench")
    assert bench.destination == Destination("192.0.2.7", port=2201)
    assert bench.settings.runner == "/opt/agent-runner/bin/agent-runner"
    assert bench.settings.thresholds.clock_skew_s == 600.0


def test_an_inventory_ansible_cannot_parse_is_an_error_in_ansibles_words(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ini"
    broken.write_text("[kitchen\npi1\n")
    with pytest.raises(InventoryError) as err:
        load_ansible([broken, tmp_path / "missing.ini"])
    said = str(err.value)
    assert said.startswith(f"{broken}, {tmp_path / 'missing.ini'}: ansible-inventory failed: ")
    assert "Completely failed to parse inventory source" in said and "(run: " in said


def test_without_ansible_the_error_says_how_to_install_it(
    ini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InventoryError, match=r"pip install 'fleetwatch\[ansible\]'"):
        load_ansible([ini])


# -- in the fleet ----------------------------------------------------------------------------------


def test_groups_select_nested_members_and_a_host_in_both_kinds_of_inventory_is_an_error(
    ini: Path, tmp_path: Path
) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("")
    fleet = members(ssh_config, [], ansible=[ini])
    assert [m.alias for m in pick(fleet, [], ["house"])] == ["pi1", "pi3"]  # pi2 is disabled
    assert [m.alias for m in pick(fleet, ["pi2"], [])] == ["pi2"]  # named: polled even when disabled
    yaml_inventory = tmp_path / "fleet.yaml"
    yaml_inventory.write_text("hosts:\n  pi9: {}\n  pi3: {}\n")
    with pytest.raises(InventoryError, match=r"host 'pi3' is also declared in .*fleet.yaml:3"):
        members(ssh_config, [yaml_inventory], ansible=[ini])


@needs_ssh
def test_the_fleet_resolves_ansible_hosts_through_ssh_with_the_ssh_config_still_applying(
    ini: Path, tmp_path: Path
) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        "Host 10.0.0.1\n    Port 2200\n    ProxyJump bastion\nHost pi2\n    HostName 10.0.0.2\n"
    )
    fleet = select_fleet(ssh_config, [], ["pi1", "pi2"], [], explicit_config=True, ansible=[ini])
    targets = {h.alias: h.target for h in fleet.hosts}
    pi1, pi2 = targets["pi1"], targets["pi2"]
    assert (pi1.hostname, pi1.user, pi1.port, pi1.proxy_jump) == ("10.0.0.1", "pi", 2200, "bastion")
    assert (pi2.hostname, pi2.user, pi2.port) == ("10.0.0.2", "house", 2222)  # -o Port beats nothing here
    assert pi2.identity_files[0] == "/keys/pi2"


@needs_ssh
def test_hosts_lists_an_ansible_inventory_given_by_flag_variable_or_config(ini: Path, tmp_path: Path) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("")
    by_flag = fleetwatch("hosts", "--json", "--ssh-config", str(ssh_config), "--ansible-inventory", str(ini))
    assert by_flag.returncode == 0, by_flag
    rows = {r["alias"]: r for r in map(json.loads, by_flag.stdout.splitlines())}
    assert (rows["pi2"]["port"], rows["pi2"]["user"], rows["pi2"]["enabled"]) == (2222, "house", False)
    assert rows["pi1"]["groups"] == ["house", "kitchen"]
    config = tmp_path / "config.yaml"
    config.write_text(f"ansible_inventories: [{ini}]\n")
    by_config = fleetwatch(
        "hosts", "--config", str(config), "--ssh-config", str(ssh_config), "--group", "garage"
    )
    assert by_config.returncode == 0 and by_config.stdout.splitlines()[1].split()[:2] == ["pi3", "pi3.lan"]
    by_env = fleetwatch(
        "hosts",
        "--ssh-config",
        str(ssh_config),
        "--host",
        "pi1",
        env={"FLEETWATCH_ANSIBLE_INVENTORY": str(ini)},
    )
    assert by_env.returncode == 0 and by_env.stdout.splitlines()[1].split()[:3] == ["pi1", "10.0.0.1", "pi"]
