# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the registrar options of psf.infra.domain and psf.infra.domain_info; their
argument spec is beside, in ``plugins/module_utils/registrar/options.py`` (``REGISTRAR``), and
``tests/unit/test_registrar_gandi.py`` checks this fragment against it."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - dnspython >= 2.6
  - netaddr
options:
  provider:
    description:
      - The registrar of the domain. C(gandi) is Gandi's API v5; C(rfc2136) is a parent zone we run
        (the lab registry C(test.), or sub-domains of a PSF-owned zone), updated with TSIG.
      - See C(docs/registrar.md) for what each does and how to add another.
      - Required with O(name); with O(domains), the registrar of each domain that names none of its own.
    type: str
    choices: [gandi, rfc2136]
  gandi:
    description: How to reach Gandi. Required for O(provider=gandi).
    type: dict
    suboptions:
      token:
        description:
          - Gandi personal access token, sent in the C(Authorization) header with the C(Bearer) scheme.
          - Never logged or returned.
        type: str
        required: true
      url:
        description: Base URL of the API (Gandi's sandbox, or a local fake in tests).
        type: str
        default: https://api.gandi.net/v5
      sharing_id:
        description: The Gandi organization that owns the domains and pays (C(sharing_id) query parameter).
        type: str
      timeout:
        description: Seconds to wait for each answer.
        type: float
        default: 30.0
      max_retries:
        description: How many times a request answered with 429 (or 5xx, when repeating it is safe) is sent again.
        type: int
        default: 4
      max_retry_wait:
        description: Longest wait before a retry, in seconds, whatever C(Retry-After) says.
        type: float
        default: 60.0
      owner:
        description:
          - The owner contact of a registration, as Gandi takes it (C(given), C(family), C(email),
            C(streetaddr), C(city), C(zip), C(country), C(type), ...). Only needed to register.
        type: dict
      max_price:
        description: Refuse to register a domain whose yearly price (taxes included) is higher.
        type: float
  rfc2136:
    description: The parent zone and its primary. Required for O(provider=rfc2136).
    type: dict
    suboptions:
      server:
        description: IP address of the parent zone's primary name server (host names are refused).
        type: str
        required: true
      port:
        description: Port of the parent zone's primary.
        type: int
        default: 53
      zone:
        description: The parent zone, for example C(test.).
        type: str
        required: true
      tsig_key_name:
        description: Name of the TSIG key allowed to update delegations in the parent zone.
        type: str
      tsig_key_algorithm:
        description: TSIG algorithm of the key.
        type: str
        default: hmac-sha256
        choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
      tsig_key_secret:
        description: Base64 secret of the TSIG key. Never logged or returned.
        type: str
      timeout:
        description: Seconds to wait for each answer of the parent's primary.
        type: float
        default: 10.0
      ttl:
        description: TTL of the NS, glue and DS records written in the parent zone.
        type: int
        default: 300
      expires:
        description:
          - The expiry to report (ISO date or timestamp), for example the parent zone's own
            registration; there is nothing to renew in a zone we run.
        type: str
      glue:
        description: "Addresses of name servers inside the domain, as C({name: [address, ...]})."
        type: dict
        default: {}
"""

    # psf.infra.dnssec_info, psf.infra.domain_info and psf.infra.domain (spec: registrar/options.py WALK)
    WALK = r"""
options:
  root_servers:
    description:
      - Where the root zone is asked, as C({server, port}) with IP addresses (the lab's registry
        C(127.0.0.1:5300) serves C(.) and C(test.), Ansible variable C(psf_dnssec_root_servers)).
      - When empty, the root servers' IPv4 addresses (as in C(named.root)).
      - Referrals are followed from there, zone cut by zone cut, never through the system resolver.
    type: list
    elements: dict
    default: []
    suboptions:
      server:
        description: IP address of a root name server.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 53
  nameserver_addresses:
    description:
      - Where to reach name servers by name, as C({name, address, port}) (the lab's servers use
        other ports than 53). Name servers not listed here are reached at their glue, port 53, or
        at the addresses found from the root.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Host name of the name server.
        type: str
        required: true
      address:
        description: Its IP address.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 53
  timeout:
    description: Seconds to wait for each DNS answer.
    type: float
    default: 5.0
"""

    # psf.infra.domain_info and psf.infra.domain (spec: registrar/options.py PARENT, with WALK)
    PARENT = r"""
options:
  parent_servers:
    description:
      - The parent zone's name servers, as C({server, port}) with IP addresses.
      - When empty, the parent's primary for O(provider=rfc2136), else the servers of the zone
        that delegates the domain, found by following referrals from O(root_servers)
        (C(python.org) -> the C(org.) servers).
    type: list
    elements: dict
    default: []
    suboptions:
      server:
        description: IP address of a name server of the parent zone.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 53
"""
