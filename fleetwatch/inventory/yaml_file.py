"""YAML inventories (``--inventory FILE``): which aliases to poll, their groups and per-host settings.

The format is documented key by key in ``inventories/example.yaml``.  Values are read as
``yaml.safe_load`` reads them, but from the composed node tree, so every error names ``file:line``.
Settings apply host > groups (a group declared later wins over an earlier one) > ``defaults`` > built-in.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.ssh_config import valid_alias
from fleetwatch.settings import HostSettings, Thresholds

_TOP_KEYS = ("defaults", "groups", "hosts")
_GROUP_KEYS = ("hosts", "settings")
_SETTING_KEYS = tuple(f.name for f in dataclasses.fields(HostSettings))
_HOST_KEYS = (*(k for k in _SETTING_KEYS if k != "thresholds"), "groups", "thresholds")
_THRESHOLD_TYPES: dict[str, type] = typing.get_type_hints(Thresholds)
_THRESHOLD_KEYS = tuple(_THRESHOLD_TYPES)
_PATH_KEYS = ("runner", "config")  # HostSettings fields typed `str | None`
_COMPOUND = object()  # what scalar() returns for a mapping or list, so type checks report it

_Entries = dict[str, tuple[yaml.Node, yaml.Node]]


@dataclass(frozen=True)
class InventoryHost:
    """One host of one inventory file, settings merged; ``path:line`` is its ``hosts:`` entry, else the
    first group that lists it."""

    alias: str
    groups: tuple[str, ...]
    settings: HostSettings
    path: str
    line: int


def load_inventory(path: Path) -> list[InventoryHost]:
    """Read one YAML inventory; any problem is an ``InventoryError`` naming ``file:line``."""
    shown = str(path)
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(
            f"cannot read inventory ({exc.strerror}); check the --inventory path", path=shown
        ) from None
    except UnicodeDecodeError as exc:
        raise InventoryError(f"inventory is not UTF-8 text ({exc.reason})", path=shown) from None
    loader = _LineLoader(text)
    try:
        root = loader.get_single_node()
        return _Doc(shown, loader).hosts(root) if root is not None else []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or ""
        if exc.context and (not problem or problem.startswith("but ")):  # "expected X" + "but found Y"
            problem = f"{exc.context} {problem}".strip()
        raise InventoryError(f"not valid YAML: {problem}", path=shown, line=line) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"not valid YAML: {exc}", path=shown) from None
    finally:
        loader.dispose()


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that only composes nodes (each knows its line) and constructs single scalars."""


@dataclass
class _Layer:
    """The settings one place sets: ``defaults``, a group or a host."""

    # Any: each value was checked against its field's type when the layer was read.
    values: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Group:
    layer: _Layer
    members: dict[str, yaml.Node]  # alias -> where the group lists it


@dataclass
class _Doc:
    path: str
    loader: _LineLoader
    duplicates: dict[int, tuple[str, yaml.Node, yaml.Node]] = field(default_factory=dict)
    """id(mapping node) -> (key, repeated key node, first key node)."""

    def hosts(self, root: yaml.Node) -> list[InventoryHost]:
        self.duplicates = self.find_duplicates(root)
        if not isinstance(root, yaml.MappingNode) and not _is_null(root):
            keys = ", ".join(_TOP_KEYS)
            raise self.error(root, f"the top level must be a mapping of {keys}, got {self.kind(root)}")
        top = self.mapping(root, "at top level", _TOP_KEYS)
        where = "under defaults"
        defaults = self.layer(self.mapping(self.value(top, "defaults"), where, _SETTING_KEYS), where)
        groups = self.groups(self.value(top, "groups"))
        own: dict[str, tuple[yaml.Node, _Layer, list[str]]] = {}
        for alias, (knode, vnode) in self.mapping(self.value(top, "hosts"), "under hosts", None).items():
            self.check_alias(alias, knode)
            where = f"under host {alias!r}"
            entries = self.mapping(vnode, where, _HOST_KEYS)
            names = [self.group_ref(n, where, groups) for n in self.sequence(entries, "groups", where)]
            own[alias] = (knode, self.layer(entries, where), names)
        # A host a group lists is a member even when `hosts:` does not name it; order by first mention.
        first: dict[str, yaml.Node] = {alias: knode for alias, (knode, _, _) in own.items()}
        for group in groups.values():
            for alias, node in group.members.items():
                if alias not in first or _position(node) < _position(first[alias]):
                    first[alias] = node
        result = []
        for alias in sorted(first, key=lambda a: _position(first[a])):
            knode, layer, names = own.get(alias, (first[alias], _Layer(), []))
            in_groups = tuple(g for g in groups if g in names or alias in groups[g].members)
            layers = [defaults, *(groups[g].layer for g in in_groups), layer]
            result.append(self.merge(alias, knode, in_groups, layers))
        return result

    def groups(self, node: yaml.Node | None) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        for name, (knode, vnode) in self.mapping(node, "under groups", None).items():
            if not name or any(c.isspace() or c == "," for c in name):
                raise self.error(knode, f"group name {name!r} must be one word, without spaces or commas")
            where = f"under group {name!r}"
            entries = self.mapping(vnode, where, _GROUP_KEYS)
            settings = self.mapping(
                self.value(entries, "settings"), f"under settings of {name!r}", _SETTING_KEYS
            )
            members: dict[str, yaml.Node] = {}
            for item in self.sequence(entries, "hosts", where):
                alias = self.string(item, f"each entry of 'hosts' {where}")
                self.check_alias(alias, item)
                members.setdefault(alias, item)
            groups[name] = _Group(self.layer(settings, where), members)
        return groups

    def group_ref(self, node: yaml.Node, where: str, groups: dict[str, _Group]) -> str:
        name = self.string(node, f"each entry of 'groups' {where}")
        if name not in groups:
            known = ", ".join(groups) or "none"
            raise self.error(
                node, f"unknown group {name!r} {where} (groups declared under 'groups:': {known})"
            )
        return name

    def merge(
        self, alias: str, node: yaml.Node, groups: tuple[str, ...], layers: list[_Layer]
    ) -> InventoryHost:
        values: dict[str, Any] = {}
        thresholds: dict[str, Any] = {}
        for layer in layers:
            values.update(layer.values)
            thresholds.update(layer.thresholds)
        merged = dataclasses.replace(Thresholds(), **thresholds)
        if merged.disk_warning_pct > merged.disk_critical_pct:
            raise self.error(
                node,
                f"host {alias!r}: disk_warning_pct ({merged.disk_warning_pct:g}) is above disk_critical_pct "
                f"({merged.disk_critical_pct:g}) once defaults, groups and host settings are merged",
            )
        settings = dataclasses.replace(HostSettings(), **values, thresholds=merged)
        return InventoryHost(alias, groups, settings, self.path, node.start_mark.line + 1)

    # --- settings -------------------------------------------------------------------------------------

    def layer(self, entries: _Entries, where: str) -> _Layer:
        layer = _Layer()
        for key, (_, vnode) in entries.items():
            if key == "thresholds":
                for name, (_, node) in self.mapping(
                    vnode, f"under thresholds {where}", _THRESHOLD_KEYS
                ).items():
                    layer.thresholds[name] = self.threshold(name, node, where)
            elif key == "enabled":
                value = self.scalar(vnode)
                if not isinstance(value, bool):
                    raise self.error(
                        vnode, f"'enabled' {where} must be true or false, got {self.kind(vnode)}"
                    )
                layer.values[key] = value
            elif key in _PATH_KEYS:
                value = self.scalar(vnode)
                if value is not None and (not isinstance(value, str) or not value.strip()):
                    wanted = "a remote path (a non-empty string) or null"
                    raise self.error(vnode, f"{key!r} {where} must be {wanted}, got {self.kind(vnode)}")
                layer.values[key] = value
        return layer

    def threshold(self, name: str, node: yaml.Node, where: str) -> float | int:
        try:
            return checked_threshold(name, self.scalar(node))
        except TypeError as exc:
            raise self.error(
                node, f"threshold {name!r} {where} must be {exc}, got {self.kind(node)}"
            ) from None
        except ValueError as exc:
            raise self.error(node, f"threshold {name!r} {where} must be {exc}, got {node.value}") from None

    # --- nodes ----------------------------------------------------------------------------------------

    def mapping(self, node: yaml.Node | None, where: str, allowed: tuple[str, ...] | None) -> _Entries:
        """Key -> (key node, value node); null or absent is empty; unknown and duplicate keys are errors."""
        if node is None or _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"the value {where} must be a mapping, got {self.kind(node)}")
        if id(node) in self.duplicates:
            name, again, first = self.duplicates[id(node)]
            line = first.start_mark.line + 1
            raise self.error(again, f"duplicate key {name!r} {where} (first at line {line})")
        # "<<" merge keys as safe_load has them: merged pairs first, so the mapping's own keys win.
        self.loader.flatten_mapping(node)
        entries: _Entries = {}
        for knode, vnode in node.value:
            key = self.scalar(knode)
            if not isinstance(key, str):
                raise self.error(knode, f"keys {where} must be strings, got {self.kind(knode)}")
            if allowed is not None and key not in allowed:
                raise self.error(knode, f"unknown key {key!r} {where} (allowed: {', '.join(allowed)})")
            entries[key] = (knode, vnode)
        return entries

    def find_duplicates(self, root: yaml.Node) -> dict[int, tuple[str, yaml.Node, yaml.Node]]:
        """Every mapping's first repeated key, found before merge keys rewrite any mapping in place."""
        found: dict[int, tuple[str, yaml.Node, yaml.Node]] = {}
        stack, seen = [root], set()
        while stack:
            node = stack.pop()
            if id(node) in seen or isinstance(node, yaml.ScalarNode):
                continue
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
                continue
            first: dict[object, yaml.Node] = {}
            for knode, vnode in node.value:
                stack.append(vnode)
                if knode.tag == "tag:yaml.org,2002:merge" or not isinstance(knode, yaml.ScalarNode):
                    continue
                key = self.scalar(knode)
                if key in first and id(node) not in found:
                    found[id(node)] = (str(key), knode, first[key])
                first.setdefault(key, knode)
        return found

    def sequence(self, entries: _Entries, key: str, where: str) -> list[yaml.Node]:
        node = self.value(entries, key)
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{key!r} {where} must be a list, got {self.kind(node)}")
        return list(node.value)

    @staticmethod
    def value(entries: _Entries, key: str) -> yaml.Node | None:
        return entries[key][1] if key in entries else None

    def scalar(self, node: yaml.Node) -> object:
        if not isinstance(node, yaml.ScalarNode):
            return _COMPOUND
        return self.loader.construct_object(node)

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str):
            raise self.error(node, f"{what} must be a string, got {self.kind(node)}")
        return value

    def check_alias(self, alias: str, node: yaml.Node) -> None:
        if not valid_alias(alias.rpartition("@")[2]):
            raise self.error(
                node,
                f"host alias {alias!r} is not one ssh accepts (no leading '-', spaces, commas or shell "
                "metacharacters); use the alias from your ssh_config",
            )

    def kind(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        value = self.loader.construct_object(node)
        if value is None:
            return "null"
        names = {bool: "boolean", int: "integer", float: "number", str: "string"}
        return f"{names.get(type(value), type(value).__name__)} {node.value!r}"

    def error(self, node: yaml.Node, message: str) -> InventoryError:
        return InventoryError(message, path=self.path, line=node.start_mark.line + 1)


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def checked_threshold(name: str, value: object) -> float | int:
    """``value`` as threshold ``name`` (float, or int for whole-number ones): TypeError when it is not a
    number of that kind, ValueError when it is not finite and in range (each says what was wanted)."""
    whole = _THRESHOLD_TYPES[name] is int
    # bool is an int in Python; `true` is never a valid threshold.
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and isinstance(value, float)):
        raise TypeError("a whole number" if whole else "a number")
    in_range, wanted = threshold_bounds(name)
    if not math.isfinite(value) or not in_range(value):
        raise ValueError(wanted)
    return value if whole else float(value)


def threshold_bounds(name: str) -> tuple[Callable[[float], bool], str]:
    """The valid range of a threshold, from its name's unit, and how to say it."""
    if name == "supervisor_stale_threshold_s":
        return (lambda v: v >= 0), "a number of seconds (0 turns supervisor_stale off)"
    if name.endswith("_pct"):
        return (lambda v: 0 <= v <= 100), "a percentage from 0 to 100"
    if name.endswith("_s"):
        return (lambda v: v > 0), "a positive number of seconds"
    if name.endswith("_h"):
        return (lambda v: v > 0), "a positive number of hours"
    if name.endswith("_usd"):
        return (lambda v: v >= 0), "an amount in USD, 0 or more"
    if name == "rate_threshold":
        return (lambda v: 0 <= v <= 1), "a fraction from 0 to 1"
    return (lambda v: v > 0), "a positive number"
