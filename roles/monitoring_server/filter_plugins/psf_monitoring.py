"""Pure functions that turn the inventory into Prometheus, blackbox and Alertmanager data.

The role's templates call these as filters; tests/unit/test_monitoring_targets.py calls them
directly. Nothing here talks to the network or imports Ansible. What the tenant registry defines
(hosted statuses, hosted zones, the members to notify, zone-name spelling) is read from the
psf.infra collection's registry code, not written again here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

try:
    from ansible_collections.psf.infra.plugins.module_utils.registry import views
except ImportError:  # imported outside Ansible (the unit tests): the collection beside the roles
    sys.path.append(str(Path(__file__).resolve().parents[3] / "collections"))
    from ansible_collections.psf.infra.plugins.module_utils.registry import views
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name


def _host_address(hostname: str, hostvars: Mapping[str, Any]) -> str:
    # psf_monitoring_address: where the monitoring server reaches a host when that is not the
    # registry's address (the lab's containers, whose registry addresses are the lab host's loopback).
    host = hostvars.get(hostname, {})
    vm = host.get("psf_vm") or {}
    return str(host.get("psf_monitoring_address") or vm.get("address") or host.get("ansible_host") or hostname)


def _join_host_port(address: str, port: int) -> str:
    if ":" in address and not address.startswith("["):
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def host_labels(hostname: str, hostvars: Mapping[str, Any]) -> dict[str, str]:
    """The labels every series of a host carries: instance, vm and (for tenant VMs) tenant."""
    host = hostvars.get(hostname, {})
    vm = host.get("psf_vm") or {}
    labels = {"instance": hostname, "vm": str(vm.get("name") or hostname)}
    tenant = host.get("psf_tenant_name")
    if tenant:
        labels["tenant"] = str(tenant)
    return labels


def node_targets(
    hosts: Iterable[str], hostvars: Mapping[str, Any], port: int, backup_hosts: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """file_sd groups for the node exporters: one group per host, sorted by host name, at the
    host's `monitoring_agent_port` where the inventory sets one (the port its exporter listens on),
    else `port`.

    Hosts in `backup_hosts` carry backup_client="true", which the BackupNeverReported alert
    uses to tell "no backup metric yet" from "this host is not backed up".
    """
    backed_up = set(backup_hosts)
    groups = []
    for h in sorted(set(hosts)):
        labels = host_labels(h, hostvars)
        if h in backed_up:
            labels["backup_client"] = "true"
        agent_port = int(hostvars.get(h, {}).get("monitoring_agent_port") or port)
        groups.append({"targets": [_join_host_port(_host_address(h, hostvars), agent_port)], "labels": labels})
    return groups


def ssh_targets(hosts: Iterable[str], hostvars: Mapping[str, Any], default_port: int = 22) -> list[dict[str, Any]]:
    """file_sd groups for the SSH banner probe of every host."""
    groups = []
    for h in sorted(set(hosts)):
        port = int(hostvars.get(h, {}).get("ansible_port") or default_port)
        groups.append(
            {"targets": [_join_host_port(_host_address(h, hostvars), port)], "labels": host_labels(h, hostvars)}
        )
    return groups


def https_targets(
    hosts: Iterable[str], hostvars: Mapping[str, Any], extra: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """file_sd groups for the HTTPS probe.

    Sources, per host: for every app in psf_apps https://<first name><health_path>, then every
    URL in psf_vm.monitoring.http_checks. `extra` adds {url, labels} entries. A URL seen twice
    is probed once (the first source wins, so an app's URL keeps its `app` label).
    """
    seen: dict[str, dict[str, Any]] = {}
    for h in sorted(set(hosts)):
        host = hostvars.get(h, {})
        labels = host_labels(h, hostvars)
        vm = host.get("psf_vm") or {}
        for app in host.get("psf_apps") or []:
            names = app.get("names") or [vm.get("fqdn") or h]
            path = app.get("health_path") or "/"
            url = f"https://{names[0]}{path if path.startswith('/') else '/' + path}"
            seen.setdefault(url, {**labels, "instance": url, "app": str(app["name"])})
        for url in (vm.get("monitoring") or {}).get("http_checks") or []:
            seen.setdefault(str(url), {**labels, "instance": str(url)})
    for entry in extra:
        url = str(entry["url"])
        seen.setdefault(url, {"instance": url, **{k: str(v) for k, v in (entry.get("labels") or {}).items()}})
    return [{"targets": [url], "labels": labels} for url, labels in seen.items()]


def hosted_zones(tenants: Mapping[str, Any], dnssec_only: bool = False) -> list[str]:
    """Zone names (no trailing dot) hosted for active and suspended tenants."""
    return views.zone_names(tenants, dnssec_only=dnssec_only)


def dns_module_name(zone: str) -> str:
    """The blackbox module that asks for the SOA of `zone` (module names are identifiers)."""
    return "dns_soa_" + re.sub(r"[^A-Za-z0-9]", "_", zone_name(zone))


def dns_modules(zones: Iterable[str], timeout: str = "5s") -> dict[str, Any]:
    """One blackbox DNS module per zone: an authoritative SOA answer for the zone itself."""
    modules = {}
    for zone in sorted(set(zones)):
        fqdn = zone_name(zone) + "."
        modules[dns_module_name(zone)] = {
            "prober": "dns",
            "timeout": timeout,
            "dns": {
                "query_name": fqdn,
                "query_type": "SOA",
                "transport_protocol": "udp",
                "preferred_ip_protocol": "ip4",
                "ip_protocol_fallback": False,
                "recursion_desired": False,
                "valid_rcodes": ["NOERROR"],
                "validate_answer_rrs": {
                    "fail_if_not_matches_regexp": [f"^{re.escape(fqdn)}\\s+\\d+\\s+IN\\s+SOA\\s"],
                },
            },
        }
    return modules


def dns_targets(zones: Iterable[str], servers: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """file_sd groups: every zone asked from every name server."""
    groups = []
    for server in servers:
        address = _join_host_port(str(server["address"]), int(server.get("port") or 53))
        for zone in sorted(set(zones)):
            groups.append(
                {
                    "targets": [address],
                    "labels": {
                        "instance": f"{server['name']}/{zone}",
                        "nameserver": str(server["name"]),
                        "zone": zone,
                        "module": dns_module_name(zone),
                    },
                }
            )
    return groups


def tenant_receivers(tenants: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Alertmanager receivers for tenants that opted in (services.monitoring.notify_liaisons).

    Recipients: the tenant's members whose `notify` is not false. A tenant that opted in but
    has no such member gets no receiver (staff still receive everything).
    """
    return views.liaison_receivers(tenants)


def dnssec_check_config(
    servers: Iterable[Mapping[str, Any]], zones: Iterable[str], timeout: str = "5s"
) -> dict[str, Any]:
    """The JSON configuration of files/psf-dnssec-expiry."""
    return {
        "servers": [
            {"name": str(s["name"]), "address": str(s["address"]), "port": int(s.get("port") or 53)} for s in servers
        ],
        "zones": sorted({zone_name(z) for z in zones}),
        "timeout": float(str(timeout).removesuffix("s")),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "psf_monitoring_node_targets": node_targets,
            "psf_monitoring_ssh_targets": ssh_targets,
            "psf_monitoring_https_targets": https_targets,
            "psf_monitoring_hosted_zones": hosted_zones,
            "psf_monitoring_dns_modules": dns_modules,
            "psf_monitoring_dns_targets": dns_targets,
            "psf_monitoring_tenant_receivers": tenant_receivers,
            "psf_monitoring_dnssec_check_config": dnssec_check_config,
        }
