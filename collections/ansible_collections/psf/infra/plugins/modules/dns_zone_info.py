#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_zone_info
short_description: Read zones (AXFR) and the SOA serial served by every authoritative server
version_added: 0.1.0
description:
  - Transfers the zone from the primary (one TSIG-signed AXFR) and returns its rrsets as data.
  - Asks the primary and every server in O(secondaries) for the zone's SOA serial, so a playbook can
    wait with C(until) until all of them serve a change (RV(in_sync)).
  - The list form (O(zones) instead of O(zone)) reads many zones in one task, in O(workers) threads
    of one module process, and returns RV(zones), one item a zone in the order given. A zone that
    could not be read has C(failed) and C(msg) in its item; every other zone is still read, and the
    task then fails naming every such zone, with every item returned.
  - O(wait) makes the module itself wait, reading again only the zones not in sync yet (or not read),
    every O(wait_delay) seconds, until every zone is in sync or O(wait) seconds have passed; zones
    still not in sync then are in RV(lagging) (not a failure by itself; RV(in_sync) says it).
author:
  - PSF Infrastructure Working Group (@python)
requirements:
  - dnspython >= 2.6
  - netaddr
extends_documentation_fragment:
  - psf.infra.dns_server
  - psf.infra.dns_server.info_attributes
options:
  zone:
    description:
      - The zone.
      - Exactly one of O(zone) and O(zones) is given.
    type: str
  zones:
    description:
      - The list form - the zones to read, from the same primary and O(secondaries). Results in RV(zones).
      - An empty list reads nothing (RV(in_sync) true), so a playbook needs no C(when) for an empty scope.
    type: list
    elements: str
  workers:
    description: How many zones are read at the same time (threads, 1 to 64).
    type: int
    default: 8
  wait:
    description:
      - Seconds to wait until every zone is in sync (RV(in_sync)), reading again only the zones that
        are not; C(0) reads once.
    type: int
    default: 0
  wait_delay:
    description: Seconds between two reads of the zones not in sync yet, with O(wait).
    type: float
    default: 1.0
  include_records:
    description: Transfer the zone and return its records; C(false) only compares serials (cheap polling).
    type: bool
    default: true
  include_dnssec:
    description: Also return the DNSSEC records the server maintains (DNSKEY, RRSIG, NSEC, ...).
    type: bool
    default: false
seealso:
  - module: psf.infra.dns_zone
"""

EXAMPLES = r"""
- name: Wait until the secondaries serve the primary's serial
  psf.infra.dns_zone_info:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    secondaries:
      - {server: 127.0.0.1, port: 5302}
    zone: packaging.test
    include_records: false
  register: packaging_serials
  until: packaging_serials.in_sync
  retries: 30
  delay: 2

- name: Wait until every server serves every zone's serial (the list form, one task)
  psf.infra.dns_zone_info:
    server: 127.0.0.1
    port: 5301
    tsig_key_name: staff-key
    tsig_key_secret: "{{ psf_dns_tsig_secret }}"
    secondaries:
      - {server: 127.0.0.1, port: 5302}
    zones: [packaging.test, infra.test]
    include_records: false
    wait: 30
  register: serials
  failed_when: serials is failed or not serials.in_sync
"""

RETURN = r"""
zones:
  description:
    - The list form - one item a zone of O(zones), in the same order - C(zone) (absolute) and the keys
      the single form returns (RV(serial), RV(in_sync), RV(serials), RV(servers), and with
      O(include_records) RV(records), RV(soa), RV(nameservers), RV(signed)); or, for a zone that
      could not be read, C(zone), C(failed) (true), C(msg) and C(error).
  returned: with O(zones)
  type: list
  elements: dict
  sample: [{zone: packaging.test., serial: 12, in_sync: true, serials: {"127.0.0.1:5301": 12}, servers: []}]
lagging:
  description: The list form - the zones (absolute) not in sync, or not read, when the task ended.
  returned: with O(zones)
  type: list
  elements: str
zone:
  description: The zone, absolute.
  returned: with O(zone)
  type: str
serial:
  description: The primary's SOA serial.
  returned: with O(zone)
  type: int
in_sync:
  description:
    - True when every server in O(secondaries) serves the primary's serial.
    - The list form - true when every zone was read and is in sync.
  returned: always
  type: bool
serials:
  description: Serial per server (C(address:port)); null for a server that did not answer with one.
  returned: with O(zone)
  type: dict
  sample: {"127.0.0.1:5301": 12, "127.0.0.1:5302": 11}
servers:
  description: Per server, C({server, port, serial, in_sync, error}).
  returned: with O(zone)
  type: list
  elements: dict
records:
  description: The rrsets, as C({name, type, ttl, values}), names relative to the zone, sorted.
  returned: when O(include_records=true)
  type: list
  elements: dict
soa:
  description: The SOA record data.
  returned: when O(include_records=true)
  type: str
nameservers:
  description: The apex NS values.
  returned: when O(include_records=true)
  type: list
  elements: str
signed:
  description: Whether the zone has DNSKEY records (DNSSEC-signed).
  returned: when O(include_records=true)
  type: bool
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_SERVER, REQUIRED_LIBRARIES
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, ItemsFailed, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.parallel import WORKERS_OPTION, check_workers, run_items

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (
        secondaries_from_params,
        server_from_params,
    )
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone import zone_info
except ImportError as error:  # dnspython or netaddr missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = DNS_SERVER.merge(ArgumentSpec({
    "zone": {"type": "str"},
    "zones": {"type": "list", "elements": "str"},
    **WORKERS_OPTION,
    "wait": {"type": "int", "default": 0},
    "wait_delay": {"type": "float", "default": 1.0},
    "include_records": {"type": "bool", "default": True},
    "include_dnssec": {"type": "bool", "default": False},
}, mutually_exclusive=[["zone", "zones"]], required_one_of=[["zone", "zones"]]))


def read_zones(read, zones: list[str], *, workers: int, wait: int, wait_delay: float) -> list[dict[str, Any]]:
    """``read(zone)`` for every zone in a pool of ``workers`` threads (``module_utils/parallel.py``), the
    items in input order, a zone that could not be read with ``failed``, ``msg`` and ``error`` in its
    item; with ``wait``, the zones not in sync (or not read) read again every ``wait_delay`` seconds
    until all are in sync or ``wait`` seconds have passed."""
    items: list[dict[str, Any]] = [{} for _zone in zones]
    pending = list(range(len(zones)))
    deadline = time.monotonic() + wait
    while pending:
        for outcome in run_items([zones[index] for index in pending], lambda _position, zone: read(zone),
                                 workers=workers):
            zone = outcome.item
            items[pending[outcome.index]] = ({"zone": zone, **outcome.result} if not outcome.failed
                                             else {"zone": zone.rstrip(".") + ".", **outcome.error_fields()})
        pending = [index for index in pending if items[index].get("failed") or not items[index].get("in_sync")]
        if not pending or time.monotonic() + wait_delay > deadline:
            break
        time.sleep(wait_delay)
    return items


def check_list_params(params: dict[str, Any]) -> list[str]:
    """The list form's zones, checked before any query (an empty list reads nothing and is in sync)."""
    zones = params["zones"]
    empty = [index for index, zone in enumerate(zones) if not str(zone or "").strip(".").strip()]
    if empty:
        raise InvalidInput(f"zones has empty names at positions {empty}", field="zones")
    return [str(zone) for zone in zones]


def main() -> None:
    module = AnsibleModule(**ARGUMENT_SPEC.module_kwargs(supports_check_mode=True))
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(IMPORT_ERROR))
    params = module.params
    with fail_on_errors(module, changed=False):
        workers = check_workers(params["workers"])
        if params["wait"] < 0:
            raise InvalidInput("wait must be 0 or more seconds", field="wait")
        if params["wait_delay"] <= 0:
            raise InvalidInput("wait_delay must be more than 0 seconds", field="wait_delay")
        primary = server_from_params(params)
        secondaries = secondaries_from_params(params)
        zones = check_list_params(params) if params["zones"] is not None else None

        def read(zone: str) -> dict[str, Any]:
            result = zone_info(primary, zone, secondaries,
                               include_records=params["include_records"], include_dnssec=params["include_dnssec"])
            result.pop("changed", None)
            return result

        if zones is None:
            if not params["wait"]:
                module.exit_json(**{"changed": False, **read(params["zone"])})
            (item,) = read_zones(read, [params["zone"]], workers=1, wait=params["wait"],
                                 wait_delay=params["wait_delay"])
            if item.get("failed"):
                # the zone's own error (its kind, server, ...) is the task's
                raise ItemsFailed(item["msg"], **{key: value for key, value in item.items()
                                                  if key not in ("failed", "msg")})
            module.exit_json(**{"changed": False, **item})

        items = read_zones(read, zones, workers=workers, wait=params["wait"], wait_delay=params["wait_delay"])
        failed = [item for item in items if item.get("failed")]
        lagging = [item["zone"] for item in items if item.get("failed") or not item.get("in_sync")]
        result = {"changed": False, "zones": items, "in_sync": not lagging, "lagging": lagging}
        if failed:
            raise ItemsFailed(f"{len(failed)} of {len(items)} zones could not be read (every item is in zones): "
                              + "; ".join(item["msg"] if str(item["msg"]).startswith(str(item["zone"]).rstrip("."))
                                          else f"{item['zone']}: {item['msg']}" for item in failed),
                              **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
