"""Unit tests of module_utils/dns/wire.py: AXFR answers built and signed by dnspython, read by ours."""

from __future__ import annotations

import sys
from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns.model import relative_text  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.wire import (  # noqa: E402
    AxfrCollector,
    WireError,
    owner_wire,
)

ORIGIN = dns.name.from_text("example.test.")
KEY = dns.tsig.Key("staff-key.", "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls=", "hmac-sha256")
SOA = dns.rrset.from_text(ORIGIN, 300, "IN", "SOA", "ns1.infra.test. hostmaster.example.test. 42 300 30 1209600 60")


def records(count: int, start: int = 0) -> list[dns.rrset.RRset]:
    return [dns.rrset.from_text(f"h{index}.example.test.", 300, "IN", "A", f"192.0.2.{index % 250}")
            for index in range(start, start + count)]


def transfer(parts: list[list[dns.rrset.RRset]], key: dns.tsig.Key | None = KEY,
             sign: list[bool] | None = None) -> tuple[dns.message.Message, list[bytes]]:
    """An AXFR query and the answer messages, signed the way a server signs them (RFC 8945 5.3.1)."""
    query = dns.message.make_query(ORIGIN, dns.rdatatype.AXFR)
    if key is not None:
        query.use_tsig({key.name: key}, keyname=key.name)
    query.to_wire()
    wires, context = [], None
    for number, answer in enumerate(parts):
        response = dns.message.make_response(query)
        response.answer = answer
        if key is not None and not (sign or [True] * len(parts))[number]:
            response.tsig = None
            wire = response.to_wire()
            context.update(wire)
        else:
            wire = response.to_wire(multi=True, tsig_ctx=context)
            context = response.tsig_ctx
        wires.append(wire)
    return query, wires


def read(query: dns.message.Message, wires: list[bytes], key: dns.tsig.Key | None = KEY) -> AxfrCollector:
    collector = AxfrCollector(ORIGIN, key, query.id, query.mac if key is not None else None)
    for wire in wires:
        assert collector.feed(wire) == 0
    return collector


def test_a_signed_transfer_in_three_messages_is_read_whole():
    query, wires = transfer([[SOA, *records(100)], records(100, 100), [*records(50, 200), SOA]])
    collector = read(query, wires)
    assert collector.done and collector.serial == 42
    rrsets = collector.rrsets()
    assert len(rrsets) == 1 + 250  # the SOA once, the closing SOA is not a record
    assert rrsets[(dns.name.from_text("h7.example.test."), dns.rdatatype.A)].values() == ["192.0.2.7"]


def test_an_unsigned_message_between_signed_ones_is_covered_by_the_next_mac():
    query, wires = transfer([[SOA, *records(10)], records(10, 10), [SOA]], sign=[True, False, True])
    assert read(query, wires).done


def test_a_changed_byte_fails_the_signature():
    query, wires = transfer([[SOA, *records(10)], [*records(10, 10), SOA]])
    tampered = bytearray(wires[1])
    tampered[wires[1].index(bytes([192, 0, 2, 15]))] ^= 1  # one address of the second message
    with pytest.raises(dns.tsig.BadSignature):
        read(query, [wires[0], bytes(tampered)])


def test_an_unsigned_transfer_is_refused_when_a_key_is_used():
    query, wires = transfer([[SOA, *records(5), SOA]], key=None)
    collector = AxfrCollector(ORIGIN, KEY, query.id, b"\0" * 32)
    with pytest.raises(WireError, match="not signed"):
        collector.feed(wires[0])


def test_a_transfer_must_start_with_the_soa_and_match_the_query_id():
    query, wires = transfer([[*records(2), SOA]], key=None)
    with pytest.raises(WireError, match="start with the zone's SOA"):
        read(query, wires, key=None)
    other = AxfrCollector(ORIGIN, None, (query.id + 1) % 65536, None)
    with pytest.raises(WireError, match="id mismatch"):
        other.feed(wires[0])


def test_a_pointer_loop_is_refused():
    query, wires = transfer([[SOA, SOA]], key=None)
    looped = bytearray(wires[0])
    question_end = 12 + len(ORIGIN.to_wire()) + 4
    looped[question_end:question_end + 2] = bytes([0xC0, question_end & 0xFF])  # points at itself
    with pytest.raises(WireError, match="compression pointer"):
        read(query, [bytes(looped)], key=None)


def test_owners_are_compressed_against_the_zone_name():
    assert owner_wire(ORIGIN, ORIGIN) == b"\xc0\x0c"
    assert owner_wire(dns.name.from_text("_acme-challenge.www.example.test."), ORIGIN) == \
        b"\x0f_acme-challenge\x03www\xc0\x0c"
    with pytest.raises(ValueError, match="not in the zone"):
        owner_wire(dns.name.from_text("www.other.test."), ORIGIN)


def test_an_owner_in_another_case_than_the_zone_is_still_inside_it():
    """DNS names ignore case: a tenant may write ``WWW.Example.TEST.``, and a server may send the zone's
    names in its own case. The owner keeps its labels; the zone part becomes the pointer."""
    assert owner_wire(dns.name.from_text("WWW.Example.TEST."), ORIGIN) == b"\x03WWW\xc0\x0c"
    assert owner_wire(dns.name.from_text("www.example.test."), dns.name.from_text("EXAMPLE.test.")) == \
        b"\x03www\xc0\x0c"
    with pytest.raises(ValueError, match="not in the zone"):
        owner_wire(dns.name.from_text("example.test.other."), ORIGIN)
    with pytest.raises(ValueError, match="not in the zone"):
        owner_wire(dns.name.from_text("test."), ORIGIN)


@pytest.mark.parametrize(("name", "expected"), [
    ("example.test.", "@"), ("www.example.test.", "www"), ("WWW.Example.TEST.", "WWW"),
    ("a\\.b.example.test.", "a\\.b"), ("www.other.test.", "www.other.test."), ("test.", "test."),
])
def test_relative_text_is_dnspython_relativize_in_any_case(name, expected):
    owner = dns.name.from_text(name)
    assert relative_text(owner, ORIGIN) == expected
    if owner.is_subdomain(ORIGIN):
        assert expected == owner.relativize(ORIGIN).to_text()
