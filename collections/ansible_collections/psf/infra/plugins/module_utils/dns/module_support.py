# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the DNS modules share: building the servers from the options (``options.DNS_SERVER``).

Errors become failures in ``module_utils/errors.py`` (``fail_on_errors``), the collection's one edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import netaddr
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey
from ansible_collections.psf.infra.plugins.module_utils.dns.zone import Secondary
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput


def _address(value: str, field: str) -> str:
    # An IP address, never a host name: resolving it would go through the system resolver.
    if not (netaddr.valid_ipv4(value, flags=netaddr.INET_PTON) or netaddr.valid_ipv6(value)):
        raise InvalidInput(f"'{value}' is not an IP address; give the name server's address (host names "
                           "are not resolved, so the system resolver is never used)", field=field)
    return value


def _port(value: int, field: str) -> int:
    if not 1 <= value <= 65535:
        raise InvalidInput(f"port {value} is out of range (1-65535)", field=field)
    return value


def server_from_params(params: Mapping[str, Any]) -> DnsServer:
    tsig = None
    if params.get("tsig_key_name"):
        tsig = TsigKey(params["tsig_key_name"], params.get("tsig_key_algorithm") or "hmac-sha256",
                       params["tsig_key_secret"])
    if params.get("timeout", 10.0) <= 0:
        raise InvalidInput("timeout must be more than 0 seconds", field="timeout")
    return DnsServer(_address(params["server"], "server"), _port(params.get("port", 53), "port"), tsig,
                     params.get("timeout", 10.0))


def secondaries_from_params(params: Mapping[str, Any]) -> list[Secondary]:
    return [Secondary(_address(item["server"], f"secondaries[{index}].server"),
                      _port(item.get("port") or 53, f"secondaries[{index}].port"))
            for index, item in enumerate(params.get("secondaries") or [])]
