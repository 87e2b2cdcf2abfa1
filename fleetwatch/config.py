"""fleetwatch's own config file: typed dataclasses, read from YAML with ``file:line`` on every error.

Where it is: ``--config FILE`` > ``$FLEETWATCH_CONFIG`` > ``$XDG_CONFIG_HOME/fleetwatch/config.yaml``
(a missing default file means defaults).  Precedence of values: command line > environment > file >
defaults; the command line layer is applied by ``cli.py``.  Every key is documented in
``docs/configuration.md`` and ``contrib/config.example.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetwatch import paths
from fleetwatch.basics import parse_duration
from fleetwatch.errors import ConfigError
from fleetwatch.vantage import VantageRules

SEVERITIES = frozenset({"info", "warning", "critical"})


class Duration(float):
    """Seconds; written in the file as a number or as ``30m``, ``4h``, ``1h30m``."""


@dataclass(frozen=True)
class NotifyTarget:
    """One Apprise URL and what it wants."""

    url: str
    """Any Apprise URL (slack://…, pagerduty://…, mailto://…, json://…).  Carries secrets: never printed."""
    severities: tuple[str, ...] = ("info", "warning", "critical")
    """Severities sent to this target."""
    groups: tuple[str, ...] = ()
    """Only hosts in these inventory groups; empty = every host."""

    def __post_init__(self) -> None:
        unknown = set(self.severities) - SEVERITIES
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)} (use {', '.join(sorted(SEVERITIES))})")


@dataclass(frozen=True)
class DetectorRule:
    """Flap damping for one detector (see docs/detectors.md, episodes)."""

    for_: int = 1
    """Consecutive polls with the condition before an episode opens (key ``for``)."""
    clear: int = 1
    """Consecutive clean polls before an open episode resolves."""

    def __post_init__(self) -> None:
        if self.for_ < 1 or self.clear < 1:
            raise ValueError("`for` and `clear` count polls: at least 1")


@dataclass(frozen=True)
class AutoStop:
    """Guards of the opt-in auto-stop."""

    consecutive: int = 2
    """The condition must hold on this many consecutive polls first."""
    max_per_hour: int = 3
    """Fleet breaker: never stop more hosts than this per rolling hour."""
    drain_deadline: Duration = Duration(600)
    """A stop still draining after this long is reported failed."""


@dataclass(frozen=True)
class Config:
    """Everything the config file can set."""

    ssh_config: str | None = None
    """OpenSSH client config to read aliases from (default ~/.ssh/config)."""
    inventories: tuple[str, ...] = ()
    """YAML inventories, as if each were given with --inventory."""
    interval: Duration | None = None
    """Watch mode: time between passes (default 60 s).  ``check``: how often cron runs it, for sleep
    detection (default 5 min; fleetwatch also learns it from the spacing of recent runs)."""
    timeout: Duration = Duration(20)
    """Hard deadline per host for connect + command."""
    concurrency: int = 32
    """Hosts polled at once."""
    notify: tuple[NotifyTarget, ...] = ()
    """Where alerts go."""
    repeat_interval: Duration = Duration(4 * 3600)
    """Remind still-open critical episodes this often; 0 = never."""
    detectors: Mapping[str, DetectorRule] = field(default_factory=dict)
    """Per-detector damping, e.g. ``supervisor_stale: {for: 2, clear: 2}``."""
    default_rule: DetectorRule = field(default_factory=DetectorRule)
    """Damping for detectors not listed under ``detectors``."""
    auto_stop_on: tuple[str, ...] = ()
    """Detectors that may stop the remote runner (``agent-runner stop``); default: none."""
    auto_stop: AutoStop = field(default_factory=AutoStop)
    """Auto-stop guards."""
    heartbeat_url: str | None = None
    """Requested (GET) after each completed pass: a dead-man's switch such as healthchecks.io."""
    offline: VantageRules = field(default_factory=VantageRules)
    """Watcher-offline and sleep detection."""
    path: str | None = None
    """Where this config was read from (not a key)."""

    def interval_or(self, default: float) -> float:
        """The configured interval, or ``default`` (60 s for watch mode, 5 min for ``check``)."""
        return float(self.interval) if self.interval is not None else default

    def __post_init__(self) -> None:
        from fleetwatch.detect import REGISTRY  # pure; imported late to keep config import cheap

        known = set(REGISTRY) | {"watcher_offline"}
        for name in (*self.auto_stop_on, *self.detectors):
            if name not in known:
                raise ValueError(f"unknown detector {name!r} (see docs/detectors.md)")


def config_path(override: str | None) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for explicitly (then it must exist)."""
    if override:
        return Path(override).expanduser(), True
    env = os.environ.get("FLEETWATCH_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return paths.config_dir() / "config.yaml", False


def load_config(override: str | None = None) -> Config:
    """Read the config file (defaults when the default file does not exist)."""
    path, explicit = config_path(override)
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                "config file not found (check --config / FLEETWATCH_CONFIG)", path=str(path)
            ) from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=str(path)) from None
    return parse_config(text, str(path))


def parse_config(text: str, path: str) -> Config:
    """YAML text -> Config, every error with ``path:line``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"not valid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    if node is None:
        return Config(path=path)
    value = _convert(node, Config, path, "top level")
    assert isinstance(value, Config)
    return dataclasses.replace(value, path=path)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _fail(node: yaml.Node, path: str, message: str) -> ConfigError:
    return ConfigError(message, path=path, line=_line(node))


def _key_name(field_name: str) -> str:
    return field_name.rstrip("_")  # ``for_`` is written ``for``


def _convert(node: yaml.Node, hint: Any, path: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(node, hint, path, where)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        return _convert(node, options[0], path, where)
    if origin is tuple:
        if not isinstance(node, yaml.SequenceNode):
            raise _fail(node, path, f"{where}: expected a list")
        return tuple(_convert(item, typing.get_args(hint)[0], path, where) for item in node.value)
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(node, yaml.MappingNode):
            raise _fail(node, path, f"{where}: expected a mapping")
        value_type = typing.get_args(hint)[1]
        return {
            _scalar(k, str, path, where): _convert(v, value_type, path, f"{where}.{k.value}")
            for k, v in node.value
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
            seconds = parse_duration(str(raw))
        except ValueError as exc:
            raise _fail(node, path, f"{where}: {exc}") from None
        return Duration(seconds)
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if hint in (str, int, float, bool) and (type(raw) is not hint):
        raise _fail(node, path, f"{where}: expected {hint.__name__}, got {raw!r}")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw < 0:
        raise _fail(node, path, f"{where}: must not be negative")
    return raw


def _dataclass(node: yaml.Node, cls: type, path: str, where: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(node, path, f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {_key_name(f.name): f for f in dataclasses.fields(cls) if f.name != "path"}
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = _scalar(key_node, str, path, where)
        if key in seen:
            raise _fail(key_node, path, f"{where}: duplicate key {key!r}")
        seen.add(key)
        if key not in fields:
            raise _fail(key_node, path, f"unknown key {key!r} in {where} (allowed: {', '.join(fields)})")
        f = fields[key]
        values[f.name] = _convert(
            value_node, hints[f.name], path, key if where == "top level" else f"{where}.{key}"
        )
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise _fail(node, path, f"{where}: {exc}") from None
