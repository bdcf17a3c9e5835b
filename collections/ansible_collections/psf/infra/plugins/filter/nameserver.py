# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure helpers of the nameserver role: the zone list it serves and the catalog zone's members.

- ``nameserver_zone_list``: zones (from ``psf.infra.tenant_zones`` or a hand-written list) ->
  sorted ``{name, tenant, dnssec}`` with one spelling per name; duplicates are refused, naming
  both tenants.
- ``catalog_member_label``: the member label of a zone in a catalog zone (RFC 9432 leaves its form
  to the producer; this is the lab's form too: SHA-1 of the zone's wire name, in hex).
- ``catalog_members``: zone-file text of a catalog -> ``{zone: label}``.

Both wrap ``module_utils/dns/catalog.py`` (dnspython), which ``psf.infra.dns_catalog`` uses too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name

try:
    import dns.exception
    import dns.zone
    from ansible_collections.psf.infra.plugins.module_utils.dns import catalog
except ImportError as error:  # the catalog filters say so; nameserver_zone_list works without dnspython
    DNS_IMPORT_ERROR: ImportError | None = error
else:
    DNS_IMPORT_ERROR = None

_LABEL_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def canonical_zone_name(name: Any) -> str:
    """``Packaging.Test.`` -> ``packaging.test``."""
    if not isinstance(name, str):
        raise ValueError(f"{name!r} is not a zone name")
    text = zone_name(name)
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"{name!r} is not a zone name (letters, digits, '-', '_' and dots)")
    return text


def nameserver_zone_list(zones: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The zones a name server holds: ``[{name, tenant, dnssec}]`` sorted by name."""
    if isinstance(zones, (str, Mapping)) or not isinstance(zones, Iterable):
        raise AnsibleFilterError("nameserver_zone_list: expected a list of zones ({name, tenant, dnssec}), "
                                 f"got {type(zones).__name__}")
    by_name: dict[str, dict[str, Any]] = {}
    for index, zone in enumerate(zones):
        where = f"nameserver_zones[{index}]"
        if not isinstance(zone, Mapping) or "name" not in zone:
            raise AnsibleFilterError(f"{where}: a zone needs at least a 'name' (got {zone!r})")
        tenant = str(zone.get("tenant") or "")
        where += f" (tenant '{tenant}')" if tenant else ""
        try:
            name = canonical_zone_name(zone["name"])
        except ValueError as err:
            raise AnsibleFilterError(f"{where}: name: {err}") from None
        if name in by_name:
            raise AnsibleFilterError(f"{where}: zone '{name}' is also declared by tenant "
                                     f"'{by_name[name]['tenant']}'; a zone has exactly one tenant")
        dnssec = zone.get("dnssec", True)
        if not isinstance(dnssec, bool):
            raise AnsibleFilterError(f"{where}: dnssec must be true or false, got {dnssec!r}")
        by_name[name] = {"name": name, "tenant": tenant, "dnssec": dnssec}
    return [by_name[name] for name in sorted(by_name)]


def _needs_dnspython(name: str) -> None:
    if DNS_IMPORT_ERROR is not None:
        raise AnsibleFilterError(f"{name} needs dnspython on the control node: {DNS_IMPORT_ERROR}")


def catalog_member_label(zone: str) -> str:
    """The member label of ``zone`` (the name as written, with or without the trailing dot)."""
    _needs_dnspython("catalog_member_label")
    try:
        name = canonical_zone_name(zone)
    except ValueError as err:
        raise AnsibleFilterError(f"catalog_member_label: {err}") from None
    return catalog.member_label(name)


def catalog_members(zone_text: str, catalog_zone: str) -> dict[str, str]:
    """``{member zone: label}`` from the zone-file text of ``catalog_zone`` (e.g. ``named-checkzone -D``)."""
    _needs_dnspython("catalog_members")
    try:
        zone = dns.zone.from_text(zone_text, origin=canonical_zone_name(catalog_zone) + ".", relativize=False,
                                  check_origin=False)
    except (ValueError, dns.exception.DNSException) as err:
        raise AnsibleFilterError(f"catalog_members: the text of {catalog_zone} is not a zone file: {err}") from None
    return catalog.members_of(((name, rdataset.rdtype, rdataset) for name, rdataset in zone.iterate_rdatasets()),
                              catalog_zone)


class FilterModule:
    """Helpers of the nameserver role."""

    def filters(self) -> dict[str, Any]:
        return {
            "nameserver_zone_list": nameserver_zone_list,
            "catalog_member_label": catalog_member_label,
            "catalog_members": catalog_members,
        }
