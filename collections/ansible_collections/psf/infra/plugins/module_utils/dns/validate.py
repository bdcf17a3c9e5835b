# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Declarations and zone files -> rrsets, or :class:`InvalidInput` before anything is sent.

Every error names the tenant and the file (when the caller says which) and the field, e.g.
``inventories/lab/tenants/packaging.yml: tenant 'packaging': records[3].values[0]: '300.1.2.3' is not
an IPv4 address (www A)``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.ttl
import dns.zone
import netaddr
from ansible_collections.psf.infra.plugins.module_utils.dns.model import (
    ADDRESS_FAMILIES,
    CNAME,
    SERVER_MANAGED_TYPES,
    SOA,
    TXT,
    RRset,
    RRsetKey,
    labels_inside,
    name_from_labels,
    relative_text,
    to_name,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput

#: The record types a declaration may hold.
SUPPORTED_TYPES = frozenset(dns.rdatatype.from_text(name) for name in (
    "A", "AAAA", "CNAME", "MX", "TXT", "SPF", "SRV", "CAA", "NS", "PTR", "DS", "TLSA", "SSHFP", "HTTPS",
    "SVCB", "NAPTR", "LOC", "DNAME", "URI", "OPENPGPKEY", "SMIMEA", "CERT",
))
TTL_MIN = 0
TTL_MAX = 2_147_483_647  # RFC 2181 section 8
TXT_STRING_MAX = 255
#: A record's data is at most this long: its length is 16 bits on the wire (RFC 1035 section 3.2.1).
RDATA_MAX = 65_535
#: A DNS message over TCP is at most this long (RFC 1035 section 4.2.2). dns_zone sends each rrset
#: whole in one UPDATE, beside the header, the zone, the SOA prerequisite and the TSIG record: their
#: room is ``_UPDATE_OVERHEAD`` (the room ``wire.py`` keeps for a TSIG record included).
MESSAGE_MAX = 65_535
_UPDATE_OVERHEAD = 12 + 4 + (2 + 10 + 2 * 255 + 20) + 512
_NAME_MAX = 255
_RR_FIXED = 10  # type, class, TTL, data length

_LABEL = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)$")
_A = dns.rdatatype.A
_AAAA = dns.rdatatype.AAAA
_SPF = dns.rdatatype.SPF


class Where:
    """Where a declaration came from, to name it in errors."""

    __slots__ = ("source_file", "tenant")

    def __init__(self, tenant: str | None = None, source_file: str | None = None) -> None:
        self.tenant = tenant
        self.source_file = source_file

    def error(self, message: str, field: str | None = None) -> InvalidInput:
        return InvalidInput(message, tenant=self.tenant, file=self.source_file, field=field)


def parse_owner(name: Any, origin: dns.name.Name, where: Where, field: str) -> dns.name.Name:
    """A record's owner: ``@``, relative (``www``) or absolute (``www.example.test.``) inside the zone."""
    if not isinstance(name, str) or not name.strip():
        raise where.error(f"the name must be a non-empty string, got {name!r}", field)
    text = name.strip()
    if text == "@":
        return origin
    absolute = text.endswith(".")
    labels = (text[:-1] if absolute else text).split(".")
    for index, label in enumerate(labels):
        if label == "*" and index == 0:
            continue
        if not _LABEL.match(label):
            raise where.error(f"'{name}' is not a valid DNS name: label '{label}' (letters, digits, "
                              "'-', '_' and at most 63 characters; '*' only as the first label)", field)
    try:
        if not absolute:  # the common case, built without parsing text again
            return name_from_labels(tuple(label.encode("ascii") for label in labels) + origin.labels)
        owner = dns.name.from_text(text)
    except dns.exception.DNSException as err:
        raise where.error(f"'{name}' is not a valid DNS name: {err}", field) from None
    if not owner.is_subdomain(origin):
        raise where.error(f"'{name}' is not inside the zone '{origin.to_text(omit_final_dot=True)}' (a name "
                          "outside the zone belongs to another zone)", field)
    return owner


def parse_type(rdtype: Any, where: Where, field: str) -> dns.rdatatype.RdataType:
    if not isinstance(rdtype, str):
        raise where.error(f"the type must be a string such as 'A', got {rdtype!r}", field)
    try:
        value = dns.rdatatype.from_text(rdtype.strip().upper())
    except dns.exception.DNSException:
        raise where.error(f"unknown record type '{rdtype}'", field) from None
    if value == SOA:
        raise where.error("the SOA is maintained by the name server (serial, timers in its "
                          "configuration); do not declare it", field)
    if value in SERVER_MANAGED_TYPES:
        raise where.error(f"{rdtype} records are maintained by the name server's dnssec-policy; "
                          "do not declare them", field)
    if value not in SUPPORTED_TYPES:
        raise where.error(f"record type '{rdtype}' is not supported here; supported: "
                          f"{', '.join(sorted(dns.rdatatype.to_text(t) for t in SUPPORTED_TYPES))}", field)
    return value


def parse_ttl(ttl: Any, where: Where, field: str) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int | str):
        raise where.error(f"the TTL must be a whole number of seconds, got {ttl!r}", field)
    try:
        value = int(ttl)
    except ValueError:
        raise where.error(f"the TTL must be a whole number of seconds, got {ttl!r}", field) from None
    if not TTL_MIN <= value <= TTL_MAX:
        raise where.error(f"the TTL {value} is out of range ({TTL_MIN} to {TTL_MAX} seconds)", field)
    return value


def txt_rdata(value: str, rdtype: int = TXT) -> dns.rdata.Rdata:
    """A TXT value as written in a declaration.

    A value starting with ``"`` is zone-file presentation (one or more quoted strings). Anything else
    is the text itself: quotes and backslashes in it are data, and it is split into 255-byte strings
    (a DKIM key, for instance), which resolvers join again.
    """
    if value.startswith('"'):
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value)
    data = value.encode("utf-8")
    chunks = [data[start:start + TXT_STRING_MAX] for start in range(0, len(data), TXT_STRING_MAX)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, chunks)


def parse_address(rdtype: int, value: Any, where: Where, field: str, what: str) -> bytes:
    """An A/AAAA value, checked with netaddr, as its wire form (which is also its canonical form)."""
    if rdtype == _A:
        # inet_pton accepts exactly what netaddr.valid_ipv4(flags=INET_PTON) does (four decimal parts,
        # no leading zeros), at a tenth of the cost: a zone's bulk is A records.
        try:
            return socket.inet_pton(socket.AF_INET, value)
        except (OSError, TypeError):
            raise where.error(f"'{value}' is not an IPv4 address ({what})", field) from None
    if not isinstance(value, str) or ":" not in value or not netaddr.valid_ipv6(value):
        raise where.error(f"'{value}' is not an IPv6 address ({what})", field)
    return socket.inet_pton(socket.AF_INET6, value)


def parse_value(rdtype: int, value: Any, origin: dns.name.Name, where: Where, field: str,
                what: str) -> dns.rdata.Rdata:
    if rdtype in (_A, _AAAA):
        wire = parse_address(rdtype, value, where, field, what)
        return dns.rdata.from_wire(dns.rdataclass.IN, rdtype, wire, 0, len(wire))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise where.error(f"a value must be a string, got {value!r} ({what})", field)
    try:
        if rdtype in (TXT, _SPF):
            return txt_rdata(value, rdtype)
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=origin, relativize=False)
    except dns.exception.DNSException as err:
        raise where.error(f"'{value}' is not valid {dns.rdatatype.to_text(rdtype)} data: {err} "
                          f"({what})", field) from None


def parse_records(records: Iterable[Mapping[str, Any]], zone: str | dns.name.Name, *,
                  default_ttl: int = 3600, tenant: str | None = None, source_file: str | None = None,
                  field: str = "records") -> dict[RRsetKey, RRset]:
    """Declared rrsets (``{name, type, ttl, values}`` or ``value``) -> ``{key: RRset}``, validated."""
    origin = to_name(zone)
    where = Where(tenant, source_file)
    if not isinstance(records, list | tuple):
        raise where.error("must be a list of records", field)
    declared: dict[RRsetKey, RRset] = {}
    declared_at: dict[RRsetKey, str] = {}
    for index, record in enumerate(records):
        at = f"{field}[{index}]"
        if not isinstance(record, Mapping):
            raise where.error(f"each record must be a mapping with name, type, values; got {record!r}", at)
        unknown = set(record) - {"name", "type", "ttl", "values", "value"}
        if unknown:
            raise where.error(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; a record has "
                              "name, type, ttl and values", at)
        owner = parse_owner(record.get("name"), origin, where, f"{at}.name")
        rdtype = parse_type(record.get("type"), where, f"{at}.type")
        what = f"{record['name']} {record['type']}"
        key = (owner, rdtype)
        if key in declared_at:  # before the values: the duplicate is what the tenant has to fix
            first = declared_at[key].rsplit(".", 1)[-1]
            raise where.error(f"the rrset {record['name']} {dns.rdatatype.to_text(rdtype)} is already declared "
                              f"at {first}; put all values of an rrset in one record", at)
        declared_at[key] = at
        ttl = parse_ttl(default_ttl if record.get("ttl") is None else record["ttl"], where, f"{at}.ttl")
        if "values" in record and "value" in record:
            raise where.error(f"give either value or values, not both ({what})", at)
        values = record["value"] if record.get("values") is None and "value" in record else record.get("values")
        if isinstance(values, str | int) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, list | tuple) or not values:
            raise where.error(f"values must be a non-empty list ({what})", f"{at}.values")
        if rdtype in (_A, _AAAA):  # most of a big zone: no dnspython object until one is needed
            rrset = RRset.from_map(owner, rdtype, ttl, {
                parse_address(rdtype, value, where, f"{at}.values[{position}]", what): None
                for position, value in enumerate(values)})
        else:
            rrset = RRset(owner, rdtype, ttl, [parse_value(rdtype, value, origin, where,
                                                           f"{at}.values[{position}]", what)
                                               for position, value in enumerate(values)])
        if len(rrset.digests) != len(values):
            raise where.error(f"the same value is listed twice ({what})", f"{at}.values")
        declared[rrset.key] = rrset
    check_rrsets(declared, origin, where, declared_at)
    check_sizes(declared, origin, where, lambda key: f"{declared_at[key]}.values")
    return declared


#: Zone-file lines the quick reader leaves to dnspython: quoted strings, parentheses, escapes.
_NOT_SIMPLE = re.compile(r'["()\\]')
_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_-]+)*$")


def _simple_owner(text: str, origin: dns.name.Name) -> dns.name.Name:
    if text == "@":
        return origin
    if _SIMPLE_NAME.match(text):  # relative, the common case
        return name_from_labels(tuple(label.encode("ascii") for label in text.split(".")) + origin.labels)
    return dns.name.from_text(text, origin)


def _second_singleton(owner: dns.name.Name, rdtype: int) -> str:
    return (f"a second, different {dns.rdatatype.to_text(rdtype)} record for {owner.to_text()}: a name has "
            f"at most one {dns.rdatatype.to_text(rdtype)} (BIND refuses such a zone)")


def _refuse_second_singleton(txn: Any, name: dns.name.Name, rdataset: Any) -> None:
    """A dnspython transaction check: its zone reader silently keeps the last of two CNAMEs."""
    if not dns.rdatatype.is_singleton(rdataset.rdtype):
        return
    existing = txn.get(name, rdataset.rdtype, rdataset.covers)
    if existing is not None and set(existing) != set(rdataset):
        raise dns.exception.SyntaxError(_second_singleton(name, rdataset.rdtype))


class _StrictZone(dns.zone.Zone):
    """dnspython's zone, but two different records of a singleton type (CNAME) at a name are an error."""

    def writer(self, replacement: bool = False) -> Any:
        txn = super().writer(replacement)
        txn.check_put_rdataset(_refuse_second_singleton)
        return txn


def read_simple_zone_file(text: str, zone: dns.name.Name,
                          source: str = "<zone file>") -> dict[RRsetKey, list] | None:
    """The records of a zone file written in the plain one-record-per-line style, or None.

    ``{(owner, rdtype): [ttl, {canonical form: Rdata or None}]}``, the same as
    ``dns.zone.from_text(relativize=False)`` gives for such a file (same names, same TTL rule: the
    smallest TTL of an rrset wins, same duplicates dropped), at a fifth of the cost for a zone that
    is mostly address records. Like BIND, and unlike plain dnspython, two different records of a
    singleton type (CNAME) at one name are an error, not "the last one wins"; ``parse_zone_file``
    gives its dnspython fallback the same rule. Anything else (quotes, parentheses, escapes,
    ``$INCLUDE``, ``$GENERATE``, another class, a record without a TTL while no ``$TTL`` is set)
    returns None and the caller uses dnspython's parser. Record data other than addresses are
    parsed by dnspython's ``dns.rdata.from_text``; a bad value raises ``dns.exception.SyntaxError``
    naming the line.
    """
    origin = zone
    default_ttl = None
    last_owner = None
    records: dict[RRsetKey, list] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0]
        if not line or line.isspace():
            continue
        if _NOT_SIMPLE.search(line):
            return None
        tokens = line.split()
        if line[0] == "$":
            directive = tokens[0].upper()
            if directive == "$ORIGIN" and len(tokens) == 2:
                origin = dns.name.from_text(tokens[1], origin)
            elif directive == "$TTL" and len(tokens) == 2:
                default_ttl = dns.ttl.from_text(tokens[1])
            else:
                return None
            continue
        try:
            if line[0] in " \t":
                if last_owner is None:
                    return None
                owner = last_owner
            else:
                owner = last_owner = _simple_owner(tokens.pop(0), origin)
            ttl = None
            while tokens and (tokens[0][0].isdigit() or tokens[0].upper() == "IN"):
                token = tokens.pop(0)
                if token.upper() != "IN":
                    if ttl is not None:
                        return None
                    ttl = dns.ttl.from_text(token)
            if len(tokens) < 2 or (ttl is None and default_ttl is None):
                return None
            try:
                rdtype = dns.rdatatype.from_text(tokens[0])
            except dns.exception.DNSException:
                return None  # perhaps a class (CH, HS): dnspython says what is wrong
            ttl = default_ttl if ttl is None else ttl
            family = ADDRESS_FAMILIES.get(rdtype)
            if family is not None and len(tokens) == 2:
                digest, rdata = socket.inet_pton(family, tokens[1]), None
            else:
                rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, " ".join(tokens[1:]), origin=origin,
                                            relativize=False)
                digest = rdata.to_digestable() if family is None else socket.inet_pton(family, rdata.address)
        except (dns.exception.DNSException, OSError, ValueError) as err:
            message = "not a valid address" if isinstance(err, OSError) else str(err)
            raise dns.exception.SyntaxError(f"{source}:{number}: {message}") from None
        entry = records.get((owner, rdtype))
        if entry is None:
            records[(owner, dns.rdatatype.RdataType.make(rdtype))] = [ttl, {digest: rdata}]
        else:
            if digest not in entry[1] and dns.rdatatype.is_singleton(rdtype):
                raise dns.exception.SyntaxError(f"{source}:{number}: {_second_singleton(owner, rdtype)}")
            entry[0] = min(entry[0], ttl)
            entry[1].setdefault(digest, rdata)
    return records


def parse_zone_file(text: str, zone: str | dns.name.Name, *, tenant: str | None = None,
                    source_file: str | None = None, field: str = "zone_file",
                    zone_file_name: str | None = None) -> dict[RRsetKey, RRset]:
    """A BIND zone file -> ``{key: RRset}``; its SOA and DNSSEC records are the server's, so skipped.

    Errors name ``source_file`` (the tenant file, or the zone file itself) and ``field``; syntax
    errors quote ``zone_file_name`` (default ``source_file``) and the line.
    """
    origin = to_name(zone)
    where = Where(tenant, source_file)
    source = zone_file_name or source_file or "<zone file>"
    try:
        simple = read_simple_zone_file(text, origin, source)
        if simple is None:
            parsed = dns.zone.from_text(text, origin, relativize=False, check_origin=False, filename=source,
                                        zone_factory=_StrictZone)
            found = [(owner, rdataset.rdtype, rdataset.ttl, rdataset) for owner, rdataset in parsed.iterate_rdatasets()]
        else:
            found = [(owner, rdtype, ttl, by_digest) for (owner, rdtype), (ttl, by_digest) in simple.items()]
    except dns.exception.SyntaxError as err:
        raise where.error(f"zone file syntax error: {err}", field) from None
    except dns.exception.DNSException as err:
        raise where.error(f"zone file is not valid: {err}", field) from None
    declared: dict[RRsetKey, RRset] = {}

    def what(owner: dns.name.Name, rdtype: int) -> str:  # only for messages: costly for 10,000 records
        return f"{relative_text(owner, origin)} {dns.rdatatype.to_text(rdtype)}"

    for owner, rdtype, ttl, data in found:
        if rdtype == SOA or rdtype in SERVER_MANAGED_TYPES:
            continue
        if rdtype not in SUPPORTED_TYPES:
            raise where.error(f"record type of {what(owner, rdtype)} is not supported here", field)
        if labels_inside(owner, origin) is None:
            raise where.error(f"{what(owner, rdtype)} is outside the zone {origin.to_text()}", field)
        if not TTL_MIN <= ttl <= TTL_MAX:
            parse_ttl(ttl, where, f"{field} ({what(owner, rdtype)})")
        rrset = RRset.from_map(owner, rdtype, ttl, data) if isinstance(data, dict) else RRset(owner, rdtype, ttl, data)
        declared[rrset.key] = rrset
    check_rrsets(declared, origin, where, {key: f"{field} ({what(*key)})" for key in declared if key[1] == CNAME})
    check_sizes(declared, origin, where, lambda key: field)
    return declared


def check_rrsets(rrsets: Mapping[RRsetKey, RRset], origin: dns.name.Name, where: Where,
                 declared_at: Mapping[RRsetKey, str] | None = None) -> None:
    """Rules across rrsets: a CNAME is alone at its name, one target, never at the apex."""
    declared_at = declared_at or {}
    cname_owners = {name for name, rdtype in rrsets if rdtype == CNAME}
    if not cname_owners:
        return
    types_at: dict[dns.name.Name, list[int]] = {}
    for name, rdtype in rrsets:
        if name in cname_owners:
            types_at.setdefault(name, []).append(rdtype)
    for (name, rdtype), rrset in rrsets.items():
        if rdtype != CNAME:
            continue
        field = declared_at.get((name, rdtype))
        label = relative_text(name, origin)
        if name == origin:
            raise where.error("a CNAME cannot be at the zone apex (the SOA and NS records are there)", field)
        if len(rrset.digests) != 1:
            raise where.error(f"{label} CNAME must have exactly one value", field)
        others = [dns.rdatatype.to_text(other) for other in types_at[name]
                  if other != CNAME and other not in SERVER_MANAGED_TYPES]
        if others:
            raise where.error(f"{label} has a CNAME beside other data ({', '.join(sorted(others))}): a "
                              "CNAME must be the only record at its name", field)


def check_sizes(rrsets: Mapping[RRsetKey, RRset], origin: dns.name.Name, where: Where,
                field_of: Callable[[RRsetKey], str]) -> None:
    """Record data DNS cannot carry, refused before anything is sent (not a bare encoding error in the
    middle of a run): one record's data is at most 65,535 bytes, and an rrset is sent whole in one
    UPDATE message, so it must fit in one beside the zone, the SOA prerequisite and the TSIG record."""
    room = MESSAGE_MAX - _UPDATE_OVERHEAD - len(origin.to_wire())
    for key, rrset in rrsets.items():
        digests = rrset.by_digest
        data = sum(map(len, digests))
        if data + len(digests) * (_NAME_MAX + _RR_FIXED) <= room:  # nearly always: no more to compute
            continue
        label = f"{relative_text(rrset.name, origin)} {rrset.type_text}"
        largest = max(map(len, digests))
        if largest > RDATA_MAX:
            raise where.error(f"{label}: a value is {largest:,} bytes of record data; a DNS record holds at "
                              f"most {RDATA_MAX:,}", field_of(key))
        owner = sum(map(len, rrset.name.labels)) + len(rrset.name.labels)
        size = data + len(digests) * (owner + _RR_FIXED)
        if size > room:
            raise where.error(f"{label} is {size:,} bytes on the wire; an rrset must fit in one DNS UPDATE "
                              f"message ({room:,} bytes for this zone): spread the data over several names",
                              field_of(key))


_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def check_integrity(rrsets: Mapping[RRsetKey, RRset], origin: dns.name.Name, where: Where) -> None:
    """BIND's check-integrity, before sending: an MX or SRV target inside the zone needs an address.

    (BIND refuses such an UPDATE as a whole; saying which record is better than a bare REFUSED.)
    """
    for (name, rdtype), rrset in rrsets.items():
        if rdtype not in (dns.rdatatype.MX, dns.rdatatype.SRV):
            continue
        for rdata in rrset.rdatas:
            target = rdata.exchange if rdtype == dns.rdatatype.MX else rdata.target
            if target == dns.name.root or not target.is_subdomain(origin):
                continue
            if not any((target, address) in rrsets for address in _ADDRESS_TYPES):
                raise where.error(f"{relative_text(name, origin)} {dns.rdatatype.to_text(rdtype)} points to "
                                  f"{target.to_text()}, which is in the zone but has no A or AAAA record",
                                  "records")
