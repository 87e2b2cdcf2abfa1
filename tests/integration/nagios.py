"""A private Nagios 4 engine for the integration suite: our commands run as its real ``check_command``s.

Everything lives in one directory the caller owns (a pytest tmp dir): the generated ``nagios.cfg`` and
object file, ``status.dat``, the log, the external-command FIFO, the query socket, the check-result spool
and the engine's HOME.  No apache, no system service, no syslog, no retention file, nothing outside it.

* Nagios runs in the foreground as the *current* user (root in CI), with ``nagios_user``/``nagios_group``
  naming that same user, so its privilege drop is a no-op.  Chosen over the Debian ``nagios`` account
  because the checks must read what the test fixtures made under pytest's tmp tree (the ssh client key,
  mode 0600, owned by us; known_hosts; the state dir) and must log in to the fixture sshds, which allow only
  the current user; and because it works unprivileged too.
* Checks run only when forced: ``execute_service_checks=0`` stops Nagios from running its own initial
  schedule, and ``SCHEDULE_FORCED_SVC_CHECK`` through the command FIFO runs a service now (forced checks
  ignore that switch).  So each forced check is exactly one run of the command, and nothing else runs.
* Results are read back from the engine's own ``status.dat`` (rewritten every second), parsed into typed
  records.  Nagios stores the first line's text before ``|`` (stripped, ``;`` turned into ``:``) as
  ``plugin_output``, the other lines as ``long_plugin_output`` with ``\\`` and newlines escaped, and the
  text after every ``|`` (the first line's, and all of the long output from its first ``|`` on), joined
  with spaces and stripped, as ``performance_data``.
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

NAGIOS = Path("/usr/sbin/nagios4")
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""systemd's default PATH for a service: what the packaged nagios4.service hands its checks."""
MARKER = "FLEETWATCH_TEST_NAGIOS"
"""Set in the engine's environment (which every check inherits) so teardown can find stragglers."""


class NagiosError(RuntimeError):
    """The private engine could not be configured, started, driven or read."""


@dataclass(frozen=True)
class Command:
    """A Nagios ``command``: ``line`` is its ``command_line`` (``$HOSTNAME$``, ``$ARG1$`` … expand)."""

    name: str
    line: str


@dataclass(frozen=True)
class Service:
    """A Nagios ``service`` on ``host`` (a host object is generated for every host named)."""

    host: str
    description: str
    check_command: str
    """A command name, optionally with ``!arg1!arg2`` for ``$ARG1$``, ``$ARG2$``."""


@dataclass(frozen=True)
class ServiceStatus:
    """One ``servicestatus`` block of status.dat, the fields these tests read typed."""

    host: str
    description: str
    current_state: int
    state_type: int
    """0 soft, 1 hard."""
    check_type: int
    """0 active (the engine ran the command), 1 passive."""
    has_been_checked: bool
    last_check: int
    execution_time: float
    plugin_output: str
    long_plugin_output: str
    """Unescaped: real newlines and backslashes."""
    performance_data: str
    raw: Mapping[str, str] = field(repr=False)

    @property
    def state(self) -> str:
        """``OK``, ``WARNING``, ``CRITICAL`` or ``UNKNOWN``."""
        return STATES[self.current_state]

    @classmethod
    def from_block(cls, block: Mapping[str, str]) -> ServiceStatus:
        """Type the fields of one parsed block."""
        return cls(
            host=block["host_name"],
            description=block["service_description"],
            current_state=int(block["current_state"]),
            state_type=int(block["state_type"]),
            check_type=int(block["check_type"]),
            has_been_checked=block["has_been_checked"] == "1",
            last_check=int(block["last_check"]),
            execution_time=float(block["check_execution_time"]),
            plugin_output=block["plugin_output"],
            long_plugin_output=unescape(block["long_plugin_output"]),
            performance_data=block["performance_data"],
            raw=dict(block),
        )


@dataclass(frozen=True)
class Status:
    """A parsed status.dat: the program block and every service."""

    program: Mapping[str, str]
    services: Mapping[tuple[str, str], ServiceStatus]


def unescape(value: str) -> str:
    """Undo Nagios' ``escape_newlines``: ``\\\\`` is a backslash, ``\\n`` a newline."""
    return re.sub(r"\\([\\n])", lambda m: "\n" if m.group(1) == "n" else "\\", value)


def parse_status(text: str) -> Status:
    """Parse status.dat: ``kind {`` blocks of ``key=value`` lines (values kept verbatim)."""
    program: dict[str, str] = {}
    services: dict[tuple[str, str], ServiceStatus] = {}
    kind: str | None = None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if kind is None:
            if line.rstrip().endswith("{"):
                kind, fields = line.rstrip()[:-1].strip(), {}
        elif "=" in line:
            key, _, value = line.lstrip().partition("=")
            fields[key] = value
        elif line.strip() == "}":
            if kind == "programstatus":
                program = fields
            elif kind == "servicestatus":
                svc = ServiceStatus.from_block(fields)
                services[svc.host, svc.description] = svc
            kind = None
    return Status(program, services)


def _object(kind: str, **directives: str | int) -> str:
    """One ``define kind { … }`` block; values must fit on a line and hold no ``;`` (a comment there)."""
    lines = [f"define {kind} {{"]
    for key, value in directives.items():
        text = str(value)
        if "\n" in text or ";" in text:
            raise NagiosError(f"{kind} {key} {text!r}: Nagios object values cannot hold ';' or newlines")
        lines.append(f"    {key:<30} {text}")
    return "\n".join([*lines, "}", ""])


class Nagios:
    """One private ``nagios4`` process over a generated config in ``root``."""

    def __init__(self, root: Path, commands: Iterable[Command], services: Iterable[Service]) -> None:
        self.root = root
        self.commands = list(commands)
        self.services = list(services)
        self.cfg = root / "nagios.cfg"
        self.objects = root / "objects.cfg"
        self.status_file = root / "status.dat"
        self.log = root / "nagios.log"
        self.console = root / "nagios.out"
        self.command_file = root / "rw" / "nagios.cmd"
        self.home = root / "home"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- configuration -------------------------------------------------------------------------------

    def main_config(self) -> str:
        """nagios.cfg: every path inside ``root``; no notifications, syslog, retention or own schedule."""
        r = self.root
        settings = {
            "cfg_file": self.objects,
            "log_file": self.log,
            "log_rotation_method": "n",
            "log_archive_path": r / "archives",
            "use_syslog": 0,
            "debug_level": 0,
            "debug_file": r / "nagios.debug",
            "object_cache_file": r / "objects.cache",
            "precached_object_file": r / "objects.precache",
            "status_file": self.status_file,
            "status_update_interval": 1,  # the minimum: a result is in status.dat within a second
            "temp_file": r / "nagios.tmp",
            "temp_path": r / "tmp",
            "lock_file": r / "nagios.pid",
            "check_result_path": r / "checkresults",
            "query_socket": r / "rw" / "nagios.qh",  # the default is under /var/lib/nagios4
            "command_file": self.command_file,
            "check_external_commands": 1,
            "retain_state_information": 0,
            "state_retention_file": r / "retention.dat",
            # See the module docstring: the current user, so the drop to nagios_user changes nothing.
            "nagios_user": getpass.getuser(),
            "nagios_group": grp.getgrgid(os.getegid()).gr_name,
            "execute_service_checks": 0,  # only forced checks run
            "execute_host_checks": 0,
            "accept_passive_service_checks": 0,
            "accept_passive_host_checks": 0,
            "check_service_freshness": 0,
            "check_host_freshness": 0,
            "enable_notifications": 0,
            "enable_event_handlers": 0,
            "enable_flap_detection": 0,
            "process_performance_data": 0,
            "check_for_updates": 0,
            "enable_environment_macros": 0,  # the packaged default: checks see the daemon's environment
            "service_check_timeout": 60,
            "date_format": "iso8601",
            # The Debian defaults, kept so anything these characters upset shows here as it would there.
            "illegal_object_name_chars": "`~!$%^&*|'\"<>?,()=",
            "illegal_macro_output_chars": "`~$&|'\"<>",
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def object_config(self) -> str:
        """Objects: a 24x7 period, a contact nobody pages, the commands, one host per host named, services."""
        always = {day: "00:00-24:00" for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
        always |= {"saturday": "00:00-24:00", "sunday": "00:00-24:00"}
        blocks = [
            _object("timeperiod", timeperiod_name="24x7", alias="always", **always),
            _object("command", command_name="fleetwatch-test-no-op", command_line="/bin/true"),
            _object(
                "contact",
                contact_name="nobody",
                alias="nobody is paged",
                host_notifications_enabled=0,
                service_notifications_enabled=0,
                host_notification_period="24x7",
                service_notification_period="24x7",
                host_notification_options="n",
                service_notification_options="n",
                host_notification_commands="fleetwatch-test-no-op",
                service_notification_commands="fleetwatch-test-no-op",
            ),
        ]
        blocks += [_object("command", command_name=c.name, command_line=c.line) for c in self.commands]
        for host in dict.fromkeys(s.host for s in self.services):
            blocks.append(
                _object(
                    "host",
                    host_name=host,
                    alias=host,
                    address="127.0.0.1",
                    max_check_attempts=1,
                    check_period="24x7",
                    contacts="nobody",
                    notification_period="24x7",
                    notifications_enabled=0,
                )
            )
        for s in self.services:
            blocks.append(
                _object(
                    "service",
                    host_name=s.host,
                    service_description=s.description,
                    check_command=s.check_command,
                    max_check_attempts=1,  # the first result is a HARD state
                    check_interval=5,
                    retry_interval=1,
                    check_period="24x7",
                    contacts="nobody",
                    notification_period="24x7",
                    notifications_enabled=0,
                )
            )
        return "\n".join(blocks)

    def write_config(self) -> None:
        """Write nagios.cfg and objects.cfg and make the directories they name."""
        for sub in ("rw", "tmp", "checkresults", "archives", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.cfg.write_text(self.main_config())
        self.objects.write_text(self.object_config())

    def verify(self) -> str:
        """``nagios4 -v nagios.cfg``; raise with its output unless it found no errors and no warnings."""
        proc = subprocess.run(
            [str(NAGIOS), "-v", str(self.cfg)], capture_output=True, text=True, timeout=60, env=self.env()
        )
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or "Total Warnings: 0" not in out or "Total Errors:   0" not in out:
            raise NagiosError(
                f"nagios4 -v {self.cfg} rejected the generated config (exit {proc.returncode}):\n{out}\n"
                f"--- {self.objects}\n{self.objects.read_text()}"
            )
        return out

    # -- the process ---------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The engine's environment, which every check inherits: a service's, not this test's."""
        # Like the packaged systemd unit gives it (PATH and nothing of ours), plus a HOME of its own in
        # root, as a nagios account has one (/var/lib/nagios): the check must not read or write the real
        # user's ~/.config or ~/.local/state.  No LANG: a system service usually has none.
        return {"PATH": SERVICE_PATH, "HOME": str(self.home), MARKER: str(self.root)}

    def start(self, timeout: float = 30.0) -> None:
        """Write and verify the config, start nagios4 in the foreground, wait until it takes commands."""
        self.write_config()
        self.verify()
        with self.console.open("ab") as sink:
            self.proc = subprocess.Popen(
                [str(NAGIOS), str(self.cfg)],
                cwd=self.root,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,  # its own process group, so teardown reaches only what it started
            )
        self._wait("nagios4 to start and write status.dat", self._ready, timeout)

    def _ready(self) -> bool:
        if not (self.status_file.exists() and self.command_file.exists()):
            return False
        if not stat.S_ISFIFO(self.command_file.stat().st_mode):
            return False
        assert self.proc is not None
        return self.status().program.get("nagios_pid") == str(self.proc.pid)

    def _wait(self, what: str, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise NagiosError(f"nagios4 exited ({code}) while waiting for {what}\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                raise NagiosError(f"timed out after {timeout:g} s waiting for {what}\n{self.diagnostics()}")
            time.sleep(0.1)

    def diagnostics(self) -> str:
        """The engine's console and log tails, for failure messages."""
        parts = []
        for path in (self.console, self.log):
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"--- {path}\n{text[-4000:]}")
        return "\n".join(parts)

    def external_command(self, command: str) -> None:
        """Write one ``[time] COMMAND;args`` line into the engine's command FIFO."""
        line = f"[{int(time.time())}] {command}\n".encode()
        fd = os.open(self.command_file, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO, not a hang, if nobody reads
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def force_check(self, service: Service) -> int:
        """Run ``service``'s check now (``SCHEDULE_FORCED_SVC_CHECK``); return the time it was asked for."""
        now = int(time.time())
        self.external_command(f"SCHEDULE_FORCED_SVC_CHECK;{service.host};{service.description};{now}")
        return now

    def status(self) -> Status:
        """The engine's status.dat as it is now (Nagios replaces it by rename, so a read is whole)."""
        return parse_status(self.status_file.read_text(encoding="utf-8", errors="surrogateescape"))

    def wait_for_result(self, service: Service, since: int, timeout: float = 60.0) -> ServiceStatus:
        """Poll status.dat until ``service`` shows a check started at or after ``since``."""
        found: list[ServiceStatus] = []

        def checked() -> bool:
            svc = self.status().services.get((service.host, service.description))
            if svc is None or not svc.has_been_checked or svc.last_check < since:
                return False
            found.append(svc)
            return True

        self._wait(f"a result of {service.host}/{service.description}", checked, timeout)
        return found[-1]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM nagios4 (SIGKILL if it hangs), then end any worker or check it left running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Workers and checks run in process groups of their own, and Nagios leaves a running check behind
        # when it exits.  Every one of them carries our MARKER: SIGTERM exactly those, then SIGKILL any left.
        _signal_all(_pids_with_env(MARKER, str(self.root)), signal.SIGTERM)
        deadline = time.monotonic() + 3.0
        while (left := _pids_with_env(MARKER, str(self.root))) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_all(left, signal.SIGKILL)


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _pids_with_env(name: str, value: str) -> list[int]:
    """Processes we may signal whose environment holds ``name=value``."""
    wanted = f"{name}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return pids


@contextlib.contextmanager
def running(root: Path, commands: Iterable[Command], services: Iterable[Service]) -> Iterator[Nagios]:
    """A started private engine, stopped on exit even when the body (or the start) failed."""
    engine = Nagios(root, commands, services)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
