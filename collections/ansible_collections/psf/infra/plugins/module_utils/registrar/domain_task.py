# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``psf.infra.domain`` and ``psf.infra.domain_info`` do, from checked options to the result.

Raises ``PsfInfraError`` on failure (the modules turn it into a failed task in errors.py). Every
option is checked before anything is sent: a bad key, name server or address fails first.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.chain import Referrals, walk_options
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsError, DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (
    ip_address,
    port_number,
    server_from_params,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput, PsfInfraError
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import (
    TRANSFER_LOCK,
    Desired,
    DomainState,
    Provider,
    apply_actions,
    normalise_ds,
    normalise_host,
    parse_dnskeys,
    parse_expiry,
    plan_domain,
)
from ansible_collections.psf.infra.plugins.module_utils.registrar.gandi import DEFAULT_URL, GandiProvider
from ansible_collections.psf.infra.plugins.module_utils.registrar.parent import judge, read_delegation
from ansible_collections.psf.infra.plugins.module_utils.registrar.rfc2136 import Rfc2136Provider


def _gandi(params: Mapping[str, Any]) -> Provider:
    options = params.get("gandi") or {}
    if not options.get("token"):
        raise InvalidInput("provider gandi needs gandi.token (a personal access token, from the vault)",
                           field="gandi.token")
    return GandiProvider(options["token"], options.get("url") or DEFAULT_URL, sharing_id=options.get("sharing_id"),
                         timeout=options.get("timeout") or 30.0, max_retries=options.get("max_retries", 4),
                         max_retry_wait=options.get("max_retry_wait", 60.0), owner=options.get("owner"),
                         max_price=options.get("max_price"))


def _rfc2136(params: Mapping[str, Any]) -> Provider:
    options = dict(params.get("rfc2136") or {})
    for needed in ("server", "zone"):
        if not options.get(needed):
            raise InvalidInput(f"provider rfc2136 needs rfc2136.{needed}", field=f"rfc2136.{needed}")
    try:
        server = server_from_params({**options, "port": options.get("port") or 53,
                                     "timeout": options.get("timeout") or 10.0})
    except InvalidInput as err:
        raise InvalidInput(err.reason, field=f"rfc2136.{err.field}") from None
    glue = options.get("glue") or {}
    for name, addresses in glue.items():
        for address in addresses:
            ip_address(address, f"rfc2136.glue.{name}")
    return Rfc2136Provider(server, options["zone"], expires=parse_expiry(options.get("expires"),
                                                                         field_name="rfc2136.expires"),
                           ttl=options.get("ttl") or 300, glue=glue)


#: The registrars: one adapter each (see base.Provider). A new one is a class and a line here.
PROVIDERS = {"gandi": _gandi, "rfc2136": _rfc2136}


def provider_from_params(params: Mapping[str, Any]) -> Provider:
    if not params.get("provider"):
        raise InvalidInput("a registrar is needed (provider: gandi or rfc2136)", tenant=params.get("tenant"),
                           file=params.get("source_file"), field="provider")
    return PROVIDERS[params["provider"]](params)


def domain_name(params: Mapping[str, Any]) -> str:
    name = normalise_host(params["name"])
    if not name or " " in name:
        raise InvalidInput(f"{params['name']!r} is not a domain name", tenant=params.get("tenant"),
                           file=params.get("source_file"), field="name")
    return name


def desired_from_params(params: Mapping[str, Any]) -> Desired:
    name = domain_name(params)
    if params.get("years", 1) < 1 or params.get("years", 1) > 10:
        raise InvalidInput("years must be 1 to 10", field="years")
    if params.get("renew_within_days", 30) < 0:
        raise InvalidInput("renew_within_days must be 0 or more", field="renew_within_days")
    nameservers = params.get("nameservers")
    if nameservers is not None and not nameservers:
        raise InvalidInput("nameservers is empty: a domain needs at least one (leave it out to keep the "
                           "registrar's)", tenant=params.get("tenant"), file=params.get("source_file"),
                           field="nameservers")
    return Desired(name, register=params.get("register", False), years=params.get("years", 1),
                   auto_renew=params.get("auto_renew"), renew_within_days=params.get("renew_within_days", 30),
                   nameservers=[normalise_host(ns) for ns in nameservers] if nameservers is not None else None,
                   dnskeys=parse_dnskeys(params.get("dnskeys"), tenant=params.get("tenant"),
                                         source_file=params.get("source_file")),
                   tenant=params.get("tenant"), source_file=params.get("source_file"),
                   transfer_out=bool(params.get("transfer_out")))


def _predicted(state: DomainState, desired: Desired, actions: list) -> dict[str, Any]:
    after = copy.deepcopy(state)
    after.registered = True
    kinds = {action.kind for action in actions}
    if desired.auto_renew is not None and "auto_renew" in kinds:
        after.auto_renew = desired.auto_renew
    if desired.nameservers is not None:
        after.nameservers = list(desired.nameservers)
    if desired.dnskeys is not None:
        after.ds = [normalise_ds(key.ds(desired.name)) for key in desired.sep_keys]
    if "unlock" in kinds:
        after.status = [status for status in after.status if status != TRANSFER_LOCK]
    data = after.as_dict()
    if kinds & {"register", "renew"}:
        data["expires"] = f"{data['expires'] or 'now'} + {desired.years} year(s)"
        data["days_left"] = None
    return data


def parent_servers(params: Mapping[str, Any], name: str, provider: Provider) -> list[DnsServer]:
    """The name servers of ``name``'s parent zone: ``parent_servers``, else the rfc2136 provider's
    primary (the parent is ours), else found by following referrals from ``root_servers``."""
    roots, addresses, timeout = walk_options(params)
    given = [DnsServer(ip_address(item.get("server"), f"parent_servers[{index}].server"),
                       port_number(item.get("port") or 53, f"parent_servers[{index}].port"), None, timeout,
                       role="parent name server")
             for index, item in enumerate(params.get("parent_servers") or [])]
    if given:
        return given
    if isinstance(provider, Rfc2136Provider):
        return [DnsServer(provider.server.address, provider.server.port, None, timeout, role="parent name server")]
    zone, servers = Referrals(roots, addresses, timeout).parent_of(name)
    return [DnsServer(server.address, server.port, None, timeout, role=f"name server of the parent zone {zone}")
            for server in servers]


def ds_at_parent(params: Mapping[str, Any], name: str, provider: Provider) -> tuple[list[str] | None, str]:
    """The DS records the parent serves for ``name`` (its authoritative answer; [] when it has
    none), or None and why when no parent server could tell."""
    reasons = []
    try:
        servers = parent_servers(params, name, provider)
    except (PsfInfraError, DnsError) as err:
        return None, f"the parent's servers were not found: {err}"
    for server in servers:
        try:
            answer = server.query(dns.name.from_text(name), dns.rdatatype.DS)
        except (DnsError, BackendUnavailable) as err:
            reasons.append(str(err))
            continue
        return sorted({normalise_ds(rdata.to_text()) for rdata in (answer.rdatas if answer else ())}), ""
    return None, "; ".join(reasons) or "no parent server"


def read_registrar(params: Mapping[str, Any], provider: Provider, desired: Desired) -> tuple[DomainState, str | None]:
    """The domain at its registrar, and where its DNSSEC keys came from (``registrar``, ``parent``
    or None when they are not needed): the parent is the witness of the registrar's keys when
    reading them costs a request (docs/registrar.md, "One request a domain")."""
    if desired.dnskeys is None:
        # DNSSEC is left alone: the keys are needed for nothing (their DS is reported as null).
        return provider.read(desired.name, keys=not provider.keys_cost_a_request), None
    if not provider.keys_cost_a_request:
        return provider.read(desired.name), "registrar"
    served, _why = ds_at_parent(params, desired.name, provider)
    wanted = sorted({normalise_ds(key.ds(desired.name)) for key in desired.sep_keys})
    if served is None or served != wanted:
        return provider.read(desired.name), "registrar"
    state = provider.read(desired.name, keys=False)
    if state.registered:
        state.keys = [copy.copy(key) for key in desired.sep_keys]
        state.ds = wanted
        state.keys_read = True
    return state, "parent"


def run_domain(params: Mapping[str, Any], *, check_mode: bool, diff: bool, provider: Provider | None = None,
               desired: Desired | None = None) -> dict[str, Any]:
    """Converge one domain at its registrar (``provider`` and ``desired`` when the caller made them:
    the list form checks every domain first and keeps one provider a thread)."""
    desired = desired or desired_from_params(params)
    provider = provider or provider_from_params(params)
    sent_before = getattr(provider, "requests_sent", None)
    state, keys_read_from = read_registrar(params, provider, desired)
    actions, notes = plan_domain(provider, state, desired)
    messages = apply_actions(provider, state, desired, actions, check=check_mode)
    before = state.as_dict()
    result: dict[str, Any] = {
        "changed": bool(actions), "domain": desired.name, "provider": provider.name,
        "actions": [action.as_dict() for action in actions], "messages": messages, "notes": notes,
        "registrar": before, "expires": before["expires"], "days_left": before["days_left"],
        "api_requests": None if sent_before is None else provider.requests_sent - sent_before,
        "keys_read_from": keys_read_from,
    }
    if desired.transfer_out:
        result["transfer"] = _transfer(provider, state, desired, actions, check_mode)
    if diff and actions:
        result["diff"] = {"before": before, "after": _predicted(state, desired, actions),
                          "before_header": f"{desired.name} at {provider.name}",
                          "after_header": f"{desired.name} at {provider.name}"}
    return result


def _transfer(provider: Provider, state: DomainState, desired: Desired, actions: list, check_mode: bool
              ) -> dict[str, Any]:
    """What a transfer out needs, once the actions are done: ``unlocked`` (the registrar no longer
    holds clientTransferProhibited), and the transfer code, a SECRET (``auth_code``; null in check
    mode and where the provider has none). The caller keeps it out of every output (no_log)."""
    if not provider.transfers_out:
        return {"supported": False, "unlocked": None, "auth_code": None, "auth_code_expires": None}
    if check_mode:
        return {"supported": True, "unlocked": not state.transfer_locked, "auth_code": None,
                "auth_code_expires": None}
    if {action.kind for action in actions} & {"unlock", "auth_code"}:
        state = provider.read(desired.name, keys=False)  # the status and the code as they are now
    return {"supported": True, "unlocked": not state.transfer_locked, "auth_code": state.auth_code,
            "auth_code_expires": state.auth_code_expires.isoformat() if state.auth_code_expires else None}


def run_domain_info(params: Mapping[str, Any], provider: Provider | None = None) -> dict[str, Any]:
    """The domain at its registrar and at its parent's name servers, and the verdict on the delegation."""
    name = domain_name(params)
    provider = provider or provider_from_params(params)
    if params.get("registrar") is not None:  # read by psf.infra.domain in this run: not asked again
        state = DomainState.from_dict(name, params["registrar"])
    else:
        state = provider.read(name)
    result: dict[str, Any] = {"changed": False, "domain": name, "provider": provider.name,
                              "registrar": state.as_dict(), **state.as_dict()}
    _roots, addresses, timeout = walk_options(params)
    for index, item in enumerate(params.get("nameserver_addresses") or []):
        ip_address(item["address"], f"nameserver_addresses[{index}].address")
    keys = parse_dnskeys(params.get("dnskeys"))
    expected_ds = [key.ds(name) for key in keys if key.sep] if keys is not None else None
    parents = parent_servers(params, name, provider)
    views = [read_delegation(server, name) for server in parents]
    verdict = judge(name, views, expected_nameservers=params.get("nameservers"), expected_ds=expected_ds,
                    addresses=addresses, timeout=timeout)
    result.update({"parent": verdict["parent"], "delegation": verdict["delegation"],
                   "parent_nameservers": verdict["nameservers"], "parent_ds": verdict["ds"],
                   "problems": verdict["problems"], "servers": verdict.get("servers", [])})
    for key in ("nameservers_match", "ds_match"):
        if key in verdict:
            result[key] = verdict[key]
    result["registrar_matches_parent"] = (
        sorted(state.nameservers) == verdict["nameservers"]
        and (not state.keys_read or sorted(state.ds) == verdict["ds"]))
    return result
