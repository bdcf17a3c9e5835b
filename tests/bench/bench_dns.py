"""Benchmark: psf.infra.dns_zone against the floor (raw dnspython), octoDNS and a nsupdate loop.

Run by ``make bench`` (the lab must be up; the Makefile brings it up). Not a test: it prints a table.
All tools write to the same lab BIND (ns1) in one run, each into its own fresh unsigned zone:

- ``dns_zone``: psf.infra.dns_zone as ONE Ansible task through ansible-playbook (the task's wall time
  from tests/bench/callback_plugins/bench_timer.py, and the whole ansible-playbook process), records
  passed as a variable; the same task reading the records from a BIND zone file (``zone_file``); and
  the records task with ``psf_dns_in_process: false`` (``shipped``: the module shipped the classic way,
  AnsiballZ and a new Python, instead of running in ansible-playbook through its action plugin).
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

def run_playbook(workdir: Path, playbook: list, variables: dict) -> tuple[list[dict], float]:
    """ansible-playbook with the bench_timer callback: (per-task entries, wall time of the process)."""
    (workdir / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    (workdir / "vars.json").write_text(json.dumps(variables))
    timer_file = workdir / "timer.jsonl"
    timer_file.unlink(missing_ok=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), BENCH_TIMER_FILE=str(timer_file),
               ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).resolve().parent / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_timer")
    started = time.perf_counter()
    completed = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "playbook.yml",
                                "-e", "@vars.json"], cwd=workdir, env=env, capture_output=True, text=True,
                               check=False)
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


def run_dns_zone_file(workdir: Path, zone: str, records: list[dict]) -> float:
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
    entries, _ = run_playbook(workdir, playbook, {"bench_secret": key["secret"]})
    return entries[0]["seconds"]


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
    return "-" if seconds is None else f"{seconds:7.2f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:5.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--skip-octodns", action="store_true")
    parser.add_argument("--skip-nsupdate", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    started_load = os.getloadavg()
    octodns_sync = None if args.skip_octodns else ensure_octodns()
    zones = Zones()
    rows = []
    nsupdate_per_record: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp:
            workdir = Path(tmp)
            if not args.skip_nsupdate:
                zone = zones.new("nsupdate")
                sample = zone_records(NSUPDATE_SAMPLE)
                nsupdate_per_record["create"] = run_nsupdate(workdir, zone, sample) / NSUPDATE_SAMPLE
                changed = zone_records(NSUPDATE_SAMPLE, changed=NSUPDATE_SAMPLE // 100)
                nsupdate_per_record["change"] = run_nsupdate(workdir, zone, changed) / NSUPDATE_SAMPLE
                nsupdate_per_record["noop"] = run_nsupdate(workdir, zone, changed) / NSUPDATE_SAMPLE
            for size in sizes:
                base, changed = zone_records(size), zone_records(size, changed=size // 100)
                module_zone, raw_zone = zones.new(f"mod{size}"), zones.new(f"raw{size}")
                file_zone, shipped_zone = zones.new(f"file{size}"), zones.new(f"ship{size}")
                octo_zone = zones.new(f"octo{size}") if octodns_sync else None
                for scenario, records in (("create", base), ("change", changed), ("noop", changed)):
                    with ChildCpu() as task_cpu:
                        task, total, result = run_dns_zone(workdir, module_zone, records)
                    with ChildCpu() as file_cpu:
                        file_task = run_dns_zone_file(workdir, file_zone, records)
                    shipped, _total, _result = run_dns_zone(workdir, shipped_zone, records, in_process=False)
                    if scenario == "create":
                        raw, raw_cpu = raw_send(raw_zone, base, replace=False)
                    elif scenario == "change":
                        raw, raw_cpu = raw_send(raw_zone, changed[: size // 100], replace=True)
                    else:
                        raw, raw_cpu = raw_read(raw_zone)
                    with ChildCpu() as octo_cpu:
                        octo = run_octodns(octodns_sync, workdir, octo_zone, records) if octodns_sync else None
                    nsupdate = nsupdate_per_record.get(scenario)
                    rows.append({"size": size, "scenario": scenario, "task": task, "total": total, "raw": raw,
                                 "file": file_task, "shipped": shipped, "cpu": task_cpu.seconds,
                                 "file_cpu": file_cpu.seconds,
                                 "raw_cpu": raw_cpu, "octo_cpu": octo_cpu.seconds if octodns_sync else None,
                                 "octodns": octo, "nsupdate": nsupdate * size if nsupdate else None,
                                 "messages": result["messages_sent"], "changed": result["changed"]})
                    print(f"  {size:>6} {scenario:<7} task {task:6.2f}s  playbook {total:6.2f}s  zone_file task "
                          f"{file_task:6.2f}s  raw {raw:6.2f}s"
                          f"  octoDNS {fmt(octo)}s  ({result['messages_sent']} UPDATE messages)", flush=True)
    finally:
        zones.remove_all()
    print()
    header = (f"{'records':>7} | {'scenario':<8} | {'dns_zone task':>13} | {'zone_file':>9} | {'shipped':>7} | "
              f"{'playbook':>8} | {'raw floor':>9} | {'octoDNS':>7} | {'nsupdate*':>9} | {'task/raw':>8} | "
              f"{'file/raw':>8} | {'octoDNS/task':>12} | {'octoDNS/file':>12} | {'msgs':>4}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['size']:>7} | {row['scenario']:<8} | {fmt(row['task']):>13} | {fmt(row['file']):>9} | "
              f"{fmt(row['shipped']):>7} | {fmt(row['total']):>8} | {fmt(row['raw']):>9} | "
              f"{fmt(row['octodns']):>7} | {fmt(row['nsupdate']):>9} | {ratio(row['task'], row['raw']):>8} | "
              f"{ratio(row['file'], row['raw']):>8} | "
              f"{ratio(row['octodns'], row['task']):>12} | {ratio(row['octodns'], row['file']):>12} | "
              f"{row['messages']:>4}")
    print()
    header = (f"{'records':>7} | {'scenario':<8} | {'playbook CPU':>12} | {'zone_file CPU':>13} | "
              f"{'raw CPU':>7} | {'octoDNS CPU':>11} | {'octoDNS/playbook':>16}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['size']:>7} | {row['scenario']:<8} | {fmt(row['cpu']):>12} | {fmt(row['file_cpu']):>13} | "
              f"{fmt(row['raw_cpu']):>7} | {fmt(row['octo_cpu']):>11} | {ratio(row['octo_cpu'], row['cpu']):>16}")
    print("\nCPU = user + system seconds of the whole process tree (client side; BIND's own work is not in it).")
    print("\nseconds; dns_zone task = the one Ansible task (task start to result, bench_timer callback),")
    print("playbook = the whole ansible-playbook process; zone_file = the same task reading a BIND zone file")
    print("(the records do not go through Ansible's templating and module arguments);")
    print("shipped = the records task with psf_dns_in_process=false: the module shipped and started the classic")
    print("way (AnsiballZ, a new Python) instead of running in ansible-playbook through the action plugin;")
    print("raw floor = dnspython by hand (create/change: UPDATEs only; no-op: one AXFR);")
    print(f"nsupdate* = community.general.nsupdate looping over {NSUPDATE_SAMPLE} records, scaled to the size.")
    print(f"load average (1, 5, 15 min) at start {started_load}, at the end {os.getloadavg()} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
