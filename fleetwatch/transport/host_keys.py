"""Host-key policy: StrictHostKeyChecking (yes / accept-new / no) over OpenSSH known_hosts files.

OpenSSH is the model, with one deliberate difference: a *changed* key is refused under every
setting, including ``no`` (OpenSSH would connect with a warning).  Unknown keys are accepted and
recorded only under ``accept-new`` and ``no``; ``yes`` and ``ask`` (nobody is there to answer)
refuse them and point at ``fleetwatch trust``.

As with ssh: a key marked ``@revoked`` is refused whatever else is on record (and said to be
revoked, never "unknown"); a host certificate is accepted when an ``@cert-authority`` line covering
the host signed it (asyncssh checks the signature, validity and principals), and without such a line
the plain key is asked for instead, as ssh retries with the plain key; ``HostKeyAlias`` replaces
``[hostname]:port`` as the name looked up and recorded, and IP lines are not consulted then.

Each set of known_hosts files is parsed once (``KnownHostsCache``) and again only when one of them
changes: re-reading the file for every host made the first pass quadratic in fleet size.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

from fleetwatch.inventory.model import SshTarget


@dataclass
class KeyVerdict:
    """What the policy decided about the key a server presented (set during the handshake)."""

    outcome: str = ""
    """``known``, ``recorded`` (new key written), ``unknown``, ``changed``, ``revoked`` or ``unreadable``
    (all four refused); empty when asyncssh decided alone (a certificate, a revoked key)."""
    presented: str = ""
    """Fingerprint of the key the server offered."""
    known: tuple[str, ...] = ()
    """Fingerprints already on record for this host."""
    revoked: tuple[str, ...] = ()
    """Fingerprints marked ``@revoked`` that cover this host."""
    authorities: tuple[str, ...] = ()
    """Fingerprints of the ``@cert-authority`` keys that cover this host."""
    file: str = ""
    """The known_hosts file consulted or written."""


def known_hosts_name(hostname: str, port: int) -> str:
    """The name OpenSSH records a host under: ``host`` or ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def record_name(target: SshTarget) -> str:
    """The name ssh looks ``target``'s key up and records it under: its HostKeyAlias (as is, no port),
    else ``host`` or ``[host]:port``."""
    return target.host_key_alias or known_hosts_name(target.hostname, target.port)


def hashed_name(name: str, salt: bytes | None = None) -> str:
    """OpenSSH HashKnownHosts form ``|1|salt|hmac-sha1``."""
    salt = salt if salt is not None else os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256 fingerprint as OpenSSH prints it, with the key type."""
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


RACY_NS = 2_000_000_000
"""A file modified this recently when it was read is read again next time: file timestamps tick coarsely
(a jiffy), so a same-size rewrite in the same tick would leave inode, size, mtime and ctime unchanged."""

Signature = tuple[int, int, int, int, int]


def _signature(path: str) -> Signature | None:
    """(device, inode, size, mtime, ctime) of a regular file; None when it does not exist.

    Any other failure (a directory we may not search, say) raises: unreadable must never read as absent.
    """
    try:
        st = os.stat(os.path.expanduser(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class _HashedLine:
    """A HashKnownHosts line (``|1|salt|hmac``) with its HMAC-SHA1 key schedule precomputed."""

    index: int
    inner: Any  # hashlib sha1 state after the ipad block
    outer: Any  # hashlib sha1 state after the opad block
    digest: bytes

    def matches(self, name: bytes) -> bool:
        inner = self.inner.copy()
        inner.update(name)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return bool(outer.digest() == self.digest)


def _hashed_line(index: int, pattern: str) -> _HashedLine | None:
    try:
        _magic, salt, digest = pattern[1:].split("|")
        key, want = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return None  # asyncssh rejected it already when the whole file was parsed
    if len(key) > 64:
        key = hashlib.sha1(key).digest()
    key = key.ljust(64, b"\0")
    return _HashedLine(
        index,
        hashlib.sha1(bytes(b ^ 0x36 for b in key)),
        hashlib.sha1(bytes(b ^ 0x5C for b in key)),
        want,
    )


class _Parsed:
    """One version of a set of known_hosts files: asyncssh's parse, plus an index of its hashed lines."""

    def __init__(self, signature: tuple[Signature | None, ...], text: str, settled: bool) -> None:
        self.signature = signature
        self.settled = settled
        # Parsing everything once validates every line: a corrupt file raises here, never "no keys known".
        self.known = asyncssh.import_known_hosts(text)
        self.lines: list[str] = []
        self.hashed: list[_HashedLine] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split(None, 2)
            pattern = fields[1] if line.startswith("@") and len(fields) > 1 else fields[0]
            if pattern.startswith("|"):  # the same test asyncssh uses for a hashed host
                hashed = _hashed_line(len(self.lines), pattern)
                if hashed is not None:
                    self.hashed.append(hashed)
            self.lines.append(line)

    def match(self, host: str, addr: str, port: int | None) -> tuple[Any, ...]:
        """asyncssh's match over the whole file set, without an HMAC per hashed line in Python.

        Hashed lines are the quadratic part (asyncssh computes two HMACs per hashed line per lookup).
        A hashed line can only take part when it hashes one of the names asyncssh tries (``[host]:port``
        and ``[addr]:port``, then ``host`` and ``addr``), so matching the plain lines plus those hashed
        lines, in file order, gives exactly asyncssh's answer for the whole file set.
        """
        if not self.hashed:
            return tuple(self.known.match(host, addr, port))
        names = {host, addr}
        if port:
            names |= {f"[{host}]:{port}" if host else "", f"[{addr}]:{port}" if addr else ""}
        encoded = [n.encode() for n in names]
        hits = {h.index for h in self.hashed if any(h.matches(n) for n in encoded)}
        if not hits:
            return tuple(self.known.match(host, addr, port))
        hashed = {h.index for h in self.hashed}
        kept = [ln for i, ln in enumerate(self.lines) if i not in hashed or i in hits]
        return tuple(asyncssh.import_known_hosts("\n".join(kept)).match(host, addr, port))


class KnownHostsCache:
    """Parsed known_hosts file sets, shared by every host of a transport; a file is re-read only when
    its inode, size, mtime or ctime changes (or it was written within ``RACY_NS`` of being read)."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._parsed: dict[tuple[str, ...], _Parsed] = {}

    def match(self, files: Sequence[str], host: str, addr: str, port: int | None) -> tuple[Any, ...] | None:
        """``asyncssh.match_known_hosts`` over the existing ``files``; None when none exists.

        Raises ``OSError``, ``ValueError`` or ``asyncssh.KeyImportError`` for an unreadable or corrupt file.
        """
        key = tuple(files)
        signature = tuple(_signature(f) for f in files)
        parsed = self._parsed.get(key)
        if parsed is None or not parsed.settled or parsed.signature != signature:
            self._parsed.pop(key, None)
            existing = [f for f, sig in zip(files, signature, strict=True) if sig is not None]
            if not existing:
                return None
            now = self._clock_ns()  # before reading: a write after this is never taken as settled
            # Stat before read: a write in between leaves a stale signature, so the next lookup re-reads.
            text = "".join(_read_text(f) for f in existing)
            settled = all(now - sig[3] > RACY_NS for sig in signature if sig is not None)
            parsed = self._parsed[key] = _Parsed(signature, text, settled)
        result = parsed.match(host, addr, port)
        # asyncssh's own check on what a known_hosts file may hold (no OpenSSH certificates).
        for cert in (*result[3], *result[4]):
            if not cert.is_x509:
                raise ValueError("OpenSSH certificates not allowed in known hosts")
        return result


def _read_text(path: str) -> str:
    text = Path(path).expanduser().read_text()
    return text if text.endswith("\n") or not text else text + "\n"


class HostKeyPolicy:
    """Decides on server host keys for one target; built once per host and reused across connects."""

    def __init__(self, target: SshTarget, cache: KnownHostsCache | None = None) -> None:
        self.target = target
        self.mode = target.strict_host_key_checking
        self.files = [f for f in (*target.user_known_hosts_files, *target.global_known_hosts_files) if f]
        self.write_file = target.user_known_hosts_files[0] if target.user_known_hosts_files else ""
        self.verdict = KeyVerdict()
        self._known: list[asyncssh.SSHKey] = []
        self._revoked: list[asyncssh.SSHKey] = []
        self._cache = cache if cache is not None else KnownHostsCache()

    def lookup(self, host: str, addr: str, port: int | None) -> tuple[list[Any], list[Any], list[Any]]:
        """asyncssh ``known_hosts`` callable: the trusted, CA and revoked keys on record for this host
        (a revoked key is never also handed over as trusted; asyncssh refuses revoked keys first)."""
        self.verdict = KeyVerdict(file=self.write_file)
        if self.target.host_key_alias:
            # ssh looks the alias up as given: no [alias]:port, no IP address (CheckHostIP is off then).
            host, addr, port = self.target.host_key_alias, "", None
        try:
            matched = self._cache.match(self.files, host, addr, port)
        except (OSError, ValueError, asyncssh.KeyImportError):
            # An unreadable or corrupt file must not turn into "no keys known, accept the new one".
            self._known = self._revoked = []
            self.verdict.outcome = "unreadable"
            return [], [], []
        trusted, ca, revoked = (
            (list(matched[0]), list(matched[1]), list(matched[2])) if matched else ([], [], [])
        )
        self._revoked = revoked
        self._known = [k for k in trusted if k.public_data not in {r.public_data for r in revoked}]
        # A revoked CA stays listed: the certificate is then asked for, and asyncssh refuses it as revoked.
        self.verdict.known = tuple(fingerprint(k) for k in self._known)
        self.verdict.revoked = tuple(fingerprint(k) for k in revoked)
        self.verdict.authorities = tuple(fingerprint(k) for k in ca)
        return list(self._known), ca, revoked

    def host_key_algs(self) -> list[str] | None:
        """Host key algorithms to ask the server for; None for asyncssh's choice (the algorithms of the
        keys on record, and certificates first when a CA covers the host).  With nothing on record and
        no CA, only plain keys: a certificate nobody vouches for is worth nothing (ssh then retries with
        the plain key), and the plain key is what gets judged and recorded."""
        port = None if self.target.port == 22 else self.target.port
        self.lookup(self.target.hostname, "", port)
        if self.verdict.outcome == "unreadable" or self._known or self.verdict.authorities:
            return None
        return [alg.decode() for alg in get_default_public_key_algs()]

    def plain_key_algs(self) -> list[str]:
        """Plain-key algorithms for fetching the key to judge and record (``trust``): those of the keys
        on record (as asyncssh would ask for them), else every default one.  Call ``lookup`` first."""
        known = [alg.decode() for key in self._known for alg in key.sig_algorithms]
        return list(dict.fromkeys(known)) or [alg.decode() for alg in get_default_public_key_algs()]

    def judge(self, key: asyncssh.SSHKey) -> str:
        """What ssh would make of ``key`` against the records found by ``lookup`` (nothing written):
        ``revoked``, ``known``, ``changed``, ``unknown`` or ``unreadable``."""
        self.verdict.presented = fingerprint(key)
        if self.verdict.outcome == "unreadable":
            return "unreadable"
        if key.public_data in {k.public_data for k in self._revoked}:
            return "revoked"
        if key.public_data in {k.public_data for k in self._known}:
            return "known"
        return "changed" if self._known else "unknown"

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh for a key not on record: accept (and record) it or refuse it."""
        outcome = self.judge(key)
        if outcome == "unknown" and self.mode in ("accept-new", "no") and self.write_file:
            record_key(self.write_file, self.target, key)
            outcome = "recorded"
        self.verdict.outcome = outcome
        return outcome in ("known", "recorded")


def record_key(path: str, target: SshTarget, key: asyncssh.SSHKey) -> None:
    """Append ``key`` for ``target`` to a known_hosts file, as ssh would (hashed when HashKnownHosts)."""
    record_key_line(path, target, key.export_public_key("openssh").decode().strip())


def record_key_line(path: str, target: SshTarget, key_line: str) -> None:
    """Append an OpenSSH public key line (``type base64 [comment]``) for ``target`` to ``path``."""
    name = record_name(target)
    if target.hash_known_hosts:
        name = hashed_name(name)
    line = f"{name} {' '.join(key_line.split()[:2])}\n"
    file = Path(path).expanduser()
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_APPEND keeps concurrent writers (a cron check and a watcher) from interleaving lines.
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
