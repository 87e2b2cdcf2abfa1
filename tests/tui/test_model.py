"""The TUI's pure parts: cells, sort order, which columns fit, the filter, the remembered view, notice
titles, the ssh command line, and the CLI's lazy door to Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleetwatch.cli import main
from fleetwatch.episodes import Episode
from fleetwatch.errors import ConfigError, Stage, StateError, TransportError
from fleetwatch.events import ActionFinished, DeliveriesFlushed, DeliveryFailed, PassFinished
from fleetwatch.findings import Severity
from fleetwatch.polls import HostFacts, HostPoll
from fleetwatch.silences import Silence
from fleetwatch.status import HostEntry, HostState, HostStatus, StoredState, build
from fleetwatch.tui import columns, prefs, query, report
from fleetwatch.tui.terminal import ssh_argv

NOW = 1_800_000_000.0


def facts(**changes: object) -> HostFacts:
    base: dict[str, object] = {
        "received_at": NOW - 10,
        "remote_time": NOW - 10,
        "understood": True,
        "round": 7,
        "newest_event": "round_end",
        "newest_event_at": NOW - 70,
        "disk_used_pct": 41.3,
        "load_1m": 0.42,
    }
    return HostFacts(**{**base, **changes})  # type: ignore[arg-type]


def status(
    polls: list[HostPoll], episodes: list[Episode] = (), silences: list[Silence] = ()
) -> list[HostStatus]:  # type: ignore[assignment]
    stored = StoredState(
        {p.host: p for p in polls},
        {e.key: e for e in episodes},
        {},
        silences,
        (),
        [NOW - 120, NOW - 60, NOW - 10],
    )
    rows = [HostEntry(p.host, ("lab",) if p.host.startswith("pi") else ()) for p in polls]
    return list(build(rows, stored, NOW, interval_s=60, gap_factor=3).hosts)


def ok(host: str, **changes: object) -> HostPoll:
    return HostPoll(host, NOW - 10, ok_at=NOW - 10, latency_s=0.21, facts=facts(**changes))


def ep(host: str, detector: str, severity: Severity = Severity.CRITICAL) -> Episode:
    return Episode(host, detector, severity, "m", "h", {}, NOW - 300, NOW - 10)


def test_a_current_row_shows_its_values_plainly() -> None:
    [h] = status([ok("pi1")])
    got = {k: v[0] for k, v in columns.cells(h, columns.RowContext(NOW)).items()}
    assert got == {
        "host": "pi1",
        "state": "OK",
        "round": "R7",
        "phase": "-",
        "event": "70 s",
        "disk": "41%",
        "load": "0.42",
        "alerts": "-",
        "spend": "-",
        "poll": "0.2 s",
        "group": "lab",
    }


def test_a_failed_host_keeps_its_last_good_values_bracketed_with_their_age() -> None:
    poll = HostPoll("pi1", NOW - 10, ok_at=NOW - 600, failed_at=NOW - 10, stage="connect", message="refused")
    poll = HostPoll(**{**poll.__dict__, "facts": facts(received_at=NOW - 600, remote_time=NOW - 600)})
    [h] = status([poll])
    cells = columns.cells(h, columns.RowContext(NOW))
    assert h.state is HostState.UNREACHABLE
    assert cells["disk"] == ("[41%]", columns.OLD) and cells["round"] == ("[R7]", columns.OLD)
    assert cells["poll"] == ("ok 10 min ago", columns.OLD)
    never = HostPoll("pi2", NOW - 10, failed_at=NOW - 10, stage="auth", message="denied")
    assert columns.cells(status([never])[0], columns.RowContext(NOW))["poll"][0] == "✗ auth"


def test_polling_and_alerts_cells() -> None:
    [h] = status([ok("pi1")], [ep("pi1", "disk_critical"), ep("pi1", "clock_skew", Severity.WARNING)])
    ctx = columns.RowContext(NOW, polling_since={"pi1": NOW - 12})
    cells = columns.cells(h, ctx)
    assert cells["poll"] == ("polling… 12 s", "italic")
    assert cells["alerts"] == ("disk_critical +1", columns.SEVERITY_STYLES[Severity.CRITICAL])
    assert columns.money(0.0012) == "$0.0012" and columns.money(12.345) == "$12.35"
    # a poll that failed in the running pass says where, not how fast it failed
    failed = columns.RowContext(NOW, latency={"pi1": 0.1}, failed={"pi1": "connect"})
    assert columns.cells(h, failed)["poll"] == ("✗ connect", columns.OLD)


def test_the_spend_column_is_the_fleet_status_spend_today() -> None:
    stored = StoredState(
        {p.host: p for p in (ok("pi1"), ok("pi2"), ok("pi3"))},
        {},
        {},
        (),
        (),
        [NOW - 60],
        spend_today={"pi1": 1.5, "pi2": 0.0012},
    )
    rows = build([HostEntry(h, ()) for h in ("pi1", "pi2", "pi3")], stored, NOW, interval_s=60, gap_factor=3)
    ctx = columns.RowContext(NOW)
    assert [columns.cells(h, ctx)["spend"][0] for h in rows.hosts] == ["$1.50", "$0.0012", "-"]
    by_spend = sorted(rows.hosts, key=lambda h: columns.sort_key("spend", h, ctx))
    assert [h.alias for h in by_spend] == ["pi1", "pi2", "pi3"]  # most spent first, none last


def test_worst_first_order_and_numeric_columns_put_unknowns_last() -> None:
    rows = status(
        [
            ok("pi-ok"),
            ok("pi-crit", disk_used_pct=97.0),
            ok("pi-warn", load_1m=9.0),
            HostPoll("gone", NOW - 10),
        ],
        [ep("pi-crit", "disk_critical"), ep("pi-warn", "clock_skew", Severity.WARNING)],
    )
    ctx = columns.RowContext(NOW)

    def order(column: str) -> list[str]:
        return [h.alias for h in sorted(rows, key=lambda h: columns.sort_key(column, h, ctx))]

    assert order("state")[:2] == ["pi-crit", "pi-warn"] and order("state")[-1] == "pi-ok"
    assert order("disk") == ["pi-crit", "pi-warn", "pi-ok", "gone"]  # a tie falls back to worst first
    assert order("load")[0] == "pi-warn"
    assert order("host") == sorted(h.alias for h in rows)


def test_columns_are_dropped_to_fit_never_host_and_state() -> None:
    keys = lambda width: [c.key for c in columns.fitting(width, 16, spend=False)]  # noqa: E731
    assert keys(80) == ["host", "state", "disk", "alerts", "poll"]
    assert keys(160) == [c.key for c in columns.COLUMNS if c.key != "spend"]
    assert keys(20) == ["host", "state"]
    assert "spend" in [c.key for c in columns.fitting(200, 16, spend=True)]
    for width in (80, 120, 160):
        used = sum(
            (16 if c.key == "host" else c.width) + columns.PADDING
            for c in columns.fitting(width, 16, spend=True)
        )
        assert used <= width - 1  # and the scrollbar
    assert columns.host_width(["a"]) == 8 and columns.host_width(["x" * 40]) == 24


def test_filter_words_fields_globs_and_negation() -> None:
    rows = status([ok("pi1"), ok("pi2"), ok("attic")], [ep("pi2", "disk_critical")])
    pick = lambda q: [h.alias for h in rows if query.matches(h, q)]  # noqa: E731
    assert pick("") == ["pi1", "pi2", "attic"]
    assert pick("crit") == ["pi2"] and pick("state:crit") == ["pi2"] and pick("alert:disk") == ["pi2"]
    assert pick("lab") == ["pi1", "pi2"] and pick("group:lab !crit") == ["pi1"]
    assert pick("host:pi?") == ["pi1", "pi2"] and pick("PI1") == ["pi1"] and pick("state:") == pick("")
    assert pick("!ok") == ["pi2"]


def test_the_view_is_remembered_and_a_damaged_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tui.json"
    assert prefs.load(path) == (prefs.View(), None)
    assert prefs.save(path, prefs.View("disk", True, "lab")) is None
    assert prefs.load(path) == (prefs.View("disk", True, "lab"), None)
    path.write_text("{not json")
    view, problem = prefs.load(path)
    assert view == prefs.View() and problem is not None and "defaults" in problem
    path.write_text('{"sort": "nope", "reverse": "yes", "query": 3}')
    assert prefs.load(path) == (prefs.View(), None)


def test_notices_have_a_title_per_kind() -> None:
    assert report.of_error(StateError("locked"), "polling").title == "State database"
    assert report.of_error(ConfigError("bad", path="c.yaml", line=3)).text == "c.yaml:3: bad"
    assert report.of_error(TransportError("pi3", Stage.AUTH, "denied")).title == "SSH to pi3"
    bug = report.of_error(KeyError("x"), "showing the fleet")
    assert (bug.title, bug.text, bug.level) == ("Internal error", "showing the fleet: KeyError: 'x'", "error")
    assert report.of_event(PassFinished(1, NOW, 1.0, 3, 0)) is None
    assert report.of_event(DeliveriesFlushed(1, 0)) is None
    failed = report.of_event(DeliveryFailed("json://h/x", "[CRIT] pi3", "refused", 2, 30.0, 1))
    assert failed is not None and failed.title == "Notification not delivered" and failed.level == "warning"
    done = report.of_event(ActionFinished("pi3", "oauth_fail", "failed", "pi3 auto-stop …", "c", "w", False))
    assert done is not None and (done.title, done.level) == ("Auto-stop", "error")


def test_ssh_runs_as_the_users_own_unless_the_fleet_has_its_own_config(tmp_path: Path) -> None:
    home = Path.home()
    assert ssh_argv("pi3", home / ".ssh" / "config") == ["ssh", "pi3"]
    assert ssh_argv("pi3", tmp_path / "ssh_config") == ["ssh", "-F", str(tmp_path / "ssh_config"), "pi3"]


def test_the_cli_loads_textual_only_for_the_tui() -> None:
    code = "import sys, fleetwatch.cli; print(any(m.split('.')[0] == 'textual' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tui_refuses_with_one_line_and_exit_3_before_taking_the_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "ssh_config"
    empty.write_text("")
    assert main(["tui", "--ssh-config", str(empty)]) == 3
    assert capsys.readouterr().err.startswith("fleetwatch: no hosts to poll")
    config = tmp_path / "one"
    config.write_text("Host pi3\n    HostName 127.0.0.1\n")
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["tui", "--ssh-config", str(config), "--state-dir", str(blocked / "state")]) == 3
    assert "cannot open state database" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["tui", "--once"])
    assert usage.value.code == 3


def test_demo_tui_and_tui_demo_both_open_the_tui_on_the_demo_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    import fleetwatch.cli as cli
    from fleetwatch.cli.parser import parse

    assert parse(["tui", "--demo"]).demo and parse(["demo", "--tui"]).tui
    opened: list[str] = []
    monkeypatch.setattr(cli, "cmd_tui", lambda args: opened.append(args.command) or 0)
    assert main(["demo", "--tui"]) == 0 and opened == ["demo"]  # demo --tui goes to the TUI


def test_an_old_load_keeps_its_closing_bracket_and_the_interval_has_bounds() -> None:
    from fleetwatch.tui.columns import BY_KEY, _load
    from fleetwatch.tui.screens.interval import parse_interval

    for value in (0.42, 11.8, 123.45, 4567.0):
        assert len(f"[{_load(value)}]") <= BY_KEY["load"].width, value
    assert parse_interval("1d") == 86400.0
    with pytest.raises(ValueError, match="at most a day"):
        parse_interval("99999999999d")


def test_under_no_color_an_alert_s_severity_is_carried_by_weight_not_by_a_colour_turned_grey() -> None:
    from fleetwatch.tui.columns import severity_styles

    mono = severity_styles(no_color=True)
    assert all("red" not in s and "yellow" not in s for s in mono.values())
    assert "reverse" in mono[Severity.CRITICAL] and mono[Severity.WARNING] != mono[Severity.INFO]
