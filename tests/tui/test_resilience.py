"""What users feel when things go wrong: a hung host, ssh from the TUI, a cron ``check`` on the same
state store, errors that must become notifications and never tracebacks."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from textual.drivers.headless_driver import HeadlessDriver
from textual.pilot import Pilot

from fleetwatch.basics import Duration
from fleetwatch.config import Config
from fleetwatch.demo import SimHost
from fleetwatch.demo.hosts import healthy
from fleetwatch.errors import InventoryError
from fleetwatch.settings import PassSettings
from fleetwatch.tui import columns
from fleetwatch.tui.app import FleetwatchApp
from fleetwatch.tui.backend import Backend, Options
from fleetwatch.watcher import Watcher
from tests.tui.harness import QUICK, cell, first_pass, live_app, pilot_run, rows, until

HUNG = SimHost("demo-hung", "accepts the connection, never answers", healthy, delay_s=600.0)


def notices(app: FleetwatchApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def test_a_hung_host_is_polling_while_the_others_answer_and_the_screen_stays_live(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        # The first pass is out: every other host answers, the hung one keeps it open.
        await until(pilot, lambda: len(app.state.latency) == len(QUICK), what="the quick hosts' answers")
        assert list(app.state.polling) == ["demo-hung"]
        await until(pilot, lambda: cell(app, "demo-hung", "poll").startswith("polling… "), what="the tick")
        await pilot.press("slash", *"hung", "enter")  # keys work while it hangs
        assert rows(app) == ["demo-hung"]
        assert "polling 1 host…" in str(app.screen.query_one("#summary").render())
        await first_pass(pilot)  # the hung host's poll times out (2 s) and the pass settles
        assert cell(app, "demo-hung", "state") == "UNREACHABLE"
        h = app.state.host("demo-hung")
        assert h is not None and h.poll is not None and h.poll.stage == "command"

    pilot_run(live_app(tmp_path, (*QUICK, HUNG), timeout=2.0), body)


def test_a_host_still_out_at_the_pass_deadline_is_not_shown_polling_after_the_pass(tmp_path: Path) -> None:
    base = Config(passes=PassSettings(deadline=Duration(1.5)))

    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await until(pilot, lambda: app.state.last_pass is not None, what="the pass, ended by its deadline")
        await until(pilot, lambda: not app.state.polling, what="the pass's end")
        await pilot.pause(1.2)  # a tick: the POLL cell is drawn again
        assert not cell(app, "demo-hung", "poll").startswith("polling")
        row = app.state.host("demo-hung")
        assert row is not None and row.why.startswith("not polled: the pass deadline came first")

    pilot_run(live_app(tmp_path, (*QUICK, HUNG), timeout=10.0, config=base), body)


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``ssh`` on PATH records its arguments, sleeps ``FAKE_SSH_SLEEP`` and exits ``FAKE_SSH_EXIT``;
    ``ssh -G`` (fleetwatch resolving aliases) goes to the real one."""
    real = shutil.which("ssh")
    assert real is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "ssh-argv"
    script = bin_dir / "ssh"
    script.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = -G ] && exec {real} "$@"; done\n'
        f'echo "$@" >> {record}\n'
        'sleep "${FAKE_SSH_SLEEP:-0}"\n'
        'exit "${FAKE_SSH_EXIT:-0}"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # The headless test driver cannot suspend; a real terminal can (checked by hand in tmux).
    monkeypatch.setattr(HeadlessDriver, "can_suspend", property(lambda self: True))
    return record


def test_e_suspends_for_ssh_alias_while_polling_goes_on_then_resumes(
    tmp_path: Path, fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SSH_SLEEP", "1.5")
    resumed: list[object] = []

    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        app.app_resume_signal.subscribe(app, resumed.append)
        await first_pass(pilot)
        app.screen.query_one("#fleet").move_cursor(row=rows(app).index("demo-healthy"))  # type: ignore[attr-defined]
        await pilot.press("e")
        await until(pilot, lambda: fake_ssh.exists(), what="ssh to start")
        assert app._batch_count > 0  # suspended: repaints are held, not piled up
        app.backend.poll_now()  # the watcher polls on while ssh has the terminal
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 2)
        assert app._batch_count > 0 and not resumed
        await until(pilot, lambda: any("ssh demo-healthy ended" in n for n in notices(app)), what="ssh end")
        assert resumed and app._batch_count == 0
        assert app.state.info is not None
        assert fake_ssh.read_text().split() == ["-F", str(app.state.info.ssh_config), "demo-healthy"]

        monkeypatch.setenv("FAKE_SSH_SLEEP", "0")
        monkeypatch.setenv("FAKE_SSH_EXIT", "255")
        await pilot.press("e")
        await until(pilot, lambda: any("exited 255" in n for n in notices(app)), what="the failed ssh")
        monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
        await pilot.press("e")
        await until(pilot, lambda: any("ssh not found on PATH" in n for n in notices(app)))
        assert len(resumed) == 3 and app._batch_count == 0  # the terminal came back every time
        await pilot.press("r")  # and the App still works
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 3)

    pilot_run(live_app(tmp_path), body)


def test_a_cron_check_on_the_same_state_store_runs_beside_the_tui(tmp_path: Path) -> None:
    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        info = app.state.info
        assert info is not None
        check = [sys.executable, "-m", "fleetwatch", "check", "--ssh-config", str(info.ssh_config)]
        check += ["--state-dir", str(info.state_dir)]
        cron = subprocess.Popen(check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        app.backend.poll_now()  # the TUI's pass and cron's overlap on one SQLite database
        await until(pilot, lambda: cron.poll() is not None, timeout=30, what="fleetwatch check")
        out, err = cron.communicate()
        assert cron.returncode == 2, (out, err)
        assert out.startswith("FLEETWATCH CRITICAL - 2 critical, 1 warning, 1 unreachable, 0 unknown, 1 ok")
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 2)
        app.backend.poll_now()
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 3)
        assert not [n for n in notices(app) if "State database" in n or "Internal error" in n]
        assert cell(app, "demo-disk", "state") == "CRIT"

    pilot_run(live_app(tmp_path), body)


def test_a_bug_in_a_handler_is_a_notification_with_its_traceback_in_the_log_not_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = columns.cells
    broken = {"on": False}

    def cells(h, ctx):  # type: ignore[no-untyped-def]
        if broken["on"] and h.alias == "demo-stale":
            raise KeyError("a bug in a cell")
        return original(h, ctx)

    monkeypatch.setattr(columns, "cells", cells)

    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await first_pass(pilot)
        broken["on"] = True
        await pilot.press("r")
        said = "Internal error: showing the fleet: KeyError: 'a bug in a cell'"
        await until(pilot, lambda: any(n.startswith(said) for n in notices(app)), what="the notice")
        assert app.is_running and app.return_code is None
        assert "Traceback" in (tmp_path / "tui-errors.log").read_text()
        assert any(str(tmp_path / "tui-errors.log") in n for n in notices(app))
        await pilot.pause(1.5)  # the refresh fails every second: said once, not every time
        assert sum(n.startswith(said) for n in notices(app)) == 1
        broken["on"] = False
        await pilot.press("r")
        await until(pilot, lambda: app.state.last_pass is not None and app.state.last_pass.number == 3)

    pilot_run(live_app(tmp_path), body)


def test_a_watcher_that_cannot_open_says_why_and_the_app_stays_usable(tmp_path: Path) -> None:
    async def opener(stack: AsyncExitStack) -> Watcher:
        raise InventoryError("unknown group 'lab'; known groups: none", path="inv.yaml", line=3)

    app = FleetwatchApp(opener, options=Options(), view_file=tmp_path / "v.json", bug_log=tmp_path / "e.log")

    async def body(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.state.failure is not None)
        await pilot.pause()
        summary = str(app.screen.query_one("#summary").render())
        assert "Inventory: opening the watcher: inv.yaml:3: unknown group 'lab'" in summary
        await pilot.press("r", "s", "question_mark")  # nothing breaks
        await pilot.press("escape", "q")

    pilot_run(app, body)
    assert app.return_code == 0


def test_a_watcher_that_dies_after_polling_says_so_instead_of_looking_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def one_pass_then_a_bug(self: Backend) -> None:
        await self._one_pass()
        raise RuntimeError("the pass loop broke")

    monkeypatch.setattr(Backend, "_passes", one_pass_then_a_bug)

    async def body(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, FleetwatchApp)
        await until(pilot, lambda: app.state.failure is not None, what="the failure")
        await pilot.pause()
        summary = str(app.screen.query_one("#summary").render())
        assert "the pass loop broke" in summary and "Nothing can be watched" in summary, summary
        assert "watcher online" not in summary

    pilot_run(live_app(tmp_path), body)


def test_an_error_past_every_guard_ends_the_app_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = live_app(tmp_path)

    async def body(pilot: Pilot[int]) -> None:
        await first_pass(pilot)
        app._handle_exception(RuntimeError("escaped"))  # as Textual does when a handler raises
        await pilot.pause()

    with pytest.raises(RuntimeError, match="escaped"):  # Pilot re-raises it for the test's sake
        pilot_run(app, body)
    assert app.return_code == 3
    said = " ".join(capsys.readouterr().err.split())  # printed in place of Textual's traceback
    assert said.startswith("fleetwatch: internal error, the TUI had to stop: RuntimeError: escaped")
    assert "Traceback" not in said
    assert "RuntimeError: escaped" in (tmp_path / "tui-errors.log").read_text()


def test_quitting_while_the_watcher_is_still_opening_does_not_hang(tmp_path: Path) -> None:
    async def opener(stack: AsyncExitStack) -> Watcher:
        await asyncio.Event().wait()  # a resolver or a demo fleet that never comes up
        raise AssertionError

    app = FleetwatchApp(opener, options=Options(), view_file=tmp_path / "v.json")

    async def body(pilot: Pilot[int]) -> None:
        await pilot.pause(0.2)
        assert "opening the state store and the fleet" in str(app.screen.query_one("#summary").render())
        await pilot.press("q")

    started = time.monotonic()
    pilot_run(app, body)
    assert time.monotonic() - started < 5


def _read_all(fd: int, into: bytearray) -> None:
    """Drain the terminal's side of a pty (a full pty would block the App's writes)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the App's side is closed
            return
        if not chunk:
            return
        into.extend(chunk)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_tui_demo_ended_by_a_signal_quits_as_q_does_and_removes_its_keys(
    signum: signal.Signals, tmp_path: Path
) -> None:
    # A closed tmux pane or ssh session is SIGHUP, systemd or kill is SIGTERM: the App ends as with q
    # (the watcher's connections closed, the terminal given back) and the demo's private key goes.
    temp = tmp_path / "tmp"
    temp.mkdir()
    main_fd, screen_fd = pty.openpty()
    fcntl.ioctl(screen_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetwatch", "tui", "--demo"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "TMPDIR": str(temp), "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path)},
        stdin=screen_fd,
        stdout=screen_fd,
        stderr=screen_fd,
        start_new_session=True,
    )
    os.close(screen_fd)
    shown = bytearray()
    reader = threading.Thread(target=_read_all, args=(main_fd, shown), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while b"demo-healthy" not in shown and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b"demo-healthy" in shown, "the fleet never showed"
        (workdir,) = temp.glob("fleetwatch-demo-*")
        assert (workdir / "id_ed25519").exists()
        proc.send_signal(signum)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=5)
        os.close(main_fd)
    assert code == 0, bytes(shown[-2000:])
    assert not list(temp.iterdir()), "the demo's private key outlived the TUI"
    assert b"Traceback" not in shown
    assert b"\x1b[?1049l" in shown[-4000:], "the terminal's own screen was not given back"
