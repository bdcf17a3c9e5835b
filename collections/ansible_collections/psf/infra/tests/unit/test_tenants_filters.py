"""Unit tests of the psf.infra tenant filters (plugins/filter/tenants.py)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.psf.infra.plugins.filter import tenants as filters  # noqa: E402


def tenant(name: str, status: str = "active", **services) -> dict:
    empty = {"domains": [], "zones": [], "certificates": [], "vms": [], "apps": []}
    return {
        "name": name, "display_name": name.title(), "kind": "working-group", "status": status,
        "approval": {"body": "psf-membership", "date": "2020-01-01"},
        "members": [{"name": f"{name} liaison", "email": f"liaison@{name}.test", "ssh_keys": [], "notify": True},
                    {"name": "Quiet", "email": f"quiet@{name}.test", "ssh_keys": [], "notify": False}],
        "services": empty | services,
    }


TENANTS = {
    "packaging": tenant(
        "packaging",
        domains=[{"name": "packaging.test", "registrar": "psf", "auto_renew": True}],
        zones=[{"name": "packaging.test", "dnssec": True, "managed": "full", "ignore": [], "records": []}],
        certificates=[{"name": "web", "names": ["packaging.test"], "key_type": "ecdsa-p256"},
                      {"name": "spare", "names": ["spare.packaging.test"], "key_type": "rsa-2048"}],
        vms=[{"name": "web1"}, {"name": "web2"}],
        apps=[{"name": "guide", "vm": "web2", "names": ["packaging.test"], "port": 8080, "certificate": "web"}],
    ),
    "berlin": tenant(
        "berlin", status="suspended",
        domains=[{"name": "berlin.test", "registrar": "tenant", "auto_renew": True}],
        zones=[{"name": "berlin.test", "dnssec": False, "managed": "declared", "ignore": [],
                "zone_file": "/srv/zones/berlin.test.zone"}],
    ),
    "old": tenant("old", status="retired"),
}


def test_active_tenants_keeps_only_active_ones_sorted() -> None:
    assert [record["name"] for record in filters.active_tenants(TENANTS)] == ["packaging"]


def test_tenants_with_status_accepts_one_or_many() -> None:
    assert [t["name"] for t in filters.tenants_with_status(TENANTS, "retired")] == ["old"]
    assert [t["name"] for t in filters.tenants_with_status(TENANTS, ["retired", "suspended"])] == ["berlin", "old"]


def test_tenant_zones_flattens_with_the_tenant_name() -> None:
    zones = filters.tenant_zones(TENANTS)

    assert [(zone["tenant"], zone["name"]) for zone in zones] == [
        ("berlin", "berlin.test"), ("packaging", "packaging.test")]
    assert zones[0]["zone_file"] == "/srv/zones/berlin.test.zone"
    assert filters.tenant_zones(TENANTS, statuses=["active"])[0]["name"] == "packaging.test"


def test_tenant_zones_without_records_and_one_zones_records_make_up_the_zones_with_records() -> None:
    records = [{"name": "www", "type": "A", "values": ["192.0.2.1"]}]
    tenants = copy.deepcopy(TENANTS)
    tenants["packaging"]["services"]["zones"][0]["records"] = records
    nameservers = ["ns1.infra.test.", "ns2.infra.test."]
    full = filters.tenant_zones(tenants, nameservers=nameservers)

    light = filters.tenant_zones(tenants, records=False)

    assert all("records" not in zone for zone in light)
    assert [(zone["name"], zone["has_records"]) for zone in light] == [("berlin.test", False), ("packaging.test", True)]
    for with_records, without in zip(full, light, strict=True):
        assert {key: value for key, value in with_records.items() if key != "records"} == \
            {key: value for key, value in without.items() if key != "has_records"}
        assert filters.tenant_zone_records(tenants, without["name"], nameservers) == with_records.get("records")
    assert filters.tenant_zone_records(tenants, "Packaging.Test.")[-1] == records[-1]  # no apex NS without nameservers
    assert filters.tenant_zone_records(tenants, "packaging.test", nameservers)[-1] == \
        {"name": "@", "type": "NS", "values": nameservers}
    with pytest.raises(AnsibleFilterError, match=r"tenant_zone_records: no hosted zone 'old\.test'"):
        filters.tenant_zone_records(tenants, "old.test", nameservers)


def test_tenant_domains_filters_by_registrar() -> None:
    assert [d["name"] for d in filters.tenant_domains(TENANTS, registrar="psf")] == ["packaging.test"]
    assert [d["name"] for d in filters.tenant_domains(TENANTS, registrar="tenant")] == ["berlin.test"]


def test_tenant_certificates_knows_where_to_deploy() -> None:
    certificates = {c["name"]: c for c in filters.tenant_certificates(TENANTS)}

    assert certificates["web"]["hosts"] == ["web2.packaging"]
    assert certificates["spare"]["hosts"] == ["web1.packaging", "web2.packaging"]
    assert certificates["web"]["tenant"] == "packaging"


def test_tenant_liaison_emails_respects_notify() -> None:
    assert filters.tenant_liaison_emails(TENANTS["packaging"]) == ["packaging liaison <liaison@packaging.test>"]
    assert len(filters.tenant_liaison_emails(TENANTS, notify_only=False)) == 6


def test_filters_do_not_change_their_input() -> None:
    before = copy.deepcopy(TENANTS)
    needs = {"tenants_with_status": ("active",), "tenant_zone_records": ("packaging.test", ["ns1.infra.test."])}
    for name, function in filters.FilterModule().filters().items():
        function(TENANTS, *needs.get(name, ()))
    assert before == TENANTS


def test_a_filter_given_something_else_says_so() -> None:
    with pytest.raises(AnsibleFilterError, match="tenant_zones: expected psf_tenants"):
        filters.tenant_zones("packaging")
    with pytest.raises(AnsibleFilterError, match="is not a tenant record"):
        filters.tenant_zones([{"name": "x"}])


# --------------------------------------------------------------------------- one tenant at a time (tenant.yml)


def test_tenant_scope_keeps_one_tenant_and_no_scope_keeps_all() -> None:
    scoped = filters.tenant_scope(TENANTS, "berlin")
    assert [record["name"] for record in scoped] == ["berlin"]
    assert [zone["name"] for zone in filters.tenant_zones(scoped)] == ["berlin.test"]
    assert filters.tenant_certificates(filters.tenant_scope(TENANTS, "berlin")) == []
    assert [record["name"] for record in filters.tenant_scope(TENANTS, "")] == ["berlin", "old", "packaging"]
    assert [record["name"] for record in filters.tenant_scope(TENANTS, None)] == ["berlin", "old", "packaging"]


def test_tenant_scope_of_an_unknown_tenant_names_the_ones_there_are() -> None:
    with pytest.raises(AnsibleFilterError, match=r"tenant 'nope' is not in the registry \(no tenants/nope.yml; "
                                                 r"the tenants are: berlin, old, packaging\)"):
        filters.tenant_scope(TENANTS, "nope")


def test_tenant_hosts_narrows_a_pattern_to_the_tenants_group() -> None:
    from ansible_collections.psf.infra.plugins.filter import names

    assert names.tenant_hosts("tenant_vms", "pyladies-berlin") == "tenant_vms:&tenant_pyladies_berlin"
    assert names.tenant_hosts("app_*", "packaging") == "app_*:&tenant_packaging"
    assert names.tenant_hosts("tenant_vms", "") == "tenant_vms"
    assert names.tenant_hosts("tenant_vms", None) == "tenant_vms"
    with pytest.raises(AnsibleFilterError, match="expected a host pattern"):
        names.tenant_hosts("", "packaging")
