"""A per-tenant summary of what exists: the registry as the inventory sees it, and the live state.

Used at the end of `make demo` and by `psf-infra summary`. It reads the inventory through the real
`ansible-inventory` (inventory.py, as `psf-infra validate` does, so an invalid registry fails here
exactly as it fails a playbook), then asks every authoritative name server for each hosted zone's SOA
serial through the collection's DNS client (`module_utils/dns`), and reads the certificates the
certificate module keeps on the control node, in the store the registry's views name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from psf_infra_runner.inventory import Inventory, InventoryError, project_root, read_inventory


def use_collection(root: Path) -> None:
    """Make the checkout's psf.infra collection importable: its DNS client and registry views are the
    rules the playbooks use, so the summary asks the name servers and finds certificates as they do."""
    path = str(root / "collections")
    if path not in sys.path:
        sys.path.insert(0, path)


def soa_serial(zone: str, address: str, port: int) -> int | str:
    """The serial the server serves for ``zone`` (authoritative answer), else why not, in a few words."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.client import (
        DnsError,
        DnsServer,
        NameServerUnavailable,
    )

    try:
        return DnsServer(address, port, timeout=2).soa_serial(zone)
    except NameServerUnavailable as err:
        return f"unreachable ({err.reason})"
    except DnsError as err:
        return f"not served ({str(err).split(': ', 1)[-1].split('; check', 1)[0]})"


def read_certificate(path: Path) -> tuple[Any, str | None]:
    """The certificate at ``path`` (a cryptography ``x509.Certificate``, None when there is none),
    and why it cannot be read."""
    if not path.is_file():
        return None, None
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(path.read_bytes()), None
    except (ValueError, ImportError) as err:
        return None, f"unreadable ({err})"


def certificate_line(path: Path) -> str:
    cert, problem = read_certificate(path)
    if cert is None:
        return problem or "not issued yet"
    expires = cert.not_valid_after_utc
    days = (expires - dt.datetime.now(dt.UTC)).days
    return f"valid until {expires:%Y-%m-%d} ({days} days), issuer {cert.issuer.rfc4514_string()}"


def certificate_store(cvars: dict[str, Any]) -> Path:
    """Where playbooks/certificates.yml keeps certificates: psf_certificate_store, else (lab) the lab's
    store, else the registry's default store (``registry/views.py``, the ``certificate_store`` filter)."""
    from ansible_collections.psf.infra.plugins.module_utils.registry import views

    lab_dir = cvars.get("psf_lab_dir")
    return Path(views.certificate_store(cvars.get("psf_certificate_store")
                                        or (f"{lab_dir}/certificates" if lab_dir else None)))


def podman(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None


#: what the backup client writes for the node exporter, on each VM
BACKUP_METRICS = "/var/lib/prometheus/node-exporter/backup.prom"


def backup_timestamp(metrics: str) -> float | None:
    """The Unix time of the last successful backup in the client's backup.prom, if any."""
    for line in metrics.splitlines():
        if line.startswith("psf_backup_last_success_timestamp_seconds "):
            return float(line.split()[1])
    return None


def lab_backup_timestamp(container: str) -> float | None:
    """The last successful backup of a lab machine, read inside its container."""
    metrics = podman("exec", container, "cat", BACKUP_METRICS)
    return backup_timestamp(metrics.stdout) if metrics is not None and metrics.returncode == 0 else None


#: run inside a lab machine: GET http://127.0.0.1:<port><path>; prints the HTTP status, or why none came
APP_PROBE = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=5) as answer:
        print(answer.status)
except urllib.error.HTTPError as err:
    print(err.code)
except Exception as err:
    print(f"no answer: {getattr(err, 'reason', err)}")
"""


def lab_app_answer(container: str, port: int, path: str) -> int | str:
    """What the app answers on its own port inside its lab machine (as nginx reaches it): the HTTP
    status, or why there was none."""
    probe = podman("exec", container, "python3", "-c", APP_PROBE, str(port), path)
    if probe is None or probe.returncode != 0:
        return f"podman exec failed: {(probe.stderr.strip() if probe else 'timeout') or probe.returncode}"
    answer = probe.stdout.strip()
    return int(answer) if answer.isdigit() else answer


def lab_machines() -> dict[str, tuple[str, str]]:
    """Inventory host -> (container, state) of the lab's machines (playbooks/lab-vms.yml labels them)."""
    listing = podman("ps", "--all", "--filter", "label=psf.infra.lab=vm", "--format", "json")
    if listing is None or listing.returncode != 0:
        return {}
    return {c["Labels"]["psf.infra.inventory-host"]: (c["Names"][0], c["State"])
            for c in json.loads(listing.stdout or "[]") if "psf.infra.inventory-host" in (c.get("Labels") or {})}


def hypervisor_machines(cvars: Mapping[str, Any], hosts: Iterable[str]) -> tuple[dict[str, str], str]:
    """Inventory host -> state of its libvirt domain (``absent`` when there is none) on the hypervisor
    ``psf_hypervisor`` names, and why not when it cannot be asked (``{}, reason``; ``{}, ""``: no
    libvirt hypervisor in this inventory). The domain's name is the one playbooks/hypervisor.yml gives."""
    hypervisor = cvars.get("psf_hypervisor")
    if not isinstance(hypervisor, Mapping) or hypervisor.get("provider") != "libvirt" or not hypervisor.get("uri"):
        return {}, ""
    uri = str(hypervisor["uri"])
    try:
        from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError
        from ansible_collections.psf.infra.plugins.module_utils.hypervisor.libvirt import LibvirtProvider
    except ImportError as err:  # libvirt-python missing on this control node
        return {}, f"the hypervisor {uri} cannot be asked here: {err}"
    try:
        provider = LibvirtProvider(uri)
    except PsfInfraError as err:
        return {}, str(err)
    try:
        states = {vm.name: vm.state for vm in provider.list()}
    finally:
        provider.close()
    return {host: states.get(machine_name(host), "absent") for host in hosts}, ""


def machine_name(host: str) -> str:
    """The VM's machine (domain) name: playbooks/hypervisor.yml's, the collection's vm_machine_name filter."""
    from ansible_collections.psf.infra.plugins.filter.hypervisor import machine_name as rule

    return rule(host)


def vm_hosts(tenants: Mapping[str, Any]) -> list[str]:
    """The inventory host of every VM of the registry's tenants (``<vm>.<tenant>``)."""
    return [f"{vm['name']}.{name}" for name, record in tenants.items()
            for vm in (record.get("services") or {}).get("vms") or []]


def vm_status(host: str, hostvars: dict[str, Any], machines: dict[str, tuple[str, str]],
              domains: Mapping[str, str] | None = None, unseen: str = "") -> str:
    """Where the VM runs: for a lab machine, whether its container runs and when it was last backed
    up; else the state of its libvirt domain on the inventory's hypervisor (``domains``, from
    hypervisor_machines(); ``unseen``: why that hypervisor could not be asked)."""
    if host not in hostvars:
        return "not in inventory"
    if host not in machines:
        state = (domains or {}).get(host)
        if state == "absent":
            return "no libvirt domain: playbooks/hypervisor.yml makes it"
        if state is not None:
            return f"libvirt domain {machine_name(host)} {state}"
        if unseen:
            return unseen
        return "no lab machine" if machines or hostvars[host].get("psf_lab_dir") else "in inventory"
    container, state = machines[host]
    if state != "running":
        return f"container {container} {state}"
    finished = lab_backup_timestamp(container)
    backup = "no backup yet" if finished is None else (
        f"last backup {dt.datetime.fromtimestamp(finished, dt.UTC):%Y-%m-%d %H:%M} UTC")
    return f"container {container} running, {backup}"


def name_servers(cvars: dict[str, Any]) -> list[tuple[str, str, int] | tuple[str, str]]:
    """``(role, address, port)`` of each authoritative server, or ``(role, why not)`` when its address
    is not an IP address: the DNS modules' rule (``dns/module_support.py``), so that the system
    resolver is never asked."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import address_and_port
    from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput

    entries = [("primary", "psf_dns_primary", cvars["psf_dns_primary"])] if cvars.get("psf_dns_primary") else []
    entries += [(f"secondary{index}", f"psf_dns_secondaries[{index - 1}]", secondary)
                for index, secondary in enumerate(cvars.get("psf_dns_secondaries", []), start=1)]
    servers: list[tuple[str, str, int] | tuple[str, str]] = []
    for role, field, entry in entries:
        try:
            servers.append((role, *address_and_port(entry, field)))
        except InvalidInput as err:
            servers.append((role, str(err)))
    return servers


def serials_of(zone: str, servers: Sequence[tuple]) -> dict[str, int | str]:
    """Per name server (``name_servers``): the serial it serves for ``zone``, or why not."""
    return {server[0]: soa_serial(zone, server[1], server[2]) if len(server) == 3 else server[1]
            for server in servers}


def zone_serials(zone: str, servers: list[tuple[str, str, int] | tuple[str, str]]) -> str:
    return "  ".join(f"{role}={serial}" for role, serial in serials_of(zone, servers).items())


def render(inventory: Inventory, root: Path) -> list[str]:
    use_collection(root)
    cvars = inventory.controller_vars
    tenants: dict[str, Any] = inventory.tenants
    servers = name_servers(cvars)
    cert_dir = certificate_store(cvars)
    hostvars = inventory.hostvars
    machines = lab_machines() if cvars.get("psf_lab_dir") else {}
    domains, unseen = hypervisor_machines(cvars, vm_hosts(tenants))
    lines = [f"psf.infra: {len(tenants)} tenants in {cvars.get('psf_registry_env', '?')}"]
    for name in sorted(tenants):
        tenant = tenants[name]
        services = tenant.get("services", {})
        lines.append("")
        lines.append(f"{name}  ({tenant.get('kind')}, {tenant.get('status')})  {tenant.get('display_name', '')}")
        liaisons = ", ".join(f"{m['name']} <{m['email']}>" for m in tenant.get("members", []))
        lines.append(f"  liaisons      {liaisons}")
        for domain in services.get("domains", []):
            lines.append(f"  domain        {domain['name']}  registrar: {domain.get('registrar')}")
        for zone in services.get("zones", []):
            serials = zone_serials(zone["name"], servers)
            dnssec = "dnssec" if zone.get("dnssec") else "unsigned"
            lines.append(f"  zone          {zone['name']}  {dnssec}  {serials or '(no name servers known)'}")
        for cert in services.get("certificates", []):
            status = certificate_line(cert_dir / name / cert["name"] / "cert.pem")
            lines.append(f"  certificate   {cert['name']}: {', '.join(cert['names'])}  {status}")
        for vm in services.get("vms", []):
            host = f"{vm['name']}.{name}"
            paths = " ".join(vm.get("backup", {}).get("paths", []))
            status = vm_status(host, hostvars, machines, domains, unseen)
            if vm.get("state") == "decommissioned":
                status = f"decommissioned on {vm.get('decommissioned_on')}; {status}"
            lines.append(f"  vm            {host}  size {vm.get('size')}  backup: {paths}  ({status})")
        for app in services.get("apps", []):
            lines.append(f"  app           {app['name']} on {app.get('vm')}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="psf-infra summary")
    parser.add_argument("--inventory", default="inventories/lab")
    parser.add_argument("--vault-password-file")
    args = parser.parse_args(argv)
    root = project_root()
    try:
        inventory = read_inventory(args.inventory, root, args.vault_password_file)
    except InventoryError as err:
        raise SystemExit(str(err)) from None
    print("\n".join(render(inventory, root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
