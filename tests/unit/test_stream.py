"""A long watch reads well: timestamps in local time or UTC, colour only on a terminal and never with
NO_COLOR, a start line and one short line per pass."""

from __future__ import annotations

import io

import pytest

from fleetwatch.cli.stream import Stamp, colour_wanted, pass_line, start_line
from fleetwatch.polls import HostPoll
from fleetwatch.status import HostEntry, StoredState, build

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_alert_lines_carry_the_time_in_utc_or_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Stamp(utc=True).lines(["[CRIT] pi3 x — y"], NOW) == ["08:00:00Z [CRIT] pi3 x — y"]
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    import time

    time.tzset()
    try:
        assert Stamp().lines(["[WARN] a"], NOW) == ["13:30:00 [WARN] a"]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_wanted(Tty()) and not colour_wanted(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Tty())
    painted = Stamp(utc=True, colour=True).lines(["[CRIT] pi3 disk_critical — full"], NOW)[0]
    assert painted == "08:00:00Z \033[31m[CRIT]\033[0m pi3 disk_critical — full"


def test_start_and_pass_lines_say_what_is_watched_and_how_each_pass_went() -> None:
    assert start_line(40, 60, "/s", ["slack://T…/****"], False) == (
        "watching 40 hosts every 60 s; state in /s; slack://T…/****"
    )
    assert start_line(1, 60, "/s", [], True) == "one pass over 1 host; state in /s; no notification targets"
    stored = StoredState(
        {"a": HostPoll("a", NOW, ok_at=NOW), "b": HostPoll("b", NOW, failed_at=NOW, stage="connect")},
        {},
        {},
        (),
        (),
        [NOW],
    )
    status = build([HostEntry("a"), HostEntry("b")], stored, NOW, interval_s=60, gap_factor=3)
    assert pass_line(Stamp(utc=True), 17, status, 2.34) == (
        "08:00:00Z pass 17: 1 ok, 0 warn, 0 crit, 1 unreachable in 2.3 s"
    )
