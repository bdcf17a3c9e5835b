# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``delegation_instructions``: what a tenant sets at its own registrar, and the parent's state; a thin
wrapper over ``module_utils/registrar/instructions.py`` (the text the onboarding mail reuses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.dns.parent_keys import apex_keys
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

try:
    from ansible_collections.psf.infra.plugins.module_utils.registrar import instructions as _instructions
except ImportError as error:  # dnspython missing on the control node
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None


def delegation_instructions(domain: Any, nameservers: Any, signed: bool = True, dnskeys: Any = None,
                            parent: Any = None, display_name: str | None = None,
                            cdnskeys: Any = None, zone_info: Any = None) -> dict[str, Any]:
    """``{name, tenant}`` (an entry of tenant_domains) -> the instructions for its registrar.

    ``zone_info``: the zone's ``psf.infra.dns_zone_info`` result (``include_dnssec``), instead of
    ``dnskeys`` and ``cdnskeys``; a failed or skipped one leaves the keys unknown."""
    if IMPORT_ERROR is not None:
        raise AnsibleFilterError(f"delegation_instructions needs dnspython: {IMPORT_ERROR}")
    if zone_info is not None:
        if dnskeys is not None or cdnskeys is not None:
            raise AnsibleFilterError("delegation_instructions: give zone_info, or dnskeys and cdnskeys, not both")
        dnskeys, cdnskeys = apex_keys(zone_info) or (None, None)
    if not isinstance(domain, Mapping) or not isinstance(domain.get("name"), str):
        raise AnsibleFilterError("delegation_instructions: expected a domain entry {name, tenant}, "
                                 f"got {type(domain).__name__}")
    if isinstance(nameservers, str) or not isinstance(nameservers, list | tuple):
        raise AnsibleFilterError("delegation_instructions: nameservers must be a list of host names")
    if parent is not None and not isinstance(parent, Mapping):
        raise AnsibleFilterError("delegation_instructions: parent must be a psf.infra.domain_info result")
    if parent is not None and parent.get("skipped"):
        parent = None
    elif parent is not None and parent.get("failed"):
        parent = {"delegation": None, "problems": [f"the parent could not be asked: {parent.get('msg', 'failed')}"]}
    try:
        return _instructions.instructions(domain["name"], nameservers=list(nameservers), signed=bool(signed),
                                          dnskeys=list(dnskeys) if dnskeys is not None else None,
                                          cdnskeys=list(cdnskeys) if cdnskeys else None,
                                          parent=parent, tenant=domain.get("tenant"), display_name=display_name)
    except PsfInfraError as err:
        raise AnsibleFilterError(f"delegation_instructions: {err}") from None


class FilterModule:
    """What tenants set at their own registrar."""

    def filters(self) -> dict[str, Any]:
        return {"delegation_instructions": delegation_instructions}
