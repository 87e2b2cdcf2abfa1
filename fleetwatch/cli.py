"""Command line: ``fleetwatch [--host H] [--once]``, ``hosts``, ``trust``, ``demo``.

Data goes to stdout (text or ``--json``); one-line ``fleetwatch: …`` diagnostics go to stderr;
exit codes follow the monitoring-plugin convention (``report.ExitCode``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetwatch import __version__, paths
from fleetwatch.errors import FleetwatchError, HostError
from fleetwatch.inventory.fleet import load_fleet
from fleetwatch.inventory.model import Host
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.inventory.ssh_config import default_config
from fleetwatch.pipeline import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, PassResult, run_pass
from fleetwatch.report import ExitCode, exit_code, open_lines, transition_lines
from fleetwatch.store import Store
from fleetwatch.transport import Transport


def _diag(message: str) -> None:
    print(f"fleetwatch: {message}", file=sys.stderr, flush=True)


def _out(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, flush=True)


def _add_selection(p: argparse.ArgumentParser, sub: bool) -> None:
    # In subcommands the defaults are SUPPRESSed so a flag given before the subcommand survives.
    d = argparse.SUPPRESS if sub else None
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
    p.add_argument(
        "--json", action="store_true", default=d if sub else False, help="one JSON object per line"
    )


def _add_run(p: argparse.ArgumentParser, sub: bool) -> None:
    d = argparse.SUPPRESS if sub else None
    p.add_argument(
        "--once",
        action="store_true",
        default=d if sub else False,
        help="one pass, print open alerts, exit 0/1/2/3 (OK/WARNING/CRITICAL/UNKNOWN)",
    )
    p.add_argument(
        "--interval",
        type=float,
        metavar="S",
        default=d if sub else 60.0,
        help="seconds between passes in watch mode (default 60)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=d if sub else DEFAULT_TIMEOUT,
        help=f"hard deadline per host for connect + command (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        default=d if sub else DEFAULT_CONCURRENCY,
        help=f"hosts polled at once (default {DEFAULT_CONCURRENCY})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    parser = argparse.ArgumentParser(
        prog="fleetwatch",
        description="Agentless fleet monitor for agent-runner hosts over SSH. "
        "With no command: watch the selected hosts (every host when none is named).",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch {__version__}")
    _add_selection(parser, sub=False)
    _add_run(parser, sub=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    hosts = subs.add_parser("hosts", help="list the resolved hosts")
    _add_selection(hosts, sub=True)
    trust = subs.add_parser(
        "trust", help="fetch a host's key, show its fingerprint, record it once confirmed"
    )
    trust.add_argument("alias")
    _add_selection(trust, sub=True)
    demo = subs.add_parser("demo", help="run the real pipeline against an embedded simulated fleet")
    _add_selection(demo, sub=True)
    _add_run(demo, sub=True)
    return parser


@dataclass
class Fleet:
    """The selected hosts, plus those that failed to resolve (they are polled as failures)."""

    hosts: list[Host]
    unresolved: Mapping[str, HostError]
    config: Path


def _ssh_config(args: argparse.Namespace) -> Path:
    if args.ssh_config:
        return Path(args.ssh_config).expanduser()
    config = paths.default_ssh_config()
    # No ~/.ssh/config under $HOME: resolve as plain `ssh` would, from the passwd home's config (if any).
    return config if config.exists() else default_config()


def load(args: argparse.Namespace, *, everything: bool = False) -> Fleet:
    """Discover, select and resolve hosts from the arguments (``everything``: ignore the selection)."""
    config = _ssh_config(args)
    inventories = [Path(p).expanduser() for p in args.inventory or []]
    hosts, errors = load_fleet(
        config,
        inventories,
        args.host or [],
        args.group or [],
        explicit_config=bool(args.ssh_config),
        everything=everything,
    )
    return Fleet(hosts, {e.host: e for e in errors if isinstance(e, HostError)}, config)


def _print_pass(result: PassResult, fleet: Fleet, as_json: bool, first: bool) -> None:
    names = {h.alias for h in fleet.hosts} | set(fleet.unresolved)
    if first:
        _out(open_lines(result.open_episodes, names, as_json))
        resolved = [t for t in result.transitions if t.change == "resolved"]
        _out(transition_lines(resolved, as_json))
    else:
        _out(transition_lines(result.transitions, as_json))


async def _watch(args: argparse.Namespace, fleet: Fleet, store: Store) -> ExitCode:
    transport = Transport(
        keep_open=not args.once,
        resolve_jump=lambda name: resolve_alias(name, fleet.config),
    )
    names = {h.alias for h in fleet.hosts} | set(fleet.unresolved)
    try:
        first = True
        while True:
            started = time.monotonic()
            result = await run_pass(
                transport,
                store,
                fleet.hosts,
                unresolved=fleet.unresolved,
                timeout=args.timeout,
                concurrency=args.concurrency,
            )
            _print_pass(result, fleet, args.json, first)
            if args.once:
                return exit_code(result.open_episodes, names)
            first = False
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    finally:
        await transport.close()


def cmd_watch(args: argparse.Namespace) -> ExitCode:
    """The main command: watch continuously, or one pass with --once."""
    fleet = load(args)
    if not fleet.hosts and not fleet.unresolved:
        _diag(f"no hosts to poll (none in {fleet.config}, or none selected); see `fleetwatch hosts`")
        return ExitCode.UNKNOWN
    store = Store.open(paths.state_dir(args.state_dir))
    try:
        return asyncio.run(_watch(args, fleet, store))
    finally:
        store.close()


def host_record(h: Host) -> dict[str, object]:
    """The JSON shape of one resolved host."""
    t = h.target
    return {
        "alias": h.alias,
        "hostname": t.hostname,
        "user": t.user,
        "port": t.port,
        "proxyjump": t.proxy_jump,
        "groups": list(h.groups),
        "enabled": h.settings.enabled,
    }


def cmd_hosts(args: argparse.Namespace) -> ExitCode:
    """List resolved hosts (all of them, disabled ones too, unless a selection is given)."""
    fleet = load(args, everything=not (args.host or args.group))
    for err in fleet.unresolved.values():
        _diag(str(err))
    if args.json:
        _out([json.dumps(host_record(h)) for h in fleet.hosts])
        return ExitCode.UNKNOWN if fleet.unresolved else ExitCode.OK
    table = [("ALIAS", "HOSTNAME", "USER", "PORT", "PROXYJUMP", "GROUPS")] + [
        (
            h.alias,
            h.target.hostname,
            h.target.user,
            str(h.target.port),
            h.target.proxy_jump or "-",
            ",".join(h.groups) or "-",
        )
        for h in fleet.hosts
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    _out(["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table])
    return ExitCode.UNKNOWN if fleet.unresolved else ExitCode.OK


def cmd_trust(args: argparse.Namespace) -> ExitCode:
    """Show a host's key fingerprint and record it in known_hosts once the user confirms."""
    from fleetwatch.transport.host_keys import known_hosts_name

    config = _ssh_config(args)
    target = resolve_alias(args.alias, config)
    transport = Transport(resolve_jump=lambda name: resolve_alias(name, config))
    verdict, key_line = asyncio.run(transport.fetch_host_key(target, args_timeout(args)))
    where = known_hosts_name(target.hostname, target.port)
    if verdict.outcome in ("", "known"):
        print(f"{args.alias} ({where}) is already trusted in {verdict.file}")
        return ExitCode.OK
    if verdict.outcome == "changed":
        _diag(
            f"{args.alias}: host key stage: the key CHANGED: offered {verdict.presented}, on record "
            f"{', '.join(verdict.known)}. Not recording. If the host was reinstalled, remove the old key "
            f"first: ssh-keygen -R '{where}' -f {verdict.file}"
        )
        return ExitCode.CRITICAL
    if not key_line:
        _diag(f"{args.alias}: host key stage: the server offered no usable key")
        return ExitCode.UNKNOWN
    print(f"{args.alias} ({where}) offers {verdict.presented}")
    print(f"Record it in {verdict.file}? [y/N] ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        print("not recorded")
        return ExitCode.WARNING
    from fleetwatch.transport.host_keys import record_key_line

    record_key_line(verdict.file, target, key_line)
    print(f"recorded {verdict.presented} for {where} in {verdict.file}")
    return ExitCode.OK


def args_timeout(args: argparse.Namespace) -> float:
    """The per-host deadline from the arguments."""
    return float(getattr(args, "timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT)


def cmd_demo(args: argparse.Namespace) -> ExitCode:
    """Start the embedded simulated fleet and run the main command against it."""
    from fleetwatch.demo import demo_fleet

    async def run() -> ExitCode:
        async with demo_fleet() as demo:
            args.ssh_config = str(demo.ssh_config)
            args.inventory = None
            args.state_dir = args.state_dir or str(demo.state_dir)
            fleet = load(args)
            store = Store.open(paths.state_dir(args.state_dir))
            try:
                return await _watch(args, fleet, store)
            finally:
                store.close()

    return asyncio.run(run())


COMMANDS = {None: cmd_watch, "hosts": cmd_hosts, "trust": cmd_trust, "demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fleetwatch`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return int(ExitCode.OK)
    except FleetwatchError as exc:
        _diag(str(exc))
        return int(ExitCode.UNKNOWN)


if __name__ == "__main__":
    sys.exit(main())
