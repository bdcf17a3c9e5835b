"""The lab's site on libvirt guests (lab/psf_lab/guests.py, `make demo VM_PROVIDER=libvirt`): the
inventory it writes from inventories/lab, loaded by the real plugin with the real group_vars, and
planned by playbooks/hypervisor.yml's filter; the address rule and its refusals. The guests
themselves boot in tests/integration/test_vm_guest_lab.py (the same host variables)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from inventory_output import plain

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / "lab", REPO / "collections"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ansible_collections.psf.infra.plugins.filter import hypervisor  # noqa: E402
from psf_lab import guests  # noqa: E402
from psf_lab.config import LabError, LabPaths  # noqa: E402

STATE = {"uri": "qemu:///system?socket=/lab/libvirt/sock/libvirt-sock", "pool": "psf-lab", "network": "psf-lab",
         "pool_dir": "/lab/libvirt/pool", "namespace": "psflab", "subnet": "192.0.2.0/24", "gateway": "192.0.2.1",
         "proxy_command": "ip netns exec psflab /usr/bin/python3 /repo/lab/psf_lab/relay.py %h %p"}
IMAGE = "psf-debian-12-0123456789abcdef.qcow2"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    paths = LabPaths(tmp_path_factory.mktemp("lab"))
    written = guests.write_inventory(paths, STATE, IMAGE)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PSF_INFRA_REGISTRY_CACHE="false")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", written["inventory"],
                             "--list"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"paths": paths, "written": written, "inventory": plain(json.loads(result.stdout))}


def test_the_tenant_vms_are_guests_on_the_guests_subnet(site):
    written, inventory = site["written"], site["inventory"]
    hostvars = inventory["_meta"]["hostvars"]
    assert written["guests"] == [
        {"host": "web1.packaging", "address": "192.0.2.10", "scrape": "127.0.2.10"},
        {"host": "site1.pyladies-berlin", "address": "192.0.2.20", "scrape": "127.0.2.20"},
    ]
    for guest in written["guests"]:
        host = hostvars[guest["host"]]
        assert host["psf_vm"]["address"] == guest["address"]
        # reached over SSH through the lab's relay, not through podman
        assert (host["ansible_host"], host["ansible_connection"], host["ansible_user"]) == \
            (guest["address"], "ssh", "root")
        assert host["ansible_ssh_private_key_file"] == written["staff_key"]
        assert "ProxyCommand=ip netns exec psflab" in host["ansible_ssh_common_args"]
        assert (host["backup_client_server_address"], host["backup_client_server_port"]) == ("192.0.2.1", 2222)
        assert (host["psf_monitoring_address"], host["monitoring_agent_port"]) == (guest["scrape"], 19100)
        assert host["monitoring_agent_allowed_sources"] == ["192.0.2.1/32"]
        assert host["decommission_hypervisor"] == "libvirt"
        assert host["psf_certificate_store"] == "{{ psf_lab_dir }}/certificates"
        assert host["base_apt_update_cache"] is False
        assert host["psf_dns_vm_networks"] == ["192.0.2.0/24"]
    # lab-vms.yml makes the backup and monitoring machines only
    assert set(inventory["lab_vm_hosts"]["children"]) == {"backup_servers", "monitoring_servers"}
    assert set(inventory["tenant_vms"]["hosts"]) == {"web1.packaging", "site1.pyladies-berlin"}
    # the lab's own files are untouched
    lab_tenant = yaml.safe_load((REPO / "inventories" / "lab" / "tenants" / "packaging.yml").read_text())
    assert lab_tenant["services"]["vms"][0]["address"] == "127.0.0.10"


def test_the_status_page_reads_the_guests_backups_and_apps_from_prometheus(site):
    """The guests are no podman machines the page could look into: like production, it asks Prometheus."""
    from psf_infra_runner.inventory import Inventory
    from psf_infra_runner.status import asks_monitoring

    assert asks_monitoring("auto", Inventory(site["inventory"]))


def test_hypervisor_yml_plans_both_guests_with_their_addresses(site):
    hostvars = site["inventory"]["_meta"]["hostvars"]
    plan = hypervisor.hypervisor_vms(hostvars, list(site["inventory"]["tenant_vms"]["hosts"]),
                                     hostvars["web1.packaging"]["psf_hypervisor"])
    by_host = {item["host"]: item["args"] for item in plan}
    web1 = by_host["web1.packaging"]
    assert (web1["name"], web1["uri"], web1["pool"], web1["base_image"], web1["domain_type"]) == \
        ("web1-packaging", STATE["uri"], "psf-lab", IMAGE, "qemu")
    assert (web1["vcpus"], web1["memory_mib"]) == (2, 4096)  # the lab's presets, production's
    assert web1["ssh_authorized_key"] == Path(site["written"]["staff_key"]).with_suffix(".pub").read_text().strip()
    ethernet = by_host["site1.pyladies-berlin"]["network_config"]["ethernets"]["primary"]
    assert ethernet["addresses"] == ["192.0.2.20/24"]
    assert ethernet["routes"] == [{"to": "0.0.0.0/0", "via": "192.0.2.1"}]


def test_a_second_write_keeps_the_staff_key(site, tmp_path):
    key = Path(site["written"]["staff_key"])
    before = key.with_suffix(".pub").read_text()
    guests.write_inventory(site["paths"], STATE, IMAGE)
    assert key.with_suffix(".pub").read_text() == before


def test_addresses_move_to_the_guests_subnet_by_their_last_octet():
    assert guests.guest_address("web1.packaging", "127.0.0.10") == "192.0.2.10"
    assert guests.guest_address("web1.packaging", "10.89.250.42") == "192.0.2.42"
    assert guests.scrape_address("192.0.2.42") == "127.0.2.42"
    with pytest.raises(LabError, match=r"VM web1.packaging: psf_vm.address 127.0.0.1 .*the gateway's"):
        guests.guest_address("web1.packaging", "127.0.0.1")
    with pytest.raises(LabError, match=r"VM web1.packaging: psf_vm.address 'web' \(from its tenant file\) is not"):
        guests.guest_address("web1.packaging", "web")
    with pytest.raises(LabError, match=r"VM web1.packaging: psf_vm.address ::1 \(from its tenant file\) is not an"):
        guests.guest_address("web1.packaging", "::1")


def test_a_vm_without_an_address_is_refused_naming_tenant_file_and_field(tmp_path):
    source = tmp_path / "lab"
    shutil.copytree(REPO / "inventories" / "lab", source)
    tenant_file = source / "tenants" / "pyladies-berlin.yml"
    document = yaml.safe_load(tenant_file.read_text())
    del document["services"]["vms"][0]["address"]
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(LabError, match=r"tenant pyladies-berlin, file pyladies-berlin.yml: VM site1 declares no "
                                       r"address \(services.vms\[\].address\)"):
        guests.write_inventory(LabPaths(tmp_path / "state"), STATE, IMAGE, source=source)


@pytest.mark.skipif(shutil.which("ip") is None or os.geteuid() != 0, reason="needs iproute2's ip, as root")
def test_a_forwarder_that_cannot_start_is_reported_with_its_exit_and_its_words(tmp_path):
    paths = LabPaths(tmp_path / "state")
    with pytest.raises(LabError) as raised:
        guests._forwarder(paths, "forward-t-backup", ["ip", "netns", "exec", "psf-no-such-namespace"],
                          "192.0.2.1", 2223, ["true"])
    message = str(raised.value)
    assert "forwarder forward-t-backup (192.0.2.1:2223) did not start (exit status 255)" in message
    assert "psf-no-such-namespace" in message.split("\n", 1)[1]  # ip's own words, from its log
    assert not paths.pid_file("forward-t-backup").exists()


def test_a_forwarder_that_does_not_listen_in_time_is_stopped_and_reported_with_where_it_waits(tmp_path, monkeypatch):
    slow = tmp_path / "forward.py"  # a forwarder that never gets to listen
    slow.write_text("import time\ntime.sleep(300)\n")
    monkeypatch.setattr(guests, "FORWARD", slow)
    monkeypatch.setattr(guests, "FORWARD_START_TIMEOUT", 1.0)
    paths = LabPaths(tmp_path / "state")
    with pytest.raises(LabError, match=r"forwarder forward-t-ssh \(127.0.2.9:22\) did not print that it listens "
                                       r"within 1 s \(still running python[0-9.]*, state S, waiting in "):
        guests._forwarder(paths, "forward-t-ssh", ["env"], "127.0.2.9", 22, ["true"])
    assert not paths.pid_file("forward-t-ssh").exists()
    running = subprocess.run(["pgrep", "-f", str(slow)], capture_output=True, text=True, check=False)
    assert running.stdout == "", "the forwarder that did not start is still running"
