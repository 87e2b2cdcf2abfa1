"""A real Prometheus scrapes a watching fleetwatch over the real-sshd fleet, evaluates contrib's rules and
sends the alerts to a real Alertmanager running contrib's route and inhibition."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Fleet
from tests.integration.prometheus import Alertmanager, Prometheus, binary

pytestmark = pytest.mark.integration

HOSTS = ("pi-healthy", "pi-authfail", "pi-unreachable")


def watch(fleet: Fleet, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, str]:
    """``fleetwatch --metrics-listen 127.0.0.1:0`` on three hosts every second; returns the process, its
    stderr file and the metrics URL it printed."""
    argv = [sys.executable, "-m", "fleetwatch", "--ssh-config", str(fleet.ssh_config)]
    argv += ["--inventory", str(fleet.inventory), "--state-dir", str(tmp_path / "state"), "--json"]
    argv += ["--interval", "1", "--metrics-listen", "127.0.0.1:0"]
    for host in HOSTS:
        argv += ["--host", host]
    err = tmp_path / "fleetwatch.err"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    end = time.monotonic() + 30
    while "serving metrics at " not in err.read_text():
        assert proc.poll() is None and time.monotonic() < end, err.read_text()
        time.sleep(0.1)
    url = err.read_text().split("serving metrics at ")[1].split()[0]
    return proc, err, url


@pytest.fixture
def watching(fleet: Fleet, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    proc, err, url = watch(fleet, tmp_path)
    yield url, err
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_prometheus_sees_the_unreachable_host_down_its_alert_firing_and_alertmanager_inhibits_the_rest(
    fleet: Fleet, tmp_path: Path, watching: tuple[str, Path]
) -> None:
    url, err = watching
    am = Alertmanager(tmp_path, webhook=f"http://127.0.0.1:{fleet.refused_port}/")  # deliveries go nowhere
    prom = Prometheus(tmp_path, url.removeprefix("http://").removesuffix("/metrics"), f"127.0.0.1:{am.port}")
    try:
        am.start()
        prom.start()

        # A real scrape, once a pass has measured the healthy host, passes promtool's lint.
        prom.wait(
            "a pass with pi-healthy's disk measured",
            lambda: 'disk_used_ratio{host="pi-healthy"}' in scrape(url),
        )
        text = scrape(url)
        lint = subprocess.run(
            [binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr + text

        # Prometheus's own API: the unreachable host is down, the healthy one up, and contrib's rules fire.
        prom.wait(
            "pi-unreachable down in Prometheus",
            lambda: bool(prom.query('fleetwatch_host_up{host="pi-unreachable"} == 0')),
        )
        [healthy] = prom.query('fleetwatch_host_up{host="pi-healthy"}')
        assert healthy["value"][1] == "1" and healthy["metric"]["job"] == "fleetwatch"
        [runner] = prom.query('fleetwatch_runner_info{host="pi-healthy"}')
        assert runner["metric"]["version"] == importlib.metadata.version("cli-agent-runner"), runner
        giveup = 'ALERTS{alertname="FleetwatchRemoteGiveup",host="pi-unreachable",alertstate="firing"}'
        prom.wait("FleetwatchRemoteGiveup firing", lambda: bool(prom.query(giveup)), timeout_s=60)
        [alert] = prom.query(giveup)
        assert alert["metric"]["severity"] == "critical" and alert["metric"]["detector"] == "remote_giveup"
        assert "instance" not in alert["metric"]  # dropped, so HA watchers make one alert
        oauth = 'ALERTS{alertname="FleetwatchOauthFail",host="pi-authfail",alertstate="firing"}'
        prom.wait("FleetwatchOauthFail firing", lambda: bool(prom.query(oauth)))

        # Alertmanager received them from Prometheus.  While pi-unreachable is given up on, its other
        # alerts (here: a disk alert from before it went dark) are inhibited; another host's are not.
        am.wait("the give-up in Alertmanager", lambda: bool(am.alerts(alertname="FleetwatchRemoteGiveup")))
        am.wait("oauth_fail in Alertmanager", lambda: bool(am.alerts(alertname="FleetwatchOauthFail")))
        stale = {"alertname": "FleetwatchDiskCritical", "detector": "disk_critical", "severity": "critical"}
        am.post(
            "/api/v2/alerts",
            [{"labels": {**stale, "host": h, "job": "fleetwatch"}} for h in ("pi-unreachable", "pi-healthy")],
        )
        am.wait(
            "the disk alerts in Alertmanager", lambda: len(am.alerts(alertname="FleetwatchDiskCritical")) == 2
        )
        disk = {a["labels"]["host"]: a["status"] for a in am.alerts(alertname="FleetwatchDiskCritical")}
        assert disk["pi-unreachable"]["state"] == "suppressed" and disk["pi-unreachable"]["inhibitedBy"], disk
        assert disk["pi-healthy"]["state"] == "active" and not disk["pi-healthy"]["inhibitedBy"], disk
        [give] = am.alerts(alertname="FleetwatchRemoteGiveup")
        [auth] = am.alerts(alertname="FleetwatchOauthFail")
        assert give["status"]["state"] == "active" and auth["status"]["state"] == "active"

        # Grouped by detector: one group per detector, however many hosts it fires on.
        groups = am.get("/api/v2/alerts/groups")
        keys = sorted(tuple(sorted(g["labels"].items())) for g in groups)
        assert (("alertname", "FleetwatchOauthFail"), ("detector", "oauth_fail")) in keys, keys
    except AssertionError:
        print(f"--- fleetwatch stderr\n{err.read_text()}")
        print(f"--- prometheus\n{prom.tail()}\n--- alertmanager\n{am.tail()}")
        raise
    finally:
        prom.stop()
        am.stop()
