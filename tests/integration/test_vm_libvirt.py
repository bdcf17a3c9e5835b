"""psf.infra.vm and psf.infra.vm_info against the lab's real libvirtd (lab/psf_lab/libvirt.py), run
by the real ansible-playbook: a TCG guest from a tiny blank qcow2 base image (it need not boot an
OS here) is defined, started, rerun, resized, stopped, found again after libvirtd restarts, and
removed. One test, so the whole life of the guest runs on one pytest-xdist worker, in order.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dns_support import run_playbook, task_results

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "collections")]

libvirt = pytest.importorskip("libvirt")

from libvirt_support import BLANK_BASE as BASE  # noqa: E402
from libvirt_support import lab_libvirtd, remove_machine  # noqa: E402
from psf_lab import libvirt as lab_libvirt  # noqa: E402
from psf_lab.config import LabPaths  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aW5nLXN0YWZmLWF1dG9tYXRpb24ta2V5 staff-automation"


@pytest.fixture(scope="module")
def hypervisor() -> Iterator[dict[str, Any]]:
    """The lab's libvirtd with a blank 256 MiB qcow2 base image in its pool (libvirt_support.py)."""
    with lab_libvirtd(blank_base=True) as state:
        yield state


def vm_task(hypervisor: dict[str, Any], name: str, **more: Any) -> dict[str, Any]:
    return {"psf.infra.vm": {"name": name, "uri": hypervisor["uri"], "pool": hypervisor["pool"],
                             "network": hypervisor["network"], "base_image": BASE, "tenant": "packaging",
                             "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "ssh_authorized_key": KEY,
                             "shutdown_timeout": 0, **more}}


def one(tmp_path: Path, task: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    output = run_playbook(tmp_path, [task], **kwargs)
    return task_results(output)[0]


def test_a_tcg_guest_lives_and_keeps_its_identity(tmp_path, hypervisor):
    name = f"lab-{uuid.uuid4().hex[:6]}"
    conn = libvirt.open(hypervisor["uri"])
    pool = conn.storagePoolLookupByName(hypervisor["pool"])
    try:
        planned = one(tmp_path, vm_task(hypervisor, name), check=True, diff=True)
        assert planned["changed"] is True and name not in [d.name() for d in conn.listAllDomains()]

        started = time.monotonic()
        created = one(tmp_path, vm_task(hypervisor, name))
        define_and_start = time.monotonic() - started
        assert created["changed"] is True, created
        identity = (created["vm"]["uuid"], created["vm"]["macs"])
        domain = conn.lookupByName(name)
        assert domain.isActive() == 1
        assert domain.XMLDesc(0).count("type='qemu'") >= 1  # TCG
        seed = pool.storageVolLookupByName(f"{name}-seed.iso")
        assert seed.info()[1] > 0  # uploaded through the libvirt stream

        rerun = one(tmp_path, vm_task(hypervisor, name), diff=True)
        assert rerun["changed"] is False, rerun["actions"]
        assert (rerun["vm"]["uuid"], rerun["vm"]["macs"]) == identity

        grown = one(tmp_path, vm_task(hypervisor, name, disk_gib=2))  # online, through QEMU
        assert [a["action"] for a in grown["actions"]] == ["grow_disk"] and grown["vm"]["disk_gib"] == 2
        assert grown["restart_needed"] is False

        more_memory = one(tmp_path, vm_task(hypervisor, name, disk_gib=2, memory_mib=192))
        assert more_memory["changed"] is True and more_memory["restart_needed"] is True
        restarted = one(tmp_path, vm_task(hypervisor, name, disk_gib=2, memory_mib=192, restart=True))
        assert [a["action"] for a in restarted["actions"]] == ["restart"] and restarted["restart_needed"] is False
        assert conn.lookupByName(name).info()[2] == 192 * 1024  # the running guest's memory, KiB

        # libvirtd restarts under a running guest: it finds it again, nothing is redefined
        conn.close()
        paths = LabPaths()
        lab_libvirt.stop(paths)
        lab_libvirt.start(paths)
        conn = libvirt.open(hypervisor["uri"])
        pool = conn.storagePoolLookupByName(hypervisor["pool"])
        after_restart = one(tmp_path, vm_task(hypervisor, name, disk_gib=2, memory_mib=192))
        assert after_restart["changed"] is False, after_restart["actions"]
        assert (after_restart["vm"]["uuid"], after_restart["vm"]["macs"]) == identity
        assert conn.lookupByName(name).isActive() == 1

        stopped = one(tmp_path, vm_task(hypervisor, name, disk_gib=3, memory_mib=192, state="stopped"))
        assert [a["action"] for a in stopped["actions"]] == ["grow_disk", "stop"]
        assert stopped["vm"]["state"] == "stopped" and stopped["vm"]["disk_gib"] == 3

        shrink = one(tmp_path, vm_task(hypervisor, name, disk_gib=2, memory_mib=192, state="stopped"))
        assert shrink.get("failed") is True and shrink["field"] == "disk_gib" and f"VM '{name}'" in shrink["msg"]

        running_again = one(tmp_path, vm_task(hypervisor, name, disk_gib=3, memory_mib=192))
        assert [a["action"] for a in running_again["actions"]] == ["start"]
        assert (running_again["vm"]["uuid"], running_again["vm"]["macs"]) == identity

        info = one(tmp_path, {"psf.infra.vm_info": {"uri": hypervisor["uri"], "tenant": "packaging"}})
        mine = [vm for vm in info["vms"] if vm["name"] == name]
        assert mine and mine[0]["state"] == "running" and mine[0]["memory_mib"] == 192
        assert mine[0]["addresses"] == []  # no OS, no lease, no agent

        removed = one(tmp_path, vm_task(hypervisor, name, state="absent"))
        assert removed["changed"] is True
        assert name not in [d.name() for d in conn.listAllDomains()]
        volumes = pool.listVolumes()
        assert BASE in volumes and not {f"{name}.qcow2", f"{name}-seed.iso"} & set(volumes)
        print(f"define + start of a TCG domain through ansible-playbook: {define_and_start:.1f}s")
    finally:
        remove_machine(conn, pool, name)
        conn.close()
