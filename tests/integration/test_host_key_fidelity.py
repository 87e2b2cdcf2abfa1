"""Host keys as OpenSSH judges them, over a real sshd that presents a host certificate.

Every case is put to the real ``ssh`` client as well, on the same config and known_hosts: fleetwatch
must accept exactly what ssh accepts (``@cert-authority``, ``HostKeyAlias``) and refuse what it refuses
(``@revoked``, a certificate from another CA or for another name), and say which it was.
"""

from __future__ import annotations

import asyncio
import getpass
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetwatch.errors import HostKeyRevokedError, Stage, TransportError
from fleetwatch.inventory.resolve import resolve_alias
from fleetwatch.transport import Transport
from tests.integration.conftest import Remote, run_cli
from tests.integration.sshd import Sshd, host_block, keygen, start_sshd

pytestmark = pytest.mark.integration

PRINCIPALS = ("127.0.0.1", "certhost")


@dataclass
class CertLab:
    """An sshd whose host key is certified by ``ca`` for ``PRINCIPALS``; ``other_ca`` certified nothing."""

    sshd: Sshd
    host_key: str
    ca: str
    other_ca: str
    client_key: Path

    @property
    def name(self) -> str:
        return f"[127.0.0.1]:{self.sshd.port}"


@pytest.fixture(scope="module")
def lab(remote: Remote, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertLab]:
    root = tmp_path_factory.mktemp("certified")
    host_key = keygen(root / "host_key", "certified-host")
    ca = keygen(root / "ca", "fleetwatch-test-ca")
    other_ca = keygen(root / "other_ca", "some-other-ca")
    sign = ["ssh-keygen", "-q", "-s", str(root / "ca"), "-h", "-I", "certified-host"]
    subprocess.run(
        [*sign, "-n", ",".join(PRINCIPALS), str(root / "host_key.pub")],
        check=True,
        capture_output=True,
    )
    sshd = start_sshd(
        "certified",
        root / "sshd",
        remote.fleet.home,
        root / "host_key",
        remote.root / "authorized_keys",
        getpass.getuser(),
        extra_config=[f"HostCertificate {root / 'host_key-cert.pub'}"],
    )
    yield CertLab(sshd, host_key, ca, other_ca, remote.client_key)
    sshd.stop()


@dataclass
class Outcome:
    """What fleetwatch and ssh each made of one host."""

    ours: TransportError | None
    ssh_code: int
    ssh_said: str


def attempt(lab: CertLab, tmp_path: Path, known: list[str], **options: str) -> Outcome:
    """Connect to the certified sshd as alias ``h`` with ``known`` as its known_hosts, both ways."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join(f"{line}\n" for line in known))
    config = tmp_path / "ssh_config"
    config.write_text(host_block("h", lab.sshd.port, lab.client_key, known_hosts, **options))
    ssh = subprocess.run(
        ["ssh", "-F", str(config), "h", "echo", "in"], capture_output=True, text=True, timeout=30
    )
    target = resolve_alias("h", config)

    async def ours() -> TransportError | None:
        transport = Transport()
        try:
            result = await transport.run(target, "echo in", 10)
            assert result.stdout == "in\n"
            return None
        except TransportError as exc:
            return exc
        finally:
            await transport.close()

    return Outcome(asyncio.run(ours()), ssh.returncode, ssh.stderr)


def accepted_by_both(outcome: Outcome) -> None:
    assert outcome.ssh_code == 0, outcome.ssh_said
    assert outcome.ours is None, str(outcome.ours)


def refused_by_both(outcome: Outcome) -> TransportError:
    assert outcome.ssh_code == 255, "ssh refuses it too"
    assert outcome.ours is not None
    assert outcome.ours.stage is Stage.HOST_KEY, str(outcome.ours)
    assert "\n" not in str(outcome.ours)
    return outcome.ours


def test_a_host_certificate_signed_by_a_cert_authority_line_is_accepted_as_ssh_accepts_it(
    lab: CertLab, tmp_path: Path
) -> None:
    accepted_by_both(attempt(lab, tmp_path, [f"@cert-authority * {lab.ca}"]))
    # The CA line alone: nothing was recorded for the host itself.
    assert (tmp_path / "known_hosts").read_text() == f"@cert-authority * {lab.ca}\n"


def test_a_certificate_from_another_ca_or_for_another_name_is_refused_and_says_so(
    lab: CertLab, tmp_path: Path
) -> None:
    other = refused_by_both(attempt(lab, tmp_path, [f"@cert-authority * {lab.other_ca}"]))
    assert other.reason.startswith(f"host certificate refused for {getpass.getuser()}@127.0.0.1:")
    assert "Host CA key is not trusted (a certificate signed by ssh-ed25519 SHA256:" in other.reason
    assert "check the @cert-authority lines" in other.hint

    # ssh checks the principals against HostKeyAlias when there is one: "elsewhere" is not certified.
    wrong = refused_by_both(attempt(lab, tmp_path, [f"@cert-authority * {lab.ca}"], HostKeyAlias="elsewhere"))
    assert "Certificate principal mismatch" in wrong.reason
    assert "its principals must include elsewhere" in wrong.hint


def test_host_key_alias_is_the_name_looked_up_as_ssh_looks_it_up(lab: CertLab, tmp_path: Path) -> None:
    # Recorded under the alias alone (no [host]:port), as ssh records it with HostKeyAlias.
    accepted_by_both(attempt(lab, tmp_path, [f"certhost {lab.host_key}"], HostKeyAlias="certhost"))
    accepted_by_both(attempt(lab, tmp_path, [f"@cert-authority certhost {lab.ca}"], HostKeyAlias="certhost"))
    # Without the alias the same line names another host: unknown to both.
    unknown = refused_by_both(attempt(lab, tmp_path, [f"certhost {lab.host_key}"]))
    assert unknown.reason.startswith("unknown host key ssh-ed25519 SHA256:"), unknown.reason
    # With the alias, a line for [127.0.0.1]:port no longer applies: ssh does not consult it either.
    refused_by_both(attempt(lab, tmp_path, [f"{lab.name} {lab.host_key}"], HostKeyAlias="certhost"))


def test_a_revoked_key_is_refused_as_revoked_never_as_unknown(lab: CertLab, tmp_path: Path) -> None:
    for known in (
        [f"@revoked * {lab.host_key}"],
        [f"{lab.name} {lab.host_key}", f"@revoked * {lab.host_key}"],  # revoked wins over trusted
    ):
        revoked = refused_by_both(attempt(lab, tmp_path, known))
        assert isinstance(revoked, HostKeyRevokedError), str(revoked)
        assert (
            "host key REVOKED" in revoked.reason and "the key it offered is marked @revoked" in revoked.reason
        )
        assert "unknown" not in revoked.reason
        assert "fleetwatch trust will not record it" in revoked.hint

    ca = refused_by_both(attempt(lab, tmp_path, [f"@cert-authority * {lab.ca}", f"@revoked * {lab.ca}"]))
    assert isinstance(ca, HostKeyRevokedError)
    assert "its certificate's CA key is marked @revoked" in ca.reason


def test_trust_never_records_a_revoked_key_and_records_under_host_key_alias(
    lab: CertLab, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"@revoked * {lab.host_key}\n")
    config = tmp_path / "ssh_config"
    config.write_text(
        host_block("h", lab.sshd.port, lab.client_key, known_hosts)
        + host_block(
            "h-aliased", lab.sshd.port, lab.client_key, tmp_path / "aliased", HostKeyAlias="certhost"
        )
    )
    refused = run_cli("--ssh-config", str(config), "trust", "h", stdin="y\n")
    assert refused.code == 2, refused
    assert "is marked @revoked in known_hosts. Not recording" in refused.stderr, refused
    assert known_hosts.read_text() == f"@revoked * {lab.host_key}\n"

    recorded = run_cli("--ssh-config", str(config), "trust", "h-aliased", stdin="y\n")
    assert recorded.code == 0, recorded
    assert (tmp_path / "aliased").read_text() == f"certhost {lab.host_key}\n"
    ssh = subprocess.run(["ssh", "-F", str(config), "h-aliased", "true"], capture_output=True, timeout=30)
    assert ssh.returncode == 0, "ssh reads what trust recorded"
