"""The fleet: which hosts to watch, each resolved once, and the selection a command line makes of it."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetwatch.errors import HostError, InventoryError
from fleetwatch.inventory.ansible import load_ansible
from fleetwatch.inventory.model import Destination, Host, SshTarget
from fleetwatch.inventory.resolve import resolve_all, resolve_jumps
from fleetwatch.inventory.ssh_config import discover_aliases
from fleetwatch.inventory.yaml_file import InventoryHost, load_inventory
from fleetwatch.settings import HostSettings


@dataclass(frozen=True)
class Member:
    """A fleet member before resolution: its alias, groups and settings."""

    alias: str
    groups: tuple[str, ...] = ()
    settings: HostSettings = field(default_factory=HostSettings)
    destination: Destination | None = None
    """How ssh reaches it, when its inventory says more than its name (None: ``ssh ALIAS``)."""


def members(
    ssh_config: Path,
    inventories: Sequence[Path],
    *,
    explicit_config: bool = True,
    ansible: Sequence[Path] = (),
) -> list[Member]:
    """The inventories' hosts (YAML, then Ansible), else every concrete alias of the ssh_config (nothing
    resolved yet).

    A missing default ssh_config (``explicit_config=False``) is an empty fleet, as it is no error to ssh;
    unreadable or invalid files raise ``InventoryError``, and so does a host declared in both kinds.
    """
    if inventories or ansible:
        declared = _inventory_hosts(inventories)
        found = [Member(h.alias, h.groups, h.settings) for h in declared]
        where = {h.alias: f"{h.path}:{h.line}" for h in declared}
        for h in load_ansible(ansible) if ansible else ():
            if h.alias in where:
                raise InventoryError(
                    f"host {h.alias!r} is also declared in {where[h.alias]}; declare each host in one "
                    "inventory (fleetwatch settings of an Ansible host go in its fleetwatch_* variables)",
                    path=", ".join(map(str, ansible)),
                )
            found.append(Member(h.alias, h.groups, h.settings, h.destination))
        return found
    if explicit_config or ssh_config.expanduser().exists():
        return [Member(alias) for alias in discover_aliases(ssh_config)]
    return []


def pick(fleet: Sequence[Member], names: Sequence[str], groups: Sequence[str]) -> list[Member]:
    """Members to poll: the named ones and enabled members of the groups; no names or groups = all enabled.

    A named host is polled even when disabled (naming it is explicit).  A name not in the fleet is taken
    as a bare alias, resolved as ``ssh name`` would be.  An unknown group raises ``InventoryError``.
    """
    if not names and not groups:
        return [m for m in fleet if m.settings.enabled]
    known = list(dict.fromkeys(g for m in fleet for g in m.groups))
    for group in groups:
        if group not in known:
            listing = (
                ", ".join(known) or "none (groups are declared in --inventory or --ansible-inventory files)"
            )
            raise InventoryError(f"unknown group {group!r}; known groups: {listing}")
    wanted = set(groups)
    chosen = [m for m in fleet if m.alias in names or (m.settings.enabled and wanted & set(m.groups))]
    in_fleet = {m.alias for m in fleet}
    return chosen + [Member(n) for n in dict.fromkeys(names) if n not in in_fleet]


def resolve_members(chosen: Sequence[Member], ssh_config: Path) -> tuple[list[Host], list[InventoryError]]:
    """Resolve each member once (``ssh -G``, concurrently); failures come back as values."""
    destinations = {m.alias: m.destination for m in chosen if m.destination is not None}
    resolved = resolve_all([m.alias for m in chosen], ssh_config, destinations=destinations)
    hosts: list[Host] = []
    errors: list[InventoryError] = []
    for m in chosen:
        target = resolved[m.alias]
        if isinstance(target, InventoryError):
            errors.append(target)
        else:
            hosts.append(Host(m.alias, target, m.groups, m.settings))
    return hosts, errors


@dataclass(frozen=True)
class Fleet:
    """The selected members, those of them resolved, and those that failed to (polled as failures)."""

    members: tuple[Member, ...]
    hosts: tuple[Host, ...]
    unresolved: Mapping[str, HostError]
    ssh_config: Path
    jump_hosts: Mapping[str, SshTarget | InventoryError] = field(default_factory=dict)
    """The hosts' ProxyJump hops, resolved with them (once per resolution, not per connection)."""
    known_groups: frozenset[str] = frozenset()
    """Every group the inventories declare (not only the selected hosts')."""
    undeclared: tuple[str, ...] = ()
    """Names given with ``--host`` that no Host block or inventory declares (read-only views, which do
    not resolve: the caller decides whether they are known otherwise, e.g. to the state store)."""

    @property
    def names(self) -> list[str]:
        """Every selected alias, resolved or not, in inventory order."""
        return [m.alias for m in self.members]

    @property
    def by_alias(self) -> dict[str, Host]:
        """Resolved hosts by alias."""
        return {h.alias: h for h in self.hosts}


def select_fleet(
    ssh_config: Path,
    inventories: Sequence[Path],
    names: Sequence[str],
    groups: Sequence[str],
    *,
    explicit_config: bool,
    everything: bool = False,
    resolve: bool = True,
    ansible: Sequence[Path] = (),
) -> Fleet:
    """Discover and select members (all of them with ``everything``), then resolve them unless a
    read-only view needs only their names (``resolve=False``)."""
    fleet = members(ssh_config, inventories, explicit_config=explicit_config, ansible=ansible)
    chosen = fleet if everything else pick(fleet, names, groups)
    known = {m.alias for m in fleet}
    declared_groups = frozenset(g for m in fleet for g in m.groups)
    if not resolve:
        undeclared = tuple(n for n in dict.fromkeys(names) if n not in known)
        return Fleet(tuple(chosen), (), {}, ssh_config, known_groups=declared_groups, undeclared=undeclared)
    hosts, errors = resolve_members(chosen, ssh_config)
    _config_broken(errors)
    named = [str(p) for p in (*inventories, *ansible)]
    _named_but_unknown([h for h in hosts if h.alias not in known], ssh_config, named)
    unresolved = {e.host: e for e in errors if isinstance(e, HostError)}
    as_named = {m.alias for m in chosen if m.destination is None}  # resolved as `ssh -G ALIAS`, as a hop is
    jump_hosts = resolve_jumps(
        [h.target for h in hosts], ssh_config, known={h.alias: h.target for h in hosts if h.alias in as_named}
    )
    return Fleet(
        tuple(chosen), tuple(hosts), unresolved, ssh_config, jump_hosts, known_groups=declared_groups
    )


def _config_broken(errors: Sequence[InventoryError]) -> None:
    """A line ``ssh -G`` refuses breaks every alias alike: that is a config error at ``file:line``, not a
    failed poll per host."""
    broken = next((e for e in errors if e.path is not None and e.line is not None), None)
    if broken is None:
        return
    reason = getattr(broken, "reason", str(broken))
    said = reason.split(": ", 2)[-1] if reason.count(": ") >= 2 else reason
    hint = getattr(broken, "hint", "") or "run: ssh -G ALIAS"
    raise InventoryError(
        f"ssh_config error: {said.rstrip('.')} (every host resolves through this file; {hint})",
        path=broken.path,
        line=broken.line,
    )


def _named_but_unknown(bare: Sequence[Host], ssh_config: Path, inventories: Sequence[str]) -> None:
    """``--host NAME`` for a name no Host block or inventory declares is taken as ``ssh NAME`` takes it:
    fine when NAME resolves (or is an address, or is reached through a proxy); a usage error otherwise,
    not a poll that fails as a ``remote_blip`` forever."""
    for host in bare:
        t = host.target
        if t.proxy_jump or t.proxy_command or _resolves(t.hostname):
            continue
        where = f"{ssh_config}" + (f" or the inventories ({', '.join(inventories)})" if inventories else "")
        raise InventoryError(
            f"--host {host.alias}: no such host: not an alias in {where}, and {t.hostname!r} does not "
            "resolve; see `fleetwatch hosts` for the fleet"
        )


def _resolves(name: str, timeout: float = 3.0) -> bool:
    """Whether ``name`` is an IP address or resolves (system resolver, bounded: it may hang)."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    answers: list[bool] = []

    def lookup() -> None:
        try:
            answers.append(bool(socket.getaddrinfo(name, None)))
        except OSError:
            answers.append(False)

    # A daemon thread: a resolver that hangs is left behind, never waited for (a pool's shutdown would).
    worker = threading.Thread(target=lookup, name=f"resolve {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answers and answers[0])


def load_fleet(
    ssh_config: Path,
    inventories: Sequence[Path],
    names: Sequence[str] = (),
    groups: Sequence[str] = (),
    *,
    explicit_config: bool = True,
    everything: bool = False,
    ansible: Sequence[Path] = (),
) -> tuple[list[Host], list[InventoryError]]:
    """Discover, select (unless ``everything``) and resolve: only selected hosts cost an ``ssh -G``."""
    fleet = members(ssh_config, inventories, explicit_config=explicit_config, ansible=ansible)
    chosen = fleet if everything else pick(fleet, names, groups)
    return resolve_members(chosen, ssh_config)


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
