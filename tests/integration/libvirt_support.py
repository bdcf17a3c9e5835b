"""The lab's libvirtd for the tests that use it (test_vm_libvirt.py, test_hypervisor_playbook.py,
test_vm_image_boot.py, test_vm_guest_lab.py: one pytest-xdist worker runs them one after another,
tests/conftest.py): started when it is not running and stopped after, and a guest's domain and
volumes removed whatever state a failed test left them in; and how the tests reach a guest over
SSH (the lab's relay)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))

from psf_lab import guests  # noqa: E402
from psf_lab import libvirt as lab_libvirt  # noqa: E402
from psf_lab.config import LabPaths  # noqa: E402
from psf_lab.guests import remove_machine  # noqa: E402, F401  (the libvirt tests' clean-up)

#: The blank base image of the tests whose guests need not boot an OS.
BLANK_BASE = "blank-base.qcow2"


@contextlib.contextmanager
def lab_libvirtd(*, blank_base: bool = False) -> Iterator[dict[str, Any]]:
    """The lab's libvirtd state (uri, pool, pool_dir, network); started here when it was not
    running, and then stopped after. With ``blank_base``, a blank 256 MiB qcow2 in its pool."""
    import libvirt

    paths = LabPaths()
    started_here = not lab_libvirt.running(paths)
    state = lab_libvirt.start(paths)
    try:
        if blank_base:
            base = Path(state["pool_dir"]) / BLANK_BASE
            if not base.exists():
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "256M"], check=True)
        conn = libvirt.open(state["uri"])
        conn.storagePoolLookupByName(state["pool"]).refresh(0)
        conn.close()
        yield state
    finally:
        if started_here:
            lab_libvirt.stop(paths)


def ssh_options(state: dict[str, Any], key: Path) -> list[str]:
    """How the tests and Ansible reach a guest: through the lab's relay in the guests' namespace."""
    return guests.ssh_options(state, key)


def ssh_root(state: dict[str, Any], key: Path, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", *ssh_options(state, key), f"root@{address}", command],
                          capture_output=True, text=True, timeout=120, check=False)


def new_key(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()
