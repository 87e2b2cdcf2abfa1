"""A private Prometheus and Alertmanager (Debian packages) for the integration suite.

Each listens on 127.0.0.1 on a free port, keeps its data in a temp dir and is started from the files in
``contrib/prometheus/`` with only what a test must change (targets, ports, fast intervals); the system
services are never touched.  ``stop`` ends the process (SIGTERM, then SIGKILL) even when a test failed,
and a failing wait shows the server's own log.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.integration.receivers import LOOPBACK, free_port

CONTRIB = Path(__file__).parents[2] / "contrib" / "prometheus"


def binary(name: str) -> str:
    """The path of a Debian-packaged tool; fails (never skips) when it is missing: CI must have it."""
    found = shutil.which(name)
    if found is None:
        raise AssertionError(
            f"{name} is missing: run .ci/install-system-deps (prometheus, prometheus-alertmanager)"
        )
    return found


class Server:
    """One private server process with an HTTP API on ``url``."""

    name = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = root / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0) -> None:
        """Start it and wait until its ``/-/ready`` answers."""
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        self.wait(f"{self.name} to be ready", self._ready, timeout_s)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait(self, what: str, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Poll ``condition``; fail with the server's log when it exits or the time is up."""
        end = time.monotonic() + timeout_s
        while not condition():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) waiting for {what}\n{self.tail()}"
                )
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}\n{self.tail()}")
            time.sleep(0.25)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def get(self, path: str, **params: str) -> Any:
        """GET a JSON API path."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: Any) -> None:
        request = urllib.request.Request(
            f"{self.url}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.read()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


class Alertmanager(Server):
    """``prometheus-alertmanager`` with contrib's route and inhibition; receivers point at ``webhook``."""

    name = "alertmanager"

    def __init__(self, root: Path, webhook: str) -> None:
        super().__init__(root)
        config = yaml.safe_load((CONTRIB / "alertmanager.yml").read_text())
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", ()):
                hook["url"] = webhook
        self.config = root / "alertmanager.yml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))

    def argv(self) -> list[str]:
        return [
            binary("prometheus-alertmanager"),
            f"--config.file={self.config}",
            f"--storage.path={self.root / 'am-data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--cluster.listen-address=",  # no gossip: a single private instance
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``/api/v2/alerts`` (active, silenced and inhibited alike), filtered by label equality."""
        params = [("filter", f'{k}="{v}"') for k, v in filters.items()]
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?{query}", timeout=10) as response:
            return list(json.loads(response.read()))


class Prometheus(Server):
    """``prometheus`` with contrib's scrape config and rules, scraping ``target`` every second."""

    name = "prometheus"

    def __init__(self, root: Path, target: str, alertmanager: str) -> None:
        super().__init__(root)
        config = yaml.safe_load((CONTRIB / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
        config["rule_files"] = [str(CONTRIB / name) for name in config["rule_files"]]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
        [job] = [j for j in config["scrape_configs"] if j["job_name"] == "fleetwatch"]
        job["static_configs"][0]["targets"] = [target]
        config["scrape_configs"] = [job]  # no node_exporter here
        self.config = root / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        check = subprocess.run(
            [binary("promtool"), "check", "config", str(self.config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

    def argv(self) -> list[str]:
        return [
            binary("prometheus"),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.root / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        answer = self.get("/api/v1/query", query=promql)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])
