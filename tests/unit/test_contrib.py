"""The service files in contrib/ are well-formed and run what the docs say."""

from __future__ import annotations

import configparser
import plistlib
import shlex
from pathlib import Path

CONTRIB = Path(__file__).parents[2] / "contrib"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((CONTRIB / "systemd" / name).read_text())
    return parser


def test_watch_service_runs_fleetwatch_in_watch_mode() -> None:
    service = unit("fleetwatch.service")
    argv = shlex.split(service["Service"]["ExecStart"])
    assert argv[0].endswith("/fleetwatch") and "check" not in argv and "--once" not in argv
    assert service["Install"]["WantedBy"] == "default.target"


def test_check_timer_starts_a_oneshot_check_whose_alert_exit_codes_are_not_failures() -> None:
    service, timer = unit("fleetwatch-check.service"), unit("fleetwatch-check.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert shlex.split(service["Service"]["ExecStart"])[1] == "check"
    assert service["Service"]["SuccessExitStatus"] == "1 2"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_the_timer_catches_up_after_suspend_the_way_systemd_allows_it() -> None:
    timer = unit("fleetwatch-check.timer")["Timer"]
    # systemd.timer(5): Persistent= only applies to OnCalendar= timers; OnUnitActiveSec= ignores it.
    assert timer["Persistent"] == "true" and timer["OnCalendar"] == "*:0/5"
    assert "OnUnitActiveSec" not in timer and "OnBootSec" not in timer


def test_cron_line_has_five_time_fields_and_runs_check() -> None:
    lines = [
        ln for ln in (CONTRIB / "cron" / "fleetwatch.cron").read_text().splitlines() if ln and ln[0] != "#"
    ]
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[0] == "*/5" and "%" not in lines[0]
    assert "$HOME/.local/bin/fleetwatch check --interval 5m" in lines[0]


def test_cron_line_works_on_a_fresh_account_and_bounds_its_log(tmp_path: Path) -> None:
    import subprocess

    [line] = [ln for ln in (CONTRIB / "cron" / "fleetwatch.cron").read_text().splitlines() if ln[:1] != "#"]
    command = line.split(None, 5)[5]  # what cron hands to /bin/sh
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    fake = home / ".local" / "bin" / "fleetwatch"
    fake.write_text('#!/bin/sh\necho "FLEETWATCH OK - ran with $*"\n')
    fake.chmod(0o755)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}  # cron's minimal environment
    subprocess.run(["/bin/sh", "-c", command], env=env, check=True)
    log = home / ".local" / "state" / "fleetwatch" / "check.log"
    assert log.read_text() == "FLEETWATCH OK - ran with check --interval 5m\n"
    log.write_bytes(b"x" * 2_000_000)  # a log past 1 MB is moved aside on the next run
    subprocess.run(["/bin/sh", "-c", command], env=env, check=True)
    assert (
        log.read_text().startswith("FLEETWATCH OK")
        and log.with_name("check.log.1").stat().st_size == 2_000_000
    )


def test_launchd_plist_parses_and_keeps_fleetwatch_alive() -> None:
    plist = plistlib.loads((CONTRIB / "launchd" / "io.github.fleetwatch.watch.plist").read_bytes())
    assert plist["Label"] == "io.github.fleetwatch.watch"
    assert plist["ProgramArguments"][0].endswith("/fleetwatch") and plist["RunAtLoad"] is True
