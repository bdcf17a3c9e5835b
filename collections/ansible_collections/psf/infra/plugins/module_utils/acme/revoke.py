# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Revoking the certificate in a directory at the ACME CA (RFC 8555 section 7.6), idempotently.

What is revoked is ``<dest>/cert.pem``, whatever its names. Nothing there, or an expired certificate,
is nothing to revoke (no request). The request is signed with the account key (the account that
ordered the certificate: the CA refuses another one); a CA answering ``alreadyRevoked`` is no change.
Check mode reads the file and the account key and sends nothing. The files are never touched: removing
them is the caller's (playbooks/offboard.yml removes them once every revocation succeeded).

``keyCompromise`` is different: the request is signed with the certificate's own private key
(``<dest>/privkey.pem``, checked against the certificate before anything is sent; no account), and the
key is then recorded as compromised in ``<dest>/key-compromised.json`` (module_utils/acme/compromised.py),
which ``state: present`` honours with a new key and certificate. A certificate already in that record is
no change and needs neither the key nor the CA.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.acme import compromised, files, keys
from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import certificate_facts
from ansible_collections.psf.infra.plugins.module_utils.acme.issue import (
    CERT_FILE,
    CHAIN_FILE,
    FULLCHAIN_FILE,
    KEY_FILE,
    SessionSource,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import KEY_COMPROMISE, REVOCATION_REASONS
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, PsfInfraError

try:
    from cryptography import x509
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True

DEFAULT_REASON = "unspecified"


@dataclass
class RevocationJob:
    """One certificate to revoke: the one in ``dest``; ``tenant`` and ``name`` only name it in messages."""

    dest: str
    reason: str = DEFAULT_REASON
    tenant: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REVOCATION_REASONS:
            raise PsfInfraError(f"{self.dest}: unknown revocation reason {self.reason!r}; use one of "
                                f"{', '.join(REVOCATION_REASONS)}")
        self.name = self.name or os.path.basename(os.path.normpath(self.dest))

    def path(self, filename: str) -> str:
        return os.path.join(self.dest, filename)

    def what(self, serial: str | None = None) -> str:
        """``the certificate web of tenant packaging (/srv/.../web/cert.pem, serial 1f2e)``."""
        owner = f" of tenant {self.tenant}" if self.tenant else ""
        detail = self.path(CERT_FILE) + (f", serial {serial}" if serial else "")
        return f"the certificate {self.name}{owner} ({detail})"


@dataclass
class RevocationOutcome:
    changed: bool
    revoked: bool
    reason: str
    facts: Any = None
    notes: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)

    def as_dict(self, job: RevocationJob) -> dict:
        result = {
            "changed": self.changed,
            "revoked": self.revoked,
            "reason": self.reason,
            "revocation_reason": job.reason,
            "name": job.name,
            "tenant": job.tenant,
            "files": {kind: job.path(name) for kind, name in (
                ("key", KEY_FILE), ("cert", CERT_FILE), ("chain", CHAIN_FILE), ("fullchain", FULLCHAIN_FILE))},
            "certificate": self.facts.as_dict() if self.facts else None,
            "notes": self.notes,
            "acme_retries": self.retries,
        }
        if job.reason == KEY_COMPROMISE:
            result["compromised_key_record"] = compromised.marker_path(job.dest)
        return result


def naming(error: PsfInfraError, what: str) -> PsfInfraError:
    """``error`` naming the certificate it concerns; a server that is down stays its own kind, in one line."""
    if isinstance(error, BackendUnavailable):
        return type(error)(error.server, f"{error.tried} (to revoke {what})", error.reason, error.check,
                           **error.fields)
    return PsfInfraError(f"{what}: {error}", **error.fields)


def revoke_certificate(job: RevocationJob, sessions: SessionSource, *, check_mode: bool, cloned: bool = False,
                       account_key_check: Callable[[], Any] | None = None,
                       key_sessions: Callable[[Any], Any] | None = None,
                       now: datetime.datetime | None = None) -> RevocationOutcome:
    """Revoke the certificate in ``job.dest`` unless there is none, it expired, or the CA has it revoked."""
    now = now or datetime.datetime.now(datetime.UTC)
    cert_path = job.path(CERT_FILE)
    pem = files.read_or_none(cert_path)
    if pem is None:
        return RevocationOutcome(False, False, f"no certificate in {job.dest}: nothing to revoke")
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PsfInfraError(f"{job.what()}: {cert_path} is not a PEM certificate; nothing was revoked") from None
    facts = certificate_facts(certificate)
    if job.reason == KEY_COMPROMISE:
        return revoke_for_key_compromise(job, certificate, facts, key_sessions, check_mode=check_mode, now=now)
    if facts.not_after <= now:
        return RevocationOutcome(False, False, f"expired on {facts.not_after.isoformat()}: nothing to revoke",
                                 facts)
    what = job.what(facts.serial)
    if check_mode:
        try:
            if account_key_check is not None:
                account_key_check()  # read locally: a plan that could not be carried out says so now
        except PsfInfraError as error:
            raise naming(error, what) from None
        return RevocationOutcome(True, True, f"would be revoked at the CA ({job.reason}); nothing was sent",
                                 facts)
    try:
        session = sessions.for_revocation(cloned=cloned)
        before = dict(session.net.retries)
        revoked = session.revoke(certificate, REVOCATION_REASONS[job.reason], f"revoking {what}")
    except PsfInfraError as error:  # the revocation's own messages name the certificate already
        raise error if what in str(error) else naming(error, what) from None
    retries = {code: count - before.get(code, 0) for code, count in session.net.retries.items()
               if count > before.get(code, 0)}
    if revoked:
        return RevocationOutcome(True, True, f"revoked at the CA ({job.reason})", facts, retries=retries)
    return RevocationOutcome(False, False, "already revoked at the CA (it answered alreadyRevoked): nothing to do",
                             facts, retries=retries)


def certificate_key(job: RevocationJob, certificate: x509.Certificate, what: str):
    """The certificate's own private key (``<dest>/privkey.pem``), checked against the certificate; every
    failure names the tenant, the certificate and the key file, and comes before any request."""
    path = job.path(KEY_FILE)
    why = "keyCompromise is signed with the certificate's own key; nothing was sent"
    try:
        pem = files.read_or_none(path)
    except OSError as error:
        raise PsfInfraError(f"{what}: its private key {path} cannot be read ({error.strerror}); {why}") from None
    if pem is None:
        raise PsfInfraError(f"{what}: its private key {path} does not exist; {why}")
    try:
        private_key = keys.load_key(pem, what=f"its private key {path}")
    except PsfInfraError as error:
        raise PsfInfraError(f"{what}: {error}; {why}") from None
    key_type = keys.key_type_of(private_key)
    if key_type not in keys.KEY_TYPES:
        raise PsfInfraError(f"{what}: its private key {path} is a {key_type} key, which this module does not "
                            f"sign with (one of {', '.join(keys.KEY_TYPES)}); nothing was sent")
    if not keys.public_key_matches(private_key, certificate):
        raise PsfInfraError(f"{what}: the private key {path} does not match the certificate (their public keys "
                            f"differ); {why}")
    return private_key


def revoke_for_key_compromise(job: RevocationJob, certificate: x509.Certificate, facts: Any,
                              key_sessions: Callable[[Any], Any] | None, *, check_mode: bool,
                              now: datetime.datetime) -> RevocationOutcome:
    """Revoke with the certificate's own key (a JWS with its ``jwk``, no account), then record the key as
    compromised in ``<dest>/key-compromised.json``. Already recorded: no change, no key read, no request."""
    what = job.what(facts.serial)
    marker = compromised.marker_path(job.dest)
    try:
        known = compromised.find(compromised.read_entries(job.dest), serial=facts.serial)
    except PsfInfraError as error:
        raise naming(error, what) from None
    if known is not None:
        return RevocationOutcome(False, False, f"already revoked for keyCompromise ({compromised.describe(known)}, "
                                               f"recorded in {marker}): nothing to do", facts)
    entry = {"serial": facts.serial, "reason": KEY_COMPROMISE, "revoked_at": now.isoformat(timespec="seconds"),
             "public_key_sha256": compromised.public_key_sha256(certificate.public_key()),
             "names": sorted(facts.names)}
    if facts.not_after <= now:  # nothing to send, but the key must still never be used again
        if check_mode:
            return RevocationOutcome(True, False, f"expired on {facts.not_after.isoformat()}: nothing to revoke at "
                                                  f"the CA; its key would be recorded as compromised in {marker}",
                                     facts)
        record(job, {**entry, "ca": "not sent: expired"}, what, "")
        return RevocationOutcome(True, False, f"expired on {facts.not_after.isoformat()}: nothing to revoke at the "
                                              f"CA; its key is recorded as compromised in {marker}", facts)
    private_key = certificate_key(job, certificate, what)
    if check_mode:
        return RevocationOutcome(True, True, "would be revoked at the CA (keyCompromise, signed with the "
                                             "certificate's own key); nothing was sent", facts)
    if key_sessions is None:
        raise PsfInfraError(f"{what}: no CA session for a revocation signed with the certificate's key")
    try:
        session = key_sessions(private_key)
        revoked = session.revoke(certificate, REVOCATION_REASONS[KEY_COMPROMISE],
                                 f"revoking {what} (signed with its own key)")
    except PsfInfraError as error:
        raise error if what in str(error) else naming(error, what) from None
    retries = dict(session.net.retries)
    if revoked:
        record(job, {**entry, "ca": "revoked"}, what, "it was revoked at the CA")
        return RevocationOutcome(True, True, f"revoked at the CA (keyCompromise, signed with the certificate's own "
                                             f"key); the key is recorded as compromised in {marker}", facts,
                                 retries=retries)
    record(job, {**entry, "ca": "alreadyRevoked"}, what, "the CA had it revoked already")
    return RevocationOutcome(True, False, f"already revoked at the CA (it answered alreadyRevoked); the key is now "
                                          f"recorded as compromised in {marker}", facts, retries=retries)


def record(job: RevocationJob, entry: dict, what: str, done: str) -> None:
    try:
        compromised.record(job.dest, entry)
    except (OSError, PsfInfraError) as error:
        detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        head = f"{done}, but" if done else "nothing was sent, but"
        raise PsfInfraError(f"{what}: {head} recording its key as compromised in "
                            f"{compromised.marker_path(job.dest)} failed ({detail}); run the revocation again "
                            f"(no certificate with this key may be ordered until it is recorded)") from None
