"""``fleetwatch rules check`` and ``rules test``: the user's rules without polling.

``check`` loads rule files as a run would and lists each rule or says why it is skipped (exit 3 when
any is: for a rules repository's CI).  ``test`` evaluates rules against the fields a host had at its
latest saved poll (``Store.latest_fields``, saved every few minutes by the pass) and says what would
fire and why, what each rule read, and what it lacked.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from fleetwatch.basics import human_duration, iso
from fleetwatch.cli.output import out
from fleetwatch.cli.render import JSON_SCHEMA
from fleetwatch.cli.settings import effective_config, open_store
from fleetwatch.config import config_path
from fleetwatch.errors import ConfigError
from fleetwatch.rules.catalogue import RULES_DIR, Catalogue, load_catalogue
from fleetwatch.rules.model import Outcome, Rule, Verdict
from fleetwatch.status import ExitCode


def cmd_rules(args: argparse.Namespace) -> ExitCode:
    """``rules check`` / ``rules test``."""
    return {"check": cmd_rules_check, "test": cmd_rules_test}[args.rules_command](args)


def _catalogue(args: argparse.Namespace) -> Catalogue:
    """The rules of the PATHs given, else the configured ones (detectors/, rules:, --rules)."""
    paths = [Path(p).expanduser() for p in getattr(args, "paths", None) or ()]
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such rule file or directory")
    return load_catalogue(paths) if paths else effective_config(args, tell=False).catalogue


def describe(rule: Rule) -> str:
    """One line: where, name, severity, condition, damping, scope."""
    d = rule.damping
    parts = [f"{rule.source}  {rule.name}  {rule.severity.name.lower()}  when {rule.when}"]
    if rule.for_text:
        parts.append(f"for {rule.for_text}")
    if d.clear_s:
        parts.append(f"clear {human_duration(d.clear_s)}")
    elif d.clear_polls > 1:
        parts.append(f"clear {d.clear_polls} polls")
    if rule.hosts:
        parts.append(f"hosts {','.join(rule.hosts)}")
    if rule.groups:
        parts.append(f"groups {','.join(rule.groups)}")
    if rule.auto_stop:
        parts.append("auto-stop")
    return "  ".join(parts)


def _rule_record(rule: Rule) -> dict[str, Any]:
    d = rule.damping
    return {
        "name": rule.name,
        "source": rule.source,
        "severity": rule.severity.name.lower(),
        "when": rule.when,
        "fields": list(rule.fields),
        "for_polls": d.for_polls,
        "for_s": d.for_s,
        "clear_polls": d.clear_polls,
        "clear_s": d.clear_s,
        "hosts": list(rule.hosts),
        "groups": list(rule.groups),
        "auto_stop": rule.auto_stop,
    }


def cmd_rules_check(args: argparse.Namespace) -> ExitCode:
    """Validate rule files; list what loaded and what was skipped."""
    cat = _catalogue(args)
    code = ExitCode.UNKNOWN if cat.problems else ExitCode.OK
    if args.json:
        doc = {
            "schema": JSON_SCHEMA,
            "files": list(cat.files),
            "rules": [_rule_record(r) for r in cat.rules],
            "problems": list(cat.problems),
        }
        out([json.dumps(doc, ensure_ascii=False)])
        return code
    lines = [describe(r) for r in cat.rules]
    lines += [f"skipped: {p}" for p in cat.problems]
    files = len(cat.files)
    if not files and not cat.problems:
        where = config_path(getattr(args, "config", None))[0].parent / RULES_DIR
        lines.append(
            f"no rule files: put *.yaml in {where}/, list files under rules: in the config, or give PATH "
            "or --rules PATH (the format: detectors/README.md)"
        )
    lines.append(
        f"{len(cat.rules)} rule(s) from {files} file(s), {len(cat.problems)} skipped"
        + ("" if cat.problems else ": all good")
    )
    out(lines)
    return code


def _shown(value: object) -> str:
    """A field's value as a rule author reads it: 11.04, not 11.040000000000001."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, default=str, ensure_ascii=False)


def _verdict_lines(rule: Rule, verdict: Verdict | None, error: str | None) -> list[str]:
    head = f"{rule.name} ({rule.source}): "
    if error is not None:
        return [head + f"ERROR  {error} (not evaluated; fix the expression)"]
    assert verdict is not None
    read = "  ".join(f"{k}={_shown(v)}" for k, v in verdict.values.items())
    if verdict.outcome is Outcome.FIRES:
        lines = [head + f"FIRES  {rule.severity.name.lower()}  {verdict.message}"]
        if verdict.hint:
            lines.append(f"    hint: {verdict.hint}")
        opens = f"held for {rule.for_text}" if rule.for_text else "been seen on one poll"
        lines.append(f"    read: {read}; an alert opens once the condition has {opens}")
        return lines
    if verdict.outcome is Outcome.QUIET:
        return [head + "quiet", f"    read: {read}"]
    if verdict.outcome is Outcome.NOT_FOR_HOST:
        scope = ", ".join([*(f"hosts {h}" for h in rule.hosts), *(f"groups {g}" for g in rule.groups)])
        return [head + f"not for this host ({scope})"]
    lacking = ", ".join(verdict.missing)
    return [
        head + f"not evaluated: this host has no {lacking} (its alert would neither open nor resolve)",
        *([f"    read: {read}"] if read else []),
    ]


def cmd_rules_test(args: argparse.Namespace) -> ExitCode:
    """Evaluate rules on a host's latest saved fields."""
    hosts = getattr(args, "host", None) or []
    if len(hosts) != 1:
        raise ConfigError("rules test needs exactly one --host ALIAS")
    host = hosts[0]
    cat = _catalogue(args)
    store = open_store(args)
    try:
        saved = store.latest_fields(host)
    finally:
        store.close()
    if saved is None:
        raise ConfigError(
            f"{host}: no saved data to test rules on (the state store has none for it yet); run "
            f"`fleetwatch --once --host {host}` or `fleetwatch check --host {host}` first"
        )
    at, data = saved
    results: list[tuple[Rule, Verdict | None, str | None]] = []
    for rule in cat.rules:
        try:
            results.append((rule, rule.evaluate(data), None))
        except Exception as exc:  # a rule's expression failing on this data: shown, not raised
            results.append((rule, None, f"{type(exc).__name__}: {exc}"))
    if args.json:
        doc = {
            "schema": JSON_SCHEMA,
            "host": host,
            "polled_at": iso(at),
            "fields": data,
            "rules": [
                {
                    "name": r.name,
                    "source": r.source,
                    "outcome": "error" if err else v.outcome.value if v else None,
                    "message": v.message if v else None,
                    "hint": v.hint if v else None,
                    "read": dict(v.values) if v else {},
                    "missing": list(v.missing) if v else [],
                    "error": err,
                }
                for r, v, err in results
            ],
            "problems": list(cat.problems),
        }
        out([json.dumps(doc, ensure_ascii=False, default=str)])
    else:
        age = human_duration(max(0.0, time.time() - at))
        lines = [f"{host} as polled at {iso(at)} ({age} ago)"]
        for rule, verdict, error in results:
            lines += _verdict_lines(rule, verdict, error)
        if not cat.rules:
            lines.append("no rules to test (give PATH, --rules, or put rule files in detectors/)")
        lines += [f"skipped: {p}" for p in cat.problems]
        out(lines)
    return ExitCode.UNKNOWN if cat.problems or any(err for _, _, err in results) else ExitCode.OK
