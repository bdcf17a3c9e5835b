"""up, down, stop, restart, status: the whole lab, in order, with health checks."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

import dns.exception
import dns.flags
import dns.rcode
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

from psf_lab import acme, bind, dnsclient, resolver, smtp
from psf_lab.config import (
    CATALOG_ZONE,
    HOST,
    INFRA_NAMESERVERS,
    INFRA_ZONE,
    REGISTRY_ZONE,
    ROOT_ZONE,
    SERVICES,
    START_TIMEOUT,
    STOP_TIMEOUT,
    LabError,
    LabPaths,
    inventory_vars_file,
)
from psf_lab.keys import ensure_keys, lab_key
from psf_lab.processes import (
    file_lock,
    lab_ports,
    listening_ports,
    recorded_pid,
    running_pid,
    stop_pid,
    wait_healthy,
    wait_until,
)
from psf_lab.state import build_state, write_ansible_vars, write_state


def check_service(paths: LabPaths, service: str) -> tuple[bool, str]:
    """(healthy, detail) from a real request to the service."""
    svc = SERVICES[service]
    try:
        if service == "registry":
            serial = dnsclient.soa_serial(svc.port, REGISTRY_ZONE)
            return serial is not None, f"SOA {REGISTRY_ZONE} serial {serial}"
        if service in ("ns1", "ns2"):
            serial = dnsclient.soa_serial(svc.port, INFRA_ZONE)
            return serial is not None, f"SOA {INFRA_ZONE} serial {serial}"
        if service == "resolver":
            response = dnsclient.dns_query(svc.port, INFRA_ZONE, "SOA", dnssec=True, recursion=True)
            validated = bool(response.flags & dns.flags.AD)
            return (response.rcode() == dns.rcode.NOERROR and validated,
                    f"SOA {INFRA_ZONE} {dns.rcode.to_text(response.rcode())}"
                    f"{' validated (AD)' if validated else ' NOT validated'}")
        if service == "acme":
            directory = json.loads(acme.https_get(paths, f"https://{HOST}:{svc.port}/dir"))
            return "newNonce" in directory, "ACME directory over verified HTTPS"
        if service == "smtp":
            banner = smtp.smtp_banner(svc.port)
            return banner.startswith("220"), banner[:60]
    except (OSError, dns.exception.DNSException, ValueError, PsfInfraError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    raise LabError(f"unknown service {service}")


def _ensure_dirs(paths: LabPaths) -> None:
    for directory in (paths.root, paths.run, paths.log, paths.anchor_dir, paths.pebble, paths.resolver,
                      paths.ns1_zone_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for maildir_part in ("tmp", "new", "cur"):  # a Maildir the sink can write to from its first message
        (paths.mail / maildir_part).mkdir(parents=True, exist_ok=True)


def _wait_healthy(paths: LabPaths, service: str, predicate: Callable[[], Any], what: str,
                  timeout: float = START_TIMEOUT) -> Any:
    return wait_healthy(paths, service, predicate, what, timeout)


def _secondary_caught_up(paths: LabPaths) -> None:
    """Wait until ns2 serves every zone of ns1 (infra, catalog, members) at least at the serial ns1
    served when the wait began (zones that change meanwhile, e.g. a rollover, need not be caught).

    A secondary that starts with zones on disk loads them and does not ask its primary before the
    SOA refresh timer (an hour): a change ns1 made while ns2 was down (an UPDATE, a re-signing at
    start) was NOTIFYed to nobody. So each zone that lags is refreshed with rndc, every 2 s at most
    while it still lags. A member ns2 has not added yet (the catalog is behind too) is waited for.
    """
    ns1_port, ns2_port = SERVICES["ns1"].port, SERVICES["ns2"].port
    wanted = {zone: dnsclient.soa_serial(ns1_port, zone)
              for zone in [INFRA_ZONE, CATALOG_ZONE, *bind.catalog_members(paths)]}
    refreshed_at: dict[str, float] = {}
    lagging: list[str] = []

    def caught_up() -> bool:
        lagging.clear()
        for zone, serial in wanted.items():
            if serial is None or dnsclient.soa_serial(ns1_port, zone) is None:
                continue  # not on ns1 (any more): nothing to follow
            seen = dnsclient.soa_serial(ns2_port, zone)
            if seen is not None and 0 <= (seen - serial) % 2**32 < 2**31:  # seen >= serial (RFC 1982)
                continue
            lagging.append(f"{zone} ({seen} < {serial})" if seen is not None else f"{zone} (not served)")
            if seen is not None and time.monotonic() - refreshed_at.get(zone, 0.0) > 2.0:
                bind.run_rndc(paths, "ns2", "refresh", zone.rstrip("."), check=False)
                refreshed_at[zone] = time.monotonic()
        return not lagging

    try:
        _wait_healthy(paths, "ns2", caught_up, "every zone at ns1's serial on the secondary")
    except LabError as exc:
        raise LabError(f"{exc}\nstill lagging on ns2: {', '.join(lagging)}") from None


def _log(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _lifecycle_lock(paths: LabPaths) -> AbstractContextManager[None]:
    """One `up`, `down`, `stop` or `restart` at a time on a lab directory: two processes bringing
    the lab up or down at once (pytest-xdist workers, a person beside a test run) would otherwise
    each start a service the other then cannot see or stop. Outside the run directory, which `down`
    removes."""
    return file_lock(paths.root / "lifecycle.lock")


def up(paths: LabPaths | None = None, verbose: bool = False) -> dict[str, Any]:
    """Start every service that is not running and wait until the whole lab is healthy."""
    paths = paths or LabPaths()
    with _lifecycle_lock(paths):
        return _up(paths, verbose)


def _up(paths: LabPaths, verbose: bool) -> dict[str, Any]:
    started_at = time.monotonic()
    _ensure_dirs(paths)
    secrets_by_key = ensure_keys(paths)
    started: list[str] = []

    def start(service: str, starter: Callable[[], None]) -> None:
        if running_pid(paths, service) is not None:
            return
        svc = SERVICES[service]
        taken = {svc.port, svc.control_port} & listening_ports()
        if taken:
            raise LabError(f"{service}: port(s) {sorted(taken)} on {HOST} are in use by a process labctl did not "
                           f"start (no live PID in {paths.pid_file(service)}); stop it and run up again")
        starter()
        started.append(service)

    for service in ("registry", "ns1", "ns2"):
        start(service, lambda s=service: bind.start_named(paths, s))
    start("acme", lambda: acme.start_acme(paths))
    start("smtp", lambda: smtp.start_smtp(paths))
    _log(verbose, f"started: {', '.join(started) or 'nothing (all running)'}")

    registry_port, ns1_port = SERVICES["registry"].port, SERVICES["ns1"].port
    # Chain of trust: root signed -> anchor; test. signed -> DS in root; infra.test. signed -> DS in test.
    root_keys = _wait_healthy(paths, "registry", lambda: dnsclient.signed_dnskeys(registry_port, ROOT_ZONE),
                              "the root zone to be signed")
    anchor_changed = bind.export_trust_anchor(paths, root_keys)
    test_keys = _wait_healthy(paths, "registry", lambda: dnsclient.signed_dnskeys(registry_port, REGISTRY_ZONE),
                              f"{REGISTRY_ZONE} to be signed")
    dnsclient.publish_delegation(registry_port, ROOT_ZONE, REGISTRY_ZONE, lab_key("root-key", paths),
                                 dnsclient.ds_from_dnskeys(REGISTRY_ZONE, test_keys))
    infra_keys = _wait_healthy(paths, "ns1", lambda: dnsclient.signed_dnskeys(ns1_port, INFRA_ZONE),
                               f"{INFRA_ZONE} to be signed")
    dnsclient.publish_delegation(registry_port, REGISTRY_ZONE, INFRA_ZONE, lab_key("registry-key", paths),
                                 dnsclient.ds_from_dnskeys(INFRA_ZONE, infra_keys),
                                 dict.fromkeys(INFRA_NAMESERVERS, HOST))
    _log(verbose, f"chain of trust published ({time.monotonic() - started_at:.1f}s)")

    if anchor_changed and running_pid(paths, "resolver") is not None:
        _log(verbose, "trust anchor changed: restarting the resolver")
        stop_pid(recorded_pid(paths, "resolver"), "unbound")  # type: ignore[arg-type]
    resolver.write_stubs(paths, [INFRA_ZONE, *bind.catalog_members(paths)])
    start("resolver", lambda: resolver.start_resolver(paths))

    _secondary_caught_up(paths)
    for service in ("resolver", "acme", "smtp"):
        _wait_healthy(paths, service, lambda s=service: check_service(paths, s)[0], "health check")
    if "acme" in started or not (paths.pebble / "issuing-root.pem").exists():
        acme.fetch_issuing_root(paths)
    if "resolver" not in started:
        resolver.sync_resolver(paths)

    state = build_state(paths, secrets_by_key)
    write_state(paths, state)
    write_ansible_vars(state, inventory_vars_file(paths))
    _log(verbose, f"lab up in {time.monotonic() - started_at:.1f}s")
    return state


def down(paths: LabPaths | None = None, wipe: bool = False, verbose: bool = False) -> None:
    """Stop exactly the recorded processes, wait for the lab ports to close, drop run state."""
    paths = paths or LabPaths()
    with _lifecycle_lock(paths):
        _down(paths, wipe, verbose)


def _down(paths: LabPaths, wipe: bool, verbose: bool) -> None:
    for service in reversed(list(SERVICES)):
        pid = recorded_pid(paths, service)
        if pid is not None:
            _log(verbose, f"stopping {service} (PID {pid})")
            stop_pid(pid, SERVICES[service].program)
        paths.pid_file(service).unlink(missing_ok=True)
    try:
        wait_until(lambda: not (lab_ports() & listening_ports()), STOP_TIMEOUT, "the lab ports to close")
    except LabError:
        still = sorted(lab_ports() & listening_ports())
        raise LabError(f"ports still in use after stopping the lab: {still} (not started by labctl?)") from None
    shutil.rmtree(paths.run, ignore_errors=True)
    paths.state_file.unlink(missing_ok=True)
    if wipe:
        for sub in ("registry", "ns1", "ns2", "resolver", "trust-anchor", "pebble", "mail", "log"):
            shutil.rmtree(paths.root / sub, ignore_errors=True)


def stop(services: Iterable[str], paths: LabPaths | None = None, verbose: bool = False) -> None:
    """Stop only the given services (recorded PIDs) and wait until their ports are closed; `up` (or
    `restart`) starts them again. Used to show what a run says when one server is down."""
    paths = paths or LabPaths()
    with _lifecycle_lock(paths):
        _stop(list(services), paths, verbose)


def _stop(services: list[str], paths: LabPaths, verbose: bool) -> None:
    for service in services:
        pid = recorded_pid(paths, service)
        if pid is not None:
            _log(verbose, f"stopping {service} (PID {pid})")
            stop_pid(pid, SERVICES[service].program)
        paths.pid_file(service).unlink(missing_ok=True)
    ports = {port for service in services
             for port in (SERVICES[service].port, SERVICES[service].control_port) if port}
    wait_until(lambda: not (ports & listening_ports()), STOP_TIMEOUT, f"the ports of {', '.join(services)} to close")


def restart(services: Iterable[str], paths: LabPaths | None = None, verbose: bool = False) -> dict[str, Any]:
    """Stop the given services by their recorded PIDs (configuration is rewritten at start), then `up`."""
    paths = paths or LabPaths()
    with _lifecycle_lock(paths):
        _stop(list(services), paths, verbose)
        return _up(paths, verbose)


def status(paths: LabPaths | None = None) -> dict[str, dict[str, Any]]:
    paths = paths or LabPaths()
    report = {}
    for name, svc in SERVICES.items():
        pid = running_pid(paths, name)
        healthy, detail = check_service(paths, name) if pid else (False, "not running")
        report[name] = {"program": svc.program, "address": HOST, "port": svc.port,
                        "control_port": svc.control_port, "pid": pid, "healthy": healthy, "detail": detail}
    return report
