"""ProxyCommand over the real sshd: a working one is used as ssh uses it, a failing one is named.

The working proxy is the one people write most: ``ssh -W %h:%p JUMP`` (here the real OpenSSH client
through the fleet persona's sshd), run with ``-v`` so it chatters on stderr the whole time.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path

import pytest

from fleetwatch.errors import Stage, TransportError
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.transport import CommandResult, Transport
from tests.integration.conftest import HEALTHY_CONFIG, Fleet, inventory_yaml, run_cli
from tests.integration.sshd import host_block

pytestmark = pytest.mark.integration

TIMEOUT_S = 3.0
BEFORE = " before the SSH handshake"


@pytest.fixture(scope="module")
def proxied(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet's ssh_config plus one alias per ProxyCommand case, all onto the fleet persona's sshd."""
    ssh = shutil.which("ssh")
    assert ssh is not None
    where = tmp_path_factory.mktemp("proxied")
    pids = where / "pids"
    jump = f"{ssh} -v -F {fleet.ssh_config} -W %h:%p pi-healthy"
    cases = {
        # $$ is the shell's pid, and `exec` keeps it: the pid of the ProxyCommand itself.
        "via-ssh-w": f"sh -c 'echo $$ >> {pids}; exec {jump}'",
        "via-missing": "/nonexistent/proxy %h %p",
        "via-refusing": "sh -c 'echo \"bastion: no route to %h:%p\" >&2; exit 3'",
        "via-silent-exit": "true",
        "via-closing": "sh -c 'exec >&- <&-; echo closing >&2; sleep 30'",
        "via-hanging": f"sh -c 'echo $$ >> {pids}; echo dialing >&2; exec sleep 30'",
    }
    port, key, known = fleet.remote.fleet.port, fleet.remote.client_key, fleet.known_hosts
    blocks = [host_block(alias, port, key, known, ProxyCommand=cmd) for alias, cmd in cases.items()]
    config = where / "ssh_config"
    config.write_text(fleet.ssh_config.read_text() + "\n" + "\n".join(blocks))
    return config


def run(config: Path, alias: str, command: str = "echo through") -> CommandResult:
    async def main() -> CommandResult:
        transport = Transport(connect_timeout=TIMEOUT_S)
        try:
            return await transport.run(resolve_alias(alias, config), command, TIMEOUT_S)
        finally:
            await transport.close()

    return asyncio.run(main())


def pids(config: Path) -> list[int]:
    return [int(p) for p in (config.parent / "pids").read_text().split()]


def gone(pid: int) -> bool:
    """No such process, not even a zombie: it ended and was reaped."""
    return not Path(f"/proc/{pid}").exists()


def test_a_working_proxycommand_reaches_the_real_sshd_and_is_ended_and_reaped_after(proxied: Path) -> None:
    result = run(proxied, "via-ssh-w", "echo through; echo $SSH_CONNECTION")
    assert result.exit_status == 0
    through, connection = result.stdout.splitlines()
    assert through == "through"
    assert connection.startswith("127.0.0.1 "), "sshd saw the connection the jump host made"
    assert gone(pids(proxied)[-1])


@pytest.mark.parametrize(
    ("alias", "said"),
    [
        ("via-missing", "exited 127" + BEFORE + r": .*/nonexistent/proxy: (not found|No such file.*)"),
        ("via-refusing", "exited 3" + BEFORE + r": bastion: no route to 127\.0\.0\.1:\d+"),
        ("via-silent-exit", "exited 0" + BEFORE),
        ("via-closing", "closed the connection" + BEFORE + ": closing"),
        ("via-hanging", rf"gave no SSH handshake within {TIMEOUT_S:g} s: dialing"),
    ],
)
def test_a_failing_proxycommand_is_named_with_its_last_words_and_the_next_step(
    proxied: Path, alias: str, said: str
) -> None:
    started = time.monotonic()
    with pytest.raises(TransportError) as failed:
        run(proxied, alias)
    took = time.monotonic() - started
    assert failed.value.stage is Stage.CONNECT
    assert failed.value.host == alias
    assert "\n" not in str(failed.value)
    assert re.fullmatch("ProxyCommand " + said, failed.value.reason), failed.value.reason
    assert f"check ProxyCommand for {alias}" in failed.value.hint
    assert took < TIMEOUT_S + 1.5, f"{took:.1f} s"


def test_a_hanging_proxycommand_is_ended_at_the_deadline(proxied: Path) -> None:
    with pytest.raises(TransportError, match="ProxyCommand gave no SSH handshake"):
        run(proxied, "via-hanging")
    pid = pids(proxied)[-1]
    deadline = time.monotonic() + 2
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid), f"the ProxyCommand {pid} outlived its connection"


def test_a_pass_through_proxycommands_keeps_their_chatter_off_our_stderr(
    proxied: Path, fleet: Fleet, tmp_path: Path
) -> None:
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(
        inventory_yaml({"via-ssh-w": {"config": HEALTHY_CONFIG}, "via-refusing": {"config": HEALTHY_CONFIG}})
    )
    result = run_cli(
        "--ssh-config", str(proxied), "--inventory", str(inventory), "--state-dir", str(tmp_path / "s"),
        "--once", "--json", "--timeout", "8",
    )  # fmt: skip
    assert result.firing("via-ssh-w") == {}, result
    blip = result.firing("via-refusing")["remote_blip"]
    assert blip["context"]["stage"] == "connect"
    assert "ProxyCommand exited 3 before the SSH handshake: bastion: no route to" in blip["message"]
    # ssh -v printed dozens of debug1 lines, the failing one its last words: none of it reached us.
    assert "debug1" not in result.stderr and "bastion" not in result.stderr, result
    assert "Traceback" not in result.stderr, result


def test_a_jump_host_whose_proxycommand_hangs_is_named_as_the_hop_that_failed(proxied: Path) -> None:
    (proxied.parent / "jumping").write_text(
        proxied.read_text() + "\nHost via-jump\n    HostName 127.0.0.1\n    ProxyJump via-hanging\n"
    )
    config = proxied.parent / "jumping"

    async def main() -> None:
        transport = Transport(resolve_jump=lambda alias: resolve_alias(alias, config))
        try:
            await transport.run(resolve_alias("via-jump", config), "true", TIMEOUT_S)
        finally:
            await transport.close()

    with pytest.raises(TransportError) as failed:
        asyncio.run(main())
    assert failed.value.via == "via-hanging"
    assert failed.value.reason == (
        f"via jump host via-hanging: ProxyCommand gave no SSH handshake within {TIMEOUT_S:g} s: dialing"
    )
    assert "check ProxyCommand for via-hanging" in failed.value.hint
