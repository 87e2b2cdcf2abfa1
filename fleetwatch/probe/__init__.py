"""The probe: what runs on a host, how its output is parsed, and the poll of one host.

- ``command``: the one argv-quoted shell line each poll runs (``remote/locate.sh`` + ``remote/gather.py``).
- ``remote/``: the scripts sent to the host inline (nothing is installed there).
- ``parse``: the probe's output -> ``Snapshot`` (pure).
- ``poll``: one SSH exec per host under the transport's deadline -> ``Snapshot`` or ``PollFailure``.

Nothing is imported here, so pure modules can use ``probe.parse`` without loading the transport.
"""
