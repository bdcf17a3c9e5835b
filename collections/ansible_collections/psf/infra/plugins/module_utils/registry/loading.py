# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place a tenant registry is read: ``load_registry`` reads every tenant file (and the zone
files they name), judges them with ``checks.py`` and returns a valid ``Registry`` or raises one
``InvalidRegistry`` listing every problem of every file. Nothing partial is ever returned.

The inventory plugin, ``psf-infra validate`` (through ``ansible-inventory``) and the
``tenant_registry_info`` module all call in here. No Ansible imports.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registry import cache, checks, views
from ansible_collections.psf.infra.plugins.module_utils.registry.checks import (
    InvalidRegistry,
    RegistryConfig,
    TenantCheck,
    check_tenant,
    cross_tenant_problems,
    display_path,
    today_utc,
)
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import HOSTED_STATUSES

try:
    import yaml

    YAML_IMPORT_ERROR: ImportError | None = None
except ImportError as import_error:  # pragma: no cover - reported by missing_libraries()
    yaml = None
    YAML_IMPORT_ERROR = import_error

TENANT_FILE_SUFFIXES = (".yml", ".yaml")


def missing_libraries() -> list[str]:
    """Names of the Python libraries reading a registry needs and cannot import."""
    return (["PyYAML"] if YAML_IMPORT_ERROR is not None else []) + checks.missing_libraries()


@dataclass(frozen=True)
class Registry:
    """A valid registry: normalised tenant records by name (sorted), and where they came from."""

    environment: str
    directory: str
    tenants: Mapping[str, dict[str, Any]]
    files: Mapping[str, str]

    def hosted_vms(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for tenant in self.tenants.values():
            if tenant["status"] in HOSTED_STATUSES:
                for vm in tenant["services"]["vms"]:
                    yield tenant, vm

    def summary(self) -> dict[str, Any]:
        tenants = list(self.tenants.values())

        def count(key: str) -> int:
            return sum(len(tenant["services"][key]) for tenant in tenants)

        by_status: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for tenant in tenants:
            by_status[tenant["status"]] = by_status.get(tenant["status"], 0) + 1
            by_kind[tenant["kind"]] = by_kind.get(tenant["kind"], 0) + 1
        return {
            "environment": self.environment,
            "tenants": len(tenants),
            "by_status": by_status,
            "by_kind": by_kind,
            "members": sum(len(tenant["members"]) for tenant in tenants),
            "domains": count("domains"),
            "zones": count("zones"),
            "certificates": count("certificates"),
            "vms": count("vms"),
            "apps": count("apps"),
            "hosts": [host.name for host in views.inventory_hosts(self)],
        }


def tenant_files(directory: str) -> list[str]:
    """The tenant files of a registry directory (not recursive: zone files live in subdirectories)."""
    return sorted(
        os.path.join(directory, entry)
        for entry in os.listdir(directory)
        if entry.endswith(TENANT_FILE_SUFFIXES) and not entry.startswith(".")
        and os.path.isfile(os.path.join(directory, entry))
    )


def parse_tenant_yaml(text: str, *, file: str) -> Any:
    """Parse a tenant file; dates stay strings and a duplicate key is an error, not a silent overwrite."""
    try:
        return yaml.load(text, Loader=_tenant_yaml_loader())
    except yaml.YAMLError as error:
        raise InvalidInput(f"is not valid YAML: {error}", file=display_path(file)) from error


def load_registry(directory: str, config: RegistryConfig, *, today: datetime.date | None = None,
                  cache_dir: str | None = None) -> Registry:
    """Read, check and normalise every tenant file in ``directory``.

    Raises ``InvalidRegistry`` (an ``InvalidInput``) listing every problem of every file when
    anything is wrong; returns nothing partial. With ``cache_dir``, a registry whose files, zone
    files, settings, day and code are byte for byte those of a valid registry judged before is
    taken from the cache (``cache.py``) instead of being parsed and judged again.
    """
    missing = missing_libraries()
    if missing:
        raise InvalidInput(f"the tenant registry needs the Python libraries: {', '.join(missing)}")
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise InvalidInput(f"the tenant registry directory {display_path(directory)} does not exist")
    today = today or today_utc()
    problems: list[InvalidInput] = []
    contents: list[tuple[str, bytes | None]] = []
    for file in tenant_files(directory):
        try:
            with open(file, "rb") as handle:
                contents.append((file, handle.read()))
        except OSError as error:
            problems.append(InvalidInput(f"cannot be read: {error}", file=display_path(file)))
            contents.append((file, None))
    key = None
    if cache_dir and not problems:
        key = cache.entry_key(directory, ((os.path.basename(file), data) for file, data in contents), config, today)
        cached = cache.lookup(cache_dir, key)
        if cached is not None:
            return Registry(environment=config.environment, directory=directory,
                            tenants=cached["tenants"], files=cached["files"])
    tenant_checks: list[TenantCheck] = []
    stems: dict[str, str] = {}
    for file, data in contents:
        if data is None:
            continue
        stem = os.path.splitext(os.path.basename(file))[0]
        if stem in stems:
            problems.append(InvalidInput(f"tenant {stem!r} is also defined in {display_path(stems[stem])}",
                                         file=display_path(file)))
            continue
        stems[stem] = file
        try:
            document = parse_tenant_yaml(data.decode("utf-8"), file=file)
        except UnicodeDecodeError as error:
            problems.append(InvalidInput(f"cannot be read: {error}", file=display_path(file)))
            continue
        except InvalidInput as error:
            problems.append(error)
            continue
        check = check_tenant(document, file=file, config=config, today=today)
        tenant_checks.append(check)
        problems.extend(check.problems)
    problems.extend(cross_tenant_problems(tenant_checks, config))
    if problems:
        raise InvalidRegistry(problems, directory=display_path(directory))
    tenants = {check.name: check.record for check in sorted(tenant_checks, key=lambda check: check.name)}
    files = {check.name: check.file for check in tenant_checks}
    if key is not None:
        cache.store(cache_dir, key, tenants, files)
    return Registry(environment=config.environment, directory=directory, tenants=tenants, files=files)


# --------------------------------------------------------------------------- YAML loader


@functools.cache
def _tenant_yaml_loader() -> type:
    """A SafeLoader that keeps dates as strings and refuses duplicate keys.

    libyaml's parser is used when PyYAML was built with it: about 10 times faster on a big registry.
    Built on first use, so that importing this file needs no PyYAML (Ansible's sanity import test).
    """
    safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def construct_mapping_without_duplicates(loader, node):
        loader.flatten_mapping(node)
        seen: set = set()
        for key_node, _value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}",
                    key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    loader = type("TenantYamlLoader", (safe_loader,), {})
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping_without_duplicates)
    return loader
