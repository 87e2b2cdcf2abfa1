"""SSH transport: the only home of asyncssh.  Converts asyncssh's exceptions into ``TransportError``."""

from fleetwatch.transport.ssh import CommandResult, Transport

__all__ = ["CommandResult", "Transport"]
