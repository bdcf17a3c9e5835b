"""The standard VM image (lab/build-vm-image.sh, docs/vms.md "The standard image") boots a TCG guest on
the lab's real libvirtd: the image is built (or found cached, its recipe unchanged), put into the
lab's pool as the base image volume, and psf.infra.vm, run by the real ansible-playbook, makes a
guest on it with a cloud-init seed carrying a host name, the staff key and the static network
configuration playbooks/hypervisor.yml writes. Then, through the QEMU guest agent in the guest
(libvirt_qemu.qemuAgentCommand, guest-exec): the kernel booted from the image's boot partition,
cloud-init ran to its end with that seed (host name, the key in root's authorized_keys, the
address), sshd runs, python3 and the roles' packages are there, and the root file system grew to
the VM's disk. The guest is removed at the end; the base image volume stays for the next run.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_cli import BIN, ansible_env, copy_inventory
from dns_support import run_playbook, task_results

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "collections")]

libvirt = pytest.importorskip("libvirt")
libvirt_qemu = pytest.importorskip("libvirt_qemu")

from ansible_collections.psf.infra.plugins.filter.hypervisor import network_config  # noqa: E402
from libvirt_support import lab_libvirtd, new_key, remove_machine, ssh_options, ssh_root  # noqa: E402
from psf_lab import vm_image  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aW5nLXN0YWZmLWF1dG9tYXRpb24ta2V5 staff-automation"
#: Under TCG on the 2-core machine: cloud-init was done 85 to 128 s after the playbook started (docs/vms.md).
BOOT_TIMEOUT = 420
ADDRESS = "192.0.2.10"


@pytest.fixture(scope="module")
def standard_image() -> dict[str, Any]:
    """The image, built here when its recipe changed (a cold build takes minutes, docs/vms.md)."""
    image = vm_image.build()
    print(f"standard image {image['path']} (recipe {image['recipe']}): build or cache check {image['seconds']} s")
    return image


@pytest.fixture(scope="module")
def hypervisor(standard_image: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The lab's libvirtd (libvirt_support.py) with the image as a volume of its pool."""
    with lab_libvirtd() as state:
        volume = vm_image.put_in_pool(standard_image, state["pool_dir"])
        conn = libvirt.open(state["uri"])
        conn.storagePoolLookupByName(state["pool"]).refresh(0)
        conn.close()
        yield {**state, "base_image": volume}


def test_the_image_is_rebuilt_only_when_its_recipe_changes(tmp_path, standard_image):
    image = Path(standard_image["path"])
    before = image.stat().st_mtime_ns
    again = vm_image.build()
    assert again["recipe"] == standard_image["recipe"] and again["seconds"] < 10
    assert image.stat().st_mtime_ns == before  # the cached image, not a new one
    # the recipe is the script (with the file it sources) and its package list: the same files give
    # the same recipe, another package another one (asked of copies, so the cached image is left alone)
    copy = tmp_path / "lab"
    copy.mkdir()
    for name in ("build-vm-image.sh", "debian-rootfs.sh", "vm-image-packages.txt"):
        shutil.copy(vm_image.SCRIPT.parent / name, copy / name)

    def recipe() -> str:
        return subprocess.run(["bash", str(copy / "build-vm-image.sh"), "--recipe"], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert recipe() == standard_image["recipe"]
    with (copy / "vm-image-packages.txt").open("a") as packages:
        packages.write("htop\n")
    assert recipe() != standard_image["recipe"]


def agent(domain: Any, command: str, arguments: dict[str, Any] | None = None, timeout: int = 10) -> Any:
    request = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(libvirt_qemu.qemuAgentCommand(domain, json.dumps(request), timeout, 0))["return"]


def guest_run(domain: Any, script: str, timeout: float = 120) -> tuple[int, str]:
    """A shell command in the guest (guest-exec); its exit status and its output (stdout + stderr)."""
    pid = agent(domain, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script], "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        status = agent(domain, "guest-exec-status", {"pid": pid})
        if status["exited"]:
            output = b"".join(base64.b64decode(status.get(key, "")) for key in ("out-data", "err-data"))
            return status.get("exitcode", -1), output.decode(errors="replace")
        if time.monotonic() > deadline:
            raise AssertionError(f"{script!r} still runs in the guest after {timeout} s")
        time.sleep(0.5)


def wait_for_agent(domain: Any, timeout: float) -> None:
    started = time.monotonic()
    while True:
        try:
            agent(domain, "guest-ping", timeout=5)
            return
        except libvirt.libvirtError as err:
            if time.monotonic() - started > timeout:
                raise AssertionError(f"the guest agent did not answer within {timeout} s: {err}") from None
            assert domain.isActive(), "the guest stopped while booting"
            time.sleep(2)


def test_the_standard_image_boots_and_cloud_init_runs_with_the_seed(tmp_path, hypervisor, standard_image):
    name = f"img-{uuid.uuid4().hex[:6]}"
    fqdn = f"{name}.packaging.vms.infra.test"
    subnet = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_address("192.0.2.1"))
    network = network_config(f"{name}.packaging", {"address": ADDRESS}, {"nameservers": ["192.0.2.54"]}, [subnet])
    task = {"psf.infra.vm": {"name": name, "uri": hypervisor["uri"], "pool": hypervisor["pool"],
                             "network": hypervisor["network"], "base_image": hypervisor["base_image"],
                             "tenant": "packaging", "hostname": fqdn, "vcpus": 2, "memory_mib": 768,
                             "disk_gib": 4, "ssh_authorized_key": KEY, "network_config": network,
                             "shutdown_timeout": 0}}
    conn = libvirt.open(hypervisor["uri"])
    pool = conn.storagePoolLookupByName(hypervisor["pool"])
    try:
        started = time.monotonic()
        created = task_results(run_playbook(tmp_path, [task]))[0]
        assert created["changed"] is True and created["vm"]["state"] == "running", created
        domain = conn.lookupByName(name)
        wait_for_agent(domain, BOOT_TIMEOUT)
        agent_after = time.monotonic() - started
        code, status = guest_run(domain, "cloud-init status --wait --long", timeout=BOOT_TIMEOUT)
        cloud_init_done = time.monotonic() - started
        print(f"TCG boot of the standard image: guest agent after {agent_after:.0f} s, cloud-init done after "
              f"{cloud_init_done:.0f} s (from the playbook's start)")
        assert code == 0 and "status: done" in status, status
        code, errors = guest_run(domain, "cat /run/cloud-init/result.json")
        assert code == 0 and json.loads(errors)["v1"]["errors"] == [], errors

        # the kernel booted from the image's boot partition (syslinux), root by UUID
        code, cmdline = guest_run(domain, "cat /proc/cmdline; uname -r; findmnt -no SOURCE,FSTYPE /boot/firmware")
        assert code == 0 and "root=UUID=" in cmdline and "console=ttyS0" in cmdline, cmdline
        assert "cloud-amd64" in cmdline and "vfat" in cmdline, cmdline
        # the image's kernel hook copies the running kernel's files to the boot partition (as it does
        # at every kernel update in the guest): they are the files syslinux loaded
        code, hook = guest_run(domain, "/etc/kernel/postinst.d/zz-psf-boot-firmware $(uname -r) && "
                                       "cmp /boot/vmlinuz-$(uname -r) /boot/firmware/vmlinuz && "
                                       "cmp /boot/initrd.img-$(uname -r) /boot/firmware/initrd.img && echo same")
        assert code == 0 and hook.strip() == "same", hook
        # cloud-init's data source is the seed psf.infra.vm wrote: its instance ID is the domain's UUID
        code, instance = guest_run(domain, "cloud-init query instance_id; cloud-init query platform")
        assert code == 0 and instance.split() == [domain.UUIDString(), "nocloud"], instance
        # the host name and the FQDN from the seed
        code, hostname = guest_run(domain, "hostname; hostname -f")
        assert code == 0 and hostname.split() == [name, fqdn], hostname
        # the staff automation key reached root (disable_root: false)
        code, keys = guest_run(domain, "cat /root/.ssh/authorized_keys")
        assert code == 0 and KEY in keys, keys
        # the static address of the network configuration (netplan, systemd-networkd)
        code, addresses = guest_run(domain, "ip -4 -o address show scope global")
        assert code == 0 and f"{ADDRESS}/24" in addresses, addresses
        # sshd runs with host keys made at this first boot; python3 with apt's binding for Ansible
        code, ssh = guest_run(domain, "systemctl is-active ssh.service && ls /etc/ssh/ssh_host_ed25519_key.pub "
                                      "&& sshd -t && echo sshd-ok")
        assert code == 0 and "sshd-ok" in ssh, ssh
        code, python = guest_run(domain, "python3 -c 'import apt, sys; print(sys.version_info[:2])'")
        assert code == 0 and python.strip() == "(3, 11)", python
        # the packages the roles install are there already
        code, packages = guest_run(domain, "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' openssh-server "
                                           "nftables chrony unattended-upgrades sudo borgbackup "
                                           "prometheus-node-exporter")
        assert code == 0 and packages.count(" installed") == 7, packages
        # growpart: the root file system fills the VM's 4 GiB disk, not the image's 2 GiB
        code, size = guest_run(domain, "df --output=size -B1M / | tail -n 1")
        assert code == 0 and int(size) > 3500, size
        # libvirt sees the address through the same agent (psf.infra.vm_info)
        info = task_results(run_playbook(tmp_path, [{"psf.infra.vm_info": {"uri": hypervisor["uri"],
                                                                           "name": name}}]))[0]
        assert info["vms"][0]["addresses"] == [ADDRESS], info["vms"]

        removed = task_results(run_playbook(tmp_path, [{"psf.infra.vm": {**task["psf.infra.vm"],
                                                                          "state": "absent"}}]))[0]
        assert removed["changed"] is True
        pool.refresh(0)
        assert hypervisor["base_image"] in pool.listVolumes()
    finally:
        remove_machine(conn, pool, name)
        conn.close()


def takeover_inventory(tmp_path: Path, hypervisor: dict[str, Any], staff_key: str, member_key: str,
                       private_key: Path) -> Path:
    """A copy of inventories/production with one tenant VM (packaging's build1, 192.0.2.82 in the
    production subnet 192.0.2.0/24, whose gateway the lab's guests' namespace holds), psf_hypervisor on
    the lab's libvirtd with the standard image, the packaging liaison's key replaced by ``member_key``
    and Ansible's SSH through the lab's relay. Nothing of production is a target: every other VM is
    left out and the plays are limited to build1."""
    target = copy_inventory(REPO / "inventories" / "production", tmp_path / "production")
    tenants = target / "tenants.yml"
    config = yaml.safe_load(tenants.read_text())
    config["size_presets"]["large"] = {"vcpus": 2, "memory_mib": 768, "disk_gib": 4}
    tenants.write_text(yaml.safe_dump(config, sort_keys=False))
    for path in (target / "tenants").glob("*.yml"):
        document = yaml.safe_load(path.read_text())
        services = document.get("services") or {}
        services["vms"] = [vm for vm in services.get("vms") or [] if vm["name"] == TAKEOVER_VM
                           and document["name"] == "packaging"]
        kept = {vm["name"] for vm in services["vms"]}
        if "apps" in services:  # an app names the VM it runs on
            services["apps"] = [app for app in services["apps"] if app.get("vm") in kept]
        if document["name"] == "packaging":
            document["members"][0]["ssh_keys"] = [member_key]
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    (target / "group_vars" / "all" / "zz-lab-hypervisor.yml").write_text(yaml.safe_dump({"psf_hypervisor": {
        "provider": "libvirt", "uri": hypervisor["uri"], "pool": hypervisor["pool"],
        "network": hypervisor["network"], "base_image": hypervisor["base_image"], "domain_type": "qemu",
        "ssh_authorized_key": staff_key, "shutdown_timeout": 0,
        "subnets": [{"prefix": hypervisor["subnet"], "gateway": hypervisor["gateway"]}],
        "nameservers": [hypervisor["gateway"]], "search": ["vms.infra.psf.io"]}}))
    (target / "host_vars").mkdir(exist_ok=True)
    (target / "host_vars" / "build1.packaging.yml").write_text(yaml.safe_dump({
        "ansible_user": "root", "ansible_ssh_private_key_file": str(private_key),
        "ansible_ssh_common_args": " ".join(shlex.quote(option)
                                            for option in ssh_options(hypervisor, private_key)[:-2]),
        # the guest has no route to a Debian mirror: the image carries the roles' packages
        "base_apt_update_cache": False}))
    return target


TAKEOVER_VM = "build1"
TAKEOVER_ADDRESS = "192.0.2.82"


def playbook(inventory: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / name),
                           *args], cwd=REPO, env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"},
                          capture_output=True, text=True, timeout=1800, check=False)


def recap(completed: subprocess.CompletedProcess, host: str) -> dict[str, int]:
    line = next(line for line in completed.stdout.splitlines() if line.startswith(host) and "ok=" in line)
    return {key: int(value) for key, value in (field.split("=") for field in line.split(":", 1)[1].split())}


def test_ansible_takes_over_a_booted_guest_and_its_tenant_gets_root(tmp_path, hypervisor):
    """Issue #11 section 5: hypervisor.yml makes the VM of a production-shaped inventory on the lab's
    libvirtd from the standard image; once cloud-init has put the staff automation key in, Ansible logs
    in over SSH and vms.yml converges base and tenant_access on it; a second run changes nothing and
    still logs in (tenant_access keeps the automation key, inventories/production); the tenant
    member's key logs in as root and the automation key is the only other one; the guest leaves
    through psf.infra.vm."""
    staff_private, member_private = tmp_path / "staff", tmp_path / "member"
    staff_key, member_key = new_key(staff_private, "psf-infra-automation"), new_key(member_private, "liaison")
    inventory = takeover_inventory(tmp_path, hypervisor, staff_key, member_key, staff_private)
    machine = f"{TAKEOVER_VM}-packaging"
    conn = libvirt.open(hypervisor["uri"])
    pool = conn.storagePoolLookupByName(hypervisor["pool"])
    remove_machine(conn, pool, machine)
    try:
        started = time.monotonic()
        made = playbook(inventory, "hypervisor.yml")
        assert made.returncode == 0, made.stdout + made.stderr
        assert conn.lookupByName(machine).isActive()
        # the staff key logs in once cloud-init has run (Ansible's wait_for_connection, as an operator would)
        waited = subprocess.run([str(BIN / "ansible"), "-i", str(inventory), "build1.packaging", "-m",
                                 "ansible.builtin.wait_for_connection", "-a", f"timeout={BOOT_TIMEOUT}"],
                                cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=BOOT_TIMEOUT + 60,
                                check=False)
        assert waited.returncode == 0, waited.stdout + waited.stderr
        booted = time.monotonic() - started
        first = playbook(inventory, "vms.yml", "--limit", "build1.packaging")
        converged = time.monotonic() - started - booted
        assert first.returncode == 0, first.stdout + first.stderr
        assert recap(first, "build1.packaging")["changed"] > 0
        second = playbook(inventory, "vms.yml", "--limit", "build1.packaging")
        again = time.monotonic() - started - booted - converged
        assert second.returncode == 0, second.stdout + second.stderr
        assert recap(second, "build1.packaging")["changed"] == 0, second.stdout
        print(f"takeover under TCG: domain made and SSH up after {booted:.0f} s, base + tenant_access "
              f"converged in {converged:.0f} s, second run {again:.0f} s (changed=0)")
        # the tenant member is root on its VM; root's keys are the member's and the automation key
        member = ssh_root(hypervisor, member_private, TAKEOVER_ADDRESS, "id -u; hostname -f; "
                          "grep -c '^ssh-' /root/.ssh/authorized_keys")
        assert member.returncode == 0, member.stderr
        assert member.stdout.split() == ["0", "build1.packaging.vms.infra.psf.io", "2"], member.stdout
        keys = ssh_root(hypervisor, staff_private, TAKEOVER_ADDRESS, "cat /root/.ssh/authorized_keys").stdout
        assert member_key in keys and staff_key in keys, keys
        # base's baseline is in force on the guest: the firewall's ruleset and sshd's hardened settings
        baseline = ssh_root(hypervisor, staff_private, TAKEOVER_ADDRESS,
                            "nft list ruleset | grep -c 'tcp dport 22'; sshd -T | grep -i '^passwordauthentication'")
        assert baseline.returncode == 0 and "passwordauthentication no" in baseline.stdout, baseline.stdout
        # a key that is not the tenant's is refused
        stranger = tmp_path / "stranger"
        new_key(stranger, "stranger")
        assert ssh_root(hypervisor, stranger, TAKEOVER_ADDRESS, "true").returncode == 255
    finally:
        remove_machine(conn, pool, machine)
        conn.close()
