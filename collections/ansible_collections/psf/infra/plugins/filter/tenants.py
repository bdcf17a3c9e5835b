# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters over the tenant registry (``psf_tenants``, set by psf.infra.tenants): thin wrappers over
``module_utils/registry/views.py``, where what they compute is defined once.

Every filter takes ``psf_tenants`` (the dict name -> normalised tenant record) or a list of tenant
records, and returns new lists: nothing here changes its input. The "resource" filters (zones,
domains, certificates) default to the hosted statuses (``active`` and ``suspended``): a suspended
tenant keeps its zones served, its domains renewed and its certificates valid while the question
is settled; a retired tenant has no services left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.registry import views
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import HOSTED_STATUSES


def _view(filter_name: str, view: Callable[..., Any], *arguments: Any, **keywords: Any) -> Any:
    try:
        return view(*arguments, **keywords)
    except views.NotTenantRecords as error:
        raise AnsibleFilterError(f"{filter_name}: {error}") from None


def active_tenants(tenants: Any) -> list[Mapping[str, Any]]:
    """The tenants whose status is ``active``, sorted by name."""
    return _view("active_tenants", views.with_statuses, tenants, ("active",))


def tenants_with_status(tenants: Any, statuses: Iterable[str] | str) -> list[Mapping[str, Any]]:
    """The tenants whose status is one of ``statuses``, sorted by name."""
    return _view("tenants_with_status", views.with_statuses, tenants, statuses)


def tenant_zones(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
                 nameservers: Iterable[str] | None = None, records: bool = True) -> list[dict[str, Any]]:
    """Every zone with its ``tenant`` and ``source_file``; ``zone_file`` is already an absolute path.
    With ``nameservers``, inline records also get the Infra-WG's apex NS unless the tenant declares it;
    with ``records=False``, no records (``has_records`` instead)."""
    return _view("tenant_zones", views.zones, tenants, statuses, nameservers=nameservers, records=records)


def tenant_zone_records(tenants: Any, zone: str, nameservers: Iterable[str] | None = None,
                        statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]] | None:
    """One zone's inline records as ``tenant_zones`` gives them; None for a zone in a zone file."""
    return _view("tenant_zone_records", views.zone_records, tenants, zone, nameservers, statuses)


def tenant_domains(tenants: Any, registrar: str | None = None,
                   statuses: Iterable[str] | str = HOSTED_STATUSES) -> list[dict[str, Any]]:
    """Every domain with its ``tenant``; ``registrar='psf'`` keeps the ones we register and renew."""
    return _view("tenant_domains", views.domains, tenants, registrar, statuses)


def tenant_certificates(tenants: Any, statuses: Iterable[str] | str = HOSTED_STATUSES,
                        store: str | None = None) -> list[dict[str, Any]]:
    """Every certificate with its ``tenant``, ``dest`` (in ``store``, default the certificate store's
    default) and ``hosts``: the inventory hosts of the tenant's VMs that serve an app using it."""
    return _view("tenant_certificates", views.certificates, tenants, statuses, store=store)


def certificate_store(store: Any = None) -> str:
    """``psf_certificate_store`` when it is set (a non-empty string), else the default store
    (``/srv/psf-infra/certificates``)."""
    return views.certificate_store(store if isinstance(store, str) else None)


def tenant_liaison_emails(tenants: Any, notify_only: bool = True) -> list[str]:
    """The tenant members' addresses as ``Name <email>``, sorted, without duplicates; by default
    only members with ``notify: true`` (the ones the charter says receive the announcements)."""
    return _view("tenant_liaison_emails", views.member_addresses, tenants, notify_only)


def tenant_scope(tenants: Any, scope: str | None = None) -> list[Mapping[str, Any]]:
    """The records of the tenant ``scope`` alone (``psf_tenant_scope``, set by playbooks/tenant.yml),
    or every record when the scope is empty; an unknown tenant is an error naming the tenants there are."""
    try:
        return views.scoped(tenants, scope)
    except (views.NotTenantRecords, views.UnknownTenant) as error:
        raise AnsibleFilterError(f"tenant_scope: {error}") from None


class FilterModule:
    """Filters over the PSF Infra-WG tenant registry."""

    def filters(self) -> dict[str, Any]:
        return {
            "active_tenants": active_tenants,
            "tenants_with_status": tenants_with_status,
            "tenant_zones": tenant_zones,
            "tenant_zone_records": tenant_zone_records,
            "tenant_domains": tenant_domains,
            "tenant_certificates": tenant_certificates,
            "certificate_store": certificate_store,
            "tenant_liaison_emails": tenant_liaison_emails,
            "tenant_scope": tenant_scope,
        }
