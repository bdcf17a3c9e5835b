# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the rest of psf.infra reads from a registry, computed in one place.

- the inventory (``inventory_hosts``, ``registry_variables``), as fixed in ``docs/contracts.md``;
- views over tenant records (``psf_tenants``, a list of records or one record) for the collection's
  filters and the roles' filters: tenants by status, every zone with its tenant, its tenant file and
  (for playbooks/dns.yml) the Infra-WG's apex NS added, every domain, every certificate with the
  hosts it goes to and its destination in the certificate store, the members to notify.

Pure functions: nothing here reads a file or changes its input. No imports outside the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_apex, zone_name
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import (
    DECOMMISSIONED_GROUP,
    HOSTED_STATUSES,
    OFFBOARDING_WITHDRAWN,
)

#: Where ``psf.infra.certificate`` keeps certificates on the control node when the inventory does not
#: set ``psf_certificate_store``: ``<store>/<tenant>/<certificate name>/{privkey,cert,chain,fullchain}.pem``.
DEFAULT_CERTIFICATE_STORE = "/srv/psf-infra/certificates"

_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class NotTenantRecords(ValueError):
    """The input of a view is not tenant records; the message says what it got."""


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: tuple[str, ...]
    variables: Mapping[str, Any]


def group_name(prefix: str, name: str) -> str:
    """An Ansible-safe group name: ``tenant_`` + ``pyladies-berlin`` -> ``tenant_pyladies_berlin``."""
    return prefix + _GROUP_UNSAFE.sub("_", name)


def inventory_hosts(registry: Any) -> list[InventoryHost]:
    """The inventory hosts of a ``loading.Registry``: one per VM of an active or suspended tenant.

    Host names, groups and variables follow docs/contracts.md exactly. A decommissioned VM
    (``state: decommissioned``) keeps its host and every variable, in ``tenant_<tenant>`` and
    ``decommissioned_vms`` only: out of every group the site converges, backs up or monitors
    (``tenant_vms``, ``backup_clients``, ``monitoring_agents``, ``vm_size_*``, ``app_*``), for
    ``playbooks/decommission.yml`` to reach it.
    """
    hosts = []
    for tenant, vm in registry.hosted_vms():
        apps = [app for app in tenant["services"]["apps"] if app["vm"] == vm["name"]]
        if is_decommissioned(vm):
            groups = [group_name("tenant_", tenant["name"]), DECOMMISSIONED_GROUP]
        else:
            groups = [group_name("tenant_", tenant["name"]), "tenant_vms", "backup_clients", "monitoring_agents",
                      group_name("vm_size_", vm["size"])]
            groups.extend(group_name("app_", app["name"]) for app in apps)
        hosts.append(InventoryHost(
            name=f"{vm['name']}.{tenant['name']}",
            groups=tuple(groups),
            variables={
                "psf_tenant_name": tenant["name"],
                "psf_tenant": tenant,
                "psf_tenant_members": tenant["members"],
                "psf_vm": vm,
                "psf_apps": apps,
            },
        ))
    return hosts


def is_offboarding(record: Mapping[str, Any]) -> bool:
    """A tenant whose file declares ``offboarding`` (``playbooks/offboard.yml`` takes its services away):
    the site runs leave its domains, zones and certificates out (the views below), and its VMs are
    decommissioned VMs (the registry's normalised record says so)."""
    return bool(record.get("offboarding"))


def is_decommissioned(vm: Mapping[str, Any]) -> bool:
    """A VM declared ``state: decommissioned`` (playbooks/decommission.yml takes it away)."""
    return vm.get("state") == "decommissioned"


def vms(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
        state: str | None = "active") -> list[dict[str, Any]]:
    """Every VM with its ``tenant`` and ``host`` (the inventory name ``<vm>.<tenant>``); by default the
    active ones (``state=None``: all, decommissioned ones included)."""
    return [{**vm, "host": f"{vm['name']}.{record['name']}"} for record, vm in _flatten(tenants, "vms", statuses)
            if state is None or vm.get("state", "active") == state]


def registry_variables(registry: Any) -> dict[str, Any]:
    """The variables set on group ``all``."""
    return {"psf_tenants": dict(registry.tenants), "psf_registry_env": registry.environment}


# --------------------------------------------------------------------------- tenant records


def tenant_records(tenants: Any) -> list[Mapping[str, Any]]:
    """``psf_tenants`` (name -> record), a list of records or one record -> records sorted by name."""
    if isinstance(tenants, Mapping):
        one_record = isinstance(tenants.get("services"), Mapping) and isinstance(tenants.get("status"), str)
        records = [tenants] if one_record else list(tenants.values())
    elif isinstance(tenants, Iterable) and not isinstance(tenants, str):
        records = list(tenants)
    else:
        raise NotTenantRecords(f"expected psf_tenants (a dict) or a list of tenants, got {type(tenants).__name__}")
    for record in records:
        if not isinstance(record, Mapping) or "name" not in record or "services" not in record:
            raise NotTenantRecords(f"{record!r} is not a tenant record")
    return sorted(records, key=lambda record: record["name"])


class UnknownTenant(ValueError):
    """A tenant scope names no tenant of the registry; the message lists the ones there are."""


def scoped(tenants: Any, scope: str | None) -> list[Mapping[str, Any]]:
    """The tenant records of ``scope`` alone (``playbooks/tenant.yml``: one tenant end to end), or
    every record when ``scope`` is empty. What a play writes per tenant comes from this; what is
    shared between tenants (the name servers' zone list, the backup server's keys, Prometheus's
    targets) is rendered from the whole registry, so that one tenant's run leaves the others' alone."""
    records = tenant_records(tenants)
    if not scope:
        return records
    found = [record for record in records if record["name"] == scope]
    if not found:
        known = ", ".join(record["name"] for record in records) or "none"
        raise UnknownTenant(f"tenant {scope!r} is not in the registry (no tenants/{scope}.yml; "
                            f"the tenants are: {known})")
    return found


def scoped_hosts(pattern: str, scope: str | None) -> str:
    """A host pattern narrowed to the VMs of the tenant ``scope`` (its inventory group
    ``tenant_<name>``): ``tenant_vms`` -> ``tenant_vms:&tenant_pyladies_berlin``; unchanged without a scope.
    Narrowed, a group of shared servers matches no host: a tenant's run leaves them to the site."""
    return f"{pattern}:&{group_name('tenant_', scope)}" if scope else pattern


def with_statuses(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
                  offboarding: bool = True) -> list[Mapping[str, Any]]:
    """The tenant records whose status is one of ``statuses`` (default: the hosted ones), by name;
    ``offboarding=False`` leaves out the tenants being offboarded (their zones, domains and
    certificates are no longer served: ``playbooks/offboard.yml`` removes them)."""
    wanted = [statuses] if isinstance(statuses, str) else list(statuses)
    return [record for record in tenant_records(tenants) if record.get("status", "active") in wanted
            and (offboarding or not is_offboarding(record))]


def _services(record: Mapping[str, Any], key: str) -> list[Any]:
    return list((record.get("services") or {}).get(key) or [])


def _flatten(tenants: Any, key: str, statuses: Iterable[str] | str) -> Iterator[tuple[Mapping, dict[str, Any]]]:
    # An offboarding tenant's domains, zones and certificates are not served any more: out of every view.
    for record in with_statuses(tenants, statuses, offboarding=key not in OFFBOARDING_WITHDRAWN):
        for item in _services(record, key):
            yield record, {**(item if isinstance(item, Mapping) else {"name": item}), "tenant": record["name"]}


def zones(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
          nameservers: Iterable[str] | None = None, records: bool = True) -> list[dict[str, Any]]:
    """Every zone with its ``tenant`` (``source_file``, the tenant file, comes from the registry).

    With ``nameservers`` (the Infra-WG's NS host names) a zone of inline ``records`` also gets the
    apex NS rrset pointing at them, unless its tenant file declares the apex NS itself: the records
    as ``psf.infra.dns_zone`` is to publish them. With ``records=False`` the zones come without their
    inline records (``has_records`` says whether they have some): a playbook that loops over the
    zones then carries no records in its items, and takes each zone's from :func:`zone_records`.
    """
    result = []
    for _record, zone in _flatten(tenants, "zones", statuses):
        if not records:
            zone["has_records"] = "records" in zone
            zone.pop("records", None)
        elif nameservers is not None and "records" in zone:
            zone["records"] = _with_apex_ns(zone, nameservers)
        result.append(zone)
    return result


def zone_records(tenants: Any, zone: str, nameservers: Iterable[str] | None = None,
                 statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]] | None:
    """The inline records of one hosted zone as :func:`zones` gives them (the apex NS added with
    ``nameservers``); None for a zone kept in a zone file. Only that zone's records are read."""
    wanted = zone_name(str(zone))
    for _record, found in _flatten(tenants, "zones", statuses):
        if zone_name(str(found["name"])) == wanted:
            if "records" not in found:
                return None
            return _with_apex_ns(found, nameservers) if nameservers is not None else list(found["records"])
    raise NotTenantRecords(f"no hosted zone {wanted!r} in the registry")


def _with_apex_ns(zone: Mapping[str, Any], nameservers: Iterable[str]) -> list[dict[str, Any]]:
    declared = any(str(record.get("type", "")).upper() == "NS"
                   and is_apex(str(record.get("name", "")), str(zone["name"])) for record in zone["records"])
    if declared:
        return list(zone["records"])
    return [*zone["records"], {"name": "@", "type": "NS", "values": list(nameservers)}]


def zone_names(tenants: Any, dnssec_only: bool = False,
               statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[str]:
    """The hosted zone names (``zone_name`` spelling), sorted, each once; optionally only signed ones."""
    return sorted({zone_name(str(zone["name"])) for zone in zones(tenants, statuses)
                   if not dnssec_only or zone.get("dnssec", True)})


def domains(tenants: Any, registrar: str | None = None,
            statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every domain with its ``tenant``; ``registrar='psf'`` keeps the ones the Infra-WG registers."""
    return [domain for _record, domain in _flatten(tenants, "domains", statuses)
            if registrar is None or domain.get("registrar") == registrar]


def certificate_store(store: str | None = None) -> str:
    """The certificate store: ``store`` (``psf_certificate_store``) when given, else the default."""
    return str(store) if store else DEFAULT_CERTIFICATE_STORE


def certificate_dest(store: str | None, tenant: str, certificate: str) -> str:
    """Where one certificate lives in the store: ``<store>/<tenant>/<certificate name>``."""
    return f"{certificate_store(store).rstrip('/')}/{tenant}/{certificate}"


def certificates(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
                 store: str | None = None) -> list[dict[str, Any]]:
    """Every certificate with its ``tenant``, its ``dest`` in the certificate store and its ``hosts``:
    the inventory hosts of the tenant's VMs that serve an app using it (all the tenant's VMs when
    no app names it)."""
    result = []
    for record in with_statuses(tenants, statuses, offboarding=False):
        # A decommissioned VM gets no certificate (its apps are refused by the registry).
        vms, apps = [vm for vm in _services(record, "vms") if not is_decommissioned(vm)], _services(record, "apps")
        all_hosts = [f"{vm['name']}.{record['name']}" for vm in vms]
        for certificate in _services(record, "certificates"):
            users = sorted({f"{app['vm']}.{record['name']}" for app in apps
                            if app.get("certificate") == certificate["name"]})
            result.append({**certificate, "tenant": record["name"],
                           "dest": certificate_dest(store, record["name"], certificate["name"]),
                           "hosts": users or all_hosts})
    return result


def _members_to_notify(record: Mapping[str, Any], notify_only: bool = True) -> Iterator[Mapping[str, Any]]:
    for member in record.get("members") or []:
        if member.get("notify", True) or not notify_only:
            yield member


def member_addresses(tenants: Any, notify_only: bool = True) -> list[str]:
    """The members' addresses as ``Name <email>``, sorted, each once; by default only the members with
    ``notify`` (the ones the charter says receive the announcements)."""
    return sorted({f"{member['name']} <{member['email']}>"
                   for record in tenant_records(tenants) for member in _members_to_notify(record, notify_only)})


def liaison_receivers(tenants: Any) -> list[dict[str, Any]]:
    """One alert receiver per hosted tenant that asked for its alerts (``services.monitoring.
    notify_liaisons``): ``{tenant, receiver, emails}``, the e-mails of its members with ``notify``.
    A tenant that asked but has no such member gets none (staff still receive everything)."""
    receivers = []
    for record in with_statuses(tenants):
        if not ((record.get("services") or {}).get("monitoring") or {}).get("notify_liaisons", False):
            continue
        emails = sorted({str(member["email"]) for member in _members_to_notify(record) if member.get("email")})
        if emails:
            receivers.append({"tenant": record["name"], "receiver": f"tenant-{record['name']}", "emails": emails})
    return receivers
