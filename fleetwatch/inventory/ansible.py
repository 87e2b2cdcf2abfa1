"""Ansible inventories (``--ansible-inventory PATH``), read by Ansible's own ``ansible-inventory --list``.

Whatever Ansible reads (INI, YAML, a directory with ``group_vars/`` and ``host_vars/``, inventory plugins
and scripts), Ansible parses and merges, with its own variable precedence; fleetwatch only reads the JSON
it prints, never the formats themselves.  From it:

- groups, nested ones included, become fleetwatch groups (a host in ``kitchen``, a child of ``house``, is
  in both); ``all`` and ``ungrouped`` are not groups;
- ``ansible_host``, ``ansible_user``, ``ansible_port``, ``ansible_private_key_file`` (and their older
  ``ansible_ssh_*`` spellings, which win as in Ansible's ssh plugin) and ``ansible_ssh_common_args`` /
  ``ansible_ssh_extra_args`` become a ``Destination``: the host resolves as ``ssh -o Port=… -o
  IdentityFile=… -o User=… [args] ansible_host``, which is what Ansible runs, so the ssh_config still
  applies to ``ansible_host`` and the inventory's values come first;
- ``fleetwatch_enabled``, ``fleetwatch_runner``, ``fleetwatch_config`` and ``fleetwatch_<threshold>``
  (``fleetwatch_disk_warning_pct`` …) set the per-host settings a YAML inventory would (any other
  ``fleetwatch_*`` variable is a typo, hence an error);
- hosts whose ``ansible_connection`` is not ssh (``local``, ``docker``, ``winrm`` …) are not polled over
  SSH, so they are not part of the fleet.

Values are used as ``ansible-inventory`` prints them: it does not render Jinja templates, so a
connection or fleetwatch variable holding ``{{ … }}`` is an error rather than a wrong guess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.model import Destination
from fleetwatch.inventory.ssh_config import valid_alias
from fleetwatch.inventory.yaml_file import checked_threshold
from fleetwatch.settings import HostSettings, Thresholds

TIMEOUT_S = 120.0
"""``ansible-inventory`` runs inventory scripts and plugins, which may be slow (a cloud API): not forever."""

# Later names win, as in the vars lists of Ansible's ssh connection plugin (ansible_ssh_host > ansible_host).
HOST_VARS = ("ansible_host", "ansible_ssh_host")
USER_VARS = ("ansible_user", "ansible_ssh_user")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
"""Both apply, in this order, after the options above (as Ansible builds its ssh command line)."""
SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh"})
NOT_GROUPS = frozenset({"all", "ungrouped"})

_THRESHOLDS: dict[str, type] = typing.get_type_hints(Thresholds)
SETTING_VARS = (
    "fleetwatch_enabled",
    "fleetwatch_runner",
    "fleetwatch_config",
    *(f"fleetwatch_{name}" for name in _THRESHOLDS),
)
_TRUE = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "off", "0", "n", "f"})
"""Ansible's boolean spellings (its ``bool`` filter); INI ``[group:vars]`` values arrive as strings."""


@dataclass(frozen=True)
class AnsibleHost:
    """One host of the Ansible inventories, as fleetwatch polls it."""

    alias: str
    """Its inventory name (``inventory_hostname``)."""
    groups: tuple[str, ...]
    settings: HostSettings
    destination: Destination


def load_ansible(paths: Sequence[Path]) -> list[AnsibleHost]:
    """Read the inventories with ``ansible-inventory --list`` (all of them at once, merged by Ansible as
    ``ansible -i A -i B`` would); any problem is an ``InventoryError`` naming them."""
    where = ", ".join(str(p) for p in paths)
    return hosts_from_list(_ansible_inventory_list(paths, where), where)


def ansible_inventory_argv(paths: Sequence[Path]) -> list[str]:
    """``ansible-inventory -i P … --list``: the one installed beside this Python (``fleetwatch[ansible]``)
    first, else the one on PATH; ``InventoryError`` when there is none."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("ansible-inventory")
    if found is None:
        raise InventoryError(
            "--ansible-inventory needs Ansible's ansible-inventory, which is not installed: "
            "pip install 'fleetwatch[ansible]' (or ansible-core)"
        )
    argv = [found]
    for path in paths:
        argv += ["-i", str(path.expanduser())]
    return [*argv, "--list"]


def _ansible_inventory_list(paths: Sequence[Path], where: str) -> Mapping[str, Any]:
    argv = ansible_inventory_argv(paths)
    env = {
        **os.environ,
        # An inventory Ansible cannot parse is an error, not a warning and an empty fleet.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "1",
        "ANSIBLE_NOCOLOR": "1",
    }
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise InventoryError(f"ansible-inventory gave no answer within {TIMEOUT_S:g} s", path=where) from None
    except OSError as exc:
        raise InventoryError(f"could not run ansible-inventory: {exc.strerror}", path=where) from None
    if proc.returncode != 0:
        raise InventoryError(
            f"ansible-inventory failed: {_said(proc.stderr)} (run: {shlex.join(argv)})", path=where
        )
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise InventoryError(
            f"ansible-inventory printed no JSON ({exc}) (run: {shlex.join(argv)})", path=where
        ) from None
    if not isinstance(doc, dict):
        raise InventoryError("ansible-inventory printed JSON that is not an object", path=where)
    return doc


def _said(stderr: str) -> str:
    """Ansible's own words: its [ERROR] lines, else its last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln.removeprefix("[ERROR]: ") for ln in lines if ln.startswith("[ERROR]")]
    return "; ".join(errors) if errors else (lines[-1] if lines else "no message")


def hosts_from_list(doc: Mapping[str, Any], where: str) -> list[AnsibleHost]:
    """``ansible-inventory --list`` output -> the fleet's hosts, in Ansible's order (``--graph``'s)."""
    hostvars = doc.get("_meta", {}).get("hostvars", {})
    order, groups_of = _walk(doc)
    hosts = []
    for alias in order:
        variables = hostvars.get(alias, {})
        if not isinstance(variables, dict):
            raise InventoryError(f"host {alias!r}: its variables are not a mapping", path=where)
        if not _over_ssh(variables):
            continue
        if not valid_alias(alias):
            raise InventoryError(
                f"host {alias!r}: not a name ssh accepts (no leading '-', spaces, commas or shell "
                "metacharacters); rename it in the inventory",
                path=where,
            )
        read = _Vars(alias, variables, where)
        hosts.append(AnsibleHost(alias, groups_of[alias], read.settings(), read.destination()))
    return hosts


def _walk(doc: Mapping[str, Any]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Hosts in order of first appearance from ``all`` (depth first), and each host's groups: those listing
    it and their ancestors, in the order groups are first met."""
    group_order: list[str] = []
    hosts: list[str] = []
    member: dict[str, set[str]] = {}

    def visit(group: str, path: tuple[str, ...]) -> None:
        if group in path:  # Ansible refuses cycles; never loop on a malformed document either
            return
        if group not in group_order:
            group_order.append(group)
        entry = doc.get(group) or {}
        lineage = (*path, group)
        for child in entry.get("children", ()):
            visit(str(child), lineage)
        for host in entry.get("hosts", ()):
            name = str(host)
            if name not in member:
                hosts.append(name)
                member[name] = set()
            member[name].update(g for g in lineage if g not in NOT_GROUPS)

    visit("all", ())
    for name in doc.get("_meta", {}).get("hostvars", {}):  # listed nowhere else: in `all` only
        if name not in member:
            hosts.append(str(name))
            member[str(name)] = set()
    return hosts, {h: tuple(g for g in group_order if g in member[h]) for h in hosts}


def _over_ssh(variables: Mapping[str, Any]) -> bool:
    connection = variables.get("ansible_connection")
    if connection is None:
        return True  # Ansible's default connection is ssh
    name = str(connection).removeprefix("ansible.builtin.").removeprefix("ansible.legacy.")
    return name in SSH_CONNECTIONS


@dataclass
class _Vars:
    """One host's variables, read with errors naming the host, the variable and the inventory."""

    alias: str
    values: Mapping[str, Any]
    where: str

    def error(self, name: str, wanted: str) -> InventoryError:
        return InventoryError(
            f"host {self.alias!r}: {name} must be {wanted}, got {self.values[name]!r}", path=self.where
        )

    def last(self, names: Sequence[str]) -> str | None:
        """The variable of ``names`` that Ansible would use (the last one set)."""
        found = [n for n in names if self.values.get(n) is not None]
        return found[-1] if found else None

    def text(self, name: str) -> str:
        value = self.values[name]
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise self.error(name, "a non-empty string")
        value = str(value)
        if "{{" in value or "{%" in value:
            raise InventoryError(
                f"host {self.alias!r}: {name} is a Jinja template ({value!r}); ansible-inventory does not "
                "render templates and neither does fleetwatch: give it a plain value",
                path=self.where,
            )
        return value

    def destination(self) -> Destination:
        host_var, user_var = self.last(HOST_VARS), self.last(USER_VARS)
        port_var, key_var = self.last(PORT_VARS), self.last(KEY_VARS)
        host = self.text(host_var) if host_var else self.alias
        if host_var and (not valid_alias(host) or host.startswith("-")):
            raise self.error(host_var, "a host name or address ssh accepts")
        user = self.text(user_var) if user_var else None
        if user is not None and ('"' in user or any(c.isspace() for c in user)):
            raise self.error(str(user_var), "a user name")
        port = None
        if port_var:
            raw = self.text(port_var)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise self.error(port_var, "a port number from 1 to 65535")
            port = int(raw)
        key = os.path.expanduser(self.text(key_var)) if key_var else None
        if key is not None and '"' in key:
            raise self.error(str(key_var), 'a path without a " character')
        extra: list[str] = []
        for name in ARGS_VARS:
            if self.values.get(name):
                try:
                    extra += [a.strip() for a in shlex.split(self.text(name)) if a.strip()]
                except ValueError as exc:
                    raise self.error(name, f"ssh arguments as a shell would split them ({exc})") from None
        return Destination(host, user=user, port=port, identity_file=key, extra_args=tuple(extra))

    def settings(self) -> HostSettings:
        unknown = sorted(n for n in self.values if n.startswith("fleetwatch_") and n not in SETTING_VARS)
        if unknown:
            raise InventoryError(
                f"host {self.alias!r}: unknown variable {unknown[0]!r} "
                f"(fleetwatch reads: {', '.join(SETTING_VARS)})",
                path=self.where,
            )
        values: dict[str, Any] = {}
        if self.values.get("fleetwatch_enabled") is not None:
            values["enabled"] = self.boolean("fleetwatch_enabled")
        for key in ("runner", "config"):
            if self.values.get(f"fleetwatch_{key}") is not None:
                values[key] = self.text(f"fleetwatch_{key}")
        thresholds: dict[str, Any] = {
            name: self.threshold(name)
            for name in _THRESHOLDS
            if self.values.get(f"fleetwatch_{name}") is not None
        }
        merged = dataclasses.replace(Thresholds(), **thresholds)
        if merged.disk_warning_pct > merged.disk_critical_pct:
            raise InventoryError(
                f"host {self.alias!r}: fleetwatch_disk_warning_pct ({merged.disk_warning_pct:g}) is above "
                f"fleetwatch_disk_critical_pct ({merged.disk_critical_pct:g})",
                path=self.where,
            )
        return dataclasses.replace(HostSettings(), **values, thresholds=merged)

    def boolean(self, name: str) -> bool:
        value = self.values[name]
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.error(name, "true or false")

    def threshold(self, name: str) -> float | int:
        var = f"fleetwatch_{name}"
        whole = _THRESHOLDS[name] is int
        value = self.values[var]
        if isinstance(value, str):  # INI group vars are strings; Ansible would coerce them where used
            try:
                value = int(value) if whole else float(value)
            except ValueError:
                raise self.error(var, "a whole number" if whole else "a number") from None
        try:
            return checked_threshold(name, value)
        except (TypeError, ValueError) as exc:
            raise self.error(var, str(exc)) from None
