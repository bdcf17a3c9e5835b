"""Zones made at run time on ns1 (`rndc addzone`), their catalog membership, their delegation in `test.`,
and the delegation of the Infra-WG's reverse zones from the lab root (standing in for IANA and the RIRs)."""

from __future__ import annotations

import time

import dns.dnssec
import dns.rdata
import dns.rrset
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset

from psf_lab import bind, dnsclient
from psf_lab.config import (
    CATALOG_ZONE,
    DNSSEC_POLICY,
    HOST,
    INFRA_NAMESERVERS,
    REGISTRY_ZONE,
    ROOT_ZONE,
    SERVICES,
    START_TIMEOUT,
    LabError,
    LabPaths,
)
from psf_lab.keys import lab_key
from psf_lab.processes import wait_until
from psf_lab.resolver import flush_resolver, sync_resolver, unbound_control
from psf_lab.templates import render_lab


def _catalog_change(zone: str, add: bool) -> Change:
    rrset = RRset.from_text(f"{bind.catalog_member_label(zone)}.zones.{CATALOG_ZONE}", "PTR", bind.CATALOG_TTL, [zone])
    return Change(None, rrset) if add else Change(rrset, None)


def add_zone(zone: str, records: str = "", signed: bool = True, paths: LabPaths | None = None) -> None:
    """Create `zone` on ns1 (rndc addzone), list it in the catalog and point the resolver at it.

    `records` is zone-file text relative to the zone's origin, added after SOA/NS.
    """
    paths = paths or LabPaths()
    zone = dnsclient._name(zone).to_text()
    path = paths.ns1_zone_dir / f"{zone}db"
    path.write_text(bind.zone_file(zone, INFRA_NAMESERVERS[0], INFRA_NAMESERVERS, records))
    statement = render_lab("named/addzone.j2", zone_file=path, signed=signed, dnssec_policy=DNSSEC_POLICY,
                           update_policy=bind.UPDATE_POLICY).strip()
    bind.run_rndc(paths, "ns1", "addzone", zone, statement)
    if signed:
        wait_signed(zone, paths)
    dnsclient.send_update(SERVICES["ns1"].port, CATALOG_ZONE, lab_key("staff-key", paths),
                          [_catalog_change(zone, add=True)])
    sync_resolver(paths)


#: Seconds ns1 gets to sign a zone before it is asked again with `rndc loadkeys` (see wait_signed).
SIGN_NUDGE_EVERY = 5.0


def wait_signed(zone: str, paths: LabPaths | None = None, timeout: float = START_TIMEOUT) -> dns.rrset.RRset:
    """The DNSKEY RRset of `zone` once ns1 serves the zone signed (DNSKEY, SOA and apex NSEC).

    BIND 9.18 now and then loads a zone added by `rndc addzone` with a dnssec-policy and never runs
    its key manager: no "reconfiguring zone keys", no key, no next key event, the zone served
    unsigned. Measured here: 3 of 180 zones added and removed by 4 clients at once on a loaded
    machine stayed unsigned for 60 s; each was signed within 0.1 s of `rndc loadkeys <zone>`. That
    is what failed a CI run (a zone "not signed after 30 s"). So a zone still unsigned after
    SIGN_NUDGE_EVERY seconds is asked again (`rndc loadkeys`, which runs the key manager now), and
    again every SIGN_NUDGE_EVERY seconds until `timeout`."""
    paths = paths or LabPaths()
    zone = dnsclient._name(zone).to_text()
    asked = {"at": time.monotonic(), "times": 0}

    def signed() -> dns.rrset.RRset | None:
        keys = dnsclient.signed_dnskeys(SERVICES["ns1"].port, zone)
        if not keys and time.monotonic() - asked["at"] > SIGN_NUDGE_EVERY:
            bind.run_rndc(paths, "ns1", "loadkeys", zone.rstrip("."), check=False)
            asked.update(at=time.monotonic(), times=asked["times"] + 1)
        return keys

    try:
        return wait_until(signed, timeout, f"{zone} to be signed on ns1")
    except LabError as exc:
        raise LabError(f"{exc}rndc loadkeys {zone} was run {asked['times']} time(s); "
                       f"see {paths.log_file('ns1')}") from None


def remove_zone(zone: str, paths: LabPaths | None = None) -> None:
    """Drop `zone` from the catalog and from ns1 (files and DNSSEC keys included)."""
    paths = paths or LabPaths()
    zone = dnsclient._name(zone).to_text()
    dnsclient.send_update(SERVICES["ns1"].port, CATALOG_ZONE, lab_key("staff-key", paths),
                          [_catalog_change(zone, add=False)])
    result = bind.run_rndc(paths, "ns1", "delzone", "-clean", zone, check=False)
    if result.returncode != 0 and "not found" not in (result.stderr + result.stdout):
        raise LabError(f"rndc delzone {zone}: {result.stderr.strip()}")
    for key_file in (paths.server_dir("ns1") / "keys").glob(f"K{zone}+*"):
        key_file.unlink()
    sync_resolver(paths)




def delegate_zone(zone: str, ds: list[dns.rdata.Rdata] | None = None, paths: LabPaths | None = None) -> list:
    """Publish NS ns1/ns2.infra.test. and the DS of a signed ns1 zone in test. (registry-key UPDATE).

    `ds` overrides the DS set (e.g. a bogus one in tests). The resolver then forgets what it knew
    about the zone: unbound keeps a "no trust" key entry for up to a minute otherwise.
    """
    paths = paths or LabPaths()
    zone = dnsclient._name(zone).to_text()
    if ds is None:
        ds = dnsclient.ds_from_dnskeys(zone, wait_signed(zone, paths))
    dnsclient.publish_delegation(SERVICES["registry"].port, REGISTRY_ZONE, zone, lab_key("registry-key", paths),
                                 ds, dict.fromkeys(INFRA_NAMESERVERS, HOST))
    flush_resolver(zone, paths)
    return ds


def undelegate_zone(zone: str, paths: LabPaths | None = None) -> None:
    """Remove the delegation (NS, DS) of `zone` from test."""
    paths = paths or LabPaths()
    zone = dnsclient._name(zone).to_text()
    dnsclient.remove_delegation(SERVICES["registry"].port, REGISTRY_ZONE, zone, lab_key("registry-key", paths))
    flush_resolver(zone, paths)


def undelegate_reverse_zones(zones: list[str], paths: LabPaths | None = None) -> list[str]:
    """Remove the lab root's delegation (NS, DS) of each reverse zone that ``delegate_reverse_zones``
    made, for a test that served a reverse zone for a while (the resolver's built-in local zone comes
    back at its next restart). Returns the zones whose delegation was there."""
    paths = paths or LabPaths()
    removed = []
    for zone in (dnsclient._name(name).to_text() for name in zones):
        if not zone.endswith((".in-addr.arpa.", ".ip6.arpa.")):
            raise LabError(f"{zone} is not a reverse zone (in-addr.arpa, ip6.arpa)")
        if any(dnsclient.parent_delegation(SERVICES["registry"].port, zone)):
            dnsclient.remove_delegation(SERVICES["registry"].port, ROOT_ZONE, zone, lab_key("root-key", paths))
            removed.append(zone)
        flush_resolver(zone, paths)
    return removed


def registry_view(domain: str, nameservers: list[str], keys: list[dict], paths: LabPaths | None = None) -> None:
    """The lab registry as the registry behind a registrar (the Gandi fake's ``registry=``): `test.`
    serves exactly what the registrar holds for a domain under it: its name servers, and the DS
    (SHA-256) of its key-signing keys (flag 257). Domains outside `test.` are not the lab's."""
    paths = paths or LabPaths()
    zone, registry = dnsclient._name(domain), dnsclient._name(REGISTRY_ZONE)
    if not zone.is_subdomain(registry) or zone == registry:
        return
    ds = [dns.dnssec.make_ds(zone, dns.rdata.from_text("IN", "DNSKEY",
                                                        f"{key['flags']} 3 {key['algorithm']} {key['public_key']}"),
                             "SHA256")
          for key in keys if int(key["flags"]) & 1]
    dnsclient.publish_delegation(SERVICES["registry"].port, REGISTRY_ZONE, zone.to_text(),
                                 lab_key("registry-key", paths), ds,
                                 {f"{server.rstrip('.')}.": HOST for server in nameservers})
    flush_resolver(zone.to_text(), paths)


def delegate_reverse_zones(zones: list[str], paths: LabPaths | None = None) -> dict[str, list[str]]:
    """The lab root delegates each reverse zone of ns1 (``0.0.127.in-addr.arpa``): NS ns1/ns2.infra.test.
    and the DS of its keys, straight from the root (``root-key``; the lab root holds no ``arpa.`` tree;
    the names between are empty non-terminals), as IANA and the RIRs would. Then the resolver stops
    answering these names from its built-in local zones (``127.in-addr.arpa``, ``d.f.ip6.arpa``, ...:
    ``unbound-control local_zone_remove`` until it restarts; a run calls this again) and forgets what
    it held for a zone whose delegation changed. Idempotent: ``{"delegated": [...], "local_zones_removed": [...]}``
    lists what changed."""
    paths = paths or LabPaths()
    delegated = []
    for zone in (dnsclient._name(name).to_text() for name in zones):
        if not zone.endswith((".in-addr.arpa.", ".ip6.arpa.")):
            raise LabError(f"{zone} is not a reverse zone (in-addr.arpa, ip6.arpa)")
        keys = wait_signed(zone, paths)
        if dnsclient.publish_delegation(SERVICES["registry"].port, ROOT_ZONE, zone, lab_key("root-key", paths),
                                        dnsclient.ds_from_dnskeys(zone, keys), dict.fromkeys(INFRA_NAMESERVERS, HOST)):
            delegated.append(zone)
    removed = []
    for line in unbound_control(paths, "list_local_zones").splitlines():
        local = line.split()[0] if line.split() else ""
        if local and any(zone == local or zone.endswith("." + local)
                         for zone in (dnsclient._name(name).to_text() for name in zones)):
            unbound_control(paths, "local_zone_remove", local)
            removed.append(local)
    for zone in delegated:
        flush_resolver(zone, paths)
    return {"delegated": delegated, "local_zones_removed": removed}
