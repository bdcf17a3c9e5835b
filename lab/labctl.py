#!/usr/bin/env python3
"""Run the psf.infra lab: real DNS, ACME and SMTP services on 127.0.0.1 (`labctl.py --help`).

The code is the package `lab/psf_lab/` (one module per concern, configuration in `lab/templates/`
and, for ns1/ns2, the nameserver role's templates); this file is the command and the importable API
tests and tools use (docs/lab.md): `load_state()`, `up()`, `down()`, `status()`, `stop()`,
`restart()`, `add_zone()`, `wait_signed()`, `remove_zone()`, `delegate_zone()`, `undelegate_zone()`,
`catalog_members()`, `sync_resolver()`, `flush_resolver()`, `dns_query()`, `soa_serial()`,
`tsig_key()`, `rndc()`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from psf_lab.bind import (
    catalog_member_label,
    catalog_members,
    export_trust_anchor,
    registry_config,
    rndc,
    write_named_config,
)
from psf_lab.cli import main
from psf_lab.config import (
    CATALOG_ZONE,
    DNSSEC_POLICY,
    HOST,
    INFRA_NAMESERVERS,
    INFRA_ZONE,
    REGISTRY_ZONE,
    REPO_ROOT,
    ROOT_ZONE,
    SERVICES,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TSIG_ALGORITHM,
    LabError,
    LabPaths,
    Service,
    inventory_vars_file,
)
from psf_lab.dnsclient import (
    _name,
    dns_query,
    ds_from_dnskeys,
    publish_delegation,
    signed_dnskeys,
    soa_serial,
)
from psf_lab.dnsclient import parent_delegation as _parent_delegation
from psf_lab.keys import ensure_keys, lab_key, tsig_key
from psf_lab.lifecycle import check_service, down, restart, status, stop, up
from psf_lab.processes import pid_matches, recorded_pid, running_pid
from psf_lab.processes import wait_until as _wait_until
from psf_lab.resolver import flush_resolver, plan_stub_changes, stubs_config, sync_resolver
from psf_lab.state import ansible_vars, build_state, load_state, write_ansible_vars
from psf_lab.zones import (
    add_zone,
    delegate_reverse_zones,
    delegate_zone,
    registry_view,
    remove_zone,
    undelegate_reverse_zones,
    undelegate_zone,
    wait_signed,
)

__all__ = [
    "CATALOG_ZONE",
    "DNSSEC_POLICY",
    "HOST",
    "INFRA_NAMESERVERS",
    "INFRA_ZONE",
    "REGISTRY_ZONE",
    "REPO_ROOT",
    "ROOT_ZONE",
    "SERVICES",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "TSIG_ALGORITHM",
    "LabError",
    "LabPaths",
    "Service",
    "_name",
    "_parent_delegation",
    "_wait_until",
    "add_zone",
    "ansible_vars",
    "build_state",
    "catalog_member_label",
    "catalog_members",
    "check_service",
    "delegate_reverse_zones",
    "delegate_zone",
    "dns_query",
    "down",
    "ds_from_dnskeys",
    "ensure_keys",
    "export_trust_anchor",
    "flush_resolver",
    "inventory_vars_file",
    "lab_key",
    "load_state",
    "main",
    "pid_matches",
    "plan_stub_changes",
    "publish_delegation",
    "recorded_pid",
    "registry_config",
    "registry_view",
    "remove_zone",
    "restart",
    "rndc",
    "running_pid",
    "signed_dnskeys",
    "soa_serial",
    "status",
    "stop",
    "stubs_config",
    "sync_resolver",
    "tsig_key",
    "undelegate_reverse_zones",
    "undelegate_zone",
    "up",
    "wait_signed",
    "write_ansible_vars",
    "write_named_config",
]

if __name__ == "__main__":
    sys.exit(main())
