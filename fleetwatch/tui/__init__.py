"""``fleetwatch tui``: the whole fleet on one Textual screen.

A front end like the CLI: it drives the same ``Watcher`` (in a thread of its own, ``backend``) and
renders the one read model (``FleetStatus``); it holds no detection logic.  Layout:

- ``app.py``: the App, its bindings and workers; ``backend.py``: the watcher's thread; ``messages.py``:
  what the backend reports, as immutable past events.
- ``columns.py``, ``query.py``, ``detail.py``, ``alert_log.py``, ``report.py``: pure presentation of the
  read model (cells, sort keys, filter, detail sections, log rows, notification titles).
- ``widgets/`` (one widget per file), ``screens/``, ``fleetwatch.tcss`` (the one stylesheet).

Only ``fleetwatch.cli.tui`` imports this package, and only when the ``tui`` command runs, so the other
commands never load Textual.
"""
