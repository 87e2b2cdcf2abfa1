"""YAML inventories: precedence, and every way a file can be wrong, each reported at its exact file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.yaml_file import load_inventory
from fleetwatch.settings import HostSettings, Thresholds

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example.yaml"
HOST_KEYS = "enabled, runner, config, groups, thresholds"
SETTING_KEYS = "enabled, runner, config, thresholds"


def _write(home: Path, text: str, name: str = "inv.yaml") -> Path:
    path = home / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _error(home: Path, text: str) -> str:
    """The message load_inventory raises for ``text``, with the file's path replaced by ``F``."""
    path = _write(home, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert info.value.path == str(path)
    return str(info.value).replace(str(path), "F", 1)


def test_precedence_is_host_then_groups_in_declared_order_then_defaults(isolated_home: Path) -> None:
    path = _write(
        isolated_home,
        """
        defaults:
          runner: /d/runner
          config: /d/config
          thresholds: {disk_warning_pct: 80, stale_factor: 3}
        groups:
          first:
            hosts: [pi1, pi2]
            settings:
              runner: /first/runner
              thresholds: {disk_warning_pct: 81, clock_skew_s: 10}
          second:
            settings:
              enabled: false
              thresholds: {disk_warning_pct: 82}
        hosts:
          pi2:
            groups: [second, first]
            config: /host/config
            thresholds: {clock_skew_s: 20}
          pi3: {}
          pi4:
        """,
    )
    pi1, pi2, pi3, pi4 = load_inventory(path)
    assert (pi1.alias, pi1.groups, pi1.line) == ("pi1", ("first",), 7)
    assert pi1.settings == HostSettings(
        runner="/first/runner",
        config="/d/config",
        thresholds=Thresholds(disk_warning_pct=81, stale_factor=3, clock_skew_s=10),
    )
    # Groups apply in the order the file declares them, whatever order the host lists them in.
    assert (pi2.groups, pi2.line) == (("first", "second"), 16)
    assert pi2.settings == HostSettings(
        enabled=False,
        runner="/first/runner",
        config="/host/config",
        thresholds=Thresholds(disk_warning_pct=82, stale_factor=3, clock_skew_s=20),
    )
    assert (
        pi3.settings
        == pi4.settings
        == HostSettings(
            runner="/d/runner", config="/d/config", thresholds=Thresholds(disk_warning_pct=80, stale_factor=3)
        )
    )
    assert pi3.groups == ()


def test_thresholds_keep_their_declared_types(isolated_home: Path) -> None:
    path = _write(isolated_home, "hosts:\n  pi: {thresholds: {exit_window: 4, disk_warning_pct: 70}}\n")
    (pi,) = load_inventory(path)
    assert pi.settings.thresholds.exit_window == 4 and type(pi.settings.thresholds.exit_window) is int
    assert type(pi.settings.thresholds.disk_warning_pct) is float


def test_null_runner_resets_to_the_built_in_default(isolated_home: Path) -> None:
    path = _write(isolated_home, "defaults: {runner: /r}\nhosts:\n  pi: {runner: null}\n  pj:\n")
    pi, pj = load_inventory(path)
    assert (pi.settings.runner, pj.settings.runner) == (None, "/r")


def test_anchors_and_merge_keys_work_as_in_safe_load(isolated_home: Path) -> None:
    path = _write(
        isolated_home,
        """
        defaults: &base
          runner: /r
          thresholds: {disk_warning_pct: 70}
        hosts:
          pi: &pi
            <<: *base
            runner: /own
          pj: *pi
        """,
    )
    pi, pj = load_inventory(path)
    assert (pi.settings.runner, pi.settings.thresholds.disk_warning_pct) == ("/own", 70.0)
    assert pj.settings == pi.settings  # the same node read twice: its own key still beats the merged one


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "hosts:\n", "groups: {}\nhosts: {}\n"])
def test_empty_inventory_has_no_hosts(isolated_home: Path, text: str) -> None:
    assert load_inventory(_write(isolated_home, text)) == []


def test_the_example_inventory_is_valid() -> None:
    hosts = {h.alias: h for h in load_inventory(EXAMPLE)}
    assert list(hosts) == ["pi1", "pi2", "pi3"]
    assert hosts["pi2"].groups == ("lab",)
    assert hosts["pi3"].groups == ("lab", "gpu")
    assert hosts["pi3"].settings.enabled is False
    assert hosts["pi1"].settings.thresholds.disk_critical_pct == 97


ERRORS = [
    (
        "unknown host key",
        """
        hosts:
          pi1: {}
          pi3:
            enabled: false
            treshold: {stale_factor: 2}
        """,
        f"F:5: unknown key 'treshold' under host 'pi3' (allowed: {HOST_KEYS})",
    ),
    (
        "unknown top-level key",
        "host:\n  pi: {}\n",
        "F:1: unknown key 'host' at top level (allowed: defaults, groups, hosts)",
    ),
    (
        "unknown threshold",
        "defaults:\n  thresholds:\n    disk_warn: 3\n",
        "F:3: unknown key 'disk_warn' under thresholds under defaults (allowed: disk_warning_pct, "
        "disk_critical_pct, stale_factor, supervisor_stale_threshold_s, stale_default_budget_s, "
        "remote_failure_tolerance_s, exit_window, "
        "short_exit_s, rate_threshold, clock_skew_s, disk_fill_warning_h, disk_fill_critical_h, "
        "disk_fill_window_h, spend_budget_usd, spend_rate_factor, spend_rate_min_usd, no_progress_factor, "
        "flapping_per_hour)",
    ),
    (
        "unknown group key",
        "groups:\n  lab:\n    members: [a]\n",
        "F:3: unknown key 'members' under group 'lab' (allowed: hosts, settings)",
    ),
    (
        "groups inside group settings",
        "groups:\n  lab:\n    settings:\n      groups: [x]\n",
        f"F:4: unknown key 'groups' under settings of 'lab' (allowed: {SETTING_KEYS})",
    ),
    (
        "groups in defaults",
        "defaults:\n  groups: [x]\n",
        f"F:2: unknown key 'groups' under defaults (allowed: {SETTING_KEYS})",
    ),
    (
        "duplicate top-level key",
        "hosts: {}\ngroups: {}\nhosts: {}\n",
        "F:3: duplicate key 'hosts' at top level (first at line 1)",
    ),
    (
        "duplicate host",
        "hosts:\n  pi: {}\n  pi: {}\n",
        "F:3: duplicate key 'pi' under hosts (first at line 2)",
    ),
    (
        "duplicate threshold",
        "hosts:\n  pi:\n    thresholds:\n      exit_window: 3\n      exit_window: 4\n",
        "F:5: duplicate key 'exit_window' under thresholds under host 'pi' (first at line 4)",
    ),
    (
        "top level is a list",
        "- pi\n- pj\n",
        "F:1: the top level must be a mapping of defaults, groups, hosts, got a list",
    ),
    (
        "top level is a string",
        "pi\n",
        "F:1: the top level must be a mapping of defaults, groups, hosts, got string 'pi'",
    ),
    (
        "syntax error",
        "hosts:\n  pi: {\n  pj: 1\n",
        "F:4: not valid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    (
        "two documents",
        "hosts: {}\n---\nhosts: {}\n",
        "F:2: not valid YAML: expected a single document in the stream but found another document",
    ),
    (
        "threshold string",
        "defaults:\n  thresholds: {stale_factor: '2'}\n",
        "F:2: threshold 'stale_factor' under defaults must be a number, got string '2'",
    ),
    (
        "threshold bool",
        "hosts:\n  pi:\n    thresholds:\n      clock_skew_s: yes\n",
        "F:4: threshold 'clock_skew_s' under host 'pi' must be a number, got boolean 'yes'",
    ),
    (
        "float for int",
        "hosts:\n  pi: {thresholds: {exit_window: 2.5}}\n",
        "F:2: threshold 'exit_window' under host 'pi' must be a whole number, got number '2.5'",
    ),
    (
        "pct above 100",
        "defaults:\n  thresholds:\n    disk_critical_pct: 101\n",
        "F:3: threshold 'disk_critical_pct' under defaults must be a percentage from 0 to 100, got 101",
    ),
    (
        "negative duration",
        "defaults:\n  thresholds:\n    short_exit_s: -5\n",
        "F:3: threshold 'short_exit_s' under defaults must be a positive number of seconds, got -5",
    ),
    (
        "zero factor",
        "defaults:\n  thresholds:\n    stale_factor: 0\n",
        "F:3: threshold 'stale_factor' under defaults must be a positive number, got 0",
    ),
    (
        "rate above 1",
        "defaults:\n  thresholds:\n    rate_threshold: 1.5\n",
        "F:3: threshold 'rate_threshold' under defaults must be a fraction from 0 to 1, got 1.5",
    ),
    (
        "nan",
        "defaults:\n  thresholds:\n    clock_skew_s: .nan\n",
        "F:3: threshold 'clock_skew_s' under defaults must be a positive number of seconds, got .nan",
    ),
    (
        "thresholds not a mapping",
        "defaults:\n  thresholds: [1]\n",
        "F:2: the value under thresholds under defaults must be a mapping, got a list",
    ),
    (
        "enabled string",
        "hosts:\n  pi: {enabled: 'yes'}\n",
        "F:2: 'enabled' under host 'pi' must be true or false, got string 'yes'",
    ),
    (
        "runner number",
        "hosts:\n  pi:\n    runner: 12\n",
        "F:3: 'runner' under host 'pi' must be a remote path (a non-empty string) or null, got integer '12'",
    ),
    (
        "empty config",
        "defaults:\n  config: ''\n",
        "F:2: 'config' under defaults must be a remote path (a non-empty string) or null, got string ''",
    ),
    ("hosts is a list", "hosts:\n  - pi\n", "F:2: the value under hosts must be a mapping, got a list"),
    (
        "host is a string",
        "hosts:\n  pi: lab\n",
        "F:2: the value under host 'pi' must be a mapping, got string 'lab'",
    ),
    (
        "host key not a string",
        "hosts:\n  10: {}\n",
        "F:2: keys under hosts must be strings, got integer '10'",
    ),
    (
        "host groups not a list",
        "groups: {lab: }\nhosts:\n  pi: {groups: lab}\n",
        "F:3: 'groups' under host 'pi' must be a list, got string 'lab'",
    ),
    (
        "undeclared group",
        "groups:\n  lab: {hosts: [a]}\nhosts:\n  pi:\n    groups: [lab, gpu]\n",
        "F:5: unknown group 'gpu' under host 'pi' (groups declared under 'groups:': lab)",
    ),
    (
        "group member not a string",
        "groups:\n  lab:\n    hosts: [pi, {x: 1}]\n",
        "F:3: each entry of 'hosts' under group 'lab' must be a string, got a mapping",
    ),
    (
        "group name with a space",
        "groups:\n  my lab: {}\n",
        "F:2: group name 'my lab' must be one word, without spaces or commas",
    ),
    (
        "alias ssh would read as an option",
        "hosts:\n  -oProxyCommand=evil: {}\n",
        "F:2: host alias '-oProxyCommand=evil' is not one ssh accepts (no leading '-', spaces, commas or "
        "shell metacharacters); use the alias from your ssh_config",
    ),
    (
        "alias with a space in a group",
        "groups:\n  lab:\n    hosts: ['a b']\n",
        "F:3: host alias 'a b' is not one ssh accepts (no leading '-', spaces, commas or shell "
        "metacharacters); use the alias from your ssh_config",
    ),
    (
        "warning above critical after merging",
        "defaults:\n  thresholds: {disk_warning_pct: 96}\nhosts:\n  pi: {}\n",
        "F:4: host 'pi': disk_warning_pct (96) is above disk_critical_pct (95) once defaults, groups and "
        "host settings are merged",
    ),
    (
        "bad merge key",
        "hosts:\n  pi:\n    <<: 3\n",
        "F:3: not valid YAML: expected a mapping or list of mappings for merging, but found scalar",
    ),
]


@pytest.mark.parametrize(("text", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_every_error_names_file_line_key_and_what_is_allowed(
    isolated_home: Path, text: str, message: str
) -> None:
    assert _error(isolated_home, text) == message


def test_missing_inventory_file_is_an_error_naming_it(isolated_home: Path) -> None:
    missing = isolated_home / "nope.yaml"
    with pytest.raises(InventoryError) as info:
        load_inventory(missing)
    assert (
        str(info.value)
        == f"{missing}: cannot read inventory (No such file or directory); check the --inventory path"
    )


def test_non_utf8_inventory_is_an_error(isolated_home: Path) -> None:
    path = isolated_home / "latin1.yaml"
    path.write_bytes(b"hosts:\n  caf\xe9: {}\n")
    with pytest.raises(InventoryError, match="is not UTF-8 text"):
        load_inventory(path)
