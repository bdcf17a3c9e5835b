"""playbooks/hypervisor.yml against the lab's real libvirtd (lab/psf_lab/libvirt.py): the tenant VMs
of a copy of the production inventory (three VMs of two tenants, their addresses in declared subnets)
become libvirt domains through psf.infra.vm, run by the real ansible-playbook: check mode plans and
makes nothing, the real run defines and starts them with the preset's size and a seed carrying the
host name and the static address, a second run changes nothing, a VM deleted from its tenant file is
reported as an orphan and kept, a decommissioned VM is neither made again nor an orphan, and a VM
whose address is in no declared subnet stops the play before anything is made. The guests boot no
OS (a blank base image): the standard image is issue #11 section 2.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory, status_page

libvirt = pytest.importorskip("libvirt")
pycdlib = pytest.importorskip("pycdlib")

from libvirt_support import BLANK_BASE as BASE  # noqa: E402
from libvirt_support import lab_libvirtd, remove_machine  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aW5nLXN0YWZmLWF1dG9tYXRpb24ta2V5 staff-automation"
MACHINES = {"docs1.packaging": "docs1-packaging", "build1.packaging": "build1-packaging",
            "www1.pyladies": "www1-pyladies"}


@pytest.fixture(scope="module")
def hypervisor() -> Iterator[dict[str, Any]]:
    with lab_libvirtd(blank_base=True) as state:
        yield state


@pytest.fixture
def inventory(tmp_path: Path, hypervisor: dict[str, Any]) -> Path:
    """A copy of inventories/production with tiny presets and psf_hypervisor on the lab's libvirtd (in
    zz-lab-hypervisor.yml: the files of group_vars/all load in name order, this one after main.yml)."""
    target = copy_inventory(REPO / "inventories" / "production", tmp_path / "production")
    tenants = target / "tenants.yml"
    config = yaml.safe_load(tenants.read_text())
    config["size_presets"] = {size: {"vcpus": 1, "memory_mib": 256, "disk_gib": 1}
                              for size in config["size_presets"]}
    config["size_presets"]["large"]["memory_mib"] = 320
    tenants.write_text(yaml.safe_dump(config, sort_keys=False))
    (target / "group_vars" / "all" / "zz-lab-hypervisor.yml").write_text(yaml.safe_dump({"psf_hypervisor": {
        "provider": "libvirt", "uri": hypervisor["uri"], "pool": hypervisor["pool"],
        "network": hypervisor["network"], "base_image": BASE, "domain_type": "qemu",
        "ssh_authorized_key": KEY, "shutdown_timeout": 0,
        # its guests boot no OS (a blank base image): nothing to wait for after starting them
        "boot_timeout": 0,
        "subnets": [{"prefix": "192.0.2.0/24", "gateway": "192.0.2.1"},
                    {"prefix": "198.51.100.0/24", "gateway": "198.51.100.1"},
                    {"prefix": "2001:db8:80::/64", "gateway": "2001:db8:80::1"}],
        "nameservers": ["192.0.2.54"], "search": ["vms.infra.psf.io"],
    },
        # the status page asks the name servers: a loopback port nothing listens on, never production's
        "psf_dns_primary": {"name": "ns1", "address": "127.0.0.1", "port": 9}, "psf_dns_secondaries": [],
        "psf_metrics_textfile_dir": str(tmp_path / "metrics")}))
    # the status page asks Prometheus on the monitoring server over Ansible's connection: here a
    # loopback port nothing listens on, never production's address
    (target / "host_vars").mkdir(exist_ok=True)
    (target / "host_vars" / "monitor1.infra.psf.io.yml").write_text(yaml.safe_dump(
        {"ansible_host": "127.0.0.1", "ansible_port": 9}))
    return target


def edit_services(inventory: Path, tenant: str, change) -> None:
    path = inventory / "tenants" / f"{tenant}.yml"
    document = yaml.safe_load(path.read_text())
    change(document["services"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def play(inventory: Path, *args: str) -> dict[str, Any]:
    """hypervisor.yml through the JSON callback: the tasks' results by name, the recap, the return code."""
    env = {**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_JSON_INDENT": "0",
           "PSF_INFRA_REGISTRY_CACHE": "false"}
    completed = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                                str(REPO / "playbooks" / "hypervisor.yml"), *args],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    try:
        output = json.loads(completed.stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(f"no JSON:\n{completed.stdout}\n{completed.stderr}") from err
    tasks = {task["task"]["name"]: task["hosts"]["localhost"]
             for play_ in output["plays"] for task in play_["tasks"] if "localhost" in task["hosts"]}
    return {"rc": completed.returncode, "tasks": tasks, "stats": output["stats"]["localhost"],
            "text": completed.stdout + completed.stderr}


def messages(result: dict[str, Any], task: str) -> list[str]:
    return [" ".join(item["msg"].split()) for item in result["tasks"].get(task, {}).get("results", [])
            if not item.get("skipped")]


def vm_checks(inventory: Path, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """The status page's vm checks (``psf-infra status`` on the inventory): host -> (health, reason)."""
    page = status_page(inventory, tmp_path / "status")
    checks = [check for tenant in page["tenants"] for check in tenant["checks"]]
    # backups and apps come from Prometheus on the monitoring server, which cannot be asked here
    for check in checks:
        if check["kind"] in ("backup", "app"):
            assert check["health"] == "unknown", check
            assert check["reason"].startswith("Prometheus on the monitoring server could not be asked "
                                              "(playbooks/status-facts.yml, exit 4: "), check
            assert "127.0.0.1 port 9" in check["reason"], check
    return {check["name"]: (check["health"], check["reason"]) for check in checks if check["kind"] == "vm"}


def seed_file(pool_dir: str, machine: str, name: str) -> str:
    iso = pycdlib.PyCdlib()
    iso.open(str(Path(pool_dir) / f"{machine}-seed.iso"))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
        return out.getvalue().decode()
    finally:
        iso.close()


def clean(conn, pool) -> None:
    for machine in MACHINES.values():
        remove_machine(conn, pool, machine)


def test_the_tenant_vms_become_domains_and_leave_only_through_decommissioning(inventory, hypervisor):
    conn = libvirt.open(hypervisor["uri"])
    pool = conn.storagePoolLookupByName(hypervisor["pool"])
    clean(conn, pool)
    try:
        planned = play(inventory, "--check", "--diff")
        assert planned["rc"] == 0, planned["text"][-3000:]
        made = planned["tasks"]["Each tenant VM exists and runs (psf.infra.vm, provider libvirt)"]["results"]
        assert sorted(item["item"]["args"]["name"] for item in made) == sorted(MACHINES.values())
        assert all(item["changed"] for item in made)
        assert not set(MACHINES.values()) & {domain.name() for domain in conn.listAllDomains()}

        first = play(inventory)
        assert first["rc"] == 0, first["text"][-3000:]
        assert first["stats"]["changed"] >= 1
        for host, machine in MACHINES.items():
            domain = conn.lookupByName(machine)
            assert domain.isActive(), machine
            assert f"<psf:tenant>{host.split('.')[1]}</psf:tenant>" in domain.XMLDesc(0)
        assert conn.lookupByName("build1-packaging").maxMemory() == 320 * 1024
        assert conn.lookupByName("www1-pyladies").maxMemory() == 256 * 1024
        user_data = seed_file(hypervisor["pool_dir"], "www1-pyladies", "user-data")
        assert "www1.pyladies.vms.infra.psf.io" in user_data and KEY in user_data
        network = yaml.safe_load(seed_file(hypervisor["pool_dir"], "www1-pyladies", "network-config"))
        primary = network["ethernets"]["primary"]
        assert primary["addresses"] == ["198.51.100.20/24"]
        assert primary["routes"] == [{"to": "0.0.0.0/0", "via": "198.51.100.1"}]
        assert primary["nameservers"] == {"addresses": ["192.0.2.54"], "search": ["vms.infra.psf.io"]}
        docs_network = yaml.safe_load(seed_file(hypervisor["pool_dir"], "docs1-packaging", "network-config"))
        assert docs_network["ethernets"]["primary"]["addresses"] == ["2001:db8:80::81/64"]
        identity = {machine: (conn.lookupByName(machine).UUIDString(), conn.lookupByName(machine).XMLDesc(0)
                              .split("<mac address='")[1][:17]) for machine in MACHINES.values()}

        # the status page reads the VMs' states from the same hypervisor
        assert vm_checks(inventory, inventory.parent) == {
            "docs1.packaging": ("green", "running"), "build1.packaging": ("green", "running"),
            "www1.pyladies": ("green", "running")}

        second = play(inventory)
        assert second["rc"] == 0 and second["stats"]["changed"] == 0, second["text"][-3000:]
        assert messages(second, "Report domains whose VM is no longer in the registry (orphans, kept)") == []

        # www1 deleted from its tenant file: reported as an orphan, kept running with its disk
        edit_services(inventory, "pyladies", lambda services: [services[key].clear() for key in ("vms", "apps")])
        orphaned = play(inventory)
        assert orphaned["rc"] == 0 and orphaned["stats"]["changed"] == 0, orphaned["text"][-3000:]
        reports = messages(orphaned, "Report domains whose VM is no longer in the registry (orphans, kept)")
        assert [r for r in reports if "www1-pyladies" in r] == [
            f"ORPHAN: domain www1-pyladies (tenant pyladies, running, UUID {identity['www1-pyladies'][0]}) on "
            f"{hypervisor['uri']} is a VM no tenant file names any more; it is kept with its disk, not removed. "
            "Put the VM back in its tenant file (then declare it decommissioned and run playbooks/decommission.yml), "
            "or remove the domain by hand once its data is safe."]
        assert conn.lookupByName("www1-pyladies").isActive()
        assert "www1-pyladies.qcow2" in pool.listVolumes()

        # build1 declared decommissioned and powered off: neither started again nor an orphan (its
        # domain is decommission.yml's to destroy)
        conn.lookupByName("build1-packaging").destroy()
        edit_services(inventory, "packaging", lambda services: [
            vm.update(state="decommissioned", decommissioned_on="2026-12-01")
            for vm in services["vms"] if vm["name"] == "build1"])
        decommissioned = play(inventory)
        assert decommissioned["rc"] == 0 and decommissioned["stats"]["changed"] == 0, decommissioned["text"][-3000:]
        assert not conn.lookupByName("build1-packaging").isActive()
        reports = messages(decommissioned, "Report domains whose VM is no longer in the registry (orphans, kept)")
        assert not [r for r in reports if "docs1-packaging" in r or "build1-packaging" in r], reports

        assert vm_checks(inventory, inventory.parent)["build1.packaging"] == (
            "amber", "decommissioned on 2026-12-01; the machine is still there (stopped): "
                     "playbooks/decommission.yml takes its last backup and removes it")

        # decommission.yml finds that domain where psf_hypervisor says (its plan, in check mode)
        plan = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "--check",
                               str(REPO / "playbooks" / "decommission.yml"), "-e", "vm=build1.packaging",
                               "-e", "confirm=build1.packaging"], cwd=REPO, capture_output=True, text=True,
                              timeout=300, check=False, env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"})
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-2000:]
        assert (f"6. destroy the VM: psf.infra.vm state absent, domain build1-packaging on {hypervisor['uri']} "
                f"(the domain and its volumes in pool {hypervisor['pool']}; the base image stays)"
                ) in " ".join(plan.stdout.split()), plan.stdout[-3000:]

        # the identity of the VMs that stayed is what the first run gave them
        docs1 = conn.lookupByName("docs1-packaging")
        assert (docs1.UUIDString(), docs1.XMLDesc(0).split("<mac address='")[1][:17]) == identity["docs1-packaging"]

        # a VM whose address is in no declared subnet: the play stops before anything is made
        edit_services(inventory, "pyladies", lambda services: services["vms"].append(
            {"name": "www2", "size": "small", "address": "203.0.113.9", "backup": {"paths": ["/etc"]}}))
        refused = play(inventory)
        assert refused["rc"] != 0
        text = " ".join(refused["text"].split())
        assert ("VM www2.pyladies (tenant pyladies): its address 203.0.113.9 (psf_vm.address, from its tenant file) "
                "is in none of psf_hypervisor.subnets (192.0.2.0/24, 198.51.100.0/24, 2001:db8:80::/64)") in text
        assert "www2-pyladies" not in {d.name() for d in conn.listAllDomains()}
        assert refused["stats"]["changed"] == 0
    finally:
        clean(conn, pool)
        conn.close()
