# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registry's vocabulary: the JSON Schema (draft 2020-12) of one tenant file
(``inventories/<env>/tenants/<name>.yml``), the schema of the plugin settings, and the tables every
other part reads instead of keeping its own copy: statuses (and which of them are hosted),
certificate key types, tenant kinds and approval bodies.

The schema checks structure only (fields, types, enums, simple patterns). The rules that need
more than one field or more than one file -- the charter, quotas, names under the tenant's
domains, record data, uniqueness across tenants -- are checked in Python by ``checks.py``.
Pure data: no imports, so the ACME code and the filters read these tables at no cost.

``x-error`` is an annotation of this project (ignored by JSON Schema validators): the reason shown
to a person when the keyword next to it fails, instead of the validator's generic message.
A copy of this schema for editors lives in ``schemas/tenant.schema.json`` (a unit test keeps the
two equal).
"""

from __future__ import annotations

SCHEMA_ID = "https://github.com/python/psf-infra/schemas/tenant.schema.json"

CHARTER_BACKUP_MONITORING = (
    "the charter says every server is backed up and monitored by the staff team "
    "(\"All servers will be backed up and monitored\"); a VM cannot opt out"
)
CHARTER_MEMBERS = (
    "the charter requires at least one tenant member (\"Any WG or CO that is receiving services "
    "from the Infra-WG is required to have at least one person join the Infra-WG as a tenant member\")"
)

DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DNS_LABEL_ERROR = "must be a lowercase DNS label: a-z, 0-9 and '-', not starting or ending with '-', at most 63"
EMAIL_PATTERN = r"^[^@\s<>]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}$"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

KINDS = ("working-group", "community-organization")
APPROVAL_BODIES = ("psf-membership", "psf-board")
STATUSES = ("active", "suspended", "retired")
#: The statuses whose tenants are served: zones, domains, certificates, VMs (backed up, monitored).
#: A suspended tenant keeps everything while the question is settled; a retired one has nothing.
HOSTED_STATUSES = ("active", "suspended")
#: The states of one VM (``services.vms[].state``). ``decommissioned``: the VM is on its way out
#: (``playbooks/decommission.yml``); it keeps its host variables, in the inventory group
#: ``decommissioned_vms`` only, so that the site neither converges, backs up nor monitors it.
VM_STATES = ("active", "decommissioned")
DEFAULT_VM_STATE = "active"
#: The inventory group of the decommissioned VMs.
DECOMMISSIONED_GROUP = "decommissioned_vms"
#: A tenant being offboarded (``offboarding:``, ``playbooks/offboard.yml``) must have this status: a
#: retired tenant declares no services, so it is retired after its services are gone.
OFFBOARDING_STATUS = "suspended"
#: What becomes of the domains the Infra-WG registers for an offboarded tenant (``offboarding.domains``):
#: ``expire`` (auto-renew off, left to lapse) or ``transfer`` (handed to the tenant's own registrar).
OFFBOARDING_DOMAINS = ("expire", "transfer")
DEFAULT_OFFBOARDING_DOMAINS = "expire"
#: The services an offboarding tenant no longer receives from the site runs (the views leave them out):
#: its VMs are treated as decommissioned VMs instead.
OFFBOARDING_WITHDRAWN = ("domains", "zones", "certificates")
REGISTRARS = ("psf", "tenant")
ZONE_MANAGEMENT = ("full", "declared")
#: Certificate private key types: the tenant file's ``key_type``, the ``psf.infra.certificate`` module's
#: ``key_type`` choices and the ACME code's key generation all read this one table.
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
DEFAULT_KEY_TYPE = "ecdsa-p256"

_LABEL = {"type": "string", "pattern": DNS_LABEL_PATTERN, "x-error": DNS_LABEL_ERROR}
_DOMAIN_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 253,
    "pattern": r"^[A-Za-z0-9_*.-]+\.?$",
    "x-error": "must be a domain name (letters, digits, '-', '.')",
}
_NON_EMPTY_STRING = {"type": "string", "minLength": 1}
_ABSOLUTE_PATH = {"type": "string", "pattern": r"^/", "x-error": "must be an absolute path (starting with '/')"}

_MEMBER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "email"],
    "properties": {
        "name": _NON_EMPTY_STRING,
        "email": {"type": "string", "pattern": EMAIL_PATTERN, "x-error": "is not an email address"},
        "ssh_keys": {"type": "array", "items": {"type": "string"}},
        "notify": {"type": "boolean"},
    },
}

_DOMAIN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "registrar"],
    "properties": {
        "name": _DOMAIN_NAME,
        "registrar": {"enum": list(REGISTRARS)},
        "auto_renew": {"type": "boolean"},
        # registering costs money: the registrar playbook registers a domain only when this says so
        "register": {"type": "boolean"},
    },
}

_RRSET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "type", "values"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "type": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9]*$", "x-error": "must be a record type"},
        "ttl": {"type": "integer", "minimum": 0, "maximum": 2147483647},
        "values": {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}},
    },
}

_ZONE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": _DOMAIN_NAME,
        "dnssec": {"type": "boolean"},
        "records": {"type": "array", "items": _RRSET},
        "zone_file": _NON_EMPTY_STRING,
        "managed": {"enum": list(ZONE_MANAGEMENT)},
        "ignore": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}

_CERTIFICATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "names"],
    "properties": {
        "name": _LABEL,
        "names": {"type": "array", "minItems": 1, "items": _DOMAIN_NAME},
        "key_type": {"enum": list(KEY_TYPES)},
    },
}

_BACKUP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["paths"],
    "properties": {
        "enabled": {"const": True},
        "paths": {"type": "array", "minItems": 1, "items": _ABSOLUTE_PATH},
        "exclude": {"type": "array", "items": _ABSOLUTE_PATH},
    },
}

_MONITORING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"const": True},
        "http_checks": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^https?://", "x-error": "must be an http(s) URL"},
        },
    },
}

_VM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "size", "backup"],
    "properties": {
        "name": _LABEL,
        "size": {"type": "string", "minLength": 1},
        "address": {"type": "string", "minLength": 1},
        "fqdn": _DOMAIN_NAME,
        "backup": _BACKUP,
        "monitoring": _MONITORING,
        "state": {"enum": list(VM_STATES)},
        "decommissioned_on": {"type": "string", "pattern": ISO_DATE_PATTERN,
                              "x-error": "must be an ISO date (YYYY-MM-DD)"},
    },
}

_APP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "vm", "names", "port"],
    "properties": {
        "name": _LABEL,
        "description": {"type": "string"},
        "vm": _LABEL,
        "names": {"type": "array", "minItems": 1, "items": _DOMAIN_NAME},
        "port": {"type": "integer", "minimum": 1024, "maximum": 65535},
        "certificate": _LABEL,
        "command": {**_NON_EMPTY_STRING, "description": "the app's ExecStart, run as its own user"},
        "health_path": {"type": "string", "pattern": "^/", "x-error": "must be a URL path starting with /"},
        "packages": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9+.-]+$",
                      "x-error": "must be a Debian package name"},
        },
    },
}

_TENANT_MONITORING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "notify_liaisons": {"type": "boolean", "description": "alerts of the tenant's hosts also go to its liaisons"},
    },
}

_OFFBOARDING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["started_on"],
    "description": "the tenant is being offboarded (playbooks/offboard.yml); only with status: suspended",
    "properties": {
        "started_on": {"type": "string", "pattern": ISO_DATE_PATTERN, "x-error": "must be an ISO date (YYYY-MM-DD)"},
        "domains": {"enum": list(OFFBOARDING_DOMAINS)},
        "reason": _NON_EMPTY_STRING,
    },
}

TENANT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "psf.infra tenant",
    "description": "One tenant (working group or community organisation) of the PSF Infrastructure WG.",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "display_name", "kind", "approval", "status", "members"],
    "properties": {
        "name": _LABEL,
        "display_name": _NON_EMPTY_STRING,
        "kind": {"enum": list(KINDS)},
        "approval": {
            "type": "object",
            "additionalProperties": False,
            "required": ["body", "date"],
            "properties": {
                "body": {"enum": list(APPROVAL_BODIES)},
                "date": {"type": "string", "pattern": ISO_DATE_PATTERN, "x-error": "must be an ISO date (YYYY-MM-DD)"},
                "reference": {"type": "string", "pattern": r"^https?://", "x-error": "must be an http(s) URL"},
            },
        },
        "status": {"enum": list(STATUSES)},
        "offboarding": _OFFBOARDING,
        "members": {"type": "array", "minItems": 1, "items": _MEMBER, "x-error": CHARTER_MEMBERS},
        "services": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "domains": {"type": "array", "items": _DOMAIN},
                "zones": {"type": "array", "items": _ZONE},
                "certificates": {"type": "array", "items": _CERTIFICATE},
                "vms": {"type": "array", "items": _VM},
                "apps": {"type": "array", "items": _APP},
                "monitoring": _TENANT_MONITORING,
            },
        },
    },
}

SIZE_PRESET_SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["vcpus", "memory_mib", "disk_gib"],
    "properties": {
        "vcpus": {"type": "integer", "minimum": 1},
        "memory_mib": {"type": "integer", "minimum": 256},
        "disk_gib": {"type": "integer", "minimum": 1},
    },
}

_QUOTA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_vms": {"type": "integer", "minimum": 0},
        "sizes": {"type": "array", "items": {"type": "string"}},
    },
}

CONFIG_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "psf.infra tenant registry settings (the psf.infra.tenants plugin configuration)",
    "type": "object",
    "required": ["size_presets"],
    "properties": {
        "size_presets": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*$"},
            "additionalProperties": SIZE_PRESET_SCHEMA,
        },
        "quotas": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "default": _QUOTA,
                "tenants": {"type": "object", "additionalProperties": _QUOTA},
            },
        },
        "vm_domain": _DOMAIN_NAME,
        "environment": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*$"},
    },
}
