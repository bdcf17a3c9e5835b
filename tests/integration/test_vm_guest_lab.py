"""A tenant VM on the lab's libvirtd served like every VM, then decommissioned (issue #11 section 5):
the standard image boots under TCG, cloud-init runs, Ansible logs in over SSH and converges base,
tenant_access, backup_client and monitoring_agent; the tenant member's key logs in as root; the
guest's first archive is on its backup server, its monitoring server's Prometheus scrapes its node
exporter, it is in DNS forward and reverse on both lab name servers; then decommission.yml takes
its final backup, verifies it with the restore check, takes it out of monitoring and DNS, records
the retention and destroys the domain and its volumes on libvirtd.

A site of its own in a temporary copy of inventories/lab (the lab's files are never edited): one
throwaway tenant, the only one, with one VM at 192.0.2.83 on the lab's libvirt network; its own
backup and monitoring servers (podman machines of lab-vms.yml under their own label and network,
psf.infra.lab=guest on psf-lab-guests); its own VM zones on the lab's name servers (guests.test and
2.0.192.in-addr.arpa, added with labctl as the DNS tests add theirs). So nothing it converges is
converged by another test at the same time: it runs beside the serial lab worker, on the libvirt
worker with the other libvirtd tests (tests/conftest.py).

The guest's network namespace (psflab) has no route to the podman machines; three forwarders of
the lab (lab/psf_lab/guests.py's forwarders_up, as for the demo's guests) join them, nothing else:
the guest's borg reaches the backup machine's sshd at its gateway's port 2223 (2222 is the demo's),
and in the monitoring machine Prometheus scrapes the guest at 127.0.0.83:19100 of its own namespace
(the guest's exporter listens on 19100, its monitoring_agent_port) and the blackbox exporter reads
the guest's SSH banner at 127.0.0.83:22 (docs/vms.md, "Guests and the lab's machines"). Durations
are printed (`pytest -s`), never asserted."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_cli import REPO, copy_inventory, status_page

sys.path[:0] = [str(REPO / "lab"), str(REPO / "collections")]

libvirt = pytest.importorskip("libvirt")

import labctl  # noqa: E402
from libvirt_support import lab_libvirtd, new_key, remove_machine, ssh_root  # noqa: E402
from psf_lab import guests, vm_image  # noqa: E402
from psf_lab.config import LabPaths  # noqa: E402
from test_offboard_lab import (  # noqa: E402
    active_targets,
    borg_archives,
    out,
    prometheus_api,
    recap,
    retention_record,
)
from test_offboard_lab import playbook as offboard_playbook  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(3600)]

ADDRESS = "192.0.2.83"
NETWORK = "192.0.2.0/24"
#: Where the monitoring machine's forwarder listens (in its own namespace) for the guest's exporter;
#: not 9100, where the monitoring machine's own exporter listens on every address.
SCRAPE_ADDRESS = "127.0.0.83"
EXPORTER_PORT = guests.EXPORTER_PORT
#: Its own port at the guests' gateway, not the one of the lab's guest site (make demo
#: VM_PROVIDER=libvirt, psf_lab/guests.py): the two sites' forwarders never share a listener.
BACKUP_PORT = guests.BACKUP_PORT + 1
#: The guest site's VM domain and reverse zone: its own, on the lab's ns1/ns2 (labctl.add_zone), so that
#: no other test's vm-dns.yml prunes them. Outside infra.test: nothing delegates it (vm-dns.yml writes
#: no NS/DS in a zone of the lab's); the test asks ns1 and ns2 directly.
VM_DOMAIN = "guests.test"
REVERSE_ZONE = "2.0.192.in-addr.arpa"
#: The guest site's backup and monitoring servers: inventory host -> its lab machine (container).
BACKUP_HOST, BACKUP = "guest-backup", "psf-guest-backup"
MONITOR_HOST, MONITOR = "guest-monitor", "psf-guest-monitor"
#: hypervisor.yml's wait for the guest (psf_hypervisor.boot_timeout): under TCG, SSH was up 79 s after
#: the guest started; in CI another worker may boot a guest too.
BOOT_TIMEOUT = 900
#: What converges a tenant VM: base and tenant_access, backup_client, monitoring_agent.
CONVERGE = ("vms.yml", "backups.yml", "monitoring.yml")
#: The forwarders' site name (lab/psf_lab/guests.py): service names forward-guest-test-*.
FORWARDERS = "guest-test"


@dataclass
class Guest:
    tenant: str
    inventory: Path
    tenant_file: Path
    hypervisor: dict[str, Any]
    staff_key: Path
    member_key: Path
    member_public: str
    staff_public: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"vm1.{self.tenant}"

    @property
    def machine(self) -> str:
        return f"vm1-{self.tenant}"

    @property
    def fqdn(self) -> str:
        return f"vm1.{self.tenant}.{VM_DOMAIN}."


def playbook(inventory: Path, name: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The offboarding test's runner, with more time: under TCG each task in the guest is slow."""
    return offboard_playbook(inventory, name, *args, timeout=1800)


def target_health(host: str, job: str) -> str | None:
    """The health of the guest site's Prometheus's active ``job`` target for ``host`` (its instance
    label), if it has one. The node and SSH banner targets share the instance label: the job tells them
    apart. A blackbox target's health is the exporter's answer, not the probe's (probe_success)."""
    return next((target["health"] for target in active_targets(MONITOR)
                 if target["labels"].get("instance") == host and target["labels"].get("job") == job), None)


def prometheus_value(expr: str) -> float | None:
    """The value of a PromQL expression with one series or none, asked of the guest site's Prometheus."""
    series = prometheus_api(MONITOR, "query", query=expr)["result"]
    assert len(series) <= 1, series
    return float(series[0]["value"][1]) if series else None


def wait_until(probe: Callable[[], Any], wanted: Any, timeout: float = 120) -> Any:
    """What ``probe`` returns once it is ``wanted``, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value != wanted and time.monotonic() < deadline:
        time.sleep(2)
        value = probe()
    return value


def answers(lab, name: str, rdtype: str) -> dict[str, tuple[str, list[str]]]:
    """Each lab name server's authoritative answer: RCODE and values."""
    import dns.rcode

    found = {}
    for server in ("ns1", "ns2"):
        response = labctl.dns_query(lab.port(server), name, rdtype)
        found[server] = (dns.rcode.to_text(response.rcode()),
                         sorted(rdata.to_text() for rrset in response.answer for rdata in rrset))
    return found


def guest_inventory(tmp_path: Path, hypervisor: dict[str, Any], tenant: str, staff_public: str,
                    member_public: str, staff_key: Path) -> tuple[Path, Path]:
    inventory = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    # Its own backup and monitoring servers: lab-vms.yml makes (or starts) these two machines only
    # (the guest is libvirt's), under their own label and network, beside the lab's.
    machines = yaml.safe_load((inventory / "machines.yml").read_text())
    groups = machines["all"]["children"]
    groups["lab_vm_hosts"] = {"children": {"backup_servers": {}, "monitoring_servers": {}}}
    for group, (old, new, container) in {"backup_servers": ("lab-backup", BACKUP_HOST, BACKUP),
                                         "monitoring_servers": ("lab-monitor", MONITOR_HOST, MONITOR)}.items():
        groups[group]["hosts"] = {new: {**groups[group]["hosts"][old], "ansible_host": container}}
    machines["all"]["vars"].update(psf_lab_vm_label="guest", psf_lab_vm_network="psf-lab-guests",
                                   psf_lab_vm_subnet="10.89.251.0/24")
    (inventory / "machines.yml").write_text(yaml.safe_dump(machines, sort_keys=False))
    # The guest's tenant is the registry's only one (its VM zones hold its VM's records only), and
    # its VM domain is the site's own. A size TCG boots in a reasonable time on a 2-core machine
    # (the lab's presets are production's).
    for other in (inventory / "tenants").glob("*.yml"):
        other.unlink()
    registry = yaml.safe_load((inventory / "tenants.yml").read_text())
    registry["vm_domain"] = VM_DOMAIN
    registry["quotas"].pop("tenants", None)
    registry["size_presets"]["small"] = {"vcpus": 2, "memory_mib": 768, "disk_gib": 4}
    (inventory / "tenants.yml").write_text(yaml.safe_dump(registry, sort_keys=False))
    document = {
        "name": tenant, "display_name": "Libvirt guest test", "kind": "working-group",
        "approval": {"body": "psf-membership", "date": "2026-12-01"}, "status": "active",
        "members": [{"name": "Liaison One", "email": f"one@{tenant}.test", "ssh_keys": [member_public]}],
        "services": {"vms": [{"name": "vm1", "size": "small", "address": ADDRESS, "backup": {"paths": ["/etc"]}}]},
    }
    tenant_file = inventory / "tenants" / f"{tenant}.yml"
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    (inventory / "group_vars" / "all" / "vm_dns.yml").write_text(yaml.safe_dump({"psf_dns_vm_networks": [NETWORK]}))
    (inventory / "group_vars" / "all" / "zz-lab-hypervisor.yml").write_text(yaml.safe_dump({"psf_hypervisor": {
        "provider": "libvirt", "uri": hypervisor["uri"], "pool": hypervisor["pool"],
        "network": hypervisor["network"], "base_image": hypervisor["base_image"], "domain_type": "qemu",
        "ssh_authorized_key": staff_public, "shutdown_timeout": 0, "boot_timeout": BOOT_TIMEOUT,
        "subnets": [{"prefix": hypervisor["subnet"], "gateway": hypervisor["gateway"]}],
        "nameservers": [hypervisor["gateway"]], "search": [VM_DOMAIN]}}))
    (inventory / "host_vars").mkdir(exist_ok=True)
    # over SSH as root with the staff automation key through the lab's relay, its backup and monitoring
    # servers through the forwarders (the lab's own rule for its libvirt guests, psf_lab/guests.py)
    (inventory / "host_vars" / f"vm1.{tenant}.yml").write_text(yaml.safe_dump(guests.guest_host_vars(
        hypervisor, ADDRESS, staff_key, guests.production_root_extra_keys(), scrape=SCRAPE_ADDRESS,
        backup_port=BACKUP_PORT)))
    # the second pass over the guest: the three playbooks in one run
    (tmp_path / "again.yml").write_text(yaml.safe_dump(
        [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / name)} for name in CONVERGE]))
    return inventory, tenant_file


def drop_zones() -> None:
    """The guest site's VM zones off ns1/ns2 and the lab root (gone already: nothing to do). Returns
    once ns2 has dropped them too, so that zones added next start from nothing on both servers. Seen
    once, after an interrupted run and a lab restart: ns2 still served the old 2.0.192.in-addr.arpa
    (serial 6) over ns1's new one (serial 4), and vm-dns.yml's wait for equal serials failed."""
    for zone in (VM_DOMAIN, REVERSE_ZONE):
        labctl.remove_zone(zone)
    labctl.undelegate_reverse_zones([REVERSE_ZONE])  # vm-dns.yml delegates it in the lab root
    labctl.sync_resolver()
    ns2 = labctl.SERVICES["ns2"].port
    labctl._wait_until(lambda: all(labctl.soa_serial(ns2, zone) is None for zone in (VM_DOMAIN, REVERSE_ZONE)),
                       60, "ns2 to drop the guest site's VM zones")


@pytest.fixture(scope="module")
def guest(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    tmp_path = tmp_path_factory.mktemp("guest")
    tenant = f"gst{secrets.token_hex(3)}"
    image = vm_image.build()
    print(f"standard image: build or cache check {image['seconds']} s")
    staff_key, member_key = tmp_path / "staff", tmp_path / "member"
    staff_public, member_public = new_key(staff_key, "psf-infra-automation"), new_key(member_key, "liaison")
    with lab_libvirtd() as state:
        volume = vm_image.put_in_pool(image, state["pool_dir"])
        conn = libvirt.open(state["uri"])
        pool = conn.storagePoolLookupByName(state["pool"])
        pool.refresh(0)
        hypervisor = {**state, "base_image": volume}
        inventory, tenant_file = guest_inventory(tmp_path, hypervisor, tenant, staff_public, member_public, staff_key)
        found = Guest(tenant, inventory, tenant_file, hypervisor, staff_key, member_key, member_public, staff_public)
        try:
            drop_zones()  # an interrupted run's
            started = time.monotonic()
            for zone in (VM_DOMAIN, REVERSE_ZONE):
                labctl.add_zone(zone)
            labctl.sync_resolver()
            found.timings["zones"] = time.monotonic() - started
            result, found.timings["lab-vms"] = playbook(inventory, "lab-vms.yml")
            assert result.returncode == 0, out(result)
            # the three forwarders (the backup machine's sshd; the guest's exporter and sshd for the
            # monitoring machine), as lab processes of this site's own (the demo's are "demo")
            guests.forwarders_up(LabPaths(), state, FORWARDERS, [
                {"host": f"vm1.{tenant}", "address": ADDRESS, "scrape": SCRAPE_ADDRESS}],
                backup_machine=BACKUP, monitor_machine=MONITOR, backup_port=BACKUP_PORT)
            yield found
        finally:
            guests.forwarders_down(LabPaths(), FORWARDERS)
            remove_machine(conn, pool, found.machine)
            conn.close()
            print("timings (s):", {step: round(value, 1) for step, value in found.timings.items()})
            # the site's own zones and servers (their label and network); nothing of the lab's was touched
            drop_zones()
            result, _ = playbook(inventory, "lab-vms.yml", "-e", "lab_vms_state=absent")
            assert result.returncode == 0, out(result)


def status_checks(inventory: Path, tmp_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """``psf-infra status`` on the guest site: (kind, name) -> (health, reason) of each check."""
    page = status_page(inventory, tmp_path / "status")
    return {(check["kind"], check["name"]): (check["health"], check["reason"])
            for tenant in page["tenants"] for check in tenant["checks"]}


def test_a_libvirt_guest_is_served_like_every_vm(guest: Guest, lab, tmp_path: Path) -> None:
    """Booted, converged (twice: the second run changes nothing), backed up, monitored, in DNS; its
    tenant member is root on it."""
    scope = ("-e", f"psf_tenant_scope={guest.tenant}")
    # hypervisor.yml makes and starts the guest, then waits for it to boot, let Ansible in and finish
    # cloud-init (its second play, on the VMs the run started: the guest's only two tasks there)
    result, guest.timings["hypervisor + boot"] = playbook(guest.inventory, "hypervisor.yml", *scope)
    assert result.returncode == 0, out(result)
    booted = recap(result.stdout)[guest.host]
    assert (booted["ok"], booted["failed"], booted["unreachable"]) == (2, 0, 0), out(result)
    # the guest with the servers it registers with (the backup server's key, Prometheus's targets):
    # the site's own, converged here for the first time
    converge = (("vms.yml", scope), ("backups.yml", ("--limit", f"{BACKUP_HOST},{guest.host}")),
                ("monitoring.yml", ("--limit", f"{MONITOR_HOST},{guest.host}")))
    for name, args in converge:
        result, guest.timings[name] = playbook(guest.inventory, name, *args)
        assert result.returncode == 0, out(result)
        assert recap(result.stdout)[guest.host]["changed"] > 0, (name, out(result))
    result, guest.timings["vm-dns.yml"] = playbook(guest.inventory, "vm-dns.yml")
    assert result.returncode == 0, out(result)
    # a second pass over the guest changes nothing (and still logs in: root's keys were rewritten)
    result, guest.timings["again"] = playbook(guest.inventory, str(guest.inventory.parent / "again.yml"),
                                              "--limit", guest.host, *scope)
    assert result.returncode == 0, out(result)
    assert recap(result.stdout)[guest.host]["changed"] == 0, out(result)

    # the tenant member is root; root's keys are the member's and the automation key
    member = ssh_root(guest.hypervisor, guest.member_key, ADDRESS,
                      "id -u; hostname -f; grep -c '^ssh-' /root/.ssh/authorized_keys")
    assert member.returncode == 0, member.stderr
    assert member.stdout.split() == ["0", guest.fqdn.rstrip("."), "2"], member.stdout
    keys = ssh_root(guest.hypervisor, guest.staff_key, ADDRESS, "cat /root/.ssh/authorized_keys").stdout
    assert guest.member_public in keys and guest.staff_public in keys, keys
    # base's baseline is in force: sshd refuses passwords, and a key of nobody's is refused
    baseline = ssh_root(guest.hypervisor, guest.staff_key, ADDRESS, "sshd -T | grep -i '^passwordauthentication'")
    assert baseline.returncode == 0 and baseline.stdout.split() == ["passwordauthentication", "no"], baseline.stdout
    # base's firewall drops what it does not open: SSH, and the exporter for the scraper's address only
    ruleset = ssh_root(guest.hypervisor, guest.staff_key, ADDRESS, "nft list chain inet psf_filter input")
    assert ruleset.returncode == 0, ruleset.stderr
    rules = " ".join(ruleset.stdout.split())
    assert "policy drop;" in rules and "tcp dport 22 accept" in rules, rules
    assert f"ip saddr {guest.hypervisor['gateway']} tcp dport {EXPORTER_PORT} accept" in rules, rules
    stranger = guest.staff_key.with_name("stranger")
    new_key(stranger, "stranger")
    assert ssh_root(guest.hypervisor, stranger, ADDRESS, "true").returncode == 255
    # the first backup, taken by backup_client through the forwarder, is on its backup server
    assert len(borg_archives(guest.host, BACKUP)) == 1, borg_archives(guest.host, BACKUP)
    timer = ssh_root(guest.hypervisor, guest.staff_key, ADDRESS, "systemctl is-enabled psf-backup.timer")
    assert timer.stdout.strip() == "enabled", timer.stdout + timer.stderr
    # Prometheus scrapes its node exporter, and the blackbox exporter reads its sshd's banner
    assert wait_until(lambda: target_health(guest.host, "node"), "up") == "up"
    ssh_probe = f'probe_success{{job="blackbox_ssh",instance="{guest.host}"}}'
    assert wait_until(lambda: prometheus_value(ssh_probe), 1.0) == 1.0
    # the status page, as for the libvirt demo: the guest's domain runs, and its backup is the one
    # Prometheus holds (psf-infra status asks it by itself: the guest is no podman machine to look into)
    checks = status_checks(guest.inventory, tmp_path)
    assert checks[("vm", guest.host)] == ("green", "running"), checks
    health, reason = checks[("backup", guest.host)]
    assert (health, reason.startswith("last success ")) == ("green", True), checks
    # forward and reverse on both name servers
    ptr = ".".join(reversed(ADDRESS.split("."))) + ".in-addr.arpa."
    assert answers(lab, guest.fqdn, "A") == {server: ("NOERROR", [ADDRESS]) for server in ("ns1", "ns2")}
    assert answers(lab, ptr, "PTR") == {server: ("NOERROR", [guest.fqdn]) for server in ("ns1", "ns2")}


def test_decommission_takes_the_final_backup_and_destroys_the_domain(guest: Guest, lab) -> None:
    """decommission.yml on the libvirt guest: every step for real, the domain and its volumes gone
    from libvirtd, the base image kept."""
    assert len(borg_archives(guest.host, BACKUP)) == 1, "the first test did not leave a served guest"
    document = yaml.safe_load(guest.tenant_file.read_text())
    document["services"]["vms"][0].update(state="decommissioned",
                                          decommissioned_on=time.strftime("%Y-%m-%d", time.gmtime()))
    guest.tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    confirm = ("-e", f"vm={guest.host}", "-e", f"confirm={guest.host}")

    result, guest.timings["decommission check"] = playbook(guest.inventory, "decommission.yml", *confirm, "--check")
    assert result.returncode == 0, out(result)
    text = " ".join(result.stdout.split())
    assert "6. destroy" in text and guest.machine in text and guest.hypervisor["uri"] in text, text[-3000:]
    assert len(borg_archives(guest.host, BACKUP)) == 1

    result, guest.timings["decommission"] = playbook(guest.inventory, "decommission.yml", *confirm)
    assert result.returncode == 0, out(result)
    archives = borg_archives(guest.host, BACKUP)
    assert len(archives) == 2, archives
    record = retention_record(guest.host, BACKUP)
    assert record is not None and record["final_archive"] == archives[-1], record
    for job in ("node", "blackbox_ssh"):
        assert wait_until(lambda job=job: target_health(guest.host, job), None) is None, job
    ptr = ".".join(reversed(ADDRESS.split("."))) + ".in-addr.arpa."
    assert {answer[0] for answer in answers(lab, guest.fqdn, "A").values()} == {"NXDOMAIN"}
    assert {answer[0] for answer in answers(lab, ptr, "PTR").values()} == {"NXDOMAIN"}
    conn = libvirt.open(guest.hypervisor["uri"])
    try:
        assert guest.machine not in conn.listDefinedDomains() + [d.name() for d in conn.listAllDomains()]
        pool = conn.storagePoolLookupByName(guest.hypervisor["pool"])
        pool.refresh(0)
        volumes = pool.listVolumes()
        assert not [volume for volume in volumes if volume.startswith(guest.machine)], volumes
        assert guest.hypervisor["base_image"] in volumes
    finally:
        conn.close()

    result, guest.timings["decommission again"] = playbook(guest.inventory, "decommission.yml", *confirm)
    assert result.returncode == 0, out(result)
    assert archives[-1] in " ".join(result.stdout.split())
    assert recap(result.stdout).get("localhost", {}).get("changed", 0) == 0, out(result)
