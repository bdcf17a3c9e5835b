# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The list forms of ``psf.infra.domain`` and ``psf.infra.domain_info`` (option ``domains``).

Each domain is the single form's work (``domain_task.run_domain`` / ``run_domain_info``) with the
shared options and its own; the domains run in threads (``module_utils/parallel.py``), one provider
object a thread and registrar (its HTTP opener, its request count). Every domain is checked before
any is touched; a domain that fails is reported in its item and by the task's message, after every
other domain ran to its end (docs/registrar.md, "The list form").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.dns.chain import walk_options
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.parallel import (
    Outcome,
    PerThread,
    check_items,
    check_workers,
    failure_message,
    run_items,
)
from ansible_collections.psf.infra.plugins.module_utils.registrar import domain_task
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import DomainState, parse_dnskeys

#: Options of the task that are not a domain's own (the list itself, its threads).
_LIST_OPTIONS = ("domains", "workers", "name")


def _merged(params: Mapping[str, Any], index: int, item: Mapping[str, Any]) -> dict[str, Any]:
    """The single form's options for one item: the shared options, then the item's own (given ones)."""
    merged = {key: value for key, value in params.items() if key not in _LIST_OPTIONS}
    merged.update({key: value for key, value in item.items() if value is not None})
    if not merged.get("provider"):
        raise InvalidInput(f"{item.get('name')}: no provider (give domains[].provider or the task's provider)",
                           tenant=item.get("tenant"), file=item.get("source_file"), field=f"domains[{index}].provider")
    return merged


def _in_item(err: InvalidInput, index: int, item: Mapping[str, Any]) -> InvalidInput:
    """The error of one item's own field, renamed ``domains[i].<field>``, with its tenant and file."""
    field = err.field
    if field and field.split(".", 1)[0].split("[", 1)[0] in item:
        field = f"domains[{index}].{field}"
    return InvalidInput(err.reason, tenant=err.tenant or item.get("tenant"), file=err.file or item.get("source_file"),
                        field=field)


def _check_providers(checked: list[dict[str, Any]]) -> None:
    """Each registrar used, built once here: its own options (a missing token, a bad server) fail
    before any domain is touched, named once, not once a domain."""
    seen: set[str] = set()
    for params in checked:
        if params["provider"] not in seen:
            seen.add(params["provider"])
            domain_task.provider_from_params(params)


def _describe(outcome: Outcome) -> str:
    item = outcome.item
    where = [f"tenant {item['tenant']}" if item.get("tenant") else "", item.get("source_file") or ""]
    where = [part for part in where if part]
    return f"{item.get('name')}" + (f" ({', '.join(where)})" if where else "")


def _finish(outcomes: list[Outcome], *, diff: bool) -> tuple[dict[str, Any], str | None]:
    """The task's result (``changed``, ``domains`` in input order, ``diff`` as a list) and the
    failure message, or None when every domain succeeded."""
    domains, diffs = [], []
    for outcome in outcomes:
        item = outcome.item
        if outcome.failed:
            domains.append({"name": item.get("name"), "tenant": item.get("tenant"),
                            "source_file": item.get("source_file"), "changed": False, **outcome.error_fields()})
            continue
        result = dict(outcome.result or {})
        if "diff" in result:
            diffs.append(result.pop("diff"))
        domains.append({"name": item.get("name"), **result})
    result = {"changed": any(domain.get("changed") for domain in domains), "domains": domains}
    if diff:
        result["diff"] = diffs
    message = failure_message(outcomes, "domains", _describe) if any(o.failed for o in outcomes) else None
    return result, message


def run_domains(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> tuple[dict[str, Any], str | None]:
    """``psf.infra.domain`` with ``domains``: every domain converged, in threads."""
    workers = check_workers(params.get("workers"))
    items = params["domains"]

    def check(index: int, item: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        merged = _merged(params, index, item)
        try:
            return merged, domain_task.desired_from_params(merged)
        except InvalidInput as err:
            raise _in_item(err, index, item) from None

    checked = check_items(items, check)
    _check_providers([merged for merged, _desired in checked])
    providers = PerThread()

    def work(index: int, _item: Any) -> dict[str, Any]:
        merged, desired = checked[index]
        provider = providers.get(merged["provider"], lambda: domain_task.provider_from_params(merged))
        return domain_task.run_domain(merged, check_mode=check_mode, diff=diff, provider=provider, desired=desired)

    return _finish(run_items(items, work, workers=workers), diff=diff)


def run_domains_info(params: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``psf.infra.domain_info`` with ``domains``: every domain read, in threads."""
    workers = check_workers(params.get("workers"))
    items = params["domains"]
    walk_options(params)  # root_servers, nameserver_addresses and timeout: once, not a domain

    def check(index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        merged = _merged(params, index, item)
        try:
            name = domain_task.domain_name(merged)
            parse_dnskeys(merged.get("dnskeys"))
            if merged.get("registrar") is not None:
                DomainState.from_dict(name, merged["registrar"])
        except InvalidInput as err:
            raise _in_item(err, index, item) from None
        return merged

    checked = check_items(items, check)
    _check_providers(checked)
    providers = PerThread()

    def work(index: int, _item: Any) -> dict[str, Any]:
        merged = checked[index]
        provider = providers.get(merged["provider"], lambda: domain_task.provider_from_params(merged))
        return domain_task.run_domain_info(merged, provider=provider)

    return _finish(run_items(items, work, workers=workers), diff=False)
