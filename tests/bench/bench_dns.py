"""Benchmark: psf.infra.dns_zone against the floor (raw dnspython), octoDNS and a nsupdate loop.

Run by ``make bench`` (the lab must be up; the Makefile brings it up). Not a test: it prints a table.
All tools write to the same lab BIND (ns1) in one run, each into its own fresh unsigned zone:

- ``dns_zone``: psf.infra.dns_zone as ONE Ansible task through ansible-playbook (the task's wall time
  from tests/bench/callback_plugins/bench_timer.py, and the whole ansible-playbook process), records
  passed as a variable; the same task reading the records from a BIND zone file (``zone_file``); and
  the records task with ``psf_dns_in_process: false`` (``shipped``: the module shipped the classic way,
  AnsiballZ and a new Python, instead of running in ansible-playbook through its action plugin).
- ``registry``: playbooks/dns.yml's own tasks (its play's vars and tasks, read from the playbook) with the
  zone declared in a one-tenant registry read by the psf.infra.tenants inventory plugin, once with inline
  ``records`` in the tenant file and once with a BIND ``zone_file`` beside it: what staff and cron wait for.
  Every ansible-playbook row reports the task's time and the whole process's.
- ``raw``: dnspython by hand, the floor: UPDATE messages packed to ~64 KiB over one TCP connection,
  no read for create/change (it already knows the zone), one AXFR for the no-op (reading is the
  least any tool must do to know that nothing changed).
- ``octoDNS``: octodns-sync with octodns-bind's Rfc2136Provider (installed by this script into its own
  venv under .cache/bench-venv, not into the project's requirements).
- ``nsupdate``: community.general.nsupdate looping over 100 records, scaled linearly to the zone size.

Scenarios per size (1,000 and 10,000 A records): from empty, a 1% change, a no-op.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.update
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BENCH_VENV = REPO / ".cache" / "bench-venv"
sys.path.insert(0, str(REPO / "lab"))
import labctl  # noqa: E402

NS_RECORD = {"name": "@", "type": "NS", "ttl": 300, "values": ["ns1.infra.test.", "ns2.infra.test."]}
RAW_RECORDS_PER_MESSAGE = 2000  # ~50 KB of A records: under the 64 KiB limit with room to spare
NSUPDATE_SAMPLE = 100


def address(index: int, generation: int) -> str:
    return f"10.{generation}.{index // 256}.{index % 256}"


def zone_records(size: int, changed: int = 0) -> list[dict]:
    """``size`` A records; the first ``changed`` of them point elsewhere (generation 2)."""
    return [{"name": f"host-{index:05d}", "type": "A", "ttl": 300,
             "values": [address(index, 2 if index < changed else 1)]} for index in range(size)]


def lab_key() -> dict:
    return labctl.load_state()["keys"]["staff-key"]


def ns1_port() -> int:
    return labctl.load_state()["services"]["ns1"]["port"]


class ChildCpu:
    """CPU seconds (user + system) used by the child processes run inside the ``with`` block.

    On a shared machine wall times follow the load; the CPU a tool burns does not (much)."""

    def __enter__(self) -> ChildCpu:
        self._before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.seconds = 0.0
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.seconds = (after.ru_utime - self._before.ru_utime) + (after.ru_stime - self._before.ru_stime)


# ---- (a) psf.infra.dns_zone through ansible-playbook --------------------------------------------

def run_playbook(workdir: Path, playbook: list, variables: dict | None,
                 inventory: str = "localhost,") -> tuple[list[dict], float]:
    """ansible-playbook with the bench_timer callback: (per-task entries, wall time of the process).

    ``variables`` go in as ``-e @vars.json`` (None: no extra vars)."""
    (workdir / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    extra = []
    if variables is not None:
        (workdir / "vars.json").write_text(json.dumps(variables))
        extra = ["-e", "@vars.json"]
    timer_file = workdir / "timer.jsonl"
    timer_file.unlink(missing_ok=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), BENCH_TIMER_FILE=str(timer_file),
               ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).resolve().parent / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_timer")
    started = time.perf_counter()
    completed = subprocess.run([str(BIN / "ansible-playbook"), "-i", inventory, "playbook.yml", *extra],
                               cwd=workdir, env=env, capture_output=True, text=True, check=False)
    total = time.perf_counter() - started
    entries = [json.loads(line) for line in timer_file.read_text().splitlines()] if timer_file.exists() else []
    if completed.returncode != 0 or not entries or any(entry.get("failed") for entry in entries):
        raise SystemExit(f"ansible-playbook failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return entries, total


def run_dns_zone(workdir: Path, zone: str, records: list[dict], in_process: bool = True) -> tuple[float, float, dict]:
    """The records as a variable. ``in_process=False`` ships the module the classic way (AnsiballZ, a new
    Python) instead of running it in ansible-playbook through the action plugin."""
    key = lab_key()
    task = {"name": "zone", "psf.infra.dns_zone": {
        "server": "127.0.0.1", "port": ns1_port(), "tsig_key_name": key["name"],
        "tsig_key_secret": "{{ bench_secret }}", "zone": zone, "records": "{{ bench_records }}",
        "force": True}}
    playbook = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                          "psf_dns_in_process": in_process},
                 "tasks": [task]}]
    entries, total = run_playbook(workdir, playbook, {"bench_records": [NS_RECORD, *records],
                                                      "bench_secret": key["secret"]})
    return entries[0]["seconds"], total, entries[0]


def run_dns_zone_file(workdir: Path, zone: str, records: list[dict]) -> tuple[float, float]:
    """The same task with the records in a BIND zone file the module reads itself: what the module
    costs when the records do not travel through Ansible's templating and argument passing."""
    key = lab_key()
    lines = [f"$ORIGIN {zone}", "$TTL 300", "@ SOA ns1.infra.test. hostmaster.infra.test. 1 300 30 1209600 60",
             *(f"@ 300 NS {value}" for value in NS_RECORD["values"]),
             *(f"{record['name']} {record['ttl']} A {record['values'][0]}" for record in records)]
    (workdir / "zone.db").write_text("\n".join(lines) + "\n")
    task = {"name": "zone", "psf.infra.dns_zone": {
        "server": "127.0.0.1", "port": ns1_port(), "tsig_key_name": key["name"],
        "tsig_key_secret": "{{ bench_secret }}", "zone": zone, "zone_file": str(workdir / "zone.db"),
        "force": True}}
    playbook = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                 "tasks": [task]}]
    entries, total = run_playbook(workdir, playbook, {"bench_secret": key["secret"]})
    return entries[0]["seconds"], total


def write_registry(directory: Path, zone: str, records: list[dict], zone_file: bool) -> Path:
    """A one-tenant registry (tenants.yml + tenants/bench.yml) declaring ``zone`` with ``records``, inline
    or as a BIND zone file beside the tenant file (with the apex NS that the registry adds to inline records)."""
    settings = yaml.safe_load((REPO / "inventories/lab/tenants.yml").read_text())
    settings["quotas"] = {"default": {"max_vms": 2, "sizes": ["small"]}}
    (directory / "tenants" / "zones").mkdir(parents=True, exist_ok=True)
    (directory / "tenants.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    declared: dict = {"name": zone.rstrip("."), "dnssec": False}
    if zone_file:
        lines = [f"$ORIGIN {zone}", "$TTL 300", *(f"@ 300 NS {value}" for value in NS_RECORD["values"]),
                 *(f"{record['name']} {record['ttl']} A {record['values'][0]}" for record in records)]
        (directory / "tenants" / "zones" / f"{zone}zone").write_text("\n".join(lines) + "\n")
        declared["zone_file"] = f"zones/{zone}zone"
    else:
        declared["records"] = records
    tenant = {"name": "bench", "display_name": "Benchmark tenant", "kind": "working-group",
              "approval": {"body": "psf-membership", "date": "2020-01-01"}, "status": "active",
              "members": [{"name": "Bench Liaison", "email": "liaison@bench.test"}],
              "services": {"domains": [{"name": zone.rstrip("."), "registrar": "tenant"}], "zones": [declared]}}
    (directory / "tenants" / "bench.yml").write_text(yaml.safe_dump(tenant, sort_keys=False))
    return directory / "tenants.yml"


def run_registry(workdir: Path, zone: str, records: list[dict], zone_file: bool) -> tuple[float, float, dict]:
    """playbooks/dns.yml's play "Tenant zones hold what the tenant files declare" as it is (its vars, the
    child-key read, an empty loop here, and the publish task over every tenant zone), minus the wait for
    the secondaries, on a registry read by the psf.infra.tenants inventory plugin. ``force`` is added
    because the bench replaces whole zones."""
    key, state = lab_key(), labctl.load_state()
    plays = yaml.safe_load((REPO / "playbooks" / "dns.yml").read_text())
    play = next(play for play in plays if play["name"] == "Tenant zones hold what the tenant files declare")
    tasks = [dict(task) for task in play["tasks"] if "psf.infra.dns_zone" in task
             or task["name"].startswith("Read the keys of each signed child zone")]
    publish = next(task for task in tasks if "psf.infra.dns_zone" in task)
    publish["psf.infra.dns_zone"] = dict(publish["psf.infra.dns_zone"], force=True)
    variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "psf_dns_primary": {"address": "127.0.0.1", "port": ns1_port()},
                 "psf_dns_staff_key": {name: key[name] for name in ("name", "algorithm", "secret")},
                 "psf_dns_nameservers": state["zones"]["nameservers"], **play["vars"]}
    playbook = [{"name": play["name"], "hosts": "localhost", "gather_facts": False, "vars": variables,
                 "tasks": tasks}]
    directory = workdir / ("registry-file" if zone_file else "registry-inline")
    inventory = write_registry(directory, zone, records, zone_file)
    entries, total = run_playbook(workdir, playbook, None, inventory=str(inventory))
    entry = next(entry for entry in entries if entry["task"] == publish["name"])
    return entry["seconds"], total, entry


# ---- (b) raw dnspython: the floor ---------------------------------------------------------------

def _keyring() -> tuple[dict, str]:
    import dns.tsig

    key = lab_key()
    tsig = dns.tsig.Key(key["name"], key["secret"], key["algorithm"])
    return {tsig.name: tsig}, key["name"]


def raw_send(zone: str, records: list[dict], replace: bool) -> tuple[float, float]:
    keyring, keyname = _keyring()
    origin = dns.name.from_text(zone)
    started, cpu_started = time.perf_counter(), time.process_time()
    with socket.create_connection(("127.0.0.1", ns1_port()), timeout=30) as sock:
        for start in range(0, len(records), RAW_RECORDS_PER_MESSAGE):
            update = dns.update.UpdateMessage(origin, keyring=keyring, keyname=keyname)
            for record in records[start:start + RAW_RECORDS_PER_MESSAGE]:
                rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, record["values"][0])
                name = dns.name.from_text(record["name"], origin)
                if replace:
                    update.replace(name, record["ttl"], rdata)
                else:
                    update.add(name, record["ttl"], rdata)
            response = dns.query.tcp(update, "127.0.0.1", port=ns1_port(), sock=sock, timeout=30)
            if response.rcode() != 0:
                raise SystemExit(f"raw update failed: {response.rcode()}")
    return time.perf_counter() - started, time.process_time() - cpu_started


def raw_read(zone: str) -> tuple[float, float]:
    keyring, keyname = _keyring()
    started, cpu_started = time.perf_counter(), time.process_time()
    rrsets = {}
    for message in dns.query.xfr("127.0.0.1", zone, port=ns1_port(), keyring=keyring, keyname=keyname,
                                 relativize=False, lifetime=60):
        for rrset in message.answer:
            rrsets[(rrset.name, rrset.rdtype)] = rrset
    return time.perf_counter() - started, time.process_time() - cpu_started


# ---- (c) octoDNS with octodns-bind --------------------------------------------------------------

def ensure_octodns() -> Path:
    octodns_sync = BENCH_VENV / "bin" / "octodns-sync"
    if not octodns_sync.exists():
        print("installing octodns + octodns-bind into .cache/bench-venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", "octodns", "octodns-bind"], check=True)
    return octodns_sync


def run_octodns(octodns_sync: Path, workdir: Path, zone: str, records: list[dict]) -> float:
    key = lab_key()
    config_dir = workdir / "octodns-zones"
    config_dir.mkdir(exist_ok=True)
    content: dict = {"": {"type": "NS", "ttl": 300, "values": NS_RECORD["values"]}}
    for record in records:
        content[record["name"]] = {"type": "A", "ttl": record["ttl"], "value": record["values"][0]}
    (config_dir / f"{zone}yaml").write_text(yaml.safe_dump(content))
    config = {
        "providers": {
            "config": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(config_dir),
                       "enforce_order": False},
            "bind": {"class": "octodns_bind.Rfc2136Provider", "host": "127.0.0.1", "port": ns1_port(),
                     "key_name": key["name"], "key_secret": "env/BENCH_TSIG_SECRET",
                     "key_algorithm": key["algorithm"]},
        },
        "zones": {zone: {"sources": ["config"], "targets": ["bind"]}},
    }
    (workdir / "octodns.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, BENCH_TSIG_SECRET=key["secret"])
    started = time.perf_counter()
    completed = subprocess.run([str(octodns_sync), "--config-file", str(workdir / "octodns.yaml"), "--doit",
                                "--force"], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"octodns-sync failed:\n{completed.stderr[-3000:]}")
    return elapsed


# ---- (d) community.general.nsupdate, one task per record ----------------------------------------

def run_nsupdate(workdir: Path, zone: str, records: list[dict]) -> float:
    key = lab_key()
    task = {"name": "records", "community.general.nsupdate": {
        "server": "127.0.0.1", "port": ns1_port(), "key_name": key["name"], "key_secret": "{{ bench_secret }}",
        "key_algorithm": key["algorithm"], "zone": zone, "record": "{{ item.name }}", "type": "A",
        "ttl": "{{ item.ttl }}", "value": "{{ item['values'][0] }}", "protocol": "tcp"},
        "loop": "{{ bench_records }}", "loop_control": {"label": "{{ item.name }}"}}
    playbook = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                 "tasks": [task]}]
    entries, _ = run_playbook(workdir, playbook, {"bench_records": records, "bench_secret": key["secret"]})
    return entries[0]["seconds"]


# ---- the run ------------------------------------------------------------------------------------

class Zones:
    """Fresh unsigned zones on ns1, removed at the end."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def new(self, label: str) -> str:
        zone = f"bench-{label}-{uuid.uuid4().hex[:6]}.test."
        labctl.add_zone(zone, signed=False)
        self.made.append(zone)
        return zone

    def remove_all(self) -> None:
        for zone in self.made:
            labctl.remove_zone(zone)


def fmt(seconds: float | None) -> str:
    if isinstance(seconds, int):  # a count (UPDATE messages)
        return f"{seconds:7d}"
    return "-" if seconds is None else f"{seconds:7.2f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:5.1f}x"


TOOLS = ("dns_zone", "zone_file", "shipped", "registry", "raw", "octodns", "nsupdate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, any of {', '.join(TOOLS)} (default: all)")
    parser.add_argument("--skip-octodns", action="store_true")
    parser.add_argument("--skip-nsupdate", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tools = set(args.tools.split(","))
    if tools - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(tools - set(TOOLS)))}")
    tools -= {"octodns"} if args.skip_octodns else set()
    tools -= {"nsupdate"} if args.skip_nsupdate else set()
    started_load = os.getloadavg()
    octodns_sync = ensure_octodns() if "octodns" in tools else None
    zones = Zones()
    rows = []
    nsupdate_per_record: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp:
            workdir = Path(tmp)
            if "nsupdate" in tools:
                zone = zones.new("nsupdate")
                sample = zone_records(NSUPDATE_SAMPLE)
                nsupdate_per_record["create"] = run_nsupdate(workdir, zone, sample) / NSUPDATE_SAMPLE
                changed = zone_records(NSUPDATE_SAMPLE, changed=NSUPDATE_SAMPLE // 100)
                nsupdate_per_record["change"] = run_nsupdate(workdir, zone, changed) / NSUPDATE_SAMPLE
                nsupdate_per_record["noop"] = run_nsupdate(workdir, zone, changed) / NSUPDATE_SAMPLE
            for size in sizes:
                base, changed = zone_records(size), zone_records(size, changed=size // 100)
                zone_of = {tool: zones.new(f"{tool.replace('_', '')[:4]}{size}")
                           for tool in ("dns_zone", "zone_file", "shipped", "raw", "octodns") if tool in tools}
                if "registry" in tools:
                    zone_of["registry"] = zones.new(f"reg{size}")
                    zone_of["registry_file"] = zones.new(f"regf{size}")
                for scenario, records in (("create", base), ("change", changed), ("noop", changed)):
                    row: dict = {"size": size, "scenario": scenario}
                    if "dns_zone" in tools:
                        with ChildCpu() as task_cpu:
                            row["task"], row["total"], result = run_dns_zone(workdir, zone_of["dns_zone"], records)
                        row.update(cpu=task_cpu.seconds, messages=result["messages_sent"],
                                   changed=result["changed"])
                    if "zone_file" in tools:
                        with ChildCpu() as file_cpu:
                            row["file"], row["file_total"] = run_dns_zone_file(workdir, zone_of["zone_file"], records)
                        row["file_cpu"] = file_cpu.seconds
                    if "shipped" in tools:
                        row["shipped"], row["shipped_total"], _result = run_dns_zone(
                            workdir, zone_of["shipped"], records, in_process=False)
                    if "registry" in tools:
                        row["reg"], row["reg_total"], result = run_registry(workdir, zone_of["registry"], records,
                                                                            zone_file=False)
                        row["reg_file"], row["reg_file_total"], file_result = run_registry(
                            workdir, zone_of["registry_file"], records, zone_file=True)
                        row["reg_changed"] = (result["changed"], file_result["changed"])
                    if "raw" in tools:
                        if scenario == "create":
                            row["raw"], row["raw_cpu"] = raw_send(zone_of["raw"], base, replace=False)
                        elif scenario == "change":
                            row["raw"], row["raw_cpu"] = raw_send(zone_of["raw"], changed[: size // 100],
                                                                  replace=True)
                        else:
                            row["raw"], row["raw_cpu"] = raw_read(zone_of["raw"])
                    if octodns_sync:
                        with ChildCpu() as octo_cpu:
                            row["octodns"] = run_octodns(octodns_sync, workdir, zone_of["octodns"], records)
                        row["octo_cpu"] = octo_cpu.seconds
                    nsupdate = nsupdate_per_record.get(scenario)
                    row["nsupdate"] = nsupdate * size if nsupdate else None
                    rows.append(row)
                    print(f"  {size:>6} {scenario:<7} dns_zone task/process {fmt(row.get('task'))}/"
                          f"{fmt(row.get('total'))}s  dns.yml+registry task/process {fmt(row.get('reg'))}/"
                          f"{fmt(row.get('reg_total'))}s (zone file {fmt(row.get('reg_file'))}/"
                          f"{fmt(row.get('reg_file_total'))}s)  raw {fmt(row.get('raw'))}s  "
                          f"octoDNS {fmt(row.get('octodns'))}s  changed {row.get('changed', '-')}"
                          f" {row.get('reg_changed', '')}", flush=True)
    finally:
        zones.remove_all()
    print_tables(rows)
    print(f"load average (1, 5, 15 min) at start {started_load}, at the end {os.getloadavg()} on {os.cpu_count()} CPUs")


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """``columns``: (heading, key); a key ``a/b`` prints the ratio of two fields."""
    widths = [max(len(heading), 8) for heading, _key in columns]
    header = " | ".join(f"{heading:>{width}}" for (heading, _key), width in zip(columns, widths, strict=True))
    print(f"{'records':>7} | {'scenario':<8} | {header}")
    print("-" * (len(header) + 21))
    for row in rows:
        cells = []
        for (_heading, key), width in zip(columns, widths, strict=True):
            if "/" in key:
                numerator, denominator = key.split("/")
                cells.append(f"{ratio(row.get(numerator), row.get(denominator)):>{width}}")
            else:
                cells.append(f"{fmt(row.get(key)):>{width}}")
        print(f"{row['size']:>7} | {row['scenario']:<8} | {' | '.join(cells)}")
    print()


def print_tables(rows: list[dict]) -> None:
    print("\nThe whole ansible-playbook process beside its dns_zone task, and octoDNS's whole process (seconds):\n")
    print_table(rows, [("dns_zone task", "task"), ("process", "total"), ("zone_file task", "file"),
                       ("process", "file_total"), ("dns.yml task", "reg"), ("process", "reg_total"),
                       ("dns.yml zone file task", "reg_file"), ("process", "reg_file_total"),
                       ("octoDNS process", "octodns"), ("octoDNS/process", "octodns/total")])
    print("Against the floor and the others (seconds):\n")
    print_table(rows, [("dns_zone task", "task"), ("zone_file", "file"), ("shipped", "shipped"),
                       ("raw floor", "raw"), ("octoDNS", "octodns"), ("nsupdate*", "nsupdate"),
                       ("task/raw", "task/raw"), ("file/raw", "file/raw"), ("octoDNS/task", "octodns/task"),
                       ("octoDNS/file", "octodns/file"), ("msgs", "messages")])
    print("CPU seconds (user + system) of the whole process tree (client side; BIND's own work is not in it):\n")
    print_table(rows, [("playbook CPU", "cpu"), ("zone_file CPU", "file_cpu"), ("raw CPU", "raw_cpu"),
                       ("octoDNS CPU", "octo_cpu"), ("octoDNS/playbook", "octo_cpu/cpu")])
    print("dns_zone task = one Ansible task, records passed as a variable (-e @vars.json), from task start to")
    print("result (bench_timer callback); process = the whole ansible-playbook process around it (start-up,")
    print("inventory, variables, the task, callbacks, exit): what staff and cron wait for.")
    print("zone_file = the same task reading a BIND zone file (the records do not go through Ansible's variables);")
    print("dns.yml = playbooks/dns.yml's play with the zone in a one-tenant registry (psf.infra.tenants inventory),")
    print("inline records in the tenant file / (zone file) a BIND zone file beside it; its task includes the loop.")
    print("shipped = the records task with psf_dns_in_process=false: the module shipped and started the classic")
    print("way (AnsiballZ, a new Python) instead of running in ansible-playbook through the action plugin;")
    print("raw floor = dnspython by hand (create/change: UPDATEs only; no-op: one AXFR);")
    print(f"nsupdate* = community.general.nsupdate looping over {NSUPDATE_SAMPLE} records, scaled to the size.")


if __name__ == "__main__":
    main()
