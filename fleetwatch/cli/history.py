"""``history`` and ``report``: what the state store remembers, read without polling anything."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from fleetwatch import history
from fleetwatch.basics import finite_duration
from fleetwatch.cli.history_view import (
    DEFAULT_METRICS,
    history_document,
    history_lines,
    metric_name,
    report_document,
)
from fleetwatch.cli.output import out, run
from fleetwatch.cli.settings import effective_config, open_store, selected_fleet
from fleetwatch.errors import ConfigError
from fleetwatch.history.model import METRICS, USAGE_METRICS, HistorySettings
from fleetwatch.history.report import report_lines
from fleetwatch.status import ExitCode


def _since(text: str, option: str) -> float:
    try:
        seconds = finite_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{option}: must be more than 0 s, got {text!r}")
    return seconds


def _stamp(settings: HistorySettings, args: argparse.Namespace) -> Callable[[float], str]:
    """How the text shows times: the operator's timezone (``history.timezone``, else local), or UTC."""
    utc = bool(getattr(args, "utc", False))
    return lambda ts: settings.stamp(ts, utc=utc)


def cmd_history(args: argparse.Namespace) -> ExitCode:
    """One host's metrics over a period: a sparkline per metric, a table, or JSON."""
    until = time.time()
    since = until - _since(args.since, "--since")
    names = [
        metric_name(m.strip()) for m in (args.metric or ",".join(DEFAULT_METRICS)).split(",") if m.strip()
    ]
    known = (*METRICS, *USAGE_METRICS)
    for name in names:
        if name not in known:
            raise ConfigError(f"--metric: unknown metric {name!r} (known: {', '.join(known)})")
    store = open_store(args, reading=True)
    try:
        if not history.has_history(store, args.alias):
            raise ConfigError(
                f"no history for {args.alias!r} in {store.path} (polled by this state dir yet?)"
            )
        series = {name: history.series(store, args.alias, name, since, until) for name in names}
        eta = history.disk_full_eta(store, args.alias, until)
    finally:
        store.close()
    if args.json:
        out([json.dumps(history_document(args.alias, series, since, until, eta))])
    else:
        settings = effective_config(args).passes.history
        out(history_lines(args.alias, series, since, until, eta, stamp=_stamp(settings, args)))
    return ExitCode.OK


def cmd_report(args: argparse.Namespace) -> ExitCode:
    """Uptime, rounds, success, spend and alerts per host over a period; ``--send`` notifies it."""
    from fleetwatch.history.report import load_report

    config = effective_config(args)
    fleet = selected_fleet(args, config, listing=True, resolve=False)
    until = time.time()
    since = until - _since(args.since, "--since")
    store = open_store(args, reading=True)
    try:
        report = load_report(store.connection, fleet.names, since, until)
        text = report_lines(report, _stamp(config.passes.history, args))
        if args.send:
            from fleetwatch.watcher import send_report

            run(send_report(store, config, text, until))
    finally:
        store.close()
    out([json.dumps(report_document(report))] if args.json else text)
    return ExitCode.OK
