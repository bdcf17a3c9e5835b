# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole flow for one certificate: decide, order, prove control, finalize, write, clean up.

Nothing on disk changes until a complete, checked certificate is in hand; the challenge answers
(TXT records, webroot files) are removed whatever the outcome.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ansible_collections.psf.infra.plugins.module_utils.acme import compromised, files, keys
from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import (
    CertificateFacts,
    certificate_facts,
    split_pem_chain,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.delegation import normalize_names
from ansible_collections.psf.infra.plugins.module_utils.acme.dns01 import PublishError
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import AcmeSession, Deadline
from ansible_collections.psf.infra.plugins.module_utils.acme.renewal import (
    KEY_COMPROMISED_DONE,
    KEY_COMPROMISED_PLAN,
    RenewalDecision,
    decide_renewal,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, PsfInfraError

try:
    from acme import challenges as acme_challenges
    from acme import messages as acme_messages
    from cryptography import x509
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True

KEY_FILE = "privkey.pem"
CERT_FILE = "cert.pem"
CHAIN_FILE = "chain.pem"
FULLCHAIN_FILE = "fullchain.pem"
DNS01 = "dns-01"
HTTP01 = "http-01"


@dataclass
class CertificateJob:
    """One certificate as the module (or one entry of its ``certificates`` list) asks for it."""

    names: list[str]
    dest: str
    key_type: str = keys.DEFAULT_KEY_TYPE
    reuse_key: bool = False
    renew_before_days: int | None = None
    force: bool = False
    challenge: str = DNS01
    webroot: str | None = None
    tenant: str | None = None

    def __post_init__(self) -> None:
        self.names = normalize_names(self.names)
        if self.challenge == HTTP01 and not self.webroot:
            raise PsfInfraError(f"{self.dest}: challenge http-01 needs 'webroot'")
        if self.challenge == HTTP01 and any(name.startswith("*.") for name in self.names):
            raise PsfInfraError(f"{self.dest}: a wildcard name can only be validated with dns-01")

    def path(self, filename: str) -> str:
        return os.path.join(self.dest, filename)


@dataclass
class ChallengeAnswer:
    """One answer to publish: for DNS-01 a TXT value at an owner name, for HTTP-01 a file."""

    identifier: str
    challenge_body: Any
    value: str
    token: str | None = None


class Dns01Publisher(Protocol):
    def check_names(self, names: list[str], tenant: str | None) -> list[dict]:
        """Where each name's TXT record goes; raises DelegationRequired naming missing CNAMEs."""

    def publish(self, answers: list[ChallengeAnswer]) -> list[dict]:
        """Send the TXT records (one UPDATE per zone); raise PublishError carrying what was sent."""

    def wait_until_served(self, published: list[dict], deadline: Deadline) -> None:
        """Return once every authoritative server serves every published value."""

    def remove(self, published: list[dict]) -> list[str]:
        """Remove exactly what ``publish`` added; return a warning per failure (never raise)."""


@dataclass
class Outcome:
    changed: bool
    decision: RenewalDecision
    facts: CertificateFacts | None
    notes: list[str] = field(default_factory=list)
    challenges: list[dict] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)

    def as_dict(self, job: CertificateJob) -> dict:
        result = {
            "changed": self.changed,
            "renewed": self.changed,
            "reason": self.decision.reason,
            "names": job.names,
            "files": {kind: job.path(name) for kind, name in (
                ("key", KEY_FILE), ("cert", CERT_FILE), ("chain", CHAIN_FILE), ("fullchain", FULLCHAIN_FILE))},
            "certificate": self.facts.as_dict() if self.facts else None,
            "notes": self.notes,
            "challenges": self.challenges,
            "acme_retries": self.retries,
        }
        if self.decision.due:
            result["renewal_due"] = self.decision.due.isoformat()
        return result


@dataclass
class Existing:
    certificate: x509.Certificate | None
    cert_pem: bytes | None
    key: Any
    facts: CertificateFacts | None
    key_matches: bool
    #: the entries of <dest>/key-compromised.json, and the one naming this certificate or key (if any)
    compromised_entries: list[dict] = field(default_factory=list)
    compromised: dict | None = None

    def key_is_compromised(self, private_key) -> bool:
        return compromised.find(self.compromised_entries, public_keys=(private_key,)) is not None


def read_existing(job: CertificateJob) -> Existing:
    cert_pem = files.read_or_none(job.path(CERT_FILE))
    key_pem = files.read_or_none(job.path(KEY_FILE))
    certificate = None
    if cert_pem:
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            certificate = None
    key = None
    if key_pem:
        try:
            key = keys.load_key(key_pem, what=job.path(KEY_FILE))
        except PsfInfraError:
            key = None
    matches = bool(certificate is not None and key is not None and keys.public_key_matches(key, certificate))
    facts = certificate_facts(certificate) if certificate is not None else None
    entries = compromised.read_entries(job.dest)  # unreadable: fails, a compromised key must not slip back
    known = compromised.find(entries, serial=facts.serial if facts else None,
                             public_keys=(certificate.public_key() if certificate is not None else None, key))
    return Existing(certificate, cert_pem, key, facts, matches, entries, known)


def decide(job: CertificateJob, existing: Existing, now: datetime.datetime,
           ari_renewal_time: datetime.datetime | None = None) -> RenewalDecision:
    return decide_renewal(existing.facts, names=job.names, key_type=job.key_type, now=now,
                          renew_before_days=job.renew_before_days, key_matches=existing.key_matches,
                          ari_renewal_time=ari_renewal_time, force=job.force,
                          key_compromised=existing.compromised is not None)


def _http01_publish(job: CertificateJob, answers: list[ChallengeAnswer], written: list[str]) -> None:
    """Write each key authorization under the webroot, recording each path as soon as it exists."""
    directory = os.path.join(job.webroot or "", ".well-known", "acme-challenge")
    for answer in answers:
        path = os.path.join(directory, answer.token or "")
        files.write_files_atomically({path: (answer.value.encode("ascii"), 0o644)})
        written.append(path)


def _http01_remove(paths: list[str]) -> list[str]:
    warnings = []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            warnings.append(f"could not remove the HTTP-01 answer {path}: {error}")
    return warnings


def _collect_answers(session: AcmeSession, order, challenge_type: str) -> list[ChallengeAnswer]:
    answers = []
    for authz in order.authorizations:
        identifier = authz.body.identifier.value
        # A CA may hand back an authorization this account already proved (Let's Encrypt for 30 days;
        # pebble now and then even with PEBBLE_AUTHZREUSE=0): nothing to prove, and answering its
        # challenge again is refused. acme's Status constants compare equal only to each other.
        if authz.body.status == acme_messages.STATUS_VALID:
            continue
        for body in authz.body.challenges:
            if body.chall.typ != challenge_type:
                continue
            if body.status == acme_messages.STATUS_VALID:  # proved already: the authorization follows
                break
            if isinstance(body.chall, acme_challenges.DNS01):
                name = f"*.{identifier}" if authz.body.wildcard else identifier
                answers.append(ChallengeAnswer(name, body, session.dns01_value(body.chall)))
            elif isinstance(body.chall, acme_challenges.HTTP01):
                answers.append(ChallengeAnswer(identifier, body, session.key_authorization(body.chall),
                                               token=body.chall.encode("token")))
            break
        else:
            raise PsfInfraError(f"the CA offers no {challenge_type} challenge for {identifier}")
    return answers


def issue(job: CertificateJob, session: AcmeSession, dns: Dns01Publisher | None,
          existing: Existing) -> tuple[CertificateFacts, list[dict], list[str]]:
    """Order and write a new certificate; returns its facts, the challenges answered and warnings."""
    session.ensure_account()
    if (job.reuse_key and existing.key is not None and keys.key_type_of(existing.key) == job.key_type
            and not existing.key_is_compromised(existing.key)):  # a compromised key is never reused
        private_key = existing.key
    else:
        private_key = keys.generate_key(job.key_type)
    order = session.new_order(keys.build_csr(private_key, job.names))
    answers = _collect_answers(session, order, job.challenge)
    published: list[dict] = []
    webroot_files: list[str] = []

    def clean_up() -> list[str]:
        warnings = dns.remove(published) if dns is not None and published else []
        return warnings + _http01_remove(webroot_files)

    try:
        if job.challenge == DNS01:
            if dns is None:
                raise PsfInfraError("dns-01 needs the DNS settings (dns_servers, tsig key)")
            try:
                published = dns.publish(answers)
            except PublishError as error:
                published = error.published
                raise error.cause if isinstance(error.cause, BackendUnavailable) else error from None
            dns.wait_until_served(published, session.deadline)
        else:
            _http01_publish(job, answers, webroot_files)
        for answer in answers:
            session.answer(answer.challenge_body)
        session.wait_authorizations(order)
        fullchain = session.finalize(order)
    except PsfInfraError as error:
        warnings = clean_up()
        if warnings and isinstance(error, BackendUnavailable):  # keep its one line; the rest as a field
            error.fields["cleanup_warnings"] = warnings
        elif warnings:
            raise PsfInfraError(f"{error} (and while cleaning up: {'; '.join(warnings)})") from None
        raise
    except BaseException:
        clean_up()
        raise
    warnings = clean_up()
    answered = published or [{"name": answer.identifier, "type": HTTP01, "path": path}
                             for answer, path in zip(answers, webroot_files, strict=True)]
    return _write_certificate(job, private_key, fullchain), answered, warnings


def _write_certificate(job: CertificateJob, private_key, fullchain: str) -> CertificateFacts:
    blocks = split_pem_chain(fullchain)
    if not blocks:
        raise PsfInfraError("the CA returned no certificate")
    leaf = x509.load_pem_x509_certificate(blocks[0].encode("ascii"))
    if not keys.public_key_matches(private_key, leaf):
        raise PsfInfraError("the CA returned a certificate for another key; nothing was written")
    facts = certificate_facts(leaf)
    if facts.names != frozenset(job.names):
        raise PsfInfraError(f"the CA returned a certificate for {sorted(facts.names)} instead of "
                            f"{job.names}; nothing was written")
    os.makedirs(job.dest, mode=0o755, exist_ok=True)
    files.write_files_atomically({
        job.path(KEY_FILE): (keys.key_to_pem(private_key), 0o600),
        job.path(CERT_FILE): (blocks[0].encode("ascii"), 0o644),
        job.path(CHAIN_FILE): ("".join(blocks[1:]).encode("ascii"), 0o644),
        job.path(FULLCHAIN_FILE): ("".join(blocks).encode("ascii"), 0o644),
    })
    return facts


class SessionSource:
    """Opens the account session once, lazily (a no-op run never needs the CA), then clones it:
    one clone per certificate in parallel runs, each with its own time limit of ``timeout`` seconds."""

    def __init__(self, open_session, timeout: float = 120) -> None:
        self._open_session = open_session
        self._timeout = timeout
        self._session: AcmeSession | None = None
        self._error: PsfInfraError | None = None
        self._lock = threading.Lock()

    def base(self) -> AcmeSession:
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._session is None:
                try:
                    self._session = self._open_session()
                except PsfInfraError as error:
                    self._error = error
                    raise
            return self._session

    def for_thread(self, *, account: bool = True) -> AcmeSession:
        base = self.base()
        if account:
            with self._lock:
                base.ensure_account()
        return base.clone(Deadline(self._timeout, base.deadline.what))

    def for_revocation(self, *, cloned: bool) -> AcmeSession:
        """The session of the account key's existing account (found once, never created); a clone with its
        own time limit when ``cloned`` (parallel runs)."""
        base = self.base()
        with self._lock:
            base.find_account()
        return base.clone(Deadline(self._timeout, base.deadline.what)) if cloned else base


def ensure_certificate(job: CertificateJob, sessions: SessionSource, dns: Dns01Publisher | None, *,
                       check_mode: bool, use_ari: bool = True, cloned: bool = False,
                       caa_check: Callable[[list[str]], list[str]] | None = None,
                       now: datetime.datetime | None = None) -> Outcome:
    """Renew ``job``'s certificate if (and only if) it is due; in check mode, only say whether and why."""
    now = now or datetime.datetime.now(datetime.UTC)
    existing = read_existing(job)
    decision = decide(job, existing, now)
    notes: list[str] = []
    if not decision.renew and use_ari and existing.cert_pem:
        try:
            reader = sessions.for_thread(account=False) if cloned else sessions.base()
            if reader.offers_renewal_info:
                decision = decide(job, existing, now, reader.renewal_info_time(existing.cert_pem))
            else:
                notes.append("the CA offers no renewal information (ARI, RFC 9773): decided on dates alone")
        except PsfInfraError as error:
            notes.append(f"renewal information not checked: {error}")
    if not decision.renew:
        return Outcome(False, decision, existing.facts, notes)
    if caa_check is not None:
        notes.extend(caa_check(job.names))
    placements: list[dict] = []
    if job.challenge == DNS01:
        if dns is None:
            raise PsfInfraError("dns-01 needs the DNS settings (dns_servers and the TSIG key)")
        placements = dns.check_names(job.names, job.tenant)
    if existing.compromised is not None:
        notes.append(f"the key of the certificate in {job.dest} is recorded as compromised in "
                     f"{compromised.marker_path(job.dest)} ({compromised.describe(existing.compromised)})")
    if check_mode:
        return Outcome(True, decision, existing.facts, notes, placements)
    if decision.reason == KEY_COMPROMISED_PLAN:
        decision = RenewalDecision(True, KEY_COMPROMISED_DONE)
    session = sessions.for_thread() if cloned else sessions.base()
    before = dict(session.net.retries)
    facts, answered, warnings = issue(job, session, dns, existing)
    retries = {code: count - before.get(code, 0) for code, count in session.net.retries.items()
               if count > before.get(code, 0)}
    return Outcome(True, decision, facts, notes + warnings, answered, retries)
