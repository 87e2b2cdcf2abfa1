"""The heartbeat really reaches a local HTTP endpoint, and its secret never shows in errors."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from fleetwatch.errors import NotifyError
from fleetwatch.heartbeat import ping


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[str], list[int]]]:
    hits: list[str] = []
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits, status
    server.shutdown()


def test_ping_requests_the_url(endpoint: tuple[str, list[str], list[int]]) -> None:
    base, hits, _ = endpoint
    ping(f"{base}/ping/5e3a-secret")
    assert hits == ["/ping/5e3a-secret"]


def test_failed_ping_is_reported_without_the_secret(endpoint: tuple[str, list[str], list[int]]) -> None:
    base, _, status = endpoint
    status[0] = 503
    with pytest.raises(NotifyError) as err:
        ping(f"{base}/ping/5e3a-secret")
    assert "503" in str(err.value) and "5e3a-secret" not in str(err.value)


def test_unreachable_heartbeat_is_one_line_without_the_secret() -> None:
    with pytest.raises(NotifyError) as err:
        ping("http://127.0.0.1:9/ping/5e3a-secret", timeout=2)
    assert "5e3a-secret" not in str(err.value) and "\n" not in str(err.value)


def test_only_healthchecks_style_urls_get_start_and_fail() -> None:
    from fleetwatch.heartbeat import Signal, signal_url

    hc = "https://hc-ping.com/5e3a"
    assert (signal_url(hc, Signal.START), signal_url(hc, Signal.FAIL)) == (f"{hc}/start", f"{hc}/fail")
    assert (
        signal_url("http://127.0.0.1:8000/ping/abc/", Signal.START) == "http://127.0.0.1:8000/ping/abc/start"
    )
    plain = "https://example.invalid/alive?key=1"
    assert signal_url(plain, Signal.START) is None and signal_url(plain, Signal.SUCCESS) == plain
