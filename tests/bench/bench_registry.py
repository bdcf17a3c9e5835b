"""Time the tenant registry through the real ansible-inventory: the lab registry and a synthetic one.

    .venv/bin/python tests/bench/bench_registry.py [--tenants 200] [--runs 3]

Prints seconds per `ansible-inventory --list` (best and median of the runs) and the time of
load_registry() alone, each with the registry cache off (every file parsed and judged: a changed
registry) and warm (an unchanged registry, what an hourly cron run meets; docs/tenants.md, "The
registry cache"). A benchmark, not a test: it asserts nothing about timings.
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


PLAYBOOK = """
- name: Read the whole registry on the control node
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Count the zones
      ansible.builtin.debug:
        msg: "{{ psf_tenants | psf.infra.tenant_zones | length }} zones"
- name: Touch every tenant VM's variables (no connection)
  hosts: tenant_vms
  gather_facts: false
  tasks:
    - name: Show the VM's FQDN
      ansible.builtin.debug:
        msg: "{{ psf_vm.fqdn }}"
"""


CACHE_DIR: str | None = None  # set by main(): a warm cache of this run's own


def time_command(command: list[str], runs: int) -> dict[str, list[float]]:
    """Timings with the registry cache off, then warm (one untimed run fills it)."""
    return {"cache off": _timings(command, runs, {"PSF_INFRA_REGISTRY_CACHE": "false"}),
            "cache warm": _timings(command, runs, {"PSF_INFRA_REGISTRY_CACHE_DIR": CACHE_DIR}, warm_up=True)}


def _timings(command: list[str], runs: int, extra_env: dict, warm_up: bool = False) -> list[float]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **extra_env)
    if warm_up:
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


def time_inventory(inventory: Path, runs: int, *arguments: str) -> dict[str, list[float]]:
    return time_command([str(BIN / "ansible-inventory"), "-i", str(inventory), *arguments], runs)


def time_playbook(inventory: Path, runs: int) -> dict[str, list[float]]:
    playbook = inventory.parent / f"{inventory.name}-play.yml"  # not inside: it would be read as an inventory
    playbook.write_text(PLAYBOOK)
    return time_command([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)], runs)


def time_load_registry(inventory: Path, cache_dir: str | None = None) -> float:
    if str(REPO / "collections") not in sys.path:
        sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.psf.infra.plugins.module_utils.registry.checks import build_config
    from ansible_collections.psf.infra.plugins.module_utils.registry.loading import load_registry

    settings = yaml.safe_load((inventory / "tenants.yml").read_text())
    config = build_config({key: settings.get(key) for key in ("size_presets", "quotas", "vm_domain")})
    if cache_dir:
        load_registry(str(inventory / "tenants"), config, cache_dir=cache_dir)
    started = time.perf_counter()
    load_registry(str(inventory / "tenants"), config, cache_dir=cache_dir)
    return time.perf_counter() - started


def report(label: str, timings: dict[str, list[float]]) -> None:
    off, warm = timings["cache off"], timings["cache warm"]
    print(f"{label}: cache off best {min(off):.2f} s, median {statistics.median(off):.2f} s; "
          f"cache warm best {min(warm):.2f} s, median {statistics.median(warm):.2f} s "
          f"({len(off)} runs each; off/warm {statistics.median(off) / statistics.median(warm):.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()

    global CACHE_DIR
    cache_dir = tempfile.TemporaryDirectory(prefix="bench-registry-cache-")
    CACHE_DIR = cache_dir.name
    lab = REPO / "inventories/lab"
    report("lab (2 tenants): ansible-inventory --list", time_inventory(lab, arguments.runs, "--list"))
    report("lab (2 tenants): ansible-inventory --graph", time_inventory(lab, arguments.runs, "--graph"))
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as temporary:
        inventory = Path(temporary) / "inventory"
        inventory.mkdir()
        write_synthetic_inventory(inventory, arguments.tenants)
        label = f"{arguments.tenants} tenants / {2 * arguments.tenants} VMs"
        # not `--list` without --export: it copies psf_tenants (group all) into every host's
        # variables, so its output grows with tenants x VMs (see docs/tenants.md)
        report(f"{label}: ansible-inventory --graph", time_inventory(inventory, arguments.runs, "--graph"))
        report(f"{label}: ansible-inventory --list --export",
               time_inventory(inventory, arguments.runs, "--list", "--export"))
        report(f"{label}: ansible-playbook (debug on localhost + every VM)", time_playbook(inventory, arguments.runs))
        print(f"{label}: load_registry() alone: cache off {time_load_registry(inventory):.2f} s, "
              f"cache warm {time_load_registry(inventory, CACHE_DIR):.2f} s")
    cache_dir.cleanup()


if __name__ == "__main__":
    main()
