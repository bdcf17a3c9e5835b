# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Catalog zones (RFC 9432, version 2): member labels, the members of a catalog, and the changes
that make a catalog list some zones and not others.

A member is a PTR record ``<label>.zones.<catalog>. PTR <member zone>.``; RFC 9432 leaves the label
to the producer: ours is the SHA-1 of the member zone's wire name, in hex (the lab uses the same).
Used by ``psf.infra.dns_catalog`` (reading the catalog by AXFR, changing it by UPDATE through
``client.DnsServer``) and the ``catalog_member_label``/``catalog_members`` filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset, to_name
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name

PTR = dns.rdatatype.PTR

#: ``(owner, type, record data)`` of a zone's records, however they were read (AXFR, zone file).
Records = Iterable[tuple[dns.name.Name, int, Iterable[dns.rdata.Rdata]]]


def member_label(zone: str | dns.name.Name) -> str:
    """The member label of ``zone`` (written with or without the final dot, in any case)."""
    name = to_name(zone_name(zone)) if isinstance(zone, str) else zone
    return hashlib.sha1(name.canonicalize().to_wire(), usedforsecurity=False).hexdigest()


def members_of(records: Records, catalog: str | dns.name.Name) -> dict[str, str]:
    """``{member zone: label}`` of a catalog's records; member zones in the ``zone_name`` spelling.

    Only the PTR records directly below ``zones.<catalog>`` are members; a member's own properties
    (``coo``, ``group``) live one level below and are not.
    """
    parent = dns.name.Name(("zones",)).concatenate(to_name(catalog))
    members: dict[str, str] = {}
    for owner, rdtype, rdatas in records:
        if rdtype == PTR and owner.parent() == parent:
            for rdata in rdatas:
                members[zone_name(rdata.target.to_text())] = owner.labels[0].decode("ascii")
    return members


def records_of(rrsets: dict) -> Records:
    """The records of an AXFR (``DnsServer.axfr``'s ``{(name, type): RRset}``) for :func:`members_of`."""
    return ((name, rdtype, rrset.rdatas) for (name, rdtype), rrset in rrsets.items())


@dataclass(frozen=True)
class CatalogPlan:
    """What a catalog lacks (``add``) and what it lists too much (``remove``), as zone names."""

    catalog: dns.name.Name
    members: dict[str, str]  # the catalog's members now: {zone: label}
    add: list[str]
    remove: list[str]

    def changes(self, ttl: int) -> list[Change]:
        """One UPDATE's changes: each removed member's PTR (under its own label), each new member's."""
        origin = self.catalog
        changes = [Change(RRset.from_text(f"{self.members[zone]}.zones", PTR, ttl, [f"{zone}."], origin), None)
                   for zone in self.remove]
        changes += [Change.add_values(f"{member_label(zone)}.zones", PTR, ttl, [f"{zone}."], origin)
                    for zone in self.add]
        return changes

    def after(self) -> dict[str, str]:
        """The members once the plan is applied."""
        members = {zone: label for zone, label in self.members.items() if zone not in self.remove}
        members.update({zone: member_label(zone) for zone in self.add})
        return dict(sorted(members.items()))


def plan(catalog: str | dns.name.Name, members: dict[str, str], wanted: Iterable[str],
         unwanted: Iterable[str]) -> CatalogPlan:
    """Add the ``wanted`` zones that are not members; remove the ``unwanted`` ones that are.

    Members in neither list are left alone (zones somebody else put in the catalog).
    """
    wanted_names = {zone_name(zone) for zone in wanted}
    unwanted_names = {zone_name(zone) for zone in unwanted} - wanted_names
    return CatalogPlan(to_name(catalog), dict(sorted(members.items())),
                       sorted(wanted_names - set(members)), sorted(unwanted_names & set(members)))
