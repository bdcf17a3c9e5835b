#!/usr/bin/env python3
"""Run the psf.infra lab: real DNS, ACME and SMTP services on 127.0.0.1.

    labctl.py up             start what is not running, wait until everything is healthy
    labctl.py status [--json] health of every service (exit 1 when one is down)
    labctl.py down [--wipe]  stop the recorded processes; --wipe also drops zone data and
                             DNSSEC keys (TSIG and rndc keys in .lab/keys/ are always kept)
    labctl.py stop ns1 ...   stop only these services (`up` starts them again)
    labctl.py sync-resolver  point the resolver's stub zones at every zone of the catalog

The contract (ports, files) is docs/lab.md. Importable API: `load_state()`, `up()`, `down()`,
`status()`, `stop()`, `restart()`, `add_zone()`, `remove_zone()`, `delegate_zone()`, `undelegate_zone()`,
`catalog_members()`, `sync_resolver()`, `flush_resolver()`, `dns_query()`, `soa_serial()`, `tsig_key()`, `rndc()`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import dns.zone

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TSIG_ALGORITHM = "hmac-sha256"
DNSSEC_POLICY = "lab"
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


# --------------------------------------------------------------------------- paths


class LabPaths:
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


# --------------------------------------------------------------------------- keys


def _key_stanza(name: str, secret: str) -> str:
    return f'key "{name}" {{\n\talgorithm {TSIG_ALGORITHM};\n\tsecret "{secret}";\n}};\n'


def ensure_keys(paths: LabPaths) -> dict[str, str]:
    """Create missing TSIG/rndc keys (BIND syntax, mode 0600); return name -> base64 secret."""
    paths.keys.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.keys, 0o700)
    found: dict[str, str] = {}
    for name in (*PUBLIC_TSIG_KEYS, *INTERNAL_KEYS):
        path = paths.key_file(name)
        if not path.exists():
            secret = base64.b64encode(secrets.token_bytes(32)).decode()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_key_stanza(name, secret))
        match = re.search(r'secret\s+"([^"]+)"', path.read_text())
        if not match:
            raise LabError(f"{path}: no secret found; delete the file to regenerate the key")
        found[name] = match.group(1)
    rndc_conf = (
        f'include "{paths.key_file("rndc-key")}";\n'
        f'options {{ default-key "rndc-key"; default-server {HOST}; }};\n'
    )
    _write_if_changed(paths.rndc_conf, rndc_conf, mode=0o600)
    return found


def tsig_key(name: str, paths: LabPaths | None = None) -> dns.tsig.Key:
    paths = paths or LabPaths()
    text = paths.key_file(name).read_text()
    match = re.search(r'secret\s+"([^"]+)"', text)
    if not match:
        raise LabError(f"{paths.key_file(name)}: no secret")
    return dns.tsig.Key(name, match.group(1), TSIG_ALGORITHM)


# --------------------------------------------------------------------------- small helpers


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    tmp.replace(path)
    return True


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"  ({path} does not exist)"
    content = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in content) or f"  ({path} is empty)"


def _wait_until(predicate: Callable[[], Any], timeout: float, what: str, on_timeout: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except LabError:
            raise
        except Exception as exc:  # the service is still starting; remember why
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{on_timeout}")
        time.sleep(0.1)


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


# --------------------------------------------------------------------------- processes


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def pid_matches(pid: int, program: str) -> bool:
    """The PID is alive (not a zombie) and runs `program` (guards against PID reuse)."""
    state = _proc_state(pid)
    if state is None or state in ("Z", "X"):
        _reap(pid)
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(program in Path(part.decode(errors="replace")).name or program in part.decode(errors="replace")
               for part in cmdline[:3])


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def recorded_pid(paths: LabPaths, service: str) -> int | None:
    try:
        return int(paths.pid_file(service).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(paths: LabPaths, service: str) -> int | None:
    pid = recorded_pid(paths, service)
    if pid is not None and pid_matches(pid, SERVICES[service].program):
        return pid
    return None


def _spawn(paths: LabPaths, service: str, argv: list[str], env: dict[str, str] | None = None,
           cwd: Path | None = None) -> int:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.log.mkdir(parents=True, exist_ok=True)
    with open(paths.out_file(service), "ab") as out:
        out.write(f"--- {datetime.datetime.now(datetime.UTC).isoformat()} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd or paths.root, env={**os.environ, **(env or {})}, start_new_session=True,
        )
    paths.pid_file(service).write_text(f"{proc.pid}\n")
    return proc.pid


def _listening_ports() -> set[int]:
    """Ports with a TCP listener or a bound UDP socket on 127.0.0.1 or 0.0.0.0 (from /proc/net)."""
    ports: set[int] = set()
    for table, wanted_state in (("tcp", "0A"), ("udp", "07"), ("tcp6", "0A"), ("udp6", "07")):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == wanted_state:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def lab_ports() -> set[int]:
    ports = {s.port for s in SERVICES.values()}
    ports |= {s.control_port for s in SERVICES.values() if s.control_port}
    return ports


def _stop_pid(pid: int, program: str) -> None:
    if not pid_matches(pid, program):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not pid_matches(pid, program):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: not pid_matches(pid, program), 5, f"PID {pid} to die after SIGKILL")


# --------------------------------------------------------------------------- DNS client helpers


def dns_query(port: int, name: str, rdtype: str, dnssec: bool = False, timeout: float = 2.0,
              recursion: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    if not recursion:
        query.flags &= ~dns.flags.RD
    response, _ = dns.query.udp_with_fallback(query, HOST, port=port, timeout=timeout)
    return response


def _answer(response: dns.message.Message, name: str, rdtype: str) -> dns.rrset.RRset | None:
    try:
        return response.find_rrset(response.answer, _name(name), dns.rdataclass.IN,
                                   dns.rdatatype.from_text(rdtype))
    except KeyError:
        return None


def _rrsig_covers(response: dns.message.Message, name: str, rdtype: str) -> bool:
    try:
        response.find_rrset(response.answer, _name(name), dns.rdataclass.IN, dns.rdatatype.RRSIG,
                            dns.rdatatype.from_text(rdtype))
    except KeyError:
        return False
    return True


def soa_serial(port: int, zone: str) -> int | None:
    response = dns_query(port, zone, "SOA")
    rrset = _answer(response, zone, "SOA")
    if response.rcode() != dns.rcode.NOERROR or not (response.flags & dns.flags.AA) or rrset is None:
        return None
    return rrset[0].serial


def signed_dnskeys(port: int, zone: str) -> dns.rrset.RRset | None:
    """The zone's DNSKEY RRset once the zone is fully signed (DNSKEY, SOA and apex NSEC signed)."""
    for rdtype in ("SOA", "NSEC"):
        if not _rrsig_covers(dns_query(port, zone, rdtype, dnssec=True), zone, rdtype):
            return None
    response = dns_query(port, zone, "DNSKEY", dnssec=True)
    if not _rrsig_covers(response, zone, "DNSKEY"):
        return None
    return _answer(response, zone, "DNSKEY")


def ds_from_dnskeys(zone: str, dnskeys: Iterable[dns.rdata.Rdata]) -> list[dns.rdata.Rdata]:
    """SHA-256 DS records for the key-signing keys (SEP flag) of a zone."""
    return sorted(
        (dns.dnssec.make_ds(_name(zone), key, "SHA256") for key in dnskeys if key.flags & 0x0001),
        key=lambda rdata: rdata.to_text(),
    )


def send_update(port: int, zone: str, key: dns.tsig.Key, build: Callable[[dns.update.UpdateMessage], None],
                timeout: float = 5.0) -> None:
    update = dns.update.UpdateMessage(zone, keyring=key)
    build(update)
    response = dns.query.tcp(update, HOST, port=port, timeout=timeout)
    if response.rcode() != dns.rcode.NOERROR:
        raise LabError(f"UPDATE of {zone} on port {port} with {key.name} refused: "
                       f"{dns.rcode.to_text(response.rcode())}")


def _parent_delegation(port: int, child: str) -> tuple[set[str], set[str]]:
    """(NS targets, DS rdata texts) the parent server holds for `child`."""
    ns_response = dns_query(port, child, "NS")
    ns = set()
    for section in (ns_response.answer, ns_response.authority):
        for rrset in section:
            if rrset.name == _name(child) and rrset.rdtype == dns.rdatatype.NS:
                ns = {rdata.target.to_text() for rdata in rrset}
    ds_rrset = _answer(dns_query(port, child, "DS"), child, "DS")
    ds = {rdata.to_text() for rdata in ds_rrset} if ds_rrset else set()
    return ns, ds


def publish_delegation(parent_port: int, parent_zone: str, child: str, key: dns.tsig.Key,
                       ds: list[dns.rdata.Rdata], nameservers: dict[str, str] | None = None) -> bool:
    """Make the parent hold exactly these NS (+ glue) and DS for `child` (RFC 2136); True if changed."""
    current_ns, current_ds = _parent_delegation(parent_port, child)
    wanted_ds = {rdata.to_text() for rdata in ds}
    ns_ok = nameservers is None or current_ns == set(nameservers)
    if ns_ok and current_ds == wanted_ds:
        return False

    def build(update: dns.update.UpdateMessage) -> None:
        if nameservers is not None:
            update.replace(child, DELEGATION_TTL, "NS", *nameservers)
            for host, address in nameservers.items():
                if _name(host).is_subdomain(_name(child)):
                    update.replace(host, DELEGATION_TTL, "A", address)
        if ds:
            update.replace(child, DELEGATION_TTL, *ds)
        else:
            update.delete(child, "DS")

    send_update(parent_port, parent_zone, key, build)
    return True


# --------------------------------------------------------------------------- configuration


def _dnssec_policy_block() -> str:
    # Short enough that a lab rollover is observable, sane enough for validators.
    return f"""dnssec-policy "{DNSSEC_POLICY}" {{
	keys {{ csk lifetime unlimited algorithm ecdsap256sha256; }};
	dnskey-ttl 300;
	max-zone-ttl 3600;
	parent-ds-ttl 300;
	parent-propagation-delay 5;
	publish-safety 5;
	retire-safety 5;
	zone-propagation-delay 5;
	signatures-refresh 5d;
	signatures-validity 14d;
	signatures-validity-dnskey 14d;
	purge-keys 1d;
}};
"""


def _named_common(paths: LabPaths, service: str, keys: Iterable[str], options: str) -> str:
    svc = SERVICES[service]
    directory = paths.server_dir(service)
    includes = "".join(f'include "{paths.key_file(k)}";\n' for k in ("rndc-key", *keys))
    return f"""// Written by lab/labctl.py at start; edits are overwritten.
{includes}
controls {{ inet {HOST} port {svc.control_port} allow {{ {HOST}; }} keys {{ "rndc-key"; }}; }};

{_dnssec_policy_block()}
options {{
	directory "{directory}";
	key-directory "{directory / 'keys'}";
	managed-keys-directory "{directory}";
	listen-on port {svc.port} {{ {HOST}; }};
	listen-on-v6 {{ none; }};
	pid-file none;
	lock-file "{paths.run / (service + '.lock')}";
	session-keyfile none;
	recursion no;
	dnssec-validation no;
	querylog no;
	minimal-responses no;
	sig-signing-nodes 10000;
	sig-signing-signatures 10000;
{options}}};

logging {{
	channel lab_log {{ file "{paths.log_file(service)}" versions 2 size 10m; print-time yes; severity info; }};
	category default {{ lab_log; }};
	category lame-servers {{ null; }};
}};
"""


def _zone_header(origin: str, primary: str, negative_ttl: int = 60) -> str:
    return f"$ORIGIN {origin}\n$TTL 300\n@ SOA {primary} hostmaster.{INFRA_ZONE} 1 300 30 1209600 {negative_ttl}\n"


def registry_config(paths: LabPaths) -> str:
    options = "\tnotify no;\n\tallow-transfer { key registry-key; key root-key; };\n"
    zones_dir = paths.server_dir("registry") / "zones"
    return _named_common(paths, "registry", ("registry-key", "root-key"), options) + f"""
zone "." {{
	type primary;
	file "{zones_dir / 'root.db'}";
	dnssec-policy {DNSSEC_POLICY};
	inline-signing no;
	// The lab's "IANA": only the lab's own root-key edits delegations and DS in the root.
	update-policy {{ grant root-key wildcard *. NS DS A AAAA; }};
}};

zone "{REGISTRY_ZONE}" {{
	type primary;
	file "{zones_dir / 'test.db'}";
	dnssec-policy {DNSSEC_POLICY};
	inline-signing no;
	// The registry: registrars (registry-key) edit delegations, glue and DS below test., never the apex.
	update-policy {{ grant registry-key wildcard *.{REGISTRY_ZONE} NS DS A AAAA; }};
}};
"""


def _zone_update_policy() -> str:
    return "update-policy { grant staff-key zonesub ANY; };"


def ns1_config(paths: LabPaths) -> str:
    ns2 = SERVICES["ns2"]
    options = f"""	allow-new-zones yes;
	notify explicit;
	also-notify {{ {HOST} port {ns2.port} key transfer-key; }};
	// BIND waits 5 s between NOTIFY rounds of a zone by default; the lab wants changes on ns2 at once.
	notify-delay 0;
	allow-transfer {{ key transfer-key; key staff-key; }};
"""
    zones_dir = paths.ns1_zone_dir
    return _named_common(paths, "ns1", ("staff-key", "transfer-key"), options) + f"""
zone "{INFRA_ZONE}" {{
	type primary;
	file "{zones_dir / 'infra.test.db'}";
	dnssec-policy {DNSSEC_POLICY};
	inline-signing no;
	{_zone_update_policy()}
}};

// Catalog zone (version 2): every member listed here is picked up by the secondaries by itself.
zone "{CATALOG_ZONE}" {{
	type primary;
	file "{zones_dir / 'catalog.infra.test.db'}";
	{_zone_update_policy()}
}};

// Tenant zone statements managed by the nameserver role (never written by labctl after creation).
include "{paths.ns1_zones_include}";
"""


def ns2_config(paths: LabPaths) -> str:
    ns1 = SERVICES["ns1"]
    primaries = f"{HOST} port {ns1.port} key transfer-key;"
    directory = paths.server_dir("ns2")
    options = f"""	notify no;
	allow-new-zones yes;
	allow-transfer {{ key transfer-key; key staff-key; }};
	catalog-zones {{
		zone "{CATALOG_ZONE}"
			default-primaries {{ {primaries} }}
			zone-directory "{directory / 'catzones'}"
			in-memory no
			min-update-interval 1;
	}};
"""
    return _named_common(paths, "ns2", ("transfer-key",), options) + f"""
zone "{CATALOG_ZONE}" {{
	type secondary;
	primaries {{ {primaries} }};
	file "{directory / 'catalog.infra.test.db'}";
}};

zone "{INFRA_ZONE}" {{
	type secondary;
	primaries {{ {primaries} }};
	file "{directory / 'infra.test.db'}";
}};
"""


def _initial_zone_files(paths: LabPaths) -> dict[Path, str]:
    reg = paths.server_dir("registry") / "zones"
    # Validators keep "this name has no DS" (the NSEC proof) in their key cache for the NSEC TTL,
    # which resolver cache caps do not shorten: a short negative TTL in the parents lets a zone
    # that was just delegated validate within seconds.
    root = (
        _zone_header(".", REGISTRY_NAMESERVER, REGISTRY_NEGATIVE_TTL)
        + f"@ NS {REGISTRY_NAMESERVER}\n{REGISTRY_ZONE} NS {REGISTRY_NAMESERVER}\n{REGISTRY_NAMESERVER} A {HOST}\n"
    )
    test = (
        _zone_header(REGISTRY_ZONE, REGISTRY_NAMESERVER, REGISTRY_NEGATIVE_TTL)
        + f"@ NS {REGISTRY_NAMESERVER}\n{REGISTRY_NAMESERVER} A {HOST}\n"
    )
    infra = (
        _zone_header(INFRA_ZONE, INFRA_NAMESERVERS[0])
        + "".join(f"@ NS {ns}\n" for ns in INFRA_NAMESERVERS)
        + "".join(f"{ns} A {HOST}\n" for ns in INFRA_NAMESERVERS)
    )
    catalog = (
        f"$ORIGIN {CATALOG_ZONE}\n$TTL 60\n@ SOA invalid. invalid. 1 300 30 1209600 60\n@ NS invalid.\n"
        'version TXT "2"\n'
    )
    return {
        reg / "root.db": root,
        reg / "test.db": test,
        paths.ns1_zone_dir / "infra.test.db": infra,
        paths.ns1_zone_dir / "catalog.infra.test.db": catalog,
        paths.ns1_zones_include: "// Tenant zone statements (managed by the psf.infra nameserver role).\n",
    }


def write_named_config(paths: LabPaths, service: str) -> Path:
    directory = paths.server_dir(service)
    for sub in {"registry": ("keys", "zones"), "ns1": ("keys", "zones"), "ns2": ("catzones",)}[service]:
        (directory / sub).mkdir(parents=True, exist_ok=True)
    for path, text in _initial_zone_files(paths).items():
        if path.is_relative_to(directory) and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    builder = {"registry": registry_config, "ns1": ns1_config, "ns2": ns2_config}[service]
    conf = directory / "named.conf"
    _write_if_changed(conf, builder(paths))
    return conf


def _stub_block(zone: str, servers: Iterable[int]) -> str:
    addrs = "".join(f"\tstub-addr: {HOST}@{port}\n" for port in servers)
    return f'stub-zone:\n\tname: "{zone}"\n\tstub-prime: no\n{addrs}'


STATIC_STUBS = {ROOT_ZONE: (SERVICES["registry"].port,), REGISTRY_ZONE: (SERVICES["registry"].port,)}
INFRA_STUB_PORTS = (SERVICES["ns1"].port, SERVICES["ns2"].port)


def stubs_config(zones: Iterable[str]) -> str:
    blocks = [_stub_block(zone, ports) for zone, ports in STATIC_STUBS.items()]
    blocks += [_stub_block(zone, INFRA_STUB_PORTS) for zone in sorted(set(zones))]
    return "# Written by lab/labctl.py (sync-resolver): stub zones of the lab.\n" + "".join(blocks)


def unbound_config(paths: LabPaths) -> str:
    svc = SERVICES["resolver"]
    res = paths.resolver
    return f"""# Written by lab/labctl.py at start; edits are overwritten.
server:
	interface: {HOST}@{svc.port}
	port: {svc.port}
	do-ip6: no
	do-not-query-localhost: no
	access-control: 127.0.0.0/8 allow
	username: ""
	chroot: ""
	directory: "{res}"
	pidfile: ""
	logfile: "{paths.log_file('resolver')}"
	use-syslog: no
	verbosity: 1
	num-threads: 1
	module-config: "validator iterator"
	trust-anchor-file: "{paths.root_key}"
	local-zone: "{REGISTRY_ZONE}" nodefault
	val-bogus-ttl: 1
	# ACME validation (pebble asks this resolver) and tests want fresh answers: keep caches short.
	cache-max-ttl: 1
	cache-max-negative-ttl: 1
	aggressive-nsec: no
	infra-host-ttl: 5
	prefetch: no
	serve-expired: no
	harden-referral-path: no

remote-control:
	control-enable: yes
	control-interface: {HOST}
	control-port: {svc.control_port}
	server-key-file: "{res / 'unbound_server.key'}"
	server-cert-file: "{res / 'unbound_server.pem'}"
	control-key-file: "{res / 'unbound_control.key'}"
	control-cert-file: "{res / 'unbound_control.pem'}"

include: "{paths.stubs_conf}"
"""


def pebble_config(paths: LabPaths) -> str:
    acme = SERVICES["acme"]
    return json.dumps({"pebble": {
        "listenAddress": f"{HOST}:{acme.port}",
        "managementListenAddress": f"{HOST}:{acme.control_port}",
        "certificate": str(paths.pebble / "cert.pem"),
        "privateKey": str(paths.pebble / "key.pem"),
        "httpPort": PEBBLE_HTTP_PORT,
        "tlsPort": PEBBLE_TLS_PORT,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}, indent=2) + "\n"


def ensure_pebble_tls(paths: LabPaths) -> None:
    """A small CA and a certificate for 127.0.0.1/localhost for pebble's own HTTPS (made once)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_pem, cert_pem, key_pem = paths.pebble / "ca.pem", paths.pebble / "cert.pem", paths.pebble / "key.pem"
    if ca_pem.exists() and cert_pem.exists() and key_pem.exists():
        return
    paths.pebble.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psf.infra lab CA for pebble HTTPS")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = {"encoding": pem, "format": serialization.PrivateFormat.PKCS8,
               "encryption_algorithm": serialization.NoEncryption()}
    _write_if_changed(paths.pebble / "ca.key", ca_key.private_bytes(**private).decode(), mode=0o600)
    _write_if_changed(key_pem, leaf_key.private_bytes(**private).decode(), mode=0o600)
    _write_if_changed(cert_pem, leaf.public_bytes(pem).decode())
    _write_if_changed(ca_pem, ca_cert.public_bytes(pem).decode())


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
        _write_if_changed(path, content.decode(), mode=0o600)


# --------------------------------------------------------------------------- health checks


def _https_opener(paths: LabPaths) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=str(paths.pebble / "ca.pem"))
    # No proxy: the lab is loopback only, whatever the environment says.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(context=context))


def https_get(paths: LabPaths, url: str, timeout: float = 3.0) -> bytes:
    with _https_opener(paths).open(url, timeout=timeout) as response:
        return response.read()


def smtp_banner(port: int, timeout: float = 2.0) -> str:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        banner = sock.recv(512).decode(errors="replace")
        sock.sendall(b"QUIT\r\n")
    return banner.strip()


def check_service(paths: LabPaths, service: str) -> tuple[bool, str]:
    """(healthy, detail) from a real request to the service."""
    svc = SERVICES[service]
    try:
        if service == "registry":
            serial = soa_serial(svc.port, REGISTRY_ZONE)
            return serial is not None, f"SOA {REGISTRY_ZONE} serial {serial}"
        if service in ("ns1", "ns2"):
            serial = soa_serial(svc.port, INFRA_ZONE)
            return serial is not None, f"SOA {INFRA_ZONE} serial {serial}"
        if service == "resolver":
            response = dns_query(svc.port, INFRA_ZONE, "SOA", dnssec=True, recursion=True)
            validated = bool(response.flags & dns.flags.AD)
            return (response.rcode() == dns.rcode.NOERROR and validated,
                    f"SOA {INFRA_ZONE} {dns.rcode.to_text(response.rcode())}"
                    f"{' validated (AD)' if validated else ' NOT validated'}")
        if service == "acme":
            directory = json.loads(https_get(paths, f"https://{HOST}:{svc.port}/dir"))
            return "newNonce" in directory, "ACME directory over verified HTTPS"
        if service == "smtp":
            banner = smtp_banner(svc.port)
            return banner.startswith("220"), banner[:60]
    except (OSError, dns.exception.DNSException, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    raise LabError(f"unknown service {service}")


# --------------------------------------------------------------------------- trust anchor


def export_trust_anchor(paths: LabPaths, dnskeys: dns.rrset.RRset) -> bool:
    ksks = [key for key in dnskeys if key.flags & 0x0001]
    if not ksks:
        raise LabError("the lab root has no key-signing key (SEP flag)")
    anchor_lines = "".join(
        f'\t. static-key {key.flags} {key.protocol} {key.algorithm} "{base64.b64encode(key.key).decode()}";\n'
        for key in ksks)
    changed = _write_if_changed(paths.anchor_conf, f"trust-anchors {{\n{anchor_lines}}};\n")
    changed |= _write_if_changed(paths.root_key, "".join(f". {dnskeys.ttl} IN DNSKEY {key.to_text()}\n"
                                                         for key in ksks))
    changed |= _write_if_changed(paths.root_ds, "".join(f". IN DS {ds.to_text()}\n"
                                                        for ds in ds_from_dnskeys(".", ksks)))
    return changed


# --------------------------------------------------------------------------- zones on the primary


def _rndc(paths: LabPaths, service: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["rndc", "-c", str(paths.rndc_conf), "-s", HOST, "-p", str(SERVICES[service].control_port), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise LabError(f"rndc {' '.join(args[:2])} on {service} failed: {result.stderr.strip() or result.stdout}")
    return result


def rndc(service: str, *args: str, paths: LabPaths | None = None) -> str:
    return _rndc(paths or LabPaths(), service, *args).stdout


def catalog_member_label(zone: str) -> str:
    """A stable unique member label (RFC 9432 leaves its form to the producer)."""
    return hashlib.sha1(_name(zone).to_wire(), usedforsecurity=False).hexdigest()


def catalog_members(paths: LabPaths | None = None) -> list[str]:
    """Member zones of the catalog, read from ns1 by AXFR with the transfer key."""
    paths = paths or LabPaths()
    xfr = dns.query.xfr(HOST, CATALOG_ZONE, port=SERVICES["ns1"].port, keyring=tsig_key("transfer-key", paths),
                        relativize=False, lifetime=10)
    zone = dns.zone.from_xfr(xfr, relativize=False)
    members_suffix = _name("zones." + CATALOG_ZONE)
    members = []
    for name, node in zone.nodes.items():
        if name.parent() == members_suffix:
            ptr = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.PTR)
            members += [rdata.target.to_text() for rdata in ptr or ()]
    return sorted(members)


def add_zone(zone: str, records: str = "", signed: bool = True, paths: LabPaths | None = None) -> None:
    """Create `zone` on ns1 (rndc addzone), list it in the catalog and point the resolver at it.

    `records` is zone-file text relative to the zone's origin, added after SOA/NS.
    """
    paths = paths or LabPaths()
    zone = _name(zone).to_text()
    zone_file = paths.ns1_zone_dir / f"{zone}db"
    zone_file.write_text(
        _zone_header(zone, INFRA_NAMESERVERS[0]) + "".join(f"@ NS {ns}\n" for ns in INFRA_NAMESERVERS) + records
    )
    policy = f"dnssec-policy {DNSSEC_POLICY}; inline-signing no; " if signed else ""
    _rndc(paths, "ns1", "addzone", zone,
          f'{{ type primary; file "{zone_file}"; {policy}{_zone_update_policy()} }};')
    label = catalog_member_label(zone)
    send_update(SERVICES["ns1"].port, CATALOG_ZONE, tsig_key("staff-key", paths),
                lambda u: u.replace(f"{label}.zones.{CATALOG_ZONE}", 60, "PTR", zone))
    sync_resolver(paths)


def remove_zone(zone: str, paths: LabPaths | None = None) -> None:
    """Drop `zone` from the catalog and from ns1 (files and DNSSEC keys included)."""
    paths = paths or LabPaths()
    zone = _name(zone).to_text()
    label = catalog_member_label(zone)
    send_update(SERVICES["ns1"].port, CATALOG_ZONE, tsig_key("staff-key", paths),
                lambda u: u.delete(f"{label}.zones.{CATALOG_ZONE}"))
    result = _rndc(paths, "ns1", "delzone", "-clean", zone, check=False)
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
    zone = _name(zone).to_text()
    if ds is None:
        keys = _wait_until(lambda: signed_dnskeys(SERVICES["ns1"].port, zone), START_TIMEOUT,
                           f"{zone} to be signed on ns1")
        ds = ds_from_dnskeys(zone, keys)
    publish_delegation(SERVICES["registry"].port, REGISTRY_ZONE, zone, tsig_key("registry-key", paths), ds,
                       dict.fromkeys(INFRA_NAMESERVERS, HOST))
    flush_resolver(zone, paths)
    return ds


def undelegate_zone(zone: str, paths: LabPaths | None = None) -> None:
    """Remove the delegation (NS, DS) of `zone` from test."""
    paths = paths or LabPaths()
    zone = _name(zone).to_text()

    def build(update: dns.update.UpdateMessage) -> None:
        update.delete(zone, "DS")
        update.delete(zone, "NS")

    send_update(SERVICES["registry"].port, REGISTRY_ZONE, tsig_key("registry-key", paths), build)
    flush_resolver(zone, paths)


# --------------------------------------------------------------------------- resolver stubs


def _unbound_control(paths: LabPaths, *args: str) -> str:
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
    """Stub zones for infra.test. and every catalog member, in stubs.conf and in the live unbound."""
    paths = paths or LabPaths()
    wanted = [INFRA_ZONE, *catalog_members(paths)]
    _write_if_changed(paths.stubs_conf, stubs_config(wanted))
    if running_pid(paths, "resolver") is None:
        return {"added": [], "removed": []}
    listed = _unbound_control(paths, "list_stubs")
    current = [line.split()[0] for line in listed.splitlines() if line.strip()]
    to_add, to_remove = plan_stub_changes(current, wanted)
    for zone in to_remove:
        _unbound_control(paths, "stub_remove", zone)
    for zone in to_add:
        _unbound_control(paths, "stub_add", zone, *(f"{HOST}@{port}" for port in INFRA_STUB_PORTS))
    for zone in (*to_add, *to_remove):
        flush_resolver(zone, paths)
    return {"added": to_add, "removed": to_remove}


def flush_resolver(zone: str, paths: LabPaths | None = None) -> None:
    """Forget everything the resolver holds at or below `zone` (answers, keys, bogus and negative data)."""
    paths = paths or LabPaths()
    if running_pid(paths, "resolver") is None:
        return
    _unbound_control(paths, "flush_zone", zone)
    _unbound_control(paths, "flush_bogus")
    _unbound_control(paths, "flush_negative")
    _unbound_control(paths, "flush_infra", "all")


# --------------------------------------------------------------------------- state


def _service_state(paths: LabPaths, service: str) -> dict[str, Any]:
    svc = SERVICES[service]
    return {
        "program": svc.program, "address": HOST, "port": svc.port, "control_port": svc.control_port,
        "pid": recorded_pid(paths, service), "pid_file": str(paths.pid_file(service)),
        "log": str(paths.log_file(service)), "out": str(paths.out_file(service)),
    }


def build_state(paths: LabPaths, secrets_by_key: dict[str, str]) -> dict[str, Any]:
    acme = SERVICES["acme"]
    return {
        "lab_dir": str(paths.root),
        "host": HOST,
        "services": {name: _service_state(paths, name) for name in SERVICES},
        "keys": {name: {"name": name, "algorithm": TSIG_ALGORITHM, "secret": secrets_by_key[name],
                        "file": str(paths.key_file(name))} for name in PUBLIC_TSIG_KEYS},
        "rndc_conf": str(paths.rndc_conf),
        "zones": {"root": ROOT_ZONE, "registry": REGISTRY_ZONE, "infra": INFRA_ZONE,
                  "catalog": CATALOG_ZONE, "nameservers": list(INFRA_NAMESERVERS)},
        "dnssec_policy": DNSSEC_POLICY,
        "ns1": {"zones_include": str(paths.ns1_zones_include), "zone_dir": str(paths.ns1_zone_dir),
                "key_dir": str(paths.server_dir("ns1") / "keys")},
        "trust_anchor": {"anchor_conf": str(paths.anchor_conf), "root_key": str(paths.root_key),
                         "root_ds": str(paths.root_ds)},
        "acme": {"directory": f"https://{HOST}:{acme.port}/dir", "ca_bundle": str(paths.pebble / "ca.pem"),
                 "issuing_root": str(paths.pebble / "issuing-root.pem"),
                 "management": f"https://{HOST}:{acme.control_port}",
                 "http_port": PEBBLE_HTTP_PORT, "tls_port": PEBBLE_TLS_PORT},
        "smtp": {"host": HOST, "port": SERVICES["smtp"].port, "maildir": str(paths.mail)},
        "updated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def load_state(paths: LabPaths | None = None) -> dict[str, Any]:
    """The state written by the last `up` (raises LabError when the lab was never started)."""
    paths = paths or LabPaths()
    try:
        return json.loads(paths.state_file.read_text())
    except FileNotFoundError:
        raise LabError(f"{paths.state_file} does not exist: run lab/labctl.py up") from None


def ansible_vars(state: dict[str, Any]) -> dict[str, Any]:
    services, keys = state["services"], state["keys"]

    def endpoint(name: str) -> dict[str, Any]:
        return {"name": name, "address": services[name]["address"], "port": services[name]["port"]}

    return {
        "psf_lab_dir": state["lab_dir"],
        "psf_lab_state_file": str(Path(state["lab_dir"]) / "state.json"),
        "psf_dns_primary": {**endpoint("ns1"), "rndc_conf": state["rndc_conf"],
                            "rndc_port": services["ns1"]["control_port"], **state["ns1"]},
        "psf_dns_secondaries": [endpoint("ns2")],
        "psf_dns_registry": {**endpoint("registry"), "zone": state["zones"]["registry"]},
        "psf_dns_resolver": endpoint("resolver"),
        "psf_dns_nameservers": state["zones"]["nameservers"],
        "psf_dns_infra_zone": state["zones"]["infra"],
        "psf_dns_catalog_zone": state["zones"]["catalog"],
        "psf_dns_dnssec_policy": state["dnssec_policy"],
        "psf_dns_staff_key": {k: keys["staff-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_dns_registry_key": {k: keys["registry-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_dns_transfer_key": {k: keys["transfer-key"][k] for k in ("name", "algorithm", "secret")},
        "psf_acme_directory": state["acme"]["directory"],
        "psf_acme_ca_bundle": state["acme"]["ca_bundle"],
        "psf_acme_issuing_root": state["acme"]["issuing_root"],
        "psf_smtp": {"host": state["smtp"]["host"], "port": state["smtp"]["port"]},
        "psf_lab_mail_dir": state["smtp"]["maildir"],
        "psf_lab_trust_anchor": state["trust_anchor"],
        "psf_lab_secret_vars": ["psf_dns_staff_key", "psf_dns_registry_key", "psf_dns_transfer_key"],
    }


def write_ansible_vars(state: dict[str, Any], target: Path) -> Path:
    import yaml  # PyYAML ships with ansible-core in the venv

    header = (
        "---\n# Written by lab/labctl.py up: facts of the local lab (git-ignored).\n"
        "# SECRETS: the *.secret fields of the variables in psf_lab_secret_vars; pass them with no_log.\n"
    )
    class IndentedDumper(yaml.SafeDumper):
        """Indents lists under their key, as yamllint's default indentation rule wants."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    body = yaml.dump(ansible_vars(state), Dumper=IndentedDumper, default_flow_style=False, sort_keys=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(target, header + body, mode=0o600)
    return target


# --------------------------------------------------------------------------- up / down / status


def _ensure_dirs(paths: LabPaths) -> None:
    for directory in (paths.root, paths.run, paths.log, paths.anchor_dir, paths.pebble, paths.resolver,
                      paths.ns1_zone_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for maildir_part in ("tmp", "new", "cur"):  # a Maildir the sink can write to from its first message
        (paths.mail / maildir_part).mkdir(parents=True, exist_ok=True)


def _failure_context(paths: LabPaths, service: str) -> str:
    logs = [path for path in (paths.out_file(service), paths.log_file(service)) if path.exists()]
    return "\n".join(f"--- tail of {path}:\n{_tail(path)}" for path in logs) or "(no log written)"


def _wait_healthy(paths: LabPaths, service: str, predicate: Callable[[], Any], what: str,
                  timeout: float = START_TIMEOUT) -> Any:
    program = SERVICES[service].program

    def alive_and(predicate_: Callable[[], Any]) -> Any:
        pid = recorded_pid(paths, service)
        if pid is None or not pid_matches(pid, program):
            raise LabError(f"{service} ({program}) exited during start\n{_failure_context(paths, service)}")
        return predicate_()

    return _wait_until(lambda: alive_and(predicate), timeout, f"{service}: {what}",
                       _failure_context(paths, service))


def _start_named(paths: LabPaths, service: str) -> None:
    conf = write_named_config(paths, service)
    check = subprocess.run(["named-checkconf", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabError(f"{service}: {conf} is invalid:\n{check.stdout}{check.stderr}")
    _spawn(paths, service, ["named", "-4", "-f", "-c", str(conf)])


def _start_resolver(paths: LabPaths) -> None:
    ensure_unbound_control_keys(paths)
    if not paths.stubs_conf.exists():
        _write_if_changed(paths.stubs_conf, stubs_config([INFRA_ZONE]))
    _write_if_changed(paths.unbound_conf, unbound_config(paths))
    check = subprocess.run(["unbound-checkconf", str(paths.unbound_conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise LabError(f"resolver: {paths.unbound_conf} is invalid:\n{check.stdout}{check.stderr}")
    _spawn(paths, "resolver", ["unbound", "-d", "-c", str(paths.unbound_conf)])


def _start_acme(paths: LabPaths) -> None:
    ensure_pebble_tls(paths)
    conf = paths.pebble / "pebble-config.json"
    _write_if_changed(conf, pebble_config(paths))
    # Nonce rejection stays at pebble's default on purpose: ACME clients must prove they retry badNonce.
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"}
    env_drop = {k: v for k, v in os.environ.items() if k != "PEBBLE_WFE_NONCEREJECT"}
    _spawn(paths, "acme", ["pebble", "-config", str(conf), "-dnsserver", f"{HOST}:{SERVICES['resolver'].port}"],
           env={**env_drop, **env}, cwd=paths.pebble)


def _start_smtp(paths: LabPaths) -> None:
    _spawn(paths, "smtp", [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{SERVICES['smtp'].port}",
                           "-c", "aiosmtpd.handlers.Mailbox", str(paths.mail)])


def _fetch_issuing_root(paths: LabPaths) -> None:
    """The issuing root of this start of pebble (a new one every start). Certificates of the lab's
    store that an earlier root issued verify against nothing any more: they are removed, so the next
    certificates run issues them again (they are not due, so nothing else would)."""
    pem = https_get(paths, f"https://{HOST}:{SERVICES['acme'].control_port}/roots/0")
    had_root = (paths.pebble / "issuing-root.pem").exists()
    if _write_if_changed(paths.pebble / "issuing-root.pem", pem.decode()) and had_root:
        store = paths.root / "certificates"
        if store.is_dir():
            shutil.rmtree(store)
            print(f"labctl: pebble has a new issuing root: removed the lab's certificates ({store}); "
                  "the next certificates run issues them again", file=sys.stderr)


def _log(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def up(paths: LabPaths | None = None, verbose: bool = False) -> dict[str, Any]:
    """Start every service that is not running and wait until the whole lab is healthy."""
    paths = paths or LabPaths()
    started_at = time.monotonic()
    _ensure_dirs(paths)
    secrets_by_key = ensure_keys(paths)
    started: list[str] = []

    def start(service: str, starter: Callable[[], None]) -> None:
        if running_pid(paths, service) is not None:
            return
        svc = SERVICES[service]
        taken = {svc.port, svc.control_port} & _listening_ports()
        if taken:
            raise LabError(f"{service}: port(s) {sorted(taken)} on {HOST} are in use by a process labctl did not "
                           f"start (no live PID in {paths.pid_file(service)}); stop it and run up again")
        starter()
        started.append(service)

    for service in ("registry", "ns1", "ns2"):
        start(service, lambda s=service: _start_named(paths, s))
    start("acme", lambda: _start_acme(paths))
    start("smtp", lambda: _start_smtp(paths))
    _log(verbose, f"started: {', '.join(started) or 'nothing (all running)'}")

    # Chain of trust: root signed -> anchor; test. signed -> DS in root; infra.test. signed -> DS in test.
    root_keys = _wait_healthy(paths, "registry", lambda: signed_dnskeys(SERVICES["registry"].port, ROOT_ZONE),
                              "the root zone to be signed")
    anchor_changed = export_trust_anchor(paths, root_keys)
    test_keys = _wait_healthy(paths, "registry",
                              lambda: signed_dnskeys(SERVICES["registry"].port, REGISTRY_ZONE),
                              f"{REGISTRY_ZONE} to be signed")
    publish_delegation(SERVICES["registry"].port, ROOT_ZONE, REGISTRY_ZONE, tsig_key("root-key", paths),
                       ds_from_dnskeys(REGISTRY_ZONE, test_keys))
    infra_keys = _wait_healthy(paths, "ns1", lambda: signed_dnskeys(SERVICES["ns1"].port, INFRA_ZONE),
                               f"{INFRA_ZONE} to be signed")
    publish_delegation(SERVICES["registry"].port, REGISTRY_ZONE, INFRA_ZONE, tsig_key("registry-key", paths),
                       ds_from_dnskeys(INFRA_ZONE, infra_keys), dict.fromkeys(INFRA_NAMESERVERS, HOST))
    _log(verbose, f"chain of trust published ({time.monotonic() - started_at:.1f}s)")

    if anchor_changed and running_pid(paths, "resolver") is not None:
        _log(verbose, "trust anchor changed: restarting the resolver")
        _stop_pid(recorded_pid(paths, "resolver"), "unbound")  # type: ignore[arg-type]
    _write_if_changed(paths.stubs_conf, stubs_config([INFRA_ZONE, *catalog_members(paths)]))
    start("resolver", lambda: _start_resolver(paths))

    serial = soa_serial(SERVICES["ns1"].port, INFRA_ZONE)
    _wait_healthy(paths, "ns2", lambda: soa_serial(SERVICES["ns2"].port, INFRA_ZONE) == serial,
                  f"{INFRA_ZONE} at serial {serial} on the secondary")
    for service in ("resolver", "acme", "smtp"):
        _wait_healthy(paths, service, lambda s=service: check_service(paths, s)[0], "health check")
    if "acme" in started or not (paths.pebble / "issuing-root.pem").exists():
        _fetch_issuing_root(paths)
    if "resolver" not in started:
        sync_resolver(paths)

    state = build_state(paths, secrets_by_key)
    _write_if_changed(paths.state_file, json.dumps(state, indent=2) + "\n", mode=0o600)
    write_ansible_vars(state, inventory_vars_file(paths))
    _log(verbose, f"lab up in {time.monotonic() - started_at:.1f}s")
    return state


def down(paths: LabPaths | None = None, wipe: bool = False, verbose: bool = False) -> None:
    """Stop exactly the recorded processes, wait for the lab ports to close, drop run state."""
    paths = paths or LabPaths()
    for service in reversed(list(SERVICES)):
        pid = recorded_pid(paths, service)
        if pid is not None:
            _log(verbose, f"stopping {service} (PID {pid})")
            _stop_pid(pid, SERVICES[service].program)
        paths.pid_file(service).unlink(missing_ok=True)
    try:
        _wait_until(lambda: not (lab_ports() & _listening_ports()), STOP_TIMEOUT, "the lab ports to close")
    except LabError:
        still = sorted(lab_ports() & _listening_ports())
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
    services = list(services)
    for service in services:
        pid = recorded_pid(paths, service)
        if pid is not None:
            _log(verbose, f"stopping {service} (PID {pid})")
            _stop_pid(pid, SERVICES[service].program)
        paths.pid_file(service).unlink(missing_ok=True)
    ports = {port for service in services
             for port in (SERVICES[service].port, SERVICES[service].control_port) if port}
    _wait_until(lambda: not (ports & _listening_ports()), STOP_TIMEOUT, f"the ports of {', '.join(services)} to close")


def restart(services: Iterable[str], paths: LabPaths | None = None, verbose: bool = False) -> dict[str, Any]:
    """Stop the given services by their recorded PIDs (configuration is rewritten at start), then `up`."""
    paths = paths or LabPaths()
    stop(services, paths, verbose=verbose)
    return up(paths, verbose=verbose)


def status(paths: LabPaths | None = None) -> dict[str, dict[str, Any]]:
    paths = paths or LabPaths()
    report = {}
    for name, svc in SERVICES.items():
        pid = running_pid(paths, name)
        healthy, detail = check_service(paths, name) if pid else (False, "not running")
        report[name] = {"program": svc.program, "address": HOST, "port": svc.port,
                        "control_port": svc.control_port, "pid": pid, "healthy": healthy, "detail": detail}
    return report


# --------------------------------------------------------------------------- CLI


def _print_status(report: dict[str, dict[str, Any]]) -> None:
    print(f"{'service':9} {'program':9} {'address':16} {'control':6} {'pid':>7}  health")
    for name, entry in report.items():
        address = f"{entry['address']}:{entry['port']}"
        mark = "ok" if entry["healthy"] else "DOWN"
        print(f"{name:9} {entry['program']:9} {address:16} {entry['control_port'] or '':<6} "
              f"{entry['pid'] or '-':>7}  {mark:4} {entry['detail']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the lab and wait until it is healthy")
    down_parser = sub.add_parser("down", help="stop the lab")
    down_parser.add_argument("--wipe", action="store_true", help="also drop zone data and DNSSEC keys")
    status_parser = sub.add_parser("status", help="health of every service")
    status_parser.add_argument("--json", action="store_true")
    sub.add_parser("sync-resolver", help="refresh the resolver's stub zones from the catalog")
    restart_parser = sub.add_parser("restart", help="stop these services (recorded PIDs) and run up")
    restart_parser.add_argument("services", nargs="+", choices=list(SERVICES))
    stop_parser = sub.add_parser("stop", help="stop only these services (`up` starts them again)")
    stop_parser.add_argument("services", nargs="+", choices=list(SERVICES))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            up(verbose=True)
            _print_status(status())
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
                _print_status(report)
            return 0 if all(entry["healthy"] for entry in report.values()) else 1
        elif args.command == "restart":
            restart(args.services, verbose=True)
        elif args.command == "stop":
            stop(args.services, verbose=True)
        elif args.command == "sync-resolver":
            print(json.dumps(sync_resolver()))
    except LabError as exc:
        print(f"labctl {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
