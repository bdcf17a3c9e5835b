"""Names, ports and paths of the lab (the contract of docs/lab.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
TSIG_ALGORITHM = "hmac-sha256"
DNSSEC_POLICY = "lab"
# A test-only policy on ns1 (lab/templates/named/dnssec-policy.conf.j2): a CSK whose whole rollover
# fits in a minute or two, for tests/integration/test_dnssec_rollover.py. Seconds everywhere; the DS
# TTL at the parent the test publishes with is ROLLOVER_TIMINGS["parent-ds-ttl"]. Signatures are
# re-signed every validity - refresh = 20 s (that is also BIND's sign delay in a rollover).
ROLLOVER_POLICY = "lab-rollover"
ROLLOVER_TIMINGS = {
    "dnskey-ttl": 5, "max-zone-ttl": 5, "parent-ds-ttl": 5, "parent-propagation-delay": 1,
    "publish-safety": 1, "retire-safety": 1, "zone-propagation-delay": 1,
    "signatures-refresh": 100, "signatures-validity": 120, "signatures-validity-dnskey": 120,
    "signatures-jitter": 5, "purge-keys": 0,
}
ROOT_ZONE = "."
REGISTRY_ZONE = "test."
INFRA_ZONE = "infra.test."
CATALOG_ZONE = "catalog.infra.test."
INFRA_NAMESERVERS = ("ns1.infra.test.", "ns2.infra.test.")
REGISTRY_NAMESERVER = "ns.registry.test."
# Keys handed to the collection (Ansible variables) and keys only the lab itself uses.
PUBLIC_TSIG_KEYS = ("registry-key", "staff-key", "transfer-key")
INTERNAL_KEYS = ("root-key", "rndc-key")
DELEGATION_TTL = 300
REGISTRY_NEGATIVE_TTL = 2


@dataclass(frozen=True)
class Service:
    name: str
    program: str
    port: int
    control_port: int | None


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("registry", "named", 5300, 9530),
        Service("ns1", "named", 5301, 9531),
        Service("ns2", "named", 5302, 9532),
        Service("resolver", "unbound", 5310, 9510),
        Service("acme", "pebble", 14000, 15000),
        Service("smtp", "aiosmtpd", 2525, None),
    )
}
PEBBLE_HTTP_PORT = 5002
PEBBLE_TLS_PORT = 5001
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class LabError(RuntimeError):
    """Something in the lab failed; the message says what and where to look."""


class LabPaths:
    """Every path under the lab directory (`.lab/`, or PSF_LAB_DIR)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or os.environ.get("PSF_LAB_DIR") or REPO_ROOT / ".lab").resolve()

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def anchor_dir(self) -> Path:
        return self.root / "trust-anchor"

    @property
    def pebble(self) -> Path:
        return self.root / "pebble"

    @property
    def resolver(self) -> Path:
        return self.root / "resolver"

    def server_dir(self, service: str) -> Path:
        return self.root / service

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def out_file(self, service: str) -> Path:
        return self.log / f"{service}.out"

    def log_file(self, service: str) -> Path:
        return self.log / f"{service}.log"

    def key_file(self, key: str) -> Path:
        return self.keys / f"{key}.key"

    @property
    def rndc_conf(self) -> Path:
        return self.keys / "rndc.conf"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def anchor_conf(self) -> Path:
        return self.anchor_dir / "anchor.conf"

    @property
    def root_key(self) -> Path:
        return self.anchor_dir / "root.key"

    @property
    def root_ds(self) -> Path:
        return self.anchor_dir / "root.ds"

    @property
    def ns1_zones_include(self) -> Path:
        return self.server_dir("ns1") / "zones.conf"

    @property
    def ns1_zone_dir(self) -> Path:
        return self.server_dir("ns1") / "zones"

    @property
    def stubs_conf(self) -> Path:
        return self.resolver / "stubs.conf"

    @property
    def unbound_conf(self) -> Path:
        return self.resolver / "unbound.conf"


def inventory_vars_file(paths: LabPaths) -> Path:
    """Where `up` writes the Ansible variables: the lab inventory for the shared lab in .lab/,
    next to the state for a lab elsewhere (PSF_LAB_DIR) so that it never clobbers the shared one;
    PSF_LAB_INVENTORY_VARS overrides both."""
    if os.environ.get("PSF_LAB_INVENTORY_VARS"):
        return Path(os.environ["PSF_LAB_INVENTORY_VARS"])
    if paths.root == (REPO_ROOT / ".lab").resolve():
        return REPO_ROOT / "inventories" / "lab" / "group_vars" / "all" / "lab_generated.yml"
    return paths.root / "lab_generated.yml"
