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
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"


def test_cron_line_has_five_time_fields_and_runs_check() -> None:
    lines = [
        ln for ln in (CONTRIB / "cron" / "fleetwatch.cron").read_text().splitlines() if ln and ln[0] != "#"
    ]
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[0] == "*/5" and fields[5].endswith("/fleetwatch") and fields[6] == "check"


def test_launchd_plist_parses_and_keeps_fleetwatch_alive() -> None:
    plist = plistlib.loads((CONTRIB / "launchd" / "io.github.fleetwatch.watch.plist").read_bytes())
    assert plist["Label"] == "io.github.fleetwatch.watch"
    assert plist["ProgramArguments"][0].endswith("/fleetwatch") and plist["RunAtLoad"] is True
