"""Benchmark: a synthetic fleet reconciled through `psf-infra run site` against the lab (issue #13, section 5).

Run by ``make bench`` (after ``labctl up``), or alone: ``.venv/bin/python tests/bench/bench_fleet.py
[--tenants N]``. Not a test: it prints tables. docs/bench-fleet.md says what it measures and what it found.

- A registry of N tenants (default 100), 3 zones each (every third zone signed with DNSSEC), 100 records
  a zone inline in the tenant file (30,000 records at N=100), a domain per zone (registrar: tenant) and
  one certificate each, is generated into a temporary copy of inventories/lab: the lab's group_vars (its
  generated variables included), hosts.yml, nameservers.yml and tenants.yml as they are; machines.yml with
  its groups but no machine; the lab's own tenant files kept without their VMs, apps and certificates (so
  that the name servers keep serving their zones: the nameserver role serves exactly the registry's zones).
  Names carry a per-run suffix: tenants ``fleet-<hex>-tNNN``, zones ``fleet-<hex>-NNN.test``.
- The certificates are "not due": made before the first run with the ``cryptography`` package, signed by a
  CA made for the run, valid 90 days from yesterday (due at two thirds of their life), in a certificate store
  of the run's own (``psf_certificate_store``). psf.infra.certificate reads names, key type, key match and
  dates; it opens the CA's directory once (ARI: the lab's pebble offers none) and orders nothing.
- ``psf-infra run site`` twice: from empty, then the no-op. Wall time of the psf-infra process, peak memory
  of its process tree (sum of PSS, sampled from /proc every 0.2 s; the largest RSS sum beside it),
  changed count, and per play and per task times (tests/bench/callback_plugins/fleet_timer.py).
- ``octodns-sync`` (octodns-bind's Rfc2136Provider, bench_dns.py's venv) plans the same zones: the no-op.
- No secret in the artifacts: every TSIG secret of the lab (the lab's keys and the per-zone keys in the
  name servers' key files) and the ACME account key are looked for in every file of the runs' directories.
- Clean-up (``finally``): the zones' delegations in the lab registry ``test.``; the zones themselves
  (zone statements, catalog members, files, DNSSEC keys) by the nameserver role run on the lab's registry
  with the removal limit set to exactly this run's zones; the resolver's stub zones; the temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
LAB_INVENTORY = REPO / "inventories" / "lab"
sys.path.insert(0, str(HERE))
import bench_dns  # noqa: E402  (its octoDNS venv; it puts lab/ on sys.path)
import labctl  # noqa: E402
from psf_lab import bind as lab_bind  # noqa: E402
from psf_lab import dnsclient as lab_dns  # noqa: E402

ZONES_PER_TENANT = 3
RECORDS_PER_ZONE = 100
NAMESERVERS = ["ns1.infra.test.", "ns2.infra.test."]


# ---- the synthetic registry ---------------------------------------------------------------------

def zone_records(index: int) -> list[dict]:
    """RECORDS_PER_ZONE records: MX, TXT, a CNAME and A records (the apex NS is the registry's)."""
    records = [{"name": "@", "type": "MX", "ttl": 300, "values": [f"10 mail.fleet{index}.example."]},
               {"name": "@", "type": "TXT", "ttl": 300, "values": ["v=spf1 -all"]},
               {"name": "www", "type": "CNAME", "ttl": 300, "values": ["host-0000"]}]
    for host in range(RECORDS_PER_ZONE - len(records)):
        records.append({"name": f"host-{host:04d}", "type": "A", "ttl": 300,
                        "values": [f"10.{index // 256}.{index % 256}.{host % 250 + 1}"]})
    return records


class Fleet:
    def __init__(self, tenants: int, run_id: str) -> None:
        self.run_id = run_id
        self.tenants = [f"fleet-{run_id}-t{number:03d}" for number in range(tenants)]
        self.zones: dict[str, list[str]] = {
            tenant: [f"fleet-{run_id}-{number * ZONES_PER_TENANT + k:03d}.test" for k in range(ZONES_PER_TENANT)]
            for number, tenant in enumerate(self.tenants)}

    def all_zones(self) -> list[str]:
        return [zone for zones in self.zones.values() for zone in zones]

    @staticmethod
    def signed(zone: str) -> bool:
        return int(zone.split("-")[-1].split(".")[0]) % 3 == 0

    def tenant_file(self, tenant: str) -> dict:
        zones = self.zones[tenant]
        return {
            "name": tenant, "display_name": f"Fleet benchmark tenant {tenant}", "kind": "working-group",
            "approval": {"body": "psf-membership", "date": "2020-01-01"}, "status": "active",
            "members": [{"name": "Fleet Liaison", "email": f"liaison@{zones[0]}"}],
            "services": {
                "domains": [{"name": zone, "registrar": "tenant"} for zone in zones],
                "zones": [{"name": zone, "dnssec": self.signed(zone), "managed": "full",
                           "records": zone_records(int(zone.split("-")[-1].split(".")[0]))} for zone in zones],
                "certificates": [{"name": "web", "names": [zones[0], f"www.{zones[0]}"]}],
            },
        }


def lab_tenant_files() -> dict[str, dict]:
    """The lab's own tenant files without VMs, apps and certificates (their zones and domains stay)."""
    kept = {}
    for path in sorted((LAB_INVENTORY / "tenants").glob("*.yml")):
        tenant = yaml.safe_load(path.read_text())
        for service in ("vms", "apps", "certificates"):
            tenant.get("services", {}).pop(service, None)
        kept[path.name] = tenant
    return kept


def lab_registry_zones() -> set[str]:
    return {zone["name"].rstrip(".") for tenant in lab_tenant_files().values()
            for zone in tenant.get("services", {}).get("zones", [])}


def strip_hosts(node: object) -> object:
    """machines.yml with its groups and variables but no host."""
    if isinstance(node, dict):
        return {key: strip_hosts(value) for key, value in node.items() if key != "hosts"}
    return node


def write_inventory(directory: Path, fleet: Fleet | None, store: Path, extra_vars: dict) -> Path:
    shutil.copytree(LAB_INVENTORY, directory, ignore=shutil.ignore_patterns("tenants"))
    machines = yaml.safe_load((LAB_INVENTORY / "machines.yml").read_text())
    (directory / "machines.yml").write_text(yaml.safe_dump(strip_hosts(machines), sort_keys=False))
    tenants_dir = directory / "tenants"
    shutil.copytree(LAB_INVENTORY / "tenants" / "zones", tenants_dir / "zones")
    for name, tenant in lab_tenant_files().items():
        (tenants_dir / name).write_text(yaml.safe_dump(tenant, sort_keys=False))
    for tenant in fleet.tenants if fleet else []:
        (tenants_dir / f"{tenant}.yml").write_text(yaml.safe_dump(fleet.tenant_file(tenant), sort_keys=False))
    variables = {"psf_certificate_store": str(store), **extra_vars}
    (directory / "group_vars" / "all" / "fleet_bench.yml").write_text(yaml.safe_dump(variables))
    return directory


# ---- certificates not due -------------------------------------------------------------------------

def make_certificates(fleet: Fleet, store: Path) -> None:
    """One ECDSA P-256 certificate per tenant (<store>/<tenant>/web), signed by a CA made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fleet bench CA {fleet.run_id}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    for tenant in fleet.tenants:
        names = [fleet.zones[tenant][0], f"www.{fleet.zones[tenant][0]}"]
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=89))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        dest = store / tenant / "web"
        dest.mkdir(parents=True)
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        (dest / "privkey.pem").write_bytes(key_pem)
        (dest / "privkey.pem").chmod(0o600)
        (dest / "cert.pem").write_bytes(leaf_pem)
        (dest / "chain.pem").write_bytes(ca_pem)
        (dest / "fullchain.pem").write_bytes(leaf_pem + ca_pem)


# ---- running psf-infra, measuring the process tree ---------------------------------------------

class TreeMemory(threading.Thread):
    """Peak memory of a process and all its descendants: the sum of PSS (shared pages counted once over
    the tree) and of RSS, sampled from /proc."""

    def __init__(self, root_pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root_pid, self.interval = root_pid, interval
        self.peak_pss_kib = self.peak_rss_kib = self.peak_processes = 0
        self._done = threading.Event()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.root_pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def sample(self) -> None:
        pss = rss = 0
        tree = self._tree()
        for pid in tree:
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_processes = max(self.peak_processes, len(tree))

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_site(inventory: Path, runs: Path, label: str, timeout: str) -> dict:
    timer_file = runs / f"timer-{label}.jsonl"
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="fleet_timer", FLEET_TIMER_FILE=str(timer_file))
    # lab-vms.yml asserts that podman has the lab's settings; the file `make` writes (lab/podman-env.sh is
    # not run here: it may remove podman networks). With no lab machine, the play only reads podman.
    env.setdefault("CONTAINERS_CONF", str(REPO / ".cache" / "podman" / "containers.conf"))
    command = [str(BIN / "psf-infra"), "run", "site", "-i", str(inventory), "--artifacts", str(runs),
               "--quiet", "--timeout", timeout]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    memory = TreeMemory(process.pid)
    memory.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    memory.stop()
    entries = [json.loads(line) for line in timer_file.read_text().splitlines()] if timer_file.exists() else []
    total = next((entry for entry in entries if entry["kind"] == "total"), {})
    return {"scenario": label, "rc": process.returncode, "wall": wall, "pss_mb": memory.peak_pss_kib / 1024,
            "rss_mb": memory.peak_rss_kib / 1024, "processes": memory.peak_processes,
            "changed": total.get("changed"), "playbook": total.get("seconds"), "entries": entries,
            "output": output}


# ---- octoDNS: the same zones, planned ------------------------------------------------------------

def octodns_records(records: list[dict]) -> dict:
    content: dict = {"": [{"type": "NS", "ttl": 3600, "values": NAMESERVERS}]}  # the registry's apex NS
    for record in records:
        name = "" if record["name"] == "@" else record["name"]
        value = record["values"][0]
        if record["type"] == "MX":
            preference, exchange = value.split()
            value = {"preference": int(preference), "exchange": exchange}
        elif record["type"] == "CNAME":
            value = f"{value}.{{zone}}"  # filled in below: octoDNS wants an absolute target
        content.setdefault(name, []).append({"type": record["type"], "ttl": record["ttl"], "value": value})
    return content


def run_octodns(fleet: Fleet, workdir: Path) -> dict:
    """octodns-sync without --doit: reads every zone (AXFR) and plans; a no-op plans nothing."""
    octodns_sync = bench_dns.ensure_octodns()
    key = bench_dns.lab_key()
    config_dir = workdir / "octodns-zones"
    config_dir.mkdir()
    zones = {}
    for zone in fleet.all_zones():
        content = octodns_records(zone_records(int(zone.split("-")[-1].split(".")[0])))
        for records in content.values():
            for record in records:
                if record["type"] == "CNAME":
                    record["value"] = record["value"].replace("{zone}", f"{zone}.")
        content = {name: records[0] if len(records) == 1 else records for name, records in content.items()}
        (config_dir / f"{zone}.yaml").write_text(yaml.safe_dump(content))
        zones[f"{zone}."] = {"sources": ["config"], "targets": ["bind"]}
    config = {
        "providers": {
            "config": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(config_dir),
                       "enforce_order": False},
            "bind": {"class": "octodns_bind.Rfc2136Provider", "host": "127.0.0.1", "port": bench_dns.ns1_port(),
                     "key_name": key["name"], "key_secret": "env/BENCH_TSIG_SECRET",
                     "key_algorithm": key["algorithm"]},
        },
        "zones": zones,
    }
    (workdir / "octodns.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, BENCH_TSIG_SECRET=key["secret"])
    started = time.perf_counter()
    process = subprocess.Popen([str(octodns_sync), "--config-file", str(workdir / "octodns.yaml")], cwd=workdir,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(process.pid)
    memory.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    memory.stop()
    planned = sum(int(creates) + int(updates) + int(deletes) for creates, updates, deletes in
                  re.findall(r"Creates=(\d+), Updates=(\d+), Deletes=(\d+)", output))
    return {"rc": process.returncode, "wall": wall, "pss_mb": memory.peak_pss_kib / 1024, "planned": planned,
            "output": output}


# ---- secrets -----------------------------------------------------------------------------------

def lab_secrets(store: Path) -> dict[str, str]:
    """label -> secret: every TSIG secret the lab's files hold now, and the ACME account key's PEM body."""
    found: dict[str, str] = {}
    lab_dir = REPO / ".lab"
    generated = yaml.safe_load((LAB_INVENTORY / "group_vars" / "all" / "lab_generated.yml").read_text())
    for name, value in generated.items():
        if isinstance(value, dict) and "secret" in value:
            found[f"{name} (lab_generated.yml)"] = value["secret"]
    for path in [*lab_dir.glob("keys/*"), *lab_dir.glob("ns*/psf-keys.conf"), *lab_dir.glob("ns*/rndc.key")]:
        if path.is_file():
            for key_name, secret in re.findall(r'key\s+"?([^"\s]+)"?\s*\{[^}]*?secret\s+"([^"]+)"',
                                               path.read_text(errors="replace"), re.S):
                found.setdefault(f"TSIG {key_name} ({path.relative_to(lab_dir)})", secret)
    account = store / "account.key"
    if account.exists():
        body = "".join(line for line in account.read_text().splitlines() if not line.startswith("-----"))
        found["ACME account key (PEM body)"] = body
        der = base64.b64decode(body)
        for line_index, line in enumerate(account.read_text().splitlines()[1:-1]):
            if len(line) >= 32:
                found[f"ACME account key (PEM line {line_index + 1})"] = line
        found["ACME account key (DER, hex)"] = der.hex()
    return found


def grep_secrets(directories: list[Path], secrets_by_label: dict[str, str]) -> tuple[int, list[str]]:
    """(files searched, hits as 'label in path')."""
    hits, searched = [], 0
    needles = {label: secret.encode() for label, secret in secrets_by_label.items() if len(secret) >= 8}
    for directory in directories:
        for path in directory.rglob("*"):
            if not path.is_file():
                continue
            searched += 1
            data = path.read_bytes()
            hits.extend(f"{label} in {path}" for label, needle in needles.items() if needle in data)
    return searched, hits


# ---- clean-up ----------------------------------------------------------------------------------

def remove_fleet(fleet: Fleet, workdir: Path) -> list[str]:
    """Remove this run's zones from the registry `test.`, ns1/ns2 and the catalog; returns what is left."""
    problems = []
    registry_key = labctl.lab_key("registry-key")
    registry_port = labctl.load_state()["services"]["registry"]["port"]
    for zone in fleet.all_zones():
        try:
            lab_dns.remove_delegation(registry_port, "test.", f"{zone}.", registry_key)
        except Exception as error:  # clean-up goes on; reported
            problems.append(f"delegation of {zone}: {error}")
    generated = yaml.safe_load((LAB_INVENTORY / "group_vars" / "all" / "lab_generated.yml").read_text())
    tenant_zone_dir = Path(generated["psf_dns_primary"]["zone_dir"]) / "tenants"
    present = {path.name[: -len(".db")] for path in tenant_zone_dir.glob("*.db")}
    retired = present - lab_registry_zones()
    ours = {zone for zone in retired if zone in set(fleet.all_zones())}
    if retired - ours:
        problems.append(f"not removing zones that are not this run's: {sorted(retired - ours)}; "
                        f"this run's left on ns1: {sorted(ours)}")
    elif ours:
        inventory = write_inventory(workdir / "cleanup-inventory", None, workdir / "cleanup-store",
                                    {"nameserver_zone_removal_limit": len(ours)})
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        completed = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/dns.yml",
                                    "--limit", "nameservers"], cwd=REPO, env=env, capture_output=True, text=True,
                                   check=False)
        if completed.returncode != 0:
            problems.append(f"the nameserver role did not remove the zones:\n{completed.stdout[-3000:]}")
    try:
        labctl.sync_resolver()
        labctl.flush_resolver("test.")
    except Exception as error:
        problems.append(f"resolver: {error}")
    return problems


def leftovers(fleet: Fleet) -> list[str]:
    suffix = f"fleet-{fleet.run_id}-"
    left = [f"catalog member {zone}" for zone in lab_bind.catalog_members() if suffix in zone]
    generated = yaml.safe_load((LAB_INVENTORY / "group_vars" / "all" / "lab_generated.yml").read_text())
    left += [f"file {path}" for path in Path(generated["psf_dns_primary"]["zone_dir"]).rglob(f"*{suffix}*")]
    registry_port = labctl.load_state()["services"]["registry"]["port"]
    for zone in fleet.all_zones():
        ns, ds = lab_dns.parent_delegation(registry_port, f"{zone}.")
        if ns or ds:
            left.append(f"delegation of {zone} in test.")
    return left


# ---- the report ----------------------------------------------------------------------------------

def print_report(rows: list[dict], octodns: dict | None, zones: int, records: int, tenants: int) -> None:
    print(f"\nFleet: {tenants} tenants, {zones} zones ({sum(1 for i in range(zones) if i % 3 == 0)} signed), "
          f"{records} records, {tenants} certificates not due; `psf-infra run site` against the lab\n")
    octo = octodns["wall"] if octodns else None
    print(f"{'scenario':<12} | {'wall s':>8} | {'playbook s':>10} | {'peak MB (PSS)':>13} | {'RSS sum MB':>10} | "
          f"{'changed':>7} | {'rc':>3} | {'vs octoDNS no-op s':>18}")
    print("-" * 105)
    for row in rows:
        ratio = f"{octo:7.2f} ({row['wall'] / octo:4.1f}x)" if octo else "-"
        print(f"{row['scenario']:<12} | {row['wall']:8.1f} | {row['playbook'] or 0:10.1f} | {row['pss_mb']:13.0f} | "
              f"{row['rss_mb']:10.0f} | {row['changed']!s:>7} | {row['rc']:>3} | {ratio:>18}")
    if octodns:
        print(f"{'octoDNS plan':<12} | {octodns['wall']:8.1f} | {'':>10} | {octodns['pss_mb']:13.0f} | {'':>10} | "
              f"{octodns['planned']:>7} | {octodns['rc']:>3} | (octodns-sync, no --doit: planned changes)")
    noop = rows[-1]
    print(f"\nWhere the time of `{noop['scenario']}` goes, per play (seconds, changed):")
    for entry in noop["entries"]:
        if entry["kind"] == "play":
            print(f"  {entry['seconds']:7.1f}  {entry['play']} ({entry['changed']})")
    if noop["playbook"] is not None:
        print(f"  {noop['wall'] - noop['playbook']:7.1f}  outside the plays: psf-infra, ansible-runner, "
              "ansible-playbook's start-up with the inventory (registry) load, and its exit")
    tasks = sorted((e for e in noop["entries"] if e["kind"] == "task"), key=lambda e: -e["seconds"])[:10]
    print(f"\nTop 10 tasks of `{noop['scenario']}` (seconds, share of the wall time):")
    for entry in tasks:
        print(f"  {entry['seconds']:7.1f}  {100 * entry['seconds'] / noop['wall']:4.1f}%  "
              f"{entry['play'][:50]} / {entry['task'][:80]}")


def run_timeout(args: argparse.Namespace) -> str:
    """--timeout, cut so that the run ends 6 minutes before --stop-by (the clean-up's time)."""
    if not args.stop_by:
        return args.timeout
    now = datetime.datetime.now(datetime.UTC)
    hour, minute = (int(part) for part in args.stop_by.split(":"))
    stop = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    left = (stop - now).total_seconds() - 360
    if left < 60:
        raise SystemExit(f"bench_fleet: not enough time left before {args.stop_by} UTC")
    return f"{int(left)}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100, help="tenants (3 zones, 1 certificate each)")
    parser.add_argument("--timeout", default="30m", help="psf-infra run --timeout of each run")
    parser.add_argument("--stop-by", metavar="HH:MM",
                        help="UTC time by which the bench must have cleaned up: each run's --timeout is cut to "
                             "leave 6 minutes for the clean-up")
    parser.add_argument("--skip-octodns", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (zones still removed)")
    args = parser.parse_args()
    started_load = os.getloadavg()
    fleet = Fleet(args.tenants, secrets.token_hex(3))
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    store, runs = workdir / "store", workdir / "runs"
    runs.mkdir()
    rows: list[dict] = []
    octodns = None
    failed = False
    try:
        make_certificates(fleet, store)
        inventory = write_inventory(workdir / "inventory", fleet, store, {"nameserver_zone_removal_limit": 0})
        print(f"bench_fleet: run {fleet.run_id}, {len(fleet.tenants)} tenants, {len(fleet.all_zones())} zones, "
              f"in {workdir}", flush=True)
        for label in ("from empty", "no-op"):
            row = run_site(inventory, runs, label, run_timeout(args))
            rows.append(row)
            print(f"  {label}: rc {row['rc']}, {row['wall']:.1f} s, peak {row['pss_mb']:.0f} MB PSS, "
                  f"changed {row['changed']}", flush=True)
            if row["rc"] != 0:
                print(row["output"][-5000:])
                failed = True
                break
            if label == "from empty" and not args.skip_octodns:
                octodns = run_octodns(fleet, workdir)
                print(f"  octoDNS plan: rc {octodns['rc']}, {octodns['wall']:.1f} s, {octodns['planned']} changes "
                      "planned", flush=True)
                if octodns["rc"] != 0:
                    print(octodns["output"][-3000:])
        found = lab_secrets(store)
        searched, hits = grep_secrets([runs], found)
        print(f"\nSecrets: {len(found)} secret strings (every TSIG secret of the lab, per-zone keys included, "
              f"and the ACME account key) searched in {searched} files of the runs' artifact directories: "
              f"{'none found' if not hits else str(len(hits)) + ' FOUND'}; the lab has no vault password.")
        for hit in hits:
            print(f"  FOUND: {hit}")
        if rows:
            print_report(rows, octodns, len(fleet.all_zones()), len(fleet.all_zones()) * RECORDS_PER_ZONE,
                         len(fleet.tenants))
            noop = rows[-1]
            if noop["scenario"] == "no-op" and noop["rc"] == 0:
                met = noop["wall"] < 60 and noop["pss_mb"] < 500
                print(f"\nTarget for the no-op (under 60 s and 500 MB on 2 cores): "
                      f"{'met' if met else 'NOT met'} ({noop['wall']:.1f} s, {noop['pss_mb']:.0f} MB); "
                      f"{os.cpu_count()} CPUs")
    finally:
        problems = remove_fleet(fleet, workdir)
        left = leftovers(fleet)
        print(f"\nClean-up: {'done' if not problems else 'PROBLEMS'}; left of run {fleet.run_id} in the lab: "
              f"{', '.join(left) if left else 'nothing'}")
        for problem in problems:
            print(f"  {problem}")
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average (1, 5, 15 min) at start {started_load}, at the end {os.getloadavg()}")
    if failed or problems or left:
        sys.exit(1)


if __name__ == "__main__":
    main()
