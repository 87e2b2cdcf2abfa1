"""fleetwatch's own config file: YAML read into the very settings objects the core uses, with
``file:line`` on every error.

Where it is: ``--config FILE`` > ``$FLEETWATCH_CONFIG`` > ``$XDG_CONFIG_HOME/fleetwatch/config.yaml``
(a missing default file means defaults).  Precedence of values: command line > environment > file >
defaults; the command line and environment layers are applied by ``cli/settings.py``.  Every key is
documented in ``docs/configuration.md``.

Each setting is defined once, as a field of the dataclass that uses it (``PassSettings``, ``Policy``,
``Damping``, ``VantageRules``, ``AutoStopPolicy``, ``Target``); field metadata says how the file spells it
(``basics.yaml_key``) and which nested objects sit at their parent's level (``basics.INLINE``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import os
import types
import typing
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetwatch import paths
from fleetwatch.actions.plan import AutoStopPolicy
from fleetwatch.basics import INLINE, Duration, finite_duration, host_port
from fleetwatch.episodes import Damping
from fleetwatch.errors import ConfigError
from fleetwatch.notify.model import Target
from fleetwatch.rules.catalogue import BUILTIN_ONLY, Catalogue, load_catalogue, rule_paths
from fleetwatch.settings import PassSettings


class UnknownName(ValueError):
    """A detector name the catalogue does not have (the parser points at the line that names it)."""

    def __init__(self, name: str, known: frozenset[str], skipped: Sequence[str] = ()) -> None:
        why = next((p for p in skipped if f" rule {name}: " in p), None)
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else "see docs/detectors.md and your rules"
        if why is not None:  # its rule did not load: say why, not "unknown"
            super().__init__(f"detector {name!r} is a rule that was skipped: {why}")
        else:
            super().__init__(f"unknown detector {name!r} ({hint})")
        self.name = name


@dataclass(frozen=True)
class ReportSchedule:
    """``report: {every: 7d, period: 7d}``: send ``fleetwatch report`` through the targets this often."""

    every: Duration | None = None
    """How often; None (the default): never, only ``fleetwatch report --send``."""
    period: Duration = Duration(7 * 86400)
    """What each report covers, ending when it is sent."""

    def __post_init__(self) -> None:
        if self.every is not None and self.every <= 0:
            raise ValueError("report.every must be more than 0 s")
        if self.period <= 0:
            raise ValueError("report.period must be more than 0 s")


@dataclass(frozen=True)
class Config:
    """Everything the config file can set."""

    ssh_config: str | None = None
    """OpenSSH client config to read aliases from (default ~/.ssh/config)."""
    inventories: tuple[str, ...] = ()
    """YAML inventories, as if each were given with --inventory."""
    ansible_inventories: tuple[str, ...] = ()
    """Ansible inventories (whatever ``ansible-inventory -i`` reads), as if each were given with
    --ansible-inventory."""
    passes: PassSettings = field(default_factory=PassSettings, metadata=INLINE)
    """Timeout, concurrency, interval, damping, reminders, offline detection (top-level keys)."""
    notify: tuple[Target, ...] = ()
    """Where alerts go."""
    auto_stop: AutoStopPolicy = field(
        default_factory=AutoStopPolicy, metadata={"hoisted": {"auto_stop_on": "on"}}
    )
    """Opt-in auto-stop; its detectors may also be listed as top-level ``auto_stop_on`` (as in 0.1.0)."""
    heartbeat_url: str | None = None
    """Requested (GET) after each completed pass: a dead-man's switch such as healthchecks.io."""
    report: ReportSchedule = field(default_factory=lambda: ReportSchedule())
    """The periodic report (``fleetwatch report``) sent through the notification targets."""
    metrics_listen: str | None = None
    """``HOST:PORT`` where watch mode serves Prometheus ``/metrics`` (None: no endpoint; ``--once`` never
    serves)."""
    rules: tuple[str, ...] = ()
    """Rule files or directories (relative to this file), loaded after ``detectors/`` next to it."""
    catalogue: Catalogue = field(default=BUILTIN_ONLY, metadata={"internal": True})
    """The detectors this run uses: the built-ins and the rules that loaded (set when the file is read)."""

    def __post_init__(self) -> None:
        if self.heartbeat_url is not None:
            parts = urllib.parse.urlsplit(self.heartbeat_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    "heartbeat_url must be an http:// or https:// URL (a healthchecks-style ping URL)"
                )
        if self.metrics_listen is not None:
            try:
                host_port(self.metrics_listen)
            except ValueError as exc:
                raise ValueError(f"metrics_listen {exc}") from None

        known = self.catalogue.names
        for name in (*self.auto_stop.on, *self.passes.policy.damping):
            if name not in known:
                raise UnknownName(name, known, self.catalogue.problems)

    def with_rules(self) -> Config:
        """This config with its rules' own settings applied: each rule's ``for`` / ``clear`` unless
        ``damping:`` sets that rule's, and ``auto_stop: true`` rules added to ``auto_stop.on``."""
        cat = self.catalogue
        if not cat.rules:
            return self
        policy = self.passes.policy
        damping = {**cat.damping, **policy.damping}
        for name in cat.damping.keys() & policy.damping.keys():
            damping[name] = _overlaid(cat.damping[name], policy.damping[name])
        return dataclasses.replace(
            self,
            passes=dataclasses.replace(self.passes, policy=dataclasses.replace(policy, damping=damping)),
            auto_stop=dataclasses.replace(self.auto_stop, on=self.auto_stop.on | cat.auto_stop),
        )


def _overlaid(rule: Damping, config: Damping) -> Damping:
    """A rule's own damping with what ``damping:`` sets for it: ``for`` and ``clear`` each come from the
    config when it sets them (differs from the default), else from the rule (``{clear: 3}`` keeps the rule's
    ``for: 10m``)."""
    unset = Damping()
    for_polls, for_s = (
        (config.for_polls, config.for_s)
        if (config.for_polls, config.for_s) != (unset.for_polls, unset.for_s)
        else (rule.for_polls, rule.for_s)
    )
    clear_polls, clear_s = (
        (config.clear_polls, config.clear_s)
        if (config.clear_polls, config.clear_s) != (unset.clear_polls, unset.clear_s)
        else (rule.clear_polls, rule.clear_s)
    )
    return Damping(for_polls, clear_polls, for_s, clear_s)


def config_path(override: str | None) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for explicitly (then it must exist)."""
    if override:
        return Path(override).expanduser(), True
    env = os.environ.get("FLEETWATCH_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return paths.config_dir() / "config.yaml", False


def load_config(override: str | None = None, extra_rules: tuple[str, ...] = ()) -> Config:
    """Read the config file (defaults when the default file does not exist) and the rules: those in
    ``detectors/`` next to it, those it lists, then ``extra_rules`` (``--rules``)."""
    path, explicit = config_path(override)
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                "config file not found (check --config / FLEETWATCH_CONFIG)", path=str(path)
            ) from None
        text = ""
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=str(path)) from None
    return parse_config(text, str(path), extra_rules)


def parse_config(text: str, path: str, extra_rules: tuple[str, ...] = ()) -> Config:
    """YAML text -> Config with its rules loaded (see ``load_config``), every error with ``path:line``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"not valid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    listed = _listed_rules(node, Path(path)) if node is not None else ()
    catalogue = load_catalogue(rule_paths(Path(path), listed, extra_rules))
    if node is None:
        return Config(catalogue=catalogue).with_rules()
    value = _dataclass(node, Config, path, "top level", {("catalogue",): catalogue})
    assert isinstance(value, Config)
    return value.with_rules()


def _listed_rules(node: yaml.Node, path: Path) -> tuple[str, ...]:
    """The config's ``rules:`` paths, each checked to exist (``path:line`` otherwise)."""
    if not isinstance(node, yaml.MappingNode):
        return ()  # the full conversion says what is wrong
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "rules":
            listed = _convert(value, tuple[str, ...], str(path), "rules")
            for item, text in zip(value.value, listed, strict=True):
                if not (path.parent / Path(text).expanduser()).exists():
                    raise _fail(item, str(path), f"rules: {text}: no such rule file or directory")
            return tuple(listed)
    return ()


def with_values(config: Config, changes: Mapping[tuple[str, ...], Any]) -> Config:
    """``config`` with the fields at these paths (``("passes", "timeout")``) replaced."""
    result = _replace_paths(config, changes)
    assert isinstance(result, Config)
    return result


def _replace_paths(obj: Any, changes: Mapping[tuple[str, ...], Any]) -> Any:
    direct = {p[0]: v for p, v in changes.items() if len(p) == 1}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for p, v in changes.items():
        if len(p) > 1:
            nested.setdefault(p[0], {})[p[1:]] = v
    for name, sub in nested.items():
        direct[name] = _replace_paths(getattr(obj, name), sub)
    return dataclasses.replace(obj, **direct) if direct else obj


# -- YAML nodes -> typed values ---------------------------------------------------------------------

_Key = tuple[tuple[str, ...], Any]  # (path of field names from the dataclass read, type hint)


def _keys(cls: type) -> dict[str, _Key]:
    """How the file spells each field of ``cls`` (inline parts flattened, old spellings included)."""
    hints = typing.get_type_hints(cls)
    keys: dict[str, _Key] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if f.metadata.get("internal"):
            continue  # set by fleetwatch itself (a rule's damping), not by the config file
        if f.metadata.get("inline"):
            keys.update({k: ((f.name, *p), h) for k, (p, h) in _keys(hint).items()})
            continue
        for key in (f.metadata.get("key", f.name), *f.metadata.get("aliases", ())):
            keys[key] = ((f.name,), hint)
        for key, sub in f.metadata.get("hoisted", {}).items():
            keys[key] = ((f.name, sub), typing.get_type_hints(hint)[sub])
    return keys


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _fail(node: yaml.Node, path: str, message: str) -> ConfigError:
    return ConfigError(message, path=path, line=_line(node))


def _convert(node: yaml.Node, hint: Any, path: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(node, hint, path, where)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        return _convert(node, options[0], path, where)
    if origin in (tuple, frozenset):
        if not isinstance(node, yaml.SequenceNode):
            raise _fail(node, path, f"{where}: expected a list")
        return origin(_convert(item, typing.get_args(hint)[0], path, where) for item in node.value)
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(node, yaml.MappingNode):
            raise _fail(node, path, f"{where}: expected a mapping")
        value_type = typing.get_args(hint)[1]
        return {
            _key(k, path, where): _convert(v, value_type, path, f"{where}.{k.value}") for k, v in node.value
        }
    return _scalar(node, hint, path, where)


def _scalar(node: yaml.Node, hint: Any, path: str, where: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(node, path, f"{where}: expected a single value, not a list or mapping")
    raw = yaml.safe_load(yaml.serialize(node))
    if hint is Duration:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise _fail(node, path, f"{where}: expected a duration such as 90s, 30m or 4h")
        try:
            seconds = finite_duration(str(raw))
        except ValueError as exc:
            raise _fail(node, path, f"{where}: {exc}") from None
        return Duration(seconds)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        names = {m.name.lower(): m for m in hint}
        if not isinstance(raw, str) or raw.lower() not in names:
            what = hint.__name__.lower()
            raise _fail(node, path, f"{where}: unknown {what} {raw!r} (use {', '.join(sorted(names))})")
        return names[raw.lower()]
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if hint in (str, int, float, bool) and (type(raw) is not hint):
        raise _fail(node, path, f"{where}: expected {hint.__name__}, got {raw!r}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise _fail(node, path, f"{where}: must be a finite number, got {raw}")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw < 0:
        raise _fail(node, path, f"{where}: must not be negative")
    return raw


def _dataclass(
    node: yaml.Node, cls: type, path: str, where: str, preset: Mapping[tuple[str, ...], Any] | None = None
) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(node, path, f"{where}: expected a mapping")
    keys = _keys(cls)
    values: dict[tuple[str, ...], Any] = dict(preset or {})
    seen: dict[tuple[str, ...], str] = {}
    for key_node, value_node in node.value:
        key = _key(key_node, path, where)
        if key not in keys:
            allowed = ", ".join(k for k in keys if k not in _old_spellings(cls))
            raise _fail(key_node, path, f"unknown key {key!r} in {where} (allowed: {allowed})")
        field_path, hint = keys[key]
        if field_path in seen:
            first = seen[field_path]
            same = f" ({key!r} and {first!r} are the same setting)" if first != key else ""
            raise _fail(key_node, path, f"{where}: duplicate key {key!r}{same}")
        seen[field_path] = key
        inner = key if where == "top level" else f"{where}.{key}"
        values[field_path] = _convert(value_node, hint, path, inner)
    try:
        return _assemble(cls, values)
    except (TypeError, ValueError) as exc:
        # Point at the key the message is about ("timeout must be …") or the name it is about, else at
        # the whole mapping.
        blamed = next((k for k, _ in node.value if str(exc).startswith(f"{k.value} ")), None)
        if blamed is None and isinstance(exc, UnknownName):
            blamed = _naming(node, exc.name)
        raise _fail(blamed or node, path, f"{where}: {exc}") from None


def _naming(node: yaml.Node, name: str) -> yaml.Node | None:
    """The first scalar (key or value) under ``node`` that reads ``name``."""
    if isinstance(node, yaml.ScalarNode):
        return node if node.value == name else None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        found = _naming(child, name)
        if found is not None:
            return found
    return None


def _key(node: yaml.Node, path: str, where: str) -> str:
    """A key as written: ``on`` stays ``on`` (YAML 1.1 would read it as true)."""
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(node, path, f"{where}: a key must be a single word, not a list or mapping")
    return str(node.value)


def _old_spellings(cls: type) -> set[str]:
    """Keys kept for compatibility, left out of "allowed:" lists."""
    old: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        old.update(f.metadata.get("aliases", ()))
        old.update(f.metadata.get("hoisted", {}))
        if f.metadata.get("inline"):
            old |= _old_spellings(hints[f.name])
    return old


def _assemble(cls: type, values: Mapping[tuple[str, ...], Any]) -> Any:
    """Build ``cls`` from values keyed by field path; nested objects built or amended as needed."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        deeper = {p[1:]: v for p, v in values.items() if len(p) > 1 and p[0] == f.name}
        if (f.name,) in values:
            kwargs[f.name] = values[(f.name,)]
            if deeper:  # a hoisted key amends the nested object read from its own section
                clash = [p[0] for p in deeper if p[0] in _given(values[(f.name,)], hints[f.name])]
                if clash:
                    raise ValueError(f"{f.name}.{clash[0]} is set twice (also by a top-level key)")
                kwargs[f.name] = _replace_paths(kwargs[f.name], deeper)
        elif deeper:
            kwargs[f.name] = _assemble(hints[f.name], deeper)
    return cls(**kwargs)


def _given(obj: Any, cls: type) -> set[str]:
    """Fields of ``obj`` that differ from ``cls``'s defaults (what its own section set)."""
    default = cls()
    return {f.name for f in dataclasses.fields(cls) if getattr(obj, f.name) != getattr(default, f.name)}
