# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is a zone's DNSSEC chain of trust intact, from a trust anchor down to the zone? (``dnssec_info``)

A small validating walk of our own, with dnspython, that asks authoritative servers directly
(given as IP addresses, never the system resolver) and explains the verdict::

    from ansible_collections.psf.infra.plugins.module_utils.dns.chain import ChainChecker, TrustAnchor

    checker = ChainChecker(TrustAnchor.from_file(".lab/trust-anchor/root.key"),
                           root_servers=[DnsServer("127.0.0.1", 5300, timeout=5.0)],
                           addresses={"ns1.infra.test": [("127.0.0.1", 5301)]}, timeout=5.0)
    result = checker.check("infra.test.")
    result.status, result.reason, result.as_dict()

The walk, zone cut by zone cut from the root (RFC 4035 section 5):

1. the zone's DNSKEY rrset, asked of its servers, must hold a key that matches the DS the parent
   served (or the trust anchor, at the root), and be signed by such a key;
2. the zone's servers are asked for the DS of the next label towards the target: a DS rrset signed
   by the zone's keys is the next cut's anchor; no DS and no delegation (an authoritative "no
   data") means the label is not a cut, and the walk goes one label further in the same zone; no DS
   but a delegation is an *insecure* delegation, which must be proven by a signed NSEC or NSEC3
   record (the types at the name: NS without DS), else the chain is *bogus*;
3. at the target, its SOA rrset must be signed by its DNSKEYs.

``status`` is ``secure``, ``insecure`` or ``bogus``; ``reason`` names the zone cut and the record. A
name that is not a zone (NXDOMAIN, or no delegation at its parent) is :class:`NotAZone`, and a
server that does not answer is the client's ``NameServerUnavailable`` (a ``BackendUnavailable``):
those are errors, not verdicts.

The servers of a delegated zone are its NS names at the addresses the caller gives
(``addresses``, e.g. the lab's ports), else the glue of the referral on port 53, else found by a
non-validating walk from the root servers for the name's A/AAAA records. A server that serves a
zone and its child (the lab registry serves ``.`` and ``test.``) answers for the child itself.
"""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zonefile
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsError, DnsServer, NameServerUnavailable
from ansible_collections.psf.infra.plugins.module_utils.dns.model import to_name
from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError
from ansible_collections.psf.infra.plugins.module_utils.parallel import (
    check_items,
    check_workers,
    failure_message,
    run_items,
)

SECURE = "secure"
INSECURE = "insecure"
BOGUS = "bogus"

#: The root zone's trust anchors as IANA publishes them, in
#: https://data.iana.org/root-anchors/root-anchors.xml (KeyDigest entries Klajeyz, KSK-2017, valid
#: from 2017-02-02, and Kmyv6jo, KSK-2024, valid from 2024-07-18). Check that file when IANA
#: announces a root KSK rollover, and add (later remove) the DS it lists.
IANA_ROOT_ANCHORS = (
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",  # KSK-2017
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",  # KSK-2024
)

#: The root servers' IPv4 addresses (https://www.internic.net/domain/named.root), asked when the
#: caller names none.
ROOT_SERVER_ADDRESSES = (
    "198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10", "192.5.5.241",
    "192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30", "193.0.14.129", "199.7.83.42",
    "202.12.27.33",
)

#: How many referrals the address look-up of a name server without glue follows, and how deep
#: such look-ups may nest (a name server whose own name servers have no glue ...).
MAX_REFERRALS = 12
MAX_ADDRESS_DEPTH = 3


class NotAZone(PsfInfraError):
    """The name is not a delegated zone: it does not exist, or its parent does not delegate it."""


class Bogus(Exception):
    """The chain is broken here; ``str(err)`` is the reason (internal to the walk)."""


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(  # noqa: UP017 - older targets
        "%Y-%m-%dT%H:%M:%SZ")


def _host(name: str | dns.name.Name) -> str:
    """``NS1.Infra.Test.`` -> ``ns1.infra.test`` (how ``addresses`` are keyed)."""
    return str(name).strip().rstrip(".").lower()


def rdata_types(rdata: Any) -> set[int]:
    """The types in the bitmap of an NSEC or NSEC3 record (RFC 4034 section 4.1.2)."""
    types = set()
    for window, bitmap in rdata.windows:
        for index, byte in enumerate(bitmap):
            types.update(window * 256 + index * 8 + bit for bit in range(8) if byte & (0x80 >> bit))
    return types


def key_summary(key: Any) -> dict[str, int]:
    return {"key_tag": dns.dnssec.key_id(key), "flags": key.flags, "algorithm": int(key.algorithm)}


@dataclass(frozen=True)
class TrustAnchor:
    """What is trusted for the root zone: DS records and/or DNSKEY records (RFC 4035 section 4.4)."""

    ds: tuple = ()
    dnskeys: tuple = ()
    source: str = "built-in IANA root anchors"

    def ds_text(self) -> list[str]:
        """The anchor as DS records (SHA-256 digests of its keys)."""
        return sorted({rdata.to_text() for rdata in self.ds}
                      | {dns.dnssec.make_ds(dns.name.root, key, "SHA256").to_text() for key in self.dnskeys})

    @classmethod
    def iana(cls) -> TrustAnchor:
        return cls.from_text("\n".join(IANA_ROOT_ANCHORS), source="built-in IANA root anchors")

    @classmethod
    def from_text(cls, text: str, source: str = "trust anchor") -> TrustAnchor:
        """DS and DNSKEY records of ``.`` in zone-file format (other records are refused)."""
        try:
            rrsets = dns.zonefile.read_rrsets(text, default_ttl=0, rdclass=None, origin=dns.name.root)
        except (dns.exception.DNSException, ValueError) as err:
            raise InvalidInput(f"not DS/DNSKEY records in zone-file format: {err}", file=source,
                               field="trust_anchor") from None
        ds, dnskeys = [], []
        for rrset in rrsets:
            if rrset.name != dns.name.root or rrset.rdtype not in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
                raise InvalidInput(f"only DS or DNSKEY records of the root '.' may be given, not "
                                   f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}", file=source,
                                   field="trust_anchor")
            (ds if rrset.rdtype == dns.rdatatype.DS else dnskeys).extend(rrset)
        if not ds and not dnskeys:
            raise InvalidInput("no DS or DNSKEY record of the root found", file=source, field="trust_anchor")
        return cls(tuple(ds), tuple(dnskeys), source)

    @classmethod
    def from_file(cls, path: str) -> TrustAnchor:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise InvalidInput(f"cannot read the trust anchor: {err.strerror or err}", file=path,
                               field="trust_anchor") from None
        return cls.from_text(text, source=path)


@dataclass
class ZoneCut:
    """One zone of the chain: what vouched for it and what it signs."""

    zone: str
    ds: list[str] = field(default_factory=list)
    dnskeys: list[dict[str, int]] = field(default_factory=list)
    validated_by: int | None = None
    expirations: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "ds": self.ds, "dnskeys": self.dnskeys, "validated_by": self.validated_by,
                "signature_expiry": _iso(min(self.expirations)) if self.expirations else None}


@dataclass
class ChainResult:
    """The verdict on ``zone`` and the chain that led to it."""

    zone: str
    status: str = BOGUS
    reason: str = ""
    chain: list[ZoneCut] = field(default_factory=list)
    now: float = 0.0

    @property
    def earliest_expiry(self) -> float | None:
        expirations = [when for cut in self.chain for when in cut.expirations]
        return min(expirations) if expirations else None

    def as_dict(self) -> dict[str, Any]:
        earliest = self.earliest_expiry
        return {"zone": self.zone, "status": self.status, "reason": self.reason,
                "chain": [cut.as_dict() for cut in self.chain],
                "earliest_signature_expiry": _iso(earliest),
                "days_to_signature_expiry": None if earliest is None else round((earliest - self.now) / 86400, 3)}


def _rrset(section: list, name: dns.name.Name, rdtype: int, covers: int = dns.rdatatype.NONE) -> Any:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
            return rrset
    return None


def _signatures(section: list, name: dns.name.Name, rdtype: int) -> Any:
    return _rrset(section, name, dns.rdatatype.RRSIG, rdtype)


class Referrals:
    """Follows referrals from the root servers (not validating): which servers serve a zone, and
    which zone and servers are the parent of a name. :class:`ChainChecker` validates on top of it;
    ``psf.infra.domain`` and ``psf.infra.domain_info`` find a domain's parent with it."""

    def __init__(self, root_servers: Sequence[DnsServer],
                 addresses: Mapping[str, Sequence[tuple[str, int]]] | None = None, timeout: float = 5.0) -> None:
        if not root_servers:
            raise InvalidInput("at least one root server is needed", field="root_servers")
        self.root_servers = list(root_servers)
        self.addresses = {_host(name): list(where) for name, where in (addresses or {}).items()}
        self.timeout = timeout

    # ---- asking ---------------------------------------------------------------------------------

    def _ask(self, servers: Sequence[DnsServer], name: dns.name.Name, rdtype: int,
             ) -> tuple[DnsServer, dns.message.Message]:
        """The first usable answer (NOERROR or NXDOMAIN) of ``servers``, asked in turn."""
        error: DnsError | None = None
        for server in servers:
            try:
                response = query_message(server, name, rdtype, dnssec=True)
            except NameServerUnavailable as err:
                error = err
                continue
            rcode = response.rcode()
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return server, response
            error = server.unavailable(f"query {name} {dns.rdatatype.to_text(rdtype)}",
                                       f"answered {dns.rcode.to_text(rcode)}",
                                       "that the server serves the zone")
        raise error or DnsError(f"no name server to ask for {name} {dns.rdatatype.to_text(rdtype)}")

    def _servers(self, zone: dns.name.Name, names: Iterable[dns.name.Name], glue: Sequence[Any],
                 depth: int = 0) -> list[DnsServer]:
        """The servers of ``zone`` at the addresses the caller gave, the glue, or looked up."""
        servers = []
        for name in sorted(names):
            where = self.addresses.get(_host(name))
            if not where:
                where = [(rdata.address, 53) for rrset in glue if rrset.name == name
                         and rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for rdata in rrset]
            if not where and depth < MAX_ADDRESS_DEPTH:
                where = self._look_up_address(name, depth + 1)
            servers += [DnsServer(address, port, None, self.timeout, role=f"name server {_host(name)} of {zone}")
                        for address, port in where]
        if not servers:
            raise PsfInfraError(f"{zone}: no address is known for its name servers "
                                f"{', '.join(_host(name) for name in names) or '(none)'}: no glue, not in "
                                "nameserver_addresses, and no address found from the root")
        return servers

    def _look_up_address(self, host: dns.name.Name, depth: int) -> list[tuple[str, int]]:
        """A name server's addresses, following referrals from the root (not validated: the
        answers it leads to are)."""
        servers = self.root_servers
        for _referral in range(MAX_REFERRALS):
            try:
                response = self._ask(servers, host, dns.rdatatype.A)[1]
            except DnsError:
                return []
            found = _rrset(response.answer, host, dns.rdatatype.A)
            if found is not None:
                return [(rdata.address, 53) for rdata in found]
            referral = [rrset for rrset in response.authority if rrset.rdtype == dns.rdatatype.NS]
            if response.flags & dns.flags.AA or not referral:
                return []
            try:
                servers = self._servers(referral[0].name, [rdata.target for rdata in referral[0]],
                                        response.additional, depth)
            except PsfInfraError:
                return []
        return []

    def _cut_servers(self, servers: Sequence[DnsServer], child: dns.name.Name) -> list[DnsServer] | None:
        """The servers of ``child`` when the zone served by ``servers`` delegates it, else None."""
        server, response = self._ask(servers, child, dns.rdatatype.NS)
        answer = _rrset(response.answer, child, dns.rdatatype.NS)
        if response.flags & dns.flags.AA:
            if answer is not None:  # the same server serves the child zone too
                return [server, *[other for other in servers if other is not server]]
            return None
        referral = _rrset(response.authority, child, dns.rdatatype.NS)
        if referral is None:
            return None
        return self._servers(child, [rdata.target for rdata in referral], response.additional)

    def parent_of(self, name: str | dns.name.Name) -> tuple[str, list[DnsServer]]:
        """The zone that holds ``name``'s delegation (or would: its closest enclosing zone) and that
        zone's servers, found zone cut by zone cut from the root: where the DS and the referral of
        ``name`` are served (``python.org.`` -> ``org.`` and the org servers)."""
        target = to_name(name, dns.name.root)
        current, servers = dns.name.root, self.root_servers
        for depth in range(1, len(target) - 1):
            child = target.split(depth + 1)[1]
            child_servers = self._cut_servers(servers, child)
            if child_servers is not None:
                current, servers = child, child_servers
        return current.to_text(), list(servers)


class ChainChecker(Referrals):
    """Walks and validates chains of trust (see the module docstring)."""

    def __init__(self, anchor: TrustAnchor, root_servers: Sequence[DnsServer],
                 addresses: Mapping[str, Sequence[tuple[str, int]]] | None = None, timeout: float = 5.0,
                 now: float | None = None) -> None:
        super().__init__(root_servers, addresses, timeout)
        self.anchor = anchor
        self.now = now

    # ---- validating -----------------------------------------------------------------------------

    def _time(self) -> float:
        return self.now if self.now is not None else time.time()

    def _verify(self, rrset: Any, signatures: Any, zone: dns.name.Name, keys: Any, what: str,
                cut: ZoneCut) -> int:
        """The key tag of a valid RRSIG of ``rrset`` by ``keys`` of ``zone``; else Bogus naming ``what``."""
        if signatures is None or not len(signatures):
            raise Bogus(f"{what}: no RRSIG (the answer is not signed)")
        now = self._time()
        problems = []
        for rrsig in signatures:
            label = f"RRSIG by key {rrsig.key_tag} (algorithm {int(rrsig.algorithm)})"
            if rrsig.signer != zone:
                problems.append(f"{label} is signed by {rrsig.signer}, not {zone}")
                continue
            if rrsig.expiration < now:
                problems.append(f"{label} expired at {_iso(rrsig.expiration)}")
                continue
            if rrsig.inception > now:
                problems.append(f"{label} is not valid before {_iso(rrsig.inception)}")
                continue
            try:
                dns.dnssec.validate_rrsig(rrset, rrsig, {zone: keys}, now=now)
            except dns.dnssec.UnsupportedAlgorithm as err:
                problems.append(f"{label}: {err}")
                continue
            except dns.dnssec.ValidationFailure as err:
                reason = str(err)
                if reason == "unknown key":
                    reason = "no such key in the DNSKEY rrset that is trusted"
                elif reason == "verify failure":
                    reason = "the signature does not verify"
                problems.append(f"{label}: {reason}")
                continue
            cut.expirations.append(float(rrsig.expiration))
            return int(rrsig.key_tag)
        raise Bogus(f"{what}: no valid signature ({'; '.join(problems)})")

    def _trusted_keys(self, zone: dns.name.Name, dnskeys: Any, ds: Sequence[Any], anchor_keys: Sequence[Any],
                      source: str) -> dns.rdataset.Rdataset:
        """The DNSKEYs that a DS (or an anchor key) vouches for; else Bogus naming the records."""
        trusted = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY)
        unsupported = []
        for key in dnskeys:
            if key in anchor_keys:
                trusted.add(key)
                continue
            for record in ds:
                if record.key_tag != dns.dnssec.key_id(key) or record.algorithm != key.algorithm:
                    continue
                try:
                    digest = dns.dnssec.make_ds(zone, key, record.digest_type)
                except dns.dnssec.UnsupportedAlgorithm as err:
                    unsupported.append(f"DS {record.key_tag}: {err}")
                    continue
                if digest.digest == record.digest:
                    trusted.add(key)
        if not len(trusted):
            tags = ", ".join(f"{record.key_tag} (algorithm {int(record.algorithm)}, digest type "
                             f"{int(record.digest_type)})" for record in ds) or "none"
            keys = ", ".join(str(dns.dnssec.key_id(key)) for key in dnskeys)
            raise Bogus(f"{zone}: no DNSKEY matches {source} (DS {tags}; DNSKEY key tags {keys}; "
                        f"a DS digest that does not match the key, or a key that is gone)"
                        + (f"; {'; '.join(unsupported)}" if unsupported else ""))
        return trusted

    def _zone_keys(self, zone: dns.name.Name, servers: Sequence[DnsServer], ds: Sequence[Any],
                   anchor_keys: Sequence[Any], source: str, cut: ZoneCut) -> Any:
        """The zone's DNSKEY rrset, validated against ``ds``/``anchor_keys``."""
        response = self._ask(servers, zone, dns.rdatatype.DNSKEY)[1]
        dnskeys = _rrset(response.answer, zone, dns.rdatatype.DNSKEY)
        if dnskeys is None:
            raise Bogus(f"{zone}: {source} vouches for it, but its servers serve no DNSKEY "
                        f"(answer {dns.rcode.to_text(response.rcode())} from {servers[0].where})")
        cut.dnskeys = sorted((key_summary(key) for key in dnskeys), key=lambda key: key["key_tag"])
        trusted = self._trusted_keys(zone, dnskeys, ds, anchor_keys, source)
        cut.validated_by = self._verify(dnskeys, _signatures(response.answer, zone, dns.rdatatype.DNSKEY), zone,
                                        trusted, f"{zone} DNSKEY", cut)
        return dnskeys

    def _no_ds_proof(self, response: dns.message.Message, child: dns.name.Name, zone: dns.name.Name,
                     keys: Any, cut: ZoneCut) -> str:
        """Why ``zone`` serving no DS for ``child`` is proven (signed NSEC/NSEC3), else Bogus."""
        what = f"{zone} has no DS for {child}"
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.NSEC and rrset.name == child:
                types = rdata_types(rrset[0])
                if dns.rdatatype.DS in types or dns.rdatatype.NS not in types:
                    raise Bogus(f"{what}, but its NSEC at {child} lists "
                                f"{' '.join(sorted(dns.rdatatype.to_text(t) for t in types))}")
                self._verify(rrset, _signatures(response.authority, child, dns.rdatatype.NSEC), zone, keys,
                             f"{zone} NSEC {child}", cut)
                return f"proven by the signed NSEC record at {child} (NS without DS)"
        for rrset in response.authority:
            if rrset.rdtype != dns.rdatatype.NSEC3:
                continue
            rdata = rrset[0]
            try:
                hashed = dns.dnssec.nsec3_hash(child, rdata.salt, rdata.iterations, rdata.algorithm).lower()
            except ValueError:
                continue
            owner = rrset.name.labels[0].decode("ascii").lower()
            next_hash = _base32hex(rdata.next)
            exact = owner == hashed
            covered = (owner < hashed < next_hash) or (next_hash <= owner and (hashed > owner or hashed < next_hash))
            if exact:
                types = rdata_types(rdata)
                if dns.rdatatype.DS in types or dns.rdatatype.NS not in types:
                    continue
            elif not (covered and rdata.flags & 1):  # opt-out (RFC 5155 section 6)
                continue
            self._verify(rrset, _signatures(response.authority, rrset.name, dns.rdatatype.NSEC3), zone, keys,
                         f"{zone} NSEC3 {rrset.name}", cut)
            return (f"proven by the signed NSEC3 record {rrset.name} "
                    + ("(NS without DS)" if exact else "(an opt-out span covering it)"))
        soa = _rrset(response.authority, zone, dns.rdatatype.SOA)
        if soa is None or _signatures(response.authority, zone, dns.rdatatype.SOA) is None:
            raise Bogus(f"{what}, and that answer is not signed (no RRSIG over its SOA, no NSEC/NSEC3)")
        raise Bogus(f"{what}, and no signed NSEC/NSEC3 record proves it")

    # ---- the walk -------------------------------------------------------------------------------

    def check(self, zone: str | dns.name.Name) -> ChainResult:
        """Validate the chain of trust from the anchor down to ``zone``."""
        target = to_name(zone, dns.name.root)
        result = ChainResult(target.to_text(), now=self._time())
        current = dns.name.root
        servers: list[DnsServer] = self.root_servers
        cut = ZoneCut(current.to_text(), ds=self.anchor.ds_text())
        result.chain.append(cut)
        try:
            keys = self._zone_keys(current, servers, self.anchor.ds, self.anchor.dnskeys,
                                   f"the trust anchor ({self.anchor.source})", cut)
            depth = len(current)
            while current != target:
                depth += 1
                child = target.split(depth)[1]
                response = self._ask(servers, child, dns.rdatatype.DS)[1]
                if response.rcode() == dns.rcode.NXDOMAIN:
                    raise NotAZone(f"{target}: {current} answers that {child} does not exist (NXDOMAIN)",
                                   chain=[each.as_dict() for each in result.chain])
                ds = _rrset(response.answer, child, dns.rdatatype.DS)
                if ds is not None:
                    self._verify(ds, _signatures(response.answer, child, dns.rdatatype.DS), current, keys,
                                 f"{current} DS {child}", cut)
                child_servers = self._cut_servers(servers, child)
                if child_servers is None:
                    if ds is not None:
                        raise Bogus(f"{current} serves DS for {child} but does not delegate it")
                    if child == target:
                        raise NotAZone(f"{target} is not a zone: {current} does not delegate it",
                                       chain=[each.as_dict() for each in result.chain])
                    continue  # a name inside the current zone, not a cut
                cut = ZoneCut(child.to_text(), ds=sorted(rdata.to_text() for rdata in ds) if ds else [])
                if ds is None:
                    proof = self._no_ds_proof(response, child, current, keys, result.chain[-1])
                    result.chain.append(cut)
                    result.status = INSECURE
                    result.reason = (f"{current} delegates {child} without a DS record ({proof}): "
                                     f"{target} is not signed or its DS is not at the parent"
                                     if child == target else
                                     f"{current} delegates {child} without a DS record ({proof}): "
                                     f"nothing under {child}, {target} included, can be validated")
                    return result
                result.chain.append(cut)
                keys = self._zone_keys(child, child_servers, list(ds), (), f"the DS at {current}", cut)
                current, servers = child, child_servers
            response = self._ask(servers, target, dns.rdatatype.SOA)[1]
            soa = _rrset(response.answer, target, dns.rdatatype.SOA)
            if soa is None:
                raise Bogus(f"{target}: its servers serve no SOA for it")
            self._verify(soa, _signatures(response.answer, target, dns.rdatatype.SOA), target, keys,
                         f"{target} SOA", cut)
        except Bogus as err:
            result.status = BOGUS
            result.reason = str(err)
            return result
        result.status = SECURE
        result.reason = (f"validated from {self.anchor.source} through "
                         f"{' -> '.join(each.zone for each in result.chain)}")
        return result


def _base32hex(value: bytes) -> str:
    return base64.b32hexencode(value).decode("ascii").lower()


def walk_options(params: Mapping[str, Any]) -> tuple[list[DnsServer], dict[str, list[tuple[str, int]]], float]:
    """The root servers, name server addresses and timeout of the options the walking modules share
    (``root_servers``, ``nameserver_addresses``, ``timeout``: spec ``registrar/options.py`` WALK, doc
    fragment ``psf.infra.registrar.walk``); InvalidInput naming the field when one is wrong."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import ip_address, port_number

    timeout = params.get("timeout") or 5.0
    if timeout <= 0:
        raise InvalidInput("timeout must be more than 0 seconds", field="timeout")
    roots = [DnsServer(ip_address(entry.get("server"), f"root_servers[{index}].server"),
                       port_number(entry.get("port") or 53, f"root_servers[{index}].port"), None, timeout,
                       role="root name server")
             for index, entry in enumerate(params.get("root_servers") or [])]
    if not roots:
        roots = [DnsServer(address, 53, None, timeout, role="root name server") for address in ROOT_SERVER_ADDRESSES]
    addresses: dict[str, list[tuple[str, int]]] = {}
    for index, entry in enumerate(params.get("nameserver_addresses") or []):
        if not entry.get("name"):
            raise InvalidInput("a name server needs a name", field=f"nameserver_addresses[{index}].name")
        addresses.setdefault(_host(entry["name"]), []).append(
            (ip_address(entry.get("address"), f"nameserver_addresses[{index}].address"),
             port_number(entry.get("port") or 53, f"nameserver_addresses[{index}].port")))
    return roots, addresses, timeout


def _zone_name(zone: Any, field_name: str) -> dns.name.Name:
    """A zone option (``zone``, ``zones[i]``) as an absolute name; InvalidInput naming the field."""
    if not zone:
        raise InvalidInput("a zone is needed", field=field_name)
    try:
        return to_name(str(zone), dns.name.root)
    except (dns.exception.DNSException, ValueError) as err:
        raise InvalidInput(f"'{zone}' is not a domain name: {err}", field=field_name) from None


def _anchor(params: Mapping[str, Any]) -> TrustAnchor:
    return TrustAnchor.from_file(params["trust_anchor"]) if params.get("trust_anchor") else TrustAnchor.iana()


def checker_from_params(params: Mapping[str, Any], now: float | None = None) -> ChainChecker:
    """The checker of psf.infra.dnssec_info's options; InvalidInput naming the field when one is wrong."""
    roots, addresses, timeout = walk_options(params)
    anchor = _anchor(params)
    _zone_name(params.get("zone"), "zone")
    return ChainChecker(anchor, roots, addresses, timeout, now)


def check_zones(params: Mapping[str, Any], now: float | None = None) -> tuple[dict[str, Any], str | None]:
    """psf.infra.dnssec_info's list form (``zones``): every zone's chain checked, in threads
    (``module_utils/parallel.py``); one checker for all (it keeps no state between walks).

    Returns the result (``zones``: per zone, in input order, ``name`` as given and the single form's
    keys, or ``failed`` and ``msg`` for a zone that could not be checked) and the failure message
    naming every such zone, or None. ``secure``, ``insecure`` and ``bogus`` are verdicts, not failures."""
    workers = check_workers(params.get("workers"))
    zones = list(params["zones"])
    names = check_items(zones, lambda index, zone: _zone_name(zone, f"zones[{index}]"))
    roots, addresses, timeout = walk_options(params)
    checker = ChainChecker(_anchor(params), roots, addresses, timeout, now)
    outcomes = run_items(names, lambda _index, name: checker.check(name).as_dict(), workers=workers)
    items = []
    for outcome in outcomes:
        zone = zones[outcome.index]
        if outcome.failed:
            items.append({"name": zone, "zone": outcome.item.to_text(), **outcome.error_fields()})
        else:
            items.append({"name": zone, **(outcome.result or {})})
    failed = any(outcome.failed for outcome in outcomes)
    return ({"changed": False, "zones": items},
            failure_message(outcomes, "zones", lambda outcome: outcome.item.to_text()) if failed else None)
