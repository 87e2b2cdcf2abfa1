"""A user's rule: a condition over a host's fields, turned into a detector like the built-ins.  Pure.

Expressions are parsed once by simpleeval (Python's expression syntax, evaluated by walking the parsed
tree with an allow-list: no ``eval``, no attribute of Python objects, no calls but the few below); the
fields they read are known when the rule is loaded, so a misspelt field is an error at ``file:line``
rather than a rule that never fires.  A field a host lacks makes the rule "not evaluated" there.
"""

from __future__ import annotations

import ast
import difflib
import enum
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes, IterableTooLong, NumberTooHigh

from fleetwatch.detect.base import NOT_EVALUATED, Context, Detector, Needs
from fleetwatch.episodes import Damping
from fleetwatch.findings import Finding, Severity
from fleetwatch.rules.fields import FIELDS, data_of, known, lookup

FUNCTIONS = {"abs": abs, "min": min, "max": max, "round": round, "len": len}
MAX_POWER_BITS = 1024
"""``a ** b`` may make a number of at most this many bits (simpleeval alone lets ``4000000**4000000`` run
for half a minute inside a pass)."""


def _power(a: Any, b: Any) -> Any:
    """``a ** b``, refused when the result would be huge."""
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and abs(a) > 1
        and b * max(abs(a).bit_length(), 1) > MAX_POWER_BITS
    ):
        raise NumberTooHigh(f"{a}**{b} is too large for a rule")
    return a**b


MAX_REPEAT = 1000
"""``[x] * n`` and ``'ab' * n`` may make at most this many items (simpleeval allows 100,000, and
``max([[0]*100000]*100000)`` then compares for hours)."""


def _multiply(a: Any, b: Any) -> Any:
    """``a * b``, refused when it repeats a sequence into a long one."""
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
            raise IterableTooLong(f"a sequence repeated to {len(seq) * times} items is too long for a rule")
    return DEFAULT_OPERATORS[ast.Mult](a, b)


OPERATORS = {**DEFAULT_OPERATORS, ast.Pow: _power, ast.Mult: _multiply}

# What a `when` may be built of: comparisons, arithmetic, and/or/not, literals, fields, `x if c else y`,
# `in`, subscripts, and calls of FUNCTIONS by name. No lambdas, no `:=`, no comprehensions, no methods.
_ALLOWED = (
    ast.Module, ast.Expr, ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp,
    ast.Call, ast.Name, ast.Attribute, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Subscript,
    ast.Slice, ast.Load, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
)  # fmt: skip


def _refused(tree: ast.AST) -> str | None:
    """What in a parsed `when` a rule may not use, or None."""
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            return f"{type(node).__name__} is not available in a rule"
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            return f"only {', '.join(FUNCTIONS)} can be called in a rule"
        if isinstance(node, ast.Attribute) and not isinstance(node.value, ast.Name | ast.Attribute):
            return f"`.{node.attr}` of a value: only fields have dotted names in a rule"
    return None


def _evaluator() -> EvalWithCompoundTypes:
    return EvalWithCompoundTypes(functions=dict(FUNCTIONS), operators=OPERATORS)  # it adds to the dict


TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
NAME = re.compile(r"[a-z][a-z0-9_]*")


class RuleError(ValueError):
    """A rule that cannot be used; the loader adds ``file:line`` (``key``: the key it is about, whose
    line is given instead of the rule's)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def referenced(tree: ast.AST) -> list[str]:
    """The dotted names an expression reads (``system.load_1m``, ``host``), in order."""
    names: list[str] = []

    def dotted(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            head = dotted(node.value)
            return f"{head}.{node.attr}" if head else None
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and not isinstance(
            getattr(node, "ctx", None), ast.Store
        ):
            name = dotted(node)
            if name and name not in FUNCTIONS and not any(n.startswith(name + ".") for n in names):
                names = [n for n in names if not name.startswith(n + ".")] + [name]
    return [n for n in names if n not in FUNCTIONS]


def compile_when(text: str) -> tuple[ast.Expression, tuple[str, ...]]:
    """Parse a ``when`` expression and check every field it reads exists; RuleError otherwise."""
    try:
        tree = _evaluator().parse(text)
    except SyntaxError as exc:
        raise RuleError(f"`when` is not an expression: {exc.msg} (at column {exc.offset})", "when") from None
    refused = _refused(tree)
    if refused:
        raise RuleError(f"`when`: {refused}", "when")
    fields = tuple(referenced(tree))
    unknown = [f for f in fields if not known(f)]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(FIELDS), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}?" if close else "see detectors/README.md for the fields"
        raise RuleError(f"`when` reads unknown field {unknown[0]!r} ({hint})", "when")
    if not fields:
        raise RuleError("`when` reads no field: it would be always or never true", "when")
    return tree, fields


class Outcome(enum.Enum):
    """What a rule says of one host."""

    FIRES = "fires"
    QUIET = "quiet"
    NOT_EVALUATED = "not evaluated"
    """A field it reads is missing on this host: its episode neither fires nor resolves."""
    NOT_FOR_HOST = "not for this host"
    """Its ``hosts`` / ``groups`` leave this host out."""


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome on one host, with what it read."""

    outcome: Outcome
    message: str = ""
    hint: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    """The fields it read that the host has."""
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One rule, validated."""

    name: str
    when: str
    tree: ast.Expression = field(repr=False, compare=False)
    fields: tuple[str, ...]
    severity: Severity = Severity.WARNING
    damping: Damping = field(default_factory=Damping)
    hosts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    message: str = ""
    hint: str = ""
    auto_stop: bool = False
    source: str = ""
    """``file:line`` of the rule."""
    for_text: str = ""
    """``for`` as written (for messages)."""
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def applies(self, host: str, groups: Sequence[str]) -> bool:
        """Whether this rule is for ``host`` (no ``hosts``/``groups`` given: every host)."""
        if not self.hosts and not self.groups:
            return True
        return any(fnmatchcase(host, g) for g in self.hosts) or bool(set(self.groups) & set(groups))

    def render(self, data: Mapping[str, Any], template: str) -> str:
        """``{field}`` placeholders of a template filled from the host's data (``?`` when missing)."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "for":
                return self.for_text or "one poll"
            if name == "name":
                return self.name
            found, v = lookup(data, name)
            if not found:
                return "?"
            return f"{v:g}" if isinstance(v, float) else str(v)

        return TEMPLATE.sub(value, template)

    def _evaluate(self, data: Mapping[str, Any]) -> Any:
        """The expression's value on ``data``, by this thread's evaluator (building one costs 4× an
        evaluation, so each thread keeps its own)."""
        local = self._local
        evaluator = getattr(local, "evaluator", None)
        if evaluator is None:
            evaluator = local.evaluator = _evaluator()
        evaluator.names = data
        try:
            return evaluator.eval("", previously_parsed=self.tree)
        finally:
            evaluator.names = {}

    def evaluate(self, data: Mapping[str, Any]) -> Verdict:
        """What this rule says of a host's fields document (``rules.fields.data_of``); an error in the
        expression raises (the caller contains it)."""
        groups = data.get("groups") or ()
        if not self.applies(str(data.get("host", "")), groups if isinstance(groups, list) else ()):
            return Verdict(Outcome.NOT_FOR_HOST)
        values = {f: lookup(data, f) for f in self.fields}
        missing = tuple(f for f, (found, _) in values.items() if not found)
        read = {f: v for f, (found, v) in values.items() if found}
        if missing:
            return Verdict(Outcome.NOT_EVALUATED, values=read, missing=missing)
        if not self._evaluate(data):
            return Verdict(Outcome.QUIET, values=read)
        message = self.render(data, self.message or f"{self.when} ({{for}})")
        return Verdict(Outcome.FIRES, message, self.render(data, self.hint), read)

    def check(self, ctx: Context) -> object:
        """The detector function: a finding, None, or ``NOT_EVALUATED``."""
        if not self.applies(ctx.host, ctx.groups):
            return None  # checked: nothing to say here (an alert from before its scope changed resolves)
        verdict = self.evaluate(ctx.derived("rule_fields", lambda: data_of(ctx.obs, ctx.groups)))
        if verdict.outcome is Outcome.FIRES:
            facts = {"rule": self.source, **verdict.values}
            return Finding(ctx.host, self.name, self.severity, verdict.message, verdict.hint, facts)
        return None if verdict.outcome is Outcome.QUIET else NOT_EVALUATED

    def detector(self) -> Detector:
        """This rule as a detector of the catalogue."""
        return Detector(self.name, Needs.OBSERVATION, self.check, f"{self.when} ({self.source})", self.source)
