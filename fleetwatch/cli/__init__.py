"""Command line: ``fleetwatch [--host H] [--once]``, ``check``, ``status``, ``silences``, ``hosts``,
``trust``, ``silence``, ``ack``, ``unsilence``, ``discard-backlog``, ``notify-test``, ``demo``, ``tui``,
``rules``.

Data goes to stdout (text or ``--json``); one-line ``fleetwatch: …`` diagnostics go to stderr;
exit codes follow the monitoring-plugin convention (``status.ExitCode``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from fleetwatch.cli.alerts import cmd_ack, cmd_notify_test, cmd_silence, cmd_unsilence
from fleetwatch.cli.history import cmd_history, cmd_report
from fleetwatch.cli.hosts import cmd_hosts, cmd_trust
from fleetwatch.cli.output import diag, out
from fleetwatch.cli.parser import build_parser, parse
from fleetwatch.cli.render import JSON_SCHEMA, plugin_text
from fleetwatch.cli.rules import cmd_rules
from fleetwatch.cli.status import cmd_discard_backlog, cmd_silences, cmd_status
from fleetwatch.cli.tui import cmd_tui
from fleetwatch.cli.watch import cmd_check, cmd_demo, cmd_watch
from fleetwatch.errors import FleetwatchError
from fleetwatch.status import ExitCode

__all__ = ["build_parser", "main"]

COMMANDS: dict[str | None, Callable[[argparse.Namespace], ExitCode]] = {
    None: cmd_watch,
    "check": cmd_check,
    "status": cmd_status,
    "silences": cmd_silences,
    "history": cmd_history,
    "report": cmd_report,
    "discard-backlog": cmd_discard_backlog,
    "hosts": cmd_hosts,
    "trust": cmd_trust,
    "silence": cmd_silence,
    "ack": cmd_ack,
    "unsilence": cmd_unsilence,
    "notify-test": cmd_notify_test,
    "demo": lambda args: cmd_tui(args) if getattr(args, "tui", False) else cmd_demo(args),
    "tui": cmd_tui,
    "rules": cmd_rules,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fleetwatch`` console script."""
    args = parse(argv)
    try:
        return int(COMMANDS[args.command](args))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (cli.output.run): an orderly end
        if args.command == "check" or getattr(args, "once", False):
            # A one-shot judgement that did not finish saw nothing: never OK to whoever reads its status.
            if args.command == "check":
                out(["FLEETWATCH UNKNOWN - interrupted before the pass finished"])
            diag("interrupted before the pass finished: nothing was judged")
            return int(ExitCode.UNKNOWN)
        return int(ExitCode.OK)
    except FleetwatchError as exc:
        if args.command == "check":  # a monitoring engine shows stdout: say UNKNOWN there, and why
            line = f"FLEETWATCH UNKNOWN - {plugin_text(str(exc))}"
            if getattr(args, "json", False):  # a script reading --json gets JSON, whatever went wrong
                doc = {"schema": JSON_SCHEMA, "status": "UNKNOWN", "summary": line, "error": str(exc)}
                line = json.dumps(doc, ensure_ascii=False)
            out([line])
        diag(str(exc))
        return int(ExitCode.UNKNOWN)
