"""The fleetwatch TUI: the App, its keys and its workers.

The watcher runs in a thread worker (``Backend``); its messages update ``UiState`` and the screens render
from it: the fleet table once per pass, keyed.  Actions ask the backend through futures from async
workers (``exclusive=True, exit_on_error=False``: an error becomes a notification, never the end of the
App); dangerous ones ask first.  No traceback ever reaches the screen: they go to ``tui-errors.log``.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState, get_current_worker

from fleetwatch.cli.render import alert_note, format_alert
from fleetwatch.errors import FleetwatchError
from fleetwatch.snapshot import Snapshot
from fleetwatch.tui import bugs, prefs
from fleetwatch.tui.backend import Backend, Opener, Options
from fleetwatch.tui.bugs import guarded
from fleetwatch.tui.columns import BY_KEY
from fleetwatch.tui.history import History
from fleetwatch.tui.messages import (
    AlertLogRead,
    BackendFailed,
    BackendStarted,
    BackendStopped,
    PassStarted,
    SnapshotReceived,
    StatusRead,
    TroubleMet,
    WatcherReported,
)
from fleetwatch.tui.prefs import View
from fleetwatch.tui.report import Notice, of_error, of_event, outcome_level
from fleetwatch.tui.screens.alerts import AlertsScreen
from fleetwatch.tui.screens.fleet import FleetScreen
from fleetwatch.tui.screens.help import HelpScreen
from fleetwatch.tui.screens.host import HostScreen
from fleetwatch.tui.screens.interval import IntervalScreen
from fleetwatch.tui.screens.mute import AckRequest, AckScreen, SilenceRequest, SilenceScreen, UnsilenceScreen
from fleetwatch.tui.screens.stop import StopScreen
from fleetwatch.tui.state import UiState
from fleetwatch.tui.terminal import run_suspended, ssh_argv

T = TypeVar("T")

HOST_ACTIONS = frozenset({"stop", "ack", "silence", "unsilence", "ssh", "copy"})
"""Keys that act on the selected host (the fleet table's cursor, or the detail screen's host)."""


class FleetwatchApp(App[int]):
    """The whole fleet on one screen; drill in, act."""

    CSS_PATH = "fleetwatch.tcss"
    TITLE = "fleetwatch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "poll_now", "Poll"),
        Binding("s", "stop", "Stop"),
        Binding("a", "ack", "Ack"),
        Binding("m", "silence", "Mute"),
        Binding("u", "unsilence", "Unsilence", show=False),
        Binding("e", "ssh", "ssh"),
        Binding("y", "copy", "Copy", show=False),
        Binding("l", "alerts", "Log"),
        Binding("i", "interval", "Interval", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        opener: Opener,
        *,
        options: Options | None = None,
        history: History | None = None,
        clock: Callable[[], float] = time.time,
        view_file: Path | None = None,
        bug_log: Path | None = None,
        end_on: tuple[signal.Signals, ...] = (),
    ) -> None:
        """``end_on``: signals that end the App as ``q`` does (SIGTERM, SIGHUP), so the watcher closes its
        connections and the caller's ``finally`` runs (the demo's temporary keys are removed)."""
        super().__init__()
        self.end_on = end_on
        self.state = UiState(clock, history=history)
        self.view_file = view_file
        self.bug_log = bug_log
        self._view_problem: str | None = None
        self._reported: dict[str, float] = {}
        if view_file is not None:
            self.state.view, self._view_problem = prefs.load(view_file)
        self.backend = Backend(
            opener, replace(options or Options(), bug_log=bug_log), self.post_message, clock
        )

    # --- life cycle ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.end_on:
            loop.add_signal_handler(signum, self.exit)
        self.push_screen(FleetScreen())
        self.set_interval(1.0, self._tick)
        self._run_backend()
        if self._view_problem:
            self.notify(self._view_problem, title="Remembered view", severity="warning", markup=False)

    @work(thread=True, group="backend", exclusive=True, exit_on_error=False, name="watcher")
    def _run_backend(self) -> None:
        self.backend.run(get_current_worker().cancelled_event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            doing = "the watcher stopped" if event.worker.group == "backend" else event.worker.name
            self.report_error(event.worker.error, doing or "")
            if event.worker.group == "backend":  # nothing polls any more: never go on looking fine
                self.state.failure = of_error(event.worker.error, doing)
                self._refresh_views()

    def _handle_exception(self, error: Exception) -> None:
        """The last resort, for an exception that escaped every guard: Textual has already stopped the
        message loop it came from, so the App ends, with one line instead of a traceback over the
        terminal (the traceback goes to the log)."""
        where = bugs.record(self.bug_log, error) if self.bug_log else "no traceback kept"
        self._return_code = 3
        if self._exception is None:  # Pilot re-raises it: a test meets the bug, not a hang
            self._exception = error
            self._exception_event.set()
        said = f"fleetwatch: internal error, the TUI had to stop: {type(error).__name__}: {error} ({where})"
        self._exit_renderables.append(Text(said))
        self._close_messages_no_wait()

    def report_error(self, error: BaseException, doing: str) -> None:
        """A notification with a title per kind of error; a bug's traceback goes to the log, once a
        minute at most for the same bug (a broken refresh would otherwise say it every second)."""
        notice = of_error(error, doing)
        key = f"{notice.title}: {notice.text}"
        now = time.monotonic()
        if now - self._reported.get(key, -math.inf) < 60.0:
            return
        self._reported[key] = now
        if not isinstance(error, FleetwatchError) and self.bug_log is not None:
            notice = replace(notice, text=f"{notice.text} ({bugs.record(self.bug_log, error)})")
        self._notify(notice)

    def _notify(self, notice: Notice, timeout: float | None = None) -> None:
        long = 10.0 if notice.level == "error" else 6.0
        self.notify(
            notice.text, title=notice.title, severity=notice.level, timeout=timeout or long, markup=False
        )

    # --- what the backend reports --------------------------------------------------------------------

    @guarded("backend started")
    def on_backend_started(self, message: BackendStarted) -> None:
        self.state.info = message.info
        self._refresh_views()

    @guarded("backend failed")
    def on_backend_failed(self, message: BackendFailed) -> None:
        self.state.failure = message.notice
        self._notify(message.notice, timeout=30)
        self._refresh_views()

    @guarded("backend stopped")
    def on_backend_stopped(self, message: BackendStopped) -> None:
        self.state.polling.clear()

    @guarded("pass started")
    def on_pass_started(self, message: PassStarted) -> None:
        self.state.pass_started(message.hosts, message.at)
        self._refresh_views()

    @guarded("snapshot received")
    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        result = message.result
        if isinstance(result, Snapshot):
            self.state.polled(message.host, result.latency_s, result)
        else:
            self.state.polled(message.host, result.latency_s, None, failed_at=str(result.stage))
        # Drawn by the next tick, with the others that arrived meanwhile: one table update, not 500.

    @guarded("status read")
    def on_status_read(self, message: StatusRead) -> None:
        self.state.status_read(message.status, message.after, message.ended)
        self._refresh_views()
        if message.ended:
            for screen in self.screen_stack:
                if isinstance(screen, HostScreen):
                    screen.after_pass()

    @guarded("alert log read")
    def on_alert_log_read(self, message: AlertLogRead) -> None:
        self.state.log_read(message.update)
        if isinstance(self.screen, AlertsScreen):
            self.screen.refresh_view()

    @guarded("watcher reported")
    def on_watcher_reported(self, message: WatcherReported) -> None:
        notice = of_event(message.event)
        if notice is not None:
            self._notify(notice)

    @guarded("trouble met")
    def on_trouble_met(self, message: TroubleMet) -> None:
        self._notify(message.notice)

    @guarded("tick")
    def _tick(self) -> None:
        """Every second: ages in the summary, and the ``polling… 12 s`` cells while a pass is out."""
        screen = self.screen
        if isinstance(screen, FleetScreen):
            screen.refresh_view(summary_only=not self.state.polling)
        elif isinstance(screen, HostScreen):
            screen.refresh_view()  # its ages ("polled 40 s ago", alerts' "for 3 min") move on too

    def _refresh_views(self) -> None:
        """Re-render what is visible: the top screen, and what a dialog leaves visible beneath it."""
        for screen in reversed(self.screen_stack):
            refresh = getattr(screen, "refresh_view", None)
            if refresh is not None:
                refresh()
            if not isinstance(screen, ModalScreen):
                break

    # --- the view ------------------------------------------------------------------------------------

    @guarded("set view")
    def set_view(self, view: View) -> None:
        """The fleet table's sort and filter changed: remember them for the next run."""
        self.state.view = view
        if self.view_file is None:
            return
        problem = prefs.save(self.view_file, view)
        if problem and problem != self._view_problem:
            self._view_problem = problem
            self.notify(problem, title="Remembered view", severity="warning", markup=False)

    @guarded("open host")
    def open_host(self, alias: str) -> None:
        """Show one host's detail."""
        if isinstance(self.screen, HostScreen) and self.screen.alias == alias:
            return
        self.push_screen(HostScreen(alias))

    def selected_host(self) -> str | None:
        """The host the keys act on: the fleet table's cursor, or the detail screen's host."""
        pick = getattr(self.screen, "selected_host", None)
        return pick() if callable(pick) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in HOST_ACTIONS or action in ("poll_now", "alerts", "interval", "help"):
            if isinstance(self.screen, ModalScreen):
                return False  # a dialog is open: its own keys only
            if action in HOST_ACTIONS and not isinstance(self.screen, FleetScreen | HostScreen):
                return False
        return True

    # --- keys ----------------------------------------------------------------------------------------

    def _may(self, what: str) -> bool:
        """False (and says why) when the TUI runs ``--read-only``; the backend refuses too."""
        if self.state.info is not None and self.state.info.read_only:
            self.notify(f"read-only: {what} is disabled (started with --read-only)", title="Read-only")
            return False
        return True

    def _host_or_say(self) -> str | None:
        alias = self.selected_host()
        if alias is None:
            self.notify("No host selected", title="fleetwatch", severity="warning")
        return alias

    @guarded("poll now")
    def action_poll_now(self) -> None:
        """Poll every host now."""
        if self.state.polling:
            n = len(self.state.polling)
            self.notify(
                f"A pass is running: {n} host{'s' if n != 1 else ''} still out", title="Poll", timeout=3
            )
            return
        self.backend.poll_now()
        self.notify("Polling now", title="Poll", timeout=2)

    @guarded("alerts")
    def action_alerts(self) -> None:
        """The alert log."""
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    @guarded("help")
    def action_help(self) -> None:
        """Keys, states, columns, filter syntax."""
        self.push_screen(HelpScreen())

    @guarded("copy")
    def action_copy(self) -> None:
        """Copy the host's alert lines (OSC 52)."""
        alias = self._host_or_say()
        h = self.state.host(alias) if alias else None
        if h is None:
            return
        lines = [
            format_alert(a.episode, "firing", a.episode.started_at, False, alert_note(a)) for a in h.alerts
        ]
        lines = lines or [f"{h.alias}: {h.state} — {h.why}"]
        self.copy_to_clipboard("\n".join(lines))
        n = len(lines)
        self.notify(
            f"{n} line{'s' if n != 1 else ''} about {h.alias} copied (through your terminal, OSC 52)",
            title="Copied",
            timeout=3,
            markup=False,
        )

    @guarded("ssh")
    def action_ssh(self) -> None:
        """Open ``ssh ALIAS`` in this terminal; the TUI comes back when it ends."""
        alias = self._host_or_say()
        if alias is not None and self.state.info is not None:
            self._ssh(alias)

    @work(group="terminal", exclusive=True, exit_on_error=False)
    async def _ssh(self, alias: str) -> None:
        assert self.state.info is not None
        argv = ssh_argv(alias, self.state.info.ssh_config)
        ended = await run_suspended(self, argv)
        self._refresh_views()
        line = f"ssh {alias}"
        if ended.error is not None:
            self.notify(f"{line}: {ended.error}", title="ssh", severity="error", markup=False)
        elif ended.status:
            self.notify(f"{line} exited {ended.status}", title="ssh", severity="warning", markup=False)
        else:
            self.notify(f"{line} ended", title="ssh", timeout=3, markup=False)

    async def _ask(self, doing: str, job: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``job`` in the backend; None (and a notification) when it failed."""
        try:
            return await asyncio.wrap_future(self.backend.call(job))
        except Exception as exc:
            self.report_error(exc, doing)
            return None

    @guarded("stop")
    def action_stop(self) -> None:
        """Stop agent-runner on the host, after showing exactly what runs where."""
        alias = self._host_or_say()
        if alias is not None and self._may("stopping agent-runner"):
            self._stop(alias)

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _stop(self, alias: str) -> None:
        preview = await self._ask("stop", lambda: self.backend.stop_preview(alias))
        if preview is None:
            return
        if not await self.push_screen_wait(StopScreen(preview)):
            self.notify(f"Stop of {alias} cancelled: nothing was run", title="Stop", timeout=3)
            return
        self.notify(f"Stopping agent-runner on {alias}…", title="Stop", timeout=3)
        outcome = await self._ask("stop", lambda: self.backend.stop(alias))
        if outcome is not None:
            title = f"Stop: {outcome.outcome}"
            self._notify(Notice(title, outcome.summary, outcome_level(str(outcome.outcome))), timeout=10)

    @guarded("ack")
    def action_ack(self) -> None:
        """Acknowledge one of the host's open alerts until it resolves."""
        alias = self._host_or_say()
        h = self.state.host(alias) if alias else None
        if h is None or not self._may("acknowledging"):
            return
        open_ = [a for a in h.alerts if not (a.muted_by is not None and a.muted_by.ack)]
        if not open_:
            self.notify(f"{h.alias} has no unacknowledged alert", title="Ack", timeout=3)
            return
        self._ack(h.alias, AckScreen(h.alias, open_))

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _ack(self, alias: str, dialog: AckScreen) -> None:
        asked = await self.push_screen_wait(dialog)
        if not isinstance(asked, AckRequest):
            return
        done = await self._ask("ack", lambda: self.backend.ack(alias, asked.detector, asked.reason))
        if done is not None:
            self.notify(
                f"{done.target} acknowledged until it resolves (#{done.id})", title="Ack", markup=False
            )

    @guarded("silence")
    def action_silence(self) -> None:
        """Silence the host, or one of its alerts, for a while."""
        alias = self._host_or_say()
        h = self.state.host(alias) if alias else None
        if h is not None and self._may("silencing"):
            self._silence(h.alias, SilenceScreen(h.alias, h.alerts))

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _silence(self, alias: str, dialog: SilenceScreen) -> None:
        asked = await self.push_screen_wait(dialog)
        if not isinstance(asked, SilenceRequest):
            return
        done = await self._ask(
            "silence", lambda: self.backend.silence(alias, asked.detector, asked.seconds, asked.reason)
        )
        if done is not None:
            from fleetwatch import silences

            text = f"{silences.describe(done, self.state.clock())}"
            self.notify(text, title="Silenced", markup=False)

    @guarded("unsilence")
    def action_unsilence(self) -> None:
        """Remove a silence or ack that covers the host."""
        alias = self._host_or_say()
        status = self.state.status
        if alias is None or status is None or not self._may("removing a silence"):
            return
        covering = [s for s in status.silences if fnmatchcase(alias, s.host)]
        if not covering:
            self.notify(f"No silence or ack covers {alias}", title="Unsilence", timeout=3)
            return
        self._unsilence(alias, UnsilenceScreen(alias, covering, self.state.clock()))

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _unsilence(self, alias: str, dialog: UnsilenceScreen) -> None:
        asked = await self.push_screen_wait(dialog)
        if not isinstance(asked, int):
            return
        removed = await self._ask("unsilence", lambda: self.backend.unsilence(asked))
        if removed is not None:
            said = f"#{asked} removed" if removed else f"#{asked} was already gone"
            self.notify(said, title="Unsilence", timeout=3)

    @guarded("interval")
    def action_interval(self) -> None:
        """Change the polling interval."""
        if self.state.info is not None:
            self._interval(self.state.info.interval_s)

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _interval(self, current: float) -> None:
        seconds = await self.push_screen_wait(IntervalScreen(current))
        if seconds is None or self.state.info is None:
            return
        self.backend.set_interval(seconds)
        self.state.info = replace(self.state.info, interval_s=seconds)
        self._refresh_views()
        self.notify(f"polling every {seconds:g} s from now on", title="Interval", timeout=3)

    # --- the command palette -------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield SystemCommand("Poll now", "Poll every host now (r)", self.action_poll_now)
        yield SystemCommand("Change the polling interval", "How often to poll (i)", self.action_interval)
        yield SystemCommand(
            "Stop agent-runner", "On the selected host, after confirmation (s)", self.action_stop
        )
        yield SystemCommand(
            "Acknowledge an alert", "On the selected host, until it resolves (a)", self.action_ack
        )
        yield SystemCommand(
            "Silence", "The selected host or one of its alerts, for a while (m)", self.action_silence
        )
        yield SystemCommand(
            "Remove a silence or ack", "Covering the selected host (u)", self.action_unsilence
        )
        yield SystemCommand("ssh to the host", "Suspend the TUI and open ssh ALIAS (e)", self.action_ssh)
        yield SystemCommand(
            "Copy alerts", "The selected host's alert lines, via OSC 52 (y)", self.action_copy
        )
        yield SystemCommand("Alert log", "Episodes, notifications, actions, silences (l)", self.action_alerts)
        yield SystemCommand("Help", "Keys, states, columns, filter syntax (?)", self.action_help)
        if isinstance(screen, HostScreen):
            yield SystemCommand(
                "Plot window", "1 h, 24 h or 7 d of history in the plots (w)", screen.action_window
            )
        if isinstance(screen, FleetScreen):
            yield SystemCommand(
                "Filter the fleet", "By host, group, state or alert (/)", screen.action_filter
            )
            yield SystemCommand("Reverse the sort", "(O)", screen.action_sort_reverse)
            for key in screen.table.column_keys:
                label = BY_KEY[key].label
                yield SystemCommand(f"Sort by {label}", BY_KEY[key].help, lambda key=key: screen.sort_by(key))
        yield from super().get_system_commands(screen)
