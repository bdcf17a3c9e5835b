# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the modules share to reach a name server: the one rule for its address (an IP literal,
never a host name, so the system resolver is never used) and port, and the servers built from
the options (``options.DNS_SERVER``, the certificate module's ``dns_servers``/``dns_resolver``).

Only the standard library and the DNS client: it also runs where netaddr is not installed (the
name servers, for ``psf.infra.dns_catalog``). Errors become failures in ``module_utils/errors.py``
(``fail_on_errors``), the collection's one edge.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput


def ip_address(value: Any, field: str) -> str:
    """``value`` when it is an IPv4 or IPv6 address; else InvalidInput naming ``field``.

    Never a host name: resolving it would go through the system resolver.
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
        except (OSError, TypeError, ValueError):
            continue
        return value
    raise InvalidInput(f"'{value}' is not an IP address; give the name server's address (host names "
                       "are not resolved, so the system resolver is never used)", field=field)


def port_number(value: Any, field: str) -> int:
    """``value`` as a port (1-65535); else InvalidInput naming ``field``."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"port {value!r} is not a number", field=field) from None
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise InvalidInput(f"port {value} is out of range (1-65535)", field=field)
    return port


def address_and_port(entry: object, field: str) -> tuple[str, int]:
    """An inventory server ``{address, port}`` (port 53 when left out, other keys ignored)."""
    if not isinstance(entry, Mapping) or not entry.get("address"):
        raise InvalidInput("expected a dict with 'address' (and optionally 'port')", field=field)
    return ip_address(entry["address"], f"{field}.address"), port_number(entry.get("port") or 53, f"{field}.port")


def tsig_from_params(params: Mapping[str, Any], prefix: str = "") -> TsigKey | None:
    """The TSIG key of the ``<prefix>tsig_key_*`` options (``<prefix>tsig_key_file``: a BIND key file)."""
    if params.get(f"{prefix}tsig_key_file"):
        try:
            return TsigKey.from_file(params[f"{prefix}tsig_key_file"])
        except OSError as err:
            raise InvalidInput(f"cannot read the TSIG key file {params[f'{prefix}tsig_key_file']}: "
                               f"{err.strerror or err}", field=f"{prefix}tsig_key_file") from None
    if params.get(f"{prefix}tsig_key_name") and params.get(f"{prefix}tsig_key_secret"):
        return TsigKey(params[f"{prefix}tsig_key_name"], params.get(f"{prefix}tsig_key_algorithm") or "hmac-sha256",
                       params[f"{prefix}tsig_key_secret"])
    return None


def server_from_params(params: Mapping[str, Any], *, role: str = "name server") -> DnsServer:
    """The server of the ``server``/``port``/``tsig_key_*``/``timeout`` options; ``role`` names it in errors."""
    if params.get("timeout", 10.0) <= 0:
        raise InvalidInput("timeout must be more than 0 seconds", field="timeout")
    return DnsServer(ip_address(params["server"], "server"), port_number(params.get("port", 53), "port"),
                     tsig_from_params(params), params.get("timeout", 10.0), role=role)


def secondaries_from_params(params: Mapping[str, Any]) -> list[Any]:
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone import Secondary  # the zone code needs netaddr

    return [Secondary(ip_address(item["server"], f"secondaries[{index}].server"),
                      port_number(item.get("port") or 53, f"secondaries[{index}].port"))
            for index, item in enumerate(params.get("secondaries") or [])]
