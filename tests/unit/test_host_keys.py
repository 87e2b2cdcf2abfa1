"""StrictHostKeyChecking as OpenSSH does it, except that a changed key is refused even under ``no``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from fleetwatch.inventory.model import SshTarget
from fleetwatch.transport import host_keys
from fleetwatch.transport.host_keys import HostKeyPolicy, KnownHostsCache, hashed_name, known_hosts_name

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


# -- one parse per file set, shared by every host ------------------------------------------------------

HOSTS = [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(40)]


def fleet_file(tmp_path: Path, *, hashed: bool) -> Path:
    """A known_hosts file with one line per host of a 40-host fleet."""
    path = tmp_path / "known_hosts"
    key = KEY.export_public_key().decode().strip()
    names = [known_hosts_name(h, 2222) for h in HOSTS]
    path.write_text("".join(f"{hashed_name(n) if hashed else n} {key}\n" for n in names))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # long settled
    return path


def fleet_target(path: Path, host: str, mode: str = "yes") -> SshTarget:
    return SshTarget(
        alias=host,
        hostname=host,
        user="pi",
        port=2222,
        strict_host_key_checking=mode,
        user_known_hosts_files=(str(path),),
        hash_known_hosts=True,
    )


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = host_keys._read_text

    def read(path: str) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(host_keys, "_read_text", read)
    return reads


@pytest.mark.parametrize("hashed", [False, True])
def test_known_hosts_is_parsed_once_for_the_whole_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashed: bool
) -> None:
    path = fleet_file(tmp_path, hashed=hashed)
    reads = counting_reads(monkeypatch)
    cache = KnownHostsCache()
    for host in HOSTS:
        policy = HostKeyPolicy(fleet_target(path, host), cache)
        trusted, _, _ = policy.lookup(host, host, 2222)
        assert {k.public_data for k in trusted} == {KEY.public_data}
    assert reads == [str(path)]


def test_a_key_added_to_known_hosts_is_seen_by_the_next_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fleet_file(tmp_path, hashed=True)
    cache = KnownHostsCache()
    newcomer = fleet_target(path, "10.9.9.9", "accept-new")
    policy = HostKeyPolicy(newcomer, cache)
    assert policy.lookup("10.9.9.9", "10.9.9.9", 2222) == ([], [], [])
    assert policy.validate(OTHER) and policy.verdict.outcome == "recorded"
    trusted, _, _ = HostKeyPolicy(fleet_target(path, "10.9.9.9"), cache).lookup("10.9.9.9", "10.9.9.9", 2222)
    assert {k.public_data for k in trusted} == {OTHER.public_data}


def test_a_key_replaced_in_place_is_seen_and_the_old_one_refused(tmp_path: Path) -> None:
    t = target(tmp_path, "accept-new")
    path = Path(t.user_known_hosts_files[0])
    path.write_text(line(t, KEY))
    cache = KnownHostsCache()
    trusted, _, _ = HostKeyPolicy(t, cache).lookup(t.hostname, "10.0.0.7", t.port)
    assert {k.public_data for k in trusted} == {KEY.public_data}
    with path.open("r+") as fh:  # same inode, same size (two ed25519 keys): only mtime/ctime tell
        fh.write(line(t, OTHER))
    policy = HostKeyPolicy(t, cache)
    trusted, _, _ = policy.lookup(t.hostname, "10.0.0.7", t.port)
    assert {k.public_data for k in trusted} == {OTHER.public_data}
    assert not policy.validate(KEY) and policy.verdict.outcome == "changed"


def test_a_file_written_moments_before_it_was_read_is_read_again_even_if_its_stat_looks_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fleet_file(tmp_path, hashed=False)
    frozen = host_keys._signature(str(path))
    assert frozen is not None
    monkeypatch.setattr(host_keys, "_signature", lambda _path: frozen)  # a same-tick rewrite
    reads = counting_reads(monkeypatch)
    mtime = frozen[3]
    racy = KnownHostsCache(clock_ns=lambda: mtime + host_keys.RACY_NS // 2)
    settled = KnownHostsCache(clock_ns=lambda: mtime + 2 * host_keys.RACY_NS)
    for cache in (racy, racy, settled, settled):
        cache.match([str(path)], HOSTS[0], HOSTS[0], 2222)
    assert len(reads) == 3, "the racy read is repeated, the settled one is not"


def test_undecodable_known_hosts_is_never_taken_as_no_keys_known(tmp_path: Path) -> None:
    t = target(tmp_path, "accept-new")
    Path(t.user_known_hosts_files[0]).write_bytes(b"10.0.0.7 \xff\xfe garbage\n")
    ok, policy = decide(t, KEY)
    assert not ok and policy.verdict.outcome == "unreadable"


MIXED = """\
# comment
{plain_port} {k1}
{hashed_port} {k2}
{hashed_bare} {k3}
*.example,10.0.0.* {k4}
@revoked {hashed_port} {k5}
@cert-authority *.example {k6}
!10.0.0.9,10.0.0.* {k1}
{hashed_other} {k4}
"""


def test_cached_lookup_answers_exactly_as_asyncssh_over_the_whole_file(tmp_path: Path) -> None:
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(6)]
    text = MIXED.format(
        plain_port="[10.0.0.7]:2222",
        hashed_port=hashed_name("[10.0.0.8]:2222"),
        hashed_bare=hashed_name("10.0.0.9"),
        hashed_other=hashed_name("[elsewhere]:2222"),
        **{f"k{i + 1}": k.export_public_key().decode().strip() for i, k in enumerate(keys)},
    )
    path = tmp_path / "known_hosts"
    path.write_text(text)
    global_file = tmp_path / "global"
    global_file.write_text(f"{hashed_name('10.0.0.9')} {keys[5].export_public_key().decode().strip()}\n")
    files = [str(path), str(global_file), str(tmp_path / "absent")]
    cache = KnownHostsCache()
    queries = [
        (h, a, p)
        for h in ("10.0.0.7", "10.0.0.8", "10.0.0.9", "pi.example", "elsewhere", "10.1.1.1")
        for a in (h if h[0].isdigit() else "10.0.0.9", "")
        for p in (2222, None)
    ]
    for host, addr, port in queries:
        want = asyncssh.match_known_hosts([str(path), str(global_file)], host, addr, port)
        got = cache.match(files, host, addr, port)
        assert got is not None
        assert [[k.public_data for k in part] for part in got[:3]] == [
            [k.public_data for k in part] for part in want[:3]
        ], (host, addr, port)


@pytest.mark.parametrize("mode", ["yes", "accept-new", "no"])
def test_a_revoked_key_is_judged_revoked_and_never_recorded_even_under_accept_new(
    tmp_path: Path, mode: str
) -> None:
    """asyncssh refuses a revoked key before asking validate(); trust asks judge() directly."""
    t = target(tmp_path, mode)
    revoked = f"@revoked * {KEY.export_public_key().decode().strip()}\n"
    Path(t.user_known_hosts_files[0]).write_text(line(t, KEY) + revoked)
    policy = HostKeyPolicy(t)
    trusted, _, listed = policy.lookup(t.hostname, "10.0.0.7", t.port)
    assert trusted == [] and [k.public_data for k in listed] == [KEY.public_data], "revoked is never trusted"
    assert policy.judge(KEY) == "revoked"
    assert not policy.validate(KEY) and policy.verdict.outcome == "revoked"
    assert Path(t.user_known_hosts_files[0]).read_text() == line(t, KEY) + revoked


def test_host_key_alias_is_looked_up_and_recorded_as_given_without_port_or_address(tmp_path: Path) -> None:
    t = replace(target(tmp_path, "accept-new"), host_key_alias="pi-alias")
    # A line for the address itself does not apply under HostKeyAlias, as with ssh.
    Path(t.user_known_hosts_files[0]).write_text(line(t, OTHER))
    policy = HostKeyPolicy(t)
    assert policy.lookup(t.hostname, "10.0.0.7", t.port) == ([], [], [])
    assert policy.validate(KEY) and policy.verdict.outcome == "recorded"
    assert (
        Path(t.user_known_hosts_files[0])
        .read_text()
        .endswith(f"\npi-alias {KEY.export_public_key().decode().strip()}\n")
    )
