"""The lab's site on libvirt guests: `make demo VM_PROVIDER=libvirt` (docs/vms.md, "The lab's site on
libvirt guests"). The lab's tenant VMs become guests of the lab's libvirtd (TCG), made and booted
by playbooks/hypervisor.yml from the standard image, and reached over SSH; the backup and
monitoring servers stay the lab's podman machines (playbooks/lab-vms.yml). Everything else is the
lab's: the same tenants, zones, certificates, apps and name servers.

`write_inventory()` writes `.lab/guests/inventory`, a copy of inventories/lab (the lab's files are
never edited) where:
- lab_vm_hosts holds the backup and monitoring servers only (the tenant VMs are libvirt's);
- each tenant VM's declared address moves to the guests' subnet, keeping its last octet
  (127.0.0.10 -> 192.0.2.10: the lab's tenant files give loopback addresses, which no NIC can
  have), and the VM DNS networks (psf_dns_vm_networks) are that subnet;
- psf_hypervisor names the lab's libvirtd, its pool, network and standard image volume, and the
  staff automation key of `.lab/guests/staff` (made once);
- each guest's host variables (`guest_host_vars()`) say how Ansible reaches it (SSH as root through
  the lab's relay in the guests' namespace) and where its backup and monitoring servers are (the
  forwarders below).

`forwarders_up()` starts the forwarders (lab/psf_lab/forward.py) that join the guests' namespace and
the podman machines, one port each: the backup machine's sshd at the guests' gateway
(192.0.2.1:2222), and in the monitoring machine's namespace each guest's node exporter and sshd at
127.0.2.N (N: the guest's last octet) for Prometheus and the SSH banner probe. They run as lab
processes of a named site ("demo"; the end-to-end test has its own, with its own machines and
backup port): PIDs in `.lab/run/`, the site's list in `.lab/run/forwarders-<site>.json`, output in
`.lab/log/`, each in a session of its own, so stopping one ends its connections' relays too. The
machines must exist first (their namespaces are joined by PID): the Makefile runs lab-vms.yml
before. `labctl.py guests down` stops the demo's forwarders, removes its guests with
`remove_guests()` (domains and volumes; the standard image stays) and stops libvirtd."""

from __future__ import annotations

import ipaddress
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.psf.infra.plugins.filter.hypervisor import machine_name

from psf_lab import forward
from psf_lab.config import REPO_ROOT, LabError, LabPaths
from psf_lab.libvirt import SUBNET
from psf_lab.processes import describe_exit, pid_matches, recorded_pid, spawn, tail

#: Where the guests' borg reaches the backup machine's sshd (a forwarder in the guests' namespace).
BACKUP_PORT = 2222
#: Where each guest's node exporter listens (monitoring_agent_port), and where Prometheus scrapes it
#: in the monitoring machine's namespace: not 9100, the machine's own exporter's on every address.
EXPORTER_PORT = 19100
#: In the monitoring machine's namespace, guest 192.0.2.N is at 127.0.2.N (node exporter and sshd).
SCRAPE_NETWORK = "127.0.2.0/24"
RELAY = REPO_ROOT / "lab" / "psf_lab" / "relay.py"
FORWARD = Path(forward.__file__).resolve()
#: How long a forwarder has to print that it listens. It needs about 0.1 s of CPU, but it inherits its
#: starter's priority: in `make test` the guest test runs at nice 10 beside busy workers, and one CI
#: run saw a forwarder still starting after 10 s. A forwarder that dies is reported at once.
FORWARD_START_TIMEOUT = 120.0
#: The lab's backup and monitoring machines (inventories/lab/machines.yml).
BACKUP_MACHINE, MONITOR_MACHINE = "psf-lab-backup", "psf-lab-monitor"


def site_dir(paths: LabPaths) -> Path:
    return paths.root / "guests"


def inventory_dir(paths: LabPaths) -> Path:
    return site_dir(paths) / "inventory"


def staff_key(paths: LabPaths) -> Path:
    return site_dir(paths) / "staff"


def forwarders_file(paths: LabPaths, site: str) -> Path:
    return paths.run / f"forwarders-{site}.json"


def ssh_options(state: dict[str, Any], key: Path) -> list[str]:
    """How Ansible, the tests and staff reach a guest: as root with ``key``, through the lab's relay in
    the guests' namespace (the guests' host keys are new at every first boot: not remembered)."""
    return ["-o", f"ProxyCommand={state['proxy_command']}", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR", "-i", str(key)]


def guest_address(host: str, address: Any) -> str:
    """A lab tenant VM's address on the guests' subnet: the same last octet (127.0.0.10 -> 192.0.2.10)."""
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        raise LabError(f"VM {host}: psf_vm.address {address!r} (from its tenant file) is not an IPv4 address: "
                       f"the lab's libvirt guests take its last octet on {SUBNET}") from None
    network = ipaddress.ip_network(SUBNET)
    if ip.version != 4:
        raise LabError(f"VM {host}: psf_vm.address {address} (from its tenant file) is not an IPv4 address: "
                       f"the lab's libvirt guests take its last octet on {SUBNET}")
    last = int(ip) & 0xFF
    if last in (0, 1, 255):
        raise LabError(f"VM {host}: psf_vm.address {address} (from its tenant file): the lab's libvirt guests take "
                       f"its last octet on {SUBNET}, and {last} is the network's, the gateway's or the broadcast")
    return str(network.network_address + last)


def scrape_address(address: str) -> str:
    """Where the monitoring machine reaches guest ``address``: 192.0.2.N -> 127.0.2.N."""
    return str(ipaddress.ip_network(SCRAPE_NETWORK).network_address + (int(ipaddress.ip_address(address)) & 0xFF))


def guest_host_vars(state: dict[str, Any], address: str, key: Path, root_extra_keys: Any, *,
                    scrape: str, backup_port: int = BACKUP_PORT) -> dict[str, Any]:
    """A libvirt guest's host variables in the lab: Ansible over SSH as root with the staff key
    through the lab's relay, no mirror and no NTP pool (the guests' namespace reaches nothing), and
    its backup and monitoring servers through the forwarders (``scrape``: where Prometheus reaches it;
    ``backup_port``: where the backup machine's sshd is at the guests' gateway)."""
    return {
        "ansible_host": address, "ansible_connection": "ssh", "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": " ".join(shlex.quote(option) for option in ssh_options(state, key)[:-2]),
        # each module goes through the SSH session's input: under TCG every command in the guest is slow
        "ansible_pipelining": True,
        # tenant_access rewrites root's keys every run: the automation key stays by production's rule
        "tenant_access_root_extra_keys": root_extra_keys,
        # no Debian mirror and no NTP pool in the guests' namespace: the image carries the roles' packages
        "base_apt_update_cache": False, "base_time_pools": [],
        # the backup machine's sshd, through the forwarder at the guest's gateway
        "backup_client_server_address": state["gateway"], "backup_client_server_port": backup_port,
        # Prometheus scrapes through a forwarder in its own namespace; the exporter sees the gateway
        "psf_monitoring_address": scrape, "monitoring_agent_port": EXPORTER_PORT,
        "monitoring_agent_allowed_sources": [f"{state['gateway']}/32"],
        # decommission.yml's step 6: the libvirt domain on psf_hypervisor, not a lab podman machine
        "decommission_hypervisor": "libvirt",
    }


def production_root_extra_keys() -> Any:
    """What production gives every tenant VM for root's extra keys (the automation key's rule)."""
    tenant_vms = REPO_ROOT / "inventories" / "production" / "group_vars" / "tenant_vms.yml"
    return yaml.safe_load(tenant_vms.read_text())["tenant_access_root_extra_keys"]


def _ensure_staff_key(paths: LabPaths) -> str:
    key = staff_key(paths)
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "psf-infra-automation (lab guests)",
                        "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


def write_inventory(paths: LabPaths, state: dict[str, Any], base_image: str,
                    source: Path = REPO_ROOT / "inventories" / "lab") -> dict[str, Any]:
    """Write the guest site's inventory (a copy of ``source``, made again each time). Returns its
    path and each guest's host name, address and scrape address."""
    public = _ensure_staff_key(paths)
    target = inventory_dir(paths)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("host_vars"))
    machines_file = target / "machines.yml"
    machines = yaml.safe_load(machines_file.read_text())
    machines["all"]["children"]["lab_vm_hosts"] = {"children": {"backup_servers": {}, "monitoring_servers": {}}}
    machines_file.write_text("# Written by lab/psf_lab/guests.py from inventories/lab/machines.yml: the tenant VMs\n"
                             "# are libvirt guests here (playbooks/hypervisor.yml), not lab machines.\n"
                             + yaml.safe_dump(machines, sort_keys=False))
    registry = yaml.safe_load((target / "tenants.yml").read_text())
    tenants_dir = target / registry.get("registry_dir", "tenants")
    guests = []
    host_vars = target / "host_vars"
    host_vars.mkdir()
    root_extra_keys = production_root_extra_keys()
    for tenant_file in sorted(tenants_dir.glob("*.yml")):
        document = yaml.safe_load(tenant_file.read_text())
        vms = ((document or {}).get("services") or {}).get("vms") or []
        for vm in vms:
            host = f"{vm['name']}.{document['name']}"
            if vm.get("state") == "decommissioned":
                continue
            if "address" not in vm:
                raise LabError(f"tenant {document['name']}, file {tenant_file.name}: VM {vm['name']} declares no "
                               f"address (services.vms[].address); the lab's guests get no DHCP lease")
            vm["address"] = guest_address(host, vm["address"])
            scrape = scrape_address(vm["address"])
            variables = guest_host_vars(state, vm["address"], staff_key(paths), root_extra_keys, scrape=scrape)
            # the lab's certificate store on the control node, as group_vars/lab_vm_hosts.yml gives the
            # lab's machines (certificate_deploy copies the tenant's certificates from there)
            variables["psf_certificate_store"] = "{{ psf_lab_dir }}/certificates"
            (host_vars / f"{host}.yml").write_text(yaml.safe_dump(variables, sort_keys=False))
            guests.append({"host": host, "address": vm["address"], "scrape": scrape})
        if vms:
            origin = tenant_file.relative_to(target)
            tenant_file.write_text(f"# Written by lab/psf_lab/guests.py from inventories/lab/{origin}: VM addresses "
                                   f"on {SUBNET}.\n" + yaml.safe_dump(document, sort_keys=False))
    all_vars = target / "group_vars" / "all"
    (all_vars / "vm_dns.yml").write_text(yaml.safe_dump({"psf_dns_vm_networks": [SUBNET]}))
    (all_vars / "zz-lab-hypervisor.yml").write_text(yaml.safe_dump({"psf_hypervisor": {
        "provider": "libvirt", "uri": state["uri"], "pool": state["pool"], "network": state["network"],
        "base_image": base_image, "domain_type": "qemu", "ssh_authorized_key": public,
        "subnets": [{"prefix": state["subnet"], "gateway": state["gateway"]}],
        "nameservers": [state["gateway"]], "search": [registry["vm_domain"]],
        # TCG on a busy 2-core machine: a guest's SSH was up 66 to 128 s after its start
        "boot_timeout": 900, "shutdown_timeout": 60}}, sort_keys=False))
    result = {"inventory": str(target), "staff_key": str(staff_key(paths)), "guests": guests}
    (site_dir(paths) / "site.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _podman_pid(machine: str) -> str:
    found = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", machine],
                           capture_output=True, text=True, check=False)
    pid = found.stdout.strip()
    if found.returncode != 0 or pid in ("", "0"):
        raise LabError(f"the lab machine {machine} is not running (make it first: ansible-playbook -i "
                       f"<the guest inventory> playbooks/lab-vms.yml): {found.stderr.strip()}")
    return pid


def _forwarder(paths: LabPaths, service: str, prefix: list[str], host: str, port: int, command: list[str]) -> None:
    out = paths.out_file(service)
    start = out.stat().st_size if out.exists() else 0
    pid = spawn(paths, service, [*prefix, sys.executable, str(FORWARD), host, str(port), "--", *command])
    deadline = time.monotonic() + FORWARD_START_TIMEOUT
    wanted = f"listening {host}:{port}"
    running: str | None = None
    while time.monotonic() < deadline:
        with open(out, "rb") as handle:
            handle.seek(start)
            if wanted in handle.read().decode(errors="replace"):
                return
        # still the prefix (ip netns exec, nsenter) until it executes the forwarder
        if not (pid_matches(pid, "forward.py") or pid_matches(pid, Path(prefix[0]).name)):
            break
        time.sleep(0.05)
    else:  # the deadline passed with it still starting
        running = _running_state(pid)
    _stop_group(pid)
    paths.pid_file(service).unlink(missing_ok=True)
    if running is None:
        raise LabError(f"forwarder {service} ({host}:{port}) did not start ({describe_exit(pid)}):\n{tail(out)}")
    raise LabError(f"forwarder {service} ({host}:{port}) did not print that it listens within "
                   f"{FORWARD_START_TIMEOUT:.0f} s ({running}):\n{tail(out)}")


def _running_state(pid: int) -> str | None:
    """What a forwarder that is still starting was doing: the program it ran (``ip``, ``python3``),
    its state and where in the kernel it waited; None when it ended meanwhile."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip() or "-"
    except (OSError, IndexError):
        return None
    if state in ("Z", "X"):  # ended, not yet reaped
        return None
    return f"still running {comm}, state {state}, waiting in {wchan}"


def _stop_group(pid: int) -> None:
    """The forwarder's session (it and its connections' relays): forward.py's own stop."""
    forward.stop_group(pid, lambda: pid_matches(pid, "forward.py"))  # pid_matches reaps this process's child


def forwarders_down(paths: LabPaths, site: str = "demo") -> list[str]:
    """Stop the forwarders of ``site``; returns their service names."""
    record = forwarders_file(paths, site)
    names = json.loads(record.read_text()) if record.exists() else []
    for service in names:
        pid = recorded_pid(paths, service)
        if pid is not None and pid_matches(pid, "forward.py"):
            _stop_group(pid)
        paths.pid_file(service).unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    return names


def forwarders_up(paths: LabPaths, state: dict[str, Any], site: str, guests: list[dict[str, str]], *,
                  backup_machine: str = BACKUP_MACHINE, monitor_machine: str = MONITOR_MACHINE,
                  backup_port: int = BACKUP_PORT) -> list[str]:
    """(Re)start the forwarders of ``site`` for its ``guests`` ({host, address, scrape} each): the lab
    machines may have been made again since (new namespaces). Returns their service names
    (``forward-<site>-...``, recorded in ``.lab/run/forwarders-<site>.json``)."""
    forwarders_down(paths, site)
    netns = ["ip", "netns", "exec", state["namespace"]]
    backup, monitor = _podman_pid(backup_machine), _podman_pid(monitor_machine)
    started: list[str] = []
    record = forwarders_file(paths, site)
    record.parent.mkdir(parents=True, exist_ok=True)

    def start(name: str, *args: Any) -> None:
        service = f"forward-{site}-{name}"
        _forwarder(paths, service, *args)
        started.append(service)
        record.write_text(json.dumps(started) + "\n")

    try:
        start("backup", netns, state["gateway"], backup_port,
              ["nsenter", "--target", backup, "--net", sys.executable, str(RELAY), "127.0.0.1", "22"])
        for guest in guests:
            for name, port in (("node", EXPORTER_PORT), ("ssh", 22)):
                start(f"{guest['host']}-{name}", ["nsenter", "--target", monitor, "--net"], guest["scrape"], port,
                      [*netns, sys.executable, str(RELAY), guest["address"], str(port)])
    except LabError:
        forwarders_down(paths, site)
        raise
    return started


def remove_machine(conn: Any, pool: Any, name: str) -> None:
    """The domain ``name`` (powered off, undefined) and its volumes (``<name>.qcow2``, ``<name>-seed.iso``),
    whatever state it is in; the base image stays."""
    import libvirt

    try:
        domain = conn.lookupByName(name)
    except libvirt.libvirtError:
        domain = None
    if domain is not None:
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    pool.refresh(0)
    for volume in (f"{name}.qcow2", f"{name}-seed.iso"):
        if volume in pool.listVolumes():
            pool.storageVolLookupByName(volume).delete(0)


def remove_guests(paths: LabPaths, state: dict[str, Any]) -> list[str]:
    """The guest site's domains (powered off, undefined) and their volumes; the standard image stays.
    Returns the names of the domains there were."""
    import libvirt

    site_file = site_dir(paths) / "site.json"
    site = json.loads(site_file.read_text()) if site_file.exists() else {"guests": []}
    conn = libvirt.open(state["uri"])
    removed = []
    try:
        pool = conn.storagePoolLookupByName(state["pool"])
        existing = {domain.name() for domain in conn.listAllDomains()}
        for guest in site["guests"]:
            name = machine_name(guest["host"])
            remove_machine(conn, pool, name)
            if name in existing:
                removed.append(name)
    finally:
        conn.close()
    return removed
