"""The user's own detectors: declarative rules in YAML, evaluated like the built-ins (detectors/README.md).

- ``fields``: what a rule can read, under stable names, and how a host's data fills them.
- ``model``: a rule, its parsed expression, and the detector it becomes.
- ``load``: rule files, validated at ``file:line``; a broken rule is reported once and skipped.
"""

from __future__ import annotations

from fleetwatch.rules.load import Loaded, load_rules
from fleetwatch.rules.model import Rule, RuleError

__all__ = ["Loaded", "Rule", "RuleError", "load_rules"]
