"""Apprise URLs carry secrets: redacted in every output, error and report line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.errors import NotifyError
from fleetwatch.findings import Severity
from fleetwatch.notify import apprise_edge
from fleetwatch.notify.apprise_edge import redact, scrub, send
from fleetwatch.notify.model import Target
from fleetwatch.notify.outbox import Outbox
from fleetwatch.notify.sender import flush, send_test
from fleetwatch.store import Store

# Real-looking URLs; each secret is a distinctive string that must never be printed.
URLS = {
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general": [
        "A1BRTD4JD",
        "TIiajkdnlazkcOXrIdevi7FQ",
    ],
    "tgram://123456789:AAH-Secret-Token-XYZ/987654321": ["AAH-Secret-Token-XYZ"],
    "mailto://alerts:Pa55w0rd-s3cret@smtp.example.com?to=ops@example.com": ["Pa55w0rd-s3cret"],
    "mailtos://alerts:Pa55w0rd-s3cret@smtp.example.com:465?mode=ssl": ["Pa55w0rd-s3cret"],
    "json://hooks.example.com/notify?token=abcd1234supersecret": ["abcd1234supersecret"],
    "json://hooks.example.com/notify?-token=abcd1234supersecret&+Authorization=Bearer%20xyzSecret99": [
        "abcd1234supersecret",
        "xyzSecret99",
    ],
    "jsons://hooks.example.com/services/T0001/B0002/XXXXsecretXXXXyyyy": ["XXXXsecretXXXXyyyy"],
    "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js": ["JHMHI8qBe7bk2ZwO5U711o3dV_js"],
}


@pytest.mark.parametrize(("url", "secrets"), URLS.items())
def test_redacted_urls_keep_the_service_and_hide_the_secrets(url: str, secrets: list[str]) -> None:
    shown = redact(url)
    assert shown.split("://")[0] == url.split("://")[0]
    for secret in secrets:
        assert secret not in shown
        assert secret not in scrub(f"error talking to {url}: {secret} rejected", url)


def test_redaction_keeps_what_identifies_the_target() -> None:
    assert redact("json://127.0.0.1:8080/hook?token=s3cr3t") == "json://127.0.0.1:8080/h...k"
    assert redact("mailto://alerts:pw123@smtp.example.com:2525?to=ops@example.com") == (
        "mailto://alerts:****@smtp.example.com:2525/ops%40example.com"
    )


@pytest.mark.parametrize(
    "url", ["bogus://SecretToken123@host", "tgram://NotAValidTokenSecret", "no-scheme-Secret99"]
)
def test_urls_apprise_cannot_read_are_masked_after_the_scheme(url: str) -> None:
    assert "Secret" not in redact(url)
    assert redact(url) in ("bogus://****", "tgram://****", "****")


@pytest.mark.parametrize("url", ["tgram://NotAValidTokenSecret", "bogus://user:SecretPw99@example.com"])
def test_send_errors_for_unusable_urls_never_carry_the_secret(url: str) -> None:
    with pytest.raises(NotifyError) as err:
        send(url, "t", "b", Severity.CRITICAL)
    assert "Secret" not in str(err.value) and "Secret" not in repr(err.value)
    assert "not a usable Apprise URL" in str(err.value)


def test_flush_reports_a_crashing_sender_without_the_secret(tmp_path: Path) -> None:
    url = "json://hooks.example.com/notify?-token=abcd1234supersecret"
    store = Store.open(tmp_path)
    outbox = Outbox(store.connection, [Target(url)])
    ep = Episode("pi1", "disk_critical", Severity.CRITICAL, "96%", "", {}, 0.0, 0.0)
    with store.transaction():
        outbox.record([Transition(Change.OPENED, ep, 0.0)], {}, 0.0)

    def leaky(url: str, title: str, body: str, severity: Severity, kind: str = "") -> None:
        raise RuntimeError(f"could not POST to {url} (token abcd1234supersecret)")

    lines: list[str] = []
    asyncio.run(flush(outbox, lambda: 1.0, send=leaky, report=lambda e: lines.append(str(e))))
    tests = asyncio.run(send_test([Target(url)], 1.0, send=leaky))
    [backlog] = outbox.pending_summary(1.0)
    for text in [*lines, *(str(t) for t in tests), repr(backlog)]:
        assert "abcd1234supersecret" not in text, text
    assert "json://hooks.example.com/n...y" in lines[0]


def test_only_the_edge_imports_apprise() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import fleetwatch.notify.model, fleetwatch.notify.messages, fleetwatch.notify.outbox\n"
        "import fleetwatch.notify.sender, fleetwatch.silences\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'apprise')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""  # loaded lazily, on the first send or redaction
    assert apprise_edge.__name__ == "fleetwatch.notify.apprise_edge"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ntfy://127.0.0.1:9/mytopic-secret", "ntfy://127.0.0.1:9/m...t"),
        ("ntfys://mytopic-secret", "ntfys://m...t"),
        ("json://127.0.0.1:9/hooks/supersecret", "json://127.0.0.1:9/h...s/s...t"),
    ],
)
def test_an_ntfy_topic_and_a_webhook_path_are_secrets(url: str, shown: str) -> None:
    # Anyone who knows an ntfy topic can read and post to it; a webhook's path is often its token.
    assert redact(url) == shown
    last = url.rsplit("/", 1)[-1]
    assert "secret" not in scrub(f"sending to {url} failed: 404 for {last}", url)
