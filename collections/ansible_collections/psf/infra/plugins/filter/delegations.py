# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Zones inside zones: the hosted zones that another hosted zone must delegate (playbooks/dns.yml).

``hosted_child_zones``: from the registry, every hosted zone whose nearest enclosing hosted zone is
another hosted zone (``lab.packaging.test`` under ``packaging.test``), whoever the tenants are. A
record the parent's tenant file declares at or below a child's name is refused here, before anything
changes, naming the tenant, the file and the field (``psf.infra.dns_zone`` refuses it too).

``zone_delegations``: the ``delegations.zones`` option of ``psf.infra.dns_zone`` for one parent: each
child's name and, for a signed child, the keys whose DS belongs at its parent (``zone_parent_keys``:
the rule of ``module_utils/dns/parent_keys.py``, over what ``psf.infra.dns_zone_info`` read from the
primary); the module makes the DS from them with the rfc2136 registrar's computation
(``registrar.base.DnsKey.ds``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.dns.parent_keys import zone_parent_keys
from ansible_collections.psf.infra.plugins.module_utils.registry import views
from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_within, zone_name
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import HOSTED_STATUSES


def _owner(name: Any, zone: str) -> str:
    """A declared record's owner (``@``, relative, absolute with a final dot) in the ``zone_name`` spelling."""
    text = str(name).strip()
    if text == "@":
        return zone
    if text.endswith("."):
        return zone_name(text)
    return zone_name(f"{text}.{zone}")


def hosted_child_zones(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every hosted zone inside another hosted zone, with its ``parent`` (the nearest one), sorted by name."""
    try:
        # an offboarding tenant's zones are not hosted any more (views.is_offboarding)
        records = views.with_statuses(tenants, statuses, offboarding=False)
    except views.NotTenantRecords as error:
        raise AnsibleFilterError(f"hosted_child_zones: {error}") from None
    zones = []  # (name, tenant record, index in its services.zones, zone)
    for record in records:
        for index, zone in enumerate((record.get("services") or {}).get("zones") or []):
            zones.append((zone_name(str(zone["name"])), record, index, zone))
    names = {item[0] for item in zones}
    children = []
    for name, record, _position, zone in zones:
        parents = [other for other in names if other != name and is_within(name, other)]
        if not parents:
            continue
        parent = max(parents, key=len)
        parent_record, parent_index, parent_zone = next(item[1:] for item in zones if item[0] == parent)
        parent_file = parent_zone.get("source_file") or f"{parent_record['name']}.yml"
        for position, declared in enumerate(parent_zone.get("records") or []):
            owner = _owner(declared.get("name", ""), parent)
            if is_within(owner, name):
                raise AnsibleFilterError(
                    f"{parent_file}: tenant '{parent_record['name']}': "
                    f"services.zones[{parent_index}].records[{position}].name: {declared.get('name')!r} is "
                    f"{'the' if owner == name else 'inside the'} hosted zone {name}, which {parent} delegates to "
                    "the Infra-WG's name servers (its NS and DS records are written from the registry): declare "
                    "records there in that zone instead")
        children.append({"name": name, "parent": parent, "dnssec": bool(zone.get("dnssec", True)),
                         "tenant": record["name"], "source_file": zone.get("source_file"),
                         "parent_tenant": parent_record["name"], "parent_source_file": parent_zone.get("source_file")})
    return sorted(children, key=lambda child: child["name"])


def _child_keys(results: Iterable[Any], child: str) -> list[str] | None:
    """``zone_parent_keys`` of ``child``'s result among the registered ``dns_zone_info`` results: the
    items of its list form (``zone``) or of a loop (``item.name``); a zone not read (``failed``) has none."""
    for result in results or ():
        if not isinstance(result, Mapping):
            continue
        name = (result.get("item") or {}).get("name") if isinstance(result.get("item"), Mapping) else result.get("zone")
        if zone_name(str(name or "")) == child:
            return None if result.get("failed") else zone_parent_keys(result)
    return None


def zone_delegations(children: Any, parent: str, keys: Any = None) -> list[dict[str, Any]]:
    """The children of ``parent`` as ``psf.infra.dns_zone``'s ``delegations.zones``: ``{name, dnskeys}``.

    ``keys``: the registered result of ``dns_zone_info``'s list form over the children (``include_dnssec``),
    or of a loop of its single form;
    an unsigned child gets ``dnskeys: []`` (no DS), a signed one whose keys were not read none (keep the DS).
    """
    if not isinstance(children, list):
        raise AnsibleFilterError(f"zone_delegations: expected the list of hosted_child_zones, got "
                                 f"{type(children).__name__}")
    results = keys
    if isinstance(keys, Mapping):  # a registered loop (results) or list form (zones)
        results = keys.get("results") if "results" in keys else keys.get("zones")
    wanted = zone_name(str(parent))
    delegations = []
    for child in children:
        if zone_name(str(child["parent"])) != wanted:
            continue
        entry: dict[str, Any] = {"name": child["name"]}
        dnskeys = _child_keys(results, child["name"]) if child.get("dnssec", True) else []
        if dnskeys is not None:
            entry["dnskeys"] = dnskeys
        delegations.append(entry)
    return delegations


class FilterModule:
    """Delegations between hosted zones."""

    def filters(self) -> dict[str, Any]:
        return {"hosted_child_zones": hosted_child_zones, "zone_delegations": zone_delegations,
                "zone_parent_keys": zone_parent_keys}
