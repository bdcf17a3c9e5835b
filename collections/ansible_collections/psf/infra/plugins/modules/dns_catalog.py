#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_catalog
short_description: Keep the members of a catalog zone (RFC 9432) with RFC 2136 UPDATE
version_added: 0.1.0
description:
  - Makes the zones of O(members) members of the catalog zone O(zone) and removes the zones of
    O(absent) from it. Members in neither list are left alone (zones somebody else put there).
  - Reads the catalog with one zone transfer (AXFR), then sends one UPDATE with the catalog's SOA
    serial as prerequisite, so a concurrent change of the catalog makes the module fail instead of
    being overwritten. Nothing is sent when the catalog already lists what it should.
  - "A member is C(<label>.zones.<catalog>. PTR <zone>.) with the label C(psf.infra.catalog_member_label)
    gives (SHA-1 of the zone's wire name, in hex); a member is removed under the label it has."
  - The TSIG key must be allowed to transfer and to update the catalog. On a BIND primary with
    C(update-policy local), that is named's session key (O(tsig_key_file=/run/named/session.key),
    the module running on the primary itself).
  - O(secondaries) is not used.
author:
  - PSF Infrastructure Working Group (@python)
requirements:
  - dnspython >= 2.3
extends_documentation_fragment:
  - psf.infra.dns_server
  - psf.infra.dns_server.attributes
options:
  zone:
    description: The catalog zone.
    type: str
    required: true
  members:
    description: Zones that must be members of the catalog.
    type: list
    elements: str
    default: []
  absent:
    description: Zones that must not be members of the catalog (a zone also in O(members) stays).
    type: list
    elements: str
    default: []
  ttl:
    description: TTL of a new member record.
    type: int
    default: 60
  tsig_key_file:
    description:
      - A TSIG key in BIND syntax (C(key "name" { algorithm ...; secret "..."; };)), read on the host
        the module runs on, e.g. named's session key. The secret is never logged or returned.
      - Instead of O(tsig_key_name) and O(tsig_key_secret).
    type: path
seealso:
  - module: psf.infra.dns_record
  - name: RFC 9432, DNS Catalog Zones
    link: https://www.rfc-editor.org/rfc/rfc9432
    description: The catalog zone format (version 2).
"""

EXAMPLES = r"""
- name: List the tenant zones in the catalog, drop the retired ones (on the primary, session key)
  psf.infra.dns_catalog:
    server: 127.0.0.1
    tsig_key_file: /run/named/session.key
    zone: catalog.infra.test
    members: [packaging.test, pyladies-berlin.test]
    absent: [retired.test]
"""

RETURN = r"""
members:
  description: "The catalog's members afterwards (in check mode, as they would be), as C({zone: label})."
  returned: always
  type: dict
  sample: {packaging.test: 0b9c1b4d5e4a1e8d61d4b1de8e3d3a8c6f2d1b5a}
added:
  description: Zones added to the catalog (in check mode, that would be added).
  returned: always
  type: list
  elements: str
removed:
  description: Zones removed from the catalog (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
serial_before:
  description: The SOA serial of the catalog as the zone transfer read it.
  type: int
  returned: always
serial:
  description: The SOA serial of the catalog once the UPDATE was applied (else RV(serial_before)).
  type: int
  returned: always
messages_sent:
  description: 1 when an UPDATE was sent (the catalog changed), else 0.
  type: int
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_SERVER
from ansible_collections.psf.infra.plugins.module_utils.errors import fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns import catalog
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import server_from_params
except ImportError as error:  # dnspython missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = DNS_SERVER.merge(ArgumentSpec(
    {
        "zone": {"type": "str", "required": True},
        "members": {"type": "list", "elements": "str", "default": []},
        "absent": {"type": "list", "elements": "str", "default": []},
        "ttl": {"type": "int", "default": 60},
        "tsig_key_file": {"type": "path", "no_log": False},
    },
    mutually_exclusive=[["tsig_key_file", "tsig_key_secret"], ["tsig_key_file", "tsig_key_name"]],
))


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=str(IMPORT_ERROR))
    params = module.params
    with fail_on_errors(module):
        zone = zone_name(params["zone"])
        server = server_from_params(params, role="primary name server")
        serial, rrsets = server.axfr(zone)
        plan = catalog.plan(zone, catalog.members_of(catalog.records_of(rrsets), zone), params["members"],
                            params["absent"])
        changes = plan.changes(params["ttl"])
        result = {"changed": bool(changes), "members": plan.after(), "added": plan.add,
                  "removed": plan.remove, "serial_before": serial, "serial": serial, "messages_sent": 0}
        if changes and not module.check_mode:
            sent = server.send_updates(zone, changes, expected_serial=serial)
            result.update(serial=sent.serial, messages_sent=sent.messages_sent)
    if module._diff:
        result["diff"] = {"before": _as_text(plan.members), "after": _as_text(plan.after())}
    module.exit_json(**result)


def _as_text(members: dict[str, str]) -> str:
    return "".join(f"{zone} ({label})\n" for zone, label in members.items())


if __name__ == "__main__":
    main()
