"""The lab's DNS questions and changes, through the collection's DNS client (`module_utils/dns`).

Only 127.0.0.1 ever reaches it; TSIG keys are the lab's key files (`keys.lab_key`).
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset
from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message, replace_rrset

from psf_lab.config import DELEGATION_TTL, HOST


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def server(port: int, key: TsigKey | None = None, timeout: float = 5.0) -> DnsServer:
    """A lab server on 127.0.0.1 as the collection's client reaches it."""
    return DnsServer(HOST, port=port, tsig=key, timeout=timeout, role="lab name server")


def dns_query(port: int, name: str, rdtype: str, dnssec: bool = False, timeout: float = 2.0,
              recursion: bool = False) -> dns.message.Message:
    """The answer message of 127.0.0.1:`port` (RD only with `recursion`, DO with `dnssec`)."""
    return query_message(DnsServer(HOST, port=port, timeout=timeout), name, rdtype, dnssec=dnssec,
                         recursion=recursion)


def _answer(response: dns.message.Message, name: str, rdtype: str) -> dns.rrset.RRset | None:
    try:
        return response.find_rrset(response.answer, _name(name), dns.rdataclass.IN,
                                   dns.rdatatype.from_text(rdtype))
    except KeyError:
        return None


def _rrsig_covers(response: dns.message.Message, name: str, rdtype: str) -> bool:
    try:
        response.find_rrset(response.answer, _name(name), dns.rdataclass.IN, dns.rdatatype.RRSIG,
                            dns.rdatatype.from_text(rdtype))
    except KeyError:
        return False
    return True


def soa_serial(port: int, zone: str) -> int | None:
    """The serial 127.0.0.1:`port` serves for `zone` with authority; None when it does not."""
    response = dns_query(port, zone, "SOA")
    rrset = _answer(response, zone, "SOA")
    if response.rcode() != dns.rcode.NOERROR or not (response.flags & dns.flags.AA) or rrset is None:
        return None
    return rrset[0].serial


def signed_dnskeys(port: int, zone: str) -> dns.rrset.RRset | None:
    """The zone's DNSKEY RRset once the zone is fully signed (DNSKEY, SOA and apex NSEC signed)."""
    for rdtype in ("SOA", "NSEC"):
        if not _rrsig_covers(dns_query(port, zone, rdtype, dnssec=True), zone, rdtype):
            return None
    response = dns_query(port, zone, "DNSKEY", dnssec=True)
    if not _rrsig_covers(response, zone, "DNSKEY"):
        return None
    return _answer(response, zone, "DNSKEY")


def ds_from_dnskeys(zone: str, dnskeys: Iterable[dns.rdata.Rdata]) -> list[dns.rdata.Rdata]:
    """SHA-256 DS records for the key-signing keys (SEP flag) of a zone."""
    return sorted(
        (dns.dnssec.make_ds(_name(zone), key, "SHA256") for key in dnskeys if key.flags & 0x0001),
        key=lambda rdata: rdata.to_text(),
    )


#: How long an UPDATE may wait for its answer. Only a hang guard: on the 2 shared cores of a full
#: `make test`, ns1 was measured taking over 5 s to answer a catalog update while it signed zones.
UPDATE_TIMEOUT = 30.0


def send_update(port: int, zone: str, key: TsigKey, changes: list[Change]) -> None:
    """One UPDATE of `zone` on 127.0.0.1:`port`, signed with `key` (the client's errors name the server)."""
    server(port, key, timeout=UPDATE_TIMEOUT).send_updates(zone, changes)


def parent_delegation(port: int, child: str) -> tuple[set[str], set[str]]:
    """(NS targets, DS rdata texts) the parent server holds for `child`."""
    ns_response = dns_query(port, child, "NS")
    ns = set()
    for section in (ns_response.answer, ns_response.authority):
        for rrset in section:
            if rrset.name == _name(child) and rrset.rdtype == dns.rdatatype.NS:
                ns = {rdata.target.to_text() for rdata in rrset}
    ds_rrset = _answer(dns_query(port, child, "DS"), child, "DS")
    ds = {rdata.to_text() for rdata in ds_rrset} if ds_rrset else set()
    return ns, ds


def publish_delegation(parent_port: int, parent_zone: str, child: str, key: TsigKey,
                       ds: list[dns.rdata.Rdata], nameservers: dict[str, str] | None = None) -> bool:
    """Make the parent hold exactly these NS (+ glue) and DS for `child` (RFC 2136); True if changed."""
    current_ns, current_ds = parent_delegation(parent_port, child)
    wanted_ds = {rdata.to_text() for rdata in ds}
    ns_ok = nameservers is None or current_ns == set(nameservers)
    if ns_ok and current_ds == wanted_ds:
        return False
    changes = []
    if nameservers is not None:
        changes.append(replace_rrset(child, "NS", DELEGATION_TTL, list(nameservers)))
        changes += [replace_rrset(host, "A", DELEGATION_TTL, [address]) for host, address in nameservers.items()
                    if _name(host).is_subdomain(_name(child))]
    if ds:
        changes.append(replace_rrset(child, "DS", DELEGATION_TTL, sorted(wanted_ds)))
    elif current_ds:
        changes.append(Change(RRset.from_text(child, "DS", 0, sorted(current_ds)), None))
    send_update(parent_port, parent_zone, key, changes)
    return True


def remove_delegation(parent_port: int, parent_zone: str, child: str, key: TsigKey) -> None:
    """Delete the NS and DS rrsets of `child` in the parent (what is there; nothing when nothing is)."""
    current_ns, current_ds = parent_delegation(parent_port, child)
    changes = [Change(RRset.from_text(child, rdtype, 0, sorted(values)), None)
               for rdtype, values in (("DS", current_ds), ("NS", current_ns)) if values]
    if changes:
        send_update(parent_port, parent_zone, key, changes)
