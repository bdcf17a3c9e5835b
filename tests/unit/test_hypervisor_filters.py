"""The filters of playbooks/hypervisor.yml (plugins/filter/hypervisor.py): the tenant VMs as
psf.infra.vm arguments, their cloud-init network configuration, the hypervisor's fields checked
before anything is asked of it, and the orphans among the domains vm_info lists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.psf.infra.plugins.filter import hypervisor  # noqa: E402

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aW5nLXN0YWZmLWF1dG9tYXRpb24ta2V5 staff"
HYPERVISOR = {"provider": "libvirt", "uri": "qemu+ssh://root@hv1.example/system", "pool": "psf-vms",
              "network": "psf-vms", "base_image": "debian-12.qcow2", "ssh_authorized_key": KEY,
              "subnets": [{"prefix": "192.0.2.0/24", "gateway": "192.0.2.1"},
                          {"prefix": "2001:db8:80::/64", "gateway": "2001:db8:80::1"}],
              "nameservers": ["192.0.2.54"]}


def host(name: str, *, address: str | None = None, size: tuple[int, int, int] = (1, 2048, 25)) -> dict:
    vm, tenant = name.split(".")
    psf_vm = {"name": vm, "fqdn": f"{name}.vms.example", "vcpus": size[0], "memory_mib": size[1], "disk_gib": size[2]}
    if address:
        psf_vm["address"] = address
    return {"psf_vm": psf_vm, "psf_tenant_name": tenant}


HOSTVARS = {"www1.pyladies": host("www1.pyladies", address="192.0.2.20"),
            "docs1.packaging": host("docs1.packaging", address="2001:db8:80::81", size=(2, 4096, 50)),
            "build1.packaging": host("build1.packaging")}


def test_each_vm_becomes_one_task_with_its_preset_name_and_seed_network():
    plan = hypervisor.hypervisor_vms(HOSTVARS, list(HOSTVARS), HYPERVISOR)

    assert [item["host"] for item in plan] == ["build1.packaging", "docs1.packaging", "www1.pyladies"]
    by_host = {item["host"]: item["args"] for item in plan}
    docs1 = by_host["docs1.packaging"]
    assert docs1 | {"network_config": None} == {
        "provider": "libvirt", "uri": HYPERVISOR["uri"], "name": "docs1-packaging",
        "hostname": "docs1.packaging.vms.example", "tenant": "packaging", "vcpus": 2, "memory_mib": 4096,
        "disk_gib": 50, "base_image": "debian-12.qcow2", "pool": "psf-vms", "network": "psf-vms",
        "domain_type": "kvm", "ssh_authorized_key": KEY, "restart": False, "shutdown_timeout": 120,
        "network_config": None}
    assert docs1["network_config"] == {"version": 2, "ethernets": {"primary": {
        "match": {"name": "en*"}, "addresses": ["2001:db8:80::81/64"],
        "routes": [{"to": "::/0", "via": "2001:db8:80::1"}],
        "nameservers": {"addresses": ["192.0.2.54"], "search": []}, "dhcp6": False, "accept-ra": False}}}
    www1 = by_host["www1.pyladies"]["network_config"]["ethernets"]["primary"]
    assert www1["addresses"] == ["192.0.2.20/24"] and www1["routes"] == [{"to": "0.0.0.0/0", "via": "192.0.2.1"}]
    assert www1["dhcp4"] is False
    assert "network_config" not in by_host["build1.packaging"]  # no address declared: DHCP


@pytest.mark.parametrize(("change", "message"), [
    ({"provider": "podman"}, "psf_hypervisor: provider must be libvirt (is 'podman'); the lab's machines are podman "
                             "containers made by playbooks/lab-vms.yml"),
    ({"uri": ""}, "psf_hypervisor: field uri is required (a non-empty string)"),
    ({"ssh_authorized_key": None}, "psf_hypervisor: field ssh_authorized_key is required (a non-empty string)"),
    ({"bridge": "br0"}, "psf_hypervisor: unknown field(s) bridge; known: base_image, boot_timeout, domain_type"),
    ({"boot_timeout": "10m"}, "psf_hypervisor: field boot_timeout must be a whole number of seconds, 0 or more "
                              "(is '10m')"),
    ({"shutdown_timeout": -1}, "psf_hypervisor: field shutdown_timeout must be a whole number of seconds, 0 or more"),
    ({"subnets": [{"prefix": "192.0.2.0/24", "gateway": "198.51.100.1"}]},
     "psf_hypervisor: subnets[0]: gateway 198.51.100.1 is not in 192.0.2.0/24"),
    ({"subnets": [{"prefix": "192.0.2.1/24"}]}, "psf_hypervisor: subnets[0]: 192.0.2.1/24 has host bits set"),
    ({"subnets": [{"prefix": "192.0.2.0/24", "via": "x"}]},
     "psf_hypervisor: subnets[0] must be a mapping of prefix and gateway"),
    ({"subnets": [{"prefix": "2001:db8:80::/64"}]},
     "VM www1.pyladies (tenant pyladies): its address 192.0.2.20 (psf_vm.address, from its tenant file) is in none "
     "of psf_hypervisor.subnets (2001:db8:80::/64): declare the subnet with its gateway, or remove the address (DHCP)"),
])
def test_bad_hypervisor_or_address_is_named_before_any_vm(change, message):
    with pytest.raises(AnsibleFilterError) as raised:
        hypervisor.hypervisor_vms(HOSTVARS, list(HOSTVARS), {**HYPERVISOR, **change})
    assert message in str(raised.value)


def test_not_a_mapping_and_not_a_vm_are_refused():
    with pytest.raises(AnsibleFilterError, match="expected a mapping"):
        hypervisor.hypervisor_vms(HOSTVARS, list(HOSTVARS), "qemu:///system")
    with pytest.raises(AnsibleFilterError, match="host localhost is not a tenant VM"):
        hypervisor.hypervisor_vms({"localhost": {}}, ["localhost"], HYPERVISOR)


def test_orphans_are_tenant_domains_no_host_names():
    vms = [{"name": "www1-pyladies", "tenant": "pyladies", "state": "running", "uuid": "u1"},
           {"name": "old9-packaging", "tenant": "packaging", "state": "stopped", "uuid": "u2"},
           {"name": "gone-pyladies", "tenant": "pyladies", "state": "running", "uuid": "u3"},
           {"name": "staff-vm", "tenant": None, "state": "running", "uuid": "u4"}]
    hosts = ["www1.pyladies", "docs1.packaging"]

    assert [o["name"] for o in hypervisor.hypervisor_orphans(vms, hosts)] == ["old9-packaging", "gone-pyladies"]
    assert hypervisor.hypervisor_orphans(vms, hosts, "pyladies") == [
        {"name": "gone-pyladies", "tenant": "pyladies", "state": "running", "uuid": "u3"}]
    assert hypervisor.hypervisor_orphans(vms, [*hosts, "old9.packaging", "gone.pyladies"]) == []
    with pytest.raises(AnsibleFilterError, match="expected vm_info's vms"):
        hypervisor.hypervisor_orphans({"vms": vms}, hosts)


def test_machine_name():
    assert hypervisor.machine_name("docs1.packaging") == "docs1-packaging"
    with pytest.raises(AnsibleFilterError):
        hypervisor.machine_name("")


def test_started_are_the_vms_this_run_started():
    def result(host, *actions, **extra):
        return {"item": {"host": host}, "changed": bool(actions),
                "actions": [{"action": action, "detail": f"{action} {host}"} for action in actions], **extra}

    results = [
        result("new.packaging", "create_volumes", "define", "start"),  # made and started
        result("again.packaging", "start"),                            # was stopped
        result("bigger.packaging", "define", "restart"),               # restarted for its new size
        result("grown.packaging", "grow_disk"),                        # changed, still running
        result("same.packaging"),                                      # nothing to do
        result("off.packaging", "stop"),
        {"item": {"host": "skipped.packaging"}, "skipped": True, "changed": False},
        result("broken.packaging", "define", "start", failed=True),
    ]
    started = hypervisor.hypervisor_started(results)
    assert [entry["item"]["host"] for entry in started] == ["new.packaging", "again.packaging", "bigger.packaging"]
    assert hypervisor.hypervisor_started([]) == []
    with pytest.raises(AnsibleFilterError, match="expected a loop's results"):
        hypervisor.hypervisor_started({"results": []})
