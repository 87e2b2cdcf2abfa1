"""The Prometheus exporter renders the fleet status at scrape time, in Prometheus's own conventions."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch.errors import ConfigError, Stage
from fleetwatch.events import DeliveriesFlushed, GapDetected, PassFinished
from fleetwatch.exporter import Exposed, PassStats, serve_metrics, write_textfile
from fleetwatch.exporter.serve import render
from fleetwatch.findings import Severity
from fleetwatch.polls import HostPoll
from fleetwatch.silences import Silence
from fleetwatch.status import FleetStatus, HostEntry
from tests.unit.builders import NOW
from tests.unit.test_status import ep, facts, failed_poll, fleet, ok_poll

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: bytes | str) -> Samples:
    """Every sample of an exposition: (name, labels) -> value."""
    body = text.decode() if isinstance(text, bytes) else text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def scrape(status: FleetStatus, stats: PassStats | None = None, *, lifetime: bool = True) -> Samples:
    return samples(render(Exposed(status, stats or PassStats()), lifetime=lifetime))


def silence(host: str, detector: str, *, ack: bool) -> Silence:
    return Silence(1, host, detector, None if ack else NOW + 3600, ack, NOW - 100, "why", NOW - 50, "me@here")


def test_a_polled_host_is_up_with_its_measured_values_from_the_latest_pass() -> None:
    poll = HostPoll(
        "pi1",
        NOW,
        ok_at=NOW,
        latency_s=0.25,
        facts=facts(
            disk_used_pct=91.5,
            round=7,
            running=True,
            newest_event_at=NOW - 40,
            runner="/home/pi/.local/bin/agent-runner",
            runner_version="0.3.14",
            project="proj",
        ),
    )
    found = scrape(fleet([poll], hosts=[HostEntry("pi1", ("lab", "kitchen"))]))
    info = {"host": "pi1", "path": "/home/pi/.local/bin/agent-runner", "project": "proj", "version": "0.3.14"}
    assert value(found, "fleetwatch_runner_info", **info) == 1
    assert value(found, "fleetwatch_host_up", host="pi1") == 1
    assert value(found, "fleetwatch_host_state", host="pi1", state="ok") == 1
    assert value(found, "fleetwatch_host_state", host="pi1", state="unreachable") == 0
    assert value(found, "fleetwatch_host_info", host="pi1", groups=",lab,kitchen,") == 1
    assert value(found, "fleetwatch_host_disk_used_ratio", host="pi1") == pytest.approx(0.915)
    assert value(found, "fleetwatch_round", host="pi1") == 7
    assert value(found, "fleetwatch_round_in_progress", host="pi1") == 1
    assert value(found, "fleetwatch_poll_duration_seconds", host="pi1") == 0.25
    assert value(found, "fleetwatch_host_last_success_timestamp_seconds", host="pi1") == NOW
    assert value(found, "fleetwatch_host_memory_total_bytes", host="pi1") == 4000 * 1048576


def test_the_supervisors_newest_event_is_dated_on_the_watchers_clock_despite_host_skew() -> None:
    skewed = facts(remote_time=NOW + 300, received_at=NOW, newest_event_at=NOW + 300 - 40)
    found = scrape(fleet([HostPoll("pi1", NOW, ok_at=NOW, facts=skewed)]))
    assert value(found, "fleetwatch_supervisor_last_event_timestamp_seconds", host="pi1") == NOW - 40
    assert value(found, "fleetwatch_host_clock_offset_seconds", host="pi1") == 300


def test_an_unreachable_host_is_down_keeps_its_last_success_time_and_shows_no_stale_values() -> None:
    poll = dataclasses.replace(failed_poll("pi2", Stage.CONNECT, ok_at=NOW - 600), facts=facts())
    found = scrape(fleet([poll]))
    assert value(found, "fleetwatch_host_up", host="pi2") == 0
    assert value(found, "fleetwatch_host_state", host="pi2", state="unreachable") == 1
    assert value(found, "fleetwatch_host_last_success_timestamp_seconds", host="pi2") == NOW - 600
    assert not [k for k in found if k[0] == "fleetwatch_host_disk_used_ratio"]


def test_never_polled_and_stale_hosts_are_down_and_say_why() -> None:
    old = ok_poll("pi-old", at=NOW - 3600)
    found = scrape(fleet([old], hosts=[HostEntry("pi-old"), HostEntry("pi-new")]))
    assert value(found, "fleetwatch_host_up", host="pi-new") == 0
    assert value(found, "fleetwatch_host_state", host="pi-new", state="never_polled") == 1
    assert value(found, "fleetwatch_host_up", host="pi-old") == 0
    assert value(found, "fleetwatch_host_state", host="pi-old", state="unknown") == 1
    assert value(found, "fleetwatch_host_disk_used_ratio", host="pi-old") is None
    assert value(found, "fleetwatch_poll_duration_seconds", host="pi-old") is None


def test_a_host_that_answered_gibberish_is_up_but_unknown() -> None:
    poll = HostPoll("pi3", NOW, ok_at=NOW, facts=facts(understood=False, problem="peek crashed"))
    found = scrape(fleet([poll]))
    assert value(found, "fleetwatch_host_up", host="pi3") == 1
    assert value(found, "fleetwatch_host_state", host="pi3", state="unknown") == 1


def test_open_alerts_are_series_with_detector_and_severity_and_muted_ones_say_why() -> None:
    status = fleet(
        [failed_poll("pi2", Stage.AUTH), ok_poll("pi1")],
        [
            ep("pi2", "remote_giveup", Severity.CRITICAL),
            ep("pi2", "disk_warning"),
            ep("pi1", "oauth_fail", Severity.CRITICAL),
            ep("pi1", "clock_skew"),
        ],
        silences=[silence("pi1", "clock_skew", ack=False), silence("pi1", "oauth_fail", ack=True)],
    )
    found = scrape(status)
    active = {
        dict(labels)["detector"]: v
        for (name, labels), v in found.items()
        if name == "fleetwatch_alert_active"
    }
    assert active == {"remote_giveup": 1, "disk_warning": 1, "oauth_fail": 1, "clock_skew": 1}
    assert (
        value(found, "fleetwatch_alert_active", host="pi2", detector="remote_giveup", severity="critical")
        == 1
    )
    assert (
        value(found, "fleetwatch_alert_muted", host="pi2", detector="disk_warning", reason="inhibited") == 1
    )
    assert value(found, "fleetwatch_alert_muted", host="pi1", detector="clock_skew", reason="silenced") == 1
    assert (
        value(found, "fleetwatch_alert_muted", host="pi1", detector="oauth_fail", reason="acknowledged") == 1
    )
    assert (
        value(found, "fleetwatch_alert_muted", host="pi2", detector="remote_giveup", reason="inhibited")
        is None
    )
    assert value(found, "fleetwatch_status_code") == 2
    started = value(
        found,
        "fleetwatch_alert_started_timestamp_seconds",
        host="pi1",
        detector="oauth_fail",
        severity="critical",
    )
    assert started == NOW - 100


def test_a_host_that_left_the_fleet_leaves_the_scrape_at_the_next_pass() -> None:
    exposed = Exposed(fleet([ok_poll("pi1"), ok_poll("pi2")]))
    assert value(samples(render(exposed, lifetime=True)), "fleetwatch_host_up", host="pi2") == 1
    exposed.show(fleet([ok_poll("pi1")]))
    after = samples(render(exposed, lifetime=True))
    assert not [k for k in after if dict(k[1]).get("host") == "pi2"]


def test_every_status_help_says_its_values_are_from_the_latest_pass() -> None:
    text = render(
        Exposed(fleet([ok_poll("pi1")]), PassStats().after(PassFinished(1, NOW, 1.0, 1, 0))), lifetime=True
    )
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    lifetime = {"fleetwatch_pass_duration_seconds", "fleetwatch_transitions", "fleetwatch_pass_gaps"}
    lifetime |= {"fleetwatch_notifications_sent", "fleetwatch_notifications_failed", "fleetwatch_build_info"}
    for name, family in families.items():
        if name in lifetime:
            continue
        assert "latest pass" in family.documentation, name


def test_counters_end_in_total_and_only_counters_do() -> None:
    status = fleet([ok_poll("pi1")])
    status = dataclasses.replace(status, hosts=(dataclasses.replace(status.hosts[0], spend_today_usd=1.25),))
    text = render(Exposed(status, PassStats().after(PassFinished(1, NOW, 1.0, 1, 2))), lifetime=True).decode()
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    for name, kind in types.items():
        assert name.endswith("_total") == (kind == "counter"), (name, kind)


def test_spend_is_a_counter_of_todays_spend_and_absent_for_a_host_that_recorded_none() -> None:
    status = fleet([ok_poll("pi1"), ok_poll("pi2")])
    status = dataclasses.replace(
        status, hosts=(dataclasses.replace(status.hosts[0], spend_today_usd=3.5), status.hosts[1])
    )
    found = scrape(status)
    assert value(found, "fleetwatch_spend_usd_total", host="pi1") == 3.5
    assert (
        value(found, "fleetwatch_spend_usd_total", host="pi2") is None
    )  # nothing recorded: nothing invented
    text = render(Exposed(status), lifetime=True).decode()
    assert "# TYPE fleetwatch_spend_usd_total counter" in text and "restarts from 0 at midnight" in text


def test_pass_counters_count_the_watchers_events_and_a_textfile_leaves_them_out() -> None:
    stats = PassStats()
    for event in (
        PassFinished(1, NOW, 2.0, 3, 4),
        GapDetected(9000.0),
        PassFinished(2, NOW, 1.0, 3, 1),
        DeliveriesFlushed(2, 1),
    ):
        stats = stats.after(event)
    found = scrape(fleet([ok_poll("pi1")]), stats)
    assert value(found, "fleetwatch_pass_duration_seconds_count") == 2
    assert value(found, "fleetwatch_pass_duration_seconds_sum") == 3.0
    assert value(found, "fleetwatch_last_pass_duration_seconds") == 1.0
    assert value(found, "fleetwatch_transitions_total") == 5
    assert value(found, "fleetwatch_pass_gaps_total") == 1
    assert value(found, "fleetwatch_notifications_sent_total") == 2
    assert value(found, "fleetwatch_notifications_failed_total") == 1
    cron = scrape(fleet([ok_poll("pi1")]), stats, lifetime=False)
    assert value(cron, "fleetwatch_last_pass_duration_seconds") == 1.0
    assert not [k for k in cron if k[0].endswith(("_total", "_count", "_sum"))]


def test_promtool_accepts_a_full_rendering() -> None:
    status = fleet(
        [failed_poll("pi2", Stage.CONNECT, ok_at=NOW - 600), ok_poll("pi1")],
        [ep("pi2", "remote_giveup", Severity.CRITICAL), ep("pi2", "disk_warning")],
        hosts=[HostEntry("pi1", ("lab",)), HostEntry("pi2"), HostEntry("pi3")],
    )
    status = dataclasses.replace(
        status, hosts=(dataclasses.replace(status.hosts[0], spend_today_usd=3.5), *status.hosts[1:])
    )
    text = render(Exposed(status, PassStats().after(PassFinished(1, NOW, 1.0, 3, 2))), lifetime=True)
    lint = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is missing: run .ci/install-system-deps (Debian package prometheus)")
    return found


# -- the textfile ------------------------------------------------------------------------------------


def test_the_textfile_is_replaced_atomically_and_readable_by_node_exporter(tmp_path: Path) -> None:
    path = tmp_path / "textfiles" / "fleetwatch.prom"
    path.parent.mkdir()
    path.write_text("old\n")
    os.chmod(path, 0o600)
    write_textfile(path, Exposed(fleet([ok_poll("pi1")])))
    assert value(samples(path.read_text()), "fleetwatch_host_up", host="pi1") == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["fleetwatch.prom"]


def test_an_unwritable_textfile_is_a_config_error_naming_it_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere/x\.prom: cannot write the metrics file"):
        write_textfile(tmp_path / "nowhere" / "x.prom", Exposed(fleet([ok_poll("pi1")])))
    target = tmp_path / "is-a-dir.prom"
    target.mkdir()
    with pytest.raises(ConfigError, match="cannot write the metrics file"):
        write_textfile(target, Exposed(fleet([ok_poll("pi1")])))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "is-a-dir.prom"]


# -- the HTTP endpoint --------------------------------------------------------------------------------


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def test_metrics_are_served_on_a_free_port_and_each_scrape_renders_the_current_status() -> None:
    server = serve_metrics("127.0.0.1:0", fleet([ok_poll("pi1")]))
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/metrics")
        first = samples(get(server.url))
        assert value(first, "fleetwatch_host_up", host="pi1") == 1
        assert value(first, "process_resident_memory_bytes") is not None  # the watcher's own health
        server.record(PassFinished(1, NOW, 0.5, 1, 0))
        server.show(fleet([failed_poll("pi1", Stage.CONNECT)]))
        results: list[Samples] = []
        threads = [
            threading.Thread(target=lambda: results.append(samples(get(server.url)))) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [value(r, "fleetwatch_host_up", host="pi1") for r in results] == [0, 0, 0, 0]
        assert value(results[0], "fleetwatch_pass_duration_seconds_count") == 1
    finally:
        server.close()


def test_before_the_first_pass_only_fleetwatch_itself_is_described() -> None:
    server = serve_metrics("127.0.0.1:0")
    try:
        found = samples(get(server.url))
        assert value(found, "fleetwatch_build_info", version=__import__("fleetwatch").__version__) == 1
        assert not [k for k in found if k[0] == "fleetwatch_host_up"]
    finally:
        server.close()


def test_a_taken_port_or_a_bad_address_is_a_config_error_that_says_what_to_do() -> None:
    server = serve_metrics("127.0.0.1:0")
    try:
        taken = server.url.split(":")[2].split("/")[0]
        with pytest.raises(
            ConfigError,
            match=rf"cannot serve metrics on 127.0.0.1:{taken} \(Address already in use\): .*port 0",
        ):
            serve_metrics(f"127.0.0.1:{taken}")
    finally:
        server.close()
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        serve_metrics("9464")
