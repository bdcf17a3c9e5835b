#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_info
short_description: Domains at their registrar and at their parent zone; is each delegation correct, lame or missing
version_added: 0.1.0
description:
  - Reads the domain at its registrar (O(provider)) - expiry, days left, status, auto-renew, name servers and DS.
  - Asks the parent zone's name servers what they serve - the referral's NS and glue, and the DS
    records. They are O(parent_servers) (IP addresses), else for O(provider=rfc2136) the parent's
    primary, else the servers of the zone that delegates the domain, found by following referrals
    from O(root_servers) (the real root servers by default). Never the system resolver.
  - Asks every name server the parent lists whether it answers authoritatively for the domain, and
    returns RV(delegation) - C(correct), C(lame) (a listed server does not serve the zone, or has no
    address we know), C(missing) (no delegation at the parent) or C(mismatch) (it works, but not with
    O(nameservers)).
  - With O(dnskeys), RV(ds_match) says whether the parent serves exactly the DS of the zone's keys.
  - The list form (O(domains) instead of O(name)) reads many domains in one task, in O(workers)
    threads of one module process, and returns RV(domains), one item a domain in the order given.
    A domain that could not be read has C(failed) and C(msg) in its item; the others are still read,
    and the task then fails naming every such domain, with every item returned. See
    C(docs/registrar.md), "The list form".
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.registrar
  - psf.infra.registrar.walk
  - psf.infra.registrar.parent
  - psf.infra.dns_server.info_attributes
options:
  name:
    description: The domain. Exactly one of O(name) and O(domains) is given.
    type: str
  domains:
    description:
      - The list form - the domains to read, each with its own options; the task's other options are
        shared by all, and the task's O(provider), O(registrar), O(nameservers) and O(dnskeys) are
        the defaults of a domain that does not give its own.
    type: list
    elements: dict
    suboptions:
      name:
        description: The domain.
        type: str
        required: true
      provider:
        description: Its registrar (default O(provider)).
        type: str
        choices: [gandi, rfc2136]
      registrar:
        description: As O(registrar) - what M(psf.infra.domain) read of this domain in this run.
        type: dict
      nameservers:
        description: As O(nameservers), for this domain.
        type: list
        elements: str
      dnskeys:
        description: As O(dnskeys), for this domain.
        type: list
        elements: str
      tenant:
        description: Its tenant; used in error messages.
        type: str
      source_file:
        description: Its tenant file; used in error messages.
        type: str
  workers:
    description: With O(domains), how many domains are read at the same time (threads, 1 to 64).
    type: int
    default: 8
  registrar:
    description:
      - The domain at its registrar as psf.infra.domain returned it in this run (its C(registrar) result).
      - When given, the registrar is not asked again (playbooks/domains.yml passes it for each domain
        psf.infra.domain did not change, so that a run that changes nothing costs one API request a
        domain at most).
    type: dict
  nameservers:
    description:
      - The name servers the domain should be delegated to; RV(delegation) is C(mismatch) when the parent lists others.
    type: list
    elements: str
  dnskeys:
    description: The zone's DNSKEY record data; the DS of its SEP keys is compared with what the parent serves.
    type: list
    elements: str
seealso:
  - module: psf.infra.domain
"""

EXAMPLES = r"""
- name: How the lab registry delegates packaging.test
  psf.infra.domain_info:
    name: packaging.test
    provider: rfc2136
    rfc2136: {server: 127.0.0.1, port: 5300, zone: test.}
    nameservers: [ns1.infra.test, ns2.infra.test]
    nameserver_addresses:
      - {name: ns1.infra.test, address: 127.0.0.1, port: 5301}
      - {name: ns2.infra.test, address: 127.0.0.1, port: 5302}
  register: packaging_delegation

- name: Fail when it is not right
  ansible.builtin.assert:
    that: packaging_delegation.delegation == 'correct'
    fail_msg: "{{ packaging_delegation.problems }}"

- name: Every domain in one task (the list form)
  psf.infra.domain_info:
    provider: rfc2136
    rfc2136: {server: 127.0.0.1, port: 5300, zone: test.}
    nameservers: [ns1.infra.test, ns2.infra.test]
    domains:
      - {name: packaging.test}
      - {name: pyladies-berlin.test}
  register: delegations
"""

RETURN = r"""
domains:
  description:
    - The list form - one item a domain of O(domains), in the same order - C(name) (as given),
      C(changed) (false) and the keys below; or, for a domain that could not be read, C(name),
      C(failed) (true), C(msg) and C(error).
  returned: with O(domains)
  type: list
  elements: dict
  sample: [{name: packaging.test, domain: packaging.test, delegation: correct, problems: []}]
domain:
  description: The domain.
  returned: with O(name)
  type: str
provider:
  description: The registrar.
  returned: with O(name)
  type: str
registrar:
  description:
    - The domain at the registrar (C(registered), C(expires), C(days_left), C(status), C(auto_renew),
      C(nameservers), C(ds)).
  returned: with O(name)
  type: dict
registered:
  description: Whether the registrar holds the domain.
  returned: with O(name)
  type: bool
expires:
  description: Expiry (ISO 8601) at the registrar, or null.
  returned: with O(name)
  type: str
days_left:
  description: Whole days until the expiry, or null.
  returned: with O(name)
  type: int
status:
  description: Registry statuses at the registrar.
  returned: with O(name)
  type: list
  elements: str
auto_renew:
  description: The registrar's auto-renew setting, or null.
  returned: with O(name)
  type: bool
nameservers:
  description: The name servers at the registrar.
  returned: with O(name)
  type: list
  elements: str
ds:
  description: The DS records at the registrar.
  returned: with O(name)
  type: list
  elements: str
parent:
  description:
    - What each parent server serves (C({server, nameservers, glue, ds})); null when no parent server was asked.
  returned: with O(name)
  type: list
  elements: dict
parent_nameservers:
  description: The NS the parent serves (union over its servers).
  returned: with O(name), when a parent server was asked
  type: list
  elements: str
parent_ds:
  description: The DS the parent serves.
  returned: with O(name), when a parent server was asked
  type: list
  elements: str
delegation:
  description: C(correct), C(lame), C(missing) or C(mismatch); null when no parent server was asked.
  returned: with O(name)
  type: str
servers:
  description: Each listed name server's address and whether it answered authoritatively.
  returned: with O(name), when a parent server was asked
  type: list
  elements: dict
nameservers_match:
  description: Whether the parent serves exactly O(nameservers).
  returned: with O(name), when O(nameservers) is given and a parent server was asked
  type: bool
ds_match:
  description: Whether the parent serves exactly the DS of O(dnskeys).
  returned: with O(name), when O(dnskeys) is given and a parent server was asked
  type: bool
registrar_matches_parent:
  description: Whether the registrar's NS and DS are what the parent serves (false while a change propagates).
  returned: with O(name), when a parent server was asked
  type: bool
problems:
  description: Each problem found, in words.
  returned: with O(name)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.registrar import entry
from ansible_collections.psf.infra.plugins.module_utils.registrar.options import DOMAIN_INFO


def main() -> None:
    entry.run(AnsibleModule(**DOMAIN_INFO.module_kwargs(supports_check_mode=True)), changes=False)


if __name__ == "__main__":
    main()
