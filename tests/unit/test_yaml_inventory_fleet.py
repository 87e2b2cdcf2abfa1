"""The fleet from inventories or the ssh_config, resolved by the real ``ssh -G``, and what a CLI selects."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch.errors import HostError, InventoryError, Stage
from fleetwatch.inventory.fleet import Member, load_fleet, members, pick, resolve_members
from fleetwatch.inventory.model import Host
from fleetwatch.inventory.resolve import ResolveError, ssh_available
from fleetwatch.settings import HostSettings

pytestmark = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")

SSH_CONFIG = """\
Host pi1
    HostName pi1.lab
Host pi2
    HostName pi2.lab
    User pi
Match originalhost broken exec "kill -9 $$"
    User never
Host broken
    HostName broken.lab
Host *.wild
    User wild
"""
INVENTORY = """\
defaults:
  runner: /opt/runner
groups:
  lab:
    hosts: [pi1, pi2]
  gpu:
    hosts: [gpu1]
hosts:
  pi2:
    enabled: false
  gpu1:
    config: /etc/ar.toml
  notinconfig: {}
"""


@pytest.fixture
def ssh_config(isolated_home: Path) -> Path:
    path = isolated_home / "ssh_config"
    path.write_text(SSH_CONFIG)
    return path


@pytest.fixture
def inventory(isolated_home: Path) -> Path:
    path = isolated_home / "lab.yaml"
    path.write_text(INVENTORY)
    return path


@pytest.fixture
def fleet(ssh_config: Path, inventory: Path) -> list[Host]:
    hosts, errors = load_fleet(ssh_config, [inventory], everything=True)
    assert errors == []
    return hosts


@pytest.fixture
def unresolved(ssh_config: Path, inventory: Path) -> list[Member]:
    return members(ssh_config, [inventory])


def test_without_inventories_the_fleet_is_every_ssh_config_alias(ssh_config: Path) -> None:
    hosts, errors = load_fleet(ssh_config, [], everything=True)
    assert [(h.alias, h.target.hostname) for h in hosts] == [("pi1", "pi1.lab"), ("pi2", "pi2.lab")]
    assert hosts[1].target.user == "pi"
    assert all(h.settings == HostSettings() and h.groups == () for h in hosts)
    # The failing alias comes back as a value; the others went on.
    (err,) = errors
    assert isinstance(err, ResolveError) and isinstance(err, HostError)
    assert (err.host, err.stage, err.reason) == (
        "broken",
        Stage.RESOLVE,
        "command 'kill -9 $$' exited abnormally",
    )


def test_with_inventories_the_fleet_is_their_hosts_with_settings(fleet: list[Host]) -> None:
    by_alias = {h.alias: h for h in fleet}
    assert list(by_alias) == ["pi1", "pi2", "gpu1", "notinconfig"]
    assert by_alias["pi2"].target.user == "pi"  # resolved via ssh -G like any alias
    assert by_alias["notinconfig"].target.hostname == "notinconfig"
    assert by_alias["pi1"].groups == ("lab",)
    assert by_alias["pi2"].settings.enabled is False
    assert (by_alias["gpu1"].settings.runner, by_alias["gpu1"].settings.config) == (
        "/opt/runner",
        "/etc/ar.toml",
    )


def test_a_host_in_two_inventories_is_an_error_naming_both(ssh_config: Path, isolated_home: Path) -> None:
    first, second = isolated_home / "a.yaml", isolated_home / "b.yaml"
    first.write_text("hosts:\n  pi1: {}\n")
    second.write_text("hosts:\n  other: {}\n  pi1: {}\n")
    with pytest.raises(InventoryError) as info:
        load_fleet(ssh_config, [first, second])
    assert str(info.value) == (
        f"{second}:3: host 'pi1' is also declared in {first}:2; declare each host in one inventory"
    )


def test_a_missing_default_config_is_an_empty_fleet_but_a_named_one_is_an_error(isolated_home: Path) -> None:
    missing = isolated_home / ".ssh" / "config"
    assert load_fleet(missing, [], explicit_config=False) == ([], [])
    with pytest.raises(InventoryError, match="cannot read the ssh config"):
        load_fleet(missing, [])


def test_no_names_and_no_groups_selects_every_enabled_host(unresolved: list[Member]) -> None:
    assert [m.alias for m in pick(unresolved, [], [])] == ["pi1", "gpu1", "notinconfig"]


def test_a_group_selects_its_enabled_members(unresolved: list[Member]) -> None:
    assert [m.alias for m in pick(unresolved, [], ["lab"])] == ["pi1"]


def test_a_named_host_is_selected_even_when_disabled(unresolved: list[Member]) -> None:
    assert [m.alias for m in pick(unresolved, ["pi2"], ["gpu"])] == ["pi2", "gpu1"]


def test_an_unknown_group_lists_the_known_ones(unresolved: list[Member]) -> None:
    with pytest.raises(InventoryError) as info:
        pick(unresolved, [], ["labs"])
    assert str(info.value) == "unknown group 'labs'; known groups: lab, gpu"


def test_a_named_alias_outside_the_fleet_is_resolved_like_ssh_would(
    unresolved: list[Member], ssh_config: Path
) -> None:
    chosen, errors = resolve_members(pick(unresolved, ["pi1", "x.wild", "broken"], []), ssh_config)
    assert [h.alias for h in chosen] == ["pi1", "x.wild"]
    assert chosen[1] == Host("x.wild", chosen[1].target)
    assert chosen[1].target.user == "wild"
    (err,) = errors
    assert isinstance(err, ResolveError) and err.host == "broken"


def test_only_selected_hosts_are_resolved(ssh_config: Path) -> None:
    hosts, errors = load_fleet(ssh_config, [], ["pi2"])
    assert [h.alias for h in hosts] == ["pi2"]
    assert errors == [], "the broken alias was never asked of ssh -G"
