# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the DNS options; their argument specs are beside, in
``plugins/module_utils/dns/options.py``:

- ``psf.infra.dns_server`` (DOCUMENTATION): ``DNS_SERVER``, how the DNS modules reach the primary and
  the secondaries;
- ``psf.infra.dns_server.acme`` (ACME): ``ACME_DNS``, the name servers, resolver and TSIG key of
  psf.infra.certificate's DNS-01.

The TSIG key options are documented in both (ansible-test reads each fragment as one string
literal, so they cannot be composed here); their spec is written once (``options.tsig_options``),
and ``tests/unit/test_module_edge.py`` checks each fragment against its spec.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  server:
    description:
      - IP address of the primary (master) name server that accepts RFC 2136 UPDATE and AXFR.
      - Host names are refused on purpose, so that the system resolver is never consulted.
    type: str
    required: true
  port:
    description: Port of the primary name server (TCP for AXFR and UPDATE, UDP/TCP for queries).
    type: int
    default: 53

  tsig_key_name:
    description:
      - Name of the TSIG key that signs every message (zone transfer, update, queries to the primary).
      - Required together with O(tsig_key_secret).
    type: str
  tsig_key_algorithm:
    description: TSIG algorithm of the key.
    type: str
    default: hmac-sha256
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
  tsig_key_secret:
    description:
      - Base64 secret of the TSIG key (as in the BIND C(key) statement). Never logged or returned.
    type: str
  timeout:
    description:
      - Seconds to wait for each answer from a name server.
      - An UPDATE message of N changes may take N/500 times as long (a signed zone signs them first).
    type: float
    default: 10.0
  secondaries:
    description:
      - Secondary (slave) name servers of the zone. They are only queried (SOA serial, unsigned), to
        report whether they serve the primary's serial.
    type: list
    elements: dict
    default: []
    suboptions:
      server:
        description: IP address of the secondary.
        type: str
        required: true
      port:
        description: Port of the secondary.
        type: int
        default: 53
"""

    ACME = r"""
options:
  dns_servers:
    description:
      - Every authoritative server of our zones, as C({address, port}) (port 53 when left out; other
        keys are ignored, so the inventory's server variables fit as they are). The first is the
        primary that receives the UPDATEs.
      - The TXT records count as published when all of them serve them.
      - Required for O(challenge=dns-01).
    type: list
    elements: dict
  dns_resolver:
    description:
      - The resolver, as C({address, port}), used to find the zone of each name, the tenant's CNAME
        delegations and the CAA records. Never the system resolver.
      - Required for O(challenge=dns-01).
    type: dict

  dns_tsig_key_name:
    description:
      - Name of the TSIG key that signs the UPDATE messages that publish the challenge records in our zones.
      - Give it with O(dns_tsig_key_secret), or give O(dns_tsig_key_file) instead.
    type: str
  dns_tsig_key_algorithm:
    description: TSIG algorithm of the key.
    type: str
    default: hmac-sha256
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
  dns_tsig_key_secret:
    description:
      - Base64 secret of the TSIG key (as in the BIND C(key) statement). Never logged or returned.
    type: str

  dns_tsig_key_file:
    description:
      - A BIND key file holding the TSIG key (instead of O(dns_tsig_key_name), O(dns_tsig_key_algorithm)
        and O(dns_tsig_key_secret)).
      - Mutually exclusive with O(dns_tsig_key_secret).
    type: path
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Reads the zone and computes the plan; sends nothing.
  diff_mode:
    support: full
    description: Shows the plan (created, updated, deleted rrsets), in the manner of octoDNS.
  idempotent:
    support: full
    description: A second run with the same input reports no change and sends no UPDATE message.
"""

    INFO_ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
  idempotent:
    support: full
    description: Never changes anything.
"""
