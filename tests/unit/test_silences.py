"""Silences (until a time) and acks (until the episode resolves): parsing, matching, storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch import silences
from fleetwatch.episodes import Episode
from fleetwatch.errors import ConfigError
from fleetwatch.findings import Severity
from fleetwatch.silences import Silence, active, describe, parse_duration, parse_target
from fleetwatch.store import Store

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("30m", 1800),
        ("1d", 86400),
        ("90s", 90),
        ("1h30m", 5400),
        ("1.5h", 5400),
        (" 2H ", 7200),
    ],
)
def test_durations_people_type_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "1h 30", "-1h", "2h-", "1e3s"])
def test_unreadable_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ConfigError, match=r"use a number with a unit, e\.g\. 90s, 30m, 2h"):
        parse_duration(text)


def test_zero_duration_is_refused() -> None:
    with pytest.raises(ConfigError, match="zero"):
        parse_duration("0m")


def test_targets_are_host_or_host_and_detector() -> None:
    assert parse_target("pi3") == ("pi3", None)
    assert parse_target("pi3:disk_critical") == ("pi3", "disk_critical")
    assert parse_target("pi*:oauth_fail", {"oauth_fail"}) == ("pi*", "oauth_fail")


def test_bad_targets_are_explained() -> None:
    with pytest.raises(ConfigError, match="names no host"):
        parse_target(":disk_critical")
    with pytest.raises(ConfigError, match="not a detector name"):
        parse_target("pi3:Disk Critical")
    with pytest.raises(ConfigError, match="did you mean disk_critical"):
        parse_target("pi3:disk_critcal", {"disk_critical", "disk_warning"})


def silence(host: str = "pi3", detector: str | None = None, until: float | None = NOW + 60) -> Silence:
    return Silence(1, host, detector, until, False, None, "", NOW, "me")


def ack(host: str = "pi3", detector: str = "disk_critical", started: float = NOW - 600) -> Silence:
    return Silence(2, host, detector, None, True, started, "", NOW, "me")


def test_silence_covers_host_all_detectors_until_it_ends() -> None:
    s = silence()
    assert active([s], "pi3", "disk_critical", NOW, None) is s
    assert active([s], "pi3", "oauth_fail", NOW + 59, None) is s
    assert active([s], "pi3", "oauth_fail", NOW + 60, None) is None  # ended
    assert active([s], "pi4", "oauth_fail", NOW, None) is None


def test_detector_silence_and_host_globs() -> None:
    assert active([silence(detector="oauth_fail")], "pi3", "disk_critical", NOW, None) is None
    assert active([silence("pi*")], "pi12", "disk_critical", NOW, None) is not None
    assert active([silence("pi*")], "lab1", "disk_critical", NOW, None) is None


def test_ack_covers_only_the_episode_it_was_given_for() -> None:
    a = ack()
    assert active([a], "pi3", "disk_critical", NOW + 86400, NOW - 600) is a  # no time limit
    # The next episode (a new start) is reported again: the ack ended with the old one.
    assert active([a], "pi3", "disk_critical", NOW, NOW + 300) is None
    assert active([a], "pi3", "disk_warning", NOW, NOW - 600) is None


def test_describe_says_what_until_when_and_who() -> None:
    assert describe(silence(detector="oauth_fail", until=NOW + 7200), NOW) == (
        "silenced pi3:oauth_fail for 2.0 h more (by me, id 1)"
    )
    assert describe(ack(), NOW) == "acked pi3:disk_critical until the episode resolves (by me, id 2)"


def open_episode(store: Store, host: str, detector: str, started: float) -> Episode:
    ep = Episode(host, detector, Severity.CRITICAL, "96%", "", {}, started, started)
    with store.transaction():
        store.save_episodes({}, {(host, detector): ep})
    return ep


def test_silences_and_acks_are_stored_listed_and_removed(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    conn = store.connection
    s = silences.add_silence(conn, "pi3", None, NOW + 3600, "maintenance", "me", NOW)
    ep = open_episode(store, "pi4", "disk_critical", NOW - 60)
    a = silences.add_ack(conn, "pi4", "disk_critical", "on it", "me", NOW)
    assert a.ack and a.started_at == NOW - 60 and a.until is None
    assert [x.id for x in silences.list_active(conn, NOW)] == [s.id, a.id]
    assert [x.id for x in silences.list_active(conn, NOW + 3600)] == [a.id]  # the silence ran out
    with store.transaction():  # the episode resolved: the ack is over
        store.save_episodes({ep.key: ep}, {})
    assert silences.list_active(conn, NOW) == [s]
    assert silences.remove(conn, s.id) and not silences.remove(conn, s.id)
    assert silences.list_active(conn, NOW) == []
    assert not conn.in_transaction


def test_ack_without_an_open_episode_is_refused_with_a_way_forward(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with pytest.raises(
        ConfigError, match=r"no open disk_critical episode .*fleetwatch silence pi3:disk_critical"
    ):
        silences.add_ack(store.connection, "pi3", "disk_critical", "", "me", NOW)


def test_adding_inside_a_callers_transaction_joins_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with pytest.raises(RuntimeError), store.transaction():
        silences.add_silence(store.connection, "pi3", None, NOW + 60, "", "me", NOW)
        raise RuntimeError("the caller's work failed")
    assert silences.list_active(store.connection, NOW) == []
