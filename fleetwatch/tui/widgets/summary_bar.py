"""The fleet summary on top: counts by state, the status code, whether the watcher can see, the last
pass, the polls in flight, undelivered notifications, and the modes that change what keys do."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from fleetwatch.basics import human_duration
from fleetwatch.status import ExitCode, FleetStatus
from fleetwatch.tui.columns import STATE_STYLES, WORST_FIRST
from fleetwatch.tui.messages import FleetInfo, PassSummary
from fleetwatch.tui.report import Notice

_CODE_STYLES = {
    ExitCode.OK: "bold green",
    ExitCode.WARNING: "bold black on yellow",
    ExitCode.CRITICAL: "bold white on red",
    ExitCode.UNKNOWN: "bold black on cyan",
}


@dataclass(frozen=True)
class Summary:
    """Everything the bar shows, as the App knows it."""

    now: float
    status: FleetStatus | None
    info: FleetInfo | None
    last_pass: PassSummary | None
    polling: int = 0
    """Hosts whose poll of the running pass has not ended."""
    polling_since: float | None = None
    shown: int | None = None
    """Rows left by the filter (None: no filter)."""
    wide: bool = True
    """Room for the last pass's details."""
    failure: Notice | None = None
    """Why the watcher could not be opened, or why it stopped."""


def summary_text(s: Summary) -> Text:
    """Two lines: the fleet's counts and status; the watcher, passes and notifications."""
    status = s.status
    if s.failure is not None:
        return Text(
            f"{s.failure.title}: {s.failure.text}\nNothing can be watched: q quits.", style="bold red"
        )
    if status is None:
        return Text("fleetwatch: opening the state store and the fleet…", style="italic")
    head = Text()
    watched = len(status.watched)
    head.append(f"{watched} host{'s' if watched != 1 else ''}: ", style="bold")
    parts = [(f" {status.count(st)} {st} ", STATE_STYLES[st]) for st in WORST_FIRST if status.count(st)]
    for i, part in enumerate(parts):
        if i:
            head.append(" ")
        head.append(*part)
    disabled = len(status.hosts) - watched
    if disabled:
        head.append(f" (+{disabled} disabled)", style="dim")
    head.append("  ")
    head.append(f" {status.code.name} ", _CODE_STYLES[status.code])

    line = Text()
    if s.shown is not None:
        line.append(f"{s.shown} shown by the filter · ", style="bold italic")
    if status.watcher_offline:
        line.append("watcher OFFLINE", style="bold red")
    elif status.blind:
        line.append("watcher blind", style="bold yellow")
    else:
        line.append("watcher online", style="green")
    if s.polling and s.polling_since is not None:
        line.append(f" · polling {s.polling} host{'s' if s.polling != 1 else ''}… ", style="italic")
        line.append(human_duration(max(0.0, s.now - s.polling_since)), style="italic")
    if status.last_pass_at is None:
        line.append(" · no pass yet")
    else:
        line.append(f" · last pass {human_duration(max(0.0, s.now - status.last_pass_at))} ago")
        if s.last_pass is not None and s.wide:
            p = s.last_pass
            changes = f", {p.transitions} change{'s' if p.transitions != 1 else ''}" if p.transitions else ""
            line.append(f" (#{p.number}, {p.seconds:.1f} s{changes})", style="dim")
    if s.info is not None:
        line.append(f" · every {human_duration(s.info.interval_s)}")
    line.append(" · ")
    line.append_text(_backlog(status, s.info))
    if s.info is not None:
        if s.info.dry_run:
            line.append("  DRY RUN", style="bold yellow")
        if s.info.read_only:
            line.append("  READ-ONLY", style="bold cyan")
    head.append("\n")
    head.append_text(line)
    return head


def _backlog(status: FleetStatus, info: FleetInfo | None) -> Text:
    waiting = sum(b.pending + b.failed for b in status.backlog)
    failing = sum(1 for b in status.backlog if b.failed or not b.configured)
    if waiting:
        text = Text(f"{waiting} notification{'s' if waiting != 1 else ''} undelivered", style="bold yellow")
        if failing:
            text.append(f" ({failing} target{'s' if failing != 1 else ''} failing)", style="bold red")
        return text
    if info is not None and not info.targets:
        return Text("no notification targets", style="dim")
    return Text("notifications delivered")


class SummaryBar(Static):
    """The two summary lines over the fleet table."""

    def show(self, summary: Summary) -> None:
        """Render ``summary`` (only when it reads differently: the bar is updated every second)."""
        text = summary_text(summary)
        if text != getattr(self, "_last", None):
            self._last = text
            self.update(text)
