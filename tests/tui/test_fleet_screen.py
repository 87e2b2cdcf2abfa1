"""The fleet screen driven with Pilot against a live demo fleet: rows, filter, sort, drill-down."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from textual.pilot import Pilot

from fleetwatch.config import Config
from fleetwatch.rules.catalogue import load_catalogue
from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.screens.fleet import FleetScreen
from fleetwatch.tui.screens.host import HostScreen
from tests.tui.harness import cell, first_pass, live_app, pilot_run, rows, until


def fleet_screen(app: FleetwatchApp) -> FleetScreen:
    screen = app.screen
    assert isinstance(screen, FleetScreen), screen
    return screen


def test_one_row_per_host_worst_first_with_states_spelled_out(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        order = rows(app)
        assert set(order[:2]) == {"demo-auth", "demo-disk"}  # CRIT
        assert order[2:] == ["demo-unreachable", "demo-stale", "demo-healthy"]
        assert [cell(app, h, "state") for h in order] == ["CRIT", "CRIT", "UNREACHABLE", "WARN", "OK"]
        assert cell(app, "demo-disk", "disk") == "97%" and cell(app, "demo-disk", "alerts") == "disk_critical"
        assert cell(app, "demo-unreachable", "poll") == "✗ connect"  # never answered: where it fails
        assert cell(app, "demo-healthy", "round") == "R7"

    pilot_run(live_app(tmp_path), body)


def test_filter_keeps_the_matching_rows_and_is_remembered_for_the_next_run(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        await pilot.press("slash", *"state:crit", "enter")
        assert sorted(rows(app)) == ["demo-auth", "demo-disk"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"!ok lab", "enter")
        assert rows(app) == []  # no groups in the demo
        await pilot.press("escape")  # back on the table: escape clears the filter
        await pilot.pause()
        assert len(rows(app)) == 5
        await pilot.press("slash", *"disk", "enter")
        assert rows(app) == ["demo-disk"]

    pilot_run(live_app(tmp_path), body)
    assert json.loads((tmp_path / "view.json").read_text())["query"] == "disk"

    async def again(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        assert rows(app) == ["demo-disk"]

    pilot_run(live_app(tmp_path), again)


def test_sorting_by_a_column_keeps_the_cursor_on_the_selected_host(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        table = fleet_screen(app).table
        await pilot.press("down", "down", "down", "down")  # demo-healthy, the last row
        assert table.selected == "demo-healthy" and table.cursor_row == 4
        fleet_screen(app).sort_by("disk")
        await pilot.pause()
        assert rows(app)[0] == "demo-disk"
        assert table.selected == "demo-healthy"  # the cursor followed its host
        assert table.get_row_index("demo-healthy") == table.cursor_row
        await pilot.press("O")  # reversed: the unknown disk (unreachable host) first, the fullest last
        assert rows(app)[-1] == "demo-disk" and table.selected == "demo-healthy"
        await pilot.click("#fleet", offset=(2, 0))  # the HOST header
        await pilot.pause()
        assert rows(app) == sorted(rows(app)) and app.state.view.sort == "host"
        assert table.selected == "demo-healthy"

    pilot_run(live_app(tmp_path), body)
    view = json.loads((tmp_path / "view.json").read_text())
    assert view == {"sort": "host", "reverse": False, "query": ""}


def test_a_resize_that_drops_columns_keeps_the_cursor_where_the_user_moved_it(tmp_path: Path) -> None:
    # It went back to the row the last update had left it on: `a`, `e`, `y` then acted on another host.
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        table = fleet_screen(app).table
        await pilot.press("down", "down", "down", "down")
        assert table.selected == "demo-healthy"
        wide = table.column_keys
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: table.column_keys != wide, what="columns dropped")
        assert table.selected == "demo-healthy"

    pilot_run(live_app(tmp_path), body)


def test_enter_drills_into_the_host_with_its_alert_evidence_facts_and_events(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        fleet_screen(app).table.move_cursor(row=rows(app).index("demo-auth"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, HostScreen) and screen.alias == "demo-auth"
        await pilot.pause()

        def text(widget_id: str) -> str:
            return str(screen.query_one(widget_id).render())

        alerts = text("#host-alerts")
        assert "[CRIT] oauth_fail" in alerts and "→ log the agent CLI in again" in alerts
        assert "round 9, log tail:" in alerts and "Invalid API key" in alerts  # the evidence
        assert "serve active" in text("#host-facts") and "auth-agent" in text("#host-facts")
        assert "agent_exit" in text("#host-events") and "exit_code=1" in text("#host-events")
        assert "R9-" in text("#host-log")
        assert "No history store" in text("#no-history")
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await until(pilot, lambda: fleet_screen(app).table.selected == "demo-auth")

    pilot_run(live_app(tmp_path), body)


def test_a_users_rule_shows_like_a_built_in_in_the_table_and_the_host_screen(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- name: round_seven\n"
        "  when: facts.round >= 7\n"
        "  severity: warning\n"
        "  hosts: [demo-healthy]\n"
        '  message: "{host} is on round {facts.round}"\n'
        '  hint: "nothing to do: this is a test rule"\n'
    )
    config = dataclasses.replace(Config(), catalogue=load_catalogue([rules])).with_rules()

    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        assert cell(app, "demo-healthy", "state") == "WARN"
        assert cell(app, "demo-healthy", "alerts") == "round_seven"
        assert "round_seven" not in cell(app, "demo-stale", "alerts")  # hosts: scopes it
        fleet_screen(app).table.move_cursor(row=rows(app).index("demo-healthy"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, HostScreen) and screen.alias == "demo-healthy"
        await pilot.pause()
        alerts = str(screen.query_one("#host-alerts").render())
        assert "[WARN] round_seven" in alerts and "demo-healthy is on round 7" in alerts, alerts
        assert "→ nothing to do: this is a test rule" in alerts

    pilot_run(live_app(tmp_path, config=config), body)


def test_home_and_end_go_to_the_first_and_last_host(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        table = fleet_screen(app).table
        await pilot.press("end")
        assert table.selected == rows(app)[-1]
        await pilot.press("home")
        assert table.selected == rows(app)[0]

    pilot_run(live_app(tmp_path), body)
