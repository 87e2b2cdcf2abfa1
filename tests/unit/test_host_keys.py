"""StrictHostKeyChecking as OpenSSH does it, except that a changed key is refused even under ``no``."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from fleetwatch.inventory.model import SshTarget
from fleetwatch.transport.host_keys import HostKeyPolicy, hashed_name, known_hosts_name

KEY = asyncssh.generate_private_key("ssh-ed25519")
OTHER = asyncssh.generate_private_key("ssh-ed25519")


def target(tmp_path: Path, mode: str, *, port: int = 2222, hashed: bool = False) -> SshTarget:
    return SshTarget(
        alias="pi",
        hostname="10.0.0.7",
        user="pi",
        port=port,
        strict_host_key_checking=mode,
        user_known_hosts_files=(str(tmp_path / "known_hosts"),),
        hash_known_hosts=hashed,
    )


def line(t: SshTarget, key: asyncssh.SSHKey) -> str:
    return f"{known_hosts_name(t.hostname, t.port)} {key.export_public_key().decode().strip()}\n"


def decide(t: SshTarget, key: asyncssh.SSHKey) -> tuple[bool, HostKeyPolicy]:
    """What asyncssh would do: trusted keys from lookup(), else ask validate()."""
    policy = HostKeyPolicy(t)
    trusted, _, _ = policy.lookup(t.hostname, "10.0.0.7", t.port)
    if key.public_data in {k.public_data for k in trusted}:
        return True, policy
    return policy.validate(key), policy


@pytest.mark.parametrize("mode", ["yes", "ask", "accept-new", "no"])
def test_changed_key_is_refused_under_every_setting(tmp_path: Path, mode: str) -> None:
    t = target(tmp_path, mode)
    Path(t.user_known_hosts_files[0]).write_text(line(t, KEY))
    before = Path(t.user_known_hosts_files[0]).read_text()
    ok, policy = decide(t, OTHER)
    assert not ok and policy.verdict.outcome == "changed"
    assert policy.verdict.known and policy.verdict.presented.startswith("ssh-ed25519 SHA256:")
    assert Path(t.user_known_hosts_files[0]).read_text() == before


@pytest.mark.parametrize("mode", ["yes", "ask"])
def test_unknown_key_is_refused_when_strict(tmp_path: Path, mode: str) -> None:
    ok, policy = decide(target(tmp_path, mode), KEY)
    assert not ok and policy.verdict.outcome == "unknown"
    assert not (tmp_path / "known_hosts").exists()


@pytest.mark.parametrize("mode", ["accept-new", "no"])
def test_unknown_key_is_recorded_and_accepted_under_accept_new_and_no(tmp_path: Path, mode: str) -> None:
    t = target(tmp_path, mode)
    ok, policy = decide(t, KEY)
    assert ok and policy.verdict.outcome == "recorded"
    again, _ = decide(t, KEY)
    assert again, "the recorded key is trusted next time"
    assert (tmp_path / "known_hosts").read_text().startswith("[10.0.0.7]:2222 ssh-ed25519 ")


def test_known_key_is_accepted_without_writing(tmp_path: Path) -> None:
    t = target(tmp_path, "yes", port=22)
    Path(t.user_known_hosts_files[0]).write_text(line(t, KEY))
    ok, policy = decide(t, KEY)
    assert ok and policy.verdict.outcome == ""


def test_hash_known_hosts_writes_a_hashed_name_that_still_matches(tmp_path: Path) -> None:
    t = target(tmp_path, "accept-new", hashed=True)
    decide(t, KEY)
    text = (tmp_path / "known_hosts").read_text()
    assert text.startswith("|1|") and "10.0.0.7" not in text
    assert decide(target(tmp_path, "yes", hashed=True), KEY)[0]


def test_hashed_name_matches_openssh_format() -> None:
    salt = bytes(range(20))
    assert hashed_name("host", salt).startswith("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|")


def test_corrupt_known_hosts_is_never_taken_as_no_keys_known(tmp_path: Path) -> None:
    t = target(tmp_path, "accept-new")
    Path(t.user_known_hosts_files[0]).write_text("@bogus-marker 10.0.0.7 ssh-ed25519 AAAA\n")
    ok, policy = decide(t, KEY)
    assert not ok and policy.verdict.outcome == "unreadable"
