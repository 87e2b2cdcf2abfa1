"""The argument parser.  Values left at None fall back to the environment, then the config file."""

from __future__ import annotations

import argparse

from fleetwatch import __version__


def _selection(p: argparse.ArgumentParser, sub: bool) -> None:
    # In subcommands the defaults are SUPPRESSed so a flag given before the subcommand survives.
    d = argparse.SUPPRESS if sub else None
    p.add_argument(
        "--config",
        metavar="FILE",
        default=d,
        help="config file (default: $FLEETWATCH_CONFIG or ~/.config/fleetwatch/config.yaml)",
    )
    p.add_argument(
        "--ssh-config",
        metavar="PATH",
        default=d,
        help="OpenSSH client config to read aliases from (default: ~/.ssh/config)",
    )
    p.add_argument(
        "--inventory",
        metavar="FILE",
        action="append",
        default=d,
        help="YAML inventory (repeatable); when given, the fleet is its hosts",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        default=d,
        help="state directory (default: $FLEETWATCH_STATE_DIR or ~/.local/state/fleetwatch)",
    )
    p.add_argument("--host", metavar="ALIAS", action="append", default=d, help="poll this host (repeatable)")
    p.add_argument("--group", metavar="G", action="append", default=d, help="poll this inventory group")
    p.add_argument("--json", action="store_true", default=d if sub else False, help="JSON output")


def _run(p: argparse.ArgumentParser, sub: bool) -> None:
    d = argparse.SUPPRESS if sub else None
    p.add_argument(
        "--once",
        action="store_true",
        default=d if sub else False,
        help="one pass, print open alerts, exit 0/1/2/3 (OK/WARNING/CRITICAL/UNKNOWN)",
    )
    p.add_argument(
        "--interval",
        metavar="S",
        default=d,
        help="time between passes: 60, 90s, 5m (default 60; for `check`: how often cron runs it)",
    )
    p.add_argument(
        "--timeout", metavar="S", default=d, help="hard deadline per host for connect + command (default 20)"
    )
    p.add_argument(
        "--concurrency", type=int, metavar="N", default=d, help="hosts polled at once (default 32)"
    )
    p.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        default=d,
        help="also notify this Apprise URL, every severity (repeatable)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=d if sub else False,
        help="auto-stop: say what would run where, change nothing on the hosts",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="fleetwatch",
        description="Agentless fleet monitor for agent-runner hosts over SSH. "
        "With no command: watch the selected hosts (every host when none is named).",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch {__version__}")
    _selection(parser, sub=False)
    _run(parser, sub=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = subs.add_parser("check", help="one pass for cron: summary line with perfdata, exit 0/1/2/3")
    _selection(check, sub=True)
    _run(check, sub=True)
    status = subs.add_parser(
        "status", help="the fleet as last seen, from the state store: no poll; exit 0/1/2/3 on what it shows"
    )
    _selection(status, sub=True)
    status.add_argument(
        "--interval",
        metavar="S",
        default=argparse.SUPPRESS,
        help="how often passes run (watch interval or cron period; default: learned from the store, at least "
        "5m): a poll older than 3 of these is shown stale",
    )
    silences = subs.add_parser("silences", help="list silences and acks in force (who, why, until)")
    _selection(silences, sub=True)
    discard = subs.add_parser(
        "discard-backlog", help="drop the undelivered notifications of one target (as `status` shows it)"
    )
    discard.add_argument("target", metavar="TARGET", help="the target's URL, or its redacted form")
    _selection(discard, sub=True)
    hosts = subs.add_parser("hosts", help="list the resolved hosts, and whether each is enabled")
    _selection(hosts, sub=True)
    trust = subs.add_parser(
        "trust", help="fetch a host's key, show its fingerprint, record it once confirmed"
    )
    trust.add_argument("alias")
    _selection(trust, sub=True)
    silence = subs.add_parser("silence", help="mute HOST[:DETECTOR] notifications for a while")
    silence.add_argument("target", metavar="HOST[:DETECTOR]")
    silence.add_argument("--for", dest="duration", metavar="DURATION", required=True, help="e.g. 2h, 30m, 1d")
    silence.add_argument("--reason", default="", help="why (shown in check output)")
    _selection(silence, sub=True)
    ack = subs.add_parser("ack", help="acknowledge HOST:DETECTOR until its episode resolves")
    ack.add_argument("target", metavar="HOST:DETECTOR")
    ack.add_argument("--reason", default="", help="why (shown in check output)")
    _selection(ack, sub=True)
    unsilence = subs.add_parser("unsilence", help="remove a silence or ack by its id (see `check`)")
    unsilence.add_argument("id", type=int)
    _selection(unsilence, sub=True)
    test = subs.add_parser("notify-test", help="send a test message to every configured target")
    _selection(test, sub=True)
    _run(test, sub=True)
    demo = subs.add_parser("demo", help="run the real pipeline against an embedded simulated fleet")
    _selection(demo, sub=True)
    _run(demo, sub=True)
    return parser
