"""OpenSSH client configs, read the way OpenSSH 9.x reads them.

``discover_aliases`` lists the concrete aliases a config declares: fleetwatch's default fleet.
``fallback.parse_target`` resolves one alias without the ``ssh`` binary, using the lexing and token
helpers here.  Line-level behaviour follows OpenSSH's readconf.c; comments mark where OpenSSH surprises.

Two different homes matter, as in OpenSSH: ``~`` in ``Include`` (and the ``~/.ssh`` that relative includes
live in) goes through glob(3), which reads ``$HOME``; every other ``~``, ``%d`` and the default
``~/.ssh/config`` come from the passwd entry, which ignores ``$HOME``.
"""

from __future__ import annotations

import glob
import hashlib
import ipaddress
import logging
import os
import pwd
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fleetwatch.errors import InventoryError

log = logging.getLogger(__name__)

MAX_INCLUDE_DEPTH = 16
"""OpenSSH's READCONF_MAX_DEPTH: deeper nesting (an Include loop, usually) is a fatal error for ssh."""
SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
DEFAULT_IDENTITY_FILES = tuple(
    f"~/.ssh/{name}"
    for name in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")
)
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")

WHITESPACE = " \t\r\n"
_DELIM = re.compile(r'[ \t\r\n"=]')
# ssh refuses these in a destination given on its command line (ssh.c valid_hostname), commas included.
_BAD_ALIAS_CHARS = frozenset("'`\"$\\;&<>|(){},")


# --- where ssh looks ---------------------------------------------------------------------------------


def passwd_entry() -> pwd.struct_passwd:
    return pwd.getpwuid(os.getuid())


def ssh_home() -> Path:
    """Home directory ssh uses for ``~`` in paths, ``%d`` and its default config: the passwd entry's."""
    return Path(passwd_entry().pw_dir)


def default_config() -> Path:
    """The user config ssh reads when run without ``-F``."""
    return ssh_home() / ".ssh" / "config"


def is_default_config(path: Path) -> bool:
    """True when ``path`` is the file ssh reads without ``-F`` (and then /etc/ssh/ssh_config too)."""
    return path.expanduser().resolve() == default_config().resolve()


def valid_alias(alias: str) -> bool:
    """True when ssh accepts ``alias`` as a destination on its command line."""
    bad = (c in _BAD_ALIAS_CHARS or c in " \t\n\v\f\r" or ord(c) < 32 or ord(c) == 127 for c in alias)
    return bool(alias) and not alias.startswith("-") and not any(bad)


# --- lexing, as readconf.c / misc.c do it -------------------------------------------------------------


def read_lines(path: Path) -> list[str]:
    # getline(3) splits on "\n" only; "\r" is stripped later as trailing whitespace.
    return path.read_bytes().decode("utf-8", errors="surrogateescape").split("\n")


def strdelim(s: str) -> tuple[str | None, str | None]:
    """Next token and the rest, split at whitespace or one '=' (misc.c strdelim); None on a bad quote."""
    m = _DELIM.search(s)
    if m is None:
        return s, None
    i = m.start()
    if s[i] == '"':
        s = s[:i] + s[i + 1 :]
        j = s.find('"', i)
        if j < 0:
            return None, None
        return s[:j], s[j + 1 :].lstrip(WHITESPACE)
    rest = s[i + 1 :].lstrip(WHITESPACE)
    if s[i] != "=" and rest.startswith("="):
        rest = rest[1:].lstrip(WHITESPACE)
    return s[:i], rest


def split_keyword(raw: str) -> tuple[str, str] | None:
    """(lowercased keyword, rest of line) or None for a blank or comment line."""
    line = raw.rstrip(" \t\r\n\f")
    if not line:
        return None
    keyword, rest = strdelim(line)
    if keyword == "" and rest is not None:  # leading whitespace
        keyword, rest = strdelim(rest)
    if not keyword or keyword.startswith("#"):
        return None
    return keyword.lower(), (rest or "").lstrip(WHITESPACE)


def argv_split(s: str) -> list[str]:
    """Arguments as misc.c argv_split: quotes, backslash escapes, '#' at a word start ends the line."""
    args: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
            continue
        if s[i] == "#":
            break
        arg: list[str] = []
        quote = ""
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and (s[i + 1] in "'\"\\" or (not quote and s[i + 1] == " ")):
                i += 1
                arg.append(s[i])
            elif not quote and c in " \t":
                break
            elif not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                arg.append(c)
            i += 1
        if quote:
            raise ValueError("invalid quotes")
        args.append("".join(arg))
    return args


def ascii_lower(s: str) -> str:
    # C tolower() in the C locale: ASCII only, unlike str.lower().
    return s.translate(_LOWER)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def glob_match(text: str, pattern: str) -> bool:
    """OpenSSH match_pattern: only '*' and '?' are special, and case matters."""
    return _pattern(pattern).fullmatch(text) is not None


def match_list(text: str, patterns: str, *, lower: bool) -> bool:
    """OpenSSH match_pattern_list: comma-separated, '!' negates, any negated match wins."""
    positive = False
    for sub in patterns.split(","):
        if lower:
            sub = ascii_lower(sub)
        negated = sub.startswith("!")
        if glob_match(text, sub[1:] if negated else sub):
            if negated:
                return False
            positive = True
    return positive


def include_paths(arg: str, *, user_config: bool) -> list[Path]:
    """Files an Include argument names, sorted as glob(3) sorts them; none when nothing matches."""
    if not os.path.isabs(arg) and not arg.startswith("~"):
        arg = ("~/.ssh/" if user_config else "/etc/ssh/") + arg
    # glob(3) with GLOB_TILDE expands ~ from $HOME: the one place ssh honours $HOME.
    return [Path(p) for p in sorted(glob.glob(os.path.expanduser(arg)))]


# --- alias discovery ----------------------------------------------------------------------------------


def discover_aliases(path: Path) -> list[str]:
    """Concrete host aliases declared by ``Host`` lines of ``path`` and its Includes, in file order."""
    path = path.expanduser()
    try:
        lines = read_lines(path)
    except OSError as exc:
        raise InventoryError(
            f"cannot read the ssh config ({exc.strerror}); create it, or pass --ssh-config PATH "
            "or --inventory FILE",
            path=str(path),
        ) from exc
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")  # editors on Windows add one; ssh itself chokes on it
    found: dict[str, None] = {}
    _discover(lines, found, (path.resolve(),))
    return list(found)


def _discover(lines: list[str], found: dict[str, None], stack: tuple[Path, ...]) -> None:
    for raw in lines:
        parsed = split_keyword(raw)
        if parsed is None:
            continue
        keyword, rest = parsed
        try:
            args = argv_split(rest)
        except ValueError:
            continue  # ssh -G reports the bad line when the aliases are resolved
        if keyword == "host":
            for arg in args:
                if _is_concrete(arg):
                    found.setdefault(arg)
        elif keyword == "include":
            # Followed even inside Host/Match blocks: ssh parses those files too, and their Host lines
            # declare aliases whatever block included them.
            for arg in args:
                for inc in include_paths(arg, user_config=True):
                    real = inc.resolve()
                    if real in stack or len(stack) > MAX_INCLUDE_DEPTH:
                        continue  # a loop: ssh -G reports it for each alias
                    try:
                        inc_lines = read_lines(inc)
                    except OSError:
                        continue  # unreadable includes are ssh's error to report, per alias
                    _discover(inc_lines, found, (*stack, real))


def _is_concrete(pattern: str) -> bool:
    # '@' would make `ssh pattern` mean user@host, so such a pattern is never reached by its name.
    return not any(c in pattern for c in "*?!@") and valid_alias(pattern)


# --- token and ~ expansion (shared with resolve.py) ------------------------------------------------------


@dataclass(frozen=True)
class TokenContext:
    """What ssh knows when it expands %-tokens for one destination (ssh.c's connection info)."""

    destination: str
    """%n: the destination as typed, without a ``user@`` prefix."""
    hostname: str
    """%h: the final HostName."""
    port: int
    user: str
    """%r: the remote user."""
    key_alias: str
    """%k: HostKeyAlias, else the destination."""

    def tokens(self) -> dict[str, str]:
        """Every token ssh expands in IdentityFile and UserKnownHostsFile."""
        pw = passwd_entry()
        this_host = socket.gethostname()
        port = str(self.port)
        conn_hash = hashlib.sha1((this_host + self.hostname + port + self.user).encode()).hexdigest()
        return {
            "C": conn_hash,
            "L": this_host.split(".", 1)[0],
            "i": str(pw.pw_uid),
            "k": self.key_alias,
            "l": this_host,
            "n": self.destination,
            "p": port,
            "d": pw.pw_dir,
            "h": self.hostname,
            "r": self.user,
            "u": pw.pw_name,
        }


def percent_expand(value: str, tokens: dict[str, str], *, env: bool = False) -> str:
    """Expand ``%x`` tokens (and ``${VAR}`` when ``env``) as OpenSSH does; unknown ones are errors."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if env and value.startswith("${", i):
            end = value.find("}", i + 2)
            if end < 0:
                raise ValueError(f"environment variable in {value!r} is missing its closing '}}'")
            name = value[i + 2 : end]
            if name not in os.environ:
                raise ValueError(f"environment variable ${{{name}}} in {value!r} has no value")
            out.append(os.environ[name])
            i = end + 1
        elif value[i] == "%":
            if i + 1 == len(value):
                raise ValueError(f"{value!r} ends with a lone '%'")
            key = value[i + 1]
            if key != "%" and key not in tokens:
                raise ValueError(f"unknown token %{key} in {value!r}")
            out.append("%" if key == "%" else tokens[key])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def expand_tilde(value: str) -> str:
    """Expand a leading ``~`` or ``~user`` from the passwd entry, as ssh's tilde_expand_filename does."""
    if not value.startswith("~"):
        return value
    rest = value[1:]
    slash = rest.find("/")
    if slash > 0:
        name = rest[:slash]
        try:
            home = pwd.getpwnam(name).pw_dir
        except KeyError:
            raise ValueError(f"no such user {name!r} in {value!r}") from None
        rest = rest[slash + 1 :]
    else:
        # "~foo" without a slash is the caller's home + "foo" in OpenSSH, odd as that is.
        home = passwd_entry().pw_dir
        rest = rest[1:] if slash == 0 else rest
    return f"{home}{'' if home.endswith('/') else '/'}{rest}"


def expand_path(value: str, ctx: TokenContext) -> str:
    """An IdentityFile or UserKnownHostsFile entry as ssh opens it: ``~``, then %-tokens and ``${VAR}``."""
    return percent_expand(expand_tilde(value), ctx.tokens(), env=True)


def expand_proxy_command(value: str, ctx: TokenContext) -> str:
    """ProxyCommand as ssh hands it to the shell: %h %k %n %p %r %% expanded, unquoted word-start ``~``."""
    tokens = {"h": ctx.hostname, "k": ctx.key_alias, "n": ctx.destination, "p": str(ctx.port), "r": ctx.user}
    return _shell_tilde(percent_expand(value, tokens))


def _shell_tilde(command: str) -> str:
    # ssh runs ProxyCommand with `$SHELL -c`, which expands ~ (from $HOME) at unquoted word starts; do the
    # same so a transport that runs it without a shell gets the same path.
    home = os.path.expanduser("~")
    out: list[str] = []
    quote = ""
    for i, c in enumerate(command):
        word_start = i == 0 or command[i - 1] in " \t"
        nxt = command[i + 1] if i + 1 < len(command) else ""
        if c == "~" and not quote and word_start and nxt in ("", "/", " ", "\t"):
            out.append(home)
            continue
        if quote and c == quote:
            quote = ""
        elif not quote and c in "\"'":
            quote = c
        out.append(c)
    return "".join(out)


def canonical_hostname(host: str) -> str:
    """Final HostName as ssh prints it: lowercased, except IP literals, which ssh leaves alone."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ascii_lower(host)
    return host
