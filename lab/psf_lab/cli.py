"""Run the psf.infra lab: real DNS, ACME and SMTP services on 127.0.0.1.

    labctl.py up             start what is not running, wait until everything is healthy
    labctl.py status [--json] health of every service (exit 1 when one is down)
    labctl.py down [--wipe]  stop the recorded processes; --wipe also drops zone data and
                             DNSSEC keys (TSIG and rndc keys in .lab/keys/ are always kept)
    labctl.py restart ns1 ... stop these services (their configuration is rewritten) and run up
    labctl.py stop ns1 ...   stop only these services (`up` starts them again)
    labctl.py sync-resolver  point the resolver's stub zones at every zone of the catalog
    labctl.py flush-resolver ZONE ...  forget what the resolver holds at or below these zones
    labctl.py delegate-reverse ZONE ...  the lab root delegates these reverse zones of ns1 (NS, DS);
                             the resolver stops answering them from its built-in local zones; JSON
                             (after their delegation changed in the lab registry)
    labctl.py check-zones    ask the registry and the resolver about every zone of a JSON request
                             on stdin (psf_lab/zone_check.py; playbooks/dns.yml), print JSON
    labctl.py libvirtd up|down  the lab's libvirtd (not part of `up`; see docs/vms.md)
    labctl.py guests up|forward|down  the lab's site on libvirt guests (make demo VM_PROVIDER=libvirt):
                             libvirtd, the standard image and .lab/guests/inventory; the forwarders
                             to the lab's backup and monitoring machines; all of it taken away
    labctl.py vm-image [--force] build the standard VM image when its recipe changed
                             (lab/build-vm-image.sh, cached in .cache/vm-image/); print its path

The contract (ports, files) is docs/lab.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

from psf_lab.config import SERVICES, LabError, LabPaths
from psf_lab.lifecycle import down, restart, status, stop, up
from psf_lab.resolver import flush_resolver, sync_resolver


def print_status(report: dict[str, dict[str, Any]]) -> None:
    print(f"{'service':9} {'program':9} {'address':16} {'control':6} {'pid':>7}  health")
    for name, entry in report.items():
        address = f"{entry['address']}:{entry['port']}"
        mark = "ok" if entry["healthy"] else "DOWN"
        print(f"{name:9} {entry['program']:9} {address:16} {entry['control_port'] or '':<6} "
              f"{entry['pid'] or '-':>7}  {mark:4} {entry['detail']}")


def guests_command(action: str) -> None:
    from psf_lab import guests, vm_image
    from psf_lab import libvirt as lab_libvirt  # libvirt-python is needed only here

    paths = LabPaths()
    if action == "down":
        names = guests.forwarders_down(paths)
        removed = guests.remove_guests(paths, lab_libvirt.start(paths)) if lab_libvirt.running(paths) else []
        lab_libvirt.stop(paths)
        print(json.dumps({"forwarders_stopped": names, "guests_removed": removed}))
        return
    state = lab_libvirt.start(paths)
    if action == "up":
        import libvirt

        image = vm_image.build()
        volume = vm_image.put_in_pool(image, state["pool_dir"])
        conn = libvirt.open(state["uri"])
        try:
            conn.storagePoolLookupByName(state["pool"]).refresh(0)
        finally:
            conn.close()
        print(json.dumps(guests.write_inventory(paths, state, volume), indent=2))
    else:
        site_file = guests.site_dir(paths) / "site.json"
        if not site_file.exists():
            raise LabError(f"{site_file} is missing: run `labctl.py guests up` first")
        site = json.loads(site_file.read_text())
        print(json.dumps({"forwarders": guests.forwarders_up(paths, state, "demo", site["guests"])}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the lab and wait until it is healthy")
    down_parser = sub.add_parser("down", help="stop the lab")
    down_parser.add_argument("--wipe", action="store_true", help="also drop zone data and DNSSEC keys")
    status_parser = sub.add_parser("status", help="health of every service")
    status_parser.add_argument("--json", action="store_true")
    sub.add_parser("sync-resolver", help="refresh the resolver's stub zones from the catalog")
    flush_parser = sub.add_parser("flush-resolver", help="forget what the resolver holds below these zones")
    flush_parser.add_argument("zones", nargs="+")
    sub.add_parser("check-zones", help="do these zones resolve through the lab resolver (JSON on stdin)")
    reverse_parser = sub.add_parser("delegate-reverse", help="delegate these reverse zones of ns1 from the lab root")
    reverse_parser.add_argument("zones", nargs="+")
    restart_parser = sub.add_parser("restart", help="stop these services (recorded PIDs) and run up")
    restart_parser.add_argument("services", nargs="+", choices=list(SERVICES))
    stop_parser = sub.add_parser("stop", help="stop only these services (`up` starts them again)")
    stop_parser.add_argument("services", nargs="+", choices=list(SERVICES))
    libvirtd_parser = sub.add_parser("libvirtd", help="start or stop the lab's libvirtd (docs/vms.md)")
    libvirtd_parser.add_argument("action", choices=["up", "down"])
    guests_parser = sub.add_parser(
        "guests", help="the lab's site on libvirt guests (make demo VM_PROVIDER=libvirt; docs/vms.md): up = "
        "libvirtd, the standard image and the guest inventory; forward = the forwarders to the lab machines; "
        "down = forwarders, guests and libvirtd stopped")
    guests_parser.add_argument("action", choices=["up", "forward", "down"])
    image_parser = sub.add_parser("vm-image", help="build the standard VM image when its recipe changed")
    image_parser.add_argument("--force", action="store_true", help="rebuild even when it is up to date")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            up(verbose=True)
            print_status(status())
            print(f"lab up in {time.monotonic() - started:.1f}s")
        elif args.command == "down":
            started = time.monotonic()
            down(wipe=args.wipe, verbose=True)
            print(f"lab down in {time.monotonic() - started:.1f}s")
        elif args.command == "status":
            report = status()
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                print_status(report)
            return 0 if all(entry["healthy"] for entry in report.values()) else 1
        elif args.command == "restart":
            restart(args.services, verbose=True)
        elif args.command == "stop":
            stop(args.services, verbose=True)
        elif args.command == "sync-resolver":
            print(json.dumps(sync_resolver()))
        elif args.command == "check-zones":
            from psf_lab.zone_check import check_zones

            try:
                request = json.load(sys.stdin)
            except json.JSONDecodeError as err:
                raise LabError(f"the request on stdin is not JSON: {err}") from None
            print(json.dumps(check_zones(request)))
        elif args.command == "flush-resolver":
            for zone in args.zones:
                flush_resolver(zone)
        elif args.command == "delegate-reverse":
            from psf_lab.zones import delegate_reverse_zones

            print(json.dumps(delegate_reverse_zones(args.zones)))
        elif args.command == "libvirtd":
            from psf_lab import libvirt as lab_libvirt  # libvirt-python is needed only here

            if args.action == "up":
                print(json.dumps(lab_libvirt.start()))
            else:
                lab_libvirt.stop()
        elif args.command == "guests":
            guests_command(args.action)
        elif args.command == "vm-image":
            from psf_lab.vm_image import build

            print(json.dumps(build(force=args.force)))
    except (LabError, PsfInfraError) as exc:
        print(f"labctl {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
