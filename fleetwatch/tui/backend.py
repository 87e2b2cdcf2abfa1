"""The watcher's own thread: passes, actions and state-store reads, off the UI's event loop.

The App starts ``Backend.run`` in a thread worker.  Everything that touches SSH or SQLite lives here,
in this thread's event loop: a hung host, a state database busy with a cron ``check`` (SQLite waits
up to 30 s for a writer) or a slow pass over 500 hosts never blocks a keypress.  What happens is posted
to the App as immutable messages (``fleetwatch.tui.messages``); the App asks for actions with ``call``,
which returns a future it awaits.  The App stopping cancels the worker, which closes the watcher
(finishing sends, closing connections) and the state store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from textual.message import Message

from fleetwatch import silences
from fleetwatch.actions import ActionOutcome, AutoStopPolicy, run_manual_stop
from fleetwatch.actions.audit import Audit
from fleetwatch.actions.stop import stop_argv, where_of
from fleetwatch.basics import Duration, whoami
from fleetwatch.errors import FleetwatchError
from fleetwatch.events import DeliveriesFlushed, WatcherEvent
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host
from fleetwatch.pipeline import PassResult
from fleetwatch.silences import Silence
from fleetwatch.snapshot import Snapshot
from fleetwatch.status import FleetStatus
from fleetwatch.tui import bugs
from fleetwatch.tui.messages import (
    AlertLogRead,
    BackendFailed,
    BackendStarted,
    BackendStopped,
    FleetInfo,
    LogUpdate,
    PassStarted,
    PassSummary,
    SnapshotReceived,
    StatusRead,
    TroubleMet,
    WatcherReported,
)
from fleetwatch.tui.report import Notice, of_error
from fleetwatch.watcher import Watcher

T = TypeVar("T")

Opener = Callable[[AsyncExitStack], Awaitable[Watcher]]
"""Opens the watcher (and whatever it needs, e.g. the demo fleet) in the backend's loop; what it
enters in the stack is closed when the backend stops."""

ACTIONS_SHOWN_S = 7 * 86400.0
"""How far back the alert log lists stop actions."""
TRANSITIONS_KEPT = 500
DELIVERIES_SHOWN = 200


class Publisher(Protocol):
    """Something that shows the fleet status outside the screen too (the Prometheus ``/metrics``
    endpoint): called from the backend's thread, with every status the TUI reads and every event."""

    def show(self, status: FleetStatus) -> None: ...

    def record(self, event: WatcherEvent) -> None: ...


@dataclass(frozen=True)
class Options:
    """How the TUI may act."""

    dry_run: bool = False
    """Stops (manual and auto) say what they would run where and run nothing."""
    read_only: bool = False
    """Nothing changes a host or mutes an alert: no stop, auto-stop, ack, silence or unsilence."""
    autopoll: bool = True
    """Poll every interval; False: only when asked (``r``), for tests that need a still picture."""
    bug_log: Path | None = None
    """Where tracebacks go (never to the screen)."""
    publish: Publisher | None = None
    """Also given every status and watcher event (``--metrics-listen``)."""


@dataclass(frozen=True)
class StopPreview:
    """Exactly what a stop would run, and where, before anyone confirms it."""

    host: str
    argv: tuple[str, ...]
    where: str
    dry_run: bool


class ReadOnlyError(FleetwatchError):
    """An action refused because the TUI runs ``--read-only``."""


class Backend:
    """One watcher in a thread of its own; ``post`` delivers messages to the App (thread-safe)."""

    def __init__(
        self,
        opener: Opener,
        options: Options,
        post: Callable[[Message], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._opener = opener
        self.options = options
        self._post = post
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: Watcher | None = None
        self._wake: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._closing = False
        self._forced = False
        self._interval: float | None = None
        self._latest: dict[str, Snapshot] = {}
        self._last_transition = 0

    # --- the thread --------------------------------------------------------------------------------

    def run(self, cancelled: threading.Event) -> None:
        """The worker thread's body: until ``cancelled`` is set (the App stopping) or ``close``."""
        asyncio.run(self._main(cancelled))

    async def _main(self, cancelled: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        watch = asyncio.create_task(self._watch_cancel(cancelled))
        try:
            async with AsyncExitStack() as stack:
                opening: asyncio.Future[Watcher] = asyncio.ensure_future(self._opener(stack))
                closing = asyncio.ensure_future(self._closed.wait())
                racing: list[asyncio.Future[Any]] = [opening, closing]
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                closing.cancel()
                if not opening.done():  # the App closed while opening hung (a slow ssh -G, a stuck demo)
                    opening.cancel()
                    await asyncio.gather(opening, return_exceptions=True)
                    return
                try:
                    watcher = opening.result()
                except Exception as exc:
                    self._post(BackendFailed(self._notice(exc, "opening the watcher")))
                    return
                stack.push_async_callback(watcher.close)
                if self.options.read_only:
                    watcher.config = replace(watcher.config, auto_stop=AutoStopPolicy())
                watcher.emit = self._reported
                self._watcher = watcher
                self._interval = watcher.settings.interval_s
                self._post(BackendStarted(self._info(watcher)))
                self._read()
                await self._passes()
        finally:
            watch.cancel()
            self._post(BackendStopped())

    async def _watch_cancel(self, cancelled: threading.Event) -> None:
        while not cancelled.is_set():
            await asyncio.sleep(0.1)
        self._poke(closing=True)

    def _info(self, w: Watcher) -> FleetInfo:
        return FleetInfo(
            aliases=tuple(w.fleet.names),
            where={h.alias: where_of(h.target) for h in w.fleet.hosts},
            ssh_config=w.fleet.ssh_config,
            state_dir=w.store.path.parent,
            interval_s=w.settings.interval_s,
            targets=len(w.outbox.targets),
            dry_run=self.options.dry_run,
            read_only=self.options.read_only,
        )

    async def _passes(self) -> None:
        assert self._wake is not None and self._loop is not None
        next_at = self._loop.time()
        started = next_at
        while True:
            wait = max(0.0, next_at - self._loop.time()) if self.options.autopoll else None
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if self._closing:
                return
            due = self.options.autopoll and self._loop.time() >= next_at
            if self._forced or due:
                self._forced = False
                started = self._loop.time()
                await self._one_pass()
            next_at = started + (self._interval or 60.0)

    async def _one_pass(self) -> None:
        w = self._watcher
        assert w is not None
        number = w.passes + 1
        self._post(PassStarted(number, tuple(h.alias for h in w.fleet.hosts), self.clock()))
        try:
            result = await w.run_pass(on_polled=self._polled)
        except Exception as exc:
            self._trouble(exc, "polling")
            self._read(ended=True)  # the pass is over: the status says what the store still holds
            return
        if result is None:  # the state store could not take it: the watcher said why, and keeps it
            self._read(ended=True)
            return
        self._latest.update({o.host: o.snapshot for o in result.observations if o.snapshot is not None})
        status = self._read(result, PassSummary(number, result.seconds, len(result.transitions)))
        try:
            blind = status.blind if status is not None else None
            await w.after_pass(result, dry_run=self.options.dry_run, background=True, blind=blind)
        except Exception as exc:
            self._trouble(exc, "after the pass")
        self._read_log()

    def _polled(self, host: str, result: Snapshot | PollFailure) -> None:
        self._post(SnapshotReceived(host, result))

    def _reported(self, event: WatcherEvent) -> None:
        if self.options.publish is not None:
            self.options.publish.record(event)
        self._post(WatcherReported(event))
        if isinstance(event, DeliveriesFlushed):
            self._read_log()

    def _status(self, after: PassResult | None = None) -> FleetStatus:
        w = self._watcher
        assert w is not None
        return w.status(after, now=self.clock())

    def _read(
        self, after: PassResult | None = None, summary: PassSummary | None = None, *, ended: bool = False
    ) -> FleetStatus | None:
        """Post the status (and the alert log) as the state store holds them now; the status, or None
        when it could not be read."""
        try:
            status = self._status(after)
            if self.options.publish is not None:
                self.options.publish.show(status)
            self._post(StatusRead(status, summary, ended=ended))
        except Exception as exc:
            self._trouble(exc, "reading the state store")
            return None
        self._read_log()
        return status

    def _read_log(self) -> None:
        w = self._watcher
        assert w is not None
        try:
            new = w.store.transitions_since(self._last_transition)[-TRANSITIONS_KEPT:]
            deliveries = w.outbox.recent(DELIVERIES_SHOWN)
            actions = Audit(w.store.connection, w.store.path.parent).since(self.clock() - ACTIONS_SHOWN_S)
        except Exception as exc:
            self._trouble(exc, "reading the alert log")
            return
        if new:
            self._last_transition = new[-1][0]
        self._post(AlertLogRead(LogUpdate(tuple(new), tuple(deliveries), tuple(actions))))

    def _notice(self, exc: BaseException, doing: str) -> Notice:
        notice = of_error(exc, doing)
        if not isinstance(exc, FleetwatchError) and self.options.bug_log is not None:
            notice = replace(notice, text=f"{notice.text} ({bugs.record(self.options.bug_log, exc)})")
        return notice

    def _trouble(self, exc: BaseException, doing: str) -> None:
        self._post(TroubleMet(self._notice(exc, doing)))

    # --- asked by the App (any thread) -------------------------------------------------------------

    def _poke(self, *, forced: bool = False, closing: bool = False, interval: float | None = None) -> None:
        """On the backend's loop: wake the pass loop for a forced pass, a new interval or closing."""
        self._forced = self._forced or forced
        self._closing = self._closing or closing
        if closing and self._closed is not None:
            self._closed.set()
        if interval is not None:
            self._interval = interval
            if self._watcher is not None:
                settings = self._watcher.settings
                self._watcher.settings = replace(settings, interval=Duration(interval))
        if self._wake is not None:
            self._wake.set()

    def _threadsafe(self, **what: bool | float) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: self._poke(**what))  # type: ignore[arg-type]

    def poll_now(self) -> None:
        """Run a pass now (after the running one, if any)."""
        self._threadsafe(forced=True)

    def set_interval(self, seconds: float) -> None:
        """Poll every ``seconds`` from now on."""
        self._threadsafe(interval=seconds)

    def call(self, job: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``job`` on the backend's loop; the App awaits the future (``asyncio.wrap_future``)."""
        if self._loop is None or self._watcher is None or self._loop.is_closed():
            raise FleetwatchError("the watcher is not running (yet): try again in a moment")

        async def run() -> T:
            return await job()

        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    # --- actions (run on the backend's loop through ``call``) ----------------------------------------

    def _host(self, alias: str) -> Host:
        w = self._watcher
        assert w is not None
        host = w.fleet.by_alias.get(alias)
        if host is None:
            why = w.fleet.unresolved.get(alias)
            raise FleetwatchError(
                f"{alias} cannot be reached: {why}" if why else f"{alias} is not in this fleet"
            )
        return host

    def _writable(self, what: str) -> None:
        if self.options.read_only:
            raise ReadOnlyError(f"read-only: {what} is disabled (started with --read-only)")

    async def stop_preview(self, alias: str) -> StopPreview:
        """What ``stop`` would run on ``alias``, and where."""
        self._writable("stopping agent-runner")
        host = self._host(alias)
        snapshot = self._latest.get(alias)
        return StopPreview(alias, stop_argv(host, snapshot), where_of(host.target), self.options.dry_run)

    async def stop(self, alias: str) -> ActionOutcome:
        """Stop agent-runner on ``alias`` (audited, verified by a fresh peek); the new status follows."""
        self._writable("stopping agent-runner")
        w = self._watcher
        assert w is not None
        outcome = await run_manual_stop(
            w.transport,
            w.store.connection,
            self._host(alias),
            self._latest.get(alias),
            reason=f"asked for in the TUI by {whoami()}",
            dry_run=self.options.dry_run,
            state_dir=w.store.path.parent,
            timeout=float(w.settings.timeout),
        )
        self._read()
        if not outcome.dry_run:
            self._poke(forced=True)  # a pass now shows the host as it is after the stop
        return outcome

    async def ack(self, alias: str, detector: str, reason: str) -> Silence:
        """Acknowledge the open ``detector`` alert on ``alias`` until it resolves."""
        self._writable("acknowledging")
        w = self._watcher
        assert w is not None
        done = silences.add_ack(w.store.connection, alias, detector, reason, whoami(), self.clock())
        self._read()
        return done

    async def silence(self, host: str, detector: str | None, seconds: float, reason: str) -> Silence:
        """Silence ``host`` (a glob; only ``detector`` if given) for ``seconds``."""
        self._writable("silencing")
        w = self._watcher
        assert w is not None
        now = self.clock()
        done = silences.add_silence(w.store.connection, host, detector, now + seconds, reason, whoami(), now)
        self._read()
        return done

    async def unsilence(self, silence_id: int) -> bool:
        """Remove a silence or ack by id; False when it was already gone."""
        self._writable("removing a silence")
        w = self._watcher
        assert w is not None
        removed = silences.remove(w.store.connection, silence_id)
        self._read()
        return removed
