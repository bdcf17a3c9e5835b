#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: domain
short_description: Keep domains registered, renewed and delegated at their registrars
version_added: 0.1.0
description:
  - Reads the domain at its registrar (O(provider)), plans, and makes the registrar hold what is asked
    of it; a second run with the same input changes nothing.
  - Registers the domain B(only) when O(register=true) (the tenant file's C(register), because
    registration costs money); an unregistered domain without it is an error naming the tenant file.
  - Renews it (O(years)) when fewer than O(renew_within_days) days are left; sets O(auto_renew);
    keeps the name servers equal to O(nameservers) (the Infra-WG's for hosted zones); keeps the
    DNSSEC keys (or DS records) at the parent equal to the zone's secure entry points given in O(dnskeys).
  - New DNSSEC keys are added before old ones are deleted, so the parent always holds the DS of the
    key the zone signs with.
  - The parent zone is the witness of the registrar's DNSSEC keys. With O(dnskeys) and a registrar
    whose key list costs an API request of its own (Gandi), the parent's servers are asked for the
    domain's DS first (see O(parent_servers)); when they serve exactly the DS of O(dnskeys), the keys
    are not read from the registrar (RV(keys_read_from) is C(parent)), so a run that changes nothing
    costs one API request a domain. The registry serves the DS the registrar sent it, so the two agree
    except while a change propagates, and then the parent is what resolvers see. When the parent
    serves something else, or cannot be asked, the keys are read from the registrar.
  - In check mode nothing is changed and nothing costs money - Gandi checks a registration or a
    renewal with its C(Dry-Run) header, the other changes are only planned.
  - With O(provider=rfc2136) (a parent zone we run) registration and renewal are not applicable
    (reported in RV(notes)); the expiry comes from O(rfc2136.expires).
  - The list form (O(domains) instead of O(name)) keeps many domains in one task - in O(workers)
    threads of one module process, one registrar connection a thread - and returns RV(domains), one
    item a domain in the order given, each with the keys of the single form plus C(name) and
    C(changed). Every domain is checked before any is touched (bad input fails naming its tenant,
    file and field); a domain that fails does not stop the others, which run to their end; the task
    then fails naming every failed domain, its tenant and file, quoting the error, with every item
    returned. In diff mode the diff is a list, one before/after a changed domain. See
    C(docs/registrar.md), "The list form".
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.registrar
  - psf.infra.registrar.walk
  - psf.infra.registrar.parent
options:
  name:
    description:
      - The domain, for example C(packaging.test). Exactly one of O(name) and O(domains) is given.
    type: str
  domains:
    description:
      - The list form - the domains to keep, each with its own options; the task's other options
        are shared by all (O(gandi), O(rfc2136), O(renew_within_days), O(years), O(parent_servers),
        O(root_servers), O(nameserver_addresses), O(timeout)), and the task's O(provider),
        O(auto_renew), O(nameservers), O(dnskeys), O(tenant) and O(source_file) are the defaults of
        a domain that does not give its own.
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
      register:
        description: As O(register), for this domain.
        type: bool
        default: false
      auto_renew:
        description: As O(auto_renew), for this domain.
        type: bool
      nameservers:
        description: As O(nameservers), for this domain.
        type: list
        elements: str
      dnskeys:
        description: As O(dnskeys), for this domain (C([]) - no DS; left out - DNSSEC left alone).
        type: list
        elements: str
      tenant:
        description: Its tenant; used in error messages.
        type: str
      source_file:
        description: Its tenant file; used in error messages.
        type: str
      transfer_out:
        description: As O(transfer_out), for this domain (default O(transfer_out)).
        type: bool
  workers:
    description: With O(domains), how many domains are worked at the same time (threads, 1 to 64).
    type: int
    default: 8
  state:
    description: C(present) - registered (when allowed), renewed, delegated. Domains are never deleted by this module.
    type: str
    default: present
    choices: [present]
  register:
    description:
      - Register the domain when it is not registered. Costs money; set it from the tenant file's
        C(services.domains[].register) only.
    type: bool
    default: false
  years:
    description: Years of a registration or of a renewal (1-10).
    type: int
    default: 1
  auto_renew:
    description: The registrar's auto-renew setting; left alone when not given.
    type: bool
  renew_within_days:
    description: Renew when fewer days than this are left before the expiry.
    type: int
    default: 30
  nameservers:
    description: The name servers the domain is delegated to (host names); left alone when not given.
    type: list
    elements: str
  dnskeys:
    description:
      - The zone's current DNSKEY record data (C(257 3 13 <base64>)), for example from
        M(psf.infra.dns_zone_info) with C(include_dnssec) or a DNSKEY query. The keys with the SEP flag
        (KSK or CSK) are kept at the parent (their SHA-256 DS for O(provider=rfc2136)); an empty list
        removes every DS (an unsigned zone); left alone when not given.
    type: list
    elements: str
  tenant:
    description: Tenant of the domain; used in error messages.
    type: str
  source_file:
    description: The tenant file that declares the domain; used in error messages.
    type: str
  transfer_out:
    description:
      - Prepare the domain for a transfer to another registrar - its transfer lock (status
        C(clientTransferProhibited)) removed, and its transfer (authorisation) code read, or made anew
        when the registrar's expired or it has none - and return the code in RV(transfer.auth_code).
      - The code is a B(secret) - run the task with C(no_log=true) and keep it out of every message
        (C(playbooks/offboard.yml) hands it to M(psf.infra.offboarding_notice) only). A domain already
        unlocked with a valid code changes nothing. Check mode plans only and returns no code.
      - With O(provider=rfc2136) (a parent zone we run) there is no transfer lock and no code - reported
        in RV(notes), RV(transfer.supported) is false.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description:
      Reads the registrar and plans; registration and renewal are checked with a dry run, nothing else is sent.
  diff_mode:
    support: full
    description: Shows the domain at the registrar before and after (expiry, auto-renew, name servers, DS).
  idempotent:
    support: full
    description: A second run with the same input reports no change and sends no change to the registrar.
seealso:
  - module: psf.infra.domain_info
notes:
  - The endpoints used, the retries (429 and 5xx with C(Retry-After)) and the lab's fake Gandi are described
    in C(docs/registrar.md).
"""

EXAMPLES = r"""
- name: Keep packaging.test at Gandi, delegated to the Infra-WG name servers with the zone's keys
  psf.infra.domain:
    name: packaging.test
    provider: gandi
    gandi:
      token: "{{ vault_psf_registrar_gandi_token }}"
    register: false
    auto_renew: true
    renew_within_days: 30
    nameservers: [ns1.infra.psf.io, ns2.infra.psf.io]
    dnskeys: ["257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="]
    tenant: packaging
    source_file: inventories/production/tenants/packaging.yml
  no_log: false

- name: Delegate a lab zone from the lab registry test. (a parent zone we run)
  psf.infra.domain:
    name: packaging.test
    provider: rfc2136
    rfc2136:
      server: 127.0.0.1
      port: 5300
      zone: test.
      tsig_key_name: registry-key
      tsig_key_secret: "{{ psf_dns_registry_key.secret }}"
    nameservers: [ns1.infra.test, ns2.infra.test]
    dnskeys: "{{ packaging_keys }}"

- name: Every domain in one task (the list form), eight at a time
  psf.infra.domain:
    provider: gandi
    gandi:
      token: "{{ vault_psf_registrar_gandi_token }}"
    renew_within_days: 30
    domains:
      - {name: packaging.test, auto_renew: true, nameservers: [ns1.infra.psf.io, ns2.infra.psf.io],
         dnskeys: "{{ packaging_keys }}", tenant: packaging, source_file: inventories/production/tenants/packaging.yml}
      - {name: pyladies.test, provider: rfc2136, nameservers: [ns1.infra.psf.io, ns2.infra.psf.io], dnskeys: []}
    rfc2136: {server: 127.0.0.1, port: 5300, zone: test., tsig_key_name: registry-key,
              tsig_key_secret: "{{ psf_dns_registry_key.secret }}"}
  register: kept

- name: The domains that changed
  ansible.builtin.debug:
    msg: "{{ kept.domains | selectattr('changed') | map(attribute='name') | list }}"
"""

RETURN = r"""
domains:
  description:
    - The list form - one item a domain of O(domains), in the same order - C(name) (as given),
      C(changed) and the keys below; or, for a domain that failed, C(name), C(tenant),
      C(source_file), C(changed) (false), C(failed) (true), C(msg) and C(error).
  returned: with O(domains)
  type: list
  elements: dict
  sample: [{name: packaging.test, changed: false, domain: packaging.test, provider: gandi, actions: []}]
domain:
  description: The domain, lower case, without the final dot.
  returned: with O(name)
  type: str
provider:
  description: The registrar (C(gandi), C(rfc2136)).
  returned: with O(name)
  type: str
actions:
  description: What was changed (or would be, in check mode), in order, as C({action, detail}).
  returned: with O(name)
  type: list
  elements: dict
  sample: [{action: renew, detail: "renew packaging.test for 1 year(s): 12 day(s) left"}]
messages:
  description: What the registrar answered to each change.
  returned: with O(name)
  type: list
  elements: str
notes:
  description: What was not done and why (for example renewal not applicable to a parent zone we run).
  returned: with O(name)
  type: list
  elements: str
registrar:
  description: The domain at the registrar before the run.
  returned: with O(name)
  type: dict
  contains:
    registered:
      description: Whether the registrar holds the domain.
      type: bool
    expires:
      description: Expiry (ISO 8601), or null when unknown.
      type: str
    days_left:
      description: Whole days until the expiry, or null.
      type: int
    status:
      description: The registry statuses (C(clientTransferProhibited), ...).
      type: list
      elements: str
    auto_renew:
      description: The auto-renew setting, or null when the registrar has none.
      type: bool
    nameservers:
      description: The name servers, sorted.
      type: list
      elements: str
    ds:
      description: The DS records the registrar publishes (record data), sorted.
      type: list
      elements: str
expires:
  description: Expiry before the run (ISO 8601), or null.
  returned: with O(name)
  type: str
days_left:
  description: Days left before the run, or null.
  returned: with O(name)
  type: int
api_requests:
  description: Requests sent to the registrar, retries included.
  returned: with O(name)
  type: int
transfer:
  description:
    - With O(transfer_out) - C(supported) (false for a provider without transfers, C(rfc2136)),
      C(unlocked) (the registrar no longer holds C(clientTransferProhibited); a registrar may take days to
      validate an unlock), C(auth_code) (the transfer code, a B(secret) - null in check mode and when there
      is none) and C(auth_code_expires) (ISO 8601 or null).
  returned: with O(transfer_out)
  type: dict
  sample: {supported: true, unlocked: true, auth_code: "(secret)", auth_code_expires: "2027-12-05T00:00:00+00:00"}
  contains:
    supported:
      description: Whether the provider has transfer locks and codes (false for C(rfc2136)).
      type: bool
    unlocked:
      description: Whether the registrar no longer holds C(clientTransferProhibited) (null when not supported).
      type: bool
    auth_code:
      description: The transfer code, a B(secret); null in check mode and when there is none.
      type: str
    auth_code_expires:
      description: When the code expires (ISO 8601), or null.
      type: str
keys_read_from:
  description:
    - Where the registrar's DNSSEC keys were taken from - C(registrar) (read there), C(parent) (the
      parent serves exactly the DS of O(dnskeys), so they were not read), or null (not needed).
  returned: with O(name)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.registrar import entry
from ansible_collections.psf.infra.plugins.module_utils.registrar.options import DOMAIN


def main() -> None:
    entry.run(AnsibleModule(**DOMAIN.module_kwargs(supports_check_mode=True)), changes=True)


if __name__ == "__main__":
    main()
