"""``silence``, ``ack``, ``unsilence`` and ``notify-test``: acting on alerts and their delivery."""

from __future__ import annotations

import argparse
import asyncio
import time
from fnmatch import fnmatchcase

from fleetwatch import silences
from fleetwatch.basics import iso, whoami
from fleetwatch.cli.output import diag, out
from fleetwatch.cli.settings import effective_config, open_store, selected_fleet
from fleetwatch.config import Config
from fleetwatch.errors import ConfigError
from fleetwatch.status import ExitCode
from fleetwatch.store import Store
from fleetwatch.vantage import WATCHER


def _known_hosts(args: argparse.Namespace, config: Config, store: Store) -> set[str]:
    """Hosts a silence may name: the fleet's (ssh_config, inventories), the watcher, and every host the
    state store has seen (jump hosts included)."""
    fleet = selected_fleet(args, config, listing=True, resolve=False)
    return {*fleet.names, WATCHER, *store.polls(), *(host for host, _ in store.episodes())}


def cmd_silence(args: argparse.Namespace) -> ExitCode:
    """Mute notifications for HOST[:DETECTOR] for a while (alerts stay visible in ``check``)."""
    config = effective_config(args)
    host, detector = silences.parse_target(args.target, config.catalogue.names)
    seconds = silences.parse_duration(args.duration)
    now = time.time()
    store = open_store(args)
    try:
        known = _known_hosts(args, config, store)
        if not any(fnmatchcase(name, host) for name in known):
            listing = ", ".join(sorted(known)[:8]) + (" …" if len(known) > 8 else "") or "none"
            raise ConfigError(
                f"{host!r} names no host of the fleet or the state store (known: {listing}); "
                "nothing silenced (give --ssh-config / --inventory if the fleet is defined there)"
            )
        s = silences.add_silence(store.connection, host, detector, now + seconds, args.reason, whoami(), now)
    finally:
        store.close()
    out([f"silence #{s.id}: {s.target} until {iso(now + seconds)}"])
    return ExitCode.OK


def cmd_ack(args: argparse.Namespace) -> ExitCode:
    """Acknowledge HOST:DETECTOR: no more notifications for this episode (a new one notifies again)."""
    host, detector = silences.parse_target(args.target, effective_config(args).catalogue.names)
    if detector is None:
        diag(f"ack needs HOST:DETECTOR (an ack is for one open alert), got {args.target!r}")
        return ExitCode.UNKNOWN
    now = time.time()
    store = open_store(args)
    try:
        s = silences.add_ack(store.connection, host, detector, args.reason, whoami(), now)
    finally:
        store.close()
    out([f"ack #{s.id}: {s.target} until its episode resolves"])
    return ExitCode.OK


def cmd_unsilence(args: argparse.Namespace) -> ExitCode:
    """Remove a silence or ack by id."""
    store = open_store(args)
    try:
        removed = silences.remove(store.connection, args.id)
    finally:
        store.close()
    if not removed:
        diag(f"no silence or ack #{args.id}; `fleetwatch check` lists the active ones")
        return ExitCode.UNKNOWN
    out([f"removed #{args.id}"])
    return ExitCode.OK


def cmd_notify_test(args: argparse.Namespace) -> ExitCode:
    """Send a test message to every configured target and say how each went."""
    from fleetwatch.notify.sender import send_test

    wanted = effective_config(args).notify
    if not wanted:
        diag("no notification targets: add `notify:` to the config file or pass --notify URL")
        return ExitCode.UNKNOWN
    results = asyncio.run(send_test(wanted, time.time()))
    out(
        [
            f"{'ok    ' if r.error is None else 'FAILED'} {r.target}" + (f": {r.error}" if r.error else "")
            for r in results
        ]
    )
    return ExitCode.OK if all(r.error is None for r in results) else ExitCode.CRITICAL
