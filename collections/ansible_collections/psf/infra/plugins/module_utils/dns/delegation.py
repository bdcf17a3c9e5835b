# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The delegations a hosted zone holds for the hosted zones inside it (``dns_zone``'s ``delegations``).

A zone we host under another zone we host (``lab.packaging.test`` beside ``packaging.test``) is only
reachable when the parent delegates it: an NS rrset naming the Infra-WG's name servers at the
child's name and, when the child is signed, the DS of its secure entry points (KSK/CSK), so the
chain of trust reaches it. These records are *managed*: computed from the registry and the child's
keys, never declared by a tenant:

- a record the tenant declares at or below a child's name is refused (it would fight the
  delegation, or sit below it where nobody sees it), naming the tenant, the file and the field;
- the NS rrset is the Infra-WG's name servers; the DS rrset is the SHA-256 DS of the child's SEP
  keys, computed the way the rfc2136 registrar computes it (``registrar.base.DnsKey.ds``); a child
  without keys (unsigned) has no DS; keys not known (``dnskeys`` not given: in check mode, before the
  child exists) keep the DS the parent serves now;
- a delegation to the Infra-WG's name servers that the registry no longer lists (the child zone was
  removed) is deleted, with its DS, whatever ``prune`` says: it is ours, and stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.model import NS, RRset, RRsetKey, relative_text
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import Where, parse_owner
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import DnsKey

DS = dns.rdatatype.DS


@dataclass(frozen=True)
class ChildZone:
    name: dns.name.Name
    dnskeys: tuple[DnsKey, ...] | None  # None: not known, keep the parent's DS as it is


@dataclass(frozen=True)
class Delegations:
    """Every hosted child zone of one zone, and the name servers that serve them."""

    nameservers: frozenset[dns.name.Name]
    children: tuple[ChildZone, ...]
    ttl: int

    def child_of(self, name: dns.name.Name) -> ChildZone | None:
        """The child zone that ``name`` is at or below, if any."""
        for child in self.children:
            if name.is_subdomain(child.name):
                return child
        return None


def parse_delegations(value: Mapping[str, Any], origin: dns.name.Name, where: Where, ttl: int) -> Delegations:
    """The module's ``delegations`` option -> Delegations (bad input is InvalidInput)."""
    nameservers = []
    for index, host in enumerate(value.get("nameservers") or []):
        text = str(host).strip()
        nameservers.append(parse_owner(text if text.endswith(".") else text + ".", dns.name.root, where,
                                       f"delegations.nameservers[{index}]"))
    if not nameservers:
        raise where.error("a delegation needs the name servers of the hosted zones", "delegations.nameservers")
    children: list[ChildZone] = []
    for index, child in enumerate(value.get("zones") or []):
        at = f"delegations.zones[{index}]"
        text = str(child.get("name") or "").strip()
        name = parse_owner(text if text.endswith(".") else text + ".", origin, where, f"{at}.name")
        if name == origin:
            raise where.error(f"{name} is this zone itself, not a zone inside it", f"{at}.name")
        if any(name == other.name for other in children):
            raise where.error(f"{name} is delegated twice", f"{at}.name")
        keys = child.get("dnskeys")
        parsed = None if keys is None else tuple(
            DnsKey.from_text(str(key), field_name=f"{at}.dnskeys[{position}]", tenant=where.tenant,
                             source_file=where.source_file) for position, key in enumerate(keys))
        children.append(ChildZone(name, parsed))
    return Delegations(frozenset(nameservers), tuple(children), ttl)


def refuse_declared_inside(delegations: Delegations, origin: dns.name.Name, where: Where, *,
                           records: Sequence[Mapping[str, Any]] | None,
                           declared: Mapping[RRsetKey, RRset]) -> None:
    """A declared record at or below a hosted child's name is refused (the field names the record)."""
    if not delegations.children:
        return
    if records is not None:
        owners = [(parse_owner(record.get("name"), origin, where, f"records[{index}].name"), f"records[{index}].name")
                  for index, record in enumerate(records)]
    else:
        owners = [(name, "zone_file") for name, _rdtype in sorted(declared, key=lambda key: key[0])]
    for owner, field in owners:
        child = delegations.child_of(owner)
        if child is None:
            continue
        raise where.error(
            f"{relative_text(owner, origin)} is {'the' if owner == child.name else 'inside the'} hosted zone "
            f"{child.name.to_text().rstrip('.')}, which {origin.to_text().rstrip('.')} delegates to the "
            "Infra-WG's name servers (its NS and DS records are written from the registry): declare records "
            "there in that zone instead", field)


def _names_our_servers(rrset: RRset, delegations: Delegations) -> bool:
    return {rdata.target for rdata in rrset.rdatas} == set(delegations.nameservers)


def with_delegations(delegations: Delegations, desired: Mapping[RRsetKey, RRset], live: Mapping[RRsetKey, RRset],
                     origin: dns.name.Name) -> tuple[dict[RRsetKey, RRset], list[RRsetKey]]:
    """``desired`` with each child's NS and DS added, and the live delegations that are ours and stale
    (an NS rrset below the apex naming exactly our name servers, for a zone no longer listed; with its DS)."""
    result = dict(desired)
    stale: list[RRsetKey] = []
    targets = [ns.to_text() for ns in sorted(delegations.nameservers)]
    for child in delegations.children:
        result[(child.name, NS)] = RRset.from_text(child.name, "NS", delegations.ttl, targets)
        if child.dnskeys is None:
            if (child.name, DS) in live:
                result[(child.name, DS)] = live[(child.name, DS)]
            continue
        ds = sorted({key.ds(child.name.to_text()) for key in child.dnskeys if key.sep})
        if ds:
            result[(child.name, DS)] = RRset.from_text(child.name, "DS", delegations.ttl, ds)
        elif (child.name, DS) in live:  # an unsigned child: the DS it had goes, whatever prune says
            stale.append((child.name, DS))
    listed = {child.name for child in delegations.children}
    for (name, rdtype), rrset in live.items():
        if rdtype != NS or name == origin or name in listed or (name, NS) in desired:
            continue
        if _names_our_servers(rrset, delegations):
            stale.append((name, NS))
            if (name, DS) in live and (name, DS) not in desired:
                stale.append((name, DS))
    return result, stale
