# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The argument specs of the DNS options, each beside the doc fragment that documents it.

=====================  ==================================================
spec (this file)       documented by (plugins/doc_fragments/dns_server.py)
=====================  ==================================================
``DNS_SERVER``         ``psf.infra.dns_server`` (DOCUMENTATION)
``ACME_DNS``           ``psf.infra.dns_server.acme`` (ACME)
=====================  ==================================================

Both sets take a TSIG key of the same shape (``tsig_options``), so the certificate module's
``dns_tsig_*`` options and the DNS modules' ``tsig_*`` options accept the same values.
``tests/unit/test_module_edge.py`` fails when a spec and its fragment disagree.

``DNS_ZONE`` is psf.infra.dns_zone's own set (documented in the module), shared by the module and
its action plugin.

Free of third-party imports on purpose: a module can build its argument spec (and report a missing
dnspython/netaddr properly) even where those libraries are not installed.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")
REQUIRED_LIBRARIES = "dnspython (2.6 or later) and netaddr"


def tsig_options(prefix: str = "") -> dict[str, dict[str, Any]]:
    """The TSIG key options, named ``<prefix>tsig_key_name``, ``..._algorithm`` and ``..._secret``."""
    return {
        f"{prefix}tsig_key_name": {"type": "str", "no_log": False},
        f"{prefix}tsig_key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
        f"{prefix}tsig_key_secret": {"type": "str", "no_log": True},
    }


#: How to reach the primary and the secondaries (fragment psf.infra.dns_server).
DNS_SERVER = ArgumentSpec(
    {
        "server": {"type": "str", "required": True},
        "port": {"type": "int", "default": 53},
        **tsig_options(),
        "timeout": {"type": "float", "default": 10.0},
        "secondaries": {"type": "list", "elements": "dict", "default": [],
                        "options": {"server": {"type": "str", "required": True},
                                    "port": {"type": "int", "default": 53}}},
    },
    required_together=[["tsig_key_name", "tsig_key_secret"]],
)

#: The name servers and the resolver of psf.infra.certificate's DNS-01 (fragment psf.infra.dns_server.acme).
ACME_DNS = ArgumentSpec(
    {
        "dns_servers": {"type": "list", "elements": "dict"},
        "dns_resolver": {"type": "dict"},
        **tsig_options("dns_"),
        "dns_tsig_key_file": {"type": "path", "no_log": False},
    },
    mutually_exclusive=[["dns_tsig_key_file", "dns_tsig_key_secret"]],
)

#: psf.infra.dns_zone's options (the module and its action plugin share them).
DNS_ZONE = DNS_SERVER.merge(ArgumentSpec(
    {
        "zone": {"type": "str", "required": True},
        # values are checked by module_utils (errors there name the tenant file, the record and the field)
        "records": {"type": "list", "elements": "dict", "options": {
            "name": {"type": "str", "required": True},
            "type": {"type": "str", "required": True},
            "ttl": {"type": "int"},
            "values": {"type": "list", "elements": "str", "required": True},
        }},
        "zone_file": {"type": "path"},
        "default_ttl": {"type": "int", "default": 3600},
        "prune": {"type": "bool", "default": False},
        "ignore": {"type": "list", "elements": "str", "default": []},
        "force": {"type": "bool", "default": False},
        "max_update_percent": {"type": "float", "default": 30.0},
        "max_delete_percent": {"type": "float", "default": 30.0},
        "safety_min_rrsets": {"type": "int", "default": 10},
        "wait_for_secondaries": {"type": "float", "default": 0.0},
        "report_changes": {"type": "int", "default": 1000},
        "tenant": {"type": "str"},
        "source_file": {"type": "str"},
        # the hosted zones inside this one: their NS (and DS from their keys) are managed records here
        "delegations": {"type": "dict", "options": {
            "nameservers": {"type": "list", "elements": "str", "required": True},
            "zones": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "dnskeys": {"type": "list", "elements": "str", "no_log": False},
            }},
        }},
    },
    mutually_exclusive=[["records", "zone_file"]],
    required_one_of=[["records", "zone_file"]],
))

# The plain forms, for callers that build their own spec.
SERVER_ARGUMENT_SPEC = DNS_SERVER.argument_spec
SERVER_REQUIRED_TOGETHER = DNS_SERVER.required_together
