"""Unit tests of DNS declarations and zone files -> rrsets (module_utils/dns/validate.py). No network."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns.model import RRset  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import (  # noqa: E402
    _StrictZone,
    parse_records,
    parse_zone_file,
    read_simple_zone_file,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402

ZONE = "example.test"
ORIGIN = dns.name.from_text(ZONE)
TENANT_FILE = "inventories/lab/tenants/packaging.yml"

ALL_TYPES = [
    {"name": "@", "type": "A", "values": ["192.0.2.1"]},
    {"name": "@", "type": "AAAA", "values": ["2001:db8::1"]},
    {"name": "www", "type": "CNAME", "values": ["example.test."]},
    {"name": "@", "type": "MX", "values": ["10 mail.example.test.", "20 mx.other.test."]},
    {"name": "mail", "type": "A", "values": ["192.0.2.25"]},
    {"name": "@", "type": "TXT", "values": ["v=spf1 mx -all"]},
    {"name": "_sip._tcp", "type": "SRV", "values": ["10 60 5060 sip.other.test."]},
    {"name": "@", "type": "CAA", "values": ['0 issue "letsencrypt.org"']},
    {"name": "@", "type": "NS", "values": ["ns1.infra.test.", "ns2.infra.test."]},
    {"name": "1.2", "type": "PTR", "values": ["host.example.test."]},
    {"name": "child", "type": "NS", "values": ["ns.other.test."]},
    {"name": "child", "type": "DS", "values": ["12345 13 2 " + "ab" * 32]},
    {"name": "_443._tcp.www", "type": "TLSA", "values": ["3 1 1 " + "cd" * 32]},
    {"name": "host", "type": "SSHFP", "values": ["4 2 " + "ef" * 32]},
    {"name": "svc", "type": "HTTPS", "values": ['1 . alpn="h2,h3"']},
    {"name": "_dns", "type": "SVCB", "values": ["1 dns.other.test. alpn=dot"]},
]


def parse(records, **kwargs):
    return parse_records(records, ZONE, tenant="packaging", source_file=TENANT_FILE, **kwargs)


def refused(records, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(records, **kwargs)
    return caught.value


def test_every_supported_type_parses_to_one_rrset_each():
    rrsets = parse(ALL_TYPES)
    assert len(rrsets) == len(ALL_TYPES)
    mx = rrsets[(ORIGIN, dns.rdatatype.MX)]
    assert mx.values() == ["10 mail.example.test.", "20 mx.other.test."]
    assert mx.ttl == 3600


def test_relative_names_in_data_are_under_the_zone():
    rrsets = parse([{"name": "www", "type": "CNAME", "values": ["web"]}])
    assert rrsets[(dns.name.from_text("www", ORIGIN), dns.rdatatype.CNAME)].values() == ["web.example.test."]


def test_spellings_of_the_same_data_compare_equal():
    first = parse([{"name": "@", "type": "AAAA", "values": ["2001:DB8:0::1"]},
                   {"name": "@", "type": "TXT", "values": ["v=spf1 -all"]}])
    second = parse([{"name": "example.test.", "type": "aaaa", "values": ["2001:db8::1"]},
                    {"name": "@", "type": "TXT", "values": ['"v=spf1 -all"']}])
    assert first == second


def test_long_txt_is_split_into_255_byte_strings_and_quotes_are_data():
    text = 'k=rsa; p="' + "A" * 600
    rrset = parse([{"name": "dkim._domainkey", "type": "TXT", "values": [text]}]).popitem()[1]
    (rdata,) = rrset.rdatas
    assert [len(part) for part in rdata.strings] == [255, 255, 100]
    assert b"".join(rdata.strings).decode() == text


def test_quoted_txt_longer_than_255_is_refused_with_the_field():
    error = refused([{"name": "@", "type": "TXT", "values": ['"' + "x" * 300 + '"']}])
    assert error.field == "records[0].values[0]"


@pytest.mark.parametrize(("record", "field", "words"), [
    ({"name": "bad name", "type": "A", "values": ["192.0.2.1"]}, "records[0].name", "not a valid DNS name"),
    ({"name": "a" * 64, "type": "A", "values": ["192.0.2.1"]}, "records[0].name", "not a valid DNS name"),
    ({"name": "www.other.test.", "type": "A", "values": ["192.0.2.1"]}, "records[0].name", "outside the zone"),
    ({"name": "www", "type": "A", "values": ["300.1.2.3"]}, "records[0].values[0]", "not an IPv4 address"),
    ({"name": "www", "type": "A", "values": ["192.0.2"]}, "records[0].values[0]", "not an IPv4 address"),
    ({"name": "www", "type": "AAAA", "values": ["192.0.2.1"]}, "records[0].values[0]", "not an IPv6 address"),
    ({"name": "www", "type": "MX", "values": ["mail.example.test."]}, "records[0].values[0]", "not valid MX"),
    ({"name": "www", "type": "A", "ttl": -1, "values": ["192.0.2.1"]}, "records[0].ttl", "out of range"),
    ({"name": "www", "type": "A", "ttl": 2**31, "values": ["192.0.2.1"]}, "records[0].ttl", "out of range"),
    ({"name": "www", "type": "A", "ttl": "soon", "values": ["192.0.2.1"]}, "records[0].ttl", "whole number"),
    ({"name": "www", "type": "BOGUS", "values": ["x"]}, "records[0].type", "unknown record type"),
    ({"name": "@", "type": "SOA", "values": ["a. b. 1 2 3 4 5"]}, "records[0].type", "maintained by the name"),
    ({"name": "@", "type": "DNSKEY", "values": ["257 3 13 AAAA"]}, "records[0].type", "dnssec-policy"),
    ({"name": "www", "type": "A", "values": []}, "records[0].values", "non-empty list"),
    ({"name": "www", "type": "A", "values": ["192.0.2.1", "192.0.2.1"]}, "records[0].values", "twice"),
    ({"name": "www", "type": "A", "value": "192.0.2.1", "values": ["192.0.2.1"]}, "records[0]", "either"),
    ({"name": "www", "type": "A", "vaules": ["192.0.2.1"]}, "records[0]", "unknown field"),
    ({"name": "@", "type": "CNAME", "values": ["other.test."]}, "records[0]", "apex"),
])
def test_bad_input_names_tenant_file_record_and_field(record, field, words):
    error = refused([record])
    assert error.field == field
    assert error.tenant == "packaging"
    assert error.file == TENANT_FILE
    assert words in str(error)
    assert str(error).startswith(f"{TENANT_FILE}: tenant 'packaging': {field}")


def test_cname_beside_other_data_is_refused():
    error = refused([{"name": "www", "type": "A", "values": ["192.0.2.1"]},
                     {"name": "www", "type": "CNAME", "values": ["example.test."]}])
    assert "CNAME beside other data (A)" in str(error)
    assert error.field == "records[1]"


def test_duplicate_rrsets_name_both_places():
    error = refused([{"name": "www", "type": "A", "values": ["192.0.2.1"]},
                     {"name": "WWW.example.test.", "type": "A", "values": ["192.0.2.2"]}])
    assert error.field == "records[1]"
    assert "records[0]" in str(error)


def test_zone_file_gives_the_same_rrsets_as_the_declaration():
    zone_file = """$ORIGIN example.test.
$TTL 3600
@ SOA ns1.infra.test. hostmaster.example.test. 7 300 30 1209600 60
@ NS ns1.infra.test.
@ NS ns2.infra.test.
@ A 192.0.2.1
@ MX 10 mail
mail A 192.0.2.25
www CNAME @
@ TXT "v=spf1 mx -all"
@ 300 DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
"""
    declared = parse([
        {"name": "@", "type": "NS", "values": ["ns1.infra.test.", "ns2.infra.test."]},
        {"name": "@", "type": "A", "values": ["192.0.2.1"]},
        {"name": "@", "type": "MX", "values": ["10 mail.example.test."]},
        {"name": "mail", "type": "A", "values": ["192.0.2.25"]},
        {"name": "www", "type": "CNAME", "values": ["example.test."]},
        {"name": "@", "type": "TXT", "values": ["v=spf1 mx -all"]},
    ])
    assert parse_zone_file(zone_file, ZONE) == declared


def test_zone_file_syntax_error_names_the_file():
    with pytest.raises(InvalidInput) as caught:
        parse_zone_file("$ORIGIN example.test.\nwww IN A not-an-address\n", ZONE, tenant="packaging",
                        source_file="zones/example.test.zone")
    assert caught.value.file == "zones/example.test.zone"
    assert "zones/example.test.zone" in str(caught.value)


def _by_dnspython(text: str) -> dict:
    zone = dns.zone.from_text(text, ORIGIN, relativize=False, check_origin=False, zone_factory=_StrictZone)
    return {(owner, rdataset.rdtype): (rdataset.ttl, {rdata.to_digestable() for rdata in rdataset})
            for owner, rdataset in zone.iterate_rdatasets()}


def _by_quick_reader(text: str) -> dict | None:
    found = read_simple_zone_file(text, ORIGIN)
    if found is None:
        return None
    return {key: (ttl, set(by_digest)) for key, (ttl, by_digest) in found.items()}


PLAIN_ZONE = """$TTL 1h
@ IN SOA ns1.infra.test. hostmaster.example.test. 7 300 30 1209600 60
@ NS ns1.infra.test.
  NS ns2.infra.test.
@ 300 IN A 192.0.2.1
www IN 300 A 192.0.2.2 ; a comment
www 600 A 192.0.2.3
www A 192.0.2.2
Mail.Example.Test. AAAA 2001:DB8::25
@ MX 10 mail
*.wild CNAME www
_sip._tcp SRV 10 5 5060 sip.example.test.
txt TXT plain-words without-quotes
$ORIGIN sub.example.test.
deep A 198.51.100.7
@ NS ns1.infra.test.
"""


def test_the_quick_zone_file_reader_reads_what_dnspython_reads():
    """Same owners (absolute, case kept), same rrsets, the smallest TTL of an rrset, duplicates once."""
    assert _by_quick_reader(PLAIN_ZONE) == _by_dnspython(PLAIN_ZONE)
    assert _by_quick_reader(PLAIN_ZONE)[(dns.name.from_text("www.example.test."), dns.rdatatype.A)][0] == 300


@pytest.mark.parametrize("line", ['txt TXT "quoted"', "@ SOA ns1. host. ( 1 2 3 4 5 )", "$INCLUDE other.zone",
                                  "esc\\.aped A 192.0.2.1", "$GENERATE 1-3 h$ A 192.0.2.$", "chaos CH TXT x"])
def test_anything_but_plain_lines_is_left_to_dnspython(line):
    text = "$TTL 300\n@ A 192.0.2.1\n" + line + "\n"
    assert _by_quick_reader(text) is None


def test_a_record_without_any_ttl_is_left_to_dnspython():
    assert _by_quick_reader("@ 300 A 192.0.2.1\nwww A 192.0.2.2\n") is None


TWO_CNAMES = "$TTL 300\n@ A 192.0.2.1\nalias CNAME one.example.org.\nalias CNAME two.example.org.\n"


def test_plain_dnspython_keeps_the_last_of_two_cnames():
    """Why both readers need the rule below: dnspython alone drops a record the tenant wrote."""
    zone = dns.zone.from_text(TWO_CNAMES, ORIGIN, relativize=False, check_origin=False)
    assert zone.get_rdataset("alias", "CNAME").to_text() == "300 IN CNAME two.example.org."


@pytest.mark.parametrize("extra", ["", 'txt TXT "quoted, so read by dnspython"\n'])
def test_two_different_cnames_at_a_name_are_refused_by_both_readers(extra):
    with pytest.raises(InvalidInput) as refused:
        parse_zone_file(TWO_CNAMES + extra, ZONE, tenant="packaging", source_file="packaging.example.test.zone")
    message = str(refused.value)
    assert message.startswith("packaging.example.test.zone: tenant 'packaging': zone_file: zone file syntax error:")
    assert "packaging.example.test.zone:4: a second, different CNAME record for alias.example.test." in message


@pytest.mark.parametrize("extra", ["", 'txt TXT "quoted"\n'])
def test_the_same_cname_twice_is_one_record(extra):
    text = TWO_CNAMES.replace("two.example.org.", "one.example.org.") + extra
    declared = parse_zone_file(text, ZONE)
    cname = declared[(dns.name.from_text("alias.example.test."), dns.rdatatype.CNAME)]
    assert cname.values() == ["one.example.org."]


def test_both_readers_give_parse_zone_file_the_same_result():
    quoted = PLAIN_ZONE.replace("txt TXT plain-words without-quotes", 'txt TXT "plain-words" "without-quotes"')
    assert _by_quick_reader(quoted) is None
    assert parse_zone_file(quoted, ZONE) == parse_zone_file(PLAIN_ZONE, ZONE)


def test_a_bad_address_in_a_plain_zone_file_names_the_file_and_line():
    with pytest.raises(InvalidInput) as caught:
        parse_zone_file("$TTL 300\nwww A 192.0.2.1\nftp A 192.0.2.300\n", ZONE, tenant="packaging",
                        source_file="zones/example.test.zone")
    assert caught.value.field == "zone_file"
    assert "zones/example.test.zone:3" in str(caught.value)


_LABELS = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just("@"), _LABELS, st.just("")), st.one_of(st.none(), st.integers(0, 86400)),
                          st.sampled_from(["A", "AAAA", "MX", "CNAME", "TXT", "NS"]),
                          st.integers(0, 2**32 - 1), st.booleans()), min_size=1, max_size=30))
def test_random_plain_zone_files_read_the_same_both_ways(lines):
    text = ["$TTL 3600", "@ SOA ns1.infra.test. hostmaster.example.test. 1 300 30 1209600 60"]
    for owner, ttl, rdtype, number, with_class in lines:
        value = {"A": str(ipaddress.IPv4Address(number)), "AAAA": str(ipaddress.IPv6Address(number * 65537)),
                 "MX": f"{number % 100} mx{number % 7}", "CNAME": f"target{number % 5}.example.org.",
                 "TXT": f"word{number}", "NS": f"ns{number % 3}.infra.test."}[rdtype]
        parts = [owner if owner else " ", str(ttl) if ttl is not None else "", "IN" if with_class else "",
                 rdtype, value]
        text.append(" ".join(part for part in parts if part) if owner else " " + " ".join(parts[1:]).strip())
    zone_text = "\n".join(text) + "\n"
    try:
        expected = _by_dnspython(zone_text)
    except dns.exception.DNSException:
        # e.g. a CNAME beside other data or two CNAMEs: the quick reader may read the lines, but
        # parse_zone_file must refuse the file all the same
        with pytest.raises(InvalidInput):
            parse_zone_file(zone_text, ZONE)
        return
    assert _by_quick_reader(zone_text) == expected


def test_rrset_equality_ignores_value_order():
    first = RRset.from_text("www", "A", 60, ["192.0.2.1", "192.0.2.2"], ZONE)
    assert first == RRset.from_text("www.example.test.", "A", 60, ["192.0.2.2", "192.0.2.1"])
    assert first != RRset.from_text("www", "A", 61, ["192.0.2.1", "192.0.2.2"], ZONE)
