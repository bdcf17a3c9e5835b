# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zone_name``: one spelling of a domain name in templates, a thin wrapper over
``module_utils/registry/names.py`` (the spelling the registry stores names in); ``tenant_hosts``: a
host pattern narrowed to one tenant's inventory group (``module_utils/registry/views.py``)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.registry import names, views


def zone_name(name: Any) -> str:
    """``Packaging.Test.`` -> ``packaging.test``."""
    if not isinstance(name, str):
        raise AnsibleFilterError(f"zone_name: expected a domain name, got {type(name).__name__}")
    return names.zone_name(name)


def tenant_hosts(pattern: Any, scope: str | None = None) -> str:
    """The host pattern ``pattern`` narrowed to the VMs of the tenant ``scope`` (unchanged without one)."""
    if not isinstance(pattern, str) or not pattern:
        raise AnsibleFilterError(f"tenant_hosts: expected a host pattern, got {pattern!r}")
    return views.scoped_hosts(pattern, scope or None)


class FilterModule:
    """One spelling of domain names."""

    def filters(self) -> dict[str, Any]:
        return {"zone_name": zone_name, "tenant_hosts": tenant_hosts}
