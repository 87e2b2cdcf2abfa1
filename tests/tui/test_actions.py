"""Acting from the TUI against a live demo fleet: stop (cancel, confirm, dry run, read-only), ack, silence,
unsilence, copy, poll now, and the command palette offering every action."""

from __future__ import annotations

import json
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from fleetwatch.actions.audit import Audit
from fleetwatch.actions.plan import MANUAL, Outcome
from fleetwatch.store import Store
from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.screens.fleet import FleetScreen
from fleetwatch.tui.screens.mute import AckScreen, SilenceScreen, UnsilenceScreen
from fleetwatch.tui.screens.stop import StopScreen
from tests.tui.harness import cell, first_pass, live_app, pilot_run, rows, until


def select(app: FleetwatchApp, host: str) -> None:
    screen = app.screen
    assert isinstance(screen, FleetScreen)
    screen.table.move_cursor(row=rows(app).index(host))


def notices(app: FleetwatchApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def audit_records(app: FleetwatchApp) -> list[tuple[str, str, Outcome, bool]]:
    assert app.state.info is not None
    state_dir = app.state.info.state_dir
    store = Store.open(state_dir)
    try:
        return [
            (r.host, r.detector, r.outcome, r.dry_run) for r in Audit(store.connection, state_dir).since(0)
        ]
    finally:
        store.close()


def test_stop_shows_what_runs_where_defaults_to_cancel_and_cancel_runs_nothing(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-auth")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StopScreen), what="the stop dialog")
        dialog = app.screen
        assert isinstance(dialog, StopScreen)
        text = str(dialog.query_one("#dialog-text").render())
        assert "Stop agent-runner on demo-auth?" in text
        assert "runs   /home/demo/.local/bin/agent-runner stop" in text
        assert dialog.preview.where in text and dialog.preview.where.startswith("demo@127.0.0.1:")
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # the default: Cancel
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await until(pilot, lambda: any("cancelled: nothing was run" in n for n in notices(app)))
        assert audit_records(app) == []

    pilot_run(live_app(tmp_path), body)


def test_a_confirmed_stop_is_audited_verified_and_in_the_alert_log(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-auth")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StopScreen))
        await pilot.press("tab", "enter")
        await until(pilot, lambda: any(n.startswith("Stop: stopped") for n in notices(app)), what="outcome")
        assert audit_records(app) == [("demo-auth", MANUAL, Outcome.STOPPED, False)]
        assert app.state.info is not None
        log = [json.loads(x) for x in (app.state.info.state_dir / "audit.log").read_text().splitlines()]
        assert [(x["event"], x["outcome"]) for x in log] == [("claimed", "started"), ("finished", "stopped")]
        # The stop forces a pass: the table shows serve gone without waiting for the interval.
        await until(pilot, lambda: cell(app, "demo-auth", "phase") == "serve off", what="the next pass")
        await pilot.press("l")
        await pilot.pause()
        table = app.screen.query_one("#log-actions")
        assert "stopped" in str(table.get_row_at(0))  # type: ignore[attr-defined]

    pilot_run(live_app(tmp_path), body)


def test_dry_run_and_read_only_stops_run_nothing(tmp_path: Path) -> None:
    async def dry(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-disk")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StopScreen))
        assert "DRY RUN" in str(app.screen.query_one("#dialog-text").render())
        await pilot.press("tab", "enter")
        await until(pilot, lambda: any(n.startswith("Stop: dry-run") for n in notices(app)))
        assert audit_records(app) == [("demo-disk", MANUAL, Outcome.DRY_RUN, True)]
        assert "DRY RUN" in str(app.screen.query_one("#summary").render())

    pilot_run(live_app(tmp_path / "dry", dry_run=True), dry)

    async def read_only(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-disk")
        for key in ("s", "a", "m"):
            await pilot.press(key)
            await pilot.pause(0.2)
        assert isinstance(app.screen, FleetScreen)  # no dialog opened
        said = notices(app)
        assert any("read-only: stopping agent-runner is disabled" in n for n in said)
        assert audit_records(app) == []

    pilot_run(live_app(tmp_path / "ro", read_only=True), read_only)


def test_ack_mutes_the_chosen_alert_until_it_resolves(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-disk")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckScreen))
        await pilot.press("enter", *"freeing space", "enter")  # the alert, then the reason
        await until(pilot, lambda: cell(app, "demo-disk", "alerts") == "disk_critical*", what="the mute mark")
        assert app.state.status is not None
        [ack] = app.state.status.silences
        assert (ack.ack, ack.target, ack.reason) == (True, "demo-disk:disk_critical", "freeing space")
        await pilot.press("a")  # nothing left to ack on it
        await until(pilot, lambda: any("no unacknowledged alert" in n for n in notices(app)))

    pilot_run(live_app(tmp_path), body)


def test_silence_for_a_chosen_time_then_remove_it(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-stale")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen))
        await pilot.press("enter")  # the whole host
        duration = app.screen.query_one("#duration", Input)
        duration.value = "90"  # no unit: refused, says how
        await pilot.press("enter")
        await pilot.pause()
        assert "use a number with a unit" in str(app.screen.query_one("#dialog-error").render())
        duration.value = "30m"
        await pilot.press("tab", *"reflashing", "enter")
        await until(pilot, lambda: cell(app, "demo-stale", "alerts") == "supervisor_stale*")
        assert app.state.status is not None
        [silence] = app.state.status.silences
        assert (silence.target, silence.reason) == ("demo-stale", "reflashing") and silence.until is not None
        assert 29 * 60 < silence.until - silence.created_at <= 30 * 60
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UnsilenceScreen))
        await pilot.press("enter")
        await until(pilot, lambda: cell(app, "demo-stale", "alerts") == "supervisor_stale")
        assert app.state.status.silences == ()

    pilot_run(live_app(tmp_path), body)


def test_copy_puts_the_hosts_alert_lines_on_the_clipboard(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        select(app, "demo-disk")
        await pilot.press("y")
        assert app.clipboard.startswith("[CRIT] demo-disk disk_critical — disk 97.0% full")
        select(app, "demo-healthy")
        await pilot.press("y")
        assert app.clipboard.startswith("demo-healthy: OK — polled")

    pilot_run(live_app(tmp_path), body)


def test_r_polls_now_and_the_palette_offers_every_action(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        assert app.state.last_pass is not None and app.state.last_pass.number == 1
        await pilot.press("r")
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 2)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for wanted in (
            "Poll now",
            "Change the polling interval",
            "Stop agent-runner",
            "Acknowledge an alert",
            "Silence",
            "Remove a silence or ack",
            "ssh to the host",
            "Copy alerts",
            "Alert log",
            "Help",
            "Filter the fleet",
            "Sort by DISK",
            "Sort by LAST EVENT",
        ):
            assert wanted in titles, wanted

    pilot_run(live_app(tmp_path), body)
