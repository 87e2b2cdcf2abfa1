"""Inventory: which hosts make up the fleet and how to reach each, as OpenSSH would.

- ``model``: ``SshTarget`` and ``Host`` (pure data).
- ``ssh_config``: alias discovery, and a fallback resolver for hosts without an ``ssh`` binary.
- ``resolve``: ``ssh -G`` per alias, concurrently; failures are ``ResolveError`` values.
- ``yaml_file``: ``--inventory`` files with groups and per-host settings, errors at ``file:line``.
- ``ansible``: ``--ansible-inventory``, read with Ansible's own ``ansible-inventory --list``.
- ``fleet``: ``select_fleet`` (the front ends' selection: discover, pick, resolve) and its parts.

Only the model is imported here, so pure modules can use ``Host`` without loading YAML or subprocess code.
"""

from fleetwatch.inventory.model import Host, SshTarget

__all__ = ["Host", "SshTarget"]
