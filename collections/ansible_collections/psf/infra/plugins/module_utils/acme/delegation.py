# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names to validate, their ``_acme-challenge`` records, and the acme-dns style delegation.

When a tenant's zone is not hosted by us, the tenant creates ONE record per validated name, once:

    _acme-challenge.<name>.  CNAME  <label>.<tenant>.<psf acme zone>.

and we answer DNS-01 by publishing the TXT record at the target, in a zone we host. The label is
derived from the name (readable, plus a short hash so that two names never share a target), so the
record never changes between renewals.
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name

CHALLENGE_LABEL = "_acme-challenge"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _is_hostname(name: str) -> bool:
    return len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def normalize_names(names: list[str], *, field: str = "names") -> list[str]:
    """Lower-case names without a trailing dot, duplicates removed, order kept; bad ones refused."""
    if not names:
        raise InvalidInput("at least one name is required", field=field)
    result: list[str] = []
    for index, raw in enumerate(names):
        name = zone_name(str(raw))
        base = name[2:] if name.startswith("*.") else name
        if not _is_hostname(base) or "." not in base:
            raise InvalidInput(f"{raw!r} is not a fully qualified host name (a wildcard only as '*.' "
                               f"in front)", field=f"{field}[{index}]")
        if name not in result:
            result.append(name)
    return result


def challenge_base(name: str) -> str:
    """The name whose ``_acme-challenge`` record validates ``name`` (a wildcard validates at its base)."""
    return name[2:] if name.startswith("*.") else name


def challenge_name(name: str) -> str:
    """The absolute owner name of the DNS-01 TXT record for ``name``."""
    return f"{CHALLENGE_LABEL}.{challenge_base(name)}."


def delegation_label(name: str) -> str:
    """One DNS label per challenge base name: readable, with a hash so that no two names collide."""
    base = challenge_base(name)
    digest = hashlib.sha256(base.encode("ascii")).hexdigest()[:8]
    readable = base.replace(".", "-")[:54].rstrip("-")
    return f"{readable}-{digest}"


def delegation_target(name: str, *, tenant: str, acme_zone: str) -> str:
    """The absolute name in our acme zone where the TXT record for ``name`` is published."""
    tenant_label = tenant.lower().replace("_", "-")
    if not _LABEL.match(tenant_label):
        raise InvalidInput(f"{tenant!r} cannot be used as a DNS label", field="tenant")
    zone = zone_name(acme_zone)
    if not _is_hostname(zone):
        raise InvalidInput(f"{acme_zone!r} is not a zone name", field="acme_zone")
    target = f"{delegation_label(name)}.{tenant_label}.{zone}."
    if len(target) > 254:
        raise InvalidInput(f"the delegation target for {name} would be longer than 253 characters",
                           field="acme_zone")
    return target


def delegation_record(name: str, *, tenant: str, acme_zone: str) -> str:
    """The exact record the tenant must create in their own zone, in zone-file syntax."""
    return f"{challenge_name(name)} CNAME {delegation_target(name, tenant=tenant, acme_zone=acme_zone)}"
