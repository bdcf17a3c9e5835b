"""Unit tests of the ACME renewal decision, certificate facts, keys and atomic files (no network)."""

from __future__ import annotations

import datetime
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme import files, issue, keys  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import (  # noqa: E402
    CertificateFacts,
    certificate_facts,
    split_pem_chain,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.renewal import (  # noqa: E402
    decide_renewal,
    renewal_due,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError  # noqa: E402

UTC = datetime.UTC
ISSUED = datetime.datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ("example.test", "www.example.test", "*.example.test")


def facts(names=NAMES, key_type="ecdsa-p256", days=90) -> CertificateFacts:
    return CertificateFacts(frozenset(names), key_type, ISSUED, ISSUED + datetime.timedelta(days=days), "1", "CN=ca")


def at(days: float) -> datetime.datetime:
    return ISSUED + datetime.timedelta(days=days)


def test_no_certificate_renews():
    decision = decide_renewal(None, names=NAMES, key_type="ecdsa-p256", now=at(0))
    assert decision.renew and decision.reason == "no certificate yet"


def test_fresh_certificate_is_kept_with_its_due_date():
    decision = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(1))
    assert not decision.renew
    assert decision.due == at(60)  # the last third of 90 days


@pytest.mark.parametrize(("now_days", "renew"), [(59.9, False), (60, True), (89, True), (91, True)])
def test_default_window_is_the_last_third_of_the_lifetime(now_days, renew):
    assert decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(now_days)).renew is renew


def test_explicit_renew_before_days():
    kept = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(75), renew_before_days=10)
    due = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(80), renew_before_days=10)
    assert not kept.renew and kept.due == at(80)
    assert due.renew and "renewal due since" in due.reason


def test_expired_certificate_says_so():
    decision = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(95))
    assert decision.renew and decision.reason.startswith("expired on")


def test_names_compared_as_a_set_case_insensitively():
    reordered = ["WWW.example.test", "*.example.test", "example.test"]
    assert not decide_renewal(facts(), names=reordered, key_type="ecdsa-p256", now=at(1)).renew


def test_changed_names_are_listed():
    decision = decide_renewal(facts(), names=["example.test", "api.example.test"], key_type="ecdsa-p256",
                              now=at(1))
    assert decision.renew
    assert "added: api.example.test" in decision.reason
    assert "removed: *.example.test, www.example.test" in decision.reason


def test_key_type_change_renews():
    decision = decide_renewal(facts(), names=NAMES, key_type="rsa-2048", now=at(1))
    assert decision.renew and decision.reason == "key type changed from ecdsa-p256 to rsa-2048"


def test_key_mismatch_renews_before_anything_else():
    decision = decide_renewal(facts(), names=["other.test"], key_type="rsa-2048", now=at(1), key_matches=False)
    assert decision.renew and "private key" in decision.reason


def test_force():
    assert decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(1), force=True).reason == \
        "renewal forced"


def test_ari_window_brings_renewal_forward():
    early = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(30), ari_renewal_time=at(20))
    assert early.renew and "renewal information" in early.reason


def test_ari_time_in_the_future_moves_the_due_date_only_earlier():
    later = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(10), ari_renewal_time=at(70))
    sooner = decide_renewal(facts(), names=NAMES, key_type="ecdsa-p256", now=at(10), ari_renewal_time=at(40))
    assert not later.renew and later.due == at(60)
    assert not sooner.renew and sooner.due == at(40)


def test_renewal_due_of_a_five_year_certificate():
    assert renewal_due(facts(days=1800), None) == at(1200)


# ---- certificates, keys, files (local crypto only) ----------------------------------------------


def self_signed(private_key, names, days=90, not_before=ISSUED) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    algorithm = hashes.SHA256()
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private_key.public_key()).serial_number(42)
            .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(private_key, algorithm))


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])
def test_key_types_round_trip_through_certificate_facts(key_type):
    private_key = keys.generate_key(key_type)
    assert keys.key_type_of(private_key) == key_type
    certificate = self_signed(private_key, NAMES)
    described = certificate_facts(certificate)
    assert described.key_type == key_type
    assert described.names == frozenset(NAMES)
    assert described.lifetime == datetime.timedelta(days=90)
    assert keys.public_key_matches(private_key, certificate)
    assert not keys.public_key_matches(keys.generate_key(key_type), certificate)


def test_unknown_key_type_is_refused():
    with pytest.raises(PsfInfraError, match="unknown key type"):
        keys.generate_key("dsa-1024")


def test_csr_carries_every_name_and_the_first_as_common_name():
    private_key = keys.generate_key("ecdsa-p256")
    csr = x509.load_pem_x509_csr(keys.build_csr(private_key, NAMES))
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(NAMES)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "example.test"
    assert csr.is_signature_valid


def test_a_bad_key_file_message_never_quotes_the_key():
    secret_looking = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n"
    with pytest.raises(PsfInfraError) as caught:
        keys.load_key(secret_looking, what="the ACME account key /x")
    assert "TOPSECRET" not in str(caught.value)


def test_split_pem_chain_keeps_order():
    first = self_signed(keys.generate_key("ecdsa-p256"), ["a.test"]).public_bytes(serialization.Encoding.PEM)
    second = self_signed(keys.generate_key("ecdsa-p256"), ["b.test"]).public_bytes(serialization.Encoding.PEM)
    blocks = split_pem_chain((first + b"\n" + second).decode())
    assert [x509.load_pem_x509_certificate(b.encode()).subject.rfc4514_string() for b in blocks] == \
        ["CN=a.test", "CN=b.test"]


def test_atomic_write_sets_modes_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "d" / "privkey.pem"
    files.write_files_atomically({str(target): (b"key", 0o600), str(tmp_path / "d" / "cert.pem"): (b"c", 0o644)})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "d" / "cert.pem").st_mode) == 0o644
    assert sorted(os.listdir(tmp_path / "d")) == ["cert.pem", "privkey.pem"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    old = tmp_path / "cert.pem"
    old.write_bytes(b"old")
    with pytest.raises(OSError):
        files.write_files_atomically({str(old): (b"new", 0o644), "/proc/forbidden/x.pem": (b"x", 0o644)})
    assert old.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["cert.pem"]


class NoCa:
    """A session source for runs that must not contact the CA at all."""

    opened = 0

    def base(self):
        self.opened += 1
        raise PsfInfraError("the CA is unreachable")

    def for_thread(self, **_options):
        return self.base()


def write_certificate(dest: Path, names, key_type="ecdsa-p256", days=90, not_before=None):
    private_key = keys.generate_key(key_type)
    not_before = not_before or datetime.datetime.now(UTC) - datetime.timedelta(days=1)
    certificate = self_signed(private_key, names, days=days, not_before=not_before)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / issue.KEY_FILE).write_bytes(keys.key_to_pem(private_key))
    (dest / issue.CERT_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def test_a_certificate_not_due_is_kept_even_when_the_ca_is_down(tmp_path):
    write_certificate(tmp_path, NAMES)
    sessions = NoCa()
    job = issue.CertificateJob(names=NAMES, dest=str(tmp_path))
    outcome = issue.ensure_certificate(job, sessions, None, check_mode=False)
    assert not outcome.changed
    assert any("renewal information not checked" in note for note in outcome.notes)


def test_check_mode_reports_a_key_type_change_without_contacting_the_ca(tmp_path):
    write_certificate(tmp_path, ["a.example.test"])
    sessions = NoCa()
    job = issue.CertificateJob(names=["a.example.test"], dest=str(tmp_path), key_type="rsa-2048",
                               challenge=issue.HTTP01, webroot=str(tmp_path / "www"))
    outcome = issue.ensure_certificate(job, sessions, None, check_mode=True, use_ari=False)
    assert outcome.changed and outcome.decision.reason == "key type changed from ecdsa-p256 to rsa-2048"
    assert sessions.opened == 0


def test_a_certificate_for_another_key_is_renewed(tmp_path):
    write_certificate(tmp_path, NAMES)
    (tmp_path / issue.KEY_FILE).write_bytes(keys.key_to_pem(keys.generate_key("ecdsa-p256")))
    job = issue.CertificateJob(names=NAMES, dest=str(tmp_path))
    existing = issue.read_existing(job)
    assert existing.facts is not None and not existing.key_matches


def test_wildcards_need_dns01():
    with pytest.raises(PsfInfraError, match="wildcard"):
        issue.CertificateJob(names=["*.example.test"], dest="/tmp/x", challenge=issue.HTTP01, webroot="/srv")


class _FakeAccount:
    """Only what _collect_answers asks of the session: the DNS-01 value of a challenge."""

    def dns01_value(self, challenge) -> str:
        return f"value-for-{challenge.encode('token')}"


def _authorization(identifier: str, status: str, challenge_status: str, *, wildcard: bool = False):
    from acme import challenges, messages

    body = messages.ChallengeBody(chall=challenges.DNS01(token=os.urandom(16)),
                                  uri=f"https://ca.test/chal/{identifier}",
                                  status=messages.Status.from_json(challenge_status))
    authz = messages.Authorization(identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=identifier),
                                   status=messages.Status.from_json(status), challenges=(body,),
                                   wildcard=wildcard or None)
    return messages.AuthorizationResource(body=authz, uri=f"https://ca.test/authz/{identifier}")


def test_authorizations_the_ca_reused_are_not_answered_again():
    """A reused (valid) authorization has nothing to prove: answering its challenge is refused by the CA.
    The authorization is parsed from JSON as a CA sends it, so its status is acme's Status, not a string."""
    from acme import messages

    fresh = _authorization("www.example.test", "pending", "pending")
    reused = messages.AuthorizationResource.from_json(
        _authorization("example.test", "valid", "valid").to_json())
    order = messages.OrderResource(body=messages.Order(), authorizations=[fresh, reused])
    answers = issue._collect_answers(_FakeAccount(), order, "dns-01")
    assert [answer.identifier for answer in answers] == ["www.example.test"]


def test_a_pending_authorization_with_a_valid_challenge_is_not_answered_again():
    from acme import messages

    racing = _authorization("example.test", "pending", "valid")
    order = messages.OrderResource(body=messages.Order(), authorizations=[racing])
    assert issue._collect_answers(_FakeAccount(), order, "dns-01") == []


def test_wildcard_authorizations_are_answered_under_the_wildcard_name():
    from acme import messages

    order = messages.OrderResource(body=messages.Order(), authorizations=[
        _authorization("example.test", "pending", "pending", wildcard=True)])
    answers = issue._collect_answers(_FakeAccount(), order, "dns-01")
    assert [answer.identifier for answer in answers] == ["*.example.test"]
