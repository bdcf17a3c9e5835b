# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A parent zone we control as a registrar: the delegation (NS, glue, DS) written with RFC 2136.

For the lab registry ``test.`` (key ``registry-key``) and, in production, sub-domains delegated from
a PSF-owned zone. There is nothing to register or renew: those are "not applicable"; the expiry is a
configured value (the parent zone's own registration, say), or unknown.

Reads ask the parent's primary what it serves (``parent.read_delegation``); writes are one UPDATE
per change through ``DnsServer.send_updates`` (all records of the domain's name in one message, so
NS and DS change together). Glue (A/AAAA) is written for name servers inside the domain only.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import (
    DomainState,
    Provider,
    RegistrarError,
    normalise_host,
)
from ansible_collections.psf.infra.plugins.module_utils.registrar.parent import read_delegation

DEFAULT_TTL = 300


class Rfc2136Provider(Provider):
    name = "rfc2136"
    registers = False
    dnssec_input = "ds"
    has_auto_renew = False

    def __init__(self, server: DnsServer, zone: str, *, expires: datetime.datetime | None = None,
                 ttl: int = DEFAULT_TTL, glue: Mapping[str, Sequence[str]] | None = None) -> None:
        self.server = server
        self.server.role = "parent zone primary"
        self.zone = dns.name.from_text(zone)
        self.expires = expires
        self.ttl = ttl
        self.glue = {normalise_host(name): list(addresses) for name, addresses in (glue or {}).items()}
        self.requests_sent = 0

    def _inside(self, domain: str) -> dns.name.Name:
        name = dns.name.from_text(domain)
        if not name.is_subdomain(self.zone) or name == self.zone:
            raise RegistrarError(domain, f"is not below the parent zone {self.zone} that this provider updates")
        return name

    def read(self, domain: str, *, keys: bool = True) -> DomainState:  # one DNS query: always whole
        self._inside(domain)
        self.requests_sent += 2
        view = read_delegation(self.server, domain)
        return DomainState(domain, registered=True, expires=self.expires, status=[],
                           auto_renew=None, nameservers=view.nameservers, ds=view.ds)

    def set_nameservers(self, domain: str, nameservers: Sequence[str], current: DomainState, *,
                        check: bool) -> str:
        name = self._inside(domain)
        wanted = [normalise_host(ns) + "." for ns in nameservers]
        old = RRset.from_text(name, "NS", self.ttl, [ns + "." for ns in current.nameservers]) \
            if current.nameservers else None
        changes = [Change(old, RRset.from_text(name, "NS", self.ttl, wanted))]
        for host in wanted:
            host_name = dns.name.from_text(host)
            if host_name.is_subdomain(name):
                addresses = self.glue.get(normalise_host(host))
                if not addresses:
                    raise RegistrarError(domain, f"name server {host} is inside the domain and needs glue: give its "
                                                 "addresses in rfc2136.glue")
                for rdtype, values in (("A", [a for a in addresses if ":" not in a]),
                                       ("AAAA", [a for a in addresses if ":" in a])):
                    if values:
                        # replace the glue whatever it was: delete the rrset, add the addresses
                        changes.append(Change(RRset(host_name, dns.rdatatype.RdataType.make(rdtype), self.ttl,
                                                    ()), RRset.from_text(host_name, rdtype, self.ttl, values)))
        return self._send(domain, changes, check, f"NS {', '.join(wanted)}")

    def set_ds(self, domain: str, ds: Sequence[str], current: DomainState, *, check: bool) -> str:
        name = self._inside(domain)
        old = RRset.from_text(name, "DS", self.ttl, current.ds) if current.ds else None
        new = RRset.from_text(name, "DS", self.ttl, ds) if ds else None
        if old is None and new is None:
            return ""
        return self._send(domain, [Change(old, new)], check, f"DS {'; '.join(ds) or '(none)'}")

    def _send(self, domain: str, changes: list[Change], check: bool, what: str) -> str:
        if check:
            return ""
        self.requests_sent += 1
        self.server.send_updates(self.zone, changes)
        return f"{self.zone}: {what} for {domain}"
