# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A maintenance notice: its checks, and which tenants it impacts (docs/announcements.md).

``parse_notice(data, file=)`` refuses bad input with ``InvalidInput`` naming the field
(``notice.end``, ``notice.scope.zones[0]``, ...) before anything is sent; ``impacted_tenants()``
applies the rules of docs/announcements.md to the registry (``psf_tenants``) and the inventory
groups, and ``recipients()`` says who of a tenant receives the notice.

Pure functions over the data given: nothing here reads a file, sends mail or changes its input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registry import views
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import HOSTED_STATUSES

REQUIRED = ("what", "start", "end", "impact", "scope")
OPTIONAL = ("id", "details")
SCOPES = ("services", "hosts", "zones", "tenants")

#: service -> (what of a tenant it serves, the inventory group of its servers or None)
SERVICES = {
    "nameservers": ("zones", "nameservers"),
    "backups": ("vms", "backup_servers"),
    "monitoring": ("vms", "monitoring_servers"),
    "acme": ("certificates", None),
    "registrar": ("domains", None),
    "vms": ("vms", None),
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Notice:
    """A checked notice: ``start``/``end`` aware datetimes, ``scope`` lists, ``uid`` and ``digest``."""

    def __init__(self, data: Mapping[str, Any], start: dt.datetime, end: dt.datetime,
                 scope: dict[str, list[str]]) -> None:
        self.what = str(data["what"]).strip()
        self.impact = str(data["impact"]).strip()
        self.details = str(data.get("details") or "").strip()
        self.id = str(data["id"]) if data.get("id") is not None else None
        self.start = start
        self.end = end
        self.scope = scope
        canonical = json.dumps({"what": self.what, "impact": self.impact, "details": self.details,
                                "start": self.start_utc.isoformat(), "end": self.end_utc.isoformat(),
                                "scope": scope}, sort_keys=True)
        #: changes when anything a recipient reads changes (a new version of the same notice)
        self.digest = hashlib.sha256(canonical.encode()).hexdigest()
        #: the notice's identity: its ``id`` when given (stable across reschedules), else its content
        self.key = self.id or "n-" + self.digest[:20]

    @property
    def start_utc(self) -> dt.datetime:
        return self.start.astimezone(dt.UTC)

    @property
    def end_utc(self) -> dt.datetime:
        return self.end.astimezone(dt.UTC)

    def uid(self, domain: str) -> str:
        return f"{self.key}@{domain}"


def _datetime(value: Any, field: str, file: str | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        zone = None
        head, tail = text.rsplit(" ", 1) if " " in text else ("", text)
        if head and ("/" in tail or tail == "UTC"):
            text, zone = head.strip(), tail
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date and time (ISO 8601 with an offset, e.g. "
                               "'2026-12-10T18:00:00+01:00', or '2026-12-10 18:00 Europe/Berlin')",
                               file=file, field=field) from None
        if zone is not None:
            if parsed.tzinfo is not None:
                raise InvalidInput(f"{value!r} gives both an offset and a time zone", file=file, field=field)
            parsed = parsed.replace(tzinfo=_zone(zone, value, field, file))
    else:
        raise InvalidInput(f"expected a date and time with its time zone, got {value!r}", file=file, field=field)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(f"{value!r} has no time zone: give an offset ('+01:00', 'Z') or a zone name "
                           "('Europe/Berlin'), a maintenance window is read around the world", file=file, field=field)
    return parsed


def _zone(name: str, value: Any, field: str, file: str | None) -> dt.tzinfo:
    if name == "UTC":
        return dt.UTC
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:  # pragma: no cover - Python < 3.9
        raise InvalidInput(f"{value!r}: time zone names need Python 3.9+; give an offset", file=file,
                           field=field) from None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{value!r}: unknown time zone {name!r}", file=file, field=field) from None


def _names(value: Any, field: str, file: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidInput(f"expected a list of names, got {value!r}", file=file, field=field)
    names = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"expected a name, got {item!r}", file=file, field=f"{field}[{index}]")
        names.append(item.strip())
    return names


def parse_notice(data: Any, file: str | None = None) -> Notice:
    """The notice ``data`` checked (shape, fields, times), or ``InvalidInput`` naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"a notice is a mapping with {', '.join(REQUIRED)}, got {type(data).__name__}",
                           file=file, field="notice")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(map(str, unknown))}; a notice has "
                           f"{', '.join(REQUIRED + OPTIONAL)}", file=file, field=f"notice.{unknown[0]}")
    for key in REQUIRED:
        if key not in data or data[key] is None or (isinstance(data[key], str) and not data[key].strip()):
            raise InvalidInput("missing: every notice says what, start, end (with time zone), impact and scope",
                               file=file, field=f"notice.{key}")
    for key in ("what", "impact", "details"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise InvalidInput(f"expected text, got {data[key]!r}", file=file, field=f"notice.{key}")
    if data.get("id") is not None and not _ID.match(str(data["id"])):
        raise InvalidInput(f"{data['id']!r} is not an id (letters, digits, '.', '_', '-'; up to 64)",
                           file=file, field="notice.id")
    start = _datetime(data["start"], "notice.start", file)
    end = _datetime(data["end"], "notice.end", file)
    if end <= start:
        raise InvalidInput(f"the window ends ({end.isoformat()}) before or when it starts ({start.isoformat()})",
                           file=file, field="notice.end")
    scope_data = data["scope"]
    if not isinstance(scope_data, Mapping):
        raise InvalidInput(f"expected a mapping of {', '.join(SCOPES)}, got {scope_data!r}", file=file,
                           field="notice.scope")
    unknown = sorted(set(scope_data) - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r}; a scope names {', '.join(SCOPES)}", file=file,
                           field=f"notice.scope.{unknown[0]}")
    scope = {key: _names(scope_data.get(key), f"notice.scope.{key}", file) for key in SCOPES}
    if not any(scope.values()):
        raise InvalidInput(f"empty: name at least one of {', '.join(SCOPES)}", file=file, field="notice.scope")
    for index, service in enumerate(scope["services"]):
        if service not in SERVICES:
            raise InvalidInput(f"unknown service {service!r}; the services are {', '.join(SERVICES)}",
                               file=file, field=f"notice.scope.services[{index}]")
    scope["zones"] = [zone_name(zone) for zone in scope["zones"]]
    return Notice(data, start, end, scope)


# --------------------------------------------------------------------------- impact


def _service_reasons(record: Mapping[str, Any], service: str, via: str) -> list[str]:
    services = record.get("services") or {}
    kind = SERVICES[service][0]
    items = services.get(kind) or []
    if kind == "zones":
        return [f"zone {zone_name(str(zone['name']))} (served by {via})" for zone in items]
    if kind == "vms":
        # A decommissioned VM is neither backed up on schedule nor monitored any more: only a notice
        # about VMs themselves concerns it.
        what = {"backups": "backups", "monitoring": "monitoring", "vms": "the VM itself"}[service]
        return [f"VM {vm['name']}.{record['name']}: {what} ({via})" for vm in items
                if service == "vms" or not views.is_decommissioned(vm)]
    if kind == "certificates":
        return [f"certificate {cert['name']} ({', '.join(cert.get('names') or [])}): renewal ({via})"
                for cert in items]
    return [f"domain {domain['name']}: renewal ({via})" for domain in items if domain.get("registrar") == "psf"]


def impacted_tenants(notice: Notice, tenants: Any, groups: Mapping[str, Any] | None = None,
                     file: str | None = None) -> dict[str, list[str]]:
    """tenant name -> why it is impacted (sorted, each reason once), for every tenant the scope
    reaches, retired ones included (``recipients`` gives them no one). Unknown names are refused."""
    groups = groups or {}
    records = {record["name"]: record for record in views.tenant_records(tenants)}
    hosted = [record for name, record in sorted(records.items()) if record.get("status", "active") in HOSTED_STATUSES]
    reasons: dict[str, set[str]] = {}

    def add(tenant: str, why: list[str]) -> None:
        if why:
            reasons.setdefault(tenant, set()).update(why)

    def service_scope(service: str, via: str) -> None:
        for record in hosted:
            add(record["name"], _service_reasons(record, service, via))

    for service in notice.scope["services"]:
        service_scope(service, f"service {service}")

    vm_hosts = {f"{vm['name']}.{record['name']}": (record, vm) for record in hosted
                for vm in (record.get("services") or {}).get("vms") or []}
    all_hosts = set(groups.get("all") or [])
    for index, host in enumerate(notice.scope["hosts"]):
        if host in vm_hosts:
            record, vm = vm_hosts[host]
            apps = [app["name"] for app in (record.get("services") or {}).get("apps") or []
                    if app.get("vm") == vm["name"]]
            add(record["name"], [f"VM {host}" + (f" (apps: {', '.join(apps)})" if apps else "")])
            continue
        serving = [service for service, (_kind, group) in SERVICES.items()
                   if group and host in (groups.get(group) or [])]
        if not serving and host not in all_hosts:
            raise InvalidInput(f"unknown host {host!r}: neither a VM of a hosted tenant (<vm>.<tenant>) nor an "
                               "inventory host", file=file, field=f"notice.scope.hosts[{index}]")
        for service in serving:
            service_scope(service, f"host {host}")

    zones = {zone_name(str(zone["name"])): zone["tenant"] for zone in views.zones(tenants)}
    for index, zone in enumerate(notice.scope["zones"]):
        if zone not in zones:
            raise InvalidInput(f"unknown zone {zone!r}: no active or suspended tenant has it", file=file,
                               field=f"notice.scope.zones[{index}]")
        add(zones[zone], [f"zone {zone}"])

    for index, tenant in enumerate(notice.scope["tenants"]):
        if tenant not in records:
            raise InvalidInput(f"unknown tenant {tenant!r}: not in the registry", file=file,
                               field=f"notice.scope.tenants[{index}]")
        reasons.setdefault(tenant, set()).add("all of the tenant's services")
    return {tenant: sorted(why) for tenant, why in sorted(reasons.items())}


def recipients(record: Mapping[str, Any]) -> list[str]:
    """Who of the tenant receives a notice: ``Name <email>`` of its members with ``notify``
    (docs/tenants.md), nobody for a retired tenant."""
    if record.get("status", "active") == "retired":
        return []
    return views.member_addresses(record)


def hosts_without_tenants(notice: Notice, groups: Mapping[str, Any] | None) -> list[str]:
    """The scope's inventory hosts that serve no tenant (e.g. the control node): worth a warning."""
    groups = groups or {}
    served = {host for _service, (_kind, group) in SERVICES.items() if group for host in (groups.get(group) or [])}
    tenant_vms = set(groups.get("tenant_vms") or [])
    return [host for host in notice.scope["hosts"] if host not in served and host not in tenant_vms
            and host in set(groups.get("all") or [])]
