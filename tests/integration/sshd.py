"""Real network parts for the integration suite: OpenSSH ``sshd`` on loopback, and sockets that misbehave.

Remote personas.  Every test host is reached as the *current* user (root in CI) on 127.0.0.1, but each
persona is its own ``sshd`` whose ``SetEnv HOME=…`` gives the remote session a per-session fixture home
instead of the real one.  So the remote side sees its own ``~/.bashrc`` (Debian's bash sources it for
non-interactive SSH commands), its own ``~/.local/bin`` and its own ``~/.agent-runner``, and nothing in
/etc/passwd is touched.  Chosen over a throwaway local user because the test venv's Python often lives
under /root (mode 700), which another user could not execute, and because it works unprivileged too.
The one visible difference from a real login: the session's working directory is still the real home,
so every test host names its ``config:`` explicitly.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
LOOPBACK = "127.0.0.1"


def keygen(path: Path, comment: str) -> str:
    """Generate an unencrypted ed25519 key pair at ``path``; return the public ``type base64`` part."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    path.chmod(0o600)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """One running ``sshd -D -e`` bound to 127.0.0.1:port."""

    name: str
    port: int
    home: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate this sshd (and only it), then reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _sshd_config(
    workdir: Path,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    user: str,
    env: dict[str, str],
    extra: Sequence[str] = (),
) -> str:
    setenv = " ".join(f"{k}={v}" for k, v in env.items())
    return "\n".join(
        [
            f"ListenAddress {LOOPBACK}",
            f"Port {port}",
            f"HostKey {host_key}",
            f"PidFile {workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            "StrictModes no",  # fixture dirs live under pytest's tmp tree, not a 0700 ~/.ssh
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin yes",  # CI runs the suite as root and logs in as itself
            f"AllowUsers {user}",
            f"SetEnv {setenv}",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 200",  # a full pass opens one connection per host at once
            "MaxSessions 50",
            "LogLevel VERBOSE",
            *extra,
            "",
        ]
    )


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], log: Path, deadline_s: float = 10.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def start_sshd(
    name: str,
    workdir: Path,
    home: Path,
    host_key: Path,
    authorized_keys: Path,
    user: str,
    extra_env: dict[str, str] | None = None,
    extra_config: Sequence[str] = (),
) -> Sshd:
    """Start a persona's sshd on a free loopback port and wait until it speaks SSH (``extra_config``:
    more sshd_config lines, such as ``ForceCommand`` or ``HostCertificate``)."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir sshd insists on
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), **(extra_env or {})}
    log = workdir / "sshd.log"
    for _attempt in range(5):  # the free port may be taken between our pick and sshd's bind
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(_sshd_config(workdir, port, host_key, authorized_keys, user, env, extra_config))
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, capture_output=True)
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)], stdout=sink, stderr=sink, stdin=subprocess.DEVNULL
            )
        if _wait_for_banner(port, proc, log):
            return Sshd(name, port, home, config, log, proc)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    raise RuntimeError(f"sshd for persona {name} did not start; see {log}:\n{log.read_text()[-2000:]}")


@dataclass
class SilentListener:
    """A TCP listener that accepts connections and never says a word: a hung sshd."""

    port: int = 0
    _sock: socket.socket = field(default_factory=socket.socket)
    _held: list[socket.socket] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _closing: bool = False

    def start(self) -> SilentListener:
        """Bind, listen and start accepting in a daemon thread."""
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="silent-listener", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # keep it open, say nothing

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        return len(self._held)

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self._closing = True
        if self._thread is not None:
            self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()


def refusing_port() -> socket.socket:
    """A socket bound to a loopback port but not listening: connects to it are refused, and the port
    stays ours for the whole session (a merely closed port could be reused by someone else)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    return s


def host_block(alias: str, port: int, identity: Path, known_hosts: Path, **extra: str) -> str:
    """One ``Host`` block of the generated client config."""
    lines = [
        f"Host {alias}",
        "    HostName 127.0.0.1",
        f"    Port {port}",
        f"    User {getpass.getuser()}",
        f"    IdentityFile {identity}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        *(f"    {k} {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"
