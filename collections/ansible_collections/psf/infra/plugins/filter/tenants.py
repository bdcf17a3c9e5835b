# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small, pure filters over the tenant registry (``psf_tenants``, set by psf.infra.tenants).

Every filter takes ``psf_tenants`` (the dict name -> normalised tenant record) or a list of tenant
records, and returns new lists: nothing here changes its input. The "resource" filters (zones,
domains, certificates) default to tenants that are ``active`` or ``suspended``: a suspended
tenant keeps its zones served, its domains renewed and its certificates valid while the question
is settled; a retired tenant has no services left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

HOSTED_STATUSES = ("active", "suspended")


def _tenant_records(tenants: Any, filter_name: str) -> list[Mapping[str, Any]]:
    if isinstance(tenants, Mapping):
        one_record = isinstance(tenants.get("services"), Mapping) and isinstance(tenants.get("status"), str)
        records = [tenants] if one_record else list(tenants.values())
    elif isinstance(tenants, Iterable) and not isinstance(tenants, str):
        records = list(tenants)
    else:
        raise AnsibleFilterError(f"{filter_name}: expected psf_tenants (a dict) or a list of tenants, "
                                 f"got {type(tenants).__name__}")
    for record in records:
        if not isinstance(record, Mapping) or "name" not in record or "services" not in record:
            raise AnsibleFilterError(f"{filter_name}: {record!r} is not a tenant record")
    return sorted(records, key=lambda record: record["name"])


def _with_statuses(tenants: Any, statuses: Iterable[str] | str, filter_name: str) -> list[Mapping[str, Any]]:
    wanted = [statuses] if isinstance(statuses, str) else list(statuses)
    return [record for record in _tenant_records(tenants, filter_name) if record["status"] in wanted]


def active_tenants(tenants: Any) -> list[Mapping[str, Any]]:
    """The tenants whose status is ``active``, sorted by name."""
    return _with_statuses(tenants, ("active",), "active_tenants")


def tenants_with_status(tenants: Any, statuses: Iterable[str] | str) -> list[Mapping[str, Any]]:
    """The tenants whose status is one of ``statuses``, sorted by name."""
    return _with_statuses(tenants, statuses, "tenants_with_status")


def _flatten(tenants: Any, key: str, statuses: Iterable[str] | str, filter_name: str) -> list[dict[str, Any]]:
    return [
        {**item, "tenant": record["name"]}
        for record in _with_statuses(tenants, statuses, filter_name)
        for item in record["services"][key]
    ]


def tenant_zones(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every zone with its ``tenant``; ``zone_file`` is already an absolute path."""
    return _flatten(tenants, "zones", statuses, "tenant_zones")


def tenant_domains(tenants: Any, registrar: str | None = None,
                   statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every domain with its ``tenant``; ``registrar='psf'`` keeps the ones we register and renew."""
    domains = _flatten(tenants, "domains", statuses, "tenant_domains")
    return [domain for domain in domains if registrar is None or domain["registrar"] == registrar]


def tenant_certificates(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every certificate with its ``tenant`` and ``hosts``: the inventory hosts of the tenant's VMs
    that serve an app using it (all the tenant's VMs when no app names it)."""
    certificates = []
    for record in _with_statuses(tenants, statuses, "tenant_certificates"):
        services = record["services"]
        all_hosts = [f"{vm['name']}.{record['name']}" for vm in services["vms"]]
        for certificate in services["certificates"]:
            users = sorted({f"{app['vm']}.{record['name']}" for app in services["apps"]
                            if app.get("certificate") == certificate["name"]})
            certificates.append({**certificate, "tenant": record["name"], "hosts": users or all_hosts})
    return certificates


def tenant_liaison_emails(tenants: Any, notify_only: bool = True) -> list[str]:
    """The tenant members' addresses as ``Name <email>``, sorted, without duplicates; by default
    only members with ``notify: true`` (the ones the charter says receive the announcements)."""
    addresses = {
        f"{member['name']} <{member['email']}>"
        for record in _tenant_records(tenants, "tenant_liaison_emails")
        for member in record["members"]
        if member.get("notify", True) or not notify_only
    }
    return sorted(addresses)


class FilterModule:
    """Filters over the PSF Infra-WG tenant registry."""

    def filters(self) -> dict[str, Any]:
        return {
            "active_tenants": active_tenants,
            "tenants_with_status": tenants_with_status,
            "tenant_zones": tenant_zones,
            "tenant_domains": tenant_domains,
            "tenant_certificates": tenant_certificates,
            "tenant_liaison_emails": tenant_liaison_emails,
        }
