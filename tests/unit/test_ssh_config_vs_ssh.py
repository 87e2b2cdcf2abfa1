"""The fallback parser against the real ``ssh -G``: for every alias of the corpus they must agree.

This is the proof that ``parse_target`` is right where it is used (hosts without an ssh binary): each
corpus alias, plus probes that only patterns match, resolves to the same SshTarget both ways, or fails
both ways.  The known divergences are pinned at the end.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.fallback import parse_target
from fleetwatch.inventory.model import SshTarget
from fleetwatch.inventory.resolve import resolve_alias, resolve_all, ssh_available
from tests.unit.test_ssh_config import EXPECTED_ALIASES, install_case

pytestmark = pytest.mark.skipif(not ssh_available(), reason="needs the OpenSSH client (ssh -G)")

# Destinations no Host line names literally: they reach blocks through patterns, Match or defaults.
PROBES: dict[str, list[str]] = {
    "basic": ["bob@pi", "unlisted.example"],
    "case_sensitivity": ["MIXEDCASE", "Mixedcase"],
    "empty": ["anything"],
    "final_pass": ["Real.Example", "elsewhere"],
    "include_inside_host": ["Gate"],
    "include_relative_glob": ["hidden-glob", "not-a-conf"],
    "match_blocks": ["cache.internal", "WEB"],
    "negated_patterns": ["only-negated", "random", "web-other"],
    "proxyjump_chains": ["anything-else"],
    "strict_and_timeouts": ["s-other"],
    "wildcards": ["web-02", "x.lab", "dbz", "ax", "web-001"],
}


def _outcome(target: SshTarget | InventoryError) -> SshTarget | str:
    return "error" if isinstance(target, InventoryError) else dataclasses.replace(target, source="-")


def _parse(alias: str, config: Path) -> SshTarget | InventoryError:
    try:
        return parse_target(alias, config)
    except InventoryError as exc:
        return exc


@pytest.mark.parametrize("case", sorted(EXPECTED_ALIASES))
def test_fallback_parser_resolves_every_corpus_alias_as_ssh_G_does(case: str, isolated_home: Path) -> None:
    config = install_case(case, isolated_home)
    aliases = EXPECTED_ALIASES[case] + PROBES.get(case, [])
    if not aliases:
        pytest.fail(f"corpus case {case} has nothing to compare")
    via_ssh = resolve_all(aliases, config)
    for alias in aliases:
        assert _outcome(_parse(alias, config)) == _outcome(via_ssh[alias]), f"{case}: {alias}"


def test_corpus_comparison_covers_successes_and_failures(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guard against a vacuous proof: most aliases resolve, and the broken cases do fail both ways.
    failing = {"bad_quotes", "bom", "include_loop", "syntax_error"}
    for case in sorted(EXPECTED_ALIASES):
        home = isolated_home / case
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))  # ssh finds relative Includes under $HOME/.ssh
        config = install_case(case, home)
        results = resolve_all(EXPECTED_ALIASES[case], config)
        errors = {a for a, t in results.items() if isinstance(t, InventoryError)}
        assert errors == (set(EXPECTED_ALIASES[case]) if case in failing else set()), case


def test_match_exec_is_where_the_parser_knowingly_differs(isolated_home: Path) -> None:
    config = isolated_home / "config"
    config.write_text('Match originalhost x exec "true"\n  User via-exec\n')
    assert resolve_alias("x", config).user == "via-exec"
    assert parse_target("x", config).user != "via-exec"  # not evaluated; logged (see test_ssh_config)


def test_unknown_keywords_fail_ssh_but_the_parser_skips_them(isolated_home: Path) -> None:
    # The parser reads only the options an SshTarget needs; validating every other keyword is ssh's job.
    config = isolated_home / "config"
    config.write_text("Host x\n  Frobnicate yes\n")
    with pytest.raises(InventoryError, match="Bad configuration option: frobnicate"):
        resolve_alias("x", config)
    assert parse_target("x", config).hostname == "x"
