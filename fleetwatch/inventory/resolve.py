"""Resolve host aliases with ``ssh -G``: OpenSSH itself decides what an alias means.

``-F`` is passed only when the config is not the one ssh reads by default.  Without ``-F`` ssh reads
``~/.ssh/config`` and then ``/etc/ssh/ssh_config`` (Debian's sets ``HashKnownHosts yes`` for ``Host *``),
exactly as ``ssh alias`` would; ``-F PATH`` reads PATH alone, which is what ``--ssh-config PATH`` asks for.

``ssh -G`` (OpenSSH 9.2) prints IdentityFile and ProxyCommand raw (``~`` and %-tokens unexpanded, expanded
only when connecting) but UserKnownHostsFile fully expanded; it spells StrictHostKeyChecking
``true``/``false``/``accept-new``/``ask``.  ``parse_ssh_g`` finishes the job so an ``SshTarget`` always
holds the values ssh would use.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleetwatch.errors import HostError, InventoryError, Stage
from fleetwatch.inventory.fallback import parse_target
from fleetwatch.inventory.model import SshTarget
from fleetwatch.inventory.ssh_config import (
    TokenContext,
    expand_path,
    expand_proxy_command,
    expand_tilde,
    is_default_config,
)

SSH_TIMEOUT_S = 5.0
"""Per-alias limit for ``ssh -G``: a ``Match exec`` command can hang."""
MAX_WORKERS = 32

_STRICT = {"true": "yes", "false": "no", "accept-new": "accept-new", "ask": "ask"}
# "u1: line 2: Bad configuration option: x" and "m2 line 1: match exec ..." both name file and line.
_WHERE = re.compile(r"^(?P<path>.+?):? line (?P<line>\d+):")
_NOISE = ("Pseudo-terminal will not be allocated",)


class ResolveError(InventoryError, HostError):
    """An alias could not be resolved: an inventory error that is also the host's failure at stage resolve."""

    def __init__(
        self, alias: str, reason: str, *, hint: str = "", path: str | None = None, line: int | None = None
    ) -> None:
        text = f"{alias}: {Stage.RESOLVE} failed: {reason}"
        if hint:
            text += f" ({hint})"
        # Both parents' __init__ build their own message; this one already says what, where and what next.
        Exception.__init__(self, text)
        self.path, self.line = path, line
        self.host, self.stage, self.reason, self.hint = alias, Stage.RESOLVE, reason, hint


def ssh_available() -> bool:
    """True when an ``ssh`` binary is on PATH, so ``ssh -G`` is the authority."""
    return shutil.which("ssh") is not None


def ssh_g_argv(alias: str, config_path: Path) -> list[str]:
    """The ``ssh -G`` command line that resolves ``alias`` against ``config_path``."""
    argv = ["ssh", "-G"]
    if not is_default_config(config_path):
        argv += ["-F", str(config_path.expanduser())]
    return [*argv, "--", alias]  # "--": an alias must never be read as an option


def resolve_alias(alias: str, config_path: Path, *, timeout: float = SSH_TIMEOUT_S) -> SshTarget:
    """Resolve one alias (``ssh -G``, or the fallback parser without ssh); raises ``ResolveError``."""
    if not ssh_available():
        try:
            return parse_target(alias, config_path)
        except InventoryError as exc:
            raise ResolveError(alias, str(exc), path=exc.path, line=exc.line) from None
    argv = ssh_g_argv(alias, config_path)
    hint = f"run: {shlex.join(argv)}"
    try:
        code, out, err = _run(argv, timeout)
    except subprocess.TimeoutExpired:
        reason = f"ssh -G gave no answer within {timeout:g} s"
        raise ResolveError(alias, reason, hint=f"a Match exec command hanging? {hint}") from None
    except OSError as exc:
        raise ResolveError(alias, f"could not run ssh: {exc.strerror}", hint=hint) from None
    if code != 0:
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(_NOISE)]
        reason = lines[0] if lines else f"ssh -G exited with status {code}"
        where = _WHERE.match(reason)
        path, line = (where["path"], int(where["line"])) if where else (None, None)
        raise ResolveError(alias, reason, hint=hint, path=path, line=line)
    try:
        return parse_ssh_g(alias, out)
    except (KeyError, ValueError) as exc:
        raise ResolveError(alias, f"unusable ssh -G output: {exc}", hint=hint) from None


def resolve_all(
    aliases: Iterable[str], config_path: Path, *, timeout: float = SSH_TIMEOUT_S
) -> dict[str, SshTarget | InventoryError]:
    """Resolve every alias concurrently; a failure is that alias's value, never an exception."""
    unique = list(dict.fromkeys(aliases))
    if not unique:
        return {}

    def one(alias: str) -> SshTarget | InventoryError:
        try:
            return resolve_alias(alias, config_path, timeout=timeout)
        except InventoryError as exc:
            return exc

    # Threads, not asyncio: callers may already run an event loop, and each call is a short subprocess.
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(unique))) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


def parse_ssh_g(alias: str, output: str) -> SshTarget:
    """Turn ``ssh -G`` output into an ``SshTarget``, expanding what ssh only expands when connecting."""
    values: dict[str, str] = {}
    identity_files: list[str] = []
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        if key == "identityfile":
            identity_files.append(value)
        else:
            values.setdefault(key, value)
    hostname, user, port = values["hostname"], values["user"], int(values["port"])
    destination = alias.rpartition("@")[2]
    ctx = TokenContext(destination, hostname, port, user, values.get("hostkeyalias", destination))
    proxy_command = values.get("proxycommand")
    timeout = values.get("connecttimeout", "none")
    user_known = values.get("userknownhostsfile", "none").split(" ")
    global_known = values.get("globalknownhostsfile", "none").split(" ")
    return SshTarget(
        alias=alias,
        hostname=hostname,
        user=user,
        port=port,
        identity_files=tuple(expand_path(p, ctx) for p in identity_files),
        identities_only=values.get("identitiesonly") == "yes",
        proxy_jump=values.get("proxyjump"),
        proxy_command=expand_proxy_command(proxy_command, ctx) if proxy_command else None,
        # Already expanded by ssh -G; paths containing spaces are ambiguous in its output (a known limit).
        user_known_hosts_files=() if user_known == ["none"] else tuple(user_known),
        global_known_hosts_files=() if global_known == ["none"] else tuple(map(expand_tilde, global_known)),
        strict_host_key_checking=_STRICT[values.get("stricthostkeychecking", "ask")],
        hash_known_hosts=values.get("hashknownhosts") == "yes",
        # 0 means "no timeout" to ssh, like none.
        connect_timeout=None if timeout in ("none", "0") else float(timeout),
        server_alive_interval=int(values.get("serveraliveinterval", "0")),
        server_alive_count_max=int(values.get("serveralivecountmax", "3")),
        source="ssh -G",
    )


def _run(argv: list[str], timeout: float) -> tuple[int, str, str]:
    # A session of its own so a timeout can kill the whole group: `Match exec` children keep ssh's
    # stderr open, and communicate() would otherwise wait for them.
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return proc.returncode, out, err
