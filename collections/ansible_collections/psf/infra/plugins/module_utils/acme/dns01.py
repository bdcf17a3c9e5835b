# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS-01 answers published with the project's RFC 2136 client, and checked on every server.

Where a TXT record goes:

- our primary is asked (authoritative answers, no cache) for the closest zone it serves that
  encloses the name; a referral means the name is delegated away, REFUSED that we host nothing there;
- the resolver (the configured lab or production one, never the system's) then confirms that the
  world sees that zone too (its SOA at the apex): a stale copy on our primary is not "ours";
- otherwise the tenant's ``_acme-challenge`` name must be a CNAME to its delegation target in our
  acme zone (see ``delegation``); if it is not, nothing is ordered and the error names the exact
  record to create.

The resolver is never asked about names that may not exist yet (the TXT owners, the delegation
targets): a validating resolver caches such negative answers, and RFC 8020 makes it apply them to
everything below, so the CA asking the same resolver would be told NXDOMAIN after we publish.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass

from ansible_collections.psf.infra.plugins.module_utils.acme.delegation import (
    challenge_base,
    challenge_name,
    delegation_record,
    delegation_target,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import Deadline
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, PsfInfraError

try:
    import dns.exception
    import dns.name
    import dns.rdatatype
    import dns.resolver
    from ansible_collections.psf.infra.plugins.module_utils.dns.client import (
        DnsError,
        DnsServer,
        DnsTimeoutError,
        NameServerUnavailable,
    )
    from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    DnsError = DnsTimeoutError = NameServerUnavailable = PsfInfraError

#: TTL 0: a caching resolver between us and the CA (the lab's, or the CA's own) never serves the
#: previous attempt's token; answers are removed seconds later anyway.
TXT_TTL = 0
#: How DnsServer words "this server does not serve the zone" (REFUSED, NOTAUTH, not authoritative).
NOT_SERVED_SIGNS = ("REFUSED", "NOTAUTH", "not authoritative")
#: A server that refuses connections or does not answer for this long while we wait for it to serve
#: the TXT records is reported as down (a secondary that is merely loading a new zone answers).
UNREACHABLE_GRACE_SECONDS = 5.0


def _with_one_retry(query):
    """A UDP query lost on a busy machine is asked once more before it counts as a failure."""
    try:
        return query()
    except DnsTimeoutError:
        return query()


def _unreachable(error: DnsError) -> bool:
    """The server is not there at all (as opposed to not serving the zone yet)."""
    return isinstance(error, DnsTimeoutError) or (isinstance(error, NameServerUnavailable)
                                                  and error.reason == "connection refused")


class PublishError(PsfInfraError):
    """An UPDATE failed; ``published`` holds what may have been published (to remove), ``cause`` the
    DNS client's error (re-raised as is once the answers are cleaned up)."""

    def __init__(self, message: str, published: list[dict], cause: PsfInfraError | None = None) -> None:
        super().__init__(message)
        self.published = published
        self.cause = cause


class DelegationRequired(PsfInfraError):
    """A name's zone is not ours and its ``_acme-challenge`` CNAME is missing or wrong."""

    def __init__(self, message: str, records: list[str]) -> None:
        super().__init__(message, delegation_records=records)  # returned with the failure
        self.records = records


@dataclass(frozen=True)
class Placement:
    name: str  # the validated name (as ordered; a wildcard and its base share one placement)
    owner: str  # absolute owner name of the TXT record
    zone: str  # the zone we update (absolute)
    delegated: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "record": self.owner, "zone": self.zone,
                "via": "cname-delegation" if self.delegated else "hosted-zone"}


class ResolverLookup:
    """Recursive lookups through one configured resolver (address and port), with dnspython's stub."""

    def __init__(self, address: str, port: int = 53, timeout: float = 5.0) -> None:
        self.where = f"{address}:{port}"
        self.timeout = timeout
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [address]
        self.resolver.port = int(port)
        self.resolver.lifetime = timeout
        self.resolver.cache = None

    def zone_of(self, name: str) -> str:
        try:
            return dns.resolver.zone_for_name(name if name.endswith(".") else name + ".",
                                              resolver=self.resolver).to_text()
        except (dns.exception.DNSException, OSError) as error:
            raise self._error(f"finding the zone of {name}", error) from None

    def cname_of(self, name: str) -> str | None:
        try:
            answer = self.resolver.resolve(name, dns.rdatatype.CNAME, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.exception.DNSException, OSError) as error:
            raise self._error(f"looking up {name} CNAME", error) from None
        if answer.rrset is None:
            return None
        return next(iter(answer.rrset)).target.to_text().lower()

    def _error(self, doing: str, error: BaseException) -> PsfInfraError:
        """No answer from the resolver is BackendUnavailable; any other failure says what it was."""
        if isinstance(error, dns.resolver.LifetimeTimeout | dns.resolver.NoNameservers | OSError):
            reason = (f"no usable answer within {self.timeout:g} s" if isinstance(error, dns.exception.Timeout)
                      else "no usable answer")
            return BackendUnavailable(f"resolver {self.where}", doing, reason,
                                      "that the resolver runs and answers (dns_resolver; make lab-status in the lab)")
        return PsfInfraError(f"resolver {self.where}: {doing} failed: {' '.join(str(error).split())}")


class Rfc2136Dns01:
    """Publishes, waits for and removes DNS-01 TXT records on our name servers."""

    def __init__(self, primary: DnsServer, servers: list[DnsServer], lookup: ResolverLookup, *,
                 acme_zone: str | None = None, ttl: int = TXT_TTL) -> None:
        self.primary = primary
        self.servers = servers or [primary]
        self.lookup = lookup
        self.acme_zone = acme_zone
        self.ttl = ttl
        self._served: dict[dns.name.Name, str | None] = {}
        self._confirmed: set[str] = set()
        self._placements: dict[str, Placement] = {}

    def _served_zone(self, name: str) -> str | None:
        """The closest zone enclosing ``name`` that our primary serves, or None (asked without TSIG:
        a wrong key must surface as a refused UPDATE, not as "this zone is not ours")."""
        absolute = dns.name.from_text(name)
        if absolute in self._served:
            return self._served[absolute]
        unsigned = DnsServer(self.primary.address, self.primary.port, timeout=self.primary.timeout,
                             role=self.primary.role)
        found = None
        candidate = absolute
        while candidate != dns.name.root:
            try:
                _with_one_retry(lambda name=candidate: unsigned.soa(name))
                found = candidate.to_text()
                break
            except DnsError as error:
                text = str(error)
                if "has no SOA" in text:  # authoritative NXDOMAIN/NODATA: inside a zone, go up
                    candidate = candidate.parent()
                    continue
                if any(sign in text for sign in NOT_SERVED_SIGNS):  # referral or REFUSED: not ours
                    break
                raise  # the primary is down or unreachable: say so, do not guess
        self._served[absolute] = found
        return found

    def _ours(self, name: str) -> str | None:
        """Our zone holding ``name``, confirmed by the resolver's view of its apex; None if not ours."""
        zone = self._served_zone(name)
        if zone is None:
            return None
        if zone not in self._confirmed:
            seen = self.lookup.zone_of(zone)
            if seen != zone:
                raise PsfInfraError(f"our primary {self.primary.where} serves {zone}, but resolver "
                                    f"{self.lookup.where} sees {zone} as part of {seen}: the parent zone "
                                    f"does not delegate it to us (yet)")
            self._confirmed.add(zone)
        return zone

    def _place(self, name: str, tenant: str | None) -> Placement | tuple[str, str]:
        """Where the TXT record for ``name`` goes, or (the record the tenant must create, why)."""
        base = challenge_base(name)
        zone = self._ours(base)
        if zone is not None:
            return Placement(name, challenge_name(name), zone, delegated=False)
        if not self.acme_zone or not tenant:
            raise PsfInfraError(f"{base}: its zone is not hosted by us; set 'acme_zone' and 'tenant' to use "
                                f"a CNAME delegation, or use http-01")
        target = delegation_target(name, tenant=tenant, acme_zone=self.acme_zone)
        record = delegation_record(name, tenant=tenant, acme_zone=self.acme_zone)
        current = self.lookup.cname_of(challenge_name(name))
        if current != target:
            found = f"it is now a CNAME to {current}" if current else "it does not exist yet"
            return record, f"{record} (in zone {self.lookup.zone_of(base)}; {found})"
        target_zone = self._ours(target)
        if target_zone is None:
            raise PsfInfraError(f"{base}: the delegation target {target} is not in a zone our primary "
                                f"{self.primary.where} serves: create the acme zone {self.acme_zone} there "
                                f"(the DNS playbook declares it)")
        return Placement(name, target, target_zone, delegated=True)

    def check_names(self, names: list[str], tenant: str | None) -> list[dict]:
        placements: list[dict] = []
        missing: dict[str, str] = {}
        for name in names:
            found = self._place(name, tenant)
            if isinstance(found, Placement):
                self._placements[name] = found
                placements.append(found.as_dict())
            else:
                missing.setdefault(*found)
        if missing:
            raise DelegationRequired(
                "names in zones we do not host: the tenant must create, once, in their own zone: "
                + " ; ".join(missing.values()), list(missing))
        return placements

    def publish(self, answers) -> list[dict]:
        """Send the TXT records: one UPDATE per zone with every value. Returns what was sent (to wait
        for and to remove); a zone whose UPDATE failed is not in it, the ones before it are."""
        by_zone: dict[str, dict[str, list[str]]] = {}
        for answer in answers:
            placement = self._placements.get(answer.identifier)
            if placement is None:
                raise PsfInfraError(f"{answer.identifier}: not checked before publishing (internal error)")
            by_zone.setdefault(placement.zone, {}).setdefault(placement.owner, []).append(answer.value)
        published: list[dict] = []
        for zone, owners in by_zone.items():
            changes = [Change.add_values(owner, "TXT", self.ttl, [f'"{value}"' for value in values])
                       for owner, values in owners.items()]
            records = [{"zone": zone, "name": owner, "type": "TXT", "values": values}
                       for owner, values in owners.items()]
            try:
                self.primary.send_updates(zone, changes)
            except DnsError as error:
                # An UPDATE that timed out may still be applied: clean up this zone too (removing
                # values that are not there is a no-op). A refused one (BADSIG, REFUSED) was not.
                uncertain = isinstance(error, DnsTimeoutError) or "closed the connection" in str(error)
                raise PublishError(str(error), published + records if uncertain else published, error) from None
            published.extend(records)
        return published

    def wait_until_served(self, published: list[dict], deadline: Deadline) -> None:
        """Return when every server in ``servers`` serves every published value."""
        self._wait_until_served(published, deadline)

    def _wait_until_served(self, published: list[dict], deadline: Deadline) -> None:
        def wait_on(server: DnsServer) -> None:
            pending = list(published)
            pause = 0.05
            unreachable_since = None
            while pending:
                missing = []
                for record in pending:
                    try:
                        rrset = server.query(record["name"], "TXT")
                        unreachable_since = None
                    except DnsError as error:
                        rrset = None  # e.g. a secondary that has not loaded the zone yet: keep waiting
                        if _unreachable(error):  # ... but not for a server that is down
                            unreachable_since = unreachable_since or time.monotonic()
                            if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_SECONDS:
                                raise error from None
                    have = {b"".join(rdata.strings).decode("ascii", "replace")
                            for rdata in (rrset.rdatas if rrset else ())}
                    if not set(record["values"]) <= have:
                        missing.append(record)
                pending = missing
                if pending:
                    deadline.sleep(pause, f"waiting for {server.where} to serve "
                                          f"{', '.join(sorted({r['name'] for r in pending}))} TXT")
                    pause = min(pause * 2, 1.0)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            for future in [pool.submit(wait_on, server) for server in self.servers]:
                future.result()

    def remove(self, published: list[dict]) -> list[str]:
        warnings = []
        by_zone: dict[str, list[Change]] = {}
        for record in published:
            by_zone.setdefault(record["zone"], []).append(
                Change.remove_values(record["name"], "TXT", [f'"{value}"' for value in record["values"]]))
        for zone, changes in by_zone.items():
            for attempt in range(3):
                try:
                    self.primary.send_updates(zone, changes)
                    break
                except DnsError as error:
                    if attempt == 2:
                        warnings.append(f"could not remove the _acme-challenge TXT records from {zone}: "
                                        f"{error}")
                    else:
                        time.sleep(0.5)
        return warnings
