# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which keys of a signed zone belong at its parent as DS: one rule for every place that asks.

The registrar run (``playbooks/domains.yml``), zones inside zones (``playbooks/dns.yml``, filter
``zone_delegations``) and the report for tenants who keep their own registrar
(``module_utils/registrar/instructions.py``) all take the keys from :func:`parent_keys`:

- the zone's CDNSKEY set when it publishes one (RFC 7344: BIND moves it along a rollover, from the
  old key to the new one), without the RFC 8078 delete record (``0 3 0 AA==``, which names no key:
  only the delete record means "no DS");
- before BIND publishes a CDNSKEY set (a newly signed zone), the zone's one DNSKEY with the SEP flag;
- otherwise (several SEP keys and no CDNSKEY set, or nothing read) None: undetermined, the DS at
  the parent is left as it is.

Never the whole DNSKEY set: a DS for every published key keeps the old key's DS, BIND removes the
old key only once that DS is withdrawn, and a rollover would never end.

Pure functions over record data as text (``"257 3 13 <base64>"``), as ``psf.infra.dns_zone_info``
returns it; no dnspython, so that filters import it on any control node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: RFC 8078: the CDNSKEY (and CDS) that asks the parent to delete the DS; it names no key
DELETE_CDNSKEY = "0 3 0 AA=="


def _normal(text: Any) -> str:
    return " ".join(str(text).split())


def is_delete_record(text: Any) -> bool:
    """Is this CDNSKEY record data RFC 8078's delete request (flags 0, algorithm 0)?"""
    fields = _normal(text).split(" ")
    return len(fields) >= 3 and fields[0] == "0" and fields[2] == "0"


def is_sep(text: Any) -> bool:
    """Does this DNSKEY record data carry the SEP flag (a KSK or a CSK)?"""
    flags = _normal(text).split(" ", 1)[0]
    return flags.isdigit() and bool(int(flags) & 1)


def parent_keys(dnskeys: Sequence[Any] | None, cdnskeys: Sequence[Any] | None) -> list[str] | None:
    """The record data of the keys whose DS belongs at the parent (see the module's text), or None."""
    if cdnskeys is not None:
        return [_normal(value) for value in cdnskeys if not is_delete_record(value)]
    sep = [_normal(value) for value in dnskeys or () if is_sep(value)]
    return sep if len(sep) == 1 else None


def apex_keys(zone_info: Any) -> tuple[list[str], list[str] | None] | None:
    """(DNSKEY values, CDNSKEY values or None when the zone publishes none) at the apex of one
    ``psf.infra.dns_zone_info`` result (``include_dnssec``); None for a failed, skipped or unread result."""
    if not isinstance(zone_info, Mapping) or zone_info.get("failed") or zone_info.get("skipped") \
            or not isinstance(zone_info.get("records"), list):
        return None
    apex = [record for record in zone_info["records"]
            if isinstance(record, Mapping) and str(record.get("name", "")).strip() == "@"]

    def values(rdtype: str) -> list[str] | None:
        found = [record for record in apex if str(record.get("type", "")).upper() == rdtype]
        return [_normal(value) for value in found[0].get("values") or []] if found else None

    return values("DNSKEY") or [], values("CDNSKEY")


def zone_parent_keys(zone_info: Any) -> list[str] | None:
    """:func:`parent_keys` of one ``psf.infra.dns_zone_info`` result; None when it holds no keys."""
    keys = apex_keys(zone_info)
    return parent_keys(*keys) if keys is not None else None
