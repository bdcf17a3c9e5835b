# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of ``playbooks/hypervisor.yml``: the tenant VMs of the inventory as ``psf.infra.vm``
tasks on the hypervisor ``psf_hypervisor`` names (``hypervisor_vms``), and the machines the
hypervisor holds that the inventory no longer names (``hypervisor_orphans``), and the VMs a run
started, which the playbook waits for (``hypervisor_started``). Pure: no hypervisor is
asked here (``psf.infra.vm_info`` does that); the VM's machine name is the inventory host name with
dots as hyphens (``docs1.packaging`` -> ``docs1-packaging``), the name ``decommission.yml`` uses."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# What a hypervisor entry of the inventory may say (docs/vms.md, "Tenant VMs on their hypervisor").
HYPERVISOR_KEYS = {"provider", "uri", "pool", "network", "base_image", "domain_type", "ssh_authorized_key",
                   "subnets", "nameservers", "search", "restart", "shutdown_timeout", "boot_timeout"}


def machine_name(host: Any) -> str:
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError(f"vm_machine_name: expected an inventory host name, got {host!r}")
    return host.replace(".", "-")


def _fail(message: str) -> None:
    raise AnsibleFilterError(f"psf_hypervisor: {message}")


def _check_hypervisor(hypervisor: Any) -> Mapping[str, Any]:
    if not isinstance(hypervisor, Mapping):
        _fail(f"expected a mapping (group_vars/all of the inventory), got {type(hypervisor).__name__}")
    unknown = sorted(set(hypervisor) - HYPERVISOR_KEYS)
    if unknown:
        _fail(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(HYPERVISOR_KEYS))}")
    if hypervisor.get("provider") != "libvirt":
        _fail(f"provider must be libvirt (is {hypervisor.get('provider')!r}); the lab's machines are "
              "podman containers made by playbooks/lab-vms.yml")
    for field in ("uri", "pool", "network", "base_image", "ssh_authorized_key"):
        if not isinstance(hypervisor.get(field), str) or not hypervisor[field].strip():
            _fail(f"field {field} is required (a non-empty string)")
    for field in ("shutdown_timeout", "boot_timeout"):
        value = hypervisor.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(f"field {field} must be a whole number of seconds, 0 or more (is {value!r})")
    return hypervisor


def _subnets(hypervisor: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    subnets = []
    for index, entry in enumerate(hypervisor.get("subnets") or []):
        where = f"subnets[{index}]"
        if not isinstance(entry, Mapping) or set(entry) - {"prefix", "gateway"} or "prefix" not in entry:
            _fail(f"{where} must be a mapping of prefix and gateway (got {entry!r})")
        try:
            network = ipaddress.ip_network(str(entry["prefix"]), strict=True)
            gateway = ipaddress.ip_address(str(entry["gateway"])) if entry.get("gateway") else None
        except ValueError as err:
            _fail(f"{where}: {err}")
        if gateway is not None and gateway not in network:
            _fail(f"{where}: gateway {gateway} is not in {network}")
        subnets.append((network, gateway))
    return subnets


def network_config(host: str, vm: Mapping[str, Any], hypervisor: Mapping[str, Any],
                   subnets: list[tuple[Any, Any]]) -> dict[str, Any] | None:
    """cloud-init's network configuration (version 2) for a VM that declares its address; None: DHCP."""
    address = vm.get("address")
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError as err:
        raise AnsibleFilterError(f"VM {host}: psf_vm.address: {err}") from None
    for network, gateway in subnets:
        if ip in network:
            ethernet: dict[str, Any] = {
                "match": {"name": "en*"},
                "addresses": [f"{ip}/{network.prefixlen}"],
            }
            if gateway is not None:
                ethernet["routes"] = [{"to": "0.0.0.0/0" if ip.version == 4 else "::/0", "via": str(gateway)}]
            nameservers = [str(ipaddress.ip_address(str(server))) for server in hypervisor.get("nameservers") or []]
            if nameservers:
                ethernet["nameservers"] = {"addresses": nameservers, "search": list(hypervisor.get("search") or [])}
            if ip.version == 4:
                ethernet["dhcp4"] = False
            else:
                ethernet["dhcp6"] = False
                ethernet["accept-ra"] = False
            return {"version": 2, "ethernets": {"primary": ethernet}}
    raise AnsibleFilterError(
        f"VM {host} (tenant {vm.get('tenant', '?')}): its address {ip} (psf_vm.address, from its tenant file) is "
        f"in none of psf_hypervisor.subnets ({', '.join(str(n) for n, _gateway in subnets) or 'none declared'}): "
        "declare the subnet with its gateway, or remove the address (DHCP)")


def hypervisor_vms(hostvars: Mapping[str, Any], hosts: list[str], hypervisor: Any) -> list[dict[str, Any]]:
    """One ``psf.infra.vm`` argument set per tenant VM in ``hosts`` (sorted by host name)."""
    hypervisor = _check_hypervisor(hypervisor)
    subnets = _subnets(hypervisor)
    result = []
    for host in sorted(hosts):
        variables = hostvars[host]
        vm = variables.get("psf_vm")
        if not isinstance(vm, Mapping):
            raise AnsibleFilterError(f"hypervisor_vms: host {host} is not a tenant VM (no psf_vm)")
        tenant = variables.get("psf_tenant_name")
        config = network_config(host, {**vm, "tenant": tenant}, hypervisor, subnets)
        args = {
            "provider": "libvirt",
            "uri": hypervisor["uri"],
            "name": machine_name(host),
            "hostname": vm.get("fqdn") or host,
            "tenant": tenant,
            "vcpus": vm["vcpus"],
            "memory_mib": vm["memory_mib"],
            "disk_gib": vm["disk_gib"],
            "base_image": hypervisor["base_image"],
            "pool": hypervisor["pool"],
            "network": hypervisor["network"],
            "domain_type": hypervisor.get("domain_type", "kvm"),
            "ssh_authorized_key": hypervisor["ssh_authorized_key"],
            "restart": bool(hypervisor.get("restart", False)),
            "shutdown_timeout": int(hypervisor.get("shutdown_timeout", 120)),
        }
        if config is not None:
            args["network_config"] = config
        result.append({"host": host, "args": args})
    return result


def hypervisor_orphans(vms: Any, hosts: list[str], tenant: str | None = None) -> list[dict[str, Any]]:
    """The machines of ``vm_info`` made for a tenant (tenant in their metadata) that no inventory host
    names: a VM that left its tenant file without ``state: decommissioned``. ``hosts``: every tenant VM,
    decommissioned ones included. With ``tenant``, only that tenant's machines."""
    if not isinstance(vms, list):
        raise AnsibleFilterError(f"hypervisor_orphans: expected vm_info's vms (a list), got {type(vms).__name__}")
    known = {machine_name(host) for host in hosts}
    return [
        {"name": vm["name"], "tenant": vm["tenant"], "state": vm.get("state"), "uuid": vm.get("uuid")}
        for vm in vms
        if vm.get("tenant") and vm["name"] not in known and (not tenant or vm["tenant"] == tenant)
    ]


def hypervisor_started(results: Any) -> list[dict[str, Any]]:
    """The results of ``psf.infra.vm`` (a loop's ``results``) whose VM this run started: made and
    started, started again, or restarted. In check mode these are the VMs the run would start: the
    playbook does not wait for them there."""
    if not isinstance(results, list):
        raise AnsibleFilterError("hypervisor_started: expected a loop's results (a list), "
                                 f"got {type(results).__name__}")
    return [
        result for result in results
        if isinstance(result, Mapping) and not result.get("skipped") and not result.get("failed")
        and result.get("changed") and any(isinstance(entry, Mapping) and entry.get("action") in ("start", "restart")
                                          for entry in result.get("actions") or [])
    ]


class FilterModule:
    """Tenant VMs on their hypervisor."""

    def filters(self) -> dict[str, Any]:
        return {"hypervisor_vms": hypervisor_vms, "hypervisor_orphans": hypervisor_orphans,
                "hypervisor_started": hypervisor_started,
                "vm_machine_name": machine_name}
