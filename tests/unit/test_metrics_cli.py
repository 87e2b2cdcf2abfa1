"""``--metrics-listen`` and ``check --metrics-file`` from the command line: real processes, a fleet whose one
host refuses connections (no sshd needed), the CLI contract for bad values."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_cli_contract import REPO, fleetwatch


@pytest.fixture
def refused(tmp_path: Path) -> Path:
    """An ssh_config whose host pi1 is a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "ssh_config"
    path.write_text(f"Host pi1\n    HostName 127.0.0.1\n    Port {port}\n    StrictHostKeyChecking yes\n")
    return path


def up(text: str) -> dict[str, float]:
    return {
        s.labels["host"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "fleetwatch_host_up"
    }


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (("--metrics-listen", "9464"), {}, "--metrics-listen: expected HOST:PORT such as 127.0.0.1:9464"),
        ((), {"FLEETWATCH_METRICS_LISTEN": "[::1]"}, "FLEETWATCH_METRICS_LISTEN: expected HOST:PORT"),
        (("--once", "--metrics-listen", "127.0.0.1:0"), {}, "use `fleetwatch check --metrics-file PATH`"),
    ],
)
def test_a_bad_or_pointless_metrics_address_is_one_line_and_exit_3(
    refused: Path, argv: tuple[str, ...], env: dict[str, str], words: str
) -> None:
    result = fleetwatch(*argv, "--ssh-config", str(refused), "--interval", "1", env=env)
    assert result.returncode == 3, result
    [line] = result.stderr.splitlines()
    assert line.startswith("fleetwatch: ") and words in line, line


def test_metrics_listen_in_the_config_file_is_checked_at_its_line(tmp_path: Path, refused: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("timeout: 5\nmetrics_listen: everywhere\n")
    result = fleetwatch("--config", str(config), "--ssh-config", str(refused), "--once")
    assert (
        result.returncode == 3 and f"{config}:2: " in result.stderr and "expected HOST:PORT" in result.stderr
    )


def test_metrics_flags_belong_to_their_commands() -> None:
    misplaced = fleetwatch("--metrics-listen", "127.0.0.1:0", "check")
    assert (
        misplaced.returncode == 3
        and "--metrics-listen does not apply to `fleetwatch check`" in misplaced.stderr
    )
    wrong = fleetwatch("--metrics-file=x.prom")
    assert wrong.returncode == 3 and "unrecognized arguments: --metrics-file" in wrong.stderr


def test_check_refuses_a_metrics_file_in_a_missing_directory_before_polling(
    tmp_path: Path, refused: Path
) -> None:
    target = tmp_path / "no-such-dir" / "fleetwatch.prom"
    result = fleetwatch("check", "--ssh-config", str(refused), "--metrics-file", str(target))
    assert result.returncode == 3
    assert (
        result.stdout.startswith("FLEETWATCH UNKNOWN - ") and "its directory does not exist" in result.stdout
    )


def test_check_writes_its_pass_as_a_textfile_promtool_accepts(tmp_path: Path, refused: Path) -> None:
    target = tmp_path / "textfile" / "fleetwatch.prom"
    target.parent.mkdir()
    result = fleetwatch(
        "check",
        "--ssh-config",
        str(refused),
        "--state-dir",
        str(tmp_path / "s"),
        "--metrics-file",
        str(target),
    )
    assert result.returncode == 3, result  # the only host is unreachable: UNKNOWN, and said in the file
    text = target.read_text()
    assert up(text) == {"pi1": 0}
    assert "fleetwatch_pass_duration_seconds_count" not in text  # no per-run counters from cron
    assert [p.name for p in target.parent.iterdir()] == ["fleetwatch.prom"]
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run .ci/install-system-deps"
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_watch_mode_serves_the_latest_pass_and_releases_its_port_on_ctrl_c(
    tmp_path: Path, refused: Path
) -> None:
    argv = [
        sys.executable,
        "-m",
        "fleetwatch",
        "--ssh-config",
        str(refused),
        "--state-dir",
        str(tmp_path / "s"),
    ]
    argv += ["--interval", "1", "--metrics-listen", "127.0.0.1:0", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("fleetwatch: serving metrics at http://127.0.0.1:"), first
        url = first.split(" at ")[1].strip()
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            if up(text) == {"pi1": 0} and "fleetwatch_pass_duration_seconds_count 2.0" in text:
                break  # two passes counted, the unreachable host down
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))  # nobody listens any more
