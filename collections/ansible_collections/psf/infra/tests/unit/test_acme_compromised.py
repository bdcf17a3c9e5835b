"""Unit tests of the keyCompromise revocation and the compromised-key record (module_utils/acme/compromised.py,
revoke.py, renewal.py, issue.py): the record, the renewal rule, the key checks made before anything is sent,
and the JWS a session without an account signs. No network: a fake stands in for the CA here; the real
revocation at the lab's pebble is tests/integration/test_certificate.py's."""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys
from pathlib import Path

import josepy
import pytest
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme import (  # noqa: E402
    compromised,
    issue,
    keys,
    protocol,
    renewal,
    revoke,
    runner,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import certificate_facts  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError  # noqa: E402

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def write_pair(dest: Path, *, key_type: str = "ecdsa-p256", serial: int = 0x1F2E, age_days: int = 1,
               days: int = 90, key=None):
    """A self-signed certificate and its key in ``dest`` (cert.pem, privkey.pem); returns (certificate, key)."""
    private_key = key or keys.generate_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    not_before = NOW - datetime.timedelta(days=age_days)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private_key.public_key()).serial_number(serial)
                   .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.test")]), critical=False)
                   .sign(private_key, hashes.SHA256()))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (dest / "privkey.pem").write_bytes(keys.key_to_pem(private_key))
    return certificate, private_key


class FakeNet:
    def __init__(self) -> None:
        self.retries: dict[str, int] = {}


class FakeKeySession:
    """The CA as seen through a session signed with a certificate's key: it checks that key, like pebble."""

    def __init__(self, private_key, ca: dict) -> None:
        self.net = FakeNet()
        self.private_key = private_key
        self.ca = ca

    def revoke(self, certificate, reason: int, doing: str) -> bool:
        assert keys.public_key_matches(self.private_key, certificate), "signed with another key"
        self.ca.setdefault("requests", []).append((certificate.serial_number, reason, doing))
        if certificate.serial_number in self.ca.setdefault("revoked", {}):
            return False
        self.ca["revoked"][certificate.serial_number] = reason
        return True


class KeySessions:
    def __init__(self) -> None:
        self.ca: dict = {}
        self.opened: list = []

    def __call__(self, private_key):
        self.opened.append(private_key)
        return FakeKeySession(private_key, self.ca)


class NoAccountSessions:
    """The account-key sessions: keyCompromise must never ask for one."""

    def for_revocation(self, *, cloned: bool):
        raise AssertionError("keyCompromise asked for the account session")


def compromise(dest: Path, key_sessions, *, check_mode: bool = False, now=NOW):
    job = revoke.RevocationJob(dest=str(dest), reason="keyCompromise", tenant="packaging")
    return revoke.revoke_certificate(job, NoAccountSessions(), check_mode=check_mode, key_sessions=key_sessions,
                                     account_key_check=lambda: pytest.fail("the account key was read"), now=now)


def what(dest: Path) -> str:
    return f"the certificate {dest.name} of tenant packaging ({dest / 'cert.pem'}, serial 1f2e)"


# ---- the record ---------------------------------------------------------------------------------


def test_the_record_is_appended_atomically_and_holds_no_secret(tmp_path):
    certificate, private_key = write_pair(tmp_path)
    assert compromised.read_entries(str(tmp_path)) == []
    compromised.record(str(tmp_path), {"serial": "1f2e", "public_key_sha256": "aa"})
    compromised.record(str(tmp_path), {"serial": "3c4d", "public_key_sha256": "bb"})
    marker = tmp_path / "key-compromised.json"
    assert [entry["serial"] for entry in json.loads(marker.read_text())["compromised"]] == ["1f2e", "3c4d"]
    assert oct(os.stat(marker).st_mode & 0o777) == "0o644"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temporary left
    # a private key and its certificate have the same digest; another key does not
    assert compromised.public_key_sha256(private_key) == compromised.public_key_sha256(certificate.public_key())
    assert compromised.public_key_sha256(keys.generate_key("ecdsa-p256")) != compromised.public_key_sha256(private_key)


def test_an_unreadable_record_fails_naming_it(tmp_path):
    (tmp_path / "key-compromised.json").write_text('{"something": "else"}')
    with pytest.raises(PsfInfraError, match=r"key-compromised\.json is not what this module writes"):
        compromised.read_entries(str(tmp_path))
    # and state=present will not decide anything on top of it
    with pytest.raises(PsfInfraError, match="is not what this module writes"):
        issue.read_existing(issue.CertificateJob(names=["example.test"], dest=str(tmp_path)))


def test_the_record_names_a_certificate_by_serial_or_by_its_key(tmp_path):
    _certificate, private_key = write_pair(tmp_path)
    entries = [{"serial": "1f2e", "public_key_sha256": compromised.public_key_sha256(private_key)}]
    compromised.record(str(tmp_path), entries[0])
    job = issue.CertificateJob(names=["example.test"], dest=str(tmp_path))
    assert issue.read_existing(job).compromised == entries[0]
    # a new certificate (another serial) for the same key is still compromised
    write_pair(tmp_path, serial=0x5A5A, key=private_key)
    existing = issue.read_existing(job)
    assert existing.compromised == entries[0] and existing.key_is_compromised(existing.key)
    # a new certificate with a new key is not
    write_pair(tmp_path, serial=0x6B6B)
    existing = issue.read_existing(job)
    assert existing.compromised is None and not existing.key_is_compromised(existing.key)
    assert existing.key_is_compromised(private_key)  # the old key stays listed (never reused)


# ---- the renewal rule -----------------------------------------------------------------------------


def test_a_compromised_key_renews_a_certificate_that_is_not_due(tmp_path):
    certificate = write_pair(tmp_path)[0]
    facts = certificate_facts(certificate)
    common = {"names": ["example.test"], "key_type": "ecdsa-p256", "now": NOW}
    assert not renewal.decide_renewal(facts, **common).renew
    decision = renewal.decide_renewal(facts, **common, key_compromised=True)
    assert (decision.renew, decision.reason) == (True, "key compromised: a new key and certificate would be ordered")
    # before every other reason that would keep the key around
    assert renewal.decide_renewal(facts, **common, key_compromised=True, force=True).reason == decision.reason


# ---- revoking for keyCompromise -----------------------------------------------------------------------


def test_check_mode_checks_the_key_and_opens_no_session(tmp_path):
    write_pair(tmp_path)
    sessions = KeySessions()
    outcome = compromise(tmp_path, sessions, check_mode=True)
    assert (outcome.changed, outcome.revoked) == (True, True)
    assert outcome.reason == ("would be revoked at the CA (keyCompromise, signed with the certificate's own key); "
                              "nothing was sent")
    assert sessions.opened == [] and not (tmp_path / "key-compromised.json").exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_another_key_fails_before_any_session(tmp_path, check_mode):
    write_pair(tmp_path)
    (tmp_path / "privkey.pem").write_bytes(keys.key_to_pem(keys.generate_key("ecdsa-p256")))
    sessions = KeySessions()
    with pytest.raises(PsfInfraError) as caught:
        compromise(tmp_path, sessions, check_mode=check_mode)
    assert str(caught.value) == (f"{what(tmp_path)}: the private key {tmp_path / 'privkey.pem'} does not match the "
                                 f"certificate (their public keys differ); keyCompromise is signed with the "
                                 f"certificate's own key; nothing was sent")
    assert sessions.opened == []


def test_a_missing_or_unreadable_key_fails_naming_the_file(tmp_path):
    write_pair(tmp_path)
    (tmp_path / "privkey.pem").unlink()
    with pytest.raises(PsfInfraError, match=r"its private key .*privkey.pem does not exist; keyCompromise is signed "
                                            r"with the certificate's own key; nothing was sent"):
        compromise(tmp_path, KeySessions())
    (tmp_path / "privkey.pem").write_text("garbage")
    with pytest.raises(PsfInfraError) as caught:
        compromise(tmp_path, KeySessions())
    assert str(caught.value).startswith(f"{what(tmp_path)}: its private key {tmp_path / 'privkey.pem'} is not an "
                                        f"unencrypted PEM private key")
    assert "garbage" not in str(caught.value)


def test_revoked_with_its_own_key_recorded_then_no_change_without_key_or_ca(tmp_path):
    certificate, private_key = write_pair(tmp_path, key_type="rsa-2048")
    sessions = KeySessions()
    first = compromise(tmp_path, sessions)
    assert (first.changed, first.revoked) == (True, True)
    assert sessions.ca["revoked"] == {0x1F2E: 1}  # RFC 5280 keyCompromise
    assert keys.public_key_matches(sessions.opened[0], certificate)
    [entry] = compromised.read_entries(str(tmp_path))
    assert entry == {"serial": "1f2e", "reason": "keyCompromise", "ca": "revoked", "names": ["example.test"],
                     "revoked_at": "2026-12-06T12:00:00+00:00",
                     "public_key_sha256": compromised.public_key_sha256(private_key)}
    (tmp_path / "privkey.pem").unlink()  # an operator may delete a leaked key: the record is enough
    second = compromise(tmp_path, sessions)
    assert (second.changed, second.revoked) == (False, False)
    assert second.reason.startswith("already revoked for keyCompromise (serial 1f2e revoked for keyCompromise at "
                                    "2026-12-06T12:00:00+00:00, recorded in ")
    assert len(sessions.opened) == 1 and len(compromised.read_entries(str(tmp_path))) == 1


def test_already_revoked_at_the_ca_still_records_the_key(tmp_path):
    write_pair(tmp_path)
    sessions = KeySessions()
    sessions.ca["revoked"] = {0x1F2E: 5}
    outcome = compromise(tmp_path, sessions)
    assert (outcome.changed, outcome.revoked) == (True, False)
    assert outcome.reason.startswith("already revoked at the CA (it answered alreadyRevoked); the key is now recorded")
    assert [entry["ca"] for entry in compromised.read_entries(str(tmp_path))] == ["alreadyRevoked"]


def test_an_expired_certificate_is_not_sent_but_its_key_is_recorded(tmp_path):
    write_pair(tmp_path, age_days=100)
    sessions = KeySessions()
    planned = compromise(tmp_path, sessions, check_mode=True)
    assert planned.changed and "would be recorded as compromised" in planned.reason
    assert not (tmp_path / "key-compromised.json").exists()
    outcome = compromise(tmp_path, sessions)
    assert (outcome.changed, outcome.revoked) == (True, False) and outcome.reason.startswith("expired on ")
    assert sessions.opened == []
    assert [entry["ca"] for entry in compromised.read_entries(str(tmp_path))] == ["not sent: expired"]


def test_the_diff_and_result_name_the_record(tmp_path):
    write_pair(tmp_path)
    environment = runner.RevocationEnvironment(NoAccountSessions(), lambda: pytest.fail("account key read"),
                                               KeySessions())
    job = revoke.RevocationJob(dest=str(tmp_path), reason="keyCompromise")
    result = runner.run_revocation(job, environment, check_mode=True, cloned=False)
    record = str(tmp_path / "key-compromised.json")
    assert result["compromised_key_record"] == record
    assert result["diff"]["after"] == {**result["diff"]["before"], "revoked": "keyCompromise",
                                       "key": f"compromised (recorded in {record}, never reused)"}
    assert "PRIVATE KEY" not in json.dumps(result)


def test_other_reasons_still_need_the_account_key():
    environment = runner.build_revocation_environment({"acme_directory": "https://ca.invalid/dir"})
    with pytest.raises(InvalidInput, match="acme_account_key_path or acme_account_key_content is required to "
                                           "revoke for this reason"):
        environment.account_key()


# ---- the JWS of a session without an account ------------------------------------------------------


@pytest.mark.parametrize(("key_type", "alg"), [("ecdsa-p256", "ES256"), ("ecdsa-p384", "ES384"),
                                               ("rsa-2048", "RS256")])
def test_a_session_with_the_certificate_key_signs_with_jwk_and_no_kid(tmp_path, key_type, alg):
    certificate, private_key = write_pair(tmp_path, key_type=key_type)
    directory = messages.Directory({"newNonce": "https://ca.test/nonce", "revokeCert": "https://ca.test/revoke"})
    session = protocol.AcmeSession("https://ca.test/dir", private_key, ca_bundle=None, email=None,
                                   deadline=protocol.Deadline(10, "test"), directory=directory)
    body = messages.Revocation(certificate=certificate, reason=1)
    signed = json.loads(session.net._wrap_in_jws(body, b"nonce", "https://ca.test/revoke"))
    padded = signed["protected"] + "=" * (-len(signed["protected"]) % 4)
    header = json.loads(base64.urlsafe_b64decode(padded))
    assert header["alg"] == alg and "kid" not in header and header["url"] == "https://ca.test/revoke"
    jwk = josepy.JWK.from_json(header["jwk"])
    assert compromised.public_key_sha256(jwk.key) == compromised.public_key_sha256(certificate.public_key())
    assert josepy.JWS.json_loads(json.dumps(signed)).verify(jwk)
