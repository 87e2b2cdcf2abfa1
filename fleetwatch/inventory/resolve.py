"""Resolve host aliases with ``ssh -G``: OpenSSH itself decides what an alias means.

``-F`` is passed only when the config is not the one ssh reads by default.  Without ``-F`` ssh reads
``~/.ssh/config`` and then ``/etc/ssh/ssh_config`` (Debian's sets ``HashKnownHosts yes`` for ``Host *``),
exactly as ``ssh alias`` would; ``-F PATH`` reads PATH alone, which is what ``--ssh-config PATH`` asks for.

``ssh -G`` (OpenSSH 9.2) prints IdentityFile and ProxyCommand raw (``~`` and %-tokens unexpanded, expanded
only when connecting) but UserKnownHostsFile fully expanded; it spells StrictHostKeyChecking
``true``/``false``/``accept-new``/``ask``.  ``parse_ssh_g`` finishes the job so an ``SshTarget`` always
holds the values ssh would use.

``ssh -G`` costs a fork, an exec and ssh's own start-up per alias (about 5 ms of CPU): most of a cold
pass's client cost.  So ``resolve_all`` keeps what ssh printed, on disk, keyed by everything that answer
depends on (``config_inputs``): the bytes of every config file ssh reads (Includes followed, glob results
included), the ssh binary, the local user, home, ``$HOME`` and host name.  Any change there, and ssh is
asked again.  Configs whose answers depend on more than files (``Match exec``, ``Match localnetwork``,
``${ENV}``, ``CanonicalizeHostname``) are never cached, and a cache is written only when ``ssh -G -v``
read exactly the files fleetwatch followed.  An alias an inventory gives a ``Destination`` for (Ansible's
``ansible_host``, ``ansible_port`` …) is resolved as ``ssh -G -o … -- HOST`` and cached under that whole
command line, unless it carries arbitrary ssh arguments (those may name files the cache does not watch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from fleetwatch import paths
from fleetwatch.errors import HostError, InventoryError, Stage
from fleetwatch.inventory.fallback import parse_target
from fleetwatch.inventory.model import Destination, SshTarget
from fleetwatch.inventory.ssh_config import (
    MAX_INCLUDE_DEPTH,
    SYSTEM_CONFIG,
    TokenContext,
    argv_split,
    default_config,
    expand_path,
    expand_proxy_command,
    expand_tilde,
    include_paths,
    is_default_config,
    passwd_entry,
    split_keyword,
)

SSH_TIMEOUT_S = 5.0
"""Per-alias limit for ``ssh -G``: a ``Match exec`` command can hang."""
MAX_WORKERS = 32

_STRICT = {"true": "yes", "false": "no", "accept-new": "accept-new", "ask": "ask"}
# "u1: line 2: Bad configuration option: x" and "m2 line 1: match exec ..." both name file and line.
_WHERE = re.compile(r"^(?P<path>.+?):? line (?P<line>\d+):")
_NOISE = ("Pseudo-terminal will not be allocated",)
CACHE_FORMAT = 1
# Answers that depend on more than the files: a command's exit status, the local network, the environment.
_DYNAMIC = re.compile(r"^[ \t]*match\b.*\b(exec|localnetwork)\b|\$\{", re.I | re.M)
_FOLLOWED = re.compile(r'^[ \t]*"?(include|canonicalizehostname)\b.*$', re.I | re.M)
_READING = re.compile(r"^debug1: Reading configuration data (.+)$", re.M)


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
        self.via = None  # resolving never goes through a jump host


def ssh_available() -> bool:
    """True when an ``ssh`` binary is on PATH, so ``ssh -G`` is the authority."""
    return shutil.which("ssh") is not None


def ssh_g_argv(alias: str, config_path: Path, destination: Destination | None = None) -> list[str]:
    """The ``ssh -G`` command line that resolves ``alias`` against ``config_path`` (as ``ssh`` would be
    run for ``destination``, when an inventory gives one)."""
    argv = ["ssh", "-G"]
    if not is_default_config(config_path):
        argv += ["-F", str(config_path.expanduser())]
    if destination is not None:
        return [*argv, *destination.ssh_args(), "--", destination.host]
    return [*argv, "--", alias]  # "--": an alias must never be read as an option


def resolve_alias(
    alias: str, config_path: Path, *, timeout: float = SSH_TIMEOUT_S, destination: Destination | None = None
) -> SshTarget:
    """Resolve one alias (``ssh -G``, or the fallback parser without ssh); raises ``ResolveError``.

    With a ``destination`` (an inventory said how to reach the alias), ssh resolves that destination with
    its command-line options, and the result keeps ``alias`` as its name."""
    if not ssh_available():
        try:
            return _parse_without_ssh(alias, config_path, destination)
        except InventoryError as exc:
            raise ResolveError(alias, str(exc), path=exc.path, line=exc.line) from None
    return _resolve_with_ssh(alias, config_path, timeout, destination)[0]


def _parse_without_ssh(alias: str, config_path: Path, destination: Destination | None) -> SshTarget:
    """The fallback parser, with a destination's command-line options applied as ssh applies them
    (ahead of the config's); arbitrary ssh arguments need ssh itself."""
    if destination is None:
        return parse_target(alias, config_path)
    if destination.extra_args:
        raise InventoryError(
            f"extra ssh arguments ({shlex.join(destination.extra_args)}) need the ssh binary to be applied; "
            "install the OpenSSH client"
        )
    user = f"{destination.user}@" if destination.user else ""
    target = parse_target(f"{user}{destination.host}", config_path)
    identities = (destination.identity_file,) if destination.identity_file else ()
    return replace(
        target,
        alias=alias,
        port=destination.port if destination.port is not None else target.port,
        identity_files=(*identities, *target.identity_files),
    )


def _parsed(alias: str, output: str, destination: Destination | None) -> SshTarget:
    if destination is None:
        return parse_ssh_g(alias, output)
    # %n and the other tokens stand for the destination ssh was given; the name stays the alias.
    return replace(parse_ssh_g(destination.host, output), alias=alias)


def _cache_key(alias: str, destination: Destination | None) -> str | None:
    """What the cache keeps an answer under: the alias, or for a destination all that follows the config
    on ssh's command line; None when extra ssh arguments might read files the cache does not watch."""
    if destination is None:
        return alias
    if destination.extra_args:
        return None
    return shlex.join([*destination.ssh_args(), "--", destination.host])


def _resolve_with_ssh(
    alias: str, config_path: Path, timeout: float, destination: Destination | None = None
) -> tuple[SshTarget, str]:
    """``ssh -G`` for one alias: the target and ssh's own output (what the cache keeps)."""
    argv = ssh_g_argv(alias, config_path, destination)
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
        return _parsed(alias, out, destination), out
    except (KeyError, ValueError) as exc:
        raise ResolveError(alias, f"unusable ssh -G output: {exc}", hint=hint) from None


def resolve_all(
    aliases: Iterable[str],
    config_path: Path,
    *,
    timeout: float = SSH_TIMEOUT_S,
    destinations: Mapping[str, Destination] | None = None,
) -> dict[str, SshTarget | InventoryError]:
    """Resolve every alias concurrently (through its destination when ``destinations`` has one); a
    failure is that alias's value, never an exception.

    With ssh, answers come from the on-disk cache when nothing they depend on has changed.
    """
    unique = list(dict.fromkeys(aliases))
    if not unique:
        return {}
    via = destinations or {}
    if not ssh_available():
        return {a: _fallback(a, config_path, via.get(a)) for a in unique}
    inputs = config_inputs(config_path)
    cached = _load_cache(config_path, inputs) if inputs is not None else {}
    results: dict[str, SshTarget | InventoryError] = {}
    for alias in unique:
        key = _cache_key(alias, via.get(alias))
        if key is not None and key in cached:
            with contextlib.suppress(KeyError, ValueError):  # not what ssh printed: ask ssh again
                results[alias] = _parsed(alias, cached[key], via.get(alias))
    misses = [a for a in unique if a not in results]

    def one(alias: str) -> tuple[SshTarget | InventoryError, str | None]:
        try:
            return _resolve_with_ssh(alias, config_path, timeout, via.get(alias))
        except InventoryError as exc:
            return exc, None

    if misses:
        # Threads, not asyncio: callers may already run an event loop, and each call is a short subprocess.
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(misses))) as pool:
            answers = dict(zip(misses, pool.map(one, misses), strict=True))
        results.update((a, target) for a, (target, _) in answers.items())
        keys = {a: _cache_key(a, via.get(a)) for a in answers}
        fresh = {
            key: out for a, (_, out) in answers.items() if out is not None and (key := keys[a]) is not None
        }
        if inputs is not None and fresh:
            probe = next(a for a in answers if keys[a] in fresh)
            _save_cache(
                config_path,
                inputs,
                {**cached, **fresh},
                ssh_g_argv(probe, config_path, via.get(probe)),
                timeout,
            )
    return {a: results[a] for a in unique}


class Jumps:
    """ProxyJump hops as the transport asks for them, resolved once per fleet resolution and shared by
    every connection: ``ssh -G`` (and any ``Match exec`` it runs) runs once per hop alias, not once per
    hop per host per reconnect, and never inside a pass when the hops were resolved with the fleet."""

    def __init__(
        self, config_path: Path, resolved: Mapping[str, SshTarget | InventoryError] | None = None
    ) -> None:
        self._config = config_path
        self._resolved: dict[str, SshTarget | InventoryError] = dict(resolved or {})

    def __call__(self, alias: str) -> SshTarget:
        """The hop ``alias`` as ``ssh -G alias`` resolves it; raises ``ResolveError``."""
        found = self._resolved.get(alias)
        if found is None:
            found = self._resolved[alias] = _fallback(alias, self._config, None)
        if isinstance(found, SshTarget):
            return found
        if isinstance(found, ResolveError):
            raise found
        raise ResolveError(alias, str(found), path=found.path, line=found.line)


def resolve_jumps(
    targets: Iterable[SshTarget],
    config_path: Path,
    *,
    known: Mapping[str, SshTarget] | None = None,
    timeout: float = SSH_TIMEOUT_S,
) -> dict[str, SshTarget | InventoryError]:
    """Every ProxyJump hop of ``targets``, resolved as ``resolve_all`` does (concurrently, cached); an
    alias in ``known`` (already resolved as ``ssh -G alias``) is taken from there."""
    reuse = known or {}
    hops = list(dict.fromkeys(hop for t in targets for hop in t.jumps))
    resolved: dict[str, SshTarget | InventoryError] = {h: reuse[h] for h in hops if h in reuse}
    resolved.update(resolve_all([h for h in hops if h not in reuse], config_path, timeout=timeout))
    return resolved


def _fallback(alias: str, config_path: Path, destination: Destination | None) -> SshTarget | InventoryError:
    try:
        return resolve_alias(alias, config_path, destination=destination)
    except InventoryError as exc:
        return exc


# --- the ssh -G cache ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigInputs:
    """Everything ``ssh -G``'s answers depend on, for one config: a digest, and the files followed."""

    digest: str
    files: frozenset[str]


def config_inputs(config_path: Path) -> ConfigInputs | None:
    """What ssh -G's answers for ``config_path`` depend on; None when that is more than files."""
    digest = hashlib.sha256()
    ssh = shutil.which("ssh")
    if ssh is None:
        return None
    binary = os.stat(os.path.realpath(ssh))
    user = passwd_entry()
    for part in (
        f"format {CACHE_FORMAT}",
        f"ssh {os.path.realpath(ssh)} {binary.st_dev} {binary.st_ino} {binary.st_size} {binary.st_mtime_ns}",
        f"argv {shlex.join(ssh_g_argv('', config_path)[:-1])}",
        f"user {os.getuid()} {user.pw_name} {user.pw_dir} HOME={os.environ.get('HOME', '')}",
        f"host {socket.gethostname()}",
    ):
        digest.update(part.encode() + b"\0")
    if is_default_config(config_path):
        roots = [(default_config(), True), (SYSTEM_CONFIG, False)]
    else:
        roots = [(config_path.expanduser(), True)]
    files: set[str] = set()
    for path, user_config in roots:
        if not _follow(path, user_config, 0, digest, files):
            return None
    return ConfigInputs(digest.hexdigest(), frozenset(files))


def _follow(path: Path, user_config: bool, depth: int, digest: hashlib._Hash, files: set[str]) -> bool:
    """Hash ``path`` and, recursively, what its Include lines name now; False when not cacheable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        digest.update(f"missing {path}".encode() + b"\0")
        return True
    except OSError:
        return False
    files.add(str(path))
    digest.update(f"file {path} {len(data)}".encode() + b"\0" + data)
    text = data.decode("utf-8", errors="surrogateescape")
    if _DYNAMIC.search(text):
        return False
    for found_line in _FOLLOWED.finditer(text):  # a regex first: a fleet's config has thousands of lines
        parsed = split_keyword(found_line[0])
        if parsed is None:
            continue
        keyword, rest = parsed
        if keyword == "canonicalizehostname" and rest.split()[:1] != ["no"]:
            return False  # canonicalisation asks DNS
        if keyword != "include":
            continue
        try:
            args = argv_split(rest)
        except ValueError:
            return False
        for arg in args:
            found = include_paths(arg, user_config=user_config)
            digest.update(f"include {arg} -> {[str(p) for p in found]}".encode() + b"\0")
            if found and depth >= MAX_INCLUDE_DEPTH:
                return False
            if not all(_follow(inc, user_config, depth + 1, digest, files) for inc in found):
                return False
    return True


def _cache_file(config_path: Path) -> Path:
    which = shlex.join(ssh_g_argv("", config_path)[:-1]) + f" uid={os.getuid()}"
    return paths.cache_dir() / f"ssh-G-{hashlib.sha256(which.encode()).hexdigest()[:16]}.json"


def _load_cache(config_path: Path, inputs: ConfigInputs) -> dict[str, str]:
    try:
        doc = json.loads(_cache_file(config_path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("inputs") != inputs.digest:
        return {}
    outputs = doc.get("outputs")
    if not isinstance(outputs, dict):
        return {}
    return {a: out for a, out in outputs.items() if isinstance(a, str) and isinstance(out, str)}


def _save_cache(
    config_path: Path, inputs: ConfigInputs, outputs: dict[str, str], argv: list[str], timeout: float
) -> None:
    """Write the cache, if ssh read exactly the files followed and nothing changed meanwhile (``argv``:
    one of the ``ssh -G`` command lines just run, run again with ``-v`` to see what ssh reads)."""
    try:
        code, _, err = _run([*argv[:2], "-v", *argv[2:]], timeout)
    except (OSError, subprocess.TimeoutExpired):
        return
    if code != 0 or set(_READING.findall(err)) != inputs.files or config_inputs(config_path) != inputs:
        return
    path = _cache_file(config_path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"format": CACHE_FORMAT, "inputs": inputs.digest, "outputs": outputs}, fh)
        os.replace(temp, path)  # readers see the old cache or the new one, never half of one
    except OSError:
        return  # a cache that cannot be written only costs the next start its ssh -G calls


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
        host_key_alias=values.get("hostkeyalias"),
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
