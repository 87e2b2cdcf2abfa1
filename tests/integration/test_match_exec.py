"""``Match exec`` runs a command of the operator's: once per alias per resolution, never per hop per
reconnect (three hosts behind one jump host, polled three times over fresh connections)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from fleetwatch.config import Config
from fleetwatch.inventory.fleet import select_fleet
from fleetwatch.store import Store
from fleetwatch.watcher import Watcher
from tests.integration.conftest import HEALTHY_CONFIG, Fleet, inventory_yaml
from tests.integration.sshd import host_block

pytestmark = pytest.mark.integration

BEHIND = ("pi-behind-a", "pi-behind-b", "pi-behind-c")


def test_match_exec_runs_once_per_alias_per_resolution_not_per_hop_per_reconnect(
    fleet: Fleet, tmp_path: Path
) -> None:
    counter = tmp_path / "match-exec.log"
    port, key, known = fleet.remote.fleet.port, fleet.remote.client_key, fleet.known_hosts
    config = tmp_path / "ssh_config"
    config.write_text(
        # Matches nothing (exits 1): only counts which alias ssh evaluated it for.
        f'Match exec "echo %n >> {counter}; exit 1"\n\n'
        + host_block("bastion", port, key, known)
        + "\n".join(host_block(alias, port, key, known, ProxyJump="bastion") for alias in BEHIND)
    )
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(inventory_yaml({alias: {"config": HEALTHY_CONFIG} for alias in BEHIND}))

    async def three_passes() -> list[list[str]]:
        selected = select_fleet(config, [inventory], [], [], explicit_config=True)
        store = Store.open(tmp_path / "state")
        watcher = Watcher(selected, store, Config(), keep_open=False)  # a fresh connection every pass
        failed = []
        try:
            for _ in range(3):
                result = await watcher.run_pass()
                assert result is not None
                failed.append([f.host for f in result.findings])
        finally:
            await watcher.close()
            store.close()
        return failed

    failed = asyncio.run(three_passes())
    assert failed == [[], [], []], "every pass reached the hosts through the jump host"
    ran = Counter(counter.read_text().split())
    assert ran == dict.fromkeys(("bastion", *BEHIND), 1), ran
