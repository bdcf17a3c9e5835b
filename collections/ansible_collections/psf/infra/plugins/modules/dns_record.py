#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_record
short_description: Manage one rrset (or some values of it) with RFC 2136 UPDATE
version_added: 0.1.0
description:
  - Makes one rrset present (O(mode=replace) sets exactly O(values); O(mode=append) adds O(values) and
    keeps the others) or absent (all of it, or only O(values)).
  - Reads the rrset and the SOA serial from the primary, then sends one UPDATE with an SOA-serial
    prerequisite, so a concurrent change of the zone makes the module fail instead of overwriting it.
  - Only the difference is sent (values to delete, values to add), so other values of the rrset that
    appear meanwhile are not lost.
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
    description: The zone the record is in.
    type: str
    required: true
  name:
    description: Owner name, relative to O(zone) (C(@) for the apex) or absolute with a final dot.
    type: str
    required: true
  type:
    description: Record type.
    type: str
    required: true
  values:
    description:
      - Record data in zone-file syntax. Required with O(state=present).
      - With O(state=absent), only these values are removed; without, the whole rrset.
    type: list
    elements: str
  ttl:
    description: TTL; when not given, the live rrset's TTL, or O(default_ttl) for a new rrset.
    type: int
  default_ttl:
    description: TTL of a new rrset when O(ttl) is not given.
    type: int
    default: 3600
  state:
    description: Whether the rrset (or the given values) should exist.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: With O(state=present), C(replace) sets exactly O(values); C(append) adds them to the rrset.
    type: str
    choices: [replace, append]
    default: replace
  force:
    description: Allow changing the apex NS set.
    type: bool
    default: false
  tenant:
    description: Tenant, for error messages.
    type: str
  source_file:
    description: File the record was declared in, for error messages.
    type: str
seealso:
  - module: psf.infra.dns_zone
"""

EXAMPLES = r"""
- name: Add a second MX without touching the first
  psf.infra.dns_record:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    zone: packaging.test
    name: "@"
    type: MX
    values: ["20 mx2.packaging.test."]
    mode: append

- name: Remove one TXT value only
  psf.infra.dns_record:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    zone: packaging.test
    name: "@"
    type: TXT
    values: ["old-verification=1234"]
    state: absent
"""

RETURN = r"""
before:
  description: The rrset before, as C({name, type, ttl, values}); null when it did not exist.
  returned: always
  type: dict
after:
  description: The rrset after (or as it would be in check mode); null when it does not exist.
  returned: always
  type: dict
serial_before:
  description: SOA serial read before the change.
  returned: always
  type: int
serial:
  description: SOA serial after the change.
  returned: always
  type: int
messages_sent:
  description: UPDATE messages sent (0 or 1).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_SERVER, REQUIRED_LIBRARIES
from ansible_collections.psf.infra.plugins.module_utils.errors import fail_on_errors

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import server_from_params
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone import RecordRequest, sync_record
except ImportError as error:  # dnspython or netaddr missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = DNS_SERVER.merge(ArgumentSpec(
    {
        "zone": {"type": "str", "required": True},
        "name": {"type": "str", "required": True},
        "type": {"type": "str", "required": True},
        "values": {"type": "list", "elements": "str"},
        "ttl": {"type": "int"},
        "default_ttl": {"type": "int", "default": 3600},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "mode": {"type": "str", "default": "replace", "choices": ["replace", "append"]},
        "force": {"type": "bool", "default": False},
        "tenant": {"type": "str"},
        "source_file": {"type": "str"},
    },
    required_if=[["state", "present", ["values"]]],
))


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(IMPORT_ERROR))
    params = module.params
    with fail_on_errors(module):
        request = RecordRequest(params["zone"], params["name"], params["type"], params["values"],
                                params["ttl"], params["state"], params["mode"], params["force"],
                                params["tenant"], params["source_file"])
        result = sync_record(server_from_params(params), request, check_mode=module.check_mode,
                             default_ttl=params["default_ttl"])
    if module._diff:
        result["diff"] = {"before": _as_text(result["before"]), "after": _as_text(result["after"])}
    module.exit_json(**result)


def _as_text(rrset: dict | None) -> str:
    if not rrset:
        return ""
    return "".join(f"{rrset['name']} {rrset['ttl']} {rrset['type']} {value}\n" for value in rrset["values"])


if __name__ == "__main__":
    main()
