# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The values the DNS code passes around: an rrset and a change to one.

Names are always absolute :class:`dns.name.Name`; record data are dnspython ``Rdata`` objects, so
comparing two rrsets compares DNS data (``"v=spf1 -all"`` and ``v=spf1 -all`` are the same TXT
record; ``2001:db8::1`` and ``2001:DB8:0::1`` the same AAAA record), never spellings.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS
CNAME = dns.rdatatype.CNAME
TXT = dns.rdatatype.TXT

#: Record types the name server itself maintains for DNSSEC (dnssec-policy) and for its signing
#: state (TYPE65534). They are never declared, never changed and never pruned.
SERVER_MANAGED_TYPES = frozenset({
    dns.rdatatype.DNSKEY, dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3,
    dns.rdatatype.NSEC3PARAM, dns.rdatatype.CDS, dns.rdatatype.CDNSKEY, dns.rdatatype.RdataType.make(65534),
})

RRsetKey = tuple[dns.name.Name, int]


_new_object = object.__new__
_set_slot = object.__setattr__


class _HashedName(dns.name.Name):
    """A ``dns.name.Name`` that computes its hash once. dnspython's ``Name.__hash__`` walks every
    character in Python each time, and a 10,000-record zone hashes each owner name a dozen times
    (plan, checks, batches): that was a third of a task's time. The value is dnspython's own, so
    these names and dnspython's compare and hash alike in the same dicts and sets."""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:  # e.g. made by copy or pickle, which only restore the labels
            return dns.name.Name.__hash__(self)


def name_from_labels(labels: tuple[bytes, ...]) -> dns.name.Name:
    """``dns.name.Name(labels)`` for labels already checked (each 1-63 bytes, the root label last) in
    a tenth of the time: dnspython's immutable-object machinery costs 30 us a name, which is a third
    of a second in a 10,000-record zone. Only the total length is left to check here."""
    if sum(map(len, labels)) + len(labels) > 255:
        raise dns.name.NameTooLong
    name = _new_object(_HashedName)
    _set_slot(name, "labels", labels)
    _set_slot(name, "_hash", dns.name.Name.__hash__(name))
    return name


def to_name(name: str | dns.name.Name, origin: dns.name.Name | None = None) -> dns.name.Name:
    """``www`` / ``@`` / ``www.example.test.`` -> absolute name.

    Relative names are under ``origin``; without an origin a name is taken as absolute
    (``example.test`` is ``example.test.``).
    """
    origin = dns.name.root if origin is None else origin
    if isinstance(name, dns.name.Name):
        return name if name.is_absolute() else name.derelativize(origin)
    if name in ("@", ""):
        return origin
    return dns.name.from_text(name, origin)


def name_sort_key(name: dns.name.Name) -> tuple[bytes, ...]:
    """Sorts names parent first, like DNSSEC's canonical order, cheaply (no Name comparisons)."""
    return tuple(label.lower() for label in reversed(name.labels))


_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")


def labels_inside(name: dns.name.Name, origin: dns.name.Name) -> tuple[bytes, ...] | None:
    """The labels of ``name`` before ``origin`` (``()`` for the origin itself), or None when ``name`` is
    not inside it. Case-insensitive, as DNS names are: ``www.Example.TEST.`` is inside
    ``example.test.``. The same answer as ``name.is_subdomain(origin)``, without its cost."""
    labels, depth = name.labels, len(origin.labels)
    head_length = len(labels) - depth
    if head_length < 0:
        return None
    if labels[head_length:] != origin.labels and any(
            mine.lower() != theirs.lower() for mine, theirs in zip(labels[head_length:], origin.labels, strict=True)):
        return None
    return labels[:head_length]


def relative_text(name: dns.name.Name, origin: dns.name.Name) -> str:
    """The name as a person writes it inside ``origin``: ``@``, ``www``, ``_acme-challenge.www``."""
    head = labels_inside(name, origin)
    if head is None:
        return name.to_text()
    if not head:
        return "@"
    if all(_PLAIN_LABEL.fullmatch(label) for label in head):  # nothing to escape: skip dnspython's to_text
        return b".".join(head).decode("ascii")
    return name.relativize(origin).to_text()


#: The address types and their socket families (their canonical form is ``socket.inet_pton``'s).
ADDRESS_FAMILIES = {dns.rdatatype.A: socket.AF_INET, dns.rdatatype.AAAA: socket.AF_INET6}


def digest_of(rdata: dns.rdata.Rdata) -> bytes:
    """The canonical wire form of the record data (for A/AAAA simply the packed address)."""
    family = ADDRESS_FAMILIES.get(rdata.rdtype)
    if family is not None:
        return socket.inet_pton(family, rdata.address)
    return rdata.to_digestable()


class RRset:
    """One rrset: owner name, type, TTL and a set of record data (order does not matter).

    Record data are compared by their canonical wire form (RFC 4034 section 6.2), computed once per
    record: ``digests`` is that set, so comparing two large zones costs a set comparison of bytes.
    A record may be held as its canonical form only (``None`` in ``by_digest``, see
    :meth:`from_map`); the dnspython ``Rdata`` is then made when somebody asks for it.
    """

    __slots__ = ("by_digest", "digests", "name", "rdtype", "ttl")

    def __init__(self, name: dns.name.Name, rdtype: int, ttl: int, rdatas: Iterable[dns.rdata.Rdata]):
        self.name = name
        self.rdtype = rdtype if isinstance(rdtype, dns.rdatatype.RdataType) else dns.rdatatype.RdataType.make(
            rdtype)
        self.ttl = int(ttl)
        self.by_digest: dict[bytes, dns.rdata.Rdata | None] = {digest_of(rdata): rdata for rdata in rdatas}
        self.digests = frozenset(self.by_digest)

    @classmethod
    def from_map(cls, name: dns.name.Name, rdtype: int, ttl: int,
                 by_digest: dict[bytes, dns.rdata.Rdata | None]) -> RRset:
        """From ``{canonical wire form: Rdata or None}`` (None: made from the wire form when needed)."""
        rrset = cls(name, rdtype, ttl, ())
        rrset.by_digest = dict(by_digest)
        rrset.digests = frozenset(rrset.by_digest)
        return rrset

    def _rdata(self, digest: bytes) -> dns.rdata.Rdata:
        rdata = self.by_digest[digest]
        if rdata is None:
            rdata = dns.rdata.from_wire(dns.rdataclass.IN, self.rdtype, digest, 0, len(digest))
            self.by_digest[digest] = rdata
        return rdata

    @property
    def rdatas(self) -> tuple[dns.rdata.Rdata, ...]:
        return tuple(self._rdata(digest) for digest in self.by_digest)

    def rdatas_of(self, digests: Iterable[bytes]) -> list[dns.rdata.Rdata]:
        return [self._rdata(digest) for digest in digests]

    @classmethod
    def from_text(cls, name: str | dns.name.Name, rdtype: str | int, ttl: int, values: Iterable[str],
                  origin: str | dns.name.Name | None = None) -> RRset:
        """Build from text as in a zone file; relative names (owner and in the data) are under ``origin``.

        Raises dnspython's exceptions on bad data; :mod:`validate` turns them into ``InvalidInput``.
        """
        origin_name = to_name(origin) if origin is not None else None
        rdtype = dns.rdatatype.RdataType.make(rdtype)
        return cls(to_name(name, origin_name), rdtype, ttl,
                   [dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=origin_name,
                                        relativize=False)
                    for value in values])

    @property
    def key(self) -> RRsetKey:
        return (self.name, self.rdtype)

    @property
    def type_text(self) -> str:
        return dns.rdatatype.to_text(self.rdtype)

    def values(self) -> list[str]:
        """Record data as sorted presentation text (names absolute)."""
        if self.rdtype == dns.rdatatype.A:
            return sorted(socket.inet_ntop(socket.AF_INET, digest) for digest in self.by_digest)
        return sorted(rdata.to_text() for rdata in self.rdatas)

    def sort_key(self) -> tuple:
        return name_sort_key(self.name), self.rdtype

    def with_rdatas(self, rdatas: Iterable[dns.rdata.Rdata], ttl: int | None = None) -> RRset:
        return RRset(self.name, self.rdtype, self.ttl if ttl is None else ttl, rdatas)

    def as_dict(self, origin: dns.name.Name | None = None) -> dict:
        """``{name, type, ttl, values}`` (name relative to ``origin`` when given), for module returns."""
        name = relative_text(self.name, origin) if origin is not None else self.name.to_text()
        return {"name": name, "type": self.type_text, "ttl": self.ttl, "values": self.values()}

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RRset) and self.name == other.name and self.rdtype == other.rdtype
                and self.ttl == other.ttl and self.digests == other.digests)

    def __hash__(self) -> int:
        return hash((self.name, self.rdtype, self.ttl, self.digests))

    def __repr__(self) -> str:
        return f"RRset({self.name.to_text()} {self.ttl} {self.type_text} {self.values()!r})"


ADD = "add"
CHANGE = "change"
DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """A change to one rrset, from ``old`` (what the server is believed to hold) to ``new``.

    On the wire (see :meth:`DnsServer.send_updates`) only the difference is sent: the record data in
    ``old`` but not in ``new`` are deleted one by one and the ones in ``new`` but not in ``old`` are
    added, so values somebody else holds in the same rrset are left alone. When the TTL changes,
    the whole rrset is replaced (delete rrset + add all of ``new``) so that every record gets it.

    ``old=None`` adds an rrset, ``new=None`` deletes the values of ``old`` (all of them: the rrset).
    """

    old: RRset | None
    new: RRset | None

    def __post_init__(self) -> None:
        if self.old is None and self.new is None:
            raise ValueError("a Change needs old or new")
        if self.old is not None and self.new is not None and self.old.key != self.new.key:
            raise ValueError("old and new of a Change must be the same name and type")

    @property
    def action(self) -> str:
        if self.old is None or not self.old.digests:
            return ADD
        if self.new is None or not self.new.digests:
            return DELETE
        return CHANGE

    @property
    def rrset(self) -> RRset:
        """``new`` when there is one, else ``old``."""
        return self.new if self.new is not None else self.old  # type: ignore[return-value]

    @property
    def key(self) -> RRsetKey:
        return self.rrset.key

    @property
    def name(self) -> dns.name.Name:
        return self.rrset.name

    @property
    def rdtype(self) -> int:
        return self.rrset.rdtype

    @classmethod
    def add_values(cls, name: str | dns.name.Name, rdtype: str | int, ttl: int, values: Iterable[str],
                   origin: str | dns.name.Name | None = None) -> Change:
        """Add these values to the rrset (others already there stay): e.g. an ``_acme-challenge`` TXT."""
        new = RRset.from_text(name, rdtype, ttl, values, origin)
        return cls(RRset(new.name, new.rdtype, new.ttl, ()), new)

    @classmethod
    def remove_values(cls, name: str | dns.name.Name, rdtype: str | int, values: Iterable[str],
                      origin: str | dns.name.Name | None = None) -> Change:
        """Remove exactly these values (others in the rrset stay); removing absent values is a no-op."""
        old = RRset.from_text(name, rdtype, 0, values, origin)
        return cls(old, RRset(old.name, old.rdtype, old.ttl, ()))
