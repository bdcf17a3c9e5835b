# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a tenant that keeps its own registrar must set there, and how the parent serves it now.

One place for the text: ``playbooks/dns-tenant-instructions.yml`` prints it (filter
``psf.infra.delegation_instructions``), and the tenant's onboarding mail sends the same lines.

:func:`instructions` takes the domain, the Infra-WG's name servers, whether the zone is signed and
its DNSKEYs (from the primary), and what ``psf.infra.domain_info`` saw at the parent, and returns:

- ``ns``: the NS records to set (zone-file lines), ``ds``: the DS records (SHA-256 digest of each
  secure entry point, KSK or CSK), ``dnskeys``: the same keys for registrars that take DNSKEYs;
- ``status``, one of :data:`STATUSES` (what the parent serves, judged against those records);
- ``failing``: the parent's DS no longer matches our keys (``stale_ds``), so validating resolvers
  answer SERVFAIL for the tenant's names (or will at the next rollover step);
- ``lines``: the whole report, for a person; ``statuses``: every status there is (for a metric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.parent_keys import parent_keys
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import DnsKey, normalise_host

#: the NS TTL we suggest (a registrar usually sets its own)
TTL = 86400

UNKNOWN = "unknown"  # the parent was not asked (check mode, or no parent servers known)
MISSING = "missing"  # the parent does not delegate the domain
LAME = "lame"  # a name server the parent lists does not serve the zone
WRONG_NS = "wrong_ns"  # it works, but the parent lists other name servers than ours
STALE_DS = "stale_ds"  # the parent's DS matches none of the zone's keys (or the zone is unsigned)
DS_MISSING = "ds_missing"  # signed zone, no DS at the parent: it resolves, unvalidated (insecure)
DS_INCOMPLETE = "ds_incomplete"  # one of our keys is at the parent, not all (a rollover waits for it)
CORRECT = "correct"

#: every status, in the order the metric lists them
STATUSES = (CORRECT, DS_INCOMPLETE, DS_MISSING, WRONG_NS, LAME, MISSING, STALE_DS, UNKNOWN)
#: the statuses that fail the check
FAILING = (STALE_DS,)

_SAYS = {
    UNKNOWN: "not checked at the parent",
    MISSING: "NOT DELEGATED: the parent zone has no NS records for it; set the name servers below",
    LAME: "LAME: a name server the parent lists does not answer for it; set exactly the name servers below",
    WRONG_NS: "other name servers than ours are set at the parent; set exactly the name servers below",
    STALE_DS: ("STALE DS: the DS at the parent matches none of the zone's keys, so validating resolvers "
               "refuse its names; replace it with the DS records below now"),
    DS_MISSING: "delegated, but no DS at the parent: DNSSEC is not validated; add the DS records below",
    DS_INCOMPLETE: ("delegated and validating, but the parent does not hold all the DS records below; "
                    "add the missing ones"),
    CORRECT: "correct: the parent serves exactly these name servers and DS records",
}

ALGORITHMS = {8: "RSASHA256", 10: "RSASHA512", 13: "ECDSAP256SHA256", 14: "ECDSAP384SHA384", 15: "ED25519",
              16: "ED448"}


def _ds_rdata(text: str) -> dns.rdata.Rdata | None:
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, text)
    except (dns.exception.DNSException, ValueError):
        return None


def _matches(domain: str, parent_ds: str, keys: Sequence[DnsKey]) -> bool:
    """Is ``parent_ds`` the DS of one of ``keys`` (any digest type the parent chose)?"""
    rdata = _ds_rdata(parent_ds)
    if rdata is None:
        return False
    name = dns.name.from_text(domain)
    for key in keys:
        try:
            if dns.dnssec.make_ds(name, key.rdata(), rdata.digest_type) == rdata:
                return True
        except (dns.dnssec.UnsupportedAlgorithm, ValueError):
            continue
    return False


def judge(domain: str, *, signed: bool, keys: Sequence[DnsKey] | None,
          parent: Mapping[str, Any] | None, wanted: Sequence[DnsKey] | None = None) -> tuple[str, list[str]]:
    """(status, problems) of the delegation the parent serves; ``keys`` None: not known yet.

    A parent DS is stale when it matches none of ``keys`` (every published key with the SEP flag:
    one of them is enough to validate); the set is incomplete while a key of ``wanted`` (the keys
    whose DS belongs at the parent, default the same) has no DS there."""
    if not parent or parent.get("delegation") is None:
        return UNKNOWN, list((parent or {}).get("problems") or [])
    problems = list(parent.get("problems") or [])
    delegation = parent["delegation"]
    parent_ds = list(parent.get("parent_ds") or [])
    sep = [key for key in keys or () if key.sep]
    if delegation == "missing":
        return MISSING, problems
    # A DS that matches none of our keys breaks validation whatever the NS: report it first.
    if parent_ds and (not signed or (keys is not None and not any(_matches(domain, ds, sep) for ds in parent_ds))):
        problems = [p for p in problems if not p.startswith("the parent serves DS")]
        problems.append(f"the parent serves DS {'; '.join(parent_ds)}, which "
                        + ("the zone does not want: it is not signed" if not signed
                           else "matches none of the zone's keys (" + ", ".join(str(k.keytag) for k in sep) + ")"))
        return STALE_DS, problems
    if delegation == "lame":
        return LAME, problems
    if delegation == "mismatch":
        return WRONG_NS, problems
    if signed and keys is not None:
        if not parent_ds:
            return DS_MISSING, problems
        wanted_sep = sep if wanted is None else [key for key in wanted if key.sep]
        if not all(any(_matches(domain, ds, [key]) for ds in parent_ds) for key in wanted_sep):
            return DS_INCOMPLETE, problems
    return CORRECT, problems


def _keys(dnskeys: Sequence[str] | None, tenant: str | None, field_name: str = "dnskeys") -> list[DnsKey] | None:
    if dnskeys is None:
        return None
    return [DnsKey.from_text(text, tenant=tenant, field_name=field_name) for text in dnskeys]


def instructions(domain: str, *, nameservers: Sequence[str], signed: bool = True,
                 dnskeys: Sequence[str] | None = None, cdnskeys: Sequence[str] | None = None,
                 parent: Mapping[str, Any] | None = None,
                 tenant: str | None = None, display_name: str | None = None) -> dict[str, Any]:
    """The records a tenant sets at its registrar for ``domain``, the parent's state, and the text."""
    name = normalise_host(domain)
    if not name:
        raise InvalidInput(f"{domain!r} is not a domain name", tenant=tenant, field="domain")
    if not nameservers:
        raise InvalidInput("no name servers given (psf_dns_nameservers)", tenant=tenant, field="nameservers")
    hosts = [normalise_host(ns) for ns in nameservers]
    keys = _keys(dnskeys, tenant)
    # The DS to set: the keys the one rule names (module_utils/dns/parent_keys.py: the CDNSKEY set,
    # else the one SEP key), as domains.yml sets them for our own domains. When it names none (several
    # SEP keys and no CDNSKEY yet, as a rollover starts), the tenant is given every SEP key's DS:
    # both validate while both keys are published.
    chosen = parent_keys(dnskeys, cdnskeys or None) if dnskeys is not None or cdnskeys else None
    wanted = _keys(chosen, tenant, "cdnskeys" if cdnskeys else "dnskeys") if chosen is not None else None
    sep = [key for key in (wanted if wanted is not None else keys or ()) if key.sep]
    status, problems = judge(name, signed=signed, keys=keys, parent=parent, wanted=wanted)
    ns_records = [f"{name}. {TTL} IN NS {host}." for host in hosts]
    ds_records = [f"{name}. {TTL} IN DS {key.ds(name).upper()}" for key in sep] if signed else []
    key_records = [f"{name}. {TTL} IN DNSKEY {key.flags} 3 {key.algorithm} {key.public_key}" for key in sep]

    who = f"Tenant {tenant}" + (f" ({display_name})" if display_name else "") + ", " if tenant else ""
    lines = [f"{who}domain {name}: {_SAYS[status]}.",
             f"At your registrar, set exactly these name servers for {name} (and no others):",
             *(f"  {host}" for host in hosts),
             "As zone-file records:",
             *(f"  {record}" for record in ns_records)]
    if not signed:
        lines.append(f"DNSSEC: {name} is not signed by the Infra-WG: set no DS record at your registrar "
                     "(remove any that is there).")
    elif keys is None:
        lines.append(f"DNSSEC: the keys of {name} are not known yet (the zone is not signed on the primary yet); "
                     "run this again after playbooks/dns.yml.")
    else:
        lines.append(f"DNSSEC: set exactly these DS records for {name} (and no others):")
        for key in sep:
            tag, algorithm, digest_type, digest = key.ds(name).upper().split(" ", 3)
            lines.append(f"  key tag {tag}, algorithm {algorithm} ({ALGORITHMS.get(int(algorithm), 'unknown')}), "
                         f"digest type {digest_type} (SHA-256), digest {digest.replace(' ', '')}")
        lines.append("As zone-file records:")
        lines += [f"  {record}" for record in ds_records]
        lines.append("If your registrar asks for the public key instead of the DS (flags 257, protocol 3):")
        lines += [f"  {record}" for record in key_records]
    if parent and parent.get("delegation") is not None:
        seen_ns = ", ".join(parent.get("parent_nameservers") or []) or "(none)"
        seen_ds = "; ".join(parent.get("parent_ds") or []) or "(none)"
        lines.append(f"The parent zone serves now: NS {seen_ns}; DS {seen_ds}.")
    lines += [f"  - {problem}" for problem in problems]
    return {"tenant": tenant, "domain": name, "status": status, "failing": status in FAILING,
            "signed": signed, "ns": ns_records, "ds": ds_records, "dnskeys": key_records,
            "problems": problems, "lines": lines, "statuses": list(STATUSES)}
