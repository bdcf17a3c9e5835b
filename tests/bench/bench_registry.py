"""Time the tenant registry through the real ansible-inventory: the lab registry and a synthetic one.

    .venv/bin/python tests/bench/bench_registry.py [--tenants 200] [--runs 3]

Prints seconds per `ansible-inventory --list` (best and median of the runs) and the time of
load_registry() alone. A benchmark, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICOz6LHpDztJ3vXMFa1lKe2qf7HPBklaJU/xWARx/sBC bench"


def synthetic_tenant(number: int) -> dict:
    name = f"tenant{number:04d}"
    zone = f"{name}.test"
    records = [{"name": f"host{index}", "type": "A", "values": [f"192.0.2.{index + 1}"]} for index in range(20)]
    records.append({"name": "@", "type": "MX", "values": [f"10 mail.{zone}."]})
    return {
        "name": name,
        "display_name": f"Synthetic tenant {number}",
        "kind": "working-group" if number % 2 else "community-organization",
        "approval": {"body": "psf-membership" if number % 2 else "psf-board", "date": "2020-01-01"},
        "status": "active",
        "members": [{"name": f"Liaison {number}", "email": f"liaison@{zone}", "ssh_keys": [KEY]}],
        "services": {
            "domains": [{"name": zone, "registrar": "psf"}],
            "zones": [{"name": zone, "records": records}],
            "certificates": [{"name": "web", "names": [zone, f"*.{zone}"]}],
            "vms": [{"name": f"vm{index}", "size": "small", "address": f"2001:db8:{number:x}::{index + 1}",
                     "backup": {"paths": ["/etc", "/srv"]}} for index in range(2)],
            "apps": [{"name": "site", "vm": "vm0", "names": [f"www.{zone}"], "port": 8000, "certificate": "web"}],
        },
    }


def write_synthetic_inventory(directory: Path, tenants: int) -> None:
    settings = yaml.safe_load((REPO / "inventories/lab/tenants.yml").read_text())
    settings["quotas"] = {"default": {"max_vms": 2, "sizes": ["small"]}}
    (directory / "tenants.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (directory / "tenants").mkdir()
    for number in range(tenants):
        document = synthetic_tenant(number)
        (directory / "tenants" / f"{document['name']}.yml").write_text(yaml.safe_dump(document, sort_keys=False))


def time_inventory(inventory: Path, runs: int) -> list[float]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"], cwd=REPO, env=env,
                       check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


def time_load_registry(inventory: Path) -> float:
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.psf.infra.plugins.module_utils.tenants import build_config, load_registry

    settings = yaml.safe_load((inventory / "tenants.yml").read_text())
    config = build_config({key: settings.get(key) for key in ("size_presets", "quotas", "vm_domain")})
    started = time.perf_counter()
    load_registry(str(inventory / "tenants"), config)
    return time.perf_counter() - started


def report(label: str, timings: list[float]) -> None:
    print(f"{label}: best {min(timings):.2f} s, median {statistics.median(timings):.2f} s ({len(timings)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()

    report("ansible-inventory --list, lab registry (2 tenants)", time_inventory(REPO / "inventories/lab",
                                                                                arguments.runs))
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as temporary:
        inventory = Path(temporary)
        write_synthetic_inventory(inventory, arguments.tenants)
        report(f"ansible-inventory --list, {arguments.tenants} tenants / {2 * arguments.tenants} VMs",
               time_inventory(inventory, arguments.runs))
        print(f"load_registry() alone, {arguments.tenants} tenants: {time_load_registry(inventory):.2f} s")


if __name__ == "__main__":
    main()
