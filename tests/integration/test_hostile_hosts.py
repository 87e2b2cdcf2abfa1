"""A broken or hostile host, over the real OpenSSH sshd: whatever it sends stays that host's problem.

The hostile persona (``hostile.py``) misbehaves one case per alias; every CLI run here polls it beside
``pi-healthy`` (the real agent-runner on the fleet persona), which must come back fine every time.
Transport-level cases run raw commands on the fleet persona through ``Transport`` itself.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetwatch.errors import Stage, TransportError
from fleetwatch.inventory.model import SshTarget
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.transport import CommandResult, Transport
from tests.integration.conftest import REPO, Fleet, inventory_yaml, run_cli
from tests.integration.hostile import TYPE_FIELDS, HostileLab, Measured, run_measured, start_hostile

pytestmark = pytest.mark.integration

HEALTHY = "pi-healthy"
CAP = 4 * 1024 * 1024  # the default max_output_bytes
RSS_HEADROOM_MB = 40
"""What a pass with hostile hosts may cost beyond the same pass with the healthy host alone.  Before
the cap, 50 MB of output peaked at 234 MB and an endless stream at 1.8 GB within an 8 s deadline."""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileLab]:
    """The hostile persona's sshd, for this module."""
    started = start_hostile(tmp_path_factory.mktemp("hostile"))
    yield started
    started.sshd.stop()


@pytest.fixture(scope="module")
def client(lab: HostileLab, fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ssh_config with the fleet's aliases and the hostile cases, and an inventory of both."""
    where = tmp_path_factory.mktemp("hostile-client")
    config = where / "ssh_config"
    config.write_text(fleet.ssh_config.read_text() + "\n" + lab.ssh_config())
    inventory = where / "hostile.yaml"
    inventory.write_text(
        inventory_yaml(
            {HEALTHY: fleet.hosts[HEALTHY], **lab.inventory_hosts()},
            defaults={"thresholds": {"clock_skew_s": 300}},
        )
    )
    return config, inventory


def argv(client: tuple[Path, Path], state: Path, *hosts: str, extra: tuple[str, ...] = ()) -> list[str]:
    config, inventory = client
    out = ["--ssh-config", str(config), "--inventory", str(inventory), "--state-dir", str(state)]
    out += ["--once", "--json", *extra]
    for host in hosts:
        out += ["--host", host]
    return out


def firing(result: Measured, host: str) -> dict[str, dict[str, Any]]:
    return {a["detector"]: a for a in result.alerts if a["host"] == host and a["state"] == "firing"}


def states(client: tuple[Path, Path], state: Path, *hosts: str) -> dict[str, dict[str, Any]]:
    """``fleetwatch status --json`` rows by host: what every view shows."""
    config, inventory = client
    args = ["status", "--json", "--ssh-config", str(config), "--inventory", str(inventory)]
    args += ["--state-dir", str(state)]
    for host in hosts:
        args += ["--host", host]
    shown = run_cli(*args)
    return {row["host"]: row for row in json.loads(shown.stdout)["hosts"]}


def assert_healthy_unharmed(result: Measured, client: tuple[Path, Path], state: Path) -> None:
    assert firing(result, HEALTHY) == {}, result
    assert states(client, state, HEALTHY)[HEALTHY]["state"] == "OK", result
    assert "Traceback" not in result.stderr, result


# -- the transport itself, on the fleet persona --------------------------------------------------------


@pytest.fixture(scope="module")
def target(fleet: Fleet) -> SshTarget:
    return resolve_alias(HEALTHY, fleet.ssh_config)


def run(target: SshTarget, command: str, *, timeout: float = 20, **options: Any) -> CommandResult:
    async def main() -> CommandResult:
        transport = Transport(**options)
        try:
            return await transport.run(target, command, timeout)
        finally:
            await transport.close()

    return asyncio.run(main())


def test_bytes_that_are_not_utf8_on_stdout_and_stderr_are_replaced_never_a_broken_session(
    target: SshTarget,
) -> None:
    result = run(target, r"printf 'Gr\374\337 Gott\n'; printf 'caf\351 \377\n' >&2; echo fine")
    assert result.exit_status == 0
    assert result.stdout == "Gr\ufffd\ufffd Gott\nfine\n" and result.stderr == "caf\ufffd \ufffd\n"


def test_output_up_to_the_cap_is_read_and_one_byte_more_is_the_hosts_failure(target: SshTarget) -> None:
    cap = 100_000
    exact = run(target, f"head -c {cap - 10} /dev/zero; head -c 10 /dev/zero >&2", max_output_bytes=cap)
    assert len(exact.stdout) + len(exact.stderr) == cap
    # stdout and stderr share one budget
    with pytest.raises(TransportError) as over:
        run(target, f"head -c {cap - 10} /dev/zero; head -c 11 /dev/zero >&2", max_output_bytes=cap)
    assert over.value.stage is Stage.COMMAND
    assert "printed more than 97.7 KiB (max_output_bytes)" in over.value.reason
    assert "raise max_output_bytes in the config" in over.value.hint


def test_endless_output_stops_at_the_cap_at_once_and_the_host_answers_the_next_run(
    target: SshTarget,
) -> None:
    async def main() -> tuple[float, CommandResult]:
        transport = Transport(keep_open=True)
        try:
            started = loop.time()
            with pytest.raises(TransportError, match="printed more than 4 MiB"):
                await transport.run(target, "yes endless", 20)
            took = loop.time() - started
            return took, await transport.run(target, "echo next", 20)
        finally:
            await transport.close()

    loop = asyncio.new_event_loop()
    try:
        took, after = loop.run_until_complete(main())
    finally:
        loop.close()
    assert took < 5, f"the cap, not the 20 s deadline, ended it ({took:.1f} s)"
    assert after.stdout == "next\n", "the flooded connection was dropped and a fresh one made"


def test_the_deadline_covers_reading_output_that_never_ends(target: SshTarget) -> None:
    started = asyncio.run(_clock())
    with pytest.raises(TransportError) as late:
        run(target, "while :; do echo still; sleep 0.1; done", timeout=2)
    took = asyncio.run(_clock()) - started
    assert late.value.stage is Stage.COMMAND
    assert late.value.reason.startswith("timed out after 2 s while the command was still printing (")
    assert took < 2 + 1, f"the whole exchange ends at the deadline, took {took:.1f} s"


async def _clock() -> float:
    return asyncio.get_running_loop().time()


# -- the whole pipeline, hostile persona beside a healthy host -----------------------------------------


def test_huge_and_endless_output_fail_only_their_hosts_at_the_deadline_with_bounded_memory(
    client: tuple[Path, Path], tmp_path: Path
) -> None:
    alone = run_measured(argv(client, tmp_path / "alone", HEALTHY, extra=("--timeout", "8")), cwd=REPO)
    assert alone.code == 0, alone
    hosts = [HostileLab.alias(c) for c in ("huge", "endless", "trickle")]
    state = tmp_path / "state"
    result = run_measured(argv(client, state, *hosts, HEALTHY, extra=("--timeout", "8")), cwd=REPO)
    for case in ("huge", "endless"):
        blip = firing(result, HostileLab.alias(case))["remote_blip"]
        assert blip["context"]["stage"] == "command", result
        assert blip["message"] == (
            "command failed: printed more than 4 MiB (max_output_bytes): "
            "stopped reading and closed the session"
        )
    trickle = firing(result, HostileLab.alias("trickle"))["remote_blip"]
    assert trickle["message"].startswith("command failed: timed out after 8 s while the command was still")
    assert_healthy_unharmed(result, client, state)
    assert result.seconds < 8 + 4, f"one deadline for the whole pass\n{result!r}"
    assert result.max_rss_mb < alone.max_rss_mb + RSS_HEADROOM_MB, (
        f"peak RSS {result.max_rss_mb:.0f} MB with hostile hosts, {alone.max_rss_mb:.0f} MB without"
    )


def test_non_utf8_greetings_on_stdout_and_stderr_leave_the_host_understood(
    client: tuple[Path, Path], tmp_path: Path
) -> None:
    host = HostileLab.alias("latin1")
    state = tmp_path / "state"
    result = run_measured(argv(client, state, host, HEALTHY), cwd=REPO)
    said = firing(result, host)
    assert not {"remote_blip", "snapshot_invalid"} & set(said), result
    assert "hung" in said, "its (old, captured) peek was read: the round in progress is days old"
    assert states(client, state, host)[host]["state"] != "UNREACHABLE"
    assert_healthy_unharmed(result, client, state)


def test_nesting_100000_deep_in_the_probe_line_or_in_peek_is_snapshot_invalid_never_a_crash(
    client: tuple[Path, Path], tmp_path: Path
) -> None:
    gather, peek = HostileLab.alias("deep-gather"), HostileLab.alias("deep-peek")
    state = tmp_path / "state"
    result = run_measured(argv(client, state, gather, peek, HEALTHY), cwd=REPO)
    for host in (gather, peek):
        invalid = firing(result, host).get("snapshot_invalid")
        assert invalid is not None and "nested" in invalid["message"], result
    assert "the probe's output is nested" in firing(result, gather)["snapshot_invalid"]["message"]
    assert "agent-runner peek's output is nested" in firing(result, peek)["snapshot_invalid"]["message"]
    rows = states(client, state, gather, peek)
    assert rows[gather]["state"] != "OK" and rows[peek]["state"] != "OK"
    assert_healthy_unharmed(result, client, state)


def test_nan_and_infinity_in_facts_and_peek_stop_nothing_while_a_real_full_disk_is_stopped(
    client: tuple[Path, Path], lab: HostileLab, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("auto_stop:\n  on: [disk_critical, disk_warning]\n  consecutive: 1\n")
    nan, full = HostileLab.alias("nan"), HostileLab.alias("full")
    state = tmp_path / "state"
    stops_before = lab.stops()
    result = run_measured(argv(client, state, nan, full, HEALTHY, extra=("--config", str(config))), cwd=REPO)
    invalid = firing(result, nan).get("snapshot_invalid")
    assert invalid is not None, result
    problems = invalid["context"]["problems"]
    for said in (
        "facts.disk.used_pct is Infinity",
        "facts.load_1m is NaN",
        "facts.mem_total_mb is -Infinity",
        "peek.status.round_num is NaN",
        "peek.system.disk_used_pct is Infinity",
    ):
        assert said in problems, problems
    assert not {"disk_critical", "disk_warning"} & set(firing(result, nan)), "an infinite disk is no evidence"
    assert "disk_critical" in firing(result, full), "the control: a valid 99 % disk"
    # Nothing was run on the host with invalid data; the control was stopped (so auto-stop was armed).
    assert lab.stops()[len(stops_before) :] == ["full"], result
    with sqlite3.connect(state / "state.db") as db:
        acted = [row[0] for row in db.execute("SELECT host FROM actions")]
    assert acted == [full], acted
    audit = [json.loads(line)["host"] for line in (state / "audit.log").read_text().splitlines()]
    assert set(audit) == {full}, audit
    assert_healthy_unharmed(result, client, state)


def test_a_wrong_type_in_every_top_level_peek_field_names_the_field_and_the_host_is_never_ok(
    client: tuple[Path, Path], tmp_path: Path
) -> None:
    cases = {f: HostileLab.alias(f"type-{f.replace('_', '-')}") for f in TYPE_FIELDS}
    state = tmp_path / "state"
    result = run_measured(argv(client, state, *cases.values(), HEALTHY), cwd=REPO)
    rows = states(client, state, *cases.values())
    for field, host in cases.items():
        invalid = firing(result, host).get("snapshot_invalid")
        assert invalid is not None and f"peek.{field} is " in invalid["message"], (field, result)
        assert rows[host]["state"] != "OK", rows[host]
    assert_healthy_unharmed(result, client, state)


def test_a_state_dir_made_0755_beforehand_is_made_0700_with_a_message(
    client: tuple[Path, Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    result = run_measured(argv(client, state, HEALTHY), cwd=REPO)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert f"state directory {state} was mode 0755: made it 0700" in result.stderr, result
    assert stat.S_IMODE((state / "state.db").stat().st_mode) == 0o600
    assert_healthy_unharmed(result, client, state)
