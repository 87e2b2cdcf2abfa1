"""``fleetwatch hosts`` and ``fleetwatch trust``: what the fleet resolves to, and host keys."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from fleetwatch.cli.output import diag, out
from fleetwatch.cli.render import JSON_SCHEMA
from fleetwatch.cli.settings import effective_config, selected_fleet, ssh_config_path
from fleetwatch.config import Config
from fleetwatch.inventory.fleet import members
from fleetwatch.inventory.model import Destination, Host
from fleetwatch.inventory.resolve import Jumps, resolve_alias
from fleetwatch.status import ExitCode
from fleetwatch.transport import Transport
from fleetwatch.transport.host_keys import record_key_line, record_name


def host_record(h: Host) -> dict[str, object]:
    """The JSON shape of one resolved host."""
    t = h.target
    return {
        "schema": JSON_SCHEMA,
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
    fleet = selected_fleet(args, effective_config(args), listing=True)
    for err in fleet.unresolved.values():
        diag(str(err))
    if args.json:
        out([json.dumps(host_record(h)) for h in fleet.hosts])
        return ExitCode.UNKNOWN if fleet.unresolved else ExitCode.OK
    table = [("ALIAS", "HOSTNAME", "USER", "PORT", "PROXYJUMP", "GROUPS", "ENABLED")] + [
        (
            h.alias,
            h.target.hostname,
            h.target.user,
            str(h.target.port),
            h.target.proxy_jump or "-",
            ",".join(h.groups) or "-",
            "yes" if h.settings.enabled else "no",
        )
        for h in fleet.hosts
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out(["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table])
    return ExitCode.UNKNOWN if fleet.unresolved else ExitCode.OK


def _destination(alias: str, config: Config, explicit: bool) -> Destination | None:
    """How an inventory says to reach ``alias`` (Ansible's ansible_host …), so the key is fetched from, and
    recorded for, the very address the polls use."""
    if not (config.inventories or config.ansible_inventories):
        return None
    ssh_config, _ = ssh_config_path(config)
    found = members(
        ssh_config,
        [Path(p).expanduser() for p in config.inventories],
        explicit_config=explicit,
        ansible=[Path(p).expanduser() for p in config.ansible_inventories],
    )
    return next((m.destination for m in found if m.alias == alias), None)


def cmd_trust(args: argparse.Namespace) -> ExitCode:
    """Show a host's key fingerprint and record it in known_hosts once the user confirms."""
    config = effective_config(args)
    ssh_config, explicit = ssh_config_path(config)
    target = resolve_alias(args.alias, ssh_config, destination=_destination(args.alias, config, explicit))
    transport = Transport(resolve_jump=Jumps(ssh_config))
    verdict, key_line = asyncio.run(transport.fetch_host_key(target, float(config.passes.timeout)))
    where = record_name(target)
    if verdict.outcome == "revoked":
        diag(
            f"{args.alias}: host key stage: the key it offers, {verdict.presented}, is marked @revoked in "
            "known_hosts. Not recording: a revoked key stays refused; the host's keys must be replaced"
        )
        return ExitCode.CRITICAL
    if verdict.outcome == "unreadable":
        diag(f"{args.alias}: host key stage: could not read known_hosts; check the UserKnownHostsFile files")
        return ExitCode.UNKNOWN
    if verdict.outcome == "known":
        print(f"{args.alias} ({where}) is already trusted in {verdict.file}")
        return ExitCode.OK
    if verdict.outcome == "changed":
        diag(
            f"{args.alias}: host key stage: the key CHANGED: offered {verdict.presented}, on record "
            f"{', '.join(verdict.known)}. Not recording. If the host was reinstalled, remove the old key "
            f"first: ssh-keygen -R '{where}' -f {verdict.file}"
        )
        return ExitCode.CRITICAL
    if not key_line:
        diag(f"{args.alias}: host key stage: the server offered no usable key")
        return ExitCode.UNKNOWN
    print(f"{args.alias} ({where}) offers {verdict.presented}")
    print(f"Record it in {verdict.file}? [y/N] ", end="", flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        print("not recorded")
        return ExitCode.WARNING
    record_key_line(verdict.file, target, key_line)
    print(f"recorded {verdict.presented} for {where} in {verdict.file}")
    return ExitCode.OK
