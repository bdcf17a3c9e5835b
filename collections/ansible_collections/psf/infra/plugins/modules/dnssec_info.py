#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dnssec_info
short_description: Validate zones' DNSSEC chains of trust from a trust anchor down to each zone
version_added: 0.1.0
description:
  - Walks from the root servers down to O(zone), zone cut by zone cut, with dnspython, asking the
    authoritative servers directly (IP addresses only, never the system resolver).
  - At each cut, the zone's DNSKEY rrset must hold a key matching the DS its parent serves (the trust
    anchor at the root) and be signed by it; the DS of the next cut must be signed by the zone's
    keys; a delegation without DS must be proven by a signed NSEC or NSEC3 record. At the end, the
    zone's SOA must be signed by its keys.
  - Returns RV(status) C(secure), C(insecure) or C(bogus), with RV(reason) naming the zone cut and
    the record, the chain, and the earliest signature expiry on the way.
  - The name servers on the way are reached at O(nameserver_addresses), else at the glue of the
    referral, else at the addresses found by following referrals from the root servers.
  - A name that is not a delegated zone (NXDOMAIN, or no delegation at its parent), or a server
    that does not answer, fails the task with a message saying which.
  - The list form (O(zones) instead of O(zone)) checks many zones in one task, in O(workers)
    threads of one module process, and returns RV(zones), one item a zone in the order given. A zone
    that could not be checked has C(failed) and C(msg) in its item; every other zone is still
    checked, and the task then fails naming every such zone, with every item returned (a playbook
    decides with C(failed_when) which of them matter, as C(playbooks/domains.yml) does).
  - See C(docs/dnssec.md).
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.registrar.walk
  - psf.infra.dns_server.info_attributes
requirements:
  - dnspython >= 2.6
  - cryptography
options:
  zone:
    description:
      - The zone whose chain of trust is checked, for example C(infra.test.).
      - Exactly one of O(zone) and O(zones) is given.
    type: str
  zones:
    description:
      - The list form - the zones whose chains of trust are checked, with the same O(trust_anchor),
        O(root_servers) and O(nameserver_addresses). Results in RV(zones).
    type: list
    elements: str
  workers:
    description: With O(zones), how many zones are checked at the same time (threads, 1 to 64).
    type: int
    default: 8
  trust_anchor:
    description:
      - A file with the root's DNSKEY or DS records in zone-file format (the lab writes
        C(.lab/trust-anchor/root.key), Ansible variable C(psf_lab_trust_anchor.root_key)).
      - When left out, the root anchors IANA publishes (KSK-2017, key tag 20326, and KSK-2024, key
        tag 38696, as DS records built into the module).
    type: path
seealso:
  - module: psf.infra.domain_info
"""

EXAMPLES = r"""
- name: Is infra.test. validated from the lab root?
  psf.infra.dnssec_info:
    zone: infra.test.
    trust_anchor: "{{ psf_lab_trust_anchor.root_key }}"
    root_servers: [{server: 127.0.0.1, port: 5300}]
    nameserver_addresses:
      - {name: ns1.infra.test, address: 127.0.0.1, port: 5301}
      - {name: ns2.infra.test, address: 127.0.0.1, port: 5302}
  register: chain

- name: Fail when it is not secure
  ansible.builtin.assert:
    that: chain.status == 'secure'
    fail_msg: "{{ chain.reason }}"

- name: Every zone we sign, in one task (the list form)
  psf.infra.dnssec_info:
    zones: [infra.test., packaging.test.]
    trust_anchor: "{{ psf_lab_trust_anchor.root_key }}"
    root_servers: [{server: 127.0.0.1, port: 5300}]
  register: chains
  # a zone that could not be checked is reported in its item; fail only for those that matter
  failed_when: chains.zones | default([]) | selectattr('failed', 'defined') | list | length > 0

- name: python.org from the real root, with IANA's anchors
  psf.infra.dnssec_info:
    zone: python.org
"""

RETURN = r"""
zones:
  description:
    - The list form - one item a zone of O(zones), in the same order - C(name) (as given) and the
      keys below (RV(zone), RV(status), RV(reason), RV(chain), RV(earliest_signature_expiry),
      RV(days_to_signature_expiry)); or, for a zone that could not be checked, C(zone), C(failed)
      (true), C(msg) and C(error).
  returned: with O(zones)
  type: list
  elements: dict
  sample: [{name: packaging.test, zone: packaging.test., status: secure, reason: "...", chain: []}]
zone:
  description: The zone, absolute.
  returned: with O(zone)
  type: str
  sample: infra.test.
status:
  description: C(secure), C(insecure) (a delegation on the way has no DS, proven by its parent) or C(bogus).
  returned: with O(zone)
  type: str
  sample: secure
reason:
  description: Why it is bogus or insecure, naming the zone cut and the record; for C(secure), the path validated.
  returned: with O(zone)
  type: str
  sample: "test. DS bad.test.: no valid signature (RRSIG by key 4711 (algorithm 13) expired at 2026-01-01T00:00:00Z)"
chain:
  description:
    - One entry per zone cut from the root down, as far as the walk went.
    - C(zone); C(ds), the DS records that vouch for it (the trust anchor's at the root; empty for an
      insecure delegation); C(dnskeys), its keys as C({key_tag, flags, algorithm}); C(validated_by),
      the key tag whose RRSIG validated its DNSKEY rrset (null when it was not validated);
      C(signature_expiry), the earliest expiry (ISO 8601, UTC) of its RRSIGs that were validated.
  returned: with O(zone)
  type: list
  elements: dict
  sample:
    - {zone: ., ds: ["35561 13 2 7e20..."], dnskeys: [{key_tag: 35561, flags: 257, algorithm: 13}],
       validated_by: 35561, signature_expiry: "2026-12-17T19:00:00Z"}
earliest_signature_expiry:
  description: The earliest expiry (ISO 8601, UTC) of the RRSIGs validated on the way, or null.
  returned: with O(zone)
  type: str
days_to_signature_expiry:
  description: Days (fractional) until RV(earliest_signature_expiry), or null.
  returned: with O(zone)
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.errors import ItemsFailed, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.parallel import WORKERS_OPTION
from ansible_collections.psf.infra.plugins.module_utils.registrar.options import WALK

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.chain import check_zones, checker_from_params
except ImportError as error:  # dnspython (or cryptography) missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

# root_servers, nameserver_addresses and timeout: the same options as psf.infra.domain_info's
ARGUMENT_SPEC = WALK.merge(ArgumentSpec({
    "zone": {"type": "str"},
    "zones": {"type": "list", "elements": "str"},
    **WORKERS_OPTION,
    "trust_anchor": {"type": "path"},
}, mutually_exclusive=[["zone", "zones"]], required_one_of=[["zone", "zones"]]))


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("dnspython (2.6 or later) and cryptography"),
                         exception=str(IMPORT_ERROR))
    with fail_on_errors(module, changed=False):
        if module.params["zones"] is not None:
            result, failure = check_zones(module.params)
        else:
            checked = checker_from_params(module.params).check(module.params["zone"])
            result, failure = {"changed": False, **checked.as_dict()}, None
        if failure is not None:  # some zones could not be checked: every zone's item goes with the message
            raise ItemsFailed(failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
