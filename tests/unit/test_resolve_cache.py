"""The on-disk ``ssh -G`` cache: answers are reused only while everything they depend on is unchanged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fleetwatch.inventory import resolve
from fleetwatch.inventory.model import SshTarget
from fleetwatch.inventory.resolve import ConfigInputs, config_inputs, resolve_all, ssh_available

pytestmark = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")


@pytest.fixture
def ssh_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every ``ssh`` command line resolve runs."""
    runs: list[list[str]] = []
    real = resolve._run

    def run(argv: list[str], timeout: float) -> tuple[int, str, str]:
        runs.append(argv)
        return real(argv, timeout)

    monkeypatch.setattr(resolve, "_run", run)
    return runs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def users(config: Path, *aliases: str) -> dict[str, str]:
    out = {}
    for alias, target in resolve_all(aliases, config).items():
        assert isinstance(target, SshTarget), target
        out[alias] = target.user
    return out


def test_second_start_resolves_from_the_cache_without_running_ssh(
    isolated_home: Path, ssh_runs: list[list[str]]
) -> None:
    config = write(isolated_home / "cfg", "".join(f"Host h{i}\n  User u{i}\n" for i in range(5)))
    aliases = [f"h{i}" for i in range(5)]
    first = resolve_all(aliases, config)
    assert len(ssh_runs) == 5 + 1  # one ssh -G per alias, one ssh -G -v to check the files followed
    ssh_runs.clear()
    assert resolve_all(aliases, config) == first
    assert ssh_runs == []
    cache = next((isolated_home / ".cache" / "fleetwatch").glob("ssh-G-*.json"))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_new_aliases_are_added_and_failures_are_never_cached(
    isolated_home: Path, ssh_runs: list[list[str]]
) -> None:
    config = write(isolated_home / "cfg", "Host a b\n  User x\n")
    resolve_all(["a"], config)
    ssh_runs.clear()
    results = resolve_all(["a", "b", "bad'alias"], config)  # ssh: hostname contains invalid characters
    assert isinstance(results["b"], SshTarget) and not isinstance(results["bad'alias"], SshTarget)
    ssh_runs.clear()
    resolve_all(["a", "b", "bad'alias"], config)
    assert [argv[-1] for argv in ssh_runs] == ["bad'alias"]


def test_an_edited_config_is_resolved_again(isolated_home: Path) -> None:
    config = write(isolated_home / "cfg", "Host pi\n  User before\n")
    assert users(config, "pi") == {"pi": "before"}
    config.write_text("Host pi\n  User after!\n")  # another size, and maybe the same mtime tick
    assert users(config, "pi") == {"pi": "after!"}
    config.write_text("Host pi\n  User after2\n")  # the same size
    assert users(config, "pi") == {"pi": "after2"}


def test_a_new_file_matching_an_include_glob_is_seen(isolated_home: Path) -> None:
    config = write(isolated_home / "cfg", f"Include {isolated_home}/conf.d/*.conf\nHost pi\n  User main\n")
    assert users(config, "pi") == {"pi": "main"}
    write(isolated_home / "conf.d" / "10-pi.conf", "Host pi\n  User included\n")
    assert users(config, "pi") == {"pi": "included"}
    write(isolated_home / "conf.d" / "05-pi.conf", "Host pi\n  User earlier\n")
    assert users(config, "pi") == {"pi": "earlier"}


def test_a_different_ssh_binary_is_asked_again(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, ssh_runs: list[list[str]]
) -> None:
    config = write(isolated_home / "cfg", "Host pi\n  User u\n")
    resolve_all(["pi"], config)
    ssh_runs.clear()
    wrapper = write(isolated_home / "bin" / "ssh", '#!/bin/sh\nexec /usr/bin/ssh "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    resolve_all(["pi"], config)
    assert [argv[-1] for argv in ssh_runs if "-v" not in argv] == ["pi"]


@pytest.mark.parametrize(
    "dynamic",
    [
        'Match host pi exec "test -e /tmp/on-the-lab-network"\n  User lab\n',
        "Match localnetwork 10.0.0.0/8\n  User lab\n",
        "Host pi\n  IdentityFile ${KEYS}/pi\n",
        "CanonicalizeHostname yes\n",
    ],
    ids=["match-exec", "localnetwork", "env", "canonicalize"],
)
def test_answers_that_depend_on_more_than_files_are_never_cached(isolated_home: Path, dynamic: str) -> None:
    config = write(isolated_home / "cfg", "Host pi\n  User u\n" + dynamic)
    assert config_inputs(config) is None


def test_nothing_is_cached_when_ssh_read_files_fleetwatch_did_not_follow(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, ssh_runs: list[list[str]]
) -> None:
    extra = write(isolated_home / "extra.conf", "Host other\n")
    config = write(isolated_home / "cfg", f"Include {extra}\nHost pi\n  User u\n")
    real = resolve.config_inputs

    def blind(path: Path) -> ConfigInputs | None:
        inputs = real(path)
        assert inputs is not None
        return ConfigInputs(inputs.digest, inputs.files - {str(extra)})

    monkeypatch.setattr(resolve, "config_inputs", blind)
    resolve_all(["pi"], config)
    ssh_runs.clear()
    resolve_all(["pi"], config)
    assert [argv[-1] for argv in ssh_runs if "-v" not in argv] == ["pi"]


def test_a_garbled_cache_file_is_ignored(isolated_home: Path) -> None:
    config = write(isolated_home / "cfg", "Host pi\n  User u\n")
    resolve_all(["pi"], config)
    for cache in (isolated_home / ".cache" / "fleetwatch").glob("ssh-G-*.json"):
        cache.write_text('{"inputs": 1, "outputs": ["x"]')
    assert users(config, "pi") == {"pi": "u"}


def test_followed_files_are_exactly_those_ssh_reads(isolated_home: Path) -> None:
    write(isolated_home / ".ssh" / "rel.conf", "Host r\n")
    config = write(
        isolated_home / "cfg",
        f"Include rel.conf {isolated_home}/none*.conf\nMatch host nothing\n  Include {isolated_home}/in/*\n",
    )
    write(isolated_home / "in" / "a", "Host a\n")
    inputs = config_inputs(config)
    assert inputs is not None
    assert inputs.files == {
        str(config),
        f"{isolated_home}/.ssh/rel.conf",  # relative Includes of a user config live in ~/.ssh ($HOME)
        f"{isolated_home}/in/a",  # read even inside a Match that does not apply (parse only)
    }
