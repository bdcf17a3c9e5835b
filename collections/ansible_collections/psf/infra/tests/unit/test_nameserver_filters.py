"""Unit tests of the nameserver role's filters: tsig_derive, nameserver_zone_list and the catalog
helpers. Pure functions; no network, no Ansible run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
from pathlib import Path

import dns.name
import pytest
from ansible.errors import AnsibleFilterError

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.filter import nameserver, tsig  # noqa: E402

MASTER = "m" * 32


def test_derived_secret_is_hmac_sha256_of_the_zone_label():
    expected = base64.b64encode(hmac.new(MASTER.encode(), b"zone:packaging.test", hashlib.sha256).digest()).decode()
    assert tsig.tsig_derive(MASTER, "packaging.test") == expected
    assert len(base64.b64decode(expected)) == 32


def test_zone_spelling_does_not_change_the_key():
    assert tsig.tsig_derive(MASTER, "Packaging.Test.") == tsig.tsig_derive(MASTER, "packaging.test")


def test_generation_rotates_one_zone_only():
    assert tsig.tsig_derive(MASTER, "a.test", 1) != tsig.tsig_derive(MASTER, "a.test", 0)
    assert tsig.tsig_derive(MASTER, "a.test", "1") == tsig.tsig_derive(MASTER, "a.test", 1)
    assert tsig.tsig_derive(MASTER, "b.test") == tsig.tsig_derive(MASTER, "b.test", 0)


def test_zones_and_masters_give_different_keys():
    assert tsig.tsig_derive(MASTER, "a.test") != tsig.tsig_derive(MASTER, "b.test")
    assert tsig.tsig_derive(MASTER, "a.test") != tsig.tsig_derive("n" * 32, "a.test")


@pytest.mark.parametrize("master", ["short", None, 42])
def test_weak_master_secret_refused_without_echoing_it(master):
    with pytest.raises(AnsibleFilterError, match="at least 32 characters") as error:
        tsig.tsig_derive(master, "a.test")
    assert "short" not in str(error.value)


@pytest.mark.parametrize("generation", [-1, 1.5, True, "x"])
def test_bad_generation_refused(generation):
    with pytest.raises(AnsibleFilterError, match="generation"):
        tsig.tsig_derive(MASTER, "a.test", generation)


def test_zone_list_is_normalised_and_sorted():
    zones = nameserver.nameserver_zone_list([
        {"name": "B.test.", "tenant": "bee", "dnssec": False, "records": []},
        {"name": "a.test", "tenant": "ay"},
    ])
    assert zones == [{"name": "a.test", "tenant": "ay", "dnssec": True},
                     {"name": "b.test", "tenant": "bee", "dnssec": False}]


def test_zone_list_refuses_a_zone_of_two_tenants_naming_both():
    with pytest.raises(AnsibleFilterError, match=r"tenant 'two'.*also declared by tenant 'one'"):
        nameserver.nameserver_zone_list([{"name": "x.test", "tenant": "one"}, {"name": "X.test.", "tenant": "two"}])


@pytest.mark.parametrize("zone", [{"name": "bad name.test", "tenant": "t"}, {"tenant": "t"}, "x.test"])
def test_zone_list_refuses_bad_entries(zone):
    with pytest.raises(AnsibleFilterError, match=r"nameserver_zones\[0\]"):
        nameserver.nameserver_zone_list([zone])


def test_catalog_label_is_sha1_of_the_wire_name():
    wire = dns.name.from_text("packaging.test.").to_wire()
    assert nameserver.catalog_member_label("packaging.test") == hashlib.sha1(wire).hexdigest()  # noqa: S324


def test_catalog_members_read_from_zone_text():
    text = """catalog.infra.test.  60 IN SOA invalid. invalid. 6 300 30 1209600 60
catalog.infra.test.  60 IN NS invalid.
version.catalog.infra.test. 60 IN TXT "2"
abc.zones.catalog.infra.test. 60 IN PTR packaging.test.
coo.abc.zones.catalog.infra.test. 60 IN PTR other.test.
def.zones.catalog.infra.test. 60 IN PTR Pyladies-Berlin.test.
"""
    assert nameserver.catalog_members(text, "catalog.infra.test.") == {
        "packaging.test": "abc", "pyladies-berlin.test": "def"}
