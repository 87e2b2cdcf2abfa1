"""Inventory data: a host alias resolved as OpenSSH would, plus fleetwatch's per-host settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetwatch.settings import HostSettings


@dataclass(frozen=True)
class SshTarget:
    """Connection parameters for one alias, exactly as ``ssh -G`` reports them (tokens and ~ expanded)."""

    alias: str
    hostname: str
    user: str
    port: int = 22
    identity_files: tuple[str, ...] = ()
    """IdentityFile entries in order, ``~`` and %-tokens expanded; files that do not exist are kept."""
    identities_only: bool = False
    proxy_jump: str | None = None
    """Raw ProxyJump value (``[user@]host[:port][,…]``), or None for ``none``/unset."""
    proxy_command: str | None = None
    """ProxyCommand with %-tokens expanded, or None for ``none``/unset."""
    user_known_hosts_files: tuple[str, ...] = ()
    global_known_hosts_files: tuple[str, ...] = ()
    strict_host_key_checking: str = "ask"
    """One of ``yes``, ``accept-new``, ``no``, ``ask`` (``ask`` behaves as ``yes``: nobody answers)."""
    hash_known_hosts: bool = False
    host_key_alias: str | None = None
    """HostKeyAlias: the name the host key is looked up and recorded under (and its certificate's
    principal), instead of ``[hostname]:port``."""
    connect_timeout: float | None = None
    server_alive_interval: int = 0
    server_alive_count_max: int = 3
    source: str = "ssh -G"
    """How this was resolved: ``ssh -G`` or ``parser`` (no ssh binary)."""

    @property
    def jumps(self) -> tuple[str, ...]:
        """The ProxyJump hops' names, in order (``[user@]host[:port]`` -> ``host``)."""
        if not self.proxy_jump:
            return ()
        return tuple(parse_jump(spec)[1] for spec in self.proxy_jump.split(","))


def parse_jump(spec: str) -> tuple[str, str, int | None]:
    """One ProxyJump hop, ``[user@]host[:port]`` (``[v6addr]:port`` too) -> (user or "", host, port or
    None); a bare IPv6 address (more than one colon) has no port."""
    user, _, hostport = spec.strip().rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    return user, host, int(port_text) if port_text.isdigit() else None


@dataclass(frozen=True)
class Destination:
    """How ``ssh`` reaches an alias that an inventory describes beyond its name (Ansible's ``ansible_host``,
    ``ansible_user``, ``ansible_port`` …): what it connects to, and options given on its command line,
    which OpenSSH takes before (so in preference to) the ssh_config's, while the rest of the ssh_config
    still applies to ``host`` as it would for ``ssh -o … host``."""

    host: str
    """The destination on ssh's command line (``Host`` lines of the ssh_config match it)."""
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    """Tried before the ssh_config's own IdentityFile entries (``~`` expanded)."""
    extra_args: tuple[str, ...] = ()
    """Further ssh command-line arguments, as given (``-o ProxyCommand=…``, ``-J bastion``)."""

    def ssh_args(self) -> list[str]:
        """The ssh arguments before the destination, in Ansible's order: port, key, user, extra."""
        args: list[str] = []
        if self.port is not None:
            args += ["-o", f"Port={self.port}"]
        if self.identity_file is not None:
            args += ["-o", f'IdentityFile="{self.identity_file}"']
        if self.user is not None:
            args += ["-o", f'User="{self.user}"']
        return [*args, *self.extra_args]


@dataclass(frozen=True)
class Host:
    """One fleet member: its alias, how to reach it, its groups and settings."""

    alias: str
    target: SshTarget
    groups: tuple[str, ...] = ()
    settings: HostSettings = field(default_factory=HostSettings)
