"""Bad input gets one clear line and exit 3 (UNKNOWN); help and version work; the demo cleans up."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]


def fleetwatch(
    *argv: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "fleetwatch", *argv],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def started(*argv: str, **popen: Any) -> subprocess.Popen[str]:
    """``fleetwatch ARGV`` running in the background, stdout and stderr piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "fleetwatch", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture
def ssh_config(tmp_path: Path) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text("Host pi1\n    HostName 127.0.0.1\n    Port 1\n")
    return path


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (("--once", "--interval", "0"), {}, "--interval: interval must be at least 1 s"),
        (("--once", "--interval", "0.001"), {}, "--interval: interval must be at least 1 s, got 0.001"),
        (("--once", "--timeout", "nan"), {}, "--timeout: not a duration: 'nan'"),
        (("--once", "--timeout", "-3"), {}, "--timeout: not a duration: '-3'"),
        (("--once", "--concurrency", "0"), {}, "--concurrency: concurrency must be at least 1 host"),
        (("--once",), {"FLEETWATCH_TIMEOUT": "inf"}, "FLEETWATCH_TIMEOUT: not a duration: 'inf'"),
        (("--once",), {"FLEETWATCH_CONCURRENCY": "many"}, "FLEETWATCH_CONCURRENCY: expected a whole number"),
        (("check", "--deadline", "0"), {}, "--deadline: deadline must be more than 0 s"),
    ],
)
def test_bad_flags_and_variables_are_one_line_naming_them_and_exit_3(
    ssh_config: Path, argv: tuple[str, ...], env: dict[str, str], words: str
) -> None:
    result = fleetwatch(*argv, "--ssh-config", str(ssh_config), env=env)
    assert result.returncode == 3, result
    [line] = result.stderr.splitlines()
    assert line.startswith("fleetwatch: ") and words in line, line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("concurrency: 0\n", "c.yaml:1: top level: concurrency must be at least 1 host"),
        ("interval: 60\ntimeout: 0\n", "c.yaml:2: top level: timeout must be more than 0 s"),
        ("timeout: .nan\n", "c.yaml:1: timeout: not a duration"),
        ("offline:\n  fraction: 1.5\n", "c.yaml:2: offline: offline.fraction must be a fraction from 0 to 1"),
        ("repeat_interval: -1h\n", "c.yaml:1: repeat_interval: not a duration"),
        ("damping: {no_such: {for: 2}}\n", "unknown detector 'no_such'"),
        ("auto_stop: {on: [disk_critical], max_per_hour: -1}\n", "must not be negative"),
    ],
)
def test_bad_config_values_name_file_and_line_and_exit_3(
    tmp_path: Path, ssh_config: Path, text: str, words: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = fleetwatch("--config", str(config), "--ssh-config", str(ssh_config), "--once")
    assert result.returncode == 3 and words in result.stderr, result


def test_usage_errors_exit_3_not_argparses_2_and_check_says_unknown_on_stdout(ssh_config: Path) -> None:
    bogus = fleetwatch("check", "--bogus")
    assert (
        bogus.returncode == 3
        and bogus.stdout == "FLEETWATCH UNKNOWN - usage error: unrecognized arguments: --bogus\n"
    )
    assert "usage: fleetwatch check" in bogus.stderr
    misplaced = fleetwatch("--once", "status")
    assert misplaced.returncode == 3 and "--once does not apply to `fleetwatch status`" in misplaced.stderr
    missing = fleetwatch("silence", "pi1")
    assert missing.returncode == 3 and "--for" in missing.stderr


def test_config_errors_in_check_say_unknown_and_why_on_stdout_for_the_engine(tmp_path: Path) -> None:
    result = fleetwatch("check", "--inventory", str(tmp_path / "missing.yaml"))
    assert result.returncode == 3
    assert result.stdout.startswith("FLEETWATCH UNKNOWN - ") and "missing.yaml" in result.stdout


def test_help_says_what_each_exit_code_means_and_version_works() -> None:
    for argv in (("--help",), ("check", "--help"), ("check", "-h")):
        result = fleetwatch(*argv)
        assert result.returncode == 0 and "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN" in " ".join(
            result.stdout.split()
        )
    for argv in (("--version",), ("-V",), ("check", "--version"), ("check", "-V")):
        result = fleetwatch(*argv)
        assert result.returncode == 0 and re.fullmatch(r"fleetwatch \d+\.\d+\.\d+\n", result.stdout), result


def test_a_command_offers_only_the_flags_it_uses() -> None:
    helps = {
        cmd: fleetwatch(cmd, "--help").stdout for cmd in ("silences", "status", "hosts", "unsilence", "check")
    }
    assert "--once" not in helps["check"] and "--deadline" in helps["check"]
    assert "--timeout" not in helps["status"] and "--dry-run" not in helps["status"]
    assert "--host" not in helps["silences"] and "--json" in helps["silences"]
    assert "--state-dir" not in helps["hosts"] and "--interval" not in helps["hosts"]
    assert "--json" not in helps["unsilence"]


def test_a_broken_ssh_config_line_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host pi1\n    HostName 127.0.0.1\n    Bogusoption yes\nHost pi2\n    HostName 127.0.0.1\n"
    )
    result = fleetwatch("--ssh-config", str(config), "--once", "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 3, result
    [line] = result.stderr.splitlines()
    assert line.startswith(f"fleetwatch: {config}:3: ssh_config error: Bad configuration option: bogusoption")


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare -n (root)")
def test_a_host_name_no_config_declares_and_nothing_resolves_is_a_usage_error(
    ssh_config: Path, tmp_path: Path
) -> None:
    # In a network namespace of its own the lookup of "nosuch" leaves no trace outside this machine.
    result = fleetwatch(
        "--ssh-config",
        str(ssh_config),
        "--once",
        "--host",
        "nosuch",
        "--state-dir",
        str(tmp_path / "s"),
        prefix=("unshare", "-n"),
    )
    assert result.returncode == 3, result
    assert (
        f"--host nosuch: no such host: not an alias in {ssh_config}, and 'nosuch' does not resolve"
        in result.stderr
    )
    assert not (tmp_path / "s" / "state.db").exists() or "remote_blip" not in result.stdout


def test_silencing_a_host_nobody_knows_is_an_error_and_stores_nothing(
    ssh_config: Path, tmp_path: Path
) -> None:
    state = str(tmp_path / "s")
    result = fleetwatch(
        "silence", "nosuchhost", "--for", "1h", "--ssh-config", str(ssh_config), "--state-dir", state
    )
    assert result.returncode == 3 and "'nosuchhost' names no host of the fleet" in result.stderr, result
    assert fleetwatch("silences", "--state-dir", state).stdout == "no silences or acks in force\n"
    detector = fleetwatch(
        "silence", "pi1:disk_crit", "--for", "1h", "--ssh-config", str(ssh_config), "--state-dir", state
    )
    assert (
        detector.returncode == 3
        and "unknown detector 'disk_crit' (did you mean disk_critical?)" in detector.stderr
    )
    ok = fleetwatch("silence", "pi*", "--for", "1h", "--ssh-config", str(ssh_config), "--state-dir", state)
    assert ok.returncode == 0, ok


def _ignore_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a command


@pytest.mark.parametrize("ending", ["SIGTERM", "SIGHUP", "SIGTERM after an ignored SIGHUP (nohup)"])
def test_the_demo_removes_its_private_key_and_temp_dir_when_ended_by_a_signal(ending: str) -> None:
    # SIGHUP is what a closed terminal or a dropped ssh session sends; under nohup it is ignored.
    nohup = "nohup" in ending
    proc = started("demo", "--interval", "30", "--timeout", "2", preexec_fn=_ignore_sighup if nohup else None)
    try:
        assert proc.stderr is not None
        start = proc.stderr.readline()
        match = re.search(r"state in (\S+)/state-\w+;", start)
        assert match, start
        workdir = Path(match.group(1))
        assert (workdir / "id_ed25519").exists()
        time.sleep(1.0)
        if nohup:
            proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            assert proc.poll() is None, "a SIGHUP that nohup ignores must not end the demo"
        proc.send_signal(signal.SIGHUP if ending == "SIGHUP" else signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert not workdir.exists(), "the demo's private key outlived it"


# -- found in review ----------------------------------------------------------------------------------------


def test_a_heartbeat_url_that_is_not_http_is_a_config_error_not_a_traceback(
    tmp_path: Path, ssh_config: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("heartbeat_url: notaurl\n")
    for argv, env in (
        (("--config", str(config)), {}),
        ((), {"FLEETWATCH_HEARTBEAT_URL": "notaurl", "XDG_CONFIG_HOME": str(tmp_path / "none")}),
    ):
        result = fleetwatch(*argv, "check", "--ssh-config", str(ssh_config), env=env)
        assert result.returncode == 3 and "Traceback" not in result.stderr, result
        assert "heartbeat_url must be an http:// or https:// URL" in result.stdout


def test_silences_past_a_year_or_without_a_unit_are_refused_before_anything_is_stored(
    tmp_path: Path, ssh_config: Path
) -> None:
    state = str(tmp_path / "s")
    for length in ("1e308", "99999999d", "1e3"):
        result = fleetwatch(
            "silence", "pi1", "--for", length, "--ssh-config", str(ssh_config), "--state-dir", state
        )
        assert result.returncode == 3 and "Traceback" not in result.stderr, result
    assert not (tmp_path / "s" / "state.db").exists(), "nothing stored, not even an empty state"
    listed = fleetwatch("silences", "--state-dir", state)
    assert listed.returncode == 3 and "no state database in" in listed.stderr, "a typo is not an empty list"


def test_check_with_nothing_to_poll_says_unknown_on_its_status_line(tmp_path: Path) -> None:
    empty = tmp_path / "ssh_config"
    empty.write_text("")
    result = fleetwatch("check", "--ssh-config", str(empty), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 3 and result.stdout.startswith("FLEETWATCH UNKNOWN - no hosts to poll"), (
        result
    )
    as_json = fleetwatch("check", "--json", "--ssh-config", str(empty), "--state-dir", str(tmp_path / "s"))
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 3 and doc["status"] == "UNKNOWN" and "no hosts to poll" in doc["error"]


@pytest.mark.parametrize("command", [("check",), ("--once",)])
def test_a_one_shot_pass_ended_by_sigterm_is_unknown_never_ok(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # A systemd stop or a wrapper's timeout in the middle of `check` read as OK: it had seen nothing.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts, never speaks: the pass hangs on it
    config = tmp_path / "ssh_config"
    config.write_text(f"Host hung\n    HostName 127.0.0.1\n    Port {listener.getsockname()[1]}\n")
    proc = started(*command, "--ssh-config", str(config), "--state-dir", str(tmp_path / "s"))
    try:
        time.sleep(2.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 3 and "Traceback" not in err, (out, err)
    assert "interrupted before the pass finished" in err
    if command == ("check",):
        assert out.startswith("FLEETWATCH UNKNOWN - interrupted before the pass finished")


def test_watch_mode_ends_at_its_next_pass_once_its_reader_is_gone() -> None:
    # It ended only at its next write, which on a quiet fleet may be days away.
    started = time.monotonic()
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"{sys.executable} -m fleetwatch demo --interval 1 --timeout 2 | head -1; "
            "exit ${PIPESTATUS[0]}",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result
    assert len(result.stdout.splitlines()) == 1 and time.monotonic() - started < 30


def test_status_of_a_host_nobody_knows_is_a_usage_error(tmp_path: Path, ssh_config: Path) -> None:
    from fleetwatch.store import Store

    Store.open(tmp_path / "s").close()
    result = fleetwatch(
        "status", "--host", "nosuch", "--ssh-config", str(ssh_config), "--state-dir", str(tmp_path / "s")
    )
    assert result.returncode == 3 and "--host nosuch: no such host" in result.stderr, result
    known = fleetwatch(
        "status", "--host", "pi1", "--ssh-config", str(ssh_config), "--state-dir", str(tmp_path / "s")
    )
    assert "pi1" in known.stdout and "NEVER POLLED" in known.stdout, known


def test_a_notify_target_for_a_group_no_inventory_declares_is_said(tmp_path: Path, ssh_config: Path) -> None:
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text("groups:\n  lab:\n    hosts: [pi1]\nhosts:\n  pi1: {}\n")
    config = tmp_path / "c.yaml"
    config.write_text("notify:\n  - url: json://127.0.0.1:1/hook\n    groups: [lbb]\n")
    config.chmod(0o600)
    result = fleetwatch(
        "check",
        "--config",
        str(config),
        "--inventory",
        str(inventory),
        "--ssh-config",
        str(ssh_config),
        "--state-dir",
        str(tmp_path / "s"),
    )
    assert "names group(s) lbb that no inventory declares (groups: lab)" in result.stderr, result
