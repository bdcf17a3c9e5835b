# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registrar options of ``psf.infra.domain`` and ``psf.infra.domain_info`` (argument spec).

Documented by the doc fragment ``psf.infra.registrar`` (``plugins/doc_fragments/registrar.py``);
``tests/unit/test_registrar_gandi.py`` keeps the two equal. Free of third-party imports.
"""

from __future__ import annotations

from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import TSIG_ALGORITHMS
from ansible_collections.psf.infra.plugins.module_utils.parallel import WORKERS_OPTION

REQUIRED_LIBRARIES = "dnspython (2.6 or later) and netaddr"

#: Which registrar, and how to reach it (fragment psf.infra.registrar).
REGISTRAR = ArgumentSpec(
    {
        # required by the single form; in the list form each domain's default (domains[].provider)
        "provider": {"type": "str", "choices": ["gandi", "rfc2136"]},
        "gandi": {"type": "dict", "options": {
            "token": {"type": "str", "required": True, "no_log": True},
            "url": {"type": "str", "default": "https://api.gandi.net/v5"},
            "sharing_id": {"type": "str"},
            "timeout": {"type": "float", "default": 30.0},
            "max_retries": {"type": "int", "default": 4},
            "max_retry_wait": {"type": "float", "default": 60.0},
            "owner": {"type": "dict"},
            "max_price": {"type": "float"},
        }},
        "rfc2136": {"type": "dict", "options": {
            "server": {"type": "str", "required": True},
            "port": {"type": "int", "default": 53},
            "zone": {"type": "str", "required": True},
            "tsig_key_name": {"type": "str", "no_log": False},
            "tsig_key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
            "tsig_key_secret": {"type": "str", "no_log": True},
            "timeout": {"type": "float", "default": 10.0},
            "ttl": {"type": "int", "default": 300},
            "expires": {"type": "str"},
            "glue": {"type": "dict", "default": {}},
        }, "required_together": [["tsig_key_name", "tsig_key_secret"]]},
    },
    required_if=[["provider", "gandi", ["gandi"]], ["provider", "rfc2136", ["rfc2136"]]],
)

#: How the DNS is walked from the root (fragment psf.infra.registrar.walk): psf.infra.dnssec_info,
#: psf.infra.domain_info and psf.infra.domain (module_utils/dns/chain.py walk_options).
WALK = ArgumentSpec({
    "root_servers": {"type": "list", "elements": "dict", "default": [], "options": {
        "server": {"type": "str", "required": True},
        "port": {"type": "int", "default": 53},
    }},
    "nameserver_addresses": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "address": {"type": "str", "required": True},
        "port": {"type": "int", "default": 53},
    }},
    "timeout": {"type": "float", "default": 5.0},
})

#: Where a domain's parent zone is asked (fragment psf.infra.registrar.parent), with WALK.
PARENT = WALK.merge(ArgumentSpec({
    "parent_servers": {"type": "list", "elements": "dict", "default": [], "options": {
        "server": {"type": "str", "required": True},
        "port": {"type": "int", "default": 53},
    }},
}))

#: The list forms (module_utils/parallel.py): ``name`` or ``domains``, and the threads.
_ONE_OR_LIST = {"mutually_exclusive": [["name", "domains"]], "required_one_of": [["name", "domains"]],
                "required_by": {"name": ["provider"]}}

#: psf.infra.domain's own options.
DOMAIN = REGISTRAR.merge(PARENT, ArgumentSpec({
    "name": {"type": "str"},
    "domains": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str", "required": True},
        "provider": {"type": "str", "choices": ["gandi", "rfc2136"]},
        "register": {"type": "bool", "default": False},
        "auto_renew": {"type": "bool"},
        "nameservers": {"type": "list", "elements": "str"},
        "dnskeys": {"type": "list", "elements": "str", "no_log": False},
        "tenant": {"type": "str"},
        "source_file": {"type": "str"},
        "transfer_out": {"type": "bool"},
    }},
    **WORKERS_OPTION,
    "state": {"type": "str", "default": "present", "choices": ["present"]},
    "register": {"type": "bool", "default": False},
    "years": {"type": "int", "default": 1},
    "auto_renew": {"type": "bool"},
    "renew_within_days": {"type": "int", "default": 30},
    "nameservers": {"type": "list", "elements": "str"},
    "dnskeys": {"type": "list", "elements": "str", "no_log": False},
    "tenant": {"type": "str"},
    "source_file": {"type": "str"},
    "transfer_out": {"type": "bool", "default": False},
}, **_ONE_OR_LIST))

#: psf.infra.domain_info's own options.
DOMAIN_INFO = REGISTRAR.merge(PARENT, ArgumentSpec({
    "name": {"type": "str"},
    "domains": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str", "required": True},
        "provider": {"type": "str", "choices": ["gandi", "rfc2136"]},
        "registrar": {"type": "dict"},
        "nameservers": {"type": "list", "elements": "str"},
        "dnskeys": {"type": "list", "elements": "str", "no_log": False},
        "tenant": {"type": "str"},
        "source_file": {"type": "str"},
    }},
    **WORKERS_OPTION,
    "registrar": {"type": "dict"},
    "nameservers": {"type": "list", "elements": "str"},
    "dnskeys": {"type": "list", "elements": "str", "no_log": False},
}, **_ONE_OR_LIST))
