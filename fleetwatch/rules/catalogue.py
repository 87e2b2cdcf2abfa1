"""The detectors a fleetwatch run uses: the built-ins and the user's rules, one list.

Pure, apart from ``load_catalogue`` reading the rule files it is given.  ``status``, the docs' names,
config validation (``damping:``, ``auto_stop.on``), silences and the pass itself all read the same
``Catalogue``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from fleetwatch.detect import BUILTIN, Detector, names
from fleetwatch.episodes import Damping
from fleetwatch.rules.load import load_rules, rule_files
from fleetwatch.rules.model import Rule
from fleetwatch.vantage import VANTAGE_DETECTORS

RESERVED = frozenset({"manual", "report", "test", "action"})
"""Names fleetwatch uses for its own messages (a stop a person made, the report, notify-test)."""

RULES_DIR = "detectors"
"""The directory next to the config file whose ``*.yaml`` rules are always loaded."""


@dataclass(frozen=True)
class Catalogue:
    """The built-in detectors plus the rules that loaded, and what was wrong with those that did not."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[str, ...] = ()
    """One line per rule (or rule file) skipped: ``file:line: what``."""
    files: tuple[str, ...] = field(default=())
    """The rule files read."""

    @cached_property
    def detectors(self) -> tuple[Detector, ...]:
        """What the pass runs, built-ins first."""
        return (*BUILTIN, *(r.detector() for r in self.rules))

    @cached_property
    def names(self) -> frozenset[str]:
        """Every detector name an episode can carry (the watcher's own and ``jump_host_down`` too)."""
        return names(self.detectors) | VANTAGE_DETECTORS

    @property
    def damping(self) -> dict[str, Damping]:
        """Each rule's own ``for`` / ``clear``."""
        return {r.name: r.damping for r in self.rules}

    @property
    def auto_stop(self) -> frozenset[str]:
        """The rules that ask to stop the runner (``auto_stop: true``)."""
        return frozenset(r.name for r in self.rules if r.auto_stop)


def rule_paths(config_file: Path | None, listed: Sequence[str], extra: Sequence[str]) -> list[Path]:
    """Where rules come from, in order: ``detectors/`` next to the config file (when it exists), the
    config's ``rules:`` (relative to the config file's directory), then ``--rules``."""
    paths: list[Path] = []
    base = config_file.parent if config_file is not None else Path.cwd()
    if config_file is not None and (base / RULES_DIR).is_dir():
        paths.append(base / RULES_DIR)
    paths += [base / Path(p).expanduser() for p in listed]
    paths += [Path(p).expanduser() for p in extra]
    return paths


def load_catalogue(paths: Sequence[Path]) -> Catalogue:
    """The built-ins plus every rule in ``paths``; a path that does not exist is a problem, not fatal
    (the built-ins still run)."""
    missing = [f"{p}: no such rule file or directory; skipped" for p in paths if not p.exists()]
    present = [p for p in paths if p.exists()]
    loaded = load_rules(present, names(BUILTIN) | VANTAGE_DETECTORS | RESERVED)
    files = tuple(str(f) for f in rule_files(present))
    return Catalogue(loaded.rules, (*missing, *loaded.problems), files)


BUILTIN_ONLY = Catalogue()
"""No rules: the built-ins alone."""
