# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole of one ``psf.infra.dns_zone`` task, from checked parameters to the task's result.

Two callers run exactly this code: the module (``plugins/modules/dns_zone.py``, shipped to a host the
usual way) and the action plugin of the same name, which runs it inside ``ansible-playbook`` when the
task runs on the controller (``connection: local``). Raises ``PsfInfraError`` on failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.dns.delegation import (
    parse_delegations,
    refuse_declared_inside,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.diff import SafetyPolicy
from ansible_collections.psf.infra.plugins.module_utils.dns.model import to_name
from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (
    secondaries_from_params,
    server_from_params,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import Where
from ansible_collections.psf.infra.plugins.module_utils.dns.zone import ZoneRequest, declared_rrsets, sync_zone
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput


def read_zone_file(path: str, tenant: str | None) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as err:
        raise InvalidInput(f"cannot read the zone file: {err.strerror}", tenant=tenant, file=path,
                           field="zone_file") from None


def run_dns_zone(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """Converge one zone; ``params`` are the module's options after argument-spec validation."""
    zone_text = read_zone_file(params["zone_file"], params["tenant"]) if params["zone_file"] else None
    desired = declared_rrsets(params["zone"], params["records"], zone_text,
                              default_ttl=params["default_ttl"], tenant=params["tenant"],
                              source_file=params["source_file"] or params["zone_file"])
    delegations = None
    if params.get("delegations") is not None:
        origin = to_name(params["zone"])
        where = Where(params["tenant"], params["source_file"] or params["zone_file"])
        delegations = parse_delegations(params["delegations"], origin, where, params["default_ttl"])
        refuse_declared_inside(delegations, origin, where, records=None if zone_text is not None else params["records"],
                               declared=desired)
    policy = SafetyPolicy(max_update_fraction=params["max_update_percent"] / 100,
                          max_delete_fraction=params["max_delete_percent"] / 100,
                          min_existing=params["safety_min_rrsets"], force=params["force"])
    request = ZoneRequest(params["zone"], desired, params["prune"], params["ignore"], policy,
                          params["tenant"], params["source_file"], params["report_changes"], delegations)
    primary = server_from_params(params)
    primary.role = "primary name server"  # how failures name it: the server option is the primary
    result = sync_zone(primary, request, check_mode=check_mode,
                       secondaries=secondaries_from_params(params),
                       wait_for_secondaries=params["wait_for_secondaries"])
    if diff and result["changed"]:
        result["diff"] = {"prepared": result["plan"]}
    return result


def echoed_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """The task's arguments as echoed in ``invocation``: thousands of records would cost more than the
    DNS work, so they are counted instead. The caller removes no_log values."""
    records = params.get("records")
    return {**params, "records": f"<{len(records)} records>"} if records else dict(params)
