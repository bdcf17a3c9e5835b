#!/usr/bin/env python3
"""Lab only: delegate tenant zones from the lab registry (`test.`) to the Infra-WG name servers.

The lab's stand-in for the registrar (and for tenants who set their NS at their own registrar)
until the registrar playbooks exist: NS ns1/ns2.infra.test. and, for signed zones, the DS of the
zone's keys on ns1, published in `test.` with the registry key (labctl.publish_delegation, through
the collection's DNS client; nothing changes when the delegation is already right). Prints JSON
{"changed": [zones]}.

    lab/delegate-zones.py [--check] packaging.test:signed pyladies-berlin.test:unsigned
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl


def wanted_ds(zone: str, signed: bool, wait: bool = True) -> list | None:
    """The DS set `test.` should hold; None when the zone is not signed on ns1 yet (check mode)."""
    if not signed:
        return []
    if not wait:
        keys = labctl.signed_dnskeys(labctl.SERVICES["ns1"].port, zone)
        return labctl.ds_from_dnskeys(zone, keys) if keys else None
    keys = labctl._wait_until(lambda: labctl.signed_dnskeys(labctl.SERVICES["ns1"].port, zone),
                              labctl.START_TIMEOUT, f"{zone} to be signed on ns1")
    return labctl.ds_from_dnskeys(zone, keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what would change")
    parser.add_argument("zones", nargs="*", metavar="ZONE:signed|unsigned")
    args = parser.parse_args(argv)
    paths = labctl.LabPaths()
    key = labctl.lab_key("registry-key", paths)
    nameservers = dict.fromkeys(labctl.INFRA_NAMESERVERS, labctl.HOST)
    registry_port = labctl.SERVICES["registry"].port
    changed = []
    for spec in args.zones:
        name, _, kind = spec.partition(":")
        zone = labctl._name(name).to_text()
        if args.check:
            ds = wanted_ds(zone, kind != "unsigned", wait=False)
            current_ns, current_ds = labctl._parent_delegation(registry_port, zone)
            if ds is None or current_ns != set(nameservers) or current_ds != {rdata.to_text() for rdata in ds}:
                changed.append(zone)
            continue
        ds = wanted_ds(zone, kind != "unsigned")
        if labctl.publish_delegation(registry_port, labctl.REGISTRY_ZONE, zone, key, ds, nameservers):
            labctl.flush_resolver(zone, paths)
            changed.append(zone)
    print(json.dumps({"changed": changed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
