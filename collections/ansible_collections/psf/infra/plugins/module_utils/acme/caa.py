# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CAA (RFC 8659) checked before ordering: a name whose CAA forbids our CA fails early and clearly.

The CA checks CAA itself (Let's Encrypt does; pebble 2.4 does not), but checking first turns a
failed order (and a rate-limit count) into a message naming the record that forbids issuance.
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    import dns.exception
    import dns.name
    import dns.rdatatype
    import dns.resolver
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str


def issuer_domain(value: str) -> str:
    """The issuer domain of an ``issue``/``issuewild`` value (parameters after ';' dropped)."""
    return zone_name(value.split(";", 1)[0])


def caa_verdict(records: list[CaaRecord], *, identities: list[str], wildcard: bool) -> tuple[bool, str]:
    """Whether the relevant CAA RRset lets a CA with one of ``identities`` issue; and why.

    RFC 8659 section 4: no CAA records -> allowed; for a wildcard the ``issuewild`` records win when
    there are any; an unknown critical tag forbids issuance.
    """
    if not records:
        return True, "no CAA records"
    for record in records:
        if record.flags & 128 and record.tag.lower() not in ("issue", "issuewild", "iodef"):
            return False, f"unknown critical CAA tag {record.tag!r}"
    wanted = {zone_name(identity) for identity in identities}
    issue = [r for r in records if r.tag.lower() == "issue"]
    issuewild = [r for r in records if r.tag.lower() == "issuewild"]
    relevant = issuewild if wildcard and issuewild else issue
    tag = "issuewild" if relevant is issuewild and wildcard and issuewild else "issue"
    if not relevant:
        return True, "CAA records present but none restricts issuance"
    allowed = sorted({issuer_domain(r.value) for r in relevant} - {""})
    if wanted & set(allowed):
        return True, f"CAA {tag} allows {', '.join(sorted(wanted & set(allowed)))}"
    shown = ", ".join(allowed) if allowed else "no CA at all (';')"
    return False, f"CAA {tag} allows only {shown}, not {', '.join(sorted(wanted))}"


def relevant_caa(resolver: dns.resolver.Resolver, name: str) -> tuple[str, list[CaaRecord]]:
    """The relevant CAA RRset of ``name``: its own, else the closest ancestor's (RFC 8659 3)."""
    current = dns.name.from_text(name[2:] if name.startswith("*.") else name)
    while current != dns.name.root:
        try:
            answer = resolver.resolve(current, dns.rdatatype.CAA, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            answer = None
        except (dns.exception.DNSException, OSError) as error:
            raise PsfInfraError(f"cannot look up the CAA records of {current}: {error}") from None
        if answer is not None and answer.rrset is not None:
            return current.to_text(), [CaaRecord(r.flags, r.tag.decode("ascii", "replace"),
                                                 r.value.decode("ascii", "replace")) for r in answer.rrset]
        current = current.parent()
    return ".", []


def check_caa(resolver: dns.resolver.Resolver, names: list[str], identities: list[str]) -> list[str]:
    """Raise naming every name whose CAA forbids ``identities``; return a note per name otherwise."""
    notes, refusals = [], []
    for name in names:
        owner, records = relevant_caa(resolver, name)
        allowed, why = caa_verdict(records, identities=identities, wildcard=name.startswith("*."))
        (notes if allowed else refusals).append(f"{name}: {why}" + (f" (at {owner})" if records else ""))
    if refusals:
        raise PsfInfraError("CAA forbids issuance by this CA: " + "; ".join(refusals)
                            + ". Fix the zone's CAA records (issue/issuewild) or 'acme_caa_identities'.")
    return notes
