#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_zone
short_description: Declare the records of one zone on a name server (AXFR + RFC 2136 UPDATE)
version_added: 0.1.0
description:
  - Reads the live zone from the primary with B(one) TSIG-signed zone transfer (AXFR), computes the
    difference with the declared rrsets (O(records)) or a BIND zone file (O(zone_file)), and applies it
    as RFC 2136 UPDATE messages over one TCP connection.
  - Changes are packed into as few messages as the 64 KiB limit allows (all changes of one owner name in
    the same message). Every message carries an SOA-serial prerequisite, so a change somebody else made
    after the zone was read makes the module fail with a clear message instead of overwriting it.
  - The SOA (serial, timers) and the DNSSEC records (DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, CDS,
    CDNSKEY, BIND's TYPE65534 signing state) belong to the name server and are never declared or touched.
  - Records that are not declared are left alone unless O(prune=true). Even then DNSSEC records, the
    SOA, C(_acme-challenge) names and the names in O(ignore) are kept.
  - For safety, updating or deleting more than O(max_update_percent) / O(max_delete_percent) of a zone of
    O(safety_min_rrsets) rrsets or more, or changing the apex NS set, is refused unless O(force=true).
  - Every record is validated before anything is sent; errors name O(tenant), O(source_file), the
    record and the field.
author:
  - PSF Infrastructure Working Group (@python)
requirements:
  - dnspython >= 2.6
  - netaddr
extends_documentation_fragment:
  - psf.infra.dns_server
  - psf.infra.dns_server.attributes
options:
  zone:
    description: The zone (origin), for example C(packaging.test).
    type: str
    required: true
  records:
    description:
      - The rrsets of the zone. Names are relative to the zone (C(@) is the apex) or absolute with a
        final dot. One entry per name and type, with all its values.
      - A TXT value that does not start with a double quote is the text itself and is split into
        255-byte strings as needed; one that starts with a double quote is zone-file syntax.
      - Mutually exclusive with O(zone_file).
    type: list
    elements: dict
    suboptions:
      name:
        description: Owner name.
        type: str
        required: true
      type:
        description: Record type (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS, PTR, DS, TLSA, SSHFP, HTTPS, SVCB, ...).
        type: str
        required: true
      ttl:
        description: TTL in seconds; O(default_ttl) when not given.
        type: int
      values:
        description: The record data, in zone-file syntax (C(10 mail.example.test.) for MX).
        type: list
        elements: str
        required: true
  zone_file:
    description:
      - Path of a BIND zone file (on the host running the module) to take the records from. Its SOA and
        DNSSEC records are ignored. Mutually exclusive with O(records).
    type: path
  default_ttl:
    description: TTL of records that do not give one.
    type: int
    default: 3600
  prune:
    description: Delete rrsets the declaration does not have (except the protected ones, see above).
    type: bool
    default: false
  ignore:
    description: Owner names that O(prune) never deletes (relative or absolute).
    type: list
    elements: str
    default: []
  force:
    description: Go ahead even when a safety threshold is exceeded or the apex NS set changes.
    type: bool
    default: false
  max_update_percent:
    description: Most rrsets (percent of the live zone) one run may update without O(force).
    type: float
    default: 30
  max_delete_percent:
    description: Most rrsets (percent of the live zone) one run may delete without O(force).
    type: float
    default: 30
  safety_min_rrsets:
    description: Zones with fewer rrsets than this are not subject to the percentage thresholds.
    type: int
    default: 10
  wait_for_secondaries:
    description:
      - Seconds to wait, after a change, until every server in O(secondaries) serves the new serial
        (C(0) only reports their serials).
    type: float
    default: 0
  report_changes:
    description:
      - At most this many rrsets of each kind (added, changed, deleted) are listed in RV(changes); the
        counts and the plan always cover all of them. Ansible handles a result of thousands of
        entries slowly, and the plan text already lists them.
    type: int
    default: 1000
  tenant:
    description: Tenant the zone belongs to; used in error messages.
    type: str
  source_file:
    description: File the records were declared in (the tenant file); used in error messages.
    type: str
  delegations:
    description:
      - The hosted zones inside this zone (served by O(delegations.nameservers)), delegated from it. Their NS
        rrset and, for a signed child, the SHA-256 DS of its secure entry points are managed records here
        (added to the declaration; a declared record at or below a child's name is refused).
      - A delegation to exactly O(delegations.nameservers) at a name not listed is stale (the child zone was
        removed) and is deleted with its DS, even without O(prune).
    type: dict
    suboptions:
      nameservers:
        description: Host names of the name servers that serve the hosted zones.
        type: list
        elements: str
        required: true
      zones:
        description: The child zones.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The child zone, inside O(zone).
            type: str
            required: true
          dnskeys:
            description:
              - DNSKEY record data (C(257 3 13 <base64>)) of the child's keys whose DS belongs here (its CDNSKEY
                set, see the C(psf.infra.zone_parent_keys) filter); the SHA-256 DS is made from the SEP keys among
                them. V([]) (an unsigned child) means no DS. Not given (keys not known, as in check mode before the
                child exists), the DS served now is kept.
            type: list
            elements: str
notes:
  - The serial guard expects BIND's default C(serial-update-method increment) for multi-message changes.
  - An action plugin of the same name runs this module's code inside C(ansible-playbook) when the task
    runs on the controller (connection C(local) without C(become), as in a play on C(localhost) or
    C(delegate_to) C(localhost)), which saves the module's start-up and a second validation of every
    record. Anywhere else, in an C(async) task, or with the variable C(psf_dns_in_process=false), the
    module is shipped and run the usual way. Both give the same result.
  - When O(records) is given as one template that names a list variable, ansible-core 2.19 would render
    and copy every record (0.6 s for 10,000 records); the action plugin takes the list as it is when
    none of its records holds a template. Records that do hold templates are templated as usual.
attributes:
  action:
    support: full
    description: Runs in the controller's process when the task runs on the controller (see the notes).
seealso:
  - module: psf.infra.dns_record
  - module: psf.infra.dns_zone_info
"""

EXAMPLES = r"""
- name: Publish the packaging tenant's zone
  psf.infra.dns_zone:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    zone: packaging.test
    tenant: packaging
    source_file: inventories/lab/tenants/packaging.yml
    prune: true
    ignore: [legacy-host]
    records:
      - {name: "@", type: A, ttl: 300, values: [192.0.2.10]}
      - {name: www, type: CNAME, values: [packaging.test.]}
      - {name: "@", type: MX, values: ["10 mail.packaging.test."]}
      - {name: "@", type: TXT, values: ["v=spf1 mx -all"]}
      - {name: "@", type: CAA, values: ['0 issue "letsencrypt.org"']}
  register: packaging_zone

- name: Same zone from a BIND zone file, check mode to see the plan
  psf.infra.dns_zone:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    zone: packaging.test
    zone_file: files/packaging.test.zone
  check_mode: true
  diff: true
"""

RETURN = r"""
zone:
  description: The zone, absolute.
  returned: always
  type: str
  sample: packaging.test.
serial_before:
  description: SOA serial read by the zone transfer; null in check mode for a zone the primary does not serve yet.
  returned: always
  type: int
served:
  description:
    - Whether the primary serves the zone. Only check mode plans a zone that is not served yet (a new tenant, whose
      zone the name servers' play would create) - from empty, every declared record added, and RV(plan) says so.
      Outside check mode a zone that is not served is an error.
  returned: always
  type: bool
serial:
  description: SOA serial after the change (equal to RV(serial_before) when nothing was sent).
  returned: always
  type: int
messages_sent:
  description: Number of UPDATE messages sent (0 in check mode and when nothing changes).
  returned: always
  type: int
counts:
  description: Number of rrsets added, changed and deleted.
  returned: always
  type: dict
  sample: {added: 1, changed: 0, deleted: 2}
changes:
  description: The changes per rrset (made, or that would be made in check mode).
  returned: always
  type: dict
  contains:
    added:
      description: Added rrsets, as C({name, type, ttl, values}).
      type: list
      elements: dict
    changed:
      description: Changed rrsets, as C({name, type, before, after}).
      type: list
      elements: dict
    deleted:
      description: Deleted rrsets.
      type: list
      elements: dict
changes_truncated:
  description: True when RV(changes) lists only the first O(report_changes) rrsets of a kind.
  returned: always
  type: bool
existing_rrsets:
  description: Rrsets in the live zone that can be managed (no SOA, no DNSSEC records).
  returned: always
  type: int
protected:
  description: Undeclared rrsets that O(prune) kept, with the reason.
  returned: always
  type: list
  elements: dict
plan:
  description: The plan as text, in the manner of octoDNS (also shown in diff mode).
  returned: always
  type: str
secondaries:
  description: Serial served by each secondary after the change and whether it is the primary's.
  returned: when O(secondaries) is given
  type: list
  elements: dict
  sample: [{server: 127.0.0.1, port: 5302, serial: 12, in_sync: true, error: null}]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_ZONE, REQUIRED_LIBRARIES
from ansible_collections.psf.infra.plugins.module_utils.errors import fail_on_errors

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone_task import echoed_arguments, run_dns_zone
except ImportError as error:  # dnspython or netaddr missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None


def main() -> None:
    # When the task runs on the controller, the action plugin of the same name runs run_dns_zone in
    # ansible-playbook's own process instead (plugins/action/dns_zone.py); this is the shipped path.
    module = AnsibleModule(**DNS_ZONE.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(IMPORT_ERROR))
    with fail_on_errors(module):
        result = run_dns_zone(module.params, check_mode=module.check_mode, diff=module._diff)
    result["invocation"] = {"module_args": echoed_arguments(module.params)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
