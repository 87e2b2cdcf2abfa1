"""Effective settings: command line > environment (``FLEETWATCH_*``) > config file > defaults."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetwatch import paths
from fleetwatch.basics import Duration, finite_duration, host_port
from fleetwatch.cli.output import diag
from fleetwatch.config import Config, config_path, load_config, with_values
from fleetwatch.errors import ConfigError
from fleetwatch.inventory.fleet import Fleet, select_fleet
from fleetwatch.inventory.ssh_config import default_config
from fleetwatch.notify.model import Target
from fleetwatch.rules.catalogue import load_catalogue, rule_paths
from fleetwatch.store import Store

# Settings that can also come from FLEETWATCH_<NAME> or --<name>, and where they live in the Config.
_OVERLAY: dict[str, tuple[str, ...]] = {
    "interval": ("passes", "interval"),
    "timeout": ("passes", "timeout"),
    "concurrency": ("passes", "concurrency"),
    "deadline": ("passes", "deadline"),
    "ssh_config": ("ssh_config",),
    "heartbeat_url": ("heartbeat_url",),
    "metrics_listen": ("metrics_listen",),
}


def effective_config(args: argparse.Namespace, base: Config | None = None, *, tell: bool = True) -> Config:
    """The config file overlaid with the environment and the command line; a bad value is a
    ``ConfigError`` naming the flag or variable it came from.

    ``base`` replaces the file *and* the environment (the demo must never notify the user's real targets).
    ``tell``: say each rule that was skipped on stderr (``rules`` commands list them themselves).
    """
    rules = tuple(getattr(args, "rules", None) or ())
    for path in rules:
        if not Path(path).expanduser().exists():
            raise ConfigError(f"--rules {path}: no such rule file or directory")
    if base is None:
        config = load_config(getattr(args, "config", None), rules)
        if config.notify or config.heartbeat_url:
            warn_if_readable(config_path(getattr(args, "config", None))[0])
    elif rules:  # the demo: no config file, but the rules asked for on the command line
        config = dataclasses.replace(base, catalogue=load_catalogue(rule_paths(None, (), rules))).with_rules()
    else:
        config = base
    if tell:
        tell_rule_problems(config.catalogue.problems)
    layers: list[tuple[str, str, str]] = []  # (setting, value, where it came from)
    for name in (*_OVERLAY, "inventory", "ansible_inventory", "notify"):
        env = os.environ.get(f"FLEETWATCH_{name.upper()}") if base is None else None
        if env:
            layers.append((name, env, f"FLEETWATCH_{name.upper()}"))
    for name in _OVERLAY:
        value = getattr(args, name, None)
        if value is not None:
            layers.append((name, str(value), f"--{name.replace('_', '-')}"))
    for name in ("inventory", "ansible_inventory"):
        if getattr(args, name, None):
            layers.append((name, os.pathsep.join(getattr(args, name)), f"--{name.replace('_', '-')}"))
    for url in getattr(args, "notify", None) or ():
        layers.append(("notify", url, "--notify"))
    for name, value, source in layers:
        try:
            config = with_values(config, _convert(config, name, value))
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return config


_told: set[str] = set()


def warn_if_readable(path: Path) -> None:
    """Say once when the config file holding notification URLs (tokens) is open to other users."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    line = (
        f"{path} holds notification URLs (tokens) and other users can read it (mode {mode:04o}): "
        f"chmod 600 {path}"
    )
    if mode & 0o077 and line not in _told:
        _told.add(line)
        diag(line)


def tell_rule_problems(problems: Sequence[str]) -> None:
    """Each rule that could not be loaded, once per run on stderr (the others and the built-ins run)."""
    for line in problems:
        if line not in _told:
            _told.add(line)
            diag(f"rule skipped: {line}")


def _convert(config: Config, name: str, value: str) -> dict[tuple[str, ...], Any]:
    """One overlay value as config changes; ValueError when it is not a valid value."""
    if name in ("inventory", "ansible_inventory"):
        return {
            (f"{name.removesuffix('inventory')}inventories",): tuple(p for p in value.split(os.pathsep) if p)
        }
    if name == "notify":  # FLEETWATCH_NOTIFY may hold several URLs, separated by whitespace
        return {("notify",): (*config.notify, *(Target(url) for url in value.split()))}
    where = _OVERLAY[name]
    if name in ("interval", "timeout", "deadline"):
        return {where: Duration(finite_duration(value))}
    if name == "metrics_listen":
        host_port(value)
    if name == "concurrency":
        if not value.strip().isdigit():
            raise ValueError(f"expected a whole number of hosts, got {value!r}")
        return {where: int(value)}
    return {where: value}


def ssh_config_path(config: Config) -> tuple[Path, bool]:
    """The ssh_config to read and whether it was named explicitly (then it must exist)."""
    if config.ssh_config:
        return Path(config.ssh_config).expanduser(), True
    path = paths.default_ssh_config()
    # No ~/.ssh/config under $HOME: resolve as plain `ssh` would, from the passwd home's config (if any).
    return (path if path.exists() else default_config()), False


def selected_fleet(
    args: argparse.Namespace, config: Config, *, listing: bool = False, resolve: bool = True
) -> Fleet:
    """The hosts ``--host`` / ``--group`` select; with ``listing`` and no selection, every host (disabled
    ones too: a listing shows them), else every enabled host."""
    ssh_config, explicit = ssh_config_path(config)
    names, groups = getattr(args, "host", None) or [], getattr(args, "group", None) or []
    return select_fleet(
        ssh_config,
        [Path(p).expanduser() for p in config.inventories],
        names,
        groups,
        explicit_config=explicit,
        everything=listing and not (names or groups),
        resolve=resolve,
        ansible=[Path(p).expanduser() for p in config.ansible_inventories],
    )


def open_store(args: argparse.Namespace, *, reading: bool = False) -> Store:
    """The state database for this command (``--state-dir`` > env > XDG), saying what opening it fixed.

    ``reading``: a command that only reads it (status, silences, history, report, rules test) never
    creates one: a mistyped ``--state-dir`` is an error, not an empty fleet that looks fine."""
    state_dir = paths.state_dir(getattr(args, "state_dir", None))
    if reading and not Store.file(state_dir).exists():
        raise ConfigError(
            f"no state database in {state_dir}: nothing has polled into it yet (run `fleetwatch check` "
            "or watch mode first), or check --state-dir / FLEETWATCH_STATE_DIR"
        )
    store = Store.open(state_dir)
    for note in store.notes:
        diag(note)
    return store


def no_hosts(fleet: Fleet) -> str:
    """What to say when nothing is selected to poll."""
    return f"no hosts to poll (none in {fleet.ssh_config}, or none selected); see `fleetwatch hosts`"
