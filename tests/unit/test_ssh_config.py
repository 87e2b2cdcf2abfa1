"""Alias discovery over the ssh_config corpus, and the lexing rules it shares with the fallback parser.

The corpus (tests/fixtures/ssh_config/<case>/) is installed as $HOME/.ssh, because ssh resolves relative
Include paths against ~/.ssh and takes that ~ from $HOME (glob(3)); "@HOME@" in a file becomes the
test's HOME so absolute Include paths work too.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from fleetwatch.errors import InventoryError
from fleetwatch.inventory.fallback import parse_target
from fleetwatch.inventory.ssh_config import discover_aliases, valid_alias

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "ssh_config"

# Every case and exactly the aliases it declares, in file order.
EXPECTED_ALIASES: dict[str, list[str]] = {
    "bad_quotes": ["quote-a", "quote-b"],
    "basic": ["pi", "nas"],
    "bom": ["bom-host"],
    "case_sensitivity": ["MixedCase", "mixedcase", "v6upper"],
    "crlf": ["crlf-a", "crlf-b"],
    "empty": [],
    "final_pass": ["front", "real.example"],
    "identity_tokens": ["tok", "dup"],
    "include_absolute_and_tilde": ["abs", "tilde", "local"],
    "include_inside_host": ["gate", "inner", "other"],
    "include_loop": ["looped"],
    # 02-a.conf, 1-c.conf, 10-b.conf: sorted bytewise; .hidden.conf and notes.txt do not match *.conf.
    "include_relative_glob": ["two", "shared", "one", "ten", "after-include"],
    "key_equals": ["eq-one", "eq-two", "eq-three", "eq-tab"],
    "match_blocks": ["web", "db", "cache"],
    "match_exec": ["alpha", "beta", "gamma"],
    "multi_patterns": ["a", "b", "c", "d"],
    "negated_patterns": ["bastion", "web-internal", "web-public"],
    "proxyjump_chains": ["chain", "numeric", "v6", "uri-last", "jump-none", "cmd-first", "jump-first"],
    "quoted_values": ["quoted", "single", "mixed"],
    "star_defaults_first": ["specific"],
    "star_defaults_last": ["specific", "other"],
    "strict_and_timeouts": ["s-yes", "s-no", "s-off", "s-new", "s-true"],
    "syntax_error": ["fine", "broken"],
    "tabs": ["tab-a", "tab-b"],
    "trailing_comments": ["pi", "jumper"],
    "uppercase_keywords": ["upper"],
    "wildcards": ["web-01", "exact"],
}


def install_case(case: str, home: Path) -> Path:
    """Copy a corpus case to ``home/.ssh`` and return its ``config``."""
    dest = home / ".ssh"
    shutil.copytree(CORPUS / case, dest)
    for path in dest.rglob("*"):
        if path.is_file():  # bytes, so CRLF and BOM survive
            path.write_bytes(path.read_bytes().replace(b"@HOME@", str(home).encode()))
            path.chmod(0o644)  # ssh refuses group-writable includes; a umask-002 checkout would trip it
    return dest / "config"


def test_corpus_has_the_cases_the_tests_expect() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED_ALIASES)
    assert len(EXPECTED_ALIASES) >= 20


@pytest.mark.parametrize("case", sorted(EXPECTED_ALIASES))
def test_discovery_finds_exactly_the_concrete_aliases(case: str, isolated_home: Path) -> None:
    assert discover_aliases(install_case(case, isolated_home)) == EXPECTED_ALIASES[case]


def test_include_loop_is_followed_once(isolated_home: Path) -> None:
    config = install_case("include_loop", isolated_home)
    (config.parent / "b.conf").write_text("Host from-b\nInclude config\nInclude b.conf\n")
    config.write_text(config.read_text() + "Include b.conf\n")
    assert discover_aliases(config) == ["looped", "from-b"]


def test_includes_nested_deeper_than_ssh_allows_are_not_followed(isolated_home: Path) -> None:
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir()
    for depth in range(20):
        (ssh_dir / f"d{depth}.conf").write_text(f"Host level{depth}\nInclude d{depth + 1}.conf\n")
    (ssh_dir / "config").write_text("Include d0.conf\n")
    assert discover_aliases(ssh_dir / "config") == [f"level{d}" for d in range(16)]


def test_missing_main_config_names_the_file_and_what_to_do(isolated_home: Path) -> None:
    missing = isolated_home / "nope" / "config"
    with pytest.raises(InventoryError) as info:
        discover_aliases(missing)
    assert str(info.value) == (
        f"{missing}: cannot read the ssh config (No such file or directory); create it, "
        "or pass --ssh-config PATH or --inventory FILE"
    )


def test_unreadable_config_is_an_inventory_error(isolated_home: Path) -> None:
    directory = isolated_home / "dir-not-file"
    directory.mkdir()
    with pytest.raises(InventoryError, match="cannot read the ssh config"):
        discover_aliases(directory)


def test_patterns_that_ssh_cannot_reach_by_name_are_skipped(isolated_home: Path) -> None:
    config = isolated_home / "config"
    config.write_text(
        "Host ok *.lab web?? !neg a,b user@host -dash 'two words' ok\n"
        "Host\tTabbed # comment\n"
        "hOsT lower-keyword\n"
        "Match host matched-only\n"
        "  Host inside-match-section\n"
    )
    assert discover_aliases(config) == ["ok", "Tabbed", "lower-keyword", "inside-match-section"]


@pytest.mark.parametrize(
    ("alias", "ok"),
    [
        ("pi", True),
        ("10.0.0.1", True),
        ("fe80::1", True),
        ("-oProxyCommand=x", False),
        ("a b", False),
        ("a;b", False),
        ("a,b", False),
        ("a$b", False),
        ("", False),
        ("tab\there", False),
    ],
)
def test_valid_alias_follows_ssh_command_line_rules(alias: str, ok: bool) -> None:
    assert valid_alias(alias) is ok


def test_parse_target_reports_bad_lines_with_file_and_line(isolated_home: Path) -> None:
    config = install_case("syntax_error", isolated_home)
    with pytest.raises(InventoryError) as info:
        parse_target("fine", config)
    assert str(info.value) == f"{config}:4: Bad port 'notaport'."
    assert (info.value.path, info.value.line) == (str(config), 4)


def test_parse_target_reports_an_include_loop_at_the_include_line(isolated_home: Path) -> None:
    config = install_case("include_loop", isolated_home)
    with pytest.raises(InventoryError) as info:
        parse_target("looped", config)
    assert info.value.line == 3
    assert "Too many recursive configuration includes" in str(info.value)


def test_parse_target_skips_match_exec_and_says_so(
    isolated_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = isolated_home / "config"
    config.write_text('Match originalhost x exec "true"\n  User via-exec\n')
    with caplog.at_level(logging.WARNING):
        target = parse_target("x", config)
    assert target.user != "via-exec"
    assert target.source == "parser"
    assert "x: 'Match exec' is not evaluated without ssh; its block is skipped" in caplog.messages


def test_parse_target_takes_the_user_from_user_at_alias_first(isolated_home: Path) -> None:
    config = isolated_home / "config"
    config.write_text("Host pi\n  User config-user\n  HostName pi.example\n")
    target = parse_target("bob@pi", config)
    assert (target.alias, target.user, target.hostname) == ("bob@pi", "bob", "pi.example")


def test_parse_target_missing_config_is_an_error_like_ssh_F(isolated_home: Path) -> None:
    with pytest.raises(InventoryError, match=r"Can't open user config file .*: No such file or directory"):
        parse_target("x", isolated_home / "missing")
