"""The periodic report (``report: {every: …}``): queued once per period, and a failure while queueing it
never marks it as sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch import watcher as watcher_module
from fleetwatch.basics import Duration
from fleetwatch.config import Config, ReportSchedule
from fleetwatch.errors import StateError
from fleetwatch.events import Trouble, WatcherEvent
from fleetwatch.inventory.fleet import Fleet
from fleetwatch.notify.model import Target
from fleetwatch.store import Store
from fleetwatch.watcher import Watcher


def reports(store: Store) -> int:
    return int(
        store.connection.execute("SELECT COUNT(*) FROM notifications WHERE kind = 'report'").fetchone()[0]
    )


def test_the_report_is_queued_once_per_period_and_a_failure_leaves_it_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path)
    config = Config(notify=(Target("json://127.0.0.1:9/hook"),), report=ReportSchedule(every=Duration(3600)))
    said: list[WatcherEvent] = []
    w = Watcher(Fleet((), (), {}, tmp_path / "ssh_config"), store, config, emit=said.append)

    def broken(*args: object) -> None:
        raise StateError("state.db could not be written: disk full")

    monkeypatch.setattr(watcher_module, "load_report", broken)
    w._scheduled_report()
    assert reports(store) == 0 and store.get_meta("report_sent_at") is None, "not claimed: still due"
    assert [e.what for e in said if isinstance(e, Trouble)] == [
        "the scheduled report was not queued this pass: state.db could not be written: disk full"
    ]
    monkeypatch.undo()
    w._scheduled_report()
    w._scheduled_report()  # not due again within the hour
    assert reports(store) == 1 and store.get_meta("report_sent_at") is not None
