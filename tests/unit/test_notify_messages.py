"""Composing notifications from one pass's transitions: grouped, readable, with hint and times."""

from __future__ import annotations

from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.findings import Severity
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.notify.messages import compose, compose_text
from fleetwatch.vantage import WATCHER

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
STARTED = NOW - 14 * 60


def host(alias: str, *groups: str) -> Host:
    return Host(alias, SshTarget(alias, alias, "pi"), groups=groups)


def tr(
    change: Change,
    alias: str,
    detector: str = "oauth_fail",
    severity: Severity = Severity.CRITICAL,
    message: str = "round 7 exited 1 after 3 s: 'token has expired'",
    hint: str = "run `claude /login` as the runner's user",
    started: float = STARTED,
) -> Transition:
    ep = Episode(alias, detector, severity, message, hint, {}, started, NOW)
    return Transition(change, ep, NOW)


def test_forty_hosts_opening_oauth_fail_in_one_pass_make_one_notification() -> None:
    hosts = {f"pi{i}": host(f"pi{i}", "lab" if i % 2 else "attic") for i in range(1, 41)}
    [n] = compose([tr(Change.OPENED, a) for a in hosts], hosts, NOW)
    assert n.title == "[CRIT] oauth_fail on 40 hosts"
    assert n.hosts[:3] == ("pi1", "pi2", "pi3") and len(n.hosts) == 40  # natural order: pi2 before pi10
    assert n.groups == ("attic", "lab")
    assert n.body.count("- pi") == 40 and "- pi17: round 7 exited 1" in n.body
    # The shared hint and start are said once, not forty times.
    assert n.body.count("What to do: run `claude /login`") == 1
    assert "Started: 2027-01-15T07:46:00Z" in n.body


def test_two_detectors_in_one_pass_make_two_notifications() -> None:
    hosts = {a: host(a) for a in ("pi1", "pi2", "pi3")}
    ts = [tr(Change.OPENED, a) for a in hosts] + [tr(Change.OPENED, "pi3", "disk_critical", message="96%")]
    titles = [n.title for n in compose(ts, hosts, NOW)]
    assert titles == ["[CRIT] oauth_fail on 3 hosts", "[CRIT] pi3 disk_critical"]


def test_opening_and_resolving_the_same_detector_are_separate_notifications() -> None:
    hosts = {a: host(a) for a in ("pi1", "pi2")}
    ns = compose([tr(Change.OPENED, "pi1"), tr(Change.RESOLVED, "pi2")], hosts, NOW)
    assert [n.kind for n in ns] == ["opened", "resolved"]


def test_single_opening_carries_host_detector_severity_message_hint_and_start() -> None:
    t = tr(Change.OPENED, "pi3", "disk_critical", message="disk 96.2% full (≥ 95%)", hint="free space")
    [n] = compose([t], {"pi3": host("pi3", "lab")}, NOW)
    assert n.title == "[CRIT] pi3 disk_critical"
    assert n.body.splitlines() == [
        "disk 96.2% full (≥ 95%)",
        "What to do: free space",
        "Host: pi3 (groups: lab) · detector: disk_critical · severity: critical",
        "Started: 2027-01-15T07:46:00Z",
    ]
    assert (n.severity, n.hosts, n.groups, n.created_at, n.detector) == (
        Severity.CRITICAL,
        ("pi3",),
        ("lab",),
        NOW,
        "disk_critical",
    )


def test_resolution_says_how_long_it_lasted() -> None:
    [n] = compose([tr(Change.RESOLVED, "pi3", "disk_critical", message="96%")], {}, NOW)
    assert n.title == "[ OK ] pi3 disk_critical resolved after 14 min"
    assert n.body.startswith("Resolved after 14 min (open 2027-01-15T07:46:00Z → 2027-01-15T08:00:00Z).")
    assert "Was: 96%" in n.body and "What to do" not in n.body


def test_grouped_resolution_lists_each_hosts_duration() -> None:
    ts = [tr(Change.RESOLVED, "pi1"), tr(Change.RESOLVED, "pi2", started=NOW - 3600)]
    [n] = compose(ts, {}, NOW)
    assert n.title == "[ OK ] oauth_fail resolved on 2 hosts"
    assert "- pi1: resolved after 14 min; was: round 7" in n.body
    assert "- pi2: resolved after 60 min; was: round 7" in n.body


def test_reminder_says_still_open_since() -> None:
    t = tr(Change.REMINDED, "pi3", "disk_critical", started=NOW - 4 * 3600)
    [n] = compose([t], {}, NOW)
    assert n.title == "[CRIT] pi3 disk_critical still open"
    assert n.body.startswith("Still open since 2027-01-15T04:00:00Z (4.0 h).")


def test_escalation_is_named() -> None:
    [n] = compose([tr(Change.ESCALATED, "pi3")], {}, NOW)
    assert n.title == "[CRIT] pi3 oauth_fail escalated" and n.kind == "escalated"


def test_hosts_with_different_hints_get_their_own() -> None:
    ts = [tr(Change.OPENED, "pi1", hint="a"), tr(Change.OPENED, "pi2", hint="b")]
    [n] = compose(ts, {}, NOW)
    assert "- pi1: round 7 exited 1 after 3 s: 'token has expired' → a" in n.body
    assert "What to do" not in n.body


def test_watcher_offline_reads_as_this_machines_trouble_and_reaches_every_group() -> None:
    hosts = {"pi1": host("pi1", "lab"), "pi2": host("pi2", "attic")}
    msg = "12 of 20 hosts unreachable in one pass (pi1, pi2 …): this machine's network is probably down"
    opened = tr(Change.OPENED, WATCHER, "watcher_offline", Severity.WARNING, msg, "check connectivity")
    [n] = compose([opened], hosts, NOW)
    assert n.title == "[WARN] this watcher seems offline"
    assert n.groups == ("attic", "lab")  # a group-limited target hears about it too
    [back] = compose([tr(Change.RESOLVED, WATCHER, "watcher_offline", Severity.WARNING, msg)], hosts, NOW)
    assert back.title == "[ OK ] this watcher is back online after 14 min"
    assert "queued while it was offline are sent oldest first" in back.body


def test_keys_are_stable_for_the_same_pass_and_differ_across_passes() -> None:
    ts = [tr(Change.OPENED, "pi1")]
    assert compose(ts, {}, NOW)[0].key == compose(ts, {}, NOW)[0].key
    assert compose(ts, {}, NOW)[0].key != compose(ts, {}, NOW + 60)[0].key


def test_compose_text_tags_the_title_and_takes_groups_from_hosts() -> None:
    n = compose_text(
        "action", Severity.WARNING, "stopped agent-runner on pi3", "serve stopped", [host("pi3", "lab")], NOW
    )
    assert n.title == "[WARN] stopped agent-runner on pi3"
    assert (n.kind, n.hosts, n.groups, n.created_at) == ("action", ("pi3",), ("lab",), NOW)
    assert compose_text("test", Severity.INFO, "t", "b", ["pi9"], NOW).hosts == ("pi9",)
