"""Unit tests of module_utils/dns/catalog.py: member labels, reading members, the plan and its changes.
Pure functions; the module against a real BIND is tests/integration/test_dns_catalog.py."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns import catalog  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.model import ADD, DELETE  # noqa: E402

CATALOG = "catalog.infra.test"


def ptr(owner: str, target: str) -> tuple[dns.name.Name, int, list[dns.rdata.Rdata]]:
    return (dns.name.from_text(owner), dns.rdatatype.PTR,
            [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.PTR, target)])


@pytest.mark.parametrize("spelling", ["packaging.test", "Packaging.Test.", " packaging.test. ",
                                      dns.name.from_text("PACKAGING.test.")])
def test_the_label_is_sha1_of_the_wire_name_in_any_spelling(spelling):
    wire = b"\x09packaging\x04test\x00"
    assert catalog.member_label(spelling) == hashlib.sha1(wire).hexdigest()  # noqa: S324


def test_members_are_the_ptr_records_directly_below_zones():
    records = [
        ptr("abc.zones.catalog.infra.test.", "packaging.test."),
        ptr("coo.abc.zones.catalog.infra.test.", "other.test."),  # a member's property
        ptr("def.zones.catalog.infra.test.", "Pyladies-Berlin.test."),
        ptr("ghi.zones.elsewhere.test.", "stranger.test."),
        (dns.name.from_text("version.catalog.infra.test."), dns.rdatatype.TXT, []),
    ]
    expected = {"packaging.test": "abc", "pyladies-berlin.test": "def"}
    assert catalog.members_of(records, "Catalog.Infra.Test.") == expected


def test_the_plan_adds_the_missing_removes_the_unwanted_and_leaves_the_others():
    plan = catalog.plan(CATALOG, {"old.test": "x1", "theirs.test": "t", "kept.test": "k"},
                        wanted=["Kept.test.", "new.test"], unwanted=["old.test", "gone.test", "kept.test"])
    assert (plan.add, plan.remove) == (["new.test"], ["old.test"])
    assert plan.after() == {"kept.test": "k", "new.test": catalog.member_label("new.test"), "theirs.test": "t"}
    removed, added = plan.changes(60)
    assert removed.action == DELETE and removed.name == dns.name.from_text("x1.zones.catalog.infra.test.")
    assert added.action == ADD and added.name.labels[0].decode() == catalog.member_label("new.test")
    assert added.rrset.values() == ["new.test."] and added.rrset.ttl == 60


def test_nothing_to_do_is_no_change():
    plan = catalog.plan(CATALOG, {"a.test": "l"}, wanted=["a.test"], unwanted=["b.test"])
    assert plan.changes(60) == [] and plan.after() == {"a.test": "l"}
