"""The remote edge of auto-stop: ``agent-runner stop`` on one host, then a fresh peek to prove it.

``agent-runner stop`` exits 0 whether or not serve is gone (it SIGTERMs, waits up to 5 s and returns
even while serve drains its round or sleeps out a rate-limit back-off), so a stop that returned is
never taken as success: the real probe runs again and its ``service`` block decides.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from enum import Enum

from fleetwatch.actions.plan import MANUAL, AuditRecord, Outcome, StopPlan, clock
from fleetwatch.errors import HostError, Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.probe.poll import poll_host
from fleetwatch.snapshot import Peek, Snapshot
from fleetwatch.transport import CommandResult, Transport

# argv: RUNNER CONFIG_OR_EMPTY.  Inventory paths may start with ~/, which only the host can expand
# (agent-runner does not expand --config itself), so a fixed script does it, as locate.sh does.
STOP_SCRIPT = """runner=$1 config=$2
case $runner in "~/"*) runner=$HOME/${runner#"~/"} ;; esac
case $config in "~/"*) config=$HOME/${config#"~/"} ;; esac
if ! command -v "$runner" >/dev/null 2>&1; then
  echo "agent-runner not found at $runner on $(hostname) (PATH=$PATH)" >&2
  exit 127
fi
if [ -n "$config" ]; then exec "$runner" --config "$config" stop; fi
exec "$runner" stop
"""


class Service(Enum):
    """What a peek says about serve."""

    GONE = "gone"
    RUNNING = "running"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ActionOutcome:
    """What one auto-stop (or a later re-verification of it) found; also the audit row's new state."""

    host: str
    detector: str
    reason: str
    episode_started_at: float
    argv: tuple[str, ...]
    where: str
    outcome: Outcome
    detail: str
    started_at: float
    finished_at: float
    dry_run: bool
    reverified: bool = False
    """True when this is a later pass re-checking an earlier draining stop (nothing was run)."""
    previous: Outcome | None = None
    """The outcome stored before this re-verification: notify only when ``outcome`` differs."""
    record_id: int | None = None

    @classmethod
    def from_record(
        cls, record: AuditRecord, outcome: Outcome, detail: str, *, reverified: bool
    ) -> ActionOutcome:
        """The outcome for an audited stop; a re-verification keeps the stored outcome as ``previous``."""
        return cls(
            host=record.host,
            detector=record.detector,
            reason=record.reason,
            episode_started_at=record.episode_started_at,
            argv=record.argv,
            where=record.where,
            outcome=outcome,
            detail=detail,
            started_at=record.started_at,
            finished_at=time.time(),
            dry_run=record.dry_run,
            reverified=reverified,
            previous=record.outcome if reverified else None,
            record_id=record.id,
        )

    @property
    def command(self) -> str:
        """The argv as one shell-quoted line, for people."""
        return shlex.join(self.argv)

    @property
    def summary(self) -> str:
        """One line for notifications and the TUI."""
        why = "" if self.detector == MANUAL else f" for {self.detector}"
        return f"{self.host} {self.kind}{why}: {self.outcome} — {self.detail}"

    @property
    def kind(self) -> str:
        """``auto-stop``, or ``stop`` when a person asked for it."""
        return "stop" if self.detector == MANUAL else "auto-stop"


def stop_argv(host: Host, snapshot: Snapshot | None) -> tuple[str, ...]:
    """``agent-runner [--config C] stop``; the runner the probe found, else the inventory's, else PATH's."""
    runner = (snapshot.runner if snapshot is not None else None) or host.settings.runner or "agent-runner"
    config = host.settings.config
    return (runner, "--config", config, "stop") if config else (runner, "stop")


def stop_command(argv: tuple[str, ...]) -> str:
    """The shell line sent over SSH for ``argv`` (from ``stop_argv``): every word quoted."""
    runner = argv[0]
    config = argv[2] if len(argv) == 4 else ""
    return shlex.join(["sh", "-c", STOP_SCRIPT, "fleetwatch-stop", runner, config])


def where_of(target: SshTarget) -> str:
    """``user@hostname:port`` (plus the jump hosts), the audit's "where"."""
    where = f"{target.user}@{target.hostname}:{target.port}"
    return f"{where} via {target.proxy_jump}" if target.proxy_jump else where


def _busy(peek: Peek) -> str:
    """What a serve that outlived its SIGTERM is busy with, from peek's rate limit and newest events."""
    limit = peek.service.get("rate_limit")
    until = limit.get("throttled_until_epoch") if isinstance(limit, dict) else None
    if isinstance(until, int | float) and not isinstance(until, bool):
        return f", in a rate-limit back-off until {clock(float(until))}"
    # peek drops rate_limit once the reset has passed, but serve still sleeps out 5-30 s of jitter.
    for event in reversed(peek.events):
        if event.kind == "transient_error_detected":
            return ", sleeping out a rate-limit back-off"
        if event.kind == "round_start":
            return f", finishing round {event.data.get('round_num')}"
        if event.kind in ("round_end", "transient_error_recovered"):
            break
    return ""


def service_state(result: Snapshot | PollFailure) -> tuple[Service, str]:
    """Whether the peek in ``result`` shows serve gone or running, in words."""
    if isinstance(result, PollFailure):
        return Service.UNKNOWN, f"the verifying peek failed at {result.stage}: {result.message}"
    if result.runner is None:
        return Service.UNKNOWN, "the verifying probe no longer finds agent-runner"
    if result.peek is None:
        return Service.UNKNOWN, f"the verifying peek is unusable: {result.peek_error}"
    service = result.peek.service
    if "active" not in service:
        return Service.UNKNOWN, "peek reports no service state (agent-runner too old?)"
    mode = service.get("mode")
    if service.get("active"):
        return (
            Service.RUNNING,
            f"serve (pid {service.get('pid')}, {mode}) is still running{_busy(result.peek)}",
        )
    if mode == "none":
        return Service.GONE, "peek shows serve gone (no serve.pid)"
    if mode == "pid_file":
        return Service.GONE, "peek shows serve gone (stale serve.pid)"
    return Service.GONE, f"peek shows the {mode} service inactive"


def _said(result: CommandResult) -> str:
    """The remote's own last words: agent-runner reports on stderr (``stopped (5.0s)``, tracebacks)."""
    for text in (result.stderr, result.stdout):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if lines:
            return lines[-1][:200]
    return "no output"


async def execute(
    transport: Transport,
    host: Host,
    snapshot: Snapshot | None,
    plan: StopPlan,
    *,
    dry_run: bool,
    timeout: float,
) -> ActionOutcome:
    """Stop serve on ``host`` and verify with a fresh probe; never raises for what the host does."""
    argv = stop_argv(host, snapshot)
    where = where_of(host.target)
    started = time.time()

    def done(outcome: Outcome, detail: str) -> ActionOutcome:
        return ActionOutcome(
            host=plan.host,
            detector=plan.detector,
            reason=plan.reason,
            episode_started_at=plan.episode_started_at,
            argv=argv,
            where=where,
            outcome=outcome,
            detail=detail,
            started_at=started,
            finished_at=time.time(),
            dry_run=dry_run,
        )

    line = shlex.join(argv)
    if dry_run:
        return done(
            Outcome.DRY_RUN, f"would run `{line}` on {where} (~ is the remote $HOME); nothing was run"
        )
    session_failed = False
    try:
        result = await transport.run(host.target, stop_command(argv), timeout)
    except HostError as err:
        if err.stage is not Stage.COMMAND:
            return done(Outcome.FAILED, f"nothing was run: {err.stage} failed: {err.reason}")
        # The command may have reached the host before the session broke: let a peek tell.
        session_failed, said = True, f"the SSH session of `{line}` failed ({err.reason})"
    else:
        if result.exit_status != 0:
            how = (
                f"exited {result.exit_status}" if result.exit_status is not None else "was killed by a signal"
            )
            return done(Outcome.FAILED, f"`{line}` {how}: {_said(result)}")
        said = f"`{line}` returned after {result.seconds:.1f} s ({_said(result)})"
    state, seen = service_state(await poll_host(transport, host, timeout))
    if state is Service.GONE:
        return done(Outcome.STOPPED, f"{seen}; {said}")
    if session_failed:
        return done(Outcome.FAILED, f"{said}, and {seen}")
    if state is Service.RUNNING:
        return done(
            Outcome.DRAINING,
            f"{said} but {seen}; re-verified on later passes",
        )
    return done(Outcome.UNVERIFIED, f"{said} but {seen}; re-verified on later passes")


async def reverify(
    transport: Transport,
    host: Host,
    record: AuditRecord,
    snapshot: Snapshot | None,
    *,
    now: float,
    timeout: float,
    deadline_s: float,
) -> ActionOutcome:
    """Re-check an unsettled stop: the pass's own snapshot when newer than the stop, else a fresh probe."""
    newer = snapshot is not None and snapshot.received_at > (record.finished_at or record.started_at)
    observed = snapshot if newer and snapshot is not None else await poll_host(transport, host, timeout)
    state, seen = service_state(observed)
    age = max(0.0, now - record.started_at)
    if state is Service.GONE:
        outcome, detail = Outcome.STOPPED, f"{seen} ({age:.0f} s after the stop)"
    elif record.outcome is Outcome.STARTED and state is Service.RUNNING:
        # fleetwatch died mid-stop and serve still runs: the stop may never have been sent.
        outcome, detail = Outcome.FAILED, f"the stop was interrupted (fleetwatch exited mid-action); {seen}"
    elif age >= deadline_s:
        outcome = Outcome.FAILED
        detail = f"did not stop within {deadline_s / 60:g} min: {seen}; stop it by hand (agent-runner kill)"
    elif state is Service.RUNNING:
        outcome, detail = Outcome.DRAINING, f"still draining {age:.0f} s after the stop: {seen}"
    else:
        outcome, detail = Outcome.UNVERIFIED, f"{seen} ({age:.0f} s after the stop)"
    return ActionOutcome.from_record(record, outcome, detail, reverified=True)
