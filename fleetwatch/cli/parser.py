"""The argument parser.  Values left at None fall back to the environment, then the config file.

Each option is defined once (``OPTIONS``) and each command takes only the options it uses, so its
``--help`` offers nothing it would ignore.  Options may come before the command (``fleetwatch
--state-dir D status``); one given there that the command does not use is a usage error.  Usage errors
exit 3 (UNKNOWN), not argparse's 2, which a monitoring system would read as CRITICAL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from fleetwatch import __version__

EXIT_CODES = (
    "exit status (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, "
    "3 UNKNOWN (a usage or config error, or the fleet could not be seen: offline, unreachable, pass deadline)"
)
USAGE_ERROR = 3


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors exiting 3; a ``check`` also says UNKNOWN on stdout for its engine."""

    def error(self, message: str) -> NoReturn:
        if self.prog.endswith(" check"):
            print(f"FLEETWATCH UNKNOWN - usage error: {message}", flush=True)
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"fleetwatch: error: {message} (see {self.prog} --help)\n")


def _strings(p: argparse.ArgumentParser, name: str, metavar: str, help: str, *, many: bool = False) -> None:
    p.add_argument(name, metavar=metavar, action="append" if many else "store", help=help)


def _flag(p: argparse.ArgumentParser, name: str, help: str) -> None:
    p.add_argument(name, action="store_true", default=False, help=help)


OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "config": lambda p: _strings(
        p, "--config", "FILE", "config file (default: $FLEETWATCH_CONFIG or ~/.config/fleetwatch/config.yaml)"
    ),
    "rules": lambda p: _strings(
        p,
        "--rules",
        "PATH",
        "your own detectors: a rule file or a directory of them (repeatable), besides detectors/ next to "
        "the config file and its rules: list (see detectors/README.md)",
        many=True,
    ),
    "ssh_config": lambda p: _strings(
        p, "--ssh-config", "PATH", "OpenSSH client config to read aliases from (default: ~/.ssh/config)"
    ),
    "inventory": lambda p: _strings(
        p, "--inventory", "FILE", "YAML inventory (repeatable); when given, the fleet is its hosts", many=True
    ),
    "ansible_inventory": lambda p: _strings(
        p,
        "--ansible-inventory",
        "PATH",
        "Ansible inventory (repeatable; anything ansible-inventory -i reads): its hosts join the fleet, "
        "its groups are groups, ansible_host/user/port are honoured",
        many=True,
    ),
    "host": lambda p: _strings(p, "--host", "ALIAS", "this host (repeatable)", many=True),
    "group": lambda p: _strings(
        p, "--group", "G", "the hosts of this inventory group (repeatable)", many=True
    ),
    "state_dir": lambda p: _strings(
        p,
        "--state-dir",
        "DIR",
        "state directory (default: $FLEETWATCH_STATE_DIR or ~/.local/state/fleetwatch)",
    ),
    "json": lambda p: _flag(p, "--json", "JSON output (see docs/json.md)"),
    "interval": lambda p: _strings(
        p,
        "--interval",
        "S",
        "time between passes: 60, 90s, 5m (watching: default 60 s; check and status: how often cron runs "
        "check, default 5 min)",
    ),
    "timeout": lambda p: _strings(
        p, "--timeout", "S", "hard deadline per host for connect + command (default 20 s)"
    ),
    "concurrency": lambda p: _strings(p, "--concurrency", "N", "hosts polled at once (default 32)"),
    "notify": lambda p: _strings(
        p,
        "--notify",
        "URL",
        "also notify this Apprise URL, every severity (repeatable; secrets: prefer "
        "the config file or FLEETWATCH_NOTIFY, argv shows in `ps`)",
        many=True,
    ),
    "dry_run": lambda p: _flag(
        p, "--dry-run", "auto-stop: say what would run where, change nothing on the hosts"
    ),
    "once": lambda p: _flag(p, "--once", "one pass, print open alerts, then exit 0/1/2/3"),
    "read_only": lambda p: _flag(
        p, "--read-only", "change nothing: no stop or auto-stop, no ack, silence or unsilence"
    ),
    "demo": lambda p: _flag(p, "--demo", "on the embedded simulated fleet (as `fleetwatch demo`)"),
    "tui": lambda p: _flag(p, "--tui", "open the full-screen TUI on it (as `fleetwatch tui --demo`)"),
    "quiet": lambda p: _flag(p, "--quiet", "no line per pass on stderr (alerts and problems still print)"),
    "utc": lambda p: _flag(p, "--utc", "timestamps in UTC instead of local time"),
    "metrics_listen": lambda p: _strings(
        p,
        "--metrics-listen",
        "HOST:PORT",
        "serve Prometheus metrics of the latest pass at http://HOST:PORT/metrics while watching (port 0: "
        "any free port, printed at start; see contrib/prometheus/)",
    ),
    "metrics_file": lambda p: _strings(
        p,
        "--metrics-file",
        "PATH",
        "after the pass, write its metrics to PATH for node_exporter's textfile collector (atomically "
        "replaced; name it *.prom)",
    ),
    "deadline": lambda p: _strings(
        p,
        "--deadline",
        "S",
        "end the pass after this long, UNKNOWN, naming the hosts still pending (default 60 s; keep it "
        "under cron's period)",
    ),
}
SELECT = ("config", "rules", "ssh_config", "inventory", "ansible_inventory", "host", "group")
RUN = ("interval", "timeout", "concurrency", "notify", "dry_run")
WATCH = ("once", "quiet", "utc")
MAIN = (*SELECT, "state_dir", "json", *RUN, *WATCH, "metrics_listen")


def _command(
    subs: Any, name: str, help: str, options: Sequence[str], *, epilog: str | None = None
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subs.add_parser(name, help=help, description=help, epilog=epilog)
    for option in options:
        OPTIONS[option](p)
    p.set_defaults(_options=frozenset(options))
    # SUPPRESS: an option given before the command survives when the command does not repeat it.
    for action in p._actions:
        if action.dest in options:
            action.default = argparse.SUPPRESS
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = Parser(
        prog="fleetwatch",
        description="Agentless fleet monitor for agent-runner hosts over SSH. "
        "With no command: watch the selected hosts (every enabled host when none is named).",
        epilog=EXIT_CODES,
    )
    parser.add_argument("-V", "--version", action="version", version=f"fleetwatch {__version__}")
    for option in MAIN:
        OPTIONS[option](parser)
    parser.set_defaults(_options=frozenset(MAIN))
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    check = _command(
        subs,
        "check",
        "one pass for cron or a monitoring engine: a plugin status line with perfdata, one line per alert",
        (*SELECT, "state_dir", "json", *RUN, "deadline", "metrics_file"),
        epilog=EXIT_CODES,
    )
    check.add_argument("-V", "--version", action="version", version=f"fleetwatch {__version__}")
    _command(
        subs,
        "status",
        "the fleet as last seen, from the state store: no poll, no notification",
        (*SELECT, "state_dir", "json", "interval"),
        epilog=EXIT_CODES,
    )
    _command(subs, "silences", "list silences and acks in force (who, why, until)", ("state_dir", "json"))
    hist = _command(
        subs,
        "history",
        "one host's metrics over time, from the state store: sparklines, a table",
        ("state_dir", "json", "utc"),
    )
    hist.add_argument("alias", metavar="HOST")
    hist.add_argument("--since", default="24h", metavar="DURATION", help="how far back (default 24h)")
    hist.add_argument(
        "--metric",
        metavar="M[,M…]",
        help="disk, load, latency, reachable, spend, rounds, duration, mem, free, clock, age, round, "
        "serve_active, rate_limited (default: disk,load,latency,reachable,spend,rounds,duration)",
    )
    report = _command(
        subs,
        "report",
        "per host over a period: uptime, rounds, success rate, spend, alerts and how long each was open",
        (*SELECT, "state_dir", "json", "notify", "utc"),
    )
    report.add_argument(
        "--since", default="7d", metavar="DURATION", help="the period, ending now (default 7d)"
    )
    report.add_argument("--send", action="store_true", help="also send it through the notification targets")
    discard = _command(
        subs, "discard-backlog", "drop the undelivered notifications of one target", ("state_dir",)
    )
    discard.add_argument(
        "target", metavar="TARGET", help="the target's URL, or its redacted form as status shows it"
    )
    _command(subs, "hosts", "list the resolved hosts, and whether each is enabled", (*SELECT, "json"))
    trust = _command(
        subs,
        "trust",
        "fetch a host's key, show its fingerprint, record it once confirmed",
        ("config", "ssh_config", "inventory", "ansible_inventory", "timeout"),
    )
    trust.add_argument("alias")
    silence = _command(
        subs,
        "silence",
        "mute HOST[:DETECTOR] notifications for a while",
        ("config", "rules", "ssh_config", "inventory", "ansible_inventory", "state_dir"),
    )
    silence.add_argument("target", metavar="HOST[:DETECTOR]", help="a host of the fleet or a glob (pi*)")
    silence.add_argument("--for", dest="duration", metavar="DURATION", required=True, help="e.g. 2h, 30m, 1d")
    silence.add_argument("--reason", default="", help="why (shown in status and check output)")
    ack = _command(
        subs, "ack", "acknowledge HOST:DETECTOR until its episode resolves", ("config", "rules", "state_dir")
    )
    ack.add_argument("target", metavar="HOST:DETECTOR")
    ack.add_argument("--reason", default="", help="why (shown in status and check output)")
    rules = _command(
        subs, "rules", "your own detectors (detectors/README.md): check rule files, try them", ()
    )
    which = rules.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=Parser, required=True)
    rules_check = _command(
        which,
        "check",
        "validate rule files without polling (for a rules repo's CI); exit 3 when any rule is skipped",
        ("config", "rules", "json"),
    )
    rules_check.add_argument(
        "paths", nargs="*", metavar="PATH", help="rule files or directories (default: the configured rules)"
    )
    rules_test = _command(
        which,
        "test",
        "evaluate rules against a host's latest stored data: what would fire, and why",
        ("config", "rules", "state_dir", "host", "json"),
    )
    rules_test.add_argument(
        "paths", nargs="*", metavar="PATH", help="rule files or directories (default: the configured rules)"
    )
    unsilence = _command(
        subs, "unsilence", "remove a silence or ack by its id (see `silences`)", ("state_dir",)
    )
    unsilence.add_argument("id", type=int)
    _command(subs, "notify-test", "send a test message to every configured target", ("config", "notify"))
    _command(
        subs,
        "demo",
        "run the real pipeline against an embedded simulated fleet",
        (
            "host",
            "group",
            "state_dir",
            "json",
            "interval",
            "timeout",
            "concurrency",
            "dry_run",
            *WATCH,
            "metrics_listen",
            "tui",
        ),
    )
    _command(
        subs,
        "tui",
        "the whole fleet on one full-screen terminal UI: drill in, ack, silence, stop, ssh",
        (*SELECT, "state_dir", *RUN, "read_only", "demo", "metrics_listen"),
    )
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line; an option given before a command that does not use it is a usage error."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = _subparsers(parser).get(args.command, parser)
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is not None:
        main_defaults = {a.dest: a.default for a in parser._actions}
        for dest in sorted(set(MAIN) - args._options):
            if getattr(args, dest, None) != main_defaults.get(dest):
                flag = "--" + dest.replace("_", "-")
                command.error(f"{flag} does not apply to `fleetwatch {args.command}`")
    return args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
