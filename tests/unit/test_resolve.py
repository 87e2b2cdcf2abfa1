"""Resolving aliases with the real ``ssh -G``: values, failures as values, timeouts, speed, HOME rules."""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from pathlib import Path

import pytest

from fleetwatch.errors import HostError, InventoryError, Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import SshTarget, parse_jump
from fleetwatch.inventory.resolve import (
    ResolveError,
    parse_ssh_g,
    resolve_alias,
    resolve_all,
    ssh_available,
    ssh_g_argv,
)
from fleetwatch.inventory.ssh_config import default_config, ssh_home
from fleetwatch.pipeline import Polled, poll_fleet
from fleetwatch.transport.ssh import Transport

needs_ssh = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")
PASSWD_HOME = pwd.getpwuid(os.getuid()).pw_dir


def _config(home: Path, text: str) -> Path:
    path = home / "config"
    path.write_text(text)
    return path


@needs_ssh
def test_resolves_what_ssh_would_use(isolated_home: Path) -> None:
    config = _config(
        isolated_home,
        "Host pi\n  HostName Pi.Lab\n  User bob\n  Port 2222\n  IdentityFile ~/.ssh/%h_%r\n"
        "  ProxyCommand nc %h %p\n  StrictHostKeyChecking yes\n  ConnectTimeout 0\n",
    )
    assert resolve_alias("pi", config) == SshTarget(
        alias="pi",
        hostname="pi.lab",
        user="bob",
        port=2222,
        identity_files=(f"{PASSWD_HOME}/.ssh/pi.lab_bob",),
        proxy_command="nc pi.lab 2222",
        user_known_hosts_files=(f"{PASSWD_HOME}/.ssh/known_hosts", f"{PASSWD_HOME}/.ssh/known_hosts2"),
        global_known_hosts_files=("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"),
        strict_host_key_checking="yes",  # ssh -G prints "true"
        connect_timeout=None,  # 0 is "no timeout" to ssh
        source="ssh -G",
    )


@needs_ssh
def test_ssh_takes_include_tilde_from_HOME_but_every_other_tilde_from_passwd(isolated_home: Path) -> None:
    # What OpenSSH 9.2 does: Include goes through glob(3) with GLOB_TILDE, which reads $HOME; paths and %d
    # use the passwd entry, and so does the default ~/.ssh/config.  The tests rely on both facts.
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "inc.conf").write_text("Host inc\n  User from-home-include\n")
    config = _config(isolated_home, "Include inc.conf\nHost *\n  UserKnownHostsFile ~/kh %d/kh2\n")
    target = resolve_alias("inc", config)
    assert ssh_home() == Path(PASSWD_HOME) != isolated_home
    assert target.user == "from-home-include"
    assert target.user_known_hosts_files == (f"{PASSWD_HOME}/kh", f"{PASSWD_HOME}/kh2")


@needs_ssh
def test_unresolvable_alias_is_a_value_naming_alias_stage_and_ssh_message(isolated_home: Path) -> None:
    config = _config(
        isolated_home,
        'Host good\n  HostName good.example\nMatch originalhost broken exec "kill -9 $$"\n  User never\n',
    )
    results = resolve_all(["good", "broken", "good"], config)
    assert list(results) == ["good", "broken"]
    assert isinstance(results["good"], SshTarget)
    err = results["broken"]
    assert isinstance(err, ResolveError)
    assert isinstance(err, InventoryError) and isinstance(err, HostError)  # config error and host failure
    assert (err.host, err.stage) == ("broken", Stage.RESOLVE)
    assert err.reason == "command 'kill -9 $$' exited abnormally"
    assert str(err) == (
        f"broken: resolve failed: command 'kill -9 $$' exited abnormally (run: ssh -G -F {config} -- broken)"
    )


@needs_ssh
def test_a_bad_config_line_fails_every_alias_with_ssh_file_and_line(isolated_home: Path) -> None:
    config = _config(isolated_home, "Host a\n  HostName a.example\nFrobnicate yes\n")
    err = resolve_all(["a"], config)["a"]
    assert isinstance(err, ResolveError)
    assert str(err) == (
        f"a: resolve failed: {config}: line 3: Bad configuration option: frobnicate "
        f"(run: ssh -G -F {config} -- a)"
    )
    assert (err.path, err.line) == (str(config), 3)


@needs_ssh
def test_missing_config_given_with_F_is_ssh_message(isolated_home: Path) -> None:
    missing = isolated_home / "missing"
    err = resolve_all(["x"], missing)["x"]
    assert isinstance(err, ResolveError)
    assert err.reason == f"Can't open user config file {missing}: No such file or directory"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is dead, just not reaped


@needs_ssh
def test_hanging_match_exec_times_out_and_leaves_no_process(isolated_home: Path) -> None:
    pid_file = isolated_home / "exec.pid"
    config = _config(
        isolated_home,
        f'Match originalhost slow exec "echo $$ > {pid_file}; exec sleep 30"\n  User x\n'
        "Host fast\n  User y\n",
    )
    started = time.monotonic()
    results = resolve_all(["slow", "fast"], config, timeout=1.0)
    assert time.monotonic() - started < 3
    slow = results["slow"]
    assert isinstance(slow, ResolveError)
    assert slow.reason == "ssh -G gave no answer within 1 s"
    assert isinstance(results["fast"], SshTarget) and results["fast"].user == "y"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the Match exec command outlived the timeout"
    # A pass takes it as slow's failed poll at stage resolve (nothing is connected to: no hosts given).
    polled = asyncio.run(_poll_unresolved({"slow": slow}))
    failure = polled.results["slow"]
    assert isinstance(failure, PollFailure) and failure.stage is Stage.RESOLVE and failure.via is None
    assert failure.message == "ssh -G gave no answer within 1 s"


async def _poll_unresolved(unresolved: dict[str, ResolveError]) -> Polled:
    transport = Transport()
    try:
        return await poll_fleet(transport, [], unresolved=unresolved)
    finally:
        await transport.close()


@needs_ssh
def test_fifty_aliases_resolve_well_under_a_second(isolated_home: Path) -> None:
    config = _config(
        isolated_home, "".join(f"Host h{i}\n  HostName 10.0.0.{i}\n  User u{i}\n" for i in range(50))
    )
    aliases = [f"h{i}" for i in range(50)]
    resolve_all(aliases[:2], config)  # warm the page cache so the measurement is of the pool
    started = time.perf_counter()
    results = resolve_all(aliases, config)
    elapsed = time.perf_counter() - started
    assert all(isinstance(t, SshTarget) for t in results.values())
    assert results["h49"] == resolve_alias("h49", config)
    assert elapsed < 1.0, f"50 aliases took {elapsed:.2f} s"


def test_F_is_passed_only_for_a_config_ssh_would_not_read_by_itself(isolated_home: Path) -> None:
    assert ssh_g_argv("pi", default_config()) == ["ssh", "-G", "--", "pi"]
    other = isolated_home / ".ssh" / "config"  # $HOME's config is not ssh's default: ssh uses passwd
    assert ssh_g_argv("-oX=y", other) == ["ssh", "-G", "-F", str(other), "--", "-oX=y"]


def test_without_ssh_the_fallback_parser_resolves(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = isolated_home / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    config = _config(isolated_home, "Host pi\n  HostName pi.example\nHost bad\n  HostName %z.example\n")
    assert not ssh_available()
    results = resolve_all(["pi", "bad"], config)
    pi, bad = results["pi"], results["bad"]
    assert isinstance(pi, SshTarget) and (pi.hostname, pi.source) == ("pi.example", "parser")
    assert isinstance(bad, ResolveError) and (bad.host, bad.stage) == ("bad", Stage.RESOLVE)
    assert str(bad) == "bad: resolve failed: host 'bad': unknown token %z in '%z.example'"
    config.write_text("Host pi\n  Port 0\n")  # a bad line fails every alias, with file and line
    err = resolve_all(["pi"], config)["pi"]
    assert isinstance(err, ResolveError) and (err.path, err.line) == (str(config), 2)
    assert str(err) == f"pi: resolve failed: {config}:2: Bad port '0'."


def test_ssh_G_output_is_normalised() -> None:
    output = "\n".join(
        [
            "user u",
            "hostname h.example",
            "port 2200",
            "identityfile ~/k_%h",
            "identityfile /abs/k",
            "identitiesonly yes",
            "hashknownhosts yes",
            "stricthostkeychecking false",
            "userknownhostsfile none",
            "globalknownhostsfile ~/g /etc/g2",
            "connecttimeout 15",
            "serveraliveinterval 30",
            "serveralivecountmax 2",
            "proxyjump a,b:22",
        ]
    )
    target = parse_ssh_g("u@alias", output)
    assert target.identity_files == (f"{PASSWD_HOME}/k_h.example", "/abs/k")
    assert (target.identities_only, target.hash_known_hosts) == (True, True)
    assert target.strict_host_key_checking == "no"
    assert target.user_known_hosts_files == ()
    assert target.global_known_hosts_files == (f"{PASSWD_HOME}/g", "/etc/g2")
    assert (target.connect_timeout, target.server_alive_interval, target.server_alive_count_max) == (
        15.0,
        30,
        2,
    )
    assert (target.proxy_jump, target.proxy_command) == ("a,b:22", None)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("bastion", ("", "bastion", None)),
        ("admin@bastion:2222", ("admin", "bastion", 2222)),
        (" [fe80::1]:2200", ("", "fe80::1", 2200)),
        ("ops@[fe80::1]", ("ops", "fe80::1", None)),
        ("fe80::1", ("", "fe80::1", None)),  # bare IPv6: every colon is the address's
    ],
)
def test_a_proxyjump_hop_is_read_one_way_everywhere(spec: str, parsed: tuple[str, str, int | None]) -> None:
    assert parse_jump(spec) == parsed
    target = SshTarget("pi", "10.0.0.5", "pi", proxy_jump=f"first,{spec}")
    assert target.jumps == ("first", parsed[1])
