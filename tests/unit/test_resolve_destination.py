"""An inventory may say how ssh reaches a host (Ansible's ansible_host/user/port): ``ssh -G -o … HOST``
decides, as ``ssh -o … HOST`` would connect; the ssh_config still applies to HOST, the command line first."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch.inventory import resolve
from fleetwatch.inventory.fleet import Member, resolve_members
from fleetwatch.inventory.model import Destination
from fleetwatch.inventory.resolve import ResolveError, resolve_alias, ssh_available, ssh_g_argv

needs_ssh = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")

CONFIG = """\
Host pi1
    HostName 10.0.0.1
    User bob
    Port 2200
    IdentityFile /keys/pi1
Host 10.9.9.9
    User carol
    ProxyJump bastion
Host *
    User fallback
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    return path


@pytest.fixture(params=["ssh -G", "parser"])
def how(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both resolvers: OpenSSH itself, and the fallback parser used where there is no ssh binary."""
    if request.param == "ssh -G" and not ssh_available():
        pytest.skip("needs the OpenSSH client (ssh -G)")
    if request.param == "parser":
        monkeypatch.setattr(resolve, "ssh_available", lambda: False)
    return str(request.param)


def test_command_line_user_port_and_key_beat_the_config_which_still_applies(config: Path, how: str) -> None:
    dest = Destination("pi1", user="pi", port=2222, identity_file="/keys/ansible key")
    target = resolve_alias("kitchen-pi", config, destination=dest)
    assert (target.alias, target.hostname, target.user, target.port) == ("kitchen-pi", "10.0.0.1", "pi", 2222)
    assert target.identity_files == ("/keys/ansible key", "/keys/pi1")  # the inventory's key is tried first
    assert target.source == how


def test_the_config_matches_the_destination_not_the_inventory_name(config: Path, how: str) -> None:
    target = resolve_alias("pi1", config, destination=Destination("10.9.9.9"))
    assert (target.alias, target.hostname, target.user, target.port) == ("pi1", "10.9.9.9", "carol", 22)
    assert target.proxy_jump == "bastion"


@needs_ssh
def test_extra_ssh_arguments_apply_as_on_sshs_command_line(config: Path) -> None:
    dest = Destination("10.9.9.9", extra_args=("-o", "ProxyJump=jump2", "-o", "ConnectTimeout=7"))
    target = resolve_alias("pi9", config, destination=dest)
    assert target.proxy_jump == "jump2" and target.connect_timeout == 7


def test_without_ssh_extra_arguments_are_an_error_that_says_why(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolve, "ssh_available", lambda: False)
    with pytest.raises(
        ResolveError, match=r"pi9: resolve failed: extra ssh arguments \(-J bastion\) need the ssh"
    ):
        resolve_alias("pi9", config, destination=Destination("10.9.9.9", extra_args=("-J", "bastion")))


def test_the_ssh_g_line_is_what_ansible_would_run_with_ssh(config: Path) -> None:
    dest = Destination("pi1", user="pi", port=2222, identity_file="/k", extra_args=("-J", "b"))
    argv = ssh_g_argv("kitchen-pi", config, dest)
    assert argv == [
        *("ssh", "-G", "-F", str(config)),
        *("-o", "Port=2222", "-o", 'IdentityFile="/k"', "-o", 'User="pi"', "-J", "b"),
        *("--", "pi1"),
    ]


@needs_ssh
def test_fleet_members_resolve_through_their_destination(config: Path) -> None:
    members = [Member("a", destination=Destination("pi1", port=2222)), Member("pi1")]
    hosts, errors = resolve_members(members, config)
    assert not errors
    assert [(h.alias, h.target.hostname, h.target.port) for h in hosts] == [
        ("a", "10.0.0.1", 2222),
        ("pi1", "10.0.0.1", 2200),
    ]


@needs_ssh
def test_the_ssh_g_cache_keys_a_destination_by_its_whole_command_line(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[list[str]] = []
    real = resolve._run

    def run(argv: list[str], timeout: float) -> tuple[int, str, str]:
        runs.append(argv)
        return real(argv, timeout)

    def ports(destination: Destination) -> dict[str, int]:
        found = resolve.resolve_all(["web", "pi1"], config, destinations={"web": destination})
        return {alias: t.port for alias, t in found.items() if not isinstance(t, Exception)}

    monkeypatch.setattr(resolve, "_run", run)
    assert ports(Destination("pi1", port=2222)) == {"web": 2222, "pi1": 2200}
    runs.clear()
    assert ports(Destination("pi1", port=2222)) == {"web": 2222, "pi1": 2200} and runs == []  # from the cache
    assert (
        ports(Destination("pi1", port=2022)) == {"web": 2022, "pi1": 2200} and runs
    )  # a new port: ssh again
    runs.clear()
    ports(Destination("pi1", extra_args=("-J", "b")))
    runs.clear()
    ports(Destination("pi1", extra_args=("-J", "b")))
    assert runs, "extra ssh arguments may read files the cache does not watch: never cached"
