"""The lab's name servers (named): the registry (the lab root `.` and `test.`), ns1 and ns2.

ns1 and ns2 are Infra-WG name servers: their controls and options, and ns2's catalog zone, are the
nameserver role's templates rendered with the lab's values (`infra_role_files`); the registry is the
lab's own (`lab/templates/named/registry.conf.j2`). rndc, the catalog's members and the trust anchor
are here too; zones added at run time and delegations are in `zones`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import dns.rdata
import dns.rrset
import yaml
from ansible_collections.psf.infra.plugins.module_utils.dns.catalog import member_label, members_of, records_of

from psf_lab import dnsclient
from psf_lab.config import (
    CATALOG_ZONE,
    DNSSEC_POLICY,
    HOST,
    INFRA_NAMESERVERS,
    INFRA_ZONE,
    REGISTRY_NAMESERVER,
    REGISTRY_NEGATIVE_TTL,
    REGISTRY_ZONE,
    REPO_ROOT,
    ROLLOVER_POLICY,
    ROLLOVER_TIMINGS,
    SERVICES,
    LabError,
    LabPaths,
)
from psf_lab.keys import lab_key
from psf_lab.processes import spawn, write_if_changed
from psf_lab.templates import render_lab, render_role

UPDATE_POLICY = "update-policy { grant staff-key zonesub ANY; };"
CATALOG_TTL = 60


# --------------------------------------------------------------------------- configuration


def _common(paths: LabPaths, service: str) -> dict[str, Any]:
    return {"paths": paths, "service": service, "svc": SERVICES[service], "host": HOST,
            "directory": paths.server_dir(service), "dnssec_policy": DNSSEC_POLICY,
            "registry_zone": REGISTRY_ZONE, "infra_zone": INFRA_ZONE, "catalog_zone": CATALOG_ZONE,
            "update_policy": UPDATE_POLICY, "rollover_policy": ROLLOVER_POLICY,
            "rollover_timings": ROLLOVER_TIMINGS}


def registry_config(paths: LabPaths) -> str:
    return render_lab("named/registry.conf.j2", **_common(paths, "registry"))


def psf_policy_variables() -> dict[str, Any]:
    """The nameserver role's defaults for its `psf` dnssec-policy (nameserver_dnssec_*), which
    named.conf.options defines: ns1 and ns2 carry the same policy as production."""
    defaults = yaml.safe_load((REPO_ROOT / "roles" / "nameserver" / "defaults" / "main.yml").read_text())
    return {name: value for name, value in defaults.items()
            if name.startswith("nameserver_dnssec_") and "{{" not in str(value)}


def _primaries() -> str:
    return f"{HOST} port {SERVICES['ns1'].port} key transfer-key;"


def role_variables(paths: LabPaths, service: str) -> dict[str, Any]:
    """The nameserver role's variables for the lab's ns1 (primary) or ns2 (secondary)."""
    svc, directory = SERVICES[service], paths.server_dir(service)
    extra = render_lab("named/infra-options.conf.j2", **_common(paths, service), ns2=SERVICES["ns2"])
    return {
        "nameserver_role": "primary" if service == "ns1" else "secondary",
        "nameserver_config_dir": str(directory),
        "nameserver_working_dir": str(directory),
        "nameserver_port": svc.port,
        "nameserver_control_port": svc.control_port,
        "nameserver_listen_on": [HOST],
        "nameserver_listen_on_v6": [],
        "nameserver_sig_signing_nodes": 10000,
        "nameserver_sig_signing_signatures": 10000,
        # ns2 consumes the catalog (options and the catalog zone are the role's); ns1's catalog is the
        # lab's own zone statement (its members change with staff-key, see named/infra.conf.j2).
        "nameserver_catalog_managed": service == "ns2",
        "_nameserver_catalog_zone": CATALOG_ZONE.rstrip("."),
        "nameserver_primaries": [{"address": HOST, "port": SERVICES["ns1"].port}],
        "nameserver_transfer_key_name": "transfer-key",
        "nameserver_zone_dir": str(directory / "catzones"),
        "nameserver_keys_file": str(paths.key_file("transfer-key")),
        "nameserver_allow_transfer": ["key transfer-key", "key staff-key"],
        "nameserver_extra_options": extra.splitlines(),
        **psf_policy_variables(),
    }


def infra_role_files(paths: LabPaths, service: str) -> dict[Path, str]:
    """The files of ns1/ns2 rendered from the nameserver role's templates (path -> text)."""
    directory = paths.server_dir(service)
    variables = role_variables(paths, service)
    files = {directory / "named.conf.options": render_role("named.conf.options.j2", **variables)}
    if service == "ns2":
        files[directory / "catalog.conf"] = render_role("psf-zones.conf.j2", **variables)
    return files


def infra_config(paths: LabPaths, service: str) -> str:
    """ns1's or ns2's named.conf: keys, the role's options file, the lab's policy, logging and zones."""
    directory = paths.server_dir(service)
    return render_lab("named/infra.conf.j2", **_common(paths, service),
                      role="primary" if service == "ns1" else "secondary",
                      keys=("staff-key", "transfer-key") if service == "ns1" else (),
                      options_file=directory / "named.conf.options", catalog_file=directory / "catalog.conf",
                      primaries=_primaries())


def zone_file(origin: str, primary: str, nameservers: tuple[str, ...], records: str = "",
              glue: tuple[str, ...] = (), negative_ttl: int = 60, ttl: int = 300) -> str:
    return render_lab("zones/zone.db.j2", origin=origin, primary=primary, infra_zone=INFRA_ZONE,
                      nameservers=nameservers, glue=glue, address=HOST, records=records,
                      negative_ttl=negative_ttl, ttl=ttl)


def initial_zone_files(paths: LabPaths) -> dict[Path, str]:
    reg = paths.server_dir("registry") / "zones"
    registry_ns = (REGISTRY_NAMESERVER,)
    # Validators keep "this name has no DS" (the NSEC proof) in their key cache for the NSEC TTL,
    # which resolver cache caps do not shorten: a short negative TTL in the parents lets a zone
    # that was just delegated validate within seconds.
    return {
        reg / "root.db": zone_file(".", REGISTRY_NAMESERVER, registry_ns, f"{REGISTRY_ZONE} NS {REGISTRY_NAMESERVER}\n",
                                   glue=registry_ns, negative_ttl=REGISTRY_NEGATIVE_TTL),
        reg / "test.db": zone_file(REGISTRY_ZONE, REGISTRY_NAMESERVER, registry_ns, glue=registry_ns,
                                   negative_ttl=REGISTRY_NEGATIVE_TTL),
        paths.ns1_zone_dir / "infra.test.db": zone_file(INFRA_ZONE, INFRA_NAMESERVERS[0], INFRA_NAMESERVERS,
                                                        glue=INFRA_NAMESERVERS),
        paths.ns1_zone_dir / "catalog.infra.test.db": render_lab("zones/catalog.db.j2", catalog_zone=CATALOG_ZONE),
        paths.ns1_zones_include: render_lab("zones/zones.conf.j2"),
    }


def write_named_config(paths: LabPaths, service: str) -> Path:
    """Write `service`'s configuration (and its zone files when they do not exist yet)."""
    directory = paths.server_dir(service)
    for sub in {"registry": ("keys", "zones"), "ns1": ("keys", "zones"), "ns2": ("keys", "catzones")}[service]:
        (directory / sub).mkdir(parents=True, exist_ok=True)
    for path, text in initial_zone_files(paths).items():
        if path.is_relative_to(directory) and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    conf = directory / "named.conf"
    if service == "registry":
        write_if_changed(conf, registry_config(paths))
        return conf
    # The role's options include "<config dir>/rndc.key", as on Debian: the lab's rndc key.
    rndc_key = directory / "rndc.key"
    if not rndc_key.is_symlink():
        rndc_key.unlink(missing_ok=True)
        rndc_key.symlink_to(paths.key_file("rndc-key"))
    for path, text in infra_role_files(paths, service).items():
        write_if_changed(path, text)
    write_if_changed(conf, infra_config(paths, service))
    return conf


def start_named(paths: LabPaths, service: str) -> None:
    conf = write_named_config(paths, service)
    check = subprocess.run(["named-checkconf", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabError(f"{service}: {conf} is invalid:\n{check.stdout}{check.stderr}")
    spawn(paths, service, ["named", "-4", "-f", "-c", str(conf)])


# --------------------------------------------------------------------------- rndc


def run_rndc(paths: LabPaths, service: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["rndc", "-c", str(paths.rndc_conf), "-s", HOST, "-p", str(SERVICES[service].control_port), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise LabError(f"rndc {' '.join(args[:2])} on {service} failed: {result.stderr.strip() or result.stdout}")
    return result


def rndc(service: str, *args: str, paths: LabPaths | None = None) -> str:
    return run_rndc(paths or LabPaths(), service, *args).stdout


# --------------------------------------------------------------------------- the catalog


def catalog_member_label(zone: str) -> str:
    """A stable unique member label (RFC 9432 leaves its form to the producer): the collection's."""
    return member_label(zone)


def catalog_members(paths: LabPaths | None = None) -> list[str]:
    """Member zones of the catalog (absolute names), read from ns1 by AXFR with the transfer key."""
    paths = paths or LabPaths()
    _serial, rrsets = dnsclient.server(SERVICES["ns1"].port, lab_key("transfer-key", paths), 10.0).axfr(CATALOG_ZONE)
    return sorted(f"{zone}." for zone in members_of(records_of(rrsets), CATALOG_ZONE))



# --------------------------------------------------------------------------- trust anchor


def export_trust_anchor(paths: LabPaths, dnskeys: dns.rrset.RRset) -> bool:
    """The lab root's key-signing keys as anchor.conf, root.key and root.ds; True if one changed."""
    ksks = [key for key in dnskeys if key.flags & 0x0001]
    if not ksks:
        raise LabError("the lab root has no key-signing key (SEP flag)")
    changed = write_if_changed(paths.anchor_conf, render_lab("trust-anchor.conf.j2", ksks=ksks))
    changed |= write_if_changed(paths.root_key, "".join(f". {dnskeys.ttl} IN DNSKEY {key.to_text()}\n"
                                                        for key in ksks))
    changed |= write_if_changed(paths.root_ds, "".join(f". IN DS {ds.to_text()}\n"
                                                       for ds in dnsclient.ds_from_dnskeys(".", ksks)))
    return changed
