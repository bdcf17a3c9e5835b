#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Obtain, renew or revoke an ACME certificate in one task (DNS-01 over RFC 2136, or HTTP-01)
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
description:
  - Does the whole ACME (RFC 8555) flow for a list of names, wildcards included, in one task (the
    ACME account, the order, the challenges, finalization with a fresh CSR, download of the chain,
    and cleanup of the challenge answers whatever the outcome).
  - C(dns-01) publishes the C(_acme-challenge) TXT records with one RFC 2136 UPDATE per zone (TSIG),
    waits until B(every) server in O(dns_servers) serves them, then answers the challenges.
  - The zone of each name is the closest zone our primary serves (asked directly, no cache), confirmed
    through O(dns_resolver) (never the system resolver) to be the zone the world sees. When our
    primary does not serve the name, the tenant's C(_acme-challenge.<name>) must be a CNAME to
    C(<label>.<tenant>.<acme_zone>) (the acme-dns delegation pattern); when it is not, the task fails
    before ordering, naming the exact record to create (RV(delegation_records)).
  - C(http-01) writes the answer under O(webroot)C(/.well-known/acme-challenge/) and removes it after.
  - "Idempotent: a certificate is ordered only when there is none, its key is recorded as compromised
    (C(key-compromised.json), see O(revoke_reason)), its names or key type differ, the key does not match,
    it is within O(renew_before_days) of expiry (default: the last third of its lifetime), or the CA's
    renewal information (ARI, RFC 9773) says so when the CA offers it."
  - Nothing in O(dest) changes until a complete certificate matching the key and the names is in
    hand; the files are then replaced atomically (temporary file and rename). The old certificate stays
    if anything fails.
  - Retries C(badNonce) and rate-limit answers (honouring C(Retry-After)); gives up after O(timeout)
    seconds with a message saying what it was waiting for.
  - Runs on the control node (C(localhost)). O(certificates) processes many certificates with one
    account, in parallel (the daily renewal playbook uses it).
  - O(state=revoked) revokes the certificate in O(dest) (its C(cert.pem)) at the CA instead (RFC 8555
    section 7.6, C(revokeCert), signed with the account key, with O(revoke_reason)). The files stay in
    O(dest), the module never deletes them (playbooks/offboard.yml removes them once every revocation
    succeeded). No certificate in O(dest), or an expired one, is nothing to revoke; a certificate the CA
    answers C(alreadyRevoked) for is no change. The account key must be the one of the account that
    ordered the certificate; the module looks that account up and never creates one.
  - With O(revoke_reason=keyCompromise) the request is signed with the certificate's own private key
    (C(privkey.pem) in O(dest), a JWS with its C(jwk), no account and no account key), after checking that
    the key matches the certificate. The key is then recorded as compromised in
    C(key-compromised.json) in O(dest) (serial, reason, time, the SHA-256 of the public key; no secret), and
    a later O(state=present) on that O(dest) orders a new certificate with a new key (even with
    O(reuse_key)); a recorded key is never used again.
requirements:
  - acme
  - josepy
  - cryptography
  - dnspython
extends_documentation_fragment:
  - psf.infra.dns_server.acme
options:
  state:
    description:
      - V(present) obtains the certificate or renews it when due.
      - V(revoked) revokes the certificate in O(dest) at the CA (a certificate is revoked for good, so this is
        the state of the certificate at the CA, not of the files, which are left in place). O(names) and the
        DNS and challenge options are not needed then.
    type: str
    choices: [present, revoked]
    default: present
  revoke_reason:
    description:
      - With O(state=revoked), the reason sent to the CA (RFC 5280 reason codes 0, 1, 3, 4 and 5).
      - V(keyCompromise) (1) is signed with the certificate's own private key (C(privkey.pem) in O(dest),
        which must match the certificate; a missing, unreadable or other key fails before anything is sent)
        and needs no account key; Let's Encrypt accepts this reason only so. The key is recorded as
        compromised in C(key-compromised.json) in O(dest), and the next O(state=present) orders a new
        certificate with a new key. A certificate already recorded there is no change (nothing is sent).
      - The other reasons are signed with the account key of the account that ordered the certificate.
    type: str
    choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation]
    default: unspecified
  names:
    description:
      - The names of the certificate (subject alternative names); the first is also the common name.
      - Wildcards (C(*.example.org)) need O(challenge=dns-01).
      - Required unless O(certificates) is given or O(state=revoked).
    type: list
    elements: str
  dest:
    description:
      - Directory receiving C(privkey.pem) (mode 0600), C(cert.pem), C(chain.pem) and
        C(fullchain.pem) (mode 0644). Created when missing.
      - Required unless O(certificates) is given.
    type: path
  key_type:
    description:
      - The certificate's key. A change of key type orders a new certificate.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096]
    default: ecdsa-p256
  reuse_key:
    description:
      - Keep the existing private key when renewing (when it is of O(key_type)). By default every
        renewal gets a fresh key.
      - A key recorded as compromised (O(revoke_reason=keyCompromise)) is never reused.
    type: bool
    default: false
  renew_before_days:
    description:
      - Renew when fewer days than this are left. By default, in the last third of the certificate's
        lifetime (30 days for a 90-day certificate).
    type: int
  force:
    description: Order a new certificate even when the current one is not due.
    type: bool
    default: false
  challenge:
    description: How control of the names is proven.
    type: str
    choices: [dns-01, http-01]
    default: dns-01
  webroot:
    description:
      - For O(challenge=http-01) the document root the names are served from (on this host).
    type: path
  tenant:
    description:
      - The tenant the certificate belongs to; names the delegation target for zones we do not host.
    type: str
  certificates:
    description:
      - Several certificates in one task, processed in parallel with one ACME account. Each entry takes
        O(names), O(dest) and optionally O(key_type), O(reuse_key), O(renew_before_days), O(force),
        O(challenge), O(webroot), O(tenant), O(revoke_reason) and C(name) (the certificate's name in messages,
        by default the last part of O(dest)); the top-level values are the defaults.
      - With O(state=revoked) an entry needs only O(dest).
      - Mutually exclusive with O(names).
    type: list
    elements: dict
  parallel:
    description: With O(certificates), how many orders run at the same time.
    type: int
    default: 8
  acme_directory:
    description: The ACME directory URL (Let's Encrypt in production, pebble in the lab).
    type: str
    required: true
  acme_ca_bundle:
    description: CA certificates to verify the ACME server's HTTPS with (pebble's own CA in the lab).
    type: path
  acme_account_key_path:
    description:
      - File holding the ACME account's private key (PEM). Created with mode 0600 (ECDSA P-256) when
        missing (never for O(state=revoked)).
      - One of O(acme_account_key_path) and O(acme_account_key_content) is required, except for a revocation
        with O(revoke_reason=keyCompromise) (signed with the certificate's key).
    type: path
  acme_account_key_content:
    description: The ACME account's private key itself (PEM), for example from ansible-vault.
    type: str
  acme_account_email:
    description: Contact address of the ACME account.
    type: str
  acme_caa_identities:
    description:
      - Issuer domains of the CA as written in CAA records (C(letsencrypt.org) for Let's Encrypt).
      - When given, the CAA records of every name (RFC 8659, looked up through O(dns_resolver)) are
        checked before ordering, and a name whose CAA does not allow one of them fails the task
        before anything is ordered, naming the record. The CA checks CAA again itself.
    type: list
    elements: str
  acme_ari:
    description:
      - Ask the CA's renewal information (ARI, RFC 9773) whether to renew early, when the directory
        offers C(renewalInfo). When it does not, the decision rests on dates and a note says so.
    type: bool
    default: true
  acme_zone:
    description:
      - Our zone (or subtree of a zone we host) holding the delegated C(_acme-challenge) answers of
        tenants whose DNS is hosted elsewhere, for example C(acme.infra.example.org).
    type: str
  timeout:
    description:
      - Seconds one certificate may take (DNS propagation, validation, issuance) before it gives up
        with a message saying what it was waiting for. With O(certificates), each one has this limit.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description:
      - Reports whether each certificate would be renewed and why, and where its challenge records
        would go (or which delegation records are missing); contacts the CA only for ARI.
      - With O(state=revoked), reads the certificate and the account key and says which certificate would
        be revoked; sends nothing to the CA (so it cannot know whether the CA revoked it already).
      - With O(revoke_reason=keyCompromise), reads the certificate and its private key and checks that they
        match instead (no account key); a certificate already recorded in C(key-compromised.json) is no change.
      - "With O(state=present), a certificate whose key is recorded as compromised is reported as
        C(key compromised: a new key and certificate would be ordered)."
  diff_mode:
    support: full
    description:
      - Shows the current certificate's names, key type and dates against what would be ordered.
      - With O(state=revoked), the certificate before and with C(revoked) (the reason) after; with
        O(revoke_reason=keyCompromise) also C(key) (compromised, where it is recorded).
  idempotent:
    support: full
    description:
      - A certificate that is not due is left alone (C(changed=false)).
      - With O(state=revoked), no certificate in O(dest), an expired one, or one the CA answers
        C(alreadyRevoked) for, is C(changed=false).
      - With O(revoke_reason=keyCompromise), a certificate already recorded in C(key-compromised.json) is
        C(changed=false) without a request; recording a key (even of a certificate the CA had revoked already,
        or of an expired one, which is not sent) is a change.
notes:
  - The ACME account key and the certificate keys are never returned or logged; C(key-compromised.json) holds
    only the SHA-256 of the public key.
  - The TSIG secret and the account key content are C(no_log) options.
  - The role C(certificate_deploy) installs the certificates on the tenant's VMs and reloads what uses
    them; C(playbooks/certificates.yml) runs both daily.
seealso:
  - name: RFC 8555 (ACME)
    description: The protocol.
    link: https://www.rfc-editor.org/rfc/rfc8555
  - name: RFC 8555 section 7.6 (certificate revocation)
    description: The C(revokeCert) request of O(state=revoked).
    link: https://www.rfc-editor.org/rfc/rfc8555#section-7.6
  - name: RFC 9773 (ACME Renewal Information)
    description: How a CA suggests when to renew (used when its directory offers C(renewalInfo)).
    link: https://www.rfc-editor.org/rfc/rfc9773
"""

EXAMPLES = r"""
- name: Apex, www and wildcard in one certificate, through our DNS
  psf.infra.certificate:
    names: [packaging.test, www.packaging.test, "*.packaging.test"]
    dest: /srv/psf-infra/certificates/packaging/site
    tenant: packaging
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    acme_account_key_content: "{{ vault_acme_account_key }}"
    acme_account_email: infrastructure-staff@python.org
    dns_servers:
      - {address: 192.0.2.53}
      - {address: 198.51.100.53}
    dns_resolver: {address: 192.0.2.10}
    dns_tsig_key_name: staff-key
    dns_tsig_key_secret: "{{ vault_staff_tsig_secret }}"
    acme_zone: acme.infra.python.org
  delegate_to: localhost

- name: A tenant that keeps its own DNS (fails with the CNAME to create until it exists)
  psf.infra.certificate:
    names: [pyladies.example]
    dest: /srv/psf-infra/certificates/pyladies/site
    tenant: pyladies
    acme_zone: acme.infra.python.org
    acme_directory: "{{ psf_acme_directory }}"
    acme_account_key_path: /srv/psf-infra/acme/account.key
    dns_servers: "{{ psf_dns_servers }}"
    dns_resolver: "{{ psf_dns_resolver }}"
    dns_tsig_key_file: /etc/psf-infra/staff-key.key

- name: Revoke a leaving tenant's certificate (the files stay; remove them after)
  psf.infra.certificate:
    state: revoked
    revoke_reason: cessationOfOperation
    dest: /srv/psf-infra/certificates/pyladies/site
    tenant: pyladies
    acme_directory: "{{ psf_acme_directory }}"
    acme_account_key_path: /srv/psf-infra/acme/account.key
  delegate_to: localhost

- name: A certificate whose key leaked (signed with that key; the next run orders a new key and certificate)
  psf.infra.certificate:
    state: revoked
    revoke_reason: keyCompromise
    dest: /srv/psf-infra/certificates/pyladies/site
    tenant: pyladies
    acme_directory: "{{ psf_acme_directory }}"
  delegate_to: localhost

- name: Every tenant's certificates, one account, in parallel
  psf.infra.certificate:
    certificates: "{{ psf_tenants | psf.infra.tenant_certificates | map('combine', {'dest': ...}) }}"
    acme_directory: "{{ psf_acme_directory }}"
    acme_account_key_path: /srv/psf-infra/acme/account.key
    dns_servers: "{{ psf_dns_servers }}"
    dns_resolver: "{{ psf_dns_resolver }}"
    dns_tsig_key_file: /etc/psf-infra/staff-key.key
"""

RETURN = r"""
renewed:
  description: Whether a new certificate was obtained (in check mode, whether it would be).
  returned: single certificate, O(state=present)
  type: bool
revoked:
  description: Whether the certificate was revoked by this run (in check mode, whether it would be).
  returned: single certificate, O(state=revoked)
  type: bool
revocation_reason:
  description: The reason sent (or that would be sent) with the revocation.
  returned: single certificate, O(state=revoked)
  type: str
  sample: cessationOfOperation
compromised_key_record:
  description: The file recording compromised keys (C(key-compromised.json) in O(dest)).
  returned: single certificate, O(state=revoked) with O(revoke_reason=keyCompromise)
  type: str
reason:
  description: Why the certificate was (or would be) renewed or revoked, or why it was left alone.
  returned: single certificate
  type: str
  sample: "key type changed from ecdsa-p256 to rsa-2048"
names:
  description: The normalised names.
  returned: single certificate
  type: list
  elements: str
files:
  description: Paths of C(key), C(cert), C(chain) and C(fullchain).
  returned: single certificate
  type: dict
certificate:
  description: The certificate now in O(dest) (names, key_type, not_before, not_after, serial, issuer).
  returned: single certificate, when there is one
  type: dict
renewal_due:
  description: When the certificate kept becomes due for renewal.
  returned: when not renewed
  type: str
challenges:
  description: The TXT records published (zone, name, values) or planned in check mode, or the HTTP-01 files.
  returned: single certificate
  type: list
  elements: dict
acme_retries:
  description: How many requests were retried, by problem type (C(badNonce), C(rateLimited)...).
  returned: single certificate
  type: dict
  sample: {badNonce: 1}
notes:
  description: Remarks, for example that the CA offers no renewal information.
  returned: always
  type: list
  elements: str
delegation_records:
  description: The CNAME records the tenant must create in their own zone, when missing.
  returned: failure because of a missing delegation
  type: list
  elements: str
  sample: ["_acme-challenge.pyladies.example. CNAME pyladies-example-1f2e3d4c.pyladies.acme.infra.test."]
certificates:
  description: With O(certificates), one result as above per entry (and C(failed)/C(msg) for failures).
  returned: O(certificates) given
  type: list
  elements: dict
"""

import concurrent.futures

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.acme.deps import IMPORT_ERROR
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import REVOCATION_REASONS
from ansible_collections.psf.infra.plugins.module_utils.acme.revoke import DEFAULT_REASON
from ansible_collections.psf.infra.plugins.module_utils.acme.runner import (
    MODULE_PARAMS_PER_CERTIFICATE,
    build_environment,
    build_revocation_environment,
    job_from_params,
    revocation_job_from_params,
    run_job,
    run_revocation,
)
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import ACME_DNS
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import DEFAULT_KEY_TYPE, KEY_TYPES

# The DNS-01 options (dns_servers, dns_resolver, dns_tsig_*) are ACME_DNS, documented by the
# psf.infra.dns_server.acme doc fragment.
ARGUMENT_SPEC = ACME_DNS.merge(ArgumentSpec({
    "state": {"type": "str", "default": "present", "choices": ["present", "revoked"]},
    "revoke_reason": {"type": "str", "default": DEFAULT_REASON, "choices": list(REVOCATION_REASONS)},
    "names": {"type": "list", "elements": "str"},
    "dest": {"type": "path"},
    "key_type": {"type": "str", "default": DEFAULT_KEY_TYPE, "choices": list(KEY_TYPES)},
    "reuse_key": {"type": "bool", "default": False},
    "renew_before_days": {"type": "int"},
    "force": {"type": "bool", "default": False},
    "challenge": {"type": "str", "default": "dns-01", "choices": ["dns-01", "http-01"]},
    "webroot": {"type": "path"},
    "tenant": {"type": "str"},
    "certificates": {"type": "list", "elements": "dict"},
    "parallel": {"type": "int", "default": 8},
    "acme_directory": {"type": "str", "required": True},
    "acme_ca_bundle": {"type": "path"},
    "acme_account_key_path": {"type": "path", "no_log": False},
    "acme_account_key_content": {"type": "str", "no_log": True},
    "acme_account_email": {"type": "str"},
    "acme_caa_identities": {"type": "list", "elements": "str"},
    "acme_ari": {"type": "bool", "default": True},
    "acme_zone": {"type": "str"},
    "timeout": {"type": "int", "default": 120},
},
    mutually_exclusive=[("names", "certificates"), ("acme_account_key_path", "acme_account_key_content")],
    # names is checked by the present state (job_from_params): revoked needs dest alone; the account key is
    # checked by a revocation when its reason needs it (keyCompromise is signed with the certificate's key)
    required_one_of=[("names", "dest", "certificates")],
    required_if=[("state", "present", ("acme_account_key_path", "acme_account_key_content"), True)],
    required_by={"names": "dest"},
))


def run_batch(module: AnsibleModule) -> None:
    params = module.params
    revoking = params["state"] == "revoked"
    if revoking:
        environment = build_revocation_environment(params)
    else:
        environment = build_environment(params, check_mode=module.check_mode)
    entries = params["certificates"]
    results: list[dict] = [{} for _entry in entries]

    def one(index: int) -> None:
        entry = entries[index]
        unknown = sorted(set(entry) - set(MODULE_PARAMS_PER_CERTIFICATE) - {"name", "hosts"})
        if unknown:
            raise InvalidInput(f"unknown keys {', '.join(unknown)}", field=f"certificates[{index}]")
        if revoking:
            job = revocation_job_from_params({**params, **entry}, field=f"certificates[{index}]")
            results[index] = run_revocation(job, environment, check_mode=module.check_mode, cloned=True)
            return
        job = job_from_params({**params, **entry}, field=f"certificates[{index}]")
        results[index] = run_job(job, environment, check_mode=module.check_mode, cloned=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, params["parallel"])) as pool:
        futures = {pool.submit(one, index): index for index in range(len(entries))}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            error = future.exception()
            if error is not None:
                if not isinstance(error, PsfInfraError):  # a bug: the other certificates still go on
                    error = PsfInfraError(f"unexpected {type(error).__name__}: {error}")
                results[index] = error.failed_result(names=entries[index].get("names"),
                                                     dest=entries[index].get("dest"))
    failed = [result for result in results if result.get("failed")]
    changed = any(result.get("changed") for result in results)
    if failed:
        PsfInfraError(f"{len(failed)} of {len(results)} certificates failed: "
                      + " | ".join(f"{r.get('dest')}: {r['msg']}" for r in failed),
                      certificates=results).do_fail(module, changed=changed)
    extra = {}
    if revoking and module._diff:  # one diff for the task: each certificate's file, before and after
        revoked = [result for result in results if result.get("diff")]
        extra["diff"] = {side: {result["files"]["cert"]: result["diff"][side] for result in revoked}
                         for side in ("before", "after")}
    module.exit_json(changed=changed, certificates=results, **extra)


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("acme, josepy, cryptography and dnspython"),
                         exception=str(IMPORT_ERROR))
    with fail_on_errors(module):  # a DelegationRequired failure carries its delegation_records
        if module.params["certificates"] is not None:
            run_batch(module)
            return
        if module.params["state"] == "revoked":
            job = revocation_job_from_params(module.params, field="")
            result = run_revocation(job, build_revocation_environment(module.params), check_mode=module.check_mode,
                                    cloned=False)
        else:
            environment = build_environment(module.params, check_mode=module.check_mode)
            job = job_from_params(module.params, field="")
            result = run_job(job, environment, check_mode=module.check_mode, cloned=False)
    diff = result.pop("diff", None)
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
