# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the three DNS modules do, without Ansible: read, plan, check, apply, report.

Each function takes plain values and returns a plain dict (the module's result), raising
``PsfInfraError`` subclasses on failure, so the modules stay declarations and the tests can run the
same code directly (and inject a concurrent change through the hooks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsError, DnsServer, UpdateResult
from ansible_collections.psf.infra.plugins.module_utils.dns.delegation import Delegations, with_delegations
from ansible_collections.psf.infra.plugins.module_utils.dns.diff import (
    Plan,
    SafetyPolicy,
    apply_changes,
    check_plan,
    plan_zone,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.model import (
    NS,
    SERVER_MANAGED_TYPES,
    SOA,
    Change,
    RRset,
    RRsetKey,
    relative_text,
    to_name,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.plan_text import changes_as_data, plan_text
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import (
    Where,
    parse_owner,
    parse_records,
    parse_ttl,
    parse_type,
    parse_value,
    parse_zone_file,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError


@dataclass
class Hooks:
    """Test seams: called after the zone was read, after the guard's SOA check, after message k (of
    several). Production code never sets them."""

    after_read: Callable[[], Any] | None = None
    before_first_message: Callable[[], Any] | None = None
    after_message: Callable[[int], Any] | None = None


@dataclass
class Secondary:
    address: str
    port: int = 53


@dataclass
class ZoneRequest:
    zone: str
    desired: dict[RRsetKey, RRset]
    prune: bool = False
    ignore: list[str] = field(default_factory=list)
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    tenant: str | None = None
    source_file: str | None = None
    report_changes: int = 1000  # rrsets of each kind listed in the result's ``changes``
    delegations: Delegations | None = None  # the hosted child zones this zone delegates (managed NS, DS)


def parse_ignore(names: Iterable[str], origin: dns.name.Name, where: Where) -> list[dns.name.Name]:
    return [parse_owner(name, origin, where, f"ignore[{index}]") for index, name in enumerate(names)]


def read_live(server: DnsServer, origin: dns.name.Name, *, check_mode: bool) -> tuple[int | None, dict, bool]:
    """(serial, rrsets, served) of the zone on the primary: one AXFR. In check mode a zone the
    primary does not serve yet (a tenant not served yet: the name servers' play would create it) is
    planned from empty instead of failing on the transfer; any other failure is the error it was."""
    try:
        serial, live = server.axfr(origin)
    except DnsError as err:
        if not check_mode:
            raise
        try:
            served = server.serves(origin)
        except DnsError:
            raise err from None
        if served:
            raise
        return None, {}, False
    return serial, live, True


def sync_zone(server: DnsServer, request: ZoneRequest, *, check_mode: bool = False,
              secondaries: Iterable[Secondary] = (), wait_for_secondaries: float = 0,
              hooks: Hooks | None = None) -> dict[str, Any]:
    """Make the zone on ``server`` hold ``request.desired``: ONE AXFR, a plan, guarded UPDATEs."""
    hooks = hooks or Hooks()
    origin = to_name(request.zone)
    where = Where(request.tenant, request.source_file)
    ignore = parse_ignore(request.ignore, origin, where)
    serial, live, served = read_live(server, origin, check_mode=check_mode)
    desired, stale = request.desired, []
    if request.delegations is not None:
        desired, stale = with_delegations(request.delegations, desired, live, origin)
    plan = plan_zone(live, desired, origin, prune=request.prune, ignore=ignore, also_delete=stale)
    # A zone not served yet (check mode only) has no delegation to move nor records to lose: the
    # thresholds do not apply; the zone's own checks (CNAME beside data ...) still do.
    check_plan(plan, live, request.policy if served else replace(request.policy, force=True), where)
    result: dict[str, Any] = {
        "changed": bool(plan.changes),
        "zone": origin.to_text(),
        "serial_before": serial,
        "serial": serial,
        "messages_sent": 0,
        "changes": changes_as_data(plan, request.report_changes),
        "changes_truncated": any(count > request.report_changes for count in plan.counts.values()),
        "counts": plan.counts,
        "existing_rrsets": plan.existing,
        "protected": [{"name": relative_text(key[0], origin), "type": dns.rdatatype.to_text(key[1]),
                       "reason": reason} for key, reason in plan.protected],
        "plan": plan_text(plan, server.where),
        "served": served,
    }
    if not served:
        result["plan"] = (f"{origin.to_text()} is not served by {server.where} yet: the name servers' play creates "
                          "it, then every record below is added.\n" + result["plan"])
    if hooks.after_read is not None:
        hooks.after_read()
    if plan.changes and not check_mode:
        update = server.send_updates(origin, plan.changes, expected_serial=serial,
                                     before_first_message=hooks.before_first_message,
                                     after_message=hooks.after_message)
        result["messages_sent"] = update.messages_sent
        result["serial"] = update.serial
    if secondaries:
        result["secondaries"] = secondary_serials(server, origin, result["serial"], secondaries,
                                                  wait_for_secondaries if not check_mode else 0)
    return result


def secondary_serials(primary: DnsServer, origin: dns.name.Name, serial: int | None,
                      secondaries: Iterable[Secondary], wait: float) -> list[dict[str, Any]]:
    """Each secondary's serial; with ``wait`` > 0, poll until all serve ``serial`` or time is up."""
    servers = [DnsServer(secondary.address, secondary.port, None, primary.timeout) for secondary in secondaries]
    deadline = time.monotonic() + wait
    while True:
        states = [serial_state(each, origin, serial) for each in servers]
        if all(state["in_sync"] for state in states) or time.monotonic() >= deadline:
            return states
        time.sleep(0.2)


def serial_state(server: DnsServer, origin: dns.name.Name, expected: int | None) -> dict[str, Any]:
    try:
        serial: int | None = server.soa_serial(origin)
        error = None
    except DnsError as err:
        serial, error = None, str(err)
    return {"server": server.address, "port": server.port, "serial": serial,
            "in_sync": serial is not None and serial == expected, "error": error}


def zone_info(primary: DnsServer, zone: str, secondaries: Iterable[Secondary] = (), *,
              include_records: bool = True, include_dnssec: bool = False) -> dict[str, Any]:
    """The zone as data (one AXFR from the primary) and the serial on every authoritative server."""
    origin = to_name(zone)
    result: dict[str, Any] = {"changed": False, "zone": origin.to_text()}
    if include_records:
        serial, live = primary.axfr(origin)
        result["records"] = [rrset.as_dict(origin) for rrset in sorted(live.values(), key=RRset.sort_key)
                             if include_dnssec or (rrset.rdtype not in SERVER_MANAGED_TYPES and rrset.rdtype != SOA)]
        result["signed"] = (origin, dns.rdatatype.DNSKEY) in live
        result["soa"] = live[(origin, SOA)].values()[0]
        result["nameservers"] = live[(origin, NS)].values() if (origin, NS) in live else []
    else:
        serial = primary.soa_serial(origin)
    result["serial"] = serial
    states = [serial_state(primary, origin, serial)]
    states[0]["in_sync"] = True
    states += [serial_state(DnsServer(s.address, s.port, None, primary.timeout), origin, serial)
               for s in secondaries]
    result["servers"] = states
    result["serials"] = {f"{state['server']}:{state['port']}": state["serial"] for state in states}
    result["in_sync"] = all(state["in_sync"] for state in states)
    return result


@dataclass
class RecordRequest:
    zone: str
    name: str
    type: str
    values: list[Any] | None = None
    ttl: int | None = None
    state: str = "present"
    mode: str = "replace"
    force: bool = False
    tenant: str | None = None
    source_file: str | None = None


def plan_record(live: RRset | None, wanted: RRset | None, request: RecordRequest, key: RRsetKey,
                default_ttl: int) -> Change | None:
    """The one change ``dns_record`` makes (pure)."""
    if request.state == "absent":
        if live is None:
            return None
        if wanted is None:  # no values: the whole rrset goes
            return Change(live, None)
        present = live.digests & wanted.digests
        if not present:
            return None
        return Change(live.with_rdatas(live.rdatas_of(present)), live.with_rdatas(()))
    if wanted is None:
        raise PsfInfraError(f"{request.name} {request.type}: state=present needs values")
    ttl = request.ttl if request.ttl is not None else (live.ttl if live is not None else default_ttl)
    if request.mode == "append" and live is not None:
        new = RRset.from_map(key[0], key[1], ttl, {**live.by_digest, **wanted.by_digest})
    else:
        new = RRset.from_map(key[0], key[1], ttl, wanted.by_digest)
    if live is not None and live.ttl == new.ttl and live.digests == new.digests:
        return None
    return Change(live, new)


def sync_record(server: DnsServer, request: RecordRequest, *, check_mode: bool = False,
                default_ttl: int = 3600) -> dict[str, Any]:
    """One rrset present (replace / append values) or absent (all, or only the given values)."""
    origin = to_name(request.zone)
    where = Where(request.tenant, request.source_file)
    owner = parse_owner(request.name, origin, where, "name")
    rdtype = parse_type(request.type, where, "type")
    what = f"{relative_text(owner, origin)} {dns.rdatatype.to_text(rdtype)}"
    if request.ttl is not None:
        parse_ttl(request.ttl, where, "ttl")
    wanted = None
    if request.values:
        wanted = RRset(owner, rdtype, default_ttl if request.ttl is None else request.ttl,
                       [parse_value(rdtype, value, origin, where, f"values[{index}]", what)
                        for index, value in enumerate(request.values)])
    elif request.state == "present":
        raise where.error(f"state=present needs values ({what})", "values")
    if rdtype == NS and owner == origin and not request.force:
        raise where.error("changing the apex NS set moves the zone's delegation: set force: true", "name")
    serial = server.soa_serial(origin)
    live = server.query(owner, rdtype)
    if live is not None and live.name != owner:
        live = None
    change = plan_record(live, wanted, request, (owner, rdtype), default_ttl)
    if change is not None and change.new is not None and change.new.digests:
        # BIND silently ignores data added beside a CNAME, and a CNAME added beside data: say so instead
        others = {t for t in server.types_at(owner) if t not in SERVER_MANAGED_TYPES and t != rdtype}
        if rdtype == dns.rdatatype.CNAME and others:
            listed = ", ".join(sorted(dns.rdatatype.to_text(t) for t in others))
            raise where.error(f"{what}: {relative_text(owner, origin)} already has {listed}; a CNAME must be "
                              "the only record at its name", "name")
        if dns.rdatatype.CNAME in others:
            raise where.error(f"{what}: {relative_text(owner, origin)} has a CNAME; a CNAME must be the "
                              "only record at its name", "name")
    result: dict[str, Any] = {
        "changed": change is not None, "zone": origin.to_text(), "serial_before": serial, "serial": serial,
        "messages_sent": 0,
        "before": live.as_dict(origin) if live is not None else None,
        "after": None,
    }
    after = live
    if change is not None:
        after = apply_changes({change.key: live} if live is not None else {}, [change]).get(change.key)
        if not check_mode:
            update: UpdateResult = server.send_updates(origin, [change], expected_serial=serial)
            result["messages_sent"] = update.messages_sent
            result["serial"] = update.serial
    result["after"] = after.as_dict(origin) if after is not None and after.digests else None
    return result


def declared_rrsets(zone: str, records: list[Mapping[str, Any]] | None, zone_file_text: str | None, *,
                    default_ttl: int, tenant: str | None, source_file: str | None) -> dict[RRsetKey, RRset]:
    if zone_file_text is not None:
        return parse_zone_file(zone_file_text, zone, tenant=tenant, source_file=source_file)
    return parse_records(records or [], zone, default_ttl=default_ttl, tenant=tenant, source_file=source_file)


__all__ = ["Hooks", "Plan", "RecordRequest", "Secondary", "ZoneRequest", "declared_rrsets", "plan_record",
           "secondary_serials", "sync_record", "sync_zone", "zone_info"]
