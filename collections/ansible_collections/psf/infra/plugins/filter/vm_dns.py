# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS for every VM (issue #11 section 3; docs/vms.md, "DNS for VMs"). Pure: nothing is asked here.

- ``reverse_zones``: the reverse zones of the VM networks (``psf_dns_vm_networks``): IPv4 on octet
  boundaries (a /22 is four /24 zones, a /16 one zone), IPv6 on nibble boundaries (a /62 is four
  /64 zones); a network longer than /24 (IPv4) would need RFC 2317 classless delegation and is refused.
- ``vm_dns_zones``: the Infra-WG's VM zones, ``vm_domain`` and the reverse zones, as the nameserver
  role's zone list (``{name, tenant, dnssec}``).
- ``vm_dns_names``: per VM of the registry (decommissioned ones too) its forward name
  ``<vm>.<tenant>.<vm_domain>`` and, with its declared address (``services.vms[].address``), the record
  type and the reverse zone and owner of its PTR.
- ``vm_dns_records``: per VM zone the records ``psf.infra.dns_zone`` keeps (active VMs), and the names
  it leaves alone (``ignore``: decommissioned VMs' records stay until decommission.yml removes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.registry import views
from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_within, zone_name

try:
    import netaddr
except ImportError as error:  # said by each filter that needs it
    NETADDR_IMPORT_ERROR: ImportError | None = error
else:
    NETADDR_IMPORT_ERROR = None

# The tenant field of the VM zones in the nameserver role's zone list: they are the Infra-WG's own.
INFRA_TENANT = "Infra-WG"
DEFAULT_TTL = 3600


def _netaddr(filter_name: str) -> None:
    if NETADDR_IMPORT_ERROR is not None:
        raise AnsibleFilterError(f"{filter_name} needs netaddr on the control node: {NETADDR_IMPORT_ERROR}")


def _network(value: Any, where: str) -> Any:
    try:
        network = netaddr.IPNetwork(str(value).strip())
    except (netaddr.AddrFormatError, ValueError, TypeError) as err:
        raise AnsibleFilterError(f"{where}: {value!r} is not a network (address/prefix length): {err}") from None
    if "/" not in str(value):
        raise AnsibleFilterError(f"{where}: {value!r} has no prefix length (for example 192.0.2.0/24)")
    if network.ip != network.network:
        raise AnsibleFilterError(f"{where}: {value!r} has host bits set; the network is {network.cidr}")
    return network


def _reverse_name(address: Any) -> str:
    """``127.0.0.10`` -> ``10.0.0.127.in-addr.arpa`` (no final dot)."""
    return zone_name(address.reverse_dns)


def _zones_of(network: Any, where: str) -> list[str]:
    if network.version == 4:
        step, bits = 8, 32
        if network.prefixlen > 24:
            raise AnsibleFilterError(
                f"{where}: {network} is longer than /24: its reverse zone would need RFC 2317 classless "
                "delegation from the holder of the /24; give the /24 (if it is ours) or leave it out")
    else:
        step, bits = 4, 128
        if network.prefixlen > 124:
            raise AnsibleFilterError(f"{where}: {network} is longer than /124; give a network on a nibble boundary")
    if network.prefixlen == 0:
        raise AnsibleFilterError(f"{where}: {network} is the whole address space, not a VM network")
    # Rounded up to the next boundary: at most 128 (IPv4) or 8 (IPv6) zones for one network.
    length = -(-network.prefixlen // step) * step
    drop = (bits - length) // step
    zones = []
    for subnet in network.subnet(length):
        labels = _reverse_name(subnet.network).split(".")
        zones.append(".".join(labels[drop:]))
    return zones


def reverse_zones(networks: Any) -> list[str]:
    """The reverse zones of ``networks`` (a list of ``address/prefix``), sorted, without duplicates."""
    if isinstance(networks, (str, Mapping)) or not isinstance(networks, Iterable):
        raise AnsibleFilterError(f"reverse_zones: expected a list of networks (psf_dns_vm_networks), "
                                 f"got {type(networks).__name__}")
    networks = list(networks)
    if networks:  # no network, no netaddr needed (the nameserver role's default where no VM zone is served)
        _netaddr("reverse_zones")
    zones: set[str] = set()
    for index, value in enumerate(networks):
        where = f"psf_dns_vm_networks[{index}]"
        zones.update(_zones_of(_network(value, where), where))
    return sorted(zones)


def _vm_domain(vm_domain: Any, filter_name: str) -> str:
    if vm_domain is None or str(vm_domain).strip() in ("", "."):
        return ""
    name = zone_name(str(vm_domain))
    if not all(label for label in name.split(".")):
        raise AnsibleFilterError(f"{filter_name}: {vm_domain!r} is not a domain name (vm_domain)")
    return name


def vm_dns_zones(vm_domain: Any, networks: Any = None, dnssec: bool = True) -> list[dict[str, Any]]:
    """``vm_domain`` and the reverse zones of ``networks`` as ``[{name, tenant, dnssec, kind}]``;
    an empty ``vm_domain`` gives the reverse zones alone."""
    domain = _vm_domain(vm_domain, "vm_dns_zones")
    zones = [{"name": domain, "tenant": INFRA_TENANT, "dnssec": bool(dnssec), "kind": "forward"}] if domain else []
    zones += [{"name": name, "tenant": INFRA_TENANT, "dnssec": bool(dnssec), "kind": "reverse"}
              for name in reverse_zones(networks or [])]
    return zones


def _relative(name: str, zone: str) -> str:
    return "@" if name == zone else name[: -len(zone) - 1]


def vm_dns_names(tenants: Any, vm_domain: Any, networks: Any = None, strict: bool = True) -> list[dict[str, Any]]:
    """Every VM of the registry's hosted tenants (decommissioned ones too), sorted by host:
    ``{host, tenant, vm, state, address, fqdn, forward: {zone, name, type}, reverse: {zone, name, value}}``;
    ``forward`` and ``reverse`` are None without an address. An address in no VM network is refused,
    naming the VM, its tenant and the networks; with ``strict=False`` its ``reverse`` is None instead
    (decommission.yml: a VM elsewhere in the registry must not stop one VM's decommissioning)."""
    _netaddr("vm_dns_names")
    domain = _vm_domain(vm_domain, "vm_dns_names")
    if not domain:
        raise AnsibleFilterError("vm_dns_names: vm_domain is empty (psf_vm_domain, from the inventory's tenants.yml)")
    zones = reverse_zones(networks or [])
    try:
        vms = views.vms(tenants, state=None)
    except views.NotTenantRecords as err:
        raise AnsibleFilterError(f"vm_dns_names: {err}") from None
    result = []
    for vm in sorted(vms, key=lambda item: item["host"]):
        fqdn = f"{vm['host']}.{domain}"
        entry: dict[str, Any] = {"host": vm["host"], "tenant": vm["tenant"], "vm": vm["name"],
                                 "state": vm.get("state", "active"), "address": None, "fqdn": fqdn,
                                 "forward": None, "reverse": None}
        if vm.get("address"):
            try:
                address = netaddr.IPAddress(str(vm["address"]).strip())
            except (netaddr.AddrFormatError, ValueError, TypeError) as err:
                raise AnsibleFilterError(f"VM {vm['host']} (tenant {vm['tenant']}): services.vms[].address "
                                         f"{vm['address']!r} is not an IP address: {err}") from None
            reverse = _reverse_name(address)
            containing = [zone for zone in zones if is_within(reverse, zone)]
            if not containing and strict:
                raise AnsibleFilterError(
                    f"VM {vm['host']} (tenant {vm['tenant']}): its address {address} (services.vms[].address in its "
                    f"tenant file) is in none of the VM networks (psf_dns_vm_networks: "
                    f"{', '.join(str(n) for n in networks or []) or 'none declared'}), so no reverse zone can hold "
                    "its PTR: declare the network, or correct the address")
            entry["address"] = str(address)
            entry["forward"] = {"zone": domain, "name": _relative(fqdn, domain),
                                "type": "A" if address.version == 4 else "AAAA"}
            if containing:
                zone = max(containing, key=len)
                entry["reverse"] = {"zone": zone, "name": _relative(reverse, zone), "value": fqdn + "."}
        result.append(entry)
    return result


def vm_dns_records(tenants: Any, vm_domain: Any, networks: Any = None, ttl: int = DEFAULT_TTL) -> list[dict[str, Any]]:
    """One item per VM zone (``vm_dns_zones`` order): ``{zone, tenant, records, ignore}``. ``records``:
    the A/AAAA of every active VM with an address in ``vm_domain``, its PTR in its reverse zone; every
    other name in these zones is stale (``prune``), except ``ignore``: the names of decommissioned VMs
    (their records stay until playbooks/decommission.yml removes them), unless an active VM holds the
    same name. Two active VMs with one address are refused (one PTR each)."""
    try:
        ttl = int(ttl)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"vm_dns_records: ttl must be an integer, got {ttl!r}") from None
    names = vm_dns_names(tenants, vm_domain, networks)
    zones = vm_dns_zones(vm_domain, networks)
    records: dict[str, dict[tuple[str, str], dict[str, Any]]] = {zone["name"]: {} for zone in zones}
    owners: dict[tuple[str, str], str] = {}
    kept: dict[str, set[str]] = {zone["name"]: set() for zone in zones}
    for vm in names:
        if vm["forward"] is None:
            continue
        forward, reverse = vm["forward"], vm["reverse"]
        if vm["state"] != "active":
            kept[forward["zone"]].add(forward["name"])
            kept[reverse["zone"]].add(reverse["name"])
            continue
        key = (reverse["zone"], reverse["name"])
        if key in owners:
            raise AnsibleFilterError(
                f"VM {vm['host']} (tenant {vm['tenant']}) and VM {owners[key]} both declare the address "
                f"{vm['address']} (services.vms[].address): an address has one PTR, so one VM")
        owners[key] = vm["host"]
        records[forward["zone"]][(forward["name"], forward["type"])] = {
            "name": forward["name"], "type": forward["type"], "ttl": ttl, "values": [vm["address"]]}
        records[reverse["zone"]][key] = {"name": reverse["name"], "type": "PTR", "ttl": ttl,
                                         "values": [reverse["value"]]}
    result = []
    for zone in zones:
        declared = records[zone["name"]]
        held = {record["name"] for record in declared.values()}
        result.append({
            "zone": zone["name"],
            "tenant": zone["tenant"],
            "kind": zone["kind"],
            "records": [declared[key] for key in sorted(declared)],
            "ignore": sorted(kept[zone["name"]] - held),
        })
    return result


def vm_dns_unaddressed(tenants: Any, vm_domain: Any, networks: Any = None) -> list[str]:
    """The active VMs that declare no address (they get no A/AAAA and no PTR), as ``<vm>.<tenant>``."""
    return [vm["host"] for vm in vm_dns_names(tenants, vm_domain, networks)
            if vm["state"] == "active" and vm["address"] is None]


class FilterModule:
    """DNS for every VM."""

    def filters(self) -> dict[str, Any]:
        return {
            "reverse_zones": reverse_zones,
            "vm_dns_zones": vm_dns_zones,
            "vm_dns_names": vm_dns_names,
            "vm_dns_records": vm_dns_records,
            "vm_dns_unaddressed": vm_dns_unaddressed,
        }
