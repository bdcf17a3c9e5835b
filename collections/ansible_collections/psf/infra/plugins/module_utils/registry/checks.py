# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registry's rules: every check of one tenant file, of the settings and across tenants.

Pure functions over parsed data (``loading.py`` reads the files). Record and zone-file data are
judged by the DNS code's own parser (``dns/validate.py``: ``parse_records``, ``parse_zone_file``,
``parse_owner``), the one the ``dns_zone`` module runs, so what the registry accepts the name servers
accept, and a bad record stops every playbook before anything changes.

Every problem is an ``InvalidInput`` naming the file, the tenant and the field path; a whole
registry's problems are raised together as one ``InvalidRegistry``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_within, zone_name
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import (
    APPROVAL_BODIES,
    CHARTER_BACKUP_MONITORING,
    CONFIG_SCHEMA,
    DEFAULT_KEY_TYPE,
    DEFAULT_OFFBOARDING_DOMAINS,
    DEFAULT_VM_STATE,
    OFFBOARDING_STATUS,
    TENANT_SCHEMA,
)

try:
    import jsonschema

    JSONSCHEMA_IMPORT_ERROR: ImportError | None = None
except ImportError as import_error:  # pragma: no cover - reported by the callers
    jsonschema = None
    JSONSCHEMA_IMPORT_ERROR = import_error

try:
    import dns.exception
    import dns.name
    from ansible_collections.psf.infra.plugins.module_utils.dns.validate import (
        Where,
        parse_owner,
        parse_records,
        parse_zone_file,
    )

    DNSPYTHON_IMPORT_ERROR: ImportError | None = None
except ImportError as import_error:  # pragma: no cover
    DNSPYTHON_IMPORT_ERROR = import_error

try:
    import netaddr

    NETADDR_IMPORT_ERROR: ImportError | None = None
except ImportError as import_error:  # pragma: no cover
    NETADDR_IMPORT_ERROR = import_error

DEFAULT_MAX_VMS = 2
DEFAULT_VM_DOMAIN = "vms.infra.test"

BODY_FOR_KIND = {"working-group": "psf-membership", "community-organization": "psf-board"}
BODY_WORDING = {
    "working-group": "a working group is approved by the PSF membership ('psf-membership')",
    "community-organization": "a community organisation is recognised by the PSF Board ('psf-board')",
}

_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MIN_RSA_BITS = 2048


# --------------------------------------------------------------------------- errors


class InvalidRegistry(InvalidInput):
    """All the problems of a registry, reported together; ``problems`` keeps them one by one (and a
    module's failure returns them as ``problems``: ``{msg, tenant, file, field}`` each)."""

    def __init__(self, problems: list[InvalidInput], *, directory: str) -> None:
        self.problems = problems
        count = len(problems)
        lines = [f"tenant registry {directory} is invalid ({count} problem{'s' if count != 1 else ''}):"]
        lines.extend(f"  - {problem}" for problem in problems)
        super().__init__("\n".join(lines), problems=[
            {"msg": str(problem), "tenant": problem.tenant, "file": problem.file, "field": problem.field}
            for problem in problems])


def missing_libraries() -> list[str]:
    """Names of the Python libraries the checks need and cannot import (``loading`` adds PyYAML)."""
    missing = []
    for name, error in (("jsonschema", JSONSCHEMA_IMPORT_ERROR), ("dnspython", DNSPYTHON_IMPORT_ERROR),
                        ("netaddr", NETADDR_IMPORT_ERROR)):
        if error is not None:
            missing.append(name)
    return missing


def field_path(parts: tuple | list) -> str:
    """``('services', 'vms', 1, 'size')`` -> ``services.vms[1].size``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def display_path(path: str) -> str:
    """A path as a person reads it: relative to the working directory when it lies beneath it."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Quota:
    max_vms: int
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class RegistryConfig:
    """The registry settings from the plugin configuration (``inventories/<env>/tenants.yml``)."""

    size_presets: Mapping[str, Mapping[str, int]]
    default_quota: Quota
    tenant_quotas: Mapping[str, Quota] = field(default_factory=dict)
    vm_domain: str = DEFAULT_VM_DOMAIN
    environment: str = "lab"
    source: str = "the registry settings"

    def quota_for(self, tenant: str) -> Quota:
        return self.tenant_quotas.get(tenant, self.default_quota)


def build_config(raw: Mapping[str, Any], *, source: str = "the registry settings",
                 environment: str | None = None) -> RegistryConfig:
    """Check the registry settings and turn them into a ``RegistryConfig``.

    ``raw`` holds ``size_presets``, ``quotas``, ``vm_domain`` and ``environment`` (as in the plugin
    configuration); ``source`` names where they came from in error messages.
    """
    _require_libraries()
    raw = {key: value for key, value in dict(raw).items() if value is not None}
    problems = [
        InvalidInput(_schema_reason(error), file=source, field=field_path(_schema_error_path(error)) or None)
        for error in _config_validator().iter_errors(raw)
    ]
    if problems:
        raise InvalidRegistry(problems, directory=source)

    presets = {name: dict(values) for name, values in raw["size_presets"].items()}
    quotas = raw.get("quotas") or {}

    def quota(values: Mapping[str, Any], where: str, base: Quota) -> Quota:
        sizes = tuple(values.get("sizes", base.sizes))
        for index, size in enumerate(sizes):
            if size not in presets:
                problems.append(InvalidInput(
                    f"{size!r} is not a size preset ({', '.join(presets)})", file=source,
                    field=f"{where}.sizes[{index}]"))
        return Quota(max_vms=int(values.get("max_vms", base.max_vms)), sizes=sizes)

    everything = Quota(max_vms=DEFAULT_MAX_VMS, sizes=tuple(presets))
    default_quota = quota(quotas.get("default") or {}, "quotas.default", everything)
    tenant_quotas = {
        name: quota(values or {}, f"quotas.tenants.{name}", default_quota)
        for name, values in (quotas.get("tenants") or {}).items()
    }
    if problems:
        raise InvalidRegistry(problems, directory=source)
    return RegistryConfig(
        size_presets=presets,
        default_quota=default_quota,
        tenant_quotas=tenant_quotas,
        vm_domain=zone_name(str(raw.get("vm_domain", DEFAULT_VM_DOMAIN))),
        environment=str(environment or raw.get("environment") or "lab"),
        source=source,
    )


# --------------------------------------------------------------------------- small validators


def ssh_public_key_problem(line: Any) -> str | None:
    """Why ``line`` is not an acceptable OpenSSH public key line, or None when it is."""
    if not isinstance(line, str):
        return f"expected an OpenSSH public key line, got {type(line).__name__}"
    parts = line.split()
    if len(parts) < 2:
        return "is not an OpenSSH public key line ('<type> <base64> [comment]')"
    key_type, encoded = parts[0], parts[1]
    if key_type == "ssh-dss":
        return "ssh-dss (DSA) keys are refused: OpenSSH no longer accepts them"
    if key_type not in SSH_KEY_TYPES:
        return f"unknown key type {key_type!r} (expected one of: {', '.join(SSH_KEY_TYPES)})"
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return f"the {key_type} key data is not valid base64"
    fields = _ssh_wire_strings(blob)
    if not fields:
        return f"the {key_type} key data is truncated"
    embedded = fields[0].decode("ascii", "replace")
    if embedded != key_type:
        return f"the key data is of type {embedded!r} but the line says {key_type!r}"
    if key_type == "ssh-rsa":
        if len(fields) != 3:
            return "the ssh-rsa key data is malformed"
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < MIN_RSA_BITS:
            return f"the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
    elif key_type == "ssh-ed25519" and (len(fields) != 2 or len(fields[1]) != 32):
        return "the ssh-ed25519 key data is malformed"
    elif key_type.startswith("ecdsa-sha2-") and (len(fields) != 3 or fields[1] != key_type[11:].encode()):
        return f"the {key_type} key data is malformed"
    return None


def _ssh_wire_strings(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH public key blob ([] when truncated)."""
    strings, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return []
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            return []
        strings.append(blob[offset:offset + length])
        offset += length
    return strings


def host_name_problem(text: Any, *, allow_wildcard: bool = False, min_labels: int = 2) -> str | None:
    """Why ``text`` is not a host-style domain name (letters, digits, '-'), or None."""
    if not isinstance(text, str) or not text:
        return "expected a domain name"
    name = zone_name(text)
    labels = name.split(".")
    if allow_wildcard and labels[0] == "*":
        labels = labels[1:]
    elif "*" in name:
        return f"{text!r}: a wildcard is only allowed as the leftmost label of a certificate name" \
            if allow_wildcard else f"{text!r}: wildcards are not allowed here"
    if len(labels) < min_labels:
        return f"{text!r} needs at least {min_labels} labels"
    for label in labels:
        if not _HOST_LABEL.match(label):
            return f"{text!r}: label {label!r} is not a host name label (a-z, 0-9, '-')"
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as error:
        return f"{text!r}: {error}"
    return None


def address_problem(text: Any) -> str | None:
    """Why ``text`` is not a single IPv4 or IPv6 address, or None."""
    if not isinstance(text, str) or "/" in text:
        return f"{text!r} is not an IP address (give one address, without a prefix length)"
    try:
        netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return f"{text!r} is not an IP address"
    return None


# --------------------------------------------------------------------------- schema


_VALIDATORS: dict[str, Any] = {}


def _require_libraries() -> None:
    missing = missing_libraries()
    if missing:
        raise InvalidInput(f"the tenant registry needs the Python libraries: {', '.join(missing)}")


def _tenant_validator() -> Any:
    if "tenant" not in _VALIDATORS:
        jsonschema.Draft202012Validator.check_schema(TENANT_SCHEMA)
        _VALIDATORS["tenant"] = jsonschema.Draft202012Validator(TENANT_SCHEMA)
    return _VALIDATORS["tenant"]


def _config_validator() -> Any:
    if "config" not in _VALIDATORS:
        _VALIDATORS["config"] = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    return _VALIDATORS["config"]


def _schema_error_path(error: Any) -> list:
    """Where a schema error is; for 'required' and unknown fields, the path of the field itself."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        if missing:
            path.append(missing[0])
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {})
        unknown = [key for key in error.instance if key not in allowed]
        if unknown:
            path.append(unknown[0])
    return path


def _describe(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)


def _schema_reason(error: Any) -> str:
    """A reason a person can act on, for one JSON Schema error."""
    custom = error.schema.get("x-error") if isinstance(error.schema, Mapping) else None
    validator = error.validator
    if validator == "required":
        return "is required"
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"unknown field (allowed here: {', '.join(allowed)})" if allowed else "unknown field"
    if validator in ("pattern", "minItems") and custom:
        return f"{error.instance!r} {custom}" if validator == "pattern" else custom
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        wanted = {"object": "a mapping", "array": "a list", "string": "a string", "boolean": "true or false",
                  "integer": "an integer"}.get(expected, expected)
        return f"expected {wanted}, got {_describe(error.instance)} ({error.instance!r})"
    if validator == "enum":
        return f"{error.instance!r} is not one of: {', '.join(map(str, error.validator_value))}"
    if validator == "minItems":
        return f"needs at least {error.validator_value} item(s)"
    if validator == "minLength":
        return "must not be empty"
    if validator in ("minimum", "maximum"):
        return f"{error.instance!r} is out of range ({validator} {error.validator_value})"
    if validator == "const":
        return f"must be {error.validator_value!r}"
    return error.message


# --------------------------------------------------------------------------- one tenant


@dataclass
class TenantCheck:
    """The outcome of checking one tenant file: the normalised record (when it could be built),
    the problems, and the names it claims (for the checks across tenants)."""

    name: str
    file: str
    record: dict[str, Any] | None
    problems: list[InvalidInput]
    claims: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


class _TenantChecker:
    """Walks one tenant document once, collecting problems and building the normalised record."""

    def __init__(self, document: Any, *, file: str, stem: str, config: RegistryConfig,
                 today: datetime.date) -> None:
        self.document = document
        self.file = file
        self.display_file = display_path(file)
        self.stem = stem
        self.config = config
        self.today = today
        # the file stem is the tenant's identity; a different ``name`` inside is one more problem
        self.name = stem
        self.problems: list[InvalidInput] = []
        self.claims: dict[str, list[tuple[str, str]]] = {"zone": [], "domain": [], "vm_fqdn": []}
        self._reported_paths: set[str] = set()
        self._schema_paths: list[str] = []

    # -- helpers
    def problem(self, path: tuple | list | str, reason: str) -> None:
        text = path if isinstance(path, str) else field_path(path)
        self.problems.append(InvalidInput(reason, file=self.display_file, tenant=self.name, field=text or None))

    def items(self, *path: str) -> Iterator[tuple[int, dict]]:
        """The mappings of a list in the document, with their index; skips what the schema refused."""
        node: Any = self.document
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, Mapping):
                    yield index, item

    def section(self, key: str) -> Mapping:
        value = self.document.get(key)
        return value if isinstance(value, Mapping) else {}

    # -- the walk
    def check(self) -> TenantCheck:
        if not isinstance(self.document, Mapping):
            self.problem((), f"a tenant file holds one mapping (the tenant), got {_describe(self.document)}")
            return TenantCheck(self.name, self.file, None, self.problems, self.claims)
        self._check_charter_vms()
        self._check_schema()
        self._check_identity()
        self._check_approval()
        members = self._members()
        offboarding = self._offboarding()
        services = self._services()
        record = None
        if not self.problems:
            record = {
                "name": self.document["name"],
                "display_name": self.document["display_name"],
                "kind": self.document["kind"],
                "status": self.document["status"],
                "approval": self._approval(),
                "members": members,
                "services": services,
            }
            if offboarding is not None:
                record["offboarding"] = offboarding
                # Every VM of a tenant being offboarded leaves as a decommissioned VM does (its own
                # decommissioned_on kept when it declares one): out of the groups the site converges,
                # backs up and monitors, for playbooks/decommission.yml (run by offboard.yml) to reach.
                for vm in services["vms"]:
                    if vm.get("state") != "decommissioned":
                        vm.update(state="decommissioned", decommissioned_on=offboarding["started_on"])
        return TenantCheck(self.name, self.file, record, self.problems, self.claims)

    def _check_schema(self) -> None:
        for error in sorted(_tenant_validator().iter_errors(self.document), key=lambda e: list(map(str, e.path))):
            path = field_path(_schema_error_path(error))
            if any(path == seen or path.startswith(seen + ".") for seen in self._reported_paths):
                continue
            self._schema_paths.append(path)
            self.problem(path, _schema_reason(error))

    def _check_charter_vms(self) -> None:
        """Backups and monitoring are not optional: refuse every way of opting out, citing the charter."""
        for index, vm in self.items("services", "vms"):
            for key in ("backup", "monitoring"):
                path = field_path(("services", "vms", index, key))
                value = vm.get(key, {} if key == "monitoring" else None)
                opted_out = (
                    value is None or value is False
                    or (isinstance(value, Mapping)
                        and (value.get("enabled", True) is not True or (key == "backup" and value.get("paths") == [])))
                )
                if opted_out:
                    what = "missing" if key not in vm else f"{key}: {value!r}"
                    self.problem(path, f"{what} is refused: {CHARTER_BACKUP_MONITORING}")
                    self._reported_paths.add(path)

    def _check_identity(self) -> None:
        name = self.document.get("name")
        if isinstance(name, str) and name != self.stem:
            self.problem("name", f"{name!r} must equal the file name stem {self.stem!r} "
                                 f"(rename the file or the tenant)")

    def _check_approval(self) -> None:
        kind = self.document.get("kind")
        approval = self.section("approval")
        body = approval.get("body")
        if kind in BODY_FOR_KIND and body in APPROVAL_BODIES and body != BODY_FOR_KIND[kind]:
            self.problem("approval.body", f"{body!r} does not match kind {kind!r}: {BODY_WORDING[kind]}")
        date_text = approval.get("date")
        if isinstance(date_text, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", date_text):
            try:
                approved_on = datetime.date.fromisoformat(date_text)
            except ValueError:
                self.problem("approval.date", f"{date_text!r} is not a valid date")
            else:
                if approved_on > self.today:
                    self.problem("approval.date", f"{date_text!r} is in the future (today is {self.today}): "
                                                  "services start after the approval, not before")

    def _offboarding(self) -> dict[str, Any] | None:
        """``offboarding`` (``playbooks/offboard.yml``): only on a suspended tenant, ``started_on`` a real
        date not in the future; normalised with ``domains`` (default expire). None when not declared."""
        if "offboarding" not in self.document:
            return None
        offboarding = self.section("offboarding")
        status = self.document.get("status")
        if status != OFFBOARDING_STATUS and isinstance(status, str):
            self.problem("offboarding", f"is only for a suspended tenant, and this tenant's status is {status!r}: "
                                        f"set status: {OFFBOARDING_STATUS} while it is offboarded (a retired tenant "
                                        "declares no services; retire it, and remove offboarding, once "
                                        "playbooks/offboard.yml has run)")
        date_text = offboarding.get("started_on")
        if isinstance(date_text, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", date_text):
            try:
                started_on = datetime.date.fromisoformat(date_text)
            except ValueError:
                self.problem("offboarding.started_on", f"{date_text!r} is not a valid date")
            else:
                if started_on > self.today:
                    self.problem("offboarding.started_on",
                                 f"{date_text!r} is in the future (today is {self.today}): offboarding is declared "
                                 "on the day it starts, not ahead of it")
        normal = {"started_on": date_text, "domains": offboarding.get("domains", DEFAULT_OFFBOARDING_DOMAINS)}
        if "reason" in offboarding:
            normal["reason"] = offboarding["reason"]
        return normal

    def _approval(self) -> dict[str, Any]:
        approval = dict(self.section("approval"))
        return {key: approval[key] for key in ("body", "date", "reference") if key in approval}

    def _members(self) -> list[dict[str, Any]]:
        members, seen_emails = [], {}
        for index, member in self.items("members"):
            email = member.get("email")
            if isinstance(email, str):
                key = email.lower()
                if key in seen_emails:
                    self.problem(("members", index, "email"),
                                 f"{email!r} is already listed as members[{seen_emails[key]}]")
                seen_emails.setdefault(key, index)
            keys = member.get("ssh_keys") or []
            normal_keys = []
            for key_index, line in enumerate(keys if isinstance(keys, list) else []):
                reason = ssh_public_key_problem(line)
                if reason:
                    self.problem(("members", index, "ssh_keys", key_index), reason)
                else:
                    normal_keys.append(" ".join(line.split()))
            members.append({"name": member.get("name"), "email": email, "ssh_keys": normal_keys,
                            "notify": member.get("notify", True)})
        return members

    def _services(self) -> dict[str, Any]:
        services = self.section("services")
        status = self.document.get("status")
        declared = [key for key in ("domains", "zones", "certificates", "vms", "apps") if services.get(key)]
        if status == "retired" and declared:
            self.problem("services", f"a retired tenant receives no services, but it declares {', '.join(declared)}: "
                                     "the charter offers services only to approved WGs and recognised COs; "
                                     "remove them (after the hand-over) or change the status")
        domains = self._domains()
        zones = self._zones(domains)
        certificates = self._certificates(domains, zones)
        vms = self._vms()
        apps = self._apps(domains, zones, vms, certificates)
        monitoring = {"notify_liaisons": bool(services.get("monitoring", {}).get("notify_liaisons", False))}
        return {"domains": domains, "zones": zones, "certificates": certificates, "vms": vms, "apps": apps,
                "monitoring": monitoring}

    def _unique(self, kind: str, seen: dict[str, int], value: str, path: tuple) -> None:
        if value in seen:
            self.problem(path, f"{kind} {value!r} is already declared at {field_path(path[:-2])}[{seen[value]}]")
        seen.setdefault(value, path[-2])

    def _domains(self) -> list[dict[str, Any]]:
        domains, seen = [], {}
        for index, domain in self.items("services", "domains"):
            path = ("services", "domains", index, "name")
            name = domain.get("name")
            reason = host_name_problem(name)
            if reason:
                self.problem(path, reason)
                continue
            name = zone_name(name)
            self._unique("domain", seen, name, path)
            self.claims["domain"].append((name, field_path(path)))
            if domain.get("register") and domain.get("registrar") != "psf":
                self.problem(("services", "domains", index, "register"),
                             "register: true needs registrar: psf (the Infra-WG registers only what it holds)")
            domains.append({"name": name, "registrar": domain.get("registrar"),
                            "auto_renew": domain.get("auto_renew", True), "register": domain.get("register", False)})
        return domains

    def _zones(self, domains: list[dict]) -> list[dict[str, Any]]:
        domain_names = [domain["name"] for domain in domains]
        zones, seen = [], {}
        for index, zone in self.items("services", "zones"):
            path = ("services", "zones", index)
            name = zone.get("name")
            reason = host_name_problem(name)
            if reason:
                self.problem((*path, "name"), reason)
                continue
            name = zone_name(name)
            self._unique("zone", seen, name, (*path, "name"))
            self.claims["zone"].append((name, field_path((*path, "name"))))
            if not any(is_within(name, domain) for domain in domain_names):
                self.problem((*path, "name"), f"zone {name!r} is not under one of the tenant's domains "
                                              f"({', '.join(domain_names) or 'none declared'}); "
                                              "declare the domain in services.domains")
            normal = {"name": name, "dnssec": zone.get("dnssec", True), "managed": zone.get("managed", "declared"),
                      "ignore": list(zone.get("ignore") or []), "source_file": os.path.abspath(self.file)}
            where = Where(self.name, self.display_file)
            for ignore_index, ignored in enumerate(normal["ignore"]):
                at = field_path((*path, "ignore", ignore_index))
                if not self._schema_refused(at):
                    self._judge(parse_owner, ignored, dns.name.from_text(name), where, at)
            if "records" in zone and "zone_file" in zone:
                self.problem(path, "give either 'records' or 'zone_file', not both")
            elif "zone_file" in zone:
                normal["zone_file"] = self._zone_file(zone.get("zone_file"), name, (*path, "zone_file"))
            else:
                normal["records"] = self._records(zone.get("records") or [], name, path)
            zones.append(normal)
        return zones

    def _schema_refused(self, at: str) -> bool:
        """True when the schema already reported a problem at ``at`` or inside it."""
        return any(path == at or path.startswith((at + ".", at + "[")) for path in self._schema_paths)

    def _judge(self, parse: Any, *arguments: Any, **keywords: Any) -> None:
        """Run one of the DNS code's parsers; its refusal (file, tenant, field) is one more problem."""
        try:
            parse(*arguments, **keywords)
        except InvalidInput as error:
            self.problems.append(error)

    def _zone_file(self, relative: Any, zone: str, path: tuple) -> str | None:
        """The zone file's absolute path; its records are read and judged as ``dns_zone`` will."""
        if not isinstance(relative, str) or not relative:
            return None
        absolute = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.file)), relative))
        if not os.path.isfile(absolute):
            self.problem(path, f"zone file {relative!r} does not exist (looked for {display_path(absolute)}; "
                               "the path is relative to the tenant file)")
            return absolute
        try:
            with open(absolute, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            self.problem(path, f"zone file {relative!r} cannot be read: {error}")
            return absolute
        self._judge(parse_zone_file, text, zone, tenant=self.name, source_file=self.display_file,
                    field=field_path(path), zone_file_name=display_path(absolute))
        return absolute

    def _records(self, records: list, zone: str, zone_path: tuple) -> list[dict[str, Any]]:
        """The records as declared (types upper-cased), judged as a whole by ``parse_records``: names,
        types, TTLs, record data, duplicates, CNAME rules and DNS size limits (the first problem of
        a zone is reported; the schema's problems are not repeated)."""
        at = field_path((*zone_path, "records"))
        if not self._schema_refused(at):
            self._judge(parse_records, records, zone, tenant=self.name, source_file=self.display_file, field=at)
        normal = []
        for record in records:
            if not isinstance(record, Mapping):
                continue
            rtype = str(record.get("type", "")).upper()
            entry = {"name": record.get("name"), "type": rtype,
                     "values": [str(value) for value in record.get("values") or []]}
            if "ttl" in record:
                entry["ttl"] = record["ttl"]
            normal.append(entry)
        return normal

    def _owned_names(self, domains: list[dict], zones: list[dict]) -> list[str]:
        return [zone["name"] for zone in zones] + [domain["name"] for domain in domains]

    def _check_owned(self, name: str, owned: list[str], path: tuple, what: str) -> None:
        bare = name[2:] if name.startswith("*.") else name
        if not any(is_within(bare, parent) for parent in owned):
            self.problem(path, f"{what} {name!r} is not in one of the tenant's zones or domains "
                               f"({', '.join(owned) or 'none declared'})")

    def _certificates(self, domains: list[dict], zones: list[dict]) -> list[dict[str, Any]]:
        owned = self._owned_names(domains, zones)
        certificates, seen = [], {}
        for index, certificate in self.items("services", "certificates"):
            path = ("services", "certificates", index)
            label = certificate.get("name")
            if isinstance(label, str):
                self._unique("certificate", seen, label, (*path, "name"))
            names = []
            for name_index, name in enumerate(certificate.get("names") or []):
                reason = host_name_problem(name, allow_wildcard=True)
                if reason:
                    self.problem((*path, "names", name_index), reason)
                    continue
                name = zone_name(name)
                self._check_owned(name, owned, (*path, "names", name_index), "certificate name")
                names.append(name)
            certificates.append({"name": label, "names": names,
                                 "key_type": certificate.get("key_type", DEFAULT_KEY_TYPE)})
        return certificates

    def _vms(self) -> list[dict[str, Any]]:
        presets = self.config.size_presets
        quota = self.config.quota_for(self.name)
        quota_source = f"quotas.tenants.{self.name}" if self.name in self.config.tenant_quotas else "quotas.default"
        vms, seen = [], {}
        listed = list(self.items("services", "vms"))
        # A decommissioned VM is on its way out (playbooks/decommission.yml): it does not count, so
        # that a tenant can declare the VM replacing it at once.
        counted = [vm for _index, vm in listed if vm.get("state", DEFAULT_VM_STATE) != "decommissioned"
                   and "offboarding" not in self.document]
        if len(counted) > quota.max_vms:
            note = "; decommissioned VMs do not count" if len(counted) < len(listed) else ""
            self.problem("services.vms", f"{len(counted)} VMs exceed the tenant's quota of {quota.max_vms} "
                                         f"({quota_source}.max_vms in {self.config.source}{note})")
        for index, vm in listed:
            path = ("services", "vms", index)
            name = vm.get("name")
            if isinstance(name, str):
                self._unique("VM", seen, name, (*path, "name"))
            size = vm.get("size")
            preset = presets.get(size) if isinstance(size, str) else None
            if isinstance(size, str) and preset is None:
                self.problem((*path, "size"), f"{size!r} is not a size preset ({', '.join(presets)})")
            elif preset is not None and size not in quota.sizes:
                self.problem((*path, "size"), f"size {size!r} is not allowed by the tenant's quota "
                                              f"(allowed: {', '.join(quota.sizes) or 'none'}; "
                                              f"{quota_source}.sizes in {self.config.source})")
            fqdn = vm.get("fqdn")
            if fqdn is not None:
                reason = host_name_problem(fqdn)
                if reason:
                    self.problem((*path, "fqdn"), reason)
                fqdn = zone_name(str(fqdn))
            else:
                fqdn = f"{name}.{self.name}.{self.config.vm_domain}"
            self.claims["vm_fqdn"].append((fqdn, field_path((*path, "fqdn" if "fqdn" in vm else "name"))))
            normal: dict[str, Any] = {"name": name, "fqdn": fqdn, "size": size, **(preset or {})}
            if "address" in vm:
                reason = address_problem(vm["address"])
                if reason:
                    self.problem((*path, "address"), reason)
                normal["address"] = vm["address"]
            backup = vm.get("backup") if isinstance(vm.get("backup"), Mapping) else {}
            monitoring = vm.get("monitoring") if isinstance(vm.get("monitoring"), Mapping) else {}
            normal["backup"] = {"paths": list(backup.get("paths") or []), "exclude": list(backup.get("exclude") or [])}
            normal["monitoring"] = {"http_checks": list(monitoring.get("http_checks") or [])}
            normal.update(self._vm_state(vm, path))
            vms.append(normal)
        return vms

    def _vm_state(self, vm: Mapping, path: tuple) -> dict[str, Any]:
        """``state`` (default active) and, for a decommissioned VM, ``decommissioned_on``: the day it was
        declared decommissioned, required then (the start of its backup retention), refused otherwise."""
        state = vm.get("state", DEFAULT_VM_STATE)
        date_text = vm.get("decommissioned_on")
        if state != "decommissioned":
            if date_text is not None:
                self.problem((*path, "decommissioned_on"),
                             f"is only for a decommissioned VM, and this VM's state is {state!r}: "
                             "set state: decommissioned too, or remove decommissioned_on")
            return {"state": state}
        if date_text is None:
            self.problem((*path, "decommissioned_on"),
                         "is required with state: decommissioned: the day the VM was declared decommissioned "
                         "(YYYY-MM-DD), from which its last backups are kept (docs/vms.md, \"Decommissioning\")")
        elif isinstance(date_text, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", date_text):
            try:
                decommissioned_on = datetime.date.fromisoformat(date_text)
            except ValueError:
                self.problem((*path, "decommissioned_on"), f"{date_text!r} is not a valid date")
            else:
                if decommissioned_on > self.today:
                    self.problem((*path, "decommissioned_on"),
                                 f"{date_text!r} is in the future (today is {self.today}): a VM is declared "
                                 "decommissioned on the day it leaves, not ahead of it")
        return {"state": state, "decommissioned_on": date_text}

    def _apps(self, domains: list[dict], zones: list[dict], vms: list[dict],
              certificates: list[dict]) -> list[dict[str, Any]]:
        owned = self._owned_names(domains, zones)
        vm_names = [vm["name"] for vm in vms]
        decommissioned = {vm["name"] for vm in vms if vm.get("state") == "decommissioned"}
        certificate_names = [certificate["name"] for certificate in certificates]
        apps, seen, ports = [], {}, {}
        for index, app in self.items("services", "apps"):
            path = ("services", "apps", index)
            name = app.get("name")
            if isinstance(name, str):
                self._unique("app", seen, name, (*path, "name"))
            vm = app.get("vm")
            if isinstance(vm, str) and vm not in vm_names:
                self.problem((*path, "vm"), f"{vm!r} is not one of the tenant's VMs ({', '.join(vm_names) or 'none'})")
            elif isinstance(vm, str) and vm in decommissioned:
                self.problem((*path, "vm"), f"VM {vm!r} is decommissioned: move the app to another VM of the tenant "
                                            "or remove it before the VM leaves")
            port = app.get("port")
            if isinstance(vm, str) and isinstance(port, int):
                if (vm, port) in ports:
                    self.problem((*path, "port"),
                                 f"port {port} on VM {vm!r} is already used by app {ports[(vm, port)]!r}")
                ports.setdefault((vm, port), name)
            names = []
            for name_index, served in enumerate(app.get("names") or []):
                reason = host_name_problem(served)
                if reason:
                    self.problem((*path, "names", name_index), reason)
                    continue
                served = zone_name(served)
                self._check_owned(served, owned, (*path, "names", name_index), "app name")
                names.append(served)
            certificate = app.get("certificate")
            if isinstance(certificate, str) and certificate not in certificate_names:
                self.problem((*path, "certificate"), f"{certificate!r} is not one of the tenant's certificates "
                                                     f"({', '.join(certificate_names) or 'none'})")
            normal = {"name": name, "description": app.get("description", ""), "vm": vm, "names": names, "port": port}
            if certificate is not None:
                normal["certificate"] = certificate
            for optional in ("command", "health_path", "packages"):
                if optional in app:
                    normal[optional] = app[optional]
            apps.append(normal)
        return apps


def check_tenant(document: Any, *, file: str, config: RegistryConfig,
                 today: datetime.date | None = None) -> TenantCheck:
    """Check one parsed tenant document (pure: reads nothing but a zone file's existence)."""
    _require_libraries()
    stem = os.path.splitext(os.path.basename(file))[0]
    return _TenantChecker(document, file=file, stem=stem, config=config, today=today or today_utc()).check()


def today_utc() -> datetime.date:
    """The day the checks compare dates with (UTC)."""
    return datetime.datetime.now(datetime.UTC).date()


# --------------------------------------------------------------------------- across tenants


def cross_tenant_problems(checks: list[TenantCheck], config: RegistryConfig) -> list[InvalidInput]:
    """Names claimed by two tenants (zones, domains, VM FQDNs) and quotas for unknown tenants."""
    problems = []
    words = {"zone": "zone", "domain": "domain", "vm_fqdn": "VM FQDN"}
    for kind, word in words.items():
        first_claim: dict[str, TenantCheck] = {}
        for check in sorted(checks, key=lambda check: check.name):
            for name, path in check.claims.get(kind, []):
                owner = first_claim.setdefault(name, check)
                if owner is not check:
                    problems.append(InvalidInput(
                        f"{word} {name!r} is also claimed by tenant {owner.name!r} ({display_path(owner.file)}); "
                        "a name belongs to one tenant", file=display_path(check.file), tenant=check.name, field=path))
    known = {check.name for check in checks}
    for name in config.tenant_quotas:
        if name not in known:
            problems.append(InvalidInput(f"there is no tenant named {name!r} in the registry",
                                         file=config.source, field=f"quotas.tenants.{name}"))
    return problems
