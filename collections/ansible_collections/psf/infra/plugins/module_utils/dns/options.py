# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options of the DNS modules (the ``psf.infra.dns_server`` doc fragment).

Free of third-party imports on purpose: a module can build its argument spec (and report a missing
dnspython/netaddr properly) even where those libraries are not installed.
"""

from __future__ import annotations

from typing import Any

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")

SERVER_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "server": {"type": "str", "required": True},
    "port": {"type": "int", "default": 53},
    "tsig_key_name": {"type": "str"},
    "tsig_key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
    "tsig_key_secret": {"type": "str", "no_log": True},
    "timeout": {"type": "float", "default": 10.0},
    "secondaries": {"type": "list", "elements": "dict", "default": [],
                    "options": {"server": {"type": "str", "required": True},
                                "port": {"type": "int", "default": 53}}},
}
SERVER_REQUIRED_TOGETHER = [["tsig_key_name", "tsig_key_secret"]]
REQUIRED_LIBRARIES = "dnspython (2.6 or later) and netaddr"

#: psf.infra.dns_zone's options (the module and its action plugin share them).
ZONE_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    **SERVER_ARGUMENT_SPEC,
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
}
ZONE_MUTUALLY_EXCLUSIVE = [["records", "zone_file"]]
ZONE_REQUIRED_ONE_OF = [["records", "zone_file"]]
