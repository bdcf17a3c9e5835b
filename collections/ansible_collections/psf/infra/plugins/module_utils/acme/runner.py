# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""From the module's options to jobs and their results (no Ansible imports: testable on its own)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.psf.infra.plugins.module_utils.acme import files, keys
from ansible_collections.psf.infra.plugins.module_utils.acme.caa import check_caa
from ansible_collections.psf.infra.plugins.module_utils.acme.dns01 import (
    DelegationRequired,
    ResolverLookup,
    Rfc2136Dns01,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.issue import (
    DNS01,
    CertificateJob,
    SessionSource,
    ensure_certificate,
    read_existing,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import KEY_COMPROMISE, AcmeSession, Deadline
from ansible_collections.psf.infra.plugins.module_utils.acme.revoke import (
    DEFAULT_REASON,
    RevocationJob,
    revoke_certificate,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput, PsfInfraError

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (
        address_and_port,
        tsig_from_params,
    )
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True

#: options that may differ per entry of ``certificates``
MODULE_PARAMS_PER_CERTIFICATE = ("names", "dest", "key_type", "reuse_key", "renew_before_days", "force",
                                 "challenge", "webroot", "tenant", "revoke_reason")


@dataclass
class Environment:
    sessions: SessionSource
    dns: Rfc2136Dns01 | None
    use_ari: bool
    caa_check: Callable[[list[str]], list[str]] | None = None


ACCOUNT_KEY_OPTIONS = "acme_account_key_path or acme_account_key_content"


def load_account_key(params: dict, *, check_mode: bool):
    """The account key from the vault content or the key file (created 0600 when missing)."""
    if not params.get("acme_account_key_content") and not params.get("acme_account_key_path"):
        raise InvalidInput(f"one of {ACCOUNT_KEY_OPTIONS} is required", field="acme_account_key_path")
    if params.get("acme_account_key_content"):
        return keys.load_key(params["acme_account_key_content"].encode("utf-8"), what="acme_account_key_content")
    path = params["acme_account_key_path"]
    pem = files.read_or_none(path)
    if pem is not None:
        return keys.load_key(pem, what=f"the ACME account key {path}")
    account_key = keys.generate_key("ecdsa-p256")
    if not check_mode:  # check mode only reads (directory, ARI): an unsaved key is never used to sign
        files.write_files_atomically({path: (keys.key_to_pem(account_key), 0o600)})
    return account_key


def existing_account_key(params: dict):
    """The account key for a revocation: never created (a new key has no account that ordered anything)."""
    if not params.get("acme_account_key_content") and not params.get("acme_account_key_path"):
        raise InvalidInput(f"one of {ACCOUNT_KEY_OPTIONS} is required to revoke for this reason (only "
                           f"keyCompromise is signed with the certificate's own key); nothing was revoked",
                           field="acme_account_key_path")
    if params.get("acme_account_key_content"):
        return keys.load_key(params["acme_account_key_content"].encode("utf-8"), what="acme_account_key_content")
    path = params["acme_account_key_path"]
    pem = files.read_or_none(path)
    if pem is None:
        raise InvalidInput(f"the ACME account key {path} does not exist: a certificate can only be revoked with "
                           f"the key of the account that ordered it; nothing was revoked",
                           field="acme_account_key_path")
    return keys.load_key(pem, what=f"the ACME account key {path}")


def build_dns(params: dict) -> Rfc2136Dns01 | None:
    """The DNS-01 publisher of ``dns_servers``, ``dns_resolver`` and the ``dns_tsig_*`` key, or None.

    Addresses are checked by the DNS modules' own rule (``dns/module_support.py``): IP literals only.
    """
    servers = params.get("dns_servers") or []
    resolver = params.get("dns_resolver")
    if not servers or not resolver:
        return None
    tsig = tsig_from_params(params, "dns_")
    if tsig is None:
        raise InvalidInput("a TSIG key is needed to publish DNS-01 records", field="dns_tsig_key_file")
    timeout = 10.0  # a signed zone's UPDATE on a busy server can take seconds
    addresses = [address_and_port(server, f"dns_servers[{index}]") for index, server in enumerate(servers)]
    primary = DnsServer(*addresses[0], tsig=tsig, timeout=timeout, role="primary name server")
    others = [DnsServer(*address, timeout=timeout, role="secondary name server") for address in addresses[1:]]
    lookup = ResolverLookup(*address_and_port(resolver, "dns_resolver"))
    return Rfc2136Dns01(primary, [primary, *others], lookup, acme_zone=params.get("acme_zone"))


def build_environment(params: dict, *, check_mode: bool) -> Environment:
    account_key = load_account_key(params, check_mode=check_mode)
    deadline = Deadline(params.get("timeout") or 120, "psf.infra.certificate")

    def open_session() -> AcmeSession:
        return AcmeSession(params["acme_directory"], account_key, ca_bundle=params.get("acme_ca_bundle"),
                           email=params.get("acme_account_email"), deadline=deadline)

    dns = build_dns(params)
    caa = None
    if params.get("acme_caa_identities"):
        resolver = params.get("dns_resolver")
        if not resolver:
            raise InvalidInput("checking CAA needs dns_resolver", field="acme_caa_identities")
        lookup = dns.lookup if dns is not None else ResolverLookup(*address_and_port(resolver, "dns_resolver"))
        identities = list(params["acme_caa_identities"])

        def caa(names: list[str]) -> list[str]:
            return check_caa(lookup.resolver, names, identities)

    sessions = SessionSource(open_session, timeout=params.get("timeout") or 120)
    return Environment(sessions, dns, params.get("acme_ari", True), caa)


def job_from_params(params: dict, *, field: str) -> CertificateJob:
    prefix = f"{field}." if field else ""
    if not params.get("names"):
        raise InvalidInput("names is required", field=f"{prefix}names")
    if not params.get("dest"):
        raise InvalidInput("dest is required", field=f"{prefix}dest")
    key_type = params.get("key_type") or keys.DEFAULT_KEY_TYPE
    if key_type not in keys.KEY_TYPES:
        raise InvalidInput(f"unknown key type {key_type!r}; use one of {', '.join(keys.KEY_TYPES)}",
                           field=f"{prefix}key_type")
    challenge = params.get("challenge") or DNS01
    return CertificateJob(
        names=list(params["names"]), dest=os.path.abspath(os.path.expanduser(params["dest"])),
        key_type=key_type, reuse_key=bool(params.get("reuse_key")),
        renew_before_days=params.get("renew_before_days"), force=bool(params.get("force")),
        challenge=challenge, webroot=params.get("webroot"), tenant=params.get("tenant"),
    )


def run_job(job: CertificateJob, environment: Environment, *, check_mode: bool, cloned: bool) -> dict:
    """Ensure one certificate; the result (and its diff) as the module returns it."""
    if job.challenge == DNS01 and environment.dns is None:
        raise InvalidInput("dns-01 needs dns_servers, dns_resolver and a TSIG key", field="dns_servers")
    existing = read_existing(job)
    before = existing.facts.as_dict() if existing.facts is not None else {}
    try:
        outcome = ensure_certificate(job, environment.sessions, environment.dns, check_mode=check_mode,
                                     use_ari=environment.use_ari, cloned=cloned,
                                     caa_check=environment.caa_check)
    except (DelegationRequired, BackendUnavailable):  # they name what to fix; the result names the certificate
        raise
    except PsfInfraError as error:
        raise PsfInfraError(f"{', '.join(job.names)}: {error}") from None
    result = outcome.as_dict(job)
    after = before
    if outcome.changed:
        after = {"names": sorted(job.names), "key_type": job.key_type, "renewal": outcome.decision.reason}
        if not check_mode and outcome.facts is not None:
            after = {**outcome.facts.as_dict(), "renewal": outcome.decision.reason}
    result["diff"] = {"before": before, "after": after}
    return result


@dataclass
class RevocationEnvironment:
    sessions: SessionSource
    account_key: Callable[[], object]
    #: a session signing with a certificate's own private key (no account: a ``jwk`` JWS), for keyCompromise
    key_sessions: Callable[[object], AcmeSession] | None = None


def build_revocation_environment(params: dict) -> RevocationEnvironment:
    """The account key is read when first needed (nothing to revoke needs no key and no CA), then kept."""
    loaded: list = []

    def account_key():
        if not loaded:
            loaded.append(existing_account_key(params))
        return loaded[0]

    deadline = Deadline(params.get("timeout") or 120, "psf.infra.certificate")

    def open_session() -> AcmeSession:
        return AcmeSession(params["acme_directory"], account_key(), ca_bundle=params.get("acme_ca_bundle"),
                           email=params.get("acme_account_email"), deadline=deadline)

    directories: list = []  # the directory, read once and shared by the sessions of every certificate
    directory_lock = threading.Lock()

    def key_session(private_key) -> AcmeSession:
        with directory_lock:
            directory = directories[0] if directories else None
        session = AcmeSession(params["acme_directory"], private_key, ca_bundle=params.get("acme_ca_bundle"),
                              email=None, deadline=Deadline(params.get("timeout") or 120, "psf.infra.certificate"),
                              directory=directory)
        with directory_lock:
            if not directories:
                directories.append(session.directory)
        return session

    return RevocationEnvironment(SessionSource(open_session, timeout=params.get("timeout") or 120), account_key,
                                 key_session)


def revocation_job_from_params(params: dict, *, field: str) -> RevocationJob:
    prefix = f"{field}." if field else ""
    if not params.get("dest"):
        raise InvalidInput("dest is required", field=f"{prefix}dest")
    try:
        return RevocationJob(dest=os.path.abspath(os.path.expanduser(params["dest"])),
                             reason=params.get("revoke_reason") or DEFAULT_REASON, tenant=params.get("tenant"),
                             name=params.get("name"))
    except PsfInfraError as error:
        raise InvalidInput(str(error), field=f"{prefix}revoke_reason") from None


def run_revocation(job: RevocationJob, environment: RevocationEnvironment, *, check_mode: bool,
                   cloned: bool) -> dict:
    """Revoke one certificate; the result (and its diff) as the module returns it."""
    outcome = revoke_certificate(job, environment.sessions, check_mode=check_mode, cloned=cloned,
                                 account_key_check=environment.account_key, key_sessions=environment.key_sessions)
    result = outcome.as_dict(job)
    before = outcome.facts.as_dict() if outcome.facts is not None else {}
    after = before
    if outcome.changed:
        after = {**before, "revoked": job.reason}
        if job.reason == KEY_COMPROMISE:  # the key is never used again: the next state=present re-keys
            after["key"] = f"compromised (recorded in {result['compromised_key_record']}, never reused)"
    result["diff"] = {"before": before, "after": after}
    return result
