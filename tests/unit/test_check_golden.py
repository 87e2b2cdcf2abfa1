"""``check`` renders a fixed state exactly as recorded (golden).

The state is the one release 0.1.0 wrote (``tests/fixtures/state/``).  Until issue 7 the expected bytes
were 0.1.0's own (``check-*.0.1.0.*``, kept for the record); since, they are this version's: hosts that
0.1.0 never recorded a poll for count as unknown, perfdata has units and thresholds, the JSON has a
``schema``; since issue 8's review, a generic webhook's path is masked whole (``json://host/h...k``: a
path is a password as often as not).  Regenerate with FLEETWATCH_REGENERATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from fleetwatch.cli.render import check_document, check_lines, check_summary
from fleetwatch.config import load_config
from fleetwatch.settings import CHECK_INTERVAL
from fleetwatch.status import HostEntry
from fleetwatch.store import Store
from fleetwatch.watcher import read_status

RELEASE = Path(__file__).parents[1] / "fixtures" / "state" / "release-0.1.0"


@pytest.mark.parametrize("config_name", ["config", "empty"])
@pytest.mark.parametrize("form", ["text", "json"])
def test_check_output_is_byte_for_byte_what_0_1_printed(tmp_path: Path, config_name: str, form: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "state.db") as conn:
        conn.executescript((RELEASE / "state.sql").read_text())
    config_file = RELEASE / "config.yaml" if config_name == "config" else tmp_path / "empty.yaml"
    config_file.touch()
    config = load_config(str(config_file))
    now = float((RELEASE / "now").read_text())
    rows = [HostEntry(alias) for alias in json.loads((RELEASE / "aliases.json").read_text())]
    store = Store.open(state)
    try:
        status = read_status(store, rows, config, config.passes.with_defaults(CHECK_INTERVAL), now)
    finally:
        store.close()
    summary = check_summary(status, 2.5)
    if form == "json":
        printed = json.dumps(check_document(status, summary, []), default=str) + "\n"
    else:
        printed = "\n".join(check_lines(status, summary, [])) + "\n"
    expected = RELEASE / f"check-{config_name}.{form}"
    if os.environ.get("FLEETWATCH_REGENERATE_GOLDEN"):
        expected.write_text(printed)
    assert printed == expected.read_text()
