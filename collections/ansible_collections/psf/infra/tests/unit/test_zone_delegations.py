"""Unit tests of zones inside zones: the filters (plugins/filter/delegations.py) and the managed
delegation records of psf.infra.dns_zone (module_utils/dns/delegation.py). No network."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.psf.infra.plugins.filter import delegations as filters  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.delegation import (  # noqa: E402
    parse_delegations,
    refuse_declared_inside,
    with_delegations,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.diff import plan_zone  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.model import RRset  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import Where, parse_records  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402

KSK = "257 3 13 KzodowmvU5Kv5LIx6dfU13927Q0yz5jlD6uJr/73YvWLny1OT+EuAleBTtgdJDNVPPcNm5nq/hmwLO2OjaO1Bg=="
ZSK = "256 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
NEW_KSK = "257 3 13 oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA=="
NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]


def tenant(name: str, zones: list[dict], status: str = "active") -> dict:
    return {"name": name, "status": status, "services": {"zones": zones}}


def zone(name: str, records: list | None = None, dnssec: bool = True, **more) -> dict:
    return {"name": name, "dnssec": dnssec, "records": records or [], "source_file": f"/reg/{name}.yml", **more}


TENANTS = {
    "packaging": tenant("packaging", [zone("packaging.test", [{"name": "www", "type": "A", "values": ["192.0.2.1"]}]),
                                      zone("lab.packaging.test"),
                                      zone("deep.lab.packaging.test", dnssec=False)]),
    "other": tenant("other", [zone("other.test"), zone("guests.packaging.test")]),
    "gone": tenant("gone", [zone("old.packaging.test")], status="retired"),
}


# --------------------------------------------------------------------------- hosted_child_zones


def test_children_get_their_nearest_hosted_parent_whoever_the_tenant() -> None:
    children = filters.hosted_child_zones(TENANTS)
    assert [(child["name"], child["parent"], child["tenant"], child["dnssec"]) for child in children] == [
        ("deep.lab.packaging.test", "lab.packaging.test", "packaging", False),
        ("guests.packaging.test", "packaging.test", "other", True),
        ("lab.packaging.test", "packaging.test", "packaging", True),
    ]
    assert children[1]["parent_tenant"] == "packaging"
    assert children[1]["parent_source_file"] == "/reg/packaging.test.yml"


def test_a_retired_tenants_zone_is_no_child_and_no_parent() -> None:
    assert "old.packaging.test" not in [child["name"] for child in filters.hosted_child_zones(TENANTS)]
    assert filters.hosted_child_zones({"gone": TENANTS["gone"]}) == []


@pytest.mark.parametrize("owner", ["lab", "www.lab", "lab.packaging.test.", "LAB"])
def test_a_record_the_parent_declares_at_or_below_a_child_is_refused_naming_tenant_file_field(owner: str) -> None:
    tenants = copy.deepcopy(TENANTS)
    records = tenants["packaging"]["services"]["zones"][0]["records"]
    records.append({"name": owner, "type": "NS", "values": ["ns.elsewhere.test."]})
    with pytest.raises(AnsibleFilterError) as raised:
        filters.hosted_child_zones(tenants)
    message = str(raised.value)
    assert message.startswith("/reg/packaging.test.yml: tenant 'packaging': services.zones[0].records[1].name: ")
    assert "hosted zone lab.packaging.test" in message


def test_a_record_beside_a_child_is_fine() -> None:
    tenants = copy.deepcopy(TENANTS)
    records = tenants["packaging"]["services"]["zones"][0]["records"]
    records.append({"name": "labs", "type": "A", "values": ["192.0.2.2"]})
    assert len(filters.hosted_child_zones(tenants)) == 3


def test_not_tenant_records_is_a_filter_error() -> None:
    with pytest.raises(AnsibleFilterError, match="hosted_child_zones"):
        filters.hosted_child_zones("packaging")


# --------------------------------------------------------------------------- zone_parent_keys, zone_delegations


def info(name: str, *records: dict, **more) -> dict:
    return {"item": {"name": name}, "records": list(records), **more}


def apex(rdtype: str, *values: str) -> dict:
    return {"name": "@", "type": rdtype, "ttl": 3600, "values": list(values)}


def test_parent_keys_are_the_cdnskey_set_without_the_delete_record() -> None:
    result = info("x", apex("DNSKEY", KSK, NEW_KSK, ZSK), apex("CDNSKEY", NEW_KSK, "0 3 0 AA=="))
    assert filters.zone_parent_keys(result) == [NEW_KSK]


def test_before_a_cdnskey_set_the_one_sep_key_and_with_two_none() -> None:
    assert filters.zone_parent_keys(info("x", apex("DNSKEY", KSK, ZSK))) == [KSK]
    assert filters.zone_parent_keys(info("x", apex("DNSKEY", KSK, NEW_KSK, ZSK))) is None
    assert filters.zone_parent_keys(info("x", failed=True)) is None
    assert filters.zone_parent_keys({"skipped": True}) is None


def test_zone_delegations_of_one_parent_with_keys_only_for_signed_children() -> None:
    children = filters.hosted_child_zones(TENANTS)
    keys = {"results": [info("lab.packaging.test", apex("DNSKEY", KSK, ZSK)),
                        info("guests.packaging.test", failed=True)]}
    assert filters.zone_delegations(children, "packaging.test", keys) == [
        {"name": "guests.packaging.test"},  # keys not known: the parent's DS stays as it is
        {"name": "lab.packaging.test", "dnskeys": [KSK]},
    ]
    assert filters.zone_delegations(children, "Lab.Packaging.Test.", keys) == [
        {"name": "deep.lab.packaging.test", "dnskeys": []}]  # unsigned: no DS
    assert filters.zone_delegations(children, "other.test", keys) == []


# --------------------------------------------------------------------------- the managed records in dns_zone

ORIGIN = dns.name.from_text("packaging.test.")
WHERE = Where("packaging", "/reg/packaging.yml")


def delegations(*zones: dict, nameservers: tuple[str, ...] = tuple(NAMESERVERS)):
    return parse_delegations({"nameservers": list(nameservers), "zones": list(zones)}, ORIGIN, WHERE, 3600)


def ds_of(child: str, key: str) -> str:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, key)
    return dns.dnssec.make_ds(dns.name.from_text(child), rdata, "SHA256").to_text()


def rrset(name: str, rdtype: str, *values: str) -> RRset:
    return RRset.from_text(dns.name.from_text(name), rdtype, 3600, list(values))


def test_a_signed_child_gets_ns_and_the_ds_of_its_sep_keys() -> None:
    managed, stale = with_delegations(delegations({"name": "lab.packaging.test", "dnskeys": [KSK, ZSK]}), {}, {},
                                      ORIGIN)
    lab = dns.name.from_text("lab.packaging.test.")
    assert sorted(managed[(lab, dns.rdatatype.NS)].values()) == ["ns1.infra.test.", "ns2.infra.test."]
    assert managed[(lab, dns.rdatatype.DS)].values() == [ds_of("lab.packaging.test.", KSK)]
    assert stale == []


def test_unsigned_child_has_no_ds_and_unknown_keys_keep_the_live_ds() -> None:
    lab = dns.name.from_text("lab.packaging.test.")
    live = {(lab, dns.rdatatype.NS): rrset("lab.packaging.test.", "NS", "ns1.infra.test.", "ns2.infra.test."),
            (lab, dns.rdatatype.DS): rrset("lab.packaging.test.", "DS", ds_of("lab.packaging.test.", KSK))}
    unsigned, stale = with_delegations(delegations({"name": "lab.packaging.test", "dnskeys": []}), {}, live, ORIGIN)
    assert (lab, dns.rdatatype.DS) not in unsigned
    for prune in (True, False):  # the DS is ours: it goes whatever prune says
        plan = plan_zone(live, unsigned, ORIGIN, prune=prune, also_delete=stale)
        assert [(change.action, dns.rdatatype.to_text(change.rdtype)) for change in plan.changes] == [("delete", "DS")]
    unknown, _stale = with_delegations(delegations({"name": "lab.packaging.test"}), {}, live, ORIGIN)
    assert plan_zone(live, unknown, ORIGIN, prune=True).changes == []


def test_a_removed_childs_delegation_is_stale_and_goes_even_without_prune() -> None:
    old = dns.name.from_text("old.packaging.test.")
    theirs = dns.name.from_text("theirs.packaging.test.")
    live = {(old, dns.rdatatype.NS): rrset("old.packaging.test.", "NS", "ns2.infra.test.", "ns1.infra.test."),
            (old, dns.rdatatype.DS): rrset("old.packaging.test.", "DS", ds_of("old.packaging.test.", KSK)),
            (theirs, dns.rdatatype.NS): rrset("theirs.packaging.test.", "NS", "ns.elsewhere.test.")}
    desired, stale = with_delegations(delegations(), {}, live, ORIGIN)
    assert sorted(stale) == sorted([(old, dns.rdatatype.NS), (old, dns.rdatatype.DS)])
    plan = plan_zone(live, desired, ORIGIN, prune=False, also_delete=stale)
    assert sorted((change.name.to_text(), change.action) for change in plan.changes) == [
        ("old.packaging.test.", "delete"), ("old.packaging.test.", "delete")]  # a delegation elsewhere stays


def test_declared_records_at_or_below_a_child_are_refused_with_the_field() -> None:
    records = [{"name": "www", "type": "A", "values": ["192.0.2.1"]},
               {"name": "www.lab", "type": "A", "values": ["192.0.2.2"]}]
    declared = parse_records(records, ORIGIN, tenant="packaging", source_file="/reg/packaging.yml")
    with pytest.raises(InvalidInput) as raised:
        refuse_declared_inside(delegations({"name": "lab.packaging.test"}), ORIGIN, WHERE, records=records,
                               declared=declared)
    fields = raised.value.result_fields()
    assert fields["tenant"] == "packaging" and fields["file"] == "/reg/packaging.yml"
    assert fields["field"] == "records[1].name"
    assert "inside the hosted zone lab.packaging.test" in str(raised.value)
    with pytest.raises(InvalidInput) as raised:
        refuse_declared_inside(delegations({"name": "lab.packaging.test"}), ORIGIN, WHERE, records=None,
                               declared=declared)
    assert raised.value.result_fields()["field"] == "zone_file"


@pytest.mark.parametrize(("value", "field"), [
    ({"nameservers": [], "zones": []}, "delegations.nameservers"),
    ({"nameservers": NAMESERVERS, "zones": [{"name": "packaging.test"}]}, "delegations.zones[0].name"),
    ({"nameservers": NAMESERVERS, "zones": [{"name": "elsewhere.test"}]}, "delegations.zones[0].name"),
    ({"nameservers": NAMESERVERS, "zones": [{"name": "lab.packaging.test", "dnskeys": ["257 3 13 !!"]}]},
     "delegations.zones[0].dnskeys[0]"),
])
def test_bad_delegations_are_refused(value: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_delegations(value, ORIGIN, WHERE, 3600)
    assert raised.value.result_fields()["field"] == field
