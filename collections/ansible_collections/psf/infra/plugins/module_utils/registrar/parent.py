# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a parent zone's name servers serve for a domain, and whether the delegation works.

Asked directly of the parent's name servers, given as IP addresses (never the system resolver):

- the delegation: the NS records of the referral (authority section, not authoritative, as a parent
  answers for a child zone) and their glue (additional section);
- the DS records (the parent is authoritative for them, RFC 4035);
- for every name server the parent lists: does it answer authoritatively for the domain's SOA?
  Its address is taken from the caller's ``nameserver_addresses`` (e.g. the lab's ports), else from
  the glue on port 53.

The verdict: ``missing`` (the parent has no delegation), ``lame`` (a listed server does not answer
authoritatively, or has no address we know), ``mismatch`` (it works, but the NS set is not the
expected one), ``correct``.

The queries are made with :class:`module_utils.dns.client.DnsServer` (the collection's one DNS
client); only reading a referral, which that client refuses as "not authoritative" on purpose, is
done here with dnspython's message API, read-only and unsigned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsError, DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import normalise_ds, normalise_host

CORRECT = "correct"
LAME = "lame"
MISSING = "missing"
MISMATCH = "mismatch"


@dataclass
class ParentView:
    """The delegation of ``domain`` as one of the parent's servers serves it."""

    server: str
    nameservers: list[str] = field(default_factory=list)
    glue: dict[str, list[str]] = field(default_factory=dict)
    ds: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"server": self.server, "nameservers": sorted(self.nameservers),
                "glue": {name: sorted(addresses) for name, addresses in sorted(self.glue.items())},
                "ds": sorted(self.ds)}


def read_delegation(server: DnsServer, domain: str) -> ParentView:
    """The referral (NS + glue) and the DS for ``domain`` from one parent server."""
    qname = dns.name.from_text(domain)
    view = ParentView(server.where)
    what = f"query {qname} NS (delegation)"
    # The referral is public and not authoritative (so not DnsServer.query); asked unsigned, so a
    # wrong key is reported where it matters, at the update.
    public = DnsServer(server.address, server.port, None, server.timeout, role=server.role)
    response = query_message(public, qname, dns.rdatatype.NS)
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise server._rcode_error(rcode, what)
    for section in (response.authority, response.answer):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == qname:
                view.nameservers = sorted({normalise_host(rdata.target.to_text()) for rdata in rrset})
    for rrset in response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            view.glue.setdefault(normalise_host(rrset.name.to_text()), []).extend(r.address for r in rrset)
    if view.nameservers:
        ds = server.query(qname, dns.rdatatype.DS)  # the parent's own, authoritative data
        view.ds = sorted(normalise_ds(rdata.to_text()) for rdata in (ds.rdatas if ds else ()))
    return view


def serves_zone(address: str, port: int, domain: str, timeout: float) -> tuple[bool, str | None]:
    """Does the server at ``address:port`` answer authoritatively for ``domain``'s SOA? (ok, problem)"""
    server = DnsServer(address, port, None, timeout)
    try:
        return server.query(domain, "SOA") is not None, None
    except DnsError as err:
        return False, str(err)


def judge(domain: str, views: Sequence[ParentView], *, expected_nameservers: Sequence[str] | None,
          expected_ds: Sequence[str] | None, addresses: Mapping[str, Sequence[tuple[str, int]]],
          timeout: float) -> dict[str, Any]:
    """The verdict on the delegation, from what the parent's servers serve."""
    listed = sorted({ns for view in views for ns in view.nameservers})
    result: dict[str, Any] = {"parent": [view.as_dict() for view in views], "nameservers": listed,
                              "ds": sorted({ds for view in views for ds in view.ds}), "problems": []}
    problems = result["problems"]
    if len({tuple(view.nameservers) for view in views}) > 1:
        problems.append("the parent's name servers do not serve the same NS set")
    if not listed:
        result["delegation"] = MISSING
        problems.append(f"the parent does not delegate {domain}")
    else:
        glue = {name: [(address, 53) for address in found] for view in views for name, found in view.glue.items()}
        lame = []
        servers = []
        for name in listed:
            targets = list(addresses.get(name) or glue.get(name) or [])
            if not targets:
                lame.append(name)
                problems.append(f"{name}: no address known (no glue at the parent and none in nameserver_addresses)")
            for address, port in targets:
                ok, problem = serves_zone(address, port, domain, timeout)
                servers.append({"name": name, "address": address, "port": port, "authoritative": ok})
                if not ok:
                    lame.append(name)
                    problems.append(f"{name} ({address}:{port}) does not answer authoritatively for {domain}: "
                                    f"{problem or 'no SOA'}")
        result["servers"] = servers
        if lame:
            result["delegation"] = LAME
        elif expected_nameservers is not None and listed != sorted({normalise_host(n) for n in expected_nameservers}):
            result["delegation"] = MISMATCH
            problems.append(f"the parent lists {', '.join(listed)}, expected "
                            f"{', '.join(sorted({normalise_host(n) for n in expected_nameservers}))}")
        else:
            result["delegation"] = CORRECT
    if expected_nameservers is not None:
        result["nameservers_match"] = listed == sorted({normalise_host(n) for n in expected_nameservers})
    if expected_ds is not None:
        wanted = sorted({normalise_ds(ds) for ds in expected_ds})
        result["ds_match"] = result["ds"] == wanted
        if not result["ds_match"]:
            problems.append(f"the parent serves DS {'; '.join(result['ds']) or '(none)'}, the zone's keys give "
                            f"{'; '.join(wanted) or '(none)'}")
    return result
