"""Resolve one alias without the ``ssh`` binary: OpenSSH 9.x's first-match-wins config semantics.

Only a fallback: ``ssh -G`` is the authority (``resolve.py``), and
``tests/unit/test_ssh_config_vs_ssh.py`` proves this equal to ``ssh -G`` on a corpus.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.model import SshTarget
from fleetwatch.inventory.ssh_config import (
    DEFAULT_GLOBAL_KNOWN_HOSTS,
    DEFAULT_IDENTITY_FILES,
    DEFAULT_USER_KNOWN_HOSTS,
    MAX_INCLUDE_DEPTH,
    SYSTEM_CONFIG,
    WHITESPACE,
    TokenContext,
    argv_split,
    ascii_lower,
    canonical_hostname,
    expand_path,
    expand_proxy_command,
    expand_tilde,
    glob_match,
    include_paths,
    is_default_config,
    match_list,
    passwd_entry,
    percent_expand,
    read_lines,
    split_keyword,
    strdelim,
    valid_alias,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_FLAGS = {"yes": True, "true": True, "no": False, "false": False}

_STRICT = {
    "yes": "yes",
    "true": "yes",
    "no": "no",
    "false": "no",
    "off": "no",
    "ask": "ask",
    "accept-new": "accept-new",
}

# The options an SshTarget needs; the parser skips every other keyword.
_HANDLED = frozenset(
    {
        "hostname",
        "user",
        "hostkeyalias",
        "identityfile",
        "port",
        "identitiesonly",
        "hashknownhosts",
        "stricthostkeychecking",
        "connecttimeout",
        "serveraliveinterval",
        "serveralivecountmax",
        "canonicalizehostname",
    }
)

# Match criteria this parser cannot evaluate (exec runs a command; the rest are newer than 9.2).
_UNEVALUATED_CRITERIA = frozenset({"exec", "localnetwork", "tagged", "version", "sessiontype", "command"})


def parse_target(alias: str, path: Path) -> SshTarget:
    """Resolve ``alias`` as ``ssh -G`` would (first value wins), for hosts without an ssh binary."""
    path = path.expanduser()
    user, _, host = alias.rpartition("@")
    if alias.startswith("ssh://"):
        raise InventoryError(f"host {alias!r}: ssh:// destinations need the ssh binary; use an alias")
    if not valid_alias(host):
        raise InventoryError(f"host {alias!r}: ssh would refuse it (hostname contains invalid characters)")
    res = _Resolver(host=host, original=host, user=user or None)
    res.run(path)
    try:
        if res.want_final_pass or res.canonicalize not in (None, "no"):
            # ssh re-reads the config with the final, lowercased HostName as the host Host lines match.
            res.hostname = res.host = canonical_hostname(percent_expand(res.hostname or host, {"h": host}))
            res.final_pass = True
            res.run(path)
            if res.canonicalize not in (None, "no"):
                res.note(
                    "CanonicalizeHostname: no DNS canonicalisation without ssh; HostName used as written"
                )
        target = res.target(alias)
    except ValueError as exc:
        raise InventoryError(f"host {alias!r}: {exc}") from None
    for note in res.notes:
        log.warning("%s: %s", alias, note)
    return target


@dataclass
class _Resolver:
    """Options collected while reading config files; each keeps the first value an active line gives."""

    host: str
    original: str
    user: str | None
    hostname: str | None = None
    port: int | None = None
    host_key_alias: str | None = None
    identity_files: list[str] = field(default_factory=list)
    identities_only: bool | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None
    user_known_hosts: list[str] = field(default_factory=list)
    global_known_hosts: list[str] = field(default_factory=list)
    strict: str | None = None
    hash_known_hosts: bool | None = None
    connect_timeout: int | None = None
    alive_interval: int | None = None
    alive_count: int | None = None
    canonicalize: str | None = None
    active: bool = True
    final_pass: bool = False
    want_final_pass: bool = False
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def run(self, path: Path) -> None:
        if is_default_config(path):
            # Without -F ssh reads ~/.ssh/config (permission-checked, optional), then the system config.
            self.read(path, depth=0, user_config=True, check_perm=True, never_match=False)
            self.read(SYSTEM_CONFIG, depth=0, user_config=False, check_perm=False, never_match=False)
        else:
            self.read(path, depth=0, user_config=True, check_perm=False, never_match=False, required=True)

    def read(
        self,
        path: Path,
        *,
        depth: int,
        user_config: bool,
        check_perm: bool,
        never_match: bool,
        required: bool = False,
    ) -> None:
        try:
            lines = read_lines(path)
            st = path.stat()
        except (FileNotFoundError, IsADirectoryError) as exc:
            if required:
                raise InventoryError(f"Can't open user config file {path}: {exc.strerror}") from exc
            return  # missing includes are skipped, as ssh does
        except OSError as exc:
            raise InventoryError(f"Can't open user config file {path}: {exc.strerror}") from exc
        if check_perm and ((st.st_uid not in (0, os.getuid())) or stat.S_IMODE(st.st_mode) & 0o022):
            raise InventoryError(
                f"Bad owner or permissions on {path} (ssh refuses group/world-writable "
                "config files; chmod go-w it)",
                path=str(path),
            )
        if depth == 0:
            self.active = True  # an included file inherits the including line's state instead
        for lineno, raw in enumerate(lines, 1):
            try:
                self.line(raw, path, lineno, depth, user_config, never_match)
            except ValueError as exc:
                raise InventoryError(str(exc), path=str(path), line=lineno) from None

    def line(
        self, raw: str, path: Path, lineno: int, depth: int, user_config: bool, never_match: bool
    ) -> None:
        parsed = split_keyword(raw)
        if parsed is None:
            return
        keyword, rest = parsed
        if keyword.startswith("\ufeff"):
            raise ValueError(
                "Bad configuration option: the file starts with a UTF-8 byte-order mark, "
                "which ssh rejects; save it without one"
            )
        if not rest:
            raise ValueError(f'no argument after keyword "{keyword}"')
        args = argv_split(rest)
        if keyword == "host":
            self.active = False
            for arg in args:
                if arg == "":
                    raise ValueError("keyword host empty argument")
                if never_match:
                    break
                negated = arg.startswith("!")
                if glob_match(self.host, arg[1:] if negated else arg):
                    if negated:
                        self.active = False
                        break
                    self.active = True
        elif keyword == "match":
            matched = self.match(rest)
            self.active = matched and not never_match
        elif keyword == "include":
            self.include(args, path, lineno, depth, user_config, never_match)
        elif keyword in ("proxycommand", "proxyjump"):
            self.proxy(keyword, rest)
        else:
            self.option(keyword, args)

    def include(
        self, args: list[str], path: Path, lineno: int, depth: int, user_config: bool, never_match: bool
    ) -> None:
        for arg in args:
            if arg == "":
                raise ValueError("keyword include empty argument")
            if arg.startswith("~") and not user_config:
                raise ValueError(f"bad include path {arg}")
            for inc in include_paths(arg, user_config=user_config):
                if depth + 1 > MAX_INCLUDE_DEPTH:
                    raise ValueError("Too many recursive configuration includes (an Include loop?)")
                was_active = self.active
                # Inside an inactive block the file is parsed but none of its Host/Match lines may match.
                self.read(
                    inc,
                    depth=depth + 1,
                    user_config=user_config,
                    check_perm=True,
                    never_match=never_match or not was_active,
                )
                self.active = was_active  # an included file's Host lines don't end the including block

    def option(self, keyword: str, args: list[str]) -> None:
        if keyword in ("userknownhostsfile", "globalknownhostsfile"):
            if any(a == "" for a in args):
                raise ValueError(f"keyword {keyword} empty argument")
            if "none" in (a.lower() for a in args[1:]):
                raise ValueError(f'keyword {keyword} "none" argument must appear alone.')
            target = self.user_known_hosts if keyword == "userknownhostsfile" else self.global_known_hosts
            if self.active and not target:
                target.extend(args)
            return
        if keyword not in _HANDLED:
            return  # not needed for an SshTarget; ssh would still validate it (see the module doc)
        if not args or args[0] == "":
            raise ValueError("Missing argument.")
        if len(args) > 1:
            raise ValueError(f"keyword {keyword} extra arguments at end of line")
        arg = args[0]
        if keyword == "identityfile":
            if self.active and arg not in self.identity_files:  # ssh drops duplicates
                self.identity_files.append(arg)
        elif keyword == "hostname":
            self.hostname = self.first(self.hostname, arg)
        elif keyword == "user":
            self.user = self.first(self.user, arg)
        elif keyword == "hostkeyalias":
            self.host_key_alias = self.first(self.host_key_alias, arg)
        elif keyword == "port":
            port = _a2port(arg)
            if port <= 0:
                raise ValueError(f"Bad port '{arg}'.")
            self.port = self.first(self.port, port)
        elif keyword in ("identitiesonly", "hashknownhosts"):
            if arg.lower() not in _FLAGS:
                raise ValueError(f'unsupported option "{arg}".')
            if keyword == "identitiesonly":
                self.identities_only = self.first(self.identities_only, _FLAGS[arg.lower()])
            else:
                self.hash_known_hosts = self.first(self.hash_known_hosts, _FLAGS[arg.lower()])
        elif keyword == "stricthostkeychecking":
            if arg.lower() not in _STRICT:
                raise ValueError(f'unsupported option "{arg}".')
            self.strict = self.first(self.strict, _STRICT[arg.lower()])
        elif keyword in ("connecttimeout", "serveraliveinterval"):
            # "none" leaves the option unset, so a later block may still set it (readconf.c parse_time).
            seconds = None if arg == "none" else _convtime(arg)
            if keyword == "connecttimeout":
                self.connect_timeout = self.first(self.connect_timeout, seconds)
            else:
                self.alive_interval = self.first(self.alive_interval, seconds)
        elif keyword == "serveralivecountmax":
            if not arg.isdigit():
                raise ValueError(f"integer value {arg!r} is invalid.")
            self.alive_count = self.first(self.alive_count, int(arg))
        elif keyword == "canonicalizehostname":
            self.canonicalize = self.first(self.canonicalize, arg.lower())

    def first(self, current: _T | None, value: _T | None) -> _T | None:
        """``current`` if already set (the first value wins) or the line is inactive, else ``value``."""
        return value if current is None and self.active else current

    def proxy(self, keyword: str, rest: str) -> None:
        # Both take the raw rest of the line, not argv words: quotes stay, and a ProxyCommand keeps
        # its "# ..." (the shell treats that as a comment).
        value = rest.lstrip(WHITESPACE + "=")
        if keyword == "proxycommand":
            if self.active and self.proxy_command is None:
                self.proxy_command = value
            return
        words = value.split()
        token = words[0].split("#", 1)[0] if words else ""
        jump = _parse_jump(token)
        if jump is None:
            raise ValueError(f'Invalid ProxyJump "{value}"')
        # An earlier ProxyCommand (even "none") or ProxyJump wins; a real ProxyJump disables ProxyCommand.
        if self.active and self.proxy_command is None and self.proxy_jump is None:
            self.proxy_jump = jump
            if jump != "none":
                self.proxy_command = "none"

    def match(self, rest: str) -> bool:
        pw_name = passwd_entry().pw_name
        ruser = self.user or pw_name
        if self.final_pass:
            host = self.hostname or self.host
        else:
            host = percent_expand(self.hostname, {"h": self.host}) if self.hostname else self.host
        result, attributes = True, 0
        cp: str | None = rest
        while cp is not None:
            attrib, cp = strdelim(cp)
            if not attrib:
                break
            if attrib.startswith("#"):
                break
            negate = attrib.startswith("!")
            name = (attrib[1:] if negate else attrib).lower()
            if name == "all":
                nxt = strdelim(cp)[0] if cp is not None and attributes <= 1 else None
                if attributes > 1 or (nxt and not nxt.startswith("#")):
                    raise ValueError(f"'{attrib}' cannot be combined with other Match attributes")
                return result and not negate
            attributes += 1
            if name in ("canonical", "final"):
                self.want_final_pass = self.want_final_pass or name == "final"
                if self.final_pass == negate:
                    result = False
                continue
            arg, cp = strdelim(cp) if cp is not None else (None, None)
            if not arg or arg.startswith("#"):
                raise ValueError(f"Missing Match criteria for {name}")
            if name in _UNEVALUATED_CRITERIA:
                if result:
                    self.note(f"'Match {attrib}' is not evaluated without ssh; its block is skipped")
                result = False
                continue
            if name == "host":
                matched = match_list(ascii_lower(host), arg, lower=True)
            elif name == "originalhost":
                matched = match_list(ascii_lower(self.original), arg, lower=True)
            elif name == "user":
                matched = match_list(ruser, arg, lower=False)
            elif name == "localuser":
                matched = match_list(pw_name, arg, lower=False)
            else:
                raise ValueError(f"Unsupported Match attribute {name}")
            if matched == negate:
                result = False
        if attributes == 0:
            raise ValueError("One or more attributes required for Match")
        return result

    def target(self, alias: str) -> SshTarget:
        hostname = self.hostname or self.host
        if not self.final_pass:  # the final pass already holds the expanded HostName
            hostname = canonical_hostname(percent_expand(hostname, {"h": self.original}))
        user = self.user or passwd_entry().pw_name
        port = self.port or 22
        ctx = TokenContext(self.original, hostname, port, user, self.host_key_alias or self.original)
        identities = tuple(expand_path(p, ctx) for p in (self.identity_files or DEFAULT_IDENTITY_FILES))
        known = self.user_known_hosts or list(DEFAULT_USER_KNOWN_HOSTS)
        user_known = () if known == ["none"] else tuple(expand_path(p, ctx) for p in known)
        glob_known = self.global_known_hosts or list(DEFAULT_GLOBAL_KNOWN_HOSTS)
        global_known = () if glob_known == ["none"] else tuple(expand_tilde(p) for p in glob_known)
        jump = self.proxy_jump if self.proxy_jump != "none" else None
        command = None
        if jump is None and self.proxy_command and self.proxy_command.lower() != "none":
            command = expand_proxy_command(self.proxy_command, ctx)
        return SshTarget(
            alias=alias,
            hostname=hostname,
            user=user,
            port=port,
            identity_files=identities,
            identities_only=bool(self.identities_only),
            proxy_jump=jump,
            proxy_command=command,
            user_known_hosts_files=user_known,
            global_known_hosts_files=global_known,
            strict_host_key_checking=self.strict or "ask",
            hash_known_hosts=bool(self.hash_known_hosts),
            host_key_alias=self.host_key_alias,
            connect_timeout=float(self.connect_timeout) if self.connect_timeout else None,
            server_alive_interval=self.alive_interval or 0,
            server_alive_count_max=3 if self.alive_count is None else self.alive_count,
            source="parser",
        )


def _a2port(s: str) -> int:
    if s.isdigit():
        return int(s) if int(s) <= 65535 else -1
    try:
        return socket.getservbyname(s, "tcp")  # ssh accepts service names: "Port ssh" is 22
    except OSError:
        return -1


_TIME_PART = re.compile(r"(\d+)([sSmMhHdDwW]?)")
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _convtime(s: str) -> int:
    """OpenSSH time format: "90", "1m30s", "2h"."""
    total, pos = 0, 0
    while pos < len(s):
        m = _TIME_PART.match(s, pos)
        if m is None:
            raise ValueError("invalid time value.")
        total += int(m.group(1)) * _TIME_UNITS[m.group(2).lower()]
        pos = m.end()
    if not s:
        raise ValueError("missing time value.")
    return total


def _parse_jump(spec: str) -> str | None:
    """A ProxyJump value as ``ssh -G`` prints it (last hop normalised), or None when ssh rejects it."""
    if spec.lower() == "none":
        return "none"
    hops = spec.split(",")
    parsed = [_parse_hop(h) for h in hops]
    if not spec or any(p is None for p in parsed):
        return None
    last = parsed[-1]
    assert last is not None
    user, host, port = last
    numeric = ":" in host or all(c in "1234567890." for c in host)
    text = (f"[{host}]" if numeric else host) + (f":{port}" if port > 0 else "")
    return ",".join([*hops[:-1], f"{user}@{text}" if user else text])


def _parse_hop(hop: str) -> tuple[str | None, str, int] | None:
    """(user, host, port or -1) of one ``[user@]host[:port]`` or ``ssh://`` hop; None when ssh rejects it."""
    if hop.startswith("ssh://"):
        return _parse_ssh_uri(hop[len("ssh://") :])
    user: str | None = None
    if "@" in hop:
        user, _, hop = hop.rpartition("@")
        if not user:
            return None
    split = _split_host(hop)
    if split is None:
        return None
    host, _, rest = split
    port = _a2port(rest) if rest else -1
    return None if rest and port <= 0 else (user, host, port)


def _parse_ssh_uri(rest: str) -> tuple[str | None, str, int] | None:
    # misc.c parse_uri: ssh://[user[;params]@]host[:port][/], where host must be a plain DNS name.
    user: str | None = None
    if "@" in rest:
        info, _, rest = rest.partition("@")
        user = urllib.parse.unquote(info.split(";", 1)[0]) or None
    split = _split_host(rest)
    if split is None or not _DOMAIN.fullmatch(split[0]) or ".." in split[0]:
        return None
    host, delim, tail = split
    port = -1
    if tail and delim == ":":
        port_text, _, tail = tail.partition("/")
        port = _a2port(port_text)
        if port <= 0:
            return None
    return None if tail else (user, host, port)


_DOMAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def _split_host(s: str) -> tuple[str, str, str] | None:
    """(host, delimiter, rest) split at the first ':' or '/' after an optional [v6] (misc.c hpdelim2)."""
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or (end + 1 < len(s) and s[end + 1] not in ":/"):
            return None
        host, tail = s[1:end], s[end + 1 :]
    else:
        cut = min((i for i in (s.find(":"), s.find("/")) if i >= 0), default=len(s))
        host, tail = s[:cut], s[cut:]
    if not host:
        return None
    return host, tail[:1], tail[1:]
