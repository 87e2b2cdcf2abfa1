"""Host-key policy: StrictHostKeyChecking (yes / accept-new / no) over OpenSSH known_hosts files.

OpenSSH is the model, with one deliberate difference: a *changed* key is refused under every
setting, including ``no`` (OpenSSH would connect with a warning).  Unknown keys are accepted and
recorded only under ``accept-new`` and ``no``; ``yes`` and ``ask`` (nobody is there to answer)
refuse them and point at ``fleetwatch trust``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from fleetwatch.inventory.model import SshTarget


@dataclass
class KeyVerdict:
    """What the policy decided about the key a server presented (set during the handshake)."""

    outcome: str = ""
    """``known``, ``recorded`` (new key written), ``unknown`` (refused) or ``changed`` (refused)."""
    presented: str = ""
    """Fingerprint of the key the server offered."""
    known: tuple[str, ...] = ()
    """Fingerprints already on record for this host."""
    file: str = ""
    """The known_hosts file consulted or written."""


def known_hosts_name(hostname: str, port: int) -> str:
    """The name OpenSSH records a host under: ``host`` or ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def hashed_name(name: str, salt: bytes | None = None) -> str:
    """OpenSSH HashKnownHosts form ``|1|salt|hmac-sha1``."""
    salt = salt if salt is not None else os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256 fingerprint as OpenSSH prints it, with the key type."""
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


class HostKeyPolicy:
    """Decides on server host keys for one target; built once per host and reused across connects."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self.mode = target.strict_host_key_checking
        self.files = [f for f in (*target.user_known_hosts_files, *target.global_known_hosts_files) if f]
        self.write_file = target.user_known_hosts_files[0] if target.user_known_hosts_files else ""
        self.verdict = KeyVerdict()
        self._known: list[asyncssh.SSHKey] = []

    def lookup(self, host: str, addr: str, port: int | None) -> tuple[list[Any], list[Any], list[Any]]:
        """asyncssh ``known_hosts`` callable: the trusted, CA and revoked keys on record for this host."""
        self.verdict = KeyVerdict(file=self.write_file)
        existing = [f for f in self.files if os.path.isfile(f)]
        if not existing:
            self._known = []
            return [], [], []
        try:
            trusted, ca, revoked, *_ = asyncssh.match_known_hosts(existing, host, addr, port)
        except (OSError, ValueError, asyncssh.KeyImportError):
            # An unreadable or corrupt file must not turn into "no keys known, accept the new one".
            self._known = []
            self.verdict.outcome = "unreadable"
            return [], [], []
        self._known = list(trusted)
        return list(trusted), list(ca), list(revoked)

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh for a key not on record: accept (and record) it or refuse it."""
        self.verdict.presented = fingerprint(key)
        self.verdict.known = tuple(fingerprint(k) for k in self._known)
        if self._known or self.verdict.outcome == "unreadable":
            self.verdict.outcome = self.verdict.outcome or "changed"
            return False
        if self.mode in ("accept-new", "no") and self.write_file:
            record_key(self.write_file, self.target, key)
            self.verdict.outcome = "recorded"
            return True
        self.verdict.outcome = "unknown"
        return False


def record_key(path: str, target: SshTarget, key: asyncssh.SSHKey) -> None:
    """Append ``key`` for ``target`` to a known_hosts file, as ssh would (hashed when HashKnownHosts)."""
    record_key_line(path, target, key.export_public_key("openssh").decode().strip())


def record_key_line(path: str, target: SshTarget, key_line: str) -> None:
    """Append an OpenSSH public key line (``type base64 [comment]``) for ``target`` to ``path``."""
    name = known_hosts_name(target.hostname, target.port)
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
