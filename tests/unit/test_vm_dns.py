"""DNS for every VM (plugins/filter/vm_dns.py; docs/vms.md "DNS for VMs"): the reverse zones of the
VM networks, the Infra-WG's VM zones as the nameserver role's zone list, each VM's names, and the
records psf.infra.dns_zone keeps per zone (decommissioned VMs left alone, stale ones pruned, bad
addresses refused naming the VM). Reverse names are checked against dnspython's own
``dns.reversename``, an implementation independent of netaddr's; the zone list and the inventory
variable against the real lab inventory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dns.name
import dns.reversename
import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.psf.infra.plugins.filter import vm_dns  # noqa: E402
from ansible_collections.psf.infra.plugins.filter.nameserver import nameserver_zone_list  # noqa: E402


def tenant(name: str, *vms: dict, status: str = "active") -> dict:
    return {"name": name, "status": status, "services": {"vms": list(vms), "zones": []}}


def registry(*records: dict) -> dict:
    return {record["name"]: record for record in records}


NETWORKS = ["192.0.2.0/24", "2001:db8:80::/64"]


@pytest.mark.parametrize(("network", "zones"), [
    ("192.0.2.0/24", ["2.0.192.in-addr.arpa"]),
    ("10.1.0.0/16", ["1.10.in-addr.arpa"]),
    ("10.0.0.0/8", ["10.in-addr.arpa"]),
    ("10.0.4.0/22", ["4.0.10.in-addr.arpa", "5.0.10.in-addr.arpa", "6.0.10.in-addr.arpa", "7.0.10.in-addr.arpa"]),
    ("172.16.0.0/15", ["16.172.in-addr.arpa", "17.172.in-addr.arpa"]),
    ("2001:db8:80::/64", ["0.0.0.0.0.8.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
    ("2001:db8::/48", ["0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
    ("2001:db8:0:4::/62", [f"{n}.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" for n in (4, 5, 6, 7)]),
    ("fc00::/7", ["c.f.ip6.arpa", "d.f.ip6.arpa"]),
    ("10.0.0.0/9", [f"{n}.10.in-addr.arpa" for n in range(128)]),
])
def test_reverse_zones_are_cut_on_octet_and_nibble_boundaries(network: str, zones: list[str]) -> None:
    assert vm_dns.reverse_zones([network]) == sorted(zones)


def test_reverse_zones_hold_their_network_and_nothing_else() -> None:
    """Every address of the network is inside one of its zones, an address outside in none
    (dnspython's reverse names, not netaddr's)."""
    zones = [dns.name.from_text(zone) for zone in vm_dns.reverse_zones(["10.0.4.0/22", "2001:db8:0:4::/62"])]

    def inside(address: str) -> bool:
        return any(dns.reversename.from_address(address).is_subdomain(zone) for zone in zones)

    for address in ("10.0.4.0", "10.0.5.17", "10.0.7.255", "2001:db8:0:4::1", "2001:db8:0:7:ffff::9"):
        assert inside(address), address
    for address in ("10.0.3.255", "10.0.8.0", "2001:db8:0:3::1", "2001:db8:0:8::1"):
        assert not inside(address), address


def test_reverse_zones_are_sorted_without_duplicates() -> None:
    assert vm_dns.reverse_zones(["192.0.2.0/24", "192.0.2.0/24", "10.0.0.0/24"]) == [
        "0.0.10.in-addr.arpa", "2.0.192.in-addr.arpa"]
    assert vm_dns.reverse_zones([]) == []


@pytest.mark.parametrize(("networks", "message"), [
    (["192.0.2.0/25"], r"psf_dns_vm_networks\[0\]: 192.0.2.0/25 is longer than /24: .* RFC 2317"),
    (["192.0.2.1/24"], "has host bits set; the network is 192.0.2.0/24"),
    (["192.0.2.0"], "has no prefix length"),
    (["not-a-network/24"], "is not a network"),
    (["192.0.2.0/24", "fd00::/7"], r"psf_dns_vm_networks\[1\]: 'fd00::/7' has host bits set"),
    (["0.0.0.0/0"], "is the whole address space"),
    (["2001:db8::1/128"], "longer than /124"),
    ("192.0.2.0/24", "expected a list of networks"),
])
def test_bad_networks_are_refused_naming_the_field(networks, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        vm_dns.reverse_zones(networks)


def test_the_vm_zones_are_the_nameserver_roles_zone_list() -> None:
    zones = vm_dns.vm_dns_zones("VMs.Infra.Test.", ["192.0.2.0/24"])
    assert [(zone["name"], zone["kind"], zone["dnssec"]) for zone in zones] == [
        ("vms.infra.test", "forward", True), ("2.0.192.in-addr.arpa", "reverse", True)]
    # The role's own helper accepts them beside the tenant zones, and a tenant claiming one is refused.
    served = nameserver_zone_list([{"name": "packaging.test", "tenant": "packaging"}, *zones])
    assert [zone["name"] for zone in served] == ["2.0.192.in-addr.arpa", "packaging.test", "vms.infra.test"]
    with pytest.raises(AnsibleFilterError, match="also declared by tenant 'packaging'"):
        nameserver_zone_list([{"name": "vms.infra.test", "tenant": "packaging"}, *zones])
    # No VM domain (an inventory without the registry): the reverse zones alone; nothing at all.
    assert [zone["name"] for zone in vm_dns.vm_dns_zones("", ["192.0.2.0/24"])] == ["2.0.192.in-addr.arpa"]
    assert vm_dns.vm_dns_zones(None, None) == []


def test_each_vm_gets_its_forward_name_and_the_ptr_of_its_address() -> None:
    tenants = registry(tenant("packaging", {"name": "web1", "address": "192.0.2.82"},
                              {"name": "db1", "address": "2001:DB8:80:0::81"}, {"name": "build"}))
    names = {vm["host"]: vm for vm in vm_dns.vm_dns_names(tenants, "vms.infra.test", NETWORKS)}
    web = names["web1.packaging"]
    assert web["fqdn"] == "web1.packaging.vms.infra.test"
    assert web["forward"] == {"zone": "vms.infra.test", "name": "web1.packaging", "type": "A"}
    assert web["reverse"] == {"zone": "2.0.192.in-addr.arpa", "name": "82", "value": "web1.packaging.vms.infra.test."}
    db = names["db1.packaging"]
    assert db["address"] == "2001:db8:80::81" and db["forward"]["type"] == "AAAA"
    ptr = dns.name.from_text(f"{db['reverse']['name']}.{db['reverse']['zone']}")
    assert ptr == dns.reversename.from_address("2001:db8:80::81")
    assert names["build.packaging"]["forward"] is None and names["build.packaging"]["reverse"] is None
    assert vm_dns.vm_dns_unaddressed(tenants, "vms.infra.test", NETWORKS) == ["build.packaging"]


def test_records_per_zone_leave_decommissioned_vms_alone_and_prune_the_rest() -> None:
    tenants = registry(
        tenant("packaging", {"name": "web1", "address": "192.0.2.82"},
               {"name": "old1", "address": "192.0.2.90", "state": "decommissioned", "decommissioned_on": "2026-12-01"}),
        tenant("pyladies", {"name": "site1", "address": "2001:db8:80::20"}),
        # A retired tenant's VMs are no VMs any more: their names are neither kept nor ignored (pruned).
        tenant("sprints", {"name": "sprint1", "address": "192.0.2.99"}, status="retired"),
    )
    zones = {zone["zone"]: zone for zone in vm_dns.vm_dns_records(tenants, "vms.infra.test", NETWORKS, ttl=300)}
    assert list(zones) == ["vms.infra.test", "0.0.0.0.0.8.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "2.0.192.in-addr.arpa"]
    assert zones["vms.infra.test"]["records"] == [
        {"name": "site1.pyladies", "type": "AAAA", "ttl": 300, "values": ["2001:db8:80::20"]},
        {"name": "web1.packaging", "type": "A", "ttl": 300, "values": ["192.0.2.82"]},
    ]
    assert zones["vms.infra.test"]["ignore"] == ["old1.packaging"]
    assert zones["2.0.192.in-addr.arpa"]["records"] == [
        {"name": "82", "type": "PTR", "ttl": 300, "values": ["web1.packaging.vms.infra.test."]}]
    assert zones["2.0.192.in-addr.arpa"]["ignore"] == ["90"]
    assert zones["0.0.0.0.0.8.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]["records"][0]["values"] == \
        ["site1.pyladies.vms.infra.test."]
    everything = json.dumps(zones)
    assert "sprint1" not in everything and '"99"' not in everything


def test_an_address_given_again_to_an_active_vm_is_not_ignored() -> None:
    tenants = registry(tenant("packaging", {"name": "web2", "address": "192.0.2.90"},
                              {"name": "old1", "address": "192.0.2.90", "state": "decommissioned",
                               "decommissioned_on": "2026-12-01"}))
    reverse = vm_dns.vm_dns_records(tenants, "vms.infra.test", NETWORKS)[-1]
    assert reverse["records"] == [{"name": "90", "type": "PTR", "ttl": 3600,
                                   "values": ["web2.packaging.vms.infra.test."]}]
    assert reverse["ignore"] == []


def test_two_vms_with_one_address_are_refused_naming_both() -> None:
    tenants = registry(tenant("packaging", {"name": "web1", "address": "192.0.2.82"}),
                       tenant("pyladies", {"name": "site1", "address": "192.0.2.82"}))
    with pytest.raises(AnsibleFilterError, match=r"VM web1.packaging .* and VM site1.pyladies both declare "
                                                 r"the address 192.0.2.82|VM site1.pyladies .* and VM web1.packaging"):
        vm_dns.vm_dns_records(tenants, "vms.infra.test", NETWORKS)


def test_an_address_in_no_vm_network_is_refused_naming_the_vm() -> None:
    tenants = registry(tenant("packaging", {"name": "web1", "address": "203.0.113.5"}))
    with pytest.raises(AnsibleFilterError, match=r"VM web1.packaging \(tenant packaging\): its address 203.0.113.5 "
                                                 r".* is in none of the VM networks \(psf_dns_vm_networks: "
                                                 r"192.0.2.0/24, 2001:db8:80::/64\)"):
        vm_dns.vm_dns_records(tenants, "vms.infra.test", NETWORKS)
    # decommission.yml: not strict, the VM keeps its forward name and has no PTR.
    (entry,) = vm_dns.vm_dns_names(tenants, "vms.infra.test", NETWORKS, strict=False)
    assert entry["forward"]["type"] == "A" and entry["reverse"] is None
    with pytest.raises(AnsibleFilterError, match="vm_domain is empty"):
        vm_dns.vm_dns_names(tenants, "", NETWORKS)


def test_the_lab_inventory_gives_the_vm_domain_and_every_vm_its_records() -> None:
    """The real inventory plugin on inventories/lab: psf_vm_domain on group all, and the lab's VMs in
    the lab's VM network."""
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", "inventories/lab",
                             "--host", "localhost"], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    variables = json.loads(result.stdout)
    assert variables["psf_vm_domain"] == "vms.infra.test"
    networks = ["127.0.0.0/24"]
    zones = {zone["zone"]: zone for zone in vm_dns.vm_dns_records(variables["psf_tenants"], variables["psf_vm_domain"],
                                                                   networks)}
    forward = {record["name"]: record["values"] for record in zones["vms.infra.test"]["records"]}
    assert forward["web1.packaging"] == ["127.0.0.10"]
    assert forward["site1.pyladies-berlin"] == ["127.0.0.20"]
    reverse = {record["name"]: record["values"] for record in zones["0.0.127.in-addr.arpa"]["records"]}
    assert reverse["10"] == ["web1.packaging.vms.infra.test."]
