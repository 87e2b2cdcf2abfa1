"""Rule files: YAML lists of rules, validated at ``file:line``; a broken rule is skipped, never fatal.

Where rules come from, in order: the ``detectors/`` directory next to the config file, the paths the
config lists under ``rules:``, and ``--rules PATH`` (files, or directories of ``*.yaml`` / ``*.yml``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetwatch.episodes import Damping
from fleetwatch.findings import Severity
from fleetwatch.rules.fields import known
from fleetwatch.rules.model import NAME, TEMPLATE, Rule, RuleError, compile_when

KEYS = ("name", "when", "for", "clear", "severity", "hosts", "groups", "message", "hint", "auto_stop")
_POLLS = re.compile(r"(\d+)\s*polls?")


@dataclass(frozen=True)
class Loaded:
    """The rules that loaded, and one line per problem (``file:line: what``) for those that did not."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[str, ...] = field(default=())


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The YAML files of ``paths`` (a directory: its ``*.yaml`` and ``*.yml``, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    unique: dict[Path, Path] = {}  # a file named twice (detectors/ and rules: both) is read once
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def load_rules(paths: Sequence[Path], taken: Collection[str]) -> Loaded:
    """Every rule in ``paths``; ``taken``: names that exist already (the built-ins)."""
    rules: list[Rule] = []
    problems: list[str] = []
    names: dict[str, str] = dict.fromkeys(taken, "a built-in detector")
    for file in rule_files(paths):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: cannot read the rule file ({exc}); its rules are skipped")
            continue
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{file}:{mark.line + 1}" if mark else str(file)
            problems.append(
                f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); its rules are skipped"
            )
            continue
        if root is None:
            continue
        if not isinstance(root, yaml.SequenceNode):
            problems.append(f"{file}:{root.start_mark.line + 1}: a rule file is a list of rules (- name: …)")
            continue
        for node in root.value:
            where = f"{file}:{node.start_mark.line + 1}"
            try:
                rule = _rule(node, where)
            except RuleError as exc:
                line = _key_line(node, exc.key) or node.start_mark.line + 1
                named = _name_of(node)
                problems.append(f"{file}:{line}: {f'rule {named}: ' if named else ''}{exc}; skipped")
                continue
            if rule.name in names:
                problems.append(
                    f"{where}: rule {rule.name}: the name is taken by {names[rule.name]}; skipped (rename it)"
                )
                continue
            names[rule.name] = f"the rule at {where}"
            rules.append(rule)
    return Loaded(tuple(rules), tuple(problems))


def _key_line(node: yaml.Node, key: str | None) -> int | None:
    """The line of ``key:`` in a rule's mapping."""
    if key is None or not isinstance(node, yaml.MappingNode):
        return None
    return next((k.start_mark.line + 1 for k, _ in node.value if k.value == key), None)


def _name_of(node: yaml.Node) -> str | None:
    """The rule's ``name:`` as written, when it has one that is a word."""
    if not isinstance(node, yaml.MappingNode):
        return None
    name = next(
        (v.value for k, v in node.value if k.value == "name" and isinstance(v, yaml.ScalarNode)), None
    )
    return name if isinstance(name, str) and NAME.fullmatch(name) else None


def _rule(node: yaml.Node, where: str) -> Rule:
    if not isinstance(node, yaml.MappingNode):
        raise RuleError("a rule is a mapping (name:, when:, …)")
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key not in KEYS:
            raise RuleError(f"unknown key {key!r} (allowed: {', '.join(KEYS)})", key)
        if key in values:
            raise RuleError(f"`{key}` is given twice (YAML would keep the last one silently)", key)
        values[key] = yaml.safe_load(yaml.serialize(value_node))
    name = values.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise RuleError("`name` must be a lower-case word (letters, digits, _), e.g. load_high", "name")
    when = values.get("when")
    if not isinstance(when, str) or not when.strip():
        raise RuleError("`when` must be an expression, e.g. system.load_1m > 4", "when")
    tree, fields = compile_when(when)
    for_polls, for_s = _span(values.get("for"), "for")
    clear_polls, clear_s = _span(values.get("clear"), "clear")
    severity = str(values.get("severity", "warning"))
    if severity not in ("info", "warning", "critical"):
        raise RuleError(f"unknown severity {severity!r} (info, warning, critical)", "severity")
    for key in ("message", "hint"):
        for placeholder in TEMPLATE.findall(str(values.get(key) or "")):
            if placeholder not in ("for", "name") and not known(placeholder):
                raise RuleError(f"`{key}` names unknown field {{{placeholder}}}", key)
    return Rule(
        name=name,
        when=when.strip(),
        tree=tree,
        fields=fields,
        severity=Severity[severity.upper()],
        damping=Damping(for_polls, clear_polls, for_s, clear_s),
        hosts=_words(values.get("hosts"), "hosts"),
        groups=_words(values.get("groups"), "groups"),
        message=_text(values.get("message"), "message"),
        hint=_text(values.get("hint"), "hint"),
        auto_stop=_flag(values.get("auto_stop"), "auto_stop"),
        source=where,
        for_text=str(values.get("for") or ""),
    )


def _span(value: Any, key: str) -> tuple[int, float]:
    """``for`` / ``clear``: ``3 polls`` -> (3, 0); ``10m`` -> (1, 600); absent -> (1, 0)."""
    from fleetwatch.basics import finite_duration

    if value is None:
        return 1, 0.0
    text = str(value).strip().lower()
    polls = _POLLS.fullmatch(text)
    if polls:
        if int(polls.group(1)) < 1:
            raise RuleError(f"`{key}` counts polls: at least 1", key)
        return int(polls.group(1)), 0.0
    if text.replace(".", "", 1).isdigit():
        raise RuleError(f"`{key}: {value}` needs a unit: e.g. 10m, 1h, or 3 polls", key)
    try:
        return 1, finite_duration(text)
    except ValueError:
        raise RuleError(
            f"`{key}: {value}` is neither a duration (10m, 1h) nor a number of polls (3 polls)", key
        ) from None


def _words(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleError(f"`{key}` must be a list of names or globs, e.g. [pi*]", key)
    return tuple(value)


def _text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RuleError(f"`{key}` must be text", key)
    return value


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RuleError(f"`{key}` must be true or false", key)
    return value
