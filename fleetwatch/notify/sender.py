"""Send what the outbox holds: due deliveries, oldest first, each marked sent as soon as it went out.

Safe as a background task of a watch loop: a delivery failure is reported and backed off, never
raised, and it never blocks polling (Apprise is synchronous, so each send runs in a thread).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from fleetwatch.basics import human_duration, iso
from fleetwatch.errors import NotifyError, StateError
from fleetwatch.events import DeliveriesPaused, DeliveryFailed, DeliveryLapsed
from fleetwatch.findings import Severity
from fleetwatch.notify import apprise_edge
from fleetwatch.notify.messages import compose_text
from fleetwatch.notify.model import Notification, Target
from fleetwatch.notify.outbox import LEASE_S, Delivery, Outbox

SEND_TIMEOUT_S = 60.0
"""Bound on one send, well inside the outbox lease so no other process takes over a live send."""
LATE_S = 120.0
"""A notification sent this long after it was stored says so (it waited for the network)."""
assert SEND_TIMEOUT_S < LEASE_S


class SendFn(Protocol):
    """Deliver one message to one URL or raise NotifyError (``apprise_edge.send``)."""

    def __call__(self, url: str, title: str, body: str, severity: Severity, kind: str = "") -> None: ...


@dataclass(frozen=True)
class FlushResult:
    """What one flush did."""

    sent: int
    failed: int


@dataclass(frozen=True)
class TestResult:
    """One target's answer to ``notify-test``."""

    target: str
    """The redacted URL."""
    error: str | None
    """None when the message went out."""


Report = Callable[[DeliveryFailed | DeliveryLapsed | DeliveriesPaused], None]


def _stderr(event: DeliveryFailed | DeliveryLapsed | DeliveriesPaused) -> None:
    print(f"fleetwatch: {event}", file=sys.stderr, flush=True)


def _late(n: Notification, now: float) -> Notification:
    """Say so when a notification waited (offline, or its target was down)."""
    if now - n.created_at < LATE_S:
        return n
    note = f"(Queued {iso(n.created_at)}, sent {human_duration(now - n.created_at)} late.)"
    return replace(n, body=f"{n.body}\n\n{note}")


async def _send_one(send: SendFn, url: str, n: Notification, timeout: float) -> str | None:
    """The redacted error, or None when the message went out."""
    try:
        await asyncio.wait_for(asyncio.to_thread(send, url, n.title, n.body, n.severity, n.kind), timeout)
    except NotifyError as exc:
        return str(exc)
    except TimeoutError:
        # The thread may still finish: at worst this message arrives twice, never zero times.
        return f"sending to {apprise_edge.redact(url)} got no answer within {timeout:g} s"
    except Exception as exc:  # a plugin bug must not stop the other deliveries
        return apprise_edge.scrub(f"sending to {apprise_edge.redact(url)} failed: {exc!r}", url)
    return None


async def _pause_for_tests() -> None:
    """Test hook: stop between "stored" and "sent" so a test can SIGKILL the process right there."""
    if os.environ.get("FLEETWATCH_TEST_PAUSE_AT") == "after-store":
        Path(os.environ["FLEETWATCH_TEST_PAUSE_FILE"]).write_text("paused\n")
        await asyncio.sleep(60)


async def flush(
    outbox: Outbox,
    now_fn: Callable[[], float] = time.time,
    *,
    send: SendFn = apprise_edge.send,
    report: Report = _stderr,
    limit: int = 50,
    timeout: float = SEND_TIMEOUT_S,
) -> FlushResult:
    """Send every due delivery, oldest first; report failures (one line each) instead of raising."""
    await _pause_for_tests()
    total = FlushResult(0, 0)
    for _ in range(1000):  # each round sends or backs off all it claimed; bounded all the same
        try:
            batch = outbox.claim_due(now_fn(), limit)
            done = await _deliver(outbox, batch, now_fn, send, report, timeout)
        except (
            sqlite3.Error,
            StateError,
        ) as exc:  # e.g. locked by a long pass: what was claimed is retried later
            report(DeliveriesPaused(str(exc)))
            break
        total = FlushResult(total.sent + done.sent, total.failed + done.failed)
        if len(batch) < limit:
            break
    return total


async def _deliver(
    outbox: Outbox,
    batch: Sequence[Delivery],
    now_fn: Callable[[], float],
    send: SendFn,
    report: Report,
    timeout: float,
) -> FlushResult:
    """Send one claimed batch in order; the first failure for a target backs off the rest of its queue."""
    sent = failed = 0
    down: set[str] = set()
    for i, d in enumerate(batch):
        if d.target_url in down:
            continue  # mark_failed released it with the rest of this target's queue
        try:
            error = await _send_one(send, d.target_url, _late(d.notification, now_fn()), timeout)
        except asyncio.CancelledError:
            # Shutting down: hand back what was not tried yet so the next run need not wait for the
            # lease; the send in flight keeps its claim (it may have gone out).
            outbox.release(batch[i + 1 :])
            raise
        if error is None:
            sent += 1
            if not outbox.mark_sent(d, now_fn()):
                report(DeliveryLapsed(apprise_edge.redact(d.target_url), d.notification.title))
            continue
        failed += 1
        down.add(d.target_url)
        now = now_fn()
        retry_at = outbox.mark_failed(d, error, now)
        report(
            DeliveryFailed(
                target=apprise_edge.redact(d.target_url),
                title=d.notification.title,
                error=error,
                waiting=outbox.waiting(d.target_url),
                retry_in_s=retry_at - now,
                attempt=d.attempts + 1,
            )
        )
    return FlushResult(sent, failed)


async def send_test(
    targets: Sequence[Target],
    now: float,
    *,
    send: SendFn = apprise_edge.send,
    timeout: float = SEND_TIMEOUT_S,
) -> list[TestResult]:
    """Send a test message to every target (filters ignored) at once; one result per target."""
    n = compose_text(
        "test",
        Severity.INFO,
        "fleetwatch test message",
        f"fleetwatch on {socket.gethostname()} can reach this target ({iso(now)}).\n"
        "Alerts will arrive here as they open, escalate, remind and resolve.",
        (),
        now,
    )
    errors = await asyncio.gather(*(_send_one(send, t.url, n, timeout) for t in targets))
    return [TestResult(apprise_edge.redact(t.url), e) for t, e in zip(targets, errors, strict=True)]
