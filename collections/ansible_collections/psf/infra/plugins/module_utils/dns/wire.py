# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS wire format for the two bulk paths: rendering RFC 2136 UPDATE messages and reading an AXFR.

dnspython builds an object per record (an Rdata, an Rdataset, names hashed into dicts) on both paths;
for a 10,000-record zone that is most of the time a task takes. Here the records already are wire
bytes (``RRset.by_digest`` keeps the canonical form; A/AAAA are never anything else), so an UPDATE
is rendered by concatenation, and an AXFR is cut into records without building dnspython objects for
the address records. TSIG stays dnspython's (``dns.tsig.sign`` / ``dns.tsig.validate``, RFC 8945,
including the chained MACs of a multi-message transfer), and every other record type is still parsed
by dnspython (``dns.rdata.from_wire``), so nothing about the data's meaning is reimplemented here.

Owner names in an UPDATE are compressed against the zone name, which sits at offset 12 (the zone
section follows the header): ``www`` is ``3www`` and a pointer, so a 10,000-record zone needs five
64 KiB messages rather than dozens.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable, Iterator

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
from ansible_collections.psf.infra.plugins.module_utils.dns.model import (
    ADDRESS_FAMILIES,
    Change,
    RRset,
    RRsetKey,
    labels_inside,
    name_from_labels,
)

HEADER = struct.Struct("!HHHHHH")
RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, rdlength
TYPE_CLASS = struct.Struct("!HH")
OPCODE_UPDATE = 5 << 11
ZONE_POINTER = b"\xc0\x0c"  # the zone name, right after the 12-byte header
MAX_MESSAGE = 65535
TSIG_ROOM = 512  # the TSIG record added after rendering (key name, algorithm, a SHA-512 MAC at most)
FUDGE = 300

IN = dns.rdataclass.IN
ANY = dns.rdataclass.ANY
NONE = dns.rdataclass.NONE
SOA = dns.rdatatype.SOA
TSIG = dns.rdatatype.TSIG
OPT = dns.rdatatype.OPT


class TooBig(Exception):
    """The rendered message would exceed 64 KiB (with room for its TSIG record)."""


class WireError(dns.exception.FormError):
    """A malformed message from the server."""


# ---- UPDATE ---------------------------------------------------------------------------------------


def owner_wire(name: dns.name.Name, origin: dns.name.Name) -> bytes:
    """``name`` (inside the zone, in any case) as its own labels followed by a pointer to the zone
    name at offset 12."""
    head = labels_inside(name, origin)
    if head is None:
        raise ValueError(f"{name} is not in the zone {origin}")
    return b"".join(bytes((len(label),)) + label for label in head) + ZONE_POINTER


def _rdata_wire(rrset: RRset, digest: bytes) -> bytes:
    """Record data as sent: the Rdata's own uncompressed wire form (it keeps the case of names), or
    the canonical form when no Rdata was ever made (addresses: the same bytes)."""
    rdata = rrset.by_digest.get(digest)
    return digest if rdata is None else rdata.to_wire()


def _records(owner: bytes, rdtype: int, rdclass: int, ttl: int, rrset: RRset, digests: Iterable[bytes]) -> bytes:
    parts = []
    for digest in digests:
        data = _rdata_wire(rrset, digest)
        parts.append(owner + RR_FIXED.pack(rdtype, rdclass, ttl, len(data)) + data)
    return b"".join(parts)


def change_operations(change: Change, origin: dns.name.Name) -> tuple[bytes, int]:
    """The RFC 2136 update-section records of one change and how many there are.

    Only the difference goes on the wire (values somebody else added to the rrset stay); a TTL change
    replaces the rrset; a change whose ``new`` is empty deletes the named values (``remove_values``),
    one whose ``new`` is None deletes the rrset (a plan's deletion).
    """
    old, new = change.old, change.new
    rdtype = change.rdtype
    owner = owner_wire(change.name, origin)
    delete_rrset = owner + RR_FIXED.pack(rdtype, ANY, 0, 0)
    if new is None or not new.digests:
        if old is None or not old.digests:
            return b"", 0
        if new is not None:  # remove exactly these values
            return _records(owner, rdtype, NONE, 0, old, old.by_digest), len(old.digests)
        return delete_rrset, 1
    if old is None or not old.digests:
        return _records(owner, rdtype, IN, new.ttl, new, new.by_digest), len(new.digests)
    if old.ttl != new.ttl:
        return delete_rrset + _records(owner, rdtype, IN, new.ttl, new, new.by_digest), 1 + len(new.digests)
    removed = [digest for digest in old.by_digest if digest not in new.digests]
    added = [digest for digest in new.by_digest if digest not in old.digests]
    return (_records(owner, rdtype, NONE, 0, old, removed) + _records(owner, rdtype, IN, new.ttl, new, added),
            len(removed) + len(added))


def render_update(origin: dns.name.Name, changes: Iterable[Change], message_id: int,
                  soa_prerequisite: dns.rdata.Rdata | None = None) -> bytes:
    """An unsigned UPDATE message for ``origin`` holding ``changes``; with ``soa_prerequisite`` it
    also carries "the apex SOA is exactly this" (RFC 2136 section 2.4.2). Raises :class:`TooBig`."""
    sections = [origin.to_wire(), TYPE_CLASS.pack(SOA, IN)]
    prerequisites = 0
    if soa_prerequisite is not None:
        data = soa_prerequisite.to_wire()
        sections.append(ZONE_POINTER + RR_FIXED.pack(SOA, IN, 0, len(data)) + data)
        prerequisites = 1
    updates = 0
    size = HEADER.size + sum(map(len, sections))
    for change in changes:
        operations, count = change_operations(change, origin)
        size += len(operations)
        if size > MAX_MESSAGE - TSIG_ROOM:
            raise TooBig
        sections.append(operations)
        updates += count
    return HEADER.pack(message_id, OPCODE_UPDATE, 1, prerequisites, updates, 0) + b"".join(sections)


def sign(wire: bytes, key: dns.tsig.Key, message_id: int) -> tuple[bytes, bytes]:
    """``wire`` with a TSIG record (RFC 8945) appended; returns the signed message and its MAC (to
    verify the answer with)."""
    template = dns.rdtypes.ANY.TSIG.TSIG(ANY, TSIG, key.algorithm, 0, FUDGE, b"", message_id, 0, b"")
    rdata, _context = dns.tsig.sign(wire, key, template, int(time.time()), None)
    mac = rdata.mac
    data = rdata.to_wire()
    record = key.name.to_wire() + RR_FIXED.pack(TSIG, ANY, 0, len(data)) + data
    (additional,) = struct.unpack_from("!H", wire, 10)
    return wire[:10] + struct.pack("!H", additional + 1) + wire[12:] + record, mac


# ---- AXFR -----------------------------------------------------------------------------------------


def _name(wire: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The name at ``offset`` as its labels (lower-cased later by Name comparison) and the offset after it."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    length_total = 0
    while True:
        if offset >= len(wire):
            raise WireError("a name runs past the end of the message")
        length = wire[offset]
        if length >= 0xC0:
            if offset + 1 >= len(wire):
                raise WireError("a compression pointer runs past the end of the message")
            if end < 0:
                end = offset + 2
            target = ((length & 0x3F) << 8) | wire[offset + 1]
            if target >= offset or jumps > 127:
                raise WireError("a bad compression pointer")
            offset = target
            jumps += 1
            continue
        if length > 63:
            raise WireError("a bad label length")
        offset += 1
        if length == 0:
            break
        labels.append(wire[offset:offset + length])
        length_total += length + 1
        if length_total > 254:
            raise WireError("a name longer than 255 bytes")
        offset += length
    labels.append(b"")
    return tuple(labels), (end if end >= 0 else offset)


class AxfrCollector:
    """Cuts AXFR answers into ``{(name, rdtype): [ttl, {wire: Rdata or None}]}`` and checks TSIG."""

    def __init__(self, origin: dns.name.Name, key: dns.tsig.Key | None, query_id: int,
                 request_mac: bytes | None) -> None:
        self.origin = origin
        self.key = key
        self.query_id = query_id
        self.request_mac = request_mac
        self.context = None
        self.messages = 0
        self.soa_seen = 0
        self.done = False
        self.serial: int | None = None
        self.collected: dict[RRsetKey, list] = {}
        self._names: dict[tuple[bytes, ...], dns.name.Name] = {}

    def _to_name(self, labels: tuple[bytes, ...]) -> dns.name.Name:
        name = self._names.get(labels)
        if name is None:
            name = self._names[labels] = name_from_labels(labels)
        return name

    def feed(self, wire: bytes) -> int:
        """One message of the transfer; returns its RCODE (0 unless the server refused)."""
        if len(wire) < HEADER.size:
            raise WireError("a message shorter than its header")
        message_id, flags, questions, answers, authority, additional = HEADER.unpack_from(wire)
        if message_id != self.query_id or not flags & 0x8000:
            raise WireError("the answer does not match the request (id mismatch)")
        first = self.messages == 0
        self.messages += 1
        offset = HEADER.size
        for _question in range(questions):
            _labels, offset = _name(wire, offset)
            offset += TYPE_CLASS.size
        tsig_at = None
        total = answers + authority + additional
        for index in range(total):
            start = offset
            labels, offset = _name(wire, offset)
            if offset + RR_FIXED.size > len(wire):
                raise WireError("a record runs past the end of the message")
            rdtype, rdclass, ttl, length = RR_FIXED.unpack_from(wire, offset)
            offset += RR_FIXED.size
            data_at = offset
            offset += length
            if offset > len(wire):
                raise WireError("record data run past the end of the message")
            if index >= answers:
                if rdtype == TSIG:
                    if index != total - 1:
                        raise WireError("the TSIG record is not the last one")
                    tsig_at = (start, labels, data_at, length)
                continue  # authority / OPT: nothing a transfer needs
            if rdclass != IN:
                continue
            self._record(wire, labels, rdtype, ttl, data_at, length)
        if offset != len(wire):
            raise WireError("trailing bytes after the last record")
        rcode = flags & 0x000F
        if rcode and tsig_at is None:
            return rcode  # a refusal need not be signed: it changes nothing and fails the task
        self._check_tsig(wire, tsig_at, first)
        return rcode

    def _record(self, wire: bytes, labels: tuple[bytes, ...], rdtype: int, ttl: int, at: int, length: int) -> None:
        name = self._to_name(labels)
        if rdtype in ADDRESS_FAMILIES:
            digest, rdata = wire[at:at + length], None
            if len(digest) != (4 if rdtype == dns.rdatatype.A else 16):
                raise WireError("an address record of the wrong length")
        else:
            rdata = dns.rdata.from_wire(IN, rdtype, wire, at, length)
            digest = rdata.to_digestable()
        if rdtype == SOA and name == self.origin:
            self.soa_seen += 1
            if self.soa_seen == 1:
                self.serial = rdata.serial
            else:
                self.done = True  # the closing SOA (RFC 5936 section 2.2): not a second record
                return
        elif self.soa_seen == 0:
            raise WireError("the transfer does not start with the zone's SOA")
        entry = self.collected.get((name, rdtype))
        if entry is None:
            self.collected[(name, dns.rdatatype.RdataType.make(rdtype))] = [ttl, {digest: rdata}]
        else:
            entry[1][digest] = rdata

    def _check_tsig(self, wire: bytes, tsig_at: tuple | None, first: bool) -> None:
        if self.key is None:
            if tsig_at is not None:
                raise dns.message.UnknownTSIGKey("got a signed message without a key")
            return
        if tsig_at is None:
            # RFC 8945 section 5.3.1: intermediate messages may go unsigned; they are covered by the next MAC.
            if first or self.done:
                raise WireError("the transfer is not signed with the TSIG key")
            self.context.update(wire)
            return
        start, labels, data_at, length = tsig_at
        rdata = dns.rdata.from_wire(ANY, TSIG, wire, data_at, length)
        self.context = dns.tsig.validate(wire, self.key, dns.name.Name(labels), rdata, int(time.time()),
                                         self.request_mac, start, self.context, True)

    def rrsets(self) -> dict[RRsetKey, RRset]:
        return {key: RRset.from_map(key[0], key[1], ttl, by_digest)
                for key, (ttl, by_digest) in self.collected.items()}


def read_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise dns.exception.Timeout
        sock.settimeout(remaining)
        received = sock.recv_into(view[got:], count - got)
        if not received:
            raise EOFError("the server closed the connection")
        got += received
    return bytes(buffer)


def tcp_messages(sock: socket.socket, deadline: float) -> Iterator[bytes]:
    """Length-prefixed messages (RFC 1035 section 4.2.2) until the caller stops asking."""
    while True:
        (length,) = struct.unpack("!H", read_exactly(sock, 2, deadline))
        yield read_exactly(sock, length, deadline)
