"""The fleet: which hosts to watch, each resolved once, and the selection a command line makes of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetwatch import paths
from fleetwatch.errors import InventoryError
from fleetwatch.inventory.model import Host
from fleetwatch.inventory.resolve import resolve_alias, resolve_all
from fleetwatch.inventory.ssh_config import discover_aliases
from fleetwatch.inventory.yaml_file import InventoryHost, load_inventory
from fleetwatch.settings import HostSettings


def load_fleet(
    ssh_config: Path, inventories: Sequence[Path], *, explicit_config: bool = True
) -> tuple[list[Host], list[InventoryError]]:
    """The inventories' hosts (else every ssh_config alias), resolved; hosts that fail come back as errors.

    A missing default ssh_config (``explicit_config=False``) is an empty fleet, as it is no error to ssh;
    unreadable or invalid files raise ``InventoryError``.
    """
    entries: list[tuple[str, tuple[str, ...], HostSettings]] = []
    if inventories:
        entries = [(h.alias, h.groups, h.settings) for h in _inventory_hosts(inventories)]
    elif explicit_config or ssh_config.expanduser().exists():
        entries = [(alias, (), HostSettings()) for alias in discover_aliases(ssh_config)]
    resolved = resolve_all([alias for alias, _, _ in entries], ssh_config)
    hosts: list[Host] = []
    errors: list[InventoryError] = []
    for alias, groups, settings in entries:
        target = resolved[alias]
        if isinstance(target, InventoryError):
            errors.append(target)
        else:
            hosts.append(Host(alias, target, groups, settings))
    return hosts, errors


def select(
    hosts: Sequence[Host], names: Sequence[str], groups: Sequence[str], ssh_config: Path | None = None
) -> tuple[list[Host], list[InventoryError]]:
    """Hosts to poll: the named ones and enabled members of the groups; no names or groups = all enabled.

    A named host is polled even when disabled (naming it is explicit).  A name not in the fleet is
    resolved against ``ssh_config`` as ``ssh name`` would be; if that fails it comes back as an error.
    An unknown group raises ``InventoryError``.
    """
    if not names and not groups:
        return [h for h in hosts if h.settings.enabled], []
    known = list(dict.fromkeys(g for h in hosts for g in h.groups))
    for group in groups:
        if group not in known:
            listing = ", ".join(known) or "none (groups are declared in --inventory files)"
            raise InventoryError(f"unknown group {group!r}; known groups: {listing}")
    wanted = set(groups)
    chosen = [h for h in hosts if h.alias in names or (h.settings.enabled and wanted & set(h.groups))]
    in_fleet = {h.alias for h in hosts}
    ad_hoc = [n for n in dict.fromkeys(names) if n not in in_fleet]
    errors: list[InventoryError] = []
    for alias, target in resolve_all(ad_hoc, ssh_config or paths.default_ssh_config()).items():
        if isinstance(target, InventoryError):
            errors.append(target)
        else:
            chosen.append(Host(alias, target))
    return chosen, errors


def adhoc_host(alias: str, ssh_config: Path | None = None) -> Host:
    """A Host for an alias outside the fleet, resolved as ``ssh alias`` would; raises ``ResolveError``."""
    return Host(alias, resolve_alias(alias, ssh_config or paths.default_ssh_config()))


def _inventory_hosts(inventories: Sequence[Path]) -> list[InventoryHost]:
    seen: dict[str, InventoryHost] = {}
    for path in inventories:
        for host in load_inventory(path):
            if host.alias in seen:
                first = seen[host.alias]
                raise InventoryError(
                    f"host {host.alias!r} is also declared in {first.path}:{first.line}; "
                    "declare each host in one inventory",
                    path=host.path,
                    line=host.line,
                )
            seen[host.alias] = host
    return list(seen.values())
