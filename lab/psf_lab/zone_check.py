"""Do the tenant zones resolve through the lab's validating resolver? (playbooks/dns.yml, lab only)

One process asks, for every zone at once (threads), what the playbook used to ask with a `dig` per
zone and task item:

- the lab registry, without recursion, for the zone's NS: the zone is *delegated* when the referral
  is for the zone itself (a referral for an ancestor zone is not a delegation of it);
- the lab resolver, with recursion, for the zone's SOA: its RCODE and whether it validated (AD).

The rules (those of the playbook's former ``failed_when``): a zone is *reachable* when the zone at the
top of its chain of hosted parents (``hosted_children``: child -> parent, written by dns.yml) is
delegated by the registry; a reachable zone must resolve NOERROR, and a reachable signed hosted child
must validate (AD: its DS is in its parent). A zone that fails is asked again, alone, every ``delay``
seconds, ``retries`` times; a server that does not answer fails the zone. Other zones wait for their
registrar and are only reported.

Input (stdin, JSON): ``{"zones": [names], "unsigned": [names], "hosted_children": {child: parent},
"registry": {"address", "port"}, "resolver": {"address", "port"}, "retries": 5, "delay": 1}``.
Output (stdout, JSON): ``{"zones": [{name, delegated, hosted_parent, reachable, status, validated,
failed, reason}], "failed": [names]}`` in input order; exit status 0 either way (1 on bad input).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

from psf_lab.config import LabError

WORKERS = 8
TIMEOUT = 5.0  # dig's own


def _server(entry: Any, what: str) -> DnsServer:
    if not isinstance(entry, dict) or not entry.get("address"):
        raise LabError(f"check-zones: {what} must be {{address, port}}, not {entry!r}")
    return DnsServer(str(entry["address"]), int(entry.get("port") or 53), timeout=TIMEOUT, role=f"lab {what}")


def delegated(registry: DnsServer, zone: str) -> bool:
    """Whether the registry's referral (no recursion) for ``zone`` NS is for ``zone`` itself."""
    name = dns.name.from_text(zone)
    response = query_message(registry, name, "NS")
    return any(rrset.name == name and rrset.rdtype == dns.rdatatype.NS for rrset in response.authority)


def resolve(resolver: DnsServer, zone: str) -> tuple[str, bool]:
    """The resolver's RCODE for ``zone`` SOA (recursion, DNSSEC OK) and whether it set AD."""
    response = query_message(resolver, zone, "SOA", dnssec=True, recursion=True)
    return dns.rcode.to_text(response.rcode()), bool(response.flags & dns.flags.AD)


def check_zones(request: dict[str, Any], *, sleep: Any = time.sleep) -> dict[str, Any]:
    zones = request.get("zones")
    if not isinstance(zones, list) or not all(isinstance(zone, str) and zone.strip(".") for zone in zones):
        raise LabError("check-zones: zones must be a list of zone names")
    unsigned = {str(zone).rstrip(".") for zone in request.get("unsigned") or []}
    children = dict(request.get("hosted_children") or {})
    registry = _server(request.get("registry"), "registry")
    resolver = _server(request.get("resolver"), "resolver")
    retries = int(request.get("retries", 5))
    delay = float(request.get("delay", 1))
    names = [zone.rstrip(".") for zone in zones]

    def ask_registry(name: str) -> tuple[bool | None, str | None]:
        try:
            return delegated(registry, name), None
        except PsfInfraError as err:
            return None, str(err)

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lab-zone-check") as pool:
        referrals = dict(zip(names, pool.map(ask_registry, names), strict=True))

        def top(name: str) -> str:
            for _ in range(8):
                if name not in children:
                    break
                name = str(children[name]).rstrip(".")
            return name

        def check(index: int) -> dict[str, Any]:
            name = names[index]
            own, registry_error = referrals[name]
            reachable = bool((referrals.get(top(name)) or (False, None))[0])
            hosted_parent = children.get(name)
            result: dict[str, Any] = {"name": name, "delegated": own, "hosted_parent": hosted_parent,
                                      "reachable": reachable, "status": None, "validated": False,
                                      "failed": False, "reason": None}
            if registry_error is not None:
                return {**result, "failed": True, "reason": registry_error}
            try:
                status, validated = resolve(resolver, name)
            except PsfInfraError as err:
                return {**result, "failed": True, "reason": str(err)}
            result.update(status=status, validated=validated)
            must_validate = hosted_parent is not None and name not in unsigned
            if reachable and status != "NOERROR":
                result.update(failed=True, reason=f"delegated, but the resolver answers {status}")
            elif reachable and must_validate and not validated:
                result.update(failed=True, reason=f"a signed zone delegated from {hosted_parent}, but the "
                                                  "resolver's answer is not validated (no AD: is its DS in "
                                                  f"{hosted_parent}?)")
            return result

        results = list(pool.map(check, range(len(names))))
        for _ in range(retries):
            failing = [index for index, result in enumerate(results) if result["failed"]]
            if not failing:
                break
            sleep(delay)
            for index, result in zip(failing, pool.map(check, failing), strict=True):
                results[index] = result
    return {"zones": results, "failed": [result["name"] for result in results if result["failed"]]}
