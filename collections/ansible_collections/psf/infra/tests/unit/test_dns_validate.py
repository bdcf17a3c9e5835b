"""Unit tests of DNS declarations and zone files -> rrsets (module_utils/dns/validate.py). No network."""

from __future__ import annotations

import sys
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns.model import RRset  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import (  # noqa: E402
    parse_records,
    parse_zone_file,
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


def test_rrset_equality_ignores_value_order():
    first = RRset.from_text("www", "A", 60, ["192.0.2.1", "192.0.2.2"], ZONE)
    assert first == RRset.from_text("www.example.test.", "A", 60, ["192.0.2.2", "192.0.2.1"])
    assert first != RRset.from_text("www", "A", 61, ["192.0.2.1", "192.0.2.2"], ZONE)
