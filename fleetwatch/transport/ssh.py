"""Run one command on a host over SSH, under a hard deadline, reusing connections between passes."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import asyncssh

from fleetwatch.basics import human_bytes
from fleetwatch.errors import HostError, HostKeyChangedError, HostKeyRevokedError, Stage, TransportError
from fleetwatch.inventory.model import SshTarget, parse_jump
from fleetwatch.settings import DEFAULT_MAX_OUTPUT_BYTES
from fleetwatch.transport.host_keys import (
    HostKeyPolicy,
    KeyVerdict,
    KnownHostsCache,
    fingerprint,
    record_name,
)
from fleetwatch.transport.output import Collected, OutputTooLarge, collect, text
from fleetwatch.transport.proxy import Proxy, start_proxy

JumpResolver = Callable[[str], SshTarget]


@dataclass(frozen=True)
class CommandResult:
    """What a remote command printed and how it ended."""

    stdout: str
    stderr: str
    exit_status: int | None
    seconds: float


class _Client(asyncssh.SSHClient):
    def __init__(self, policy: HostKeyPolicy) -> None:
        self._policy = policy

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._policy.validate(key)

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        # Called for a certificate whose CA no @cert-authority line covering this host names.
        self._policy.verdict.presented = f"a certificate signed by {fingerprint(key)}"
        return False


@dataclass
class _Prepared:
    """Per-target state built once: connect arguments (keys loaded), host-key policy, the live connection."""

    target: SshTarget
    policy: HostKeyPolicy
    options: dict[str, Any]
    """Keyword arguments for ``asyncssh.connect``: it builds its options object from them on every
    connect anyway (in a thread), so building one here too only doubled a cold pass's cost."""
    conn: asyncssh.SSHClientConnection | None = None
    proxy: Proxy | None = None
    """The running ProxyCommand that ``conn`` goes through, if any."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


KeyCache = dict[str, list[asyncssh.SSHKeyPair]]


def _load_keys(target: SshTarget, loaded: KeyCache) -> list[asyncssh.SSHKeyPair]:
    keys: list[asyncssh.SSHKeyPair] = []
    for path in target.identity_files:
        if path not in loaded:  # a fleet shares a handful of keys: read each once, not once per host
            loaded[path] = _load_key_file(path)
        keys.extend(loaded[path])
    return keys


def _load_key_file(path: str) -> list[asyncssh.SSHKeyPair]:
    if not os.path.isfile(path):
        return []
    try:
        # Encrypted keys without a passphrase are skipped: the agent may hold them, as with ssh.
        return list(asyncssh.load_keypairs([path], ignore_encrypted=True))
    except (OSError, ValueError, asyncssh.KeyImportError):
        return []


def _build(
    target: SshTarget, connect_timeout: float, known_hosts: KnownHostsCache, loaded: KeyCache
) -> _Prepared:
    policy = HostKeyPolicy(target, known_hosts)
    keys = _load_keys(target, loaded)
    timeout = target.connect_timeout if target.connect_timeout else connect_timeout
    kwargs: dict[str, Any] = {
        "username": target.user,
        "client_keys": keys,
        "known_hosts": policy.lookup,
        "connect_timeout": min(timeout, connect_timeout),
        "keepalive_interval": target.server_alive_interval or 0,
        "keepalive_count_max": target.server_alive_count_max,
        # Keys come only from the resolved IdentityFile list (plus the agent): never from asyncssh defaults.
        "ignore_encrypted": True,
    }
    if target.identities_only:
        kwargs["agent_identities"] = keys
    if target.host_key_alias:
        kwargs["host_key_alias"] = target.host_key_alias  # a certificate's principal is checked against it
    return _Prepared(target=target, policy=policy, options=kwargs)


def _hop_target(spec: str, resolve: JumpResolver) -> SshTarget:
    """A ProxyJump hop ``[user@]host[:port]`` resolved through the ssh config, as ssh does."""
    user, host, port = parse_jump(spec)
    base = resolve(host)
    changes: dict[str, Any] = {}
    if user:
        changes["user"] = user
    if port:
        changes["port"] = port
    return replace(base, **changes) if changes else base


class Transport:
    """Connections to many hosts; each ``run`` has a hard deadline covering connect, command and output,
    and reads at most ``max_output_bytes`` of output."""

    def __init__(
        self,
        *,
        connect_timeout: float = 15.0,
        keep_open: bool = False,
        resolve_jump: JumpResolver | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._max_output_bytes = max_output_bytes
        self._keep_open = keep_open
        self._resolve_jump = resolve_jump
        self._prepared: dict[tuple[str, str, int, str], _Prepared] = {}
        # One parse of each known_hosts file for all hosts, not one per host (quadratic in fleet size).
        self._known_hosts = KnownHostsCache()
        self._keys: KeyCache = {}
        self._proxies: set[Proxy] = set()
        """ProxyCommands started and not yet reaped: ``close`` waits for them."""

    def _prepare(self, target: SshTarget) -> _Prepared:
        key = (target.alias, target.hostname, target.port, target.user)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = _build(target, self._connect_timeout, self._known_hosts, self._keys)
            self._prepared[key] = prepared
        return prepared

    async def run(self, target: SshTarget, command: str, timeout: float) -> CommandResult:
        """Run ``command`` (already shell-quoted) on ``target``; raise ``TransportError`` with the stage.

        ``timeout`` covers the whole exchange: connecting (jump hosts included), running the command and
        reading its output; at most ``max_output_bytes`` of output is read."""
        started = time.monotonic()
        prepared = self._prepare(target)
        stage = Stage.CONNECT
        hops: list[str] = []  # the jump host being connected to, while one is
        output = Collected(self._max_output_bytes)
        try:
            async with asyncio.timeout(timeout), prepared.lock:
                reused = prepared.conn is not None and not prepared.conn.is_closed()
                conn = await self._connection(prepared, hops)
                stage = Stage.COMMAND
                try:
                    process = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
                except (OSError, asyncssh.Error):
                    if not reused:
                        raise
                    # A kept-open connection may have died quietly (host rebooted, NAT timeout):
                    # one fresh connection, inside the same deadline, before calling it a failure.
                    await self._drop(prepared)
                    stage = Stage.CONNECT
                    conn = await self._connection(prepared, hops)
                    stage = Stage.COMMAND
                    process = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
                await collect(process, output)
        except TimeoutError:
            # The ProxyCommand (of the target, or of the hop being reached) that gave no handshake.
            waiting = self._hop(hops[-1]) if hops else prepared
            proxy_said = waiting.proxy.last_line() if waiting and waiting.proxy is not None else None
            self._abort(prepared)
            if waiting is not None and waiting is not prepared:
                self._abort(waiting)
            if proxy_said is not None and stage is Stage.CONNECT:
                failed = _proxy_failed(
                    waiting.target if waiting is not None else target,
                    f"gave no SSH handshake within {timeout:g} s" + (f": {proxy_said}" if proxy_said else ""),
                )
                if not hops:
                    raise failed from None
                why = f"via jump host {hops[-1]}: {failed.reason}"
                raise TransportError(target.alias, failed.stage, why, failed.hint, via=hops[-1]) from None
            if hops:
                raise TransportError(
                    target.alias,
                    stage,
                    f"via jump host {hops[-1]}: timed out after {timeout:g} s waiting for its SSH handshake",
                    f"check the jump host {hops[-1]}",
                    via=hops[-1],
                ) from None
            if stage is Stage.COMMAND and output.size:
                raise TransportError(
                    target.alias,
                    stage,
                    f"timed out after {timeout:g} s while the command was still printing "
                    f"({human_bytes(output.size)} so far)",
                    "something on the host prints without end (a login script, a stuck agent-runner?)",
                ) from None
            waited = "the command to finish" if stage is Stage.COMMAND else "the SSH handshake"
            raise TransportError(
                target.alias,
                stage,
                f"timed out after {timeout:g} s waiting for {waited}",
                "the host accepts TCP but does not answer; check sshd and load on it",
            ) from None
        except OutputTooLarge:
            self._abort(prepared)  # the session is closed; the connection too, whatever is still in flight
            raise TransportError(
                target.alias,
                Stage.COMMAND,
                f"printed more than {human_bytes(self._max_output_bytes)} (max_output_bytes): "
                "stopped reading and closed the session",
                "find what prints so much on the host (a login script, a broken agent-runner), "
                "or raise max_output_bytes in the config",
            ) from None
        except asyncio.CancelledError:  # the pass's deadline, or shutdown: leave no half-used connection
            self._abort(prepared)
            raise
        except TransportError:
            await self._drop(prepared)
            raise
        except (OSError, asyncssh.Error, asyncssh.misc.ChannelOpenError) as exc:
            await self._drop(prepared)
            raise _classify(target, stage, exc, prepared.policy.verdict) from None
        if not self._keep_open:
            await self._drop(prepared)
        if process.exit_status is None and process.exit_signal is None:
            await self._drop(prepared)
            raise TransportError(
                target.alias,
                Stage.COMMAND,
                "the connection closed before the command finished",
                "check sshd and the host's load; the next poll reconnects",
            )
        return CommandResult(
            stdout=text(output.stdout),
            stderr=text(output.stderr),
            exit_status=process.exit_status,
            seconds=time.monotonic() - started,
        )

    async def _connection(self, prepared: _Prepared, hops: list[str]) -> asyncssh.SSHClientConnection:
        if prepared.conn is not None and not prepared.conn.is_closed():
            return prepared.conn
        tunnel = await self._tunnel(prepared.target, hops)
        prepared.conn = await self._open(prepared, tunnel, partial(_Client, prepared.policy))
        return prepared.conn

    async def _tunnel(self, target: SshTarget, hops: list[str]) -> asyncssh.SSHClientConnection | None:
        """The connection through ``target``'s ProxyJump chain; ``hops`` names the hop being connected."""
        if not target.proxy_jump:
            return None
        if self._resolve_jump is None:
            raise TransportError(
                target.alias, Stage.RESOLVE, f"ProxyJump {target.proxy_jump} cannot be resolved"
            )
        conn: asyncssh.SSHClientConnection | None = None
        for spec in target.proxy_jump.split(","):
            name = parse_jump(spec)[1]
            try:
                hop = _hop_target(spec.strip(), self._resolve_jump)
            except HostError as unresolved:
                why = f"via jump host {name}: {unresolved.reason}"
                raise TransportError(target.alias, Stage.RESOLVE, why, unresolved.hint, via=name) from None
            prepared = self._prepare(hop)
            hops.append(hop.alias)
            try:
                if prepared.conn is None or prepared.conn.is_closed():
                    prepared.conn = await self._open(prepared, conn, partial(_Client, prepared.policy))
            except (OSError, asyncssh.Error, TransportError) as exc:
                err = (
                    exc
                    if isinstance(exc, TransportError)
                    else _classify(hop, Stage.CONNECT, exc, prepared.policy.verdict)
                )
                raise TransportError(
                    target.alias,
                    err.stage,
                    f"via jump host {hop.alias}: {err.reason}",
                    err.hint,
                    via=hop.alias,
                ) from None
            hops.pop()
            conn = prepared.conn
        return conn

    @staticmethod
    def _abort(prepared: _Prepared) -> None:
        """Close ``prepared``'s connection now, without waiting for the server's goodbye (a deadline
        has passed, or the host is flooding us)."""
        conn, prepared.conn = prepared.conn, None
        if conn is not None:
            conn.abort()
        _end_proxy(prepared)

    async def _drop(self, prepared: _Prepared) -> None:
        conn, prepared.conn = prepared.conn, None
        if conn is not None:
            conn.close()
            try:
                async with asyncio.timeout(2):
                    await conn.wait_closed()
            except (TimeoutError, OSError, asyncssh.Error):
                pass
        _end_proxy(prepared)

    async def close(self) -> None:
        """Close every open connection (jump hosts included) and reap every ProxyCommand."""
        await asyncio.gather(*(self._drop(p) for p in self._prepared.values()))
        await asyncio.gather(*(p.wait_closed() for p in list(self._proxies)))

    def _hop(self, alias: str) -> _Prepared | None:
        """The prepared jump host ``alias`` (the one being connected to when a deadline passed)."""
        return next((p for p in self._prepared.values() if p.target.alias == alias), None)

    async def _open(
        self,
        prepared: _Prepared,
        tunnel: asyncssh.SSHClientConnection | None,
        client_factory: Callable[[], asyncssh.SSHClient],
    ) -> asyncssh.SSHClientConnection:
        """Connect to ``prepared``'s target: through ``tunnel`` (its ProxyJump chain), else through its
        ProxyCommand, else directly.  A ProxyCommand that fails is named, with its last words."""
        target = prepared.target
        route: dict[str, Any] = {"tunnel": tunnel} if tunnel is not None else {}
        if "server_host_key_algs" not in prepared.options:
            algs = prepared.policy.host_key_algs()
            if algs is not None:
                route["server_host_key_algs"] = algs
        proxy = None
        if tunnel is None and target.proxy_command:
            proxy = await self._start_proxy(prepared, target.proxy_command)
            route["sock"] = proxy.sock
        try:
            # config=None: ssh -G already resolved everything; asyncssh must not re-read ssh_config.
            return await asyncssh.connect(
                target.hostname,
                target.port,
                config=None,
                **route,
                **prepared.options,
                client_factory=client_factory,
            )
        except (OSError, asyncssh.Error) as exc:
            # A refused key or login came through a working proxy; a timeout is the deadline's to say.
            if proxy is None or isinstance(
                exc, TimeoutError | asyncssh.HostKeyNotVerifiable | asyncssh.PermissionDenied
            ):
                raise
            status = await proxy.exit_status()
            # Socket errors on a socket pair are the proxy's end going away; asyncssh errors other than a
            # lost connection are the far side speaking (through a proxy that still runs).
            if status is None and not isinstance(exc, OSError | asyncssh.ConnectionLost):
                raise
            ended = f"exited {status}" if status is not None else "closed the connection"
            said = proxy.last_line()
            raise _proxy_failed(
                target, f"{ended} before the SSH handshake" + (f": {said}" if said else "")
            ) from None

    async def _start_proxy(self, prepared: _Prepared, command: str) -> Proxy:
        """Start ``prepared``'s ProxyCommand (ending the one its last connection went through)."""
        _end_proxy(prepared)
        try:
            proxy = await start_proxy(command)
        except OSError as exc:
            raise _proxy_failed(prepared.target, f"could not be started: {exc.strerror or exc}") from None
        prepared.proxy = proxy
        self._proxies.add(proxy)
        if proxy.reader is not None:
            proxy.reader.add_done_callback(lambda _: self._proxies.discard(proxy))
        return proxy

    async def fetch_host_key(self, target: SshTarget, timeout: float) -> tuple[KeyVerdict, str]:
        """Connect far enough to see the host's plain key; return the verdict on it (nothing is
        recorded here) and the key line to record."""
        shared = self._prepare(target)
        # Its own policy and connection state: a kept-open connection to the same host stays as is.
        policy = HostKeyPolicy(target, self._known_hosts)
        port = None if target.port == 22 else target.port
        policy.lookup(target.hostname, "", port)
        outcome = policy.verdict.outcome
        # Every plain key the server offers comes to _Peek (asyncssh is told of no records at all), and
        # is judged against the records as ssh would: a revoked key is seen as revoked, not as unknown.
        options = {
            **shared.options,
            "known_hosts": lambda *_: ([], [], []),
            "server_host_key_algs": policy.plain_key_algs(),
        }
        prepared = _Prepared(target=target, policy=policy, options=options)
        offered: list[asyncssh.SSHKey] = []

        class _Peek(asyncssh.SSHClient):
            def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
                offered.append(key)
                return False

        try:
            async with asyncio.timeout(timeout):
                tunnel = await self._tunnel(target, [])
                conn = await self._open(prepared, tunnel, _Peek)
                conn.close()
        except TimeoutError:
            raise TransportError(target.alias, Stage.CONNECT, f"timed out after {timeout:g} s") from None
        except asyncssh.HostKeyNotVerifiable:
            pass
        except (OSError, asyncssh.Error) as exc:
            raise _classify(target, Stage.CONNECT, exc, policy.verdict) from None
        finally:
            _end_proxy(prepared)
        if not offered:
            return policy.verdict, ""
        policy.verdict.outcome = outcome or policy.judge(offered[0])
        return policy.verdict, offered[0].export_public_key("openssh").decode().strip()


def _proxy_failed(target: SshTarget, what: str) -> TransportError:
    return TransportError(
        target.alias,
        Stage.CONNECT,
        f"ProxyCommand {what}",
        f"check ProxyCommand for {target.alias} in the ssh config (`ssh -G {target.alias}` shows it) "
        "and run it by hand",
    )


def _end_proxy(prepared: _Prepared) -> None:
    proxy, prepared.proxy = prepared.proxy, None
    if proxy is not None:
        proxy.close()


def _classify(target: SshTarget, stage: Stage, exc: BaseException, verdict: KeyVerdict) -> TransportError:
    """Turn an asyncssh / socket exception into a one-line error with stage and next step."""
    where = f"{target.user}@{target.hostname}:{target.port}"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return _host_key_refused(target, exc, verdict)
    if isinstance(exc, asyncssh.PermissionDenied):
        return TransportError(
            target.alias,
            Stage.AUTH,
            f"permission denied for {where}",
            "check IdentityFile / ssh-agent and the host's authorized_keys",
        )
    if isinstance(exc, socket.gaierror):
        return TransportError(
            target.alias,
            Stage.RESOLVE,
            f"cannot resolve {target.hostname}: {exc.strerror}",
            "check HostName in the ssh config and DNS",
        )
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(
            target.alias,
            Stage.CONNECT,
            f"connection refused by {target.hostname}:{target.port}",
            "is sshd running on the host, and is the port right?",
        )
    if isinstance(exc, asyncssh.ChannelOpenError):
        return TransportError(target.alias, Stage.COMMAND, f"could not open a session: {exc.reason}")
    if isinstance(exc, OSError):
        return TransportError(
            target.alias,
            stage,
            f"{where}: {exc.strerror or exc}",
            "check the host is up and reachable from here",
        )
    if isinstance(exc, asyncssh.DisconnectError):
        return TransportError(
            target.alias,
            stage,
            f"{where} disconnected: {exc.reason or type(exc).__name__}",
            "check sshd on the host",
        )
    return TransportError(target.alias, stage, f"{where}: {exc}")


def _host_key_refused(
    target: SshTarget, exc: asyncssh.HostKeyNotVerifiable, verdict: KeyVerdict
) -> TransportError:
    """The one line for a refused host key: revoked, changed, unreadable, a refused certificate, unknown."""
    where = f"{target.user}@{target.hostname}:{target.port}"
    name = record_name(target)
    # asyncssh's own words when it refused alone (a revoked key, a certificate): "... for host X".
    said = str(exc.reason).split(" for host ")[0]
    if verdict.outcome == "revoked" or "revoked" in said:
        what = "its certificate's CA key" if "CA key" in said else "the key it offered"
        marked = verdict.presented if verdict.outcome == "revoked" else ", ".join(verdict.revoked)
        return HostKeyRevokedError(
            target.alias,
            Stage.HOST_KEY,
            f"host key REVOKED for {where}: {what} is marked @revoked in known_hosts ({marked})",
            "refused, and fleetwatch trust will not record it: the host's keys must be replaced, "
            f"then run: fleetwatch trust {target.alias}",
        )
    if verdict.outcome == "changed":
        return HostKeyChangedError(
            target.alias,
            Stage.HOST_KEY,
            f"HOST KEY CHANGED for {where}: offered {verdict.presented}, "
            f"on record {', '.join(verdict.known)} in {verdict.file}",
            "refused; if the host was really reinstalled, remove the old line "
            f"(ssh-keygen -R '{name}' -f {verdict.file}) and run: fleetwatch trust {target.alias}",
        )
    if verdict.outcome == "unreadable":
        return TransportError(
            target.alias,
            Stage.HOST_KEY,
            f"could not read known_hosts for {where}",
            "check the UserKnownHostsFile files are readable and well-formed",
        )
    if not verdict.outcome:  # asyncssh refused a certificate: unknown CA, wrong principal, expired
        signed = f" ({verdict.presented})" if verdict.presented else ""
        principal = target.host_key_alias or target.hostname  # what ssh checks the principals against
        return TransportError(
            target.alias,
            Stage.HOST_KEY,
            f"host certificate refused for {where}: {said}{signed}",
            f"check the @cert-authority lines covering {name} in known_hosts and the certificate "
            f"(ssh-keygen -L -f on the host): its principals must include {principal}",
        )
    return TransportError(
        target.alias,
        Stage.HOST_KEY,
        f"unknown host key {verdict.presented} for {where} (StrictHostKeyChecking "
        f"{target.strict_host_key_checking})",
        f"run: fleetwatch trust {target.alias}",
    )
