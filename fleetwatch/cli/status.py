"""``status``, ``silences`` and ``discard-backlog``: read the state store, never poll a host."""

from __future__ import annotations

import argparse
import json
import time

from fleetwatch import silences
from fleetwatch.cli.output import diag, out
from fleetwatch.cli.render import JSON_SCHEMA
from fleetwatch.cli.settings import effective_config, open_store, selected_fleet
from fleetwatch.cli.status_view import silence_record, silences_lines, status_document, status_lines
from fleetwatch.errors import ConfigError
from fleetwatch.notify.outbox import Outbox
from fleetwatch.settings import CHECK_INTERVAL
from fleetwatch.status import ExitCode
from fleetwatch.watcher import entries, read_status


def cmd_status(args: argparse.Namespace) -> ExitCode:
    """The whole fleet as the state store last saw it: no poll, no notification, no action."""
    config = effective_config(args)
    fleet = selected_fleet(args, config, listing=True, resolve=False)
    # Without --interval, judge staleness by the cron cadence: a status is read between `check` runs.
    settings = config.passes.with_defaults(CHECK_INTERVAL)
    store = open_store(args, reading=True)
    try:
        unknown = [n for n in fleet.undeclared if n not in store.polls()]
        if unknown:
            raise ConfigError(
                f"--host {unknown[0]}: no such host: not an alias in {fleet.ssh_config} or the inventories, "
                "and never polled into this state store; see `fleetwatch hosts` for the fleet"
            )
        status = read_status(store, entries(fleet), config, settings, time.time())
    finally:
        store.close()
    if args.json:
        out([json.dumps(status_document(status), ensure_ascii=False)])
    else:
        out(status_lines(status))
    return status.code


def cmd_silences(args: argparse.Namespace) -> ExitCode:
    """Silences and acks in force, with who, why and until when."""
    now = time.time()
    store = open_store(args, reading=True)
    try:
        items = silences.list_active(store.connection, now)
    finally:
        store.close()
    if args.json:
        out([json.dumps({"schema": JSON_SCHEMA, "silences": [silence_record(s, now) for s in items]})])
    else:
        out(silences_lines(items, now))
    return ExitCode.OK


def cmd_discard_backlog(args: argparse.Namespace) -> ExitCode:
    """Drop the undelivered notifications of one target (as ``check`` and ``status`` show it)."""
    store = open_store(args)
    try:
        dropped = Outbox(store.connection).discard(args.target)
    finally:
        store.close()
    if not dropped:
        diag(f"no undelivered notifications for {args.target!r}; `fleetwatch status` lists the backlog")
        return ExitCode.UNKNOWN
    out(
        [f"discarded {n} undelivered notification{'s' if n != 1 else ''} for {t}" for t, n in dropped.items()]
    )
    return ExitCode.OK
