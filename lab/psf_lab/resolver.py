"""The lab's validating resolver (unbound) and its stub zones.

Stubs: `.` and `test.` -> the registry; `infra.test.` and every member of the catalog -> ns1 and
ns2. `sync_resolver` writes them to stubs.conf and applies the difference live (no reload).
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Iterable
from typing import Any

from psf_lab.bind import catalog_members
from psf_lab.config import HOST, INFRA_ZONE, REGISTRY_ZONE, ROOT_ZONE, SERVICES, LabError, LabPaths
from psf_lab.processes import file_lock, running_pid, spawn, write_if_changed
from psf_lab.templates import render_lab

STATIC_STUBS = {ROOT_ZONE: (SERVICES["registry"].port,), REGISTRY_ZONE: (SERVICES["registry"].port,)}
INFRA_STUB_PORTS = (SERVICES["ns1"].port, SERVICES["ns2"].port)


def stubs_config(zones: Iterable[str]) -> str:
    stubs = [*STATIC_STUBS.items(), *((zone, INFRA_STUB_PORTS) for zone in sorted(set(zones)))]
    return render_lab("unbound/stubs.conf.j2", stubs=stubs, host=HOST)


def unbound_config(paths: LabPaths) -> str:
    return render_lab("unbound/unbound.conf.j2", paths=paths, host=HOST, svc=SERVICES["resolver"],
                      registry_zone=REGISTRY_ZONE)


def ensure_unbound_control_keys(paths: LabPaths) -> None:
    """The TLS keys of unbound-control, as `unbound-control-setup` makes them but with P-256 keys:
    a self-signed server certificate (CN "unbound") that also signs the client's (CN "unbound-control").
    unbound-control-setup's RSA-3072 keys took 3-4 s, a third of a first `up`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    res = paths.resolver
    files = [res / name for name in ("unbound_server.key", "unbound_server.pem",
                                     "unbound_control.key", "unbound_control.pem")]
    if all(path.exists() for path in files):
        return
    now = datetime.datetime.now(datetime.UTC)

    def certificate(common_name: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7300))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(signer, hashes.SHA256())
        )

    server_key, control_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unbound")])
    server_cert = certificate("unbound", server_key, server_name, server_key, ca=True)
    control_cert = certificate("unbound-control", control_key, server_name, server_key, ca=False)
    private = {"encoding": serialization.Encoding.PEM, "format": serialization.PrivateFormat.PKCS8,
               "encryption_algorithm": serialization.NoEncryption()}
    contents = [server_key.private_bytes(**private), server_cert.public_bytes(serialization.Encoding.PEM),
                control_key.private_bytes(**private), control_cert.public_bytes(serialization.Encoding.PEM)]
    for path, content in zip(files, contents, strict=True):
        write_if_changed(path, content.decode(), mode=0o600)


def write_stubs(paths: LabPaths, zones: Iterable[str]) -> bool:
    return write_if_changed(paths.stubs_conf, stubs_config(zones))


def start_resolver(paths: LabPaths) -> None:
    ensure_unbound_control_keys(paths)
    if not paths.stubs_conf.exists():
        write_stubs(paths, [INFRA_ZONE])
    write_if_changed(paths.unbound_conf, unbound_config(paths))
    check = subprocess.run(["unbound-checkconf", str(paths.unbound_conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabError(f"resolver: {paths.unbound_conf} is invalid:\n{check.stdout}{check.stderr}")
    spawn(paths, "resolver", ["unbound", "-d", "-c", str(paths.unbound_conf)])


def unbound_control(paths: LabPaths, *args: str) -> str:
    result = subprocess.run(["unbound-control", "-c", str(paths.unbound_conf), *args],
                            capture_output=True, text=True, timeout=15)
    if result.returncode != 0 or result.stdout.startswith("error"):
        raise LabError(f"unbound-control {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def plan_stub_changes(current: Iterable[str], wanted: Iterable[str]) -> tuple[list[str], list[str]]:
    """(to add, to remove) among the dynamic stubs; the root and test. stubs are never touched."""
    static = set(STATIC_STUBS)
    current_set, wanted_set = set(current) - static, set(wanted) - static
    return sorted(wanted_set - current_set), sorted(current_set - wanted_set)


def sync_resolver(paths: LabPaths | None = None) -> dict[str, list[str]]:
    """Stub zones for infra.test. and every catalog member, in stubs.conf and in the live unbound.

    One process at a time (a lock in the lab's run directory): test workers add and remove zones at
    once, and a sync that read the catalog before another's zone joined it must not remove that
    zone's stub after the other sync added it."""
    paths = paths or LabPaths()
    with file_lock(paths.run / "resolver-sync.lock"):
        return _sync_resolver(paths)


def _sync_resolver(paths: LabPaths) -> dict[str, list[str]]:
    wanted = [INFRA_ZONE, *catalog_members(paths)]
    write_stubs(paths, wanted)
    if running_pid(paths, "resolver") is None:
        return {"added": [], "removed": []}
    listed = unbound_control(paths, "list_stubs")
    current = [line.split()[0] for line in listed.splitlines() if line.strip()]
    to_add, to_remove = plan_stub_changes(current, wanted)
    for zone in to_remove:
        unbound_control(paths, "stub_remove", zone)
    for zone in to_add:
        unbound_control(paths, "stub_add", zone, *(f"{HOST}@{port}" for port in INFRA_STUB_PORTS))
    for zone in (*to_add, *to_remove):
        flush_resolver(zone, paths)
    return {"added": to_add, "removed": to_remove}


def flush_resolver(zone: str, paths: LabPaths | None = None) -> None:
    """Forget everything the resolver holds at or below `zone` (answers, keys, bogus and negative data)."""
    paths = paths or LabPaths()
    if running_pid(paths, "resolver") is None:
        return
    unbound_control(paths, "flush_zone", zone)
    unbound_control(paths, "flush_bogus")
    unbound_control(paths, "flush_negative")
    unbound_control(paths, "flush_infra", "all")
