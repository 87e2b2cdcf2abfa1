"""The one exception tree of fleetwatch.

Every error a user can meet is a ``FleetwatchError``: its message says what went wrong, where
(host and stage, or ``file:line`` for configuration) and what to do next.  Edges convert their
library's exceptions (asyncssh, apprise, sqlite3, yaml) into these.
"""

from __future__ import annotations

import enum


class Stage(enum.StrEnum):
    """Where in a host's poll something failed; shown to the user as-is."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    HOST_KEY = "host key"
    AUTH = "auth"
    COMMAND = "command"
    PARSE = "parse"


class FleetwatchError(Exception):
    """Base of every error fleetwatch raises on purpose."""


class ConfigError(FleetwatchError):
    """Bad configuration: a file, a flag or an environment variable."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class InventoryError(ConfigError):
    """The ssh_config or a YAML inventory could not be read or resolved."""


class HostError(FleetwatchError):
    """Something went wrong with one host at one stage."""

    def __init__(
        self, host: str, stage: Stage, message: str, hint: str = "", *, via: str | None = None
    ) -> None:
        text = f"{host}: {stage} failed: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.host = host
        self.stage = stage
        self.reason = message
        self.hint = hint
        self.via = via
        """The ProxyJump hop that failed, when the host itself was never reached."""


class TransportError(HostError):
    """Resolving, connecting, verifying the host key, authenticating or running the command."""


class HostKeyChangedError(TransportError):
    """The host offered a key that differs from the one on record: refused, never accepted."""


class HostKeyRevokedError(HostKeyChangedError):
    """The host offered a key (or a certificate from a CA) marked ``@revoked``: refused, never recorded,
    and as alarming as a changed key."""


class SnapshotError(HostError):
    """The remote's output could not be turned into a snapshot."""


class StateError(FleetwatchError):
    """The local state database could not be opened or written."""


class NotifyError(FleetwatchError):
    """A notification could not be delivered."""
