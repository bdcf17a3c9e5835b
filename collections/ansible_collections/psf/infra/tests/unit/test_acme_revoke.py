"""Unit tests of module_utils/acme/revoke.py (no network: a fake session stands in for the CA; the real
revocation at the lab's pebble is tests/integration/test_certificate.py's)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme import keys, revoke, runner  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import serial_hex  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import CaUnavailable  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError  # noqa: E402

UTC = datetime.UTC


def write_certificate(dest: Path, *, days: int = 90, age_days: int = 1) -> x509.Certificate:
    private_key = keys.generate_key("ecdsa-p256")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    not_before = datetime.datetime.now(UTC) - datetime.timedelta(days=age_days)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private_key.public_key()).serial_number(0x1F2E)
                   .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.test")]), critical=False)
                   .sign(private_key, hashes.SHA256()))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


class FakeNet:
    def __init__(self) -> None:
        self.retries: dict[str, int] = {}


class FakeSession:
    """The CA: remembers what it revoked; a second request for one is answered alreadyRevoked."""

    def __init__(self, error: PsfInfraError | None = None) -> None:
        self.net = FakeNet()
        self.revoked: dict[int, int] = {}
        self.requests: list[str] = []
        self.error = error

    def revoke(self, certificate, reason: int, doing: str) -> bool:
        self.requests.append(doing)
        if self.error is not None:
            raise self.error
        if certificate.serial_number in self.revoked:
            return False
        self.revoked[certificate.serial_number] = reason
        return True


class FakeSessions:
    def __init__(self, session: FakeSession | None = None, opening_error: PsfInfraError | None = None) -> None:
        self.session = session or FakeSession()
        self.opening_error = opening_error
        self.opened = 0

    def for_revocation(self, *, cloned: bool):
        self.opened += 1
        if self.opening_error is not None:
            raise self.opening_error
        return self.session


def job(dest: Path, **options) -> revoke.RevocationJob:
    return revoke.RevocationJob(dest=str(dest), tenant="packaging", **options)


def test_revoked_once_with_the_reason_then_no_change(tmp_path):
    dest = tmp_path / "packaging" / "web"
    certificate = write_certificate(dest)
    sessions = FakeSessions()
    first = revoke.revoke_certificate(job(dest, reason="cessationOfOperation"), sessions, check_mode=False)
    assert (first.changed, first.revoked, first.reason) == (True, True, "revoked at the CA (cessationOfOperation)")
    assert sessions.session.revoked == {certificate.serial_number: 5}
    assert "the certificate web of tenant packaging" in sessions.session.requests[0]
    second = revoke.revoke_certificate(job(dest, reason="cessationOfOperation"), sessions, check_mode=False)
    assert not second.changed and "already revoked" in second.reason
    assert (dest / "cert.pem").exists()  # the files are the caller's to remove


def test_nothing_in_dest_is_nothing_to_revoke_and_needs_no_ca(tmp_path):
    sessions = FakeSessions(opening_error=PsfInfraError("must not be asked"))
    outcome = revoke.revoke_certificate(job(tmp_path / "gone"), sessions, check_mode=False)
    assert not outcome.changed and outcome.reason == f"no certificate in {tmp_path / 'gone'}: nothing to revoke"
    assert sessions.opened == 0


def test_an_expired_certificate_is_not_sent(tmp_path):
    write_certificate(tmp_path, days=90, age_days=100)
    sessions = FakeSessions()
    outcome = revoke.revoke_certificate(job(tmp_path), sessions, check_mode=False)
    assert not outcome.changed and outcome.reason.startswith("expired on ")
    assert sessions.opened == 0


def test_check_mode_reads_the_account_key_and_sends_nothing(tmp_path):
    write_certificate(tmp_path)
    sessions = FakeSessions()
    checked: list[bool] = []
    outcome = revoke.revoke_certificate(job(tmp_path), sessions, check_mode=True,
                                        account_key_check=lambda: checked.append(True))
    assert outcome.changed and outcome.revoked and "nothing was sent" in outcome.reason
    assert checked == [True] and sessions.opened == 0 and sessions.session.requests == []


def test_check_mode_with_a_missing_account_key_names_the_certificate_and_the_key(tmp_path):
    dest = tmp_path / "packaging" / "web"
    write_certificate(dest)
    params = {"acme_account_key_path": str(tmp_path / "account.key")}
    environment = runner.build_revocation_environment({**params, "acme_directory": "https://ca.invalid/dir"})
    with pytest.raises(PsfInfraError) as caught:
        revoke.revoke_certificate(job(dest), environment.sessions, check_mode=True,
                                  account_key_check=environment.account_key)
    message = str(caught.value)
    assert message.startswith(f"the certificate web of tenant packaging ({dest / 'cert.pem'}, serial 1f2e): ")
    assert f"the ACME account key {tmp_path / 'account.key'} does not exist" in message
    assert not (tmp_path / "account.key").exists()  # never created for a revocation


def test_a_refusal_names_the_tenant_the_certificate_and_the_file(tmp_path):
    dest = tmp_path / "packaging" / "web"
    write_certificate(dest)
    refused = PsfInfraError("ACME CA https://ca.test/dir: looking up the ACME account failed: unauthorized: no")
    with pytest.raises(PsfInfraError) as caught:
        revoke.revoke_certificate(job(dest), FakeSessions(opening_error=refused), check_mode=False)
    assert str(caught.value) == (f"the certificate web of tenant packaging ({dest / 'cert.pem'}, serial 1f2e): "
                                 f"{refused}")


def test_a_ca_that_is_down_stays_one_line_naming_the_certificate(tmp_path):
    dest = tmp_path / "packaging" / "web"
    write_certificate(dest)
    down = CaUnavailable("ACME CA https://127.0.0.1:1/dir", "reading the ACME directory", "connection refused",
                         "that the CA runs")
    with pytest.raises(CaUnavailable) as caught:
        revoke.revoke_certificate(job(dest), FakeSessions(opening_error=down), check_mode=False)
    assert str(caught.value) == ("ACME CA https://127.0.0.1:1/dir: reading the ACME directory (to revoke the "
                                 f"certificate web of tenant packaging ({dest / 'cert.pem'}, serial 1f2e)) failed: "
                                 "connection refused; check that the CA runs")


def test_a_file_that_is_not_a_certificate_is_named(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(PsfInfraError, match="is not a PEM certificate; nothing was revoked"):
        revoke.revoke_certificate(job(tmp_path), FakeSessions(), check_mode=False)


def test_an_unknown_reason_is_refused_naming_the_option():
    with pytest.raises(InvalidInput) as caught:
        runner.revocation_job_from_params({"dest": "/x/web", "revoke_reason": "privilegeWithdrawn"},
                                          field="certificates[0]")
    assert caught.value.field == "certificates[0].revoke_reason"


def test_the_diff_shows_the_reason_after(tmp_path):
    write_certificate(tmp_path)
    environment = runner.RevocationEnvironment(FakeSessions(), lambda: None)
    result = runner.run_revocation(job(tmp_path, reason="cessationOfOperation"), environment, check_mode=True,
                                   cloned=False)
    assert result["diff"]["after"] == {**result["diff"]["before"], "revoked": "cessationOfOperation"}
    assert result["certificate"]["serial"] == "1f2e" and result["name"] == tmp_path.name


def test_serials_read_as_openssl_prints_them():
    # whole bytes, so that an operator can grep the output for what openssl x509 -serial printed
    assert serial_hex(0x1F2E) == "1f2e"
    assert serial_hex(0x69AF17313735C71) == "069af17313735c71"
    assert serial_hex(0x5) == "05"
    assert serial_hex(2 ** 159) == "8" + "0" * 39
