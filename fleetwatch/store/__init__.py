"""The state database: one SQLite file (WAL) under the state dir, shared by every fleetwatch process.

- ``sqlite``: the connection and the write transaction (``immediate``) everything takes.
- ``schema``: every table, the schema version and the forward migrations (the one owner of the schema).
- ``database``: ``Store``, episodes, transitions, failure clocks and the latest poll of each host.

Other modules keep their own queries (outbox, silences, audit) on ``Store.connection``; none creates tables.
"""

from fleetwatch.store.database import Store
from fleetwatch.store.sqlite import immediate

__all__ = ["Store", "immediate"]
