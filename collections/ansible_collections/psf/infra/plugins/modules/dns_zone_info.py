#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_zone_info
short_description: Read a zone (AXFR) and the SOA serial served by every authoritative server
version_added: 0.1.0
description:
  - Transfers the zone from the primary (one TSIG-signed AXFR) and returns its rrsets as data.
  - Asks the primary and every server in O(secondaries) for the zone's SOA serial, so a playbook can
    wait with C(until) until all of them serve a change (RV(in_sync)).
author:
  - PSF Infrastructure Working Group (@python)
requirements:
  - dnspython >= 2.6
  - netaddr
extends_documentation_fragment:
  - psf.infra.dns_server
  - psf.infra.dns_server.info_attributes
options:
  zone:
    description: The zone.
    type: str
    required: true
  include_records:
    description: Transfer the zone and return its records; C(false) only compares serials (cheap polling).
    type: bool
    default: true
  include_dnssec:
    description: Also return the DNSSEC records the server maintains (DNSKEY, RRSIG, NSEC, ...).
    type: bool
    default: false
seealso:
  - module: psf.infra.dns_zone
"""

EXAMPLES = r"""
- name: Wait until the secondaries serve the primary's serial
  psf.infra.dns_zone_info:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    secondaries:
      - {server: 127.0.0.1, port: 5302}
    zone: packaging.test
    include_records: false
  register: packaging_serials
  until: packaging_serials.in_sync
  retries: 30
  delay: 2
"""

RETURN = r"""
zone:
  description: The zone, absolute.
  returned: always
  type: str
serial:
  description: The primary's SOA serial.
  returned: always
  type: int
in_sync:
  description: True when every server in O(secondaries) serves the primary's serial.
  returned: always
  type: bool
serials:
  description: Serial per server (C(address:port)); null for a server that did not answer with one.
  returned: always
  type: dict
  sample: {"127.0.0.1:5301": 12, "127.0.0.1:5302": 11}
servers:
  description: Per server, C({server, port, serial, in_sync, error}).
  returned: always
  type: list
  elements: dict
records:
  description: The rrsets, as C({name, type, ttl, values}), names relative to the zone, sorted.
  returned: when O(include_records=true)
  type: list
  elements: dict
soa:
  description: The SOA record data.
  returned: when O(include_records=true)
  type: str
nameservers:
  description: The apex NS values.
  returned: when O(include_records=true)
  type: list
  elements: str
signed:
  description: Whether the zone has DNSKEY records (DNSSEC-signed).
  returned: when O(include_records=true)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_SERVER, REQUIRED_LIBRARIES
from ansible_collections.psf.infra.plugins.module_utils.errors import fail_on_errors

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (
        secondaries_from_params,
        server_from_params,
    )
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone import zone_info
except ImportError as error:  # dnspython or netaddr missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = DNS_SERVER.merge(ArgumentSpec({
    "zone": {"type": "str", "required": True},
    "include_records": {"type": "bool", "default": True},
    "include_dnssec": {"type": "bool", "default": False},
}))


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(IMPORT_ERROR))
    params = module.params
    with fail_on_errors(module):
        result = zone_info(server_from_params(params), params["zone"], secondaries_from_params(params),
                           include_records=params["include_records"], include_dnssec=params["include_dnssec"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
