"""playbooks/lab-vms.yml, the lab's machines: a machine whose VM left the registry (an orphan) is
reported by name and kept with its data, never removed by a run (issue #11, decommissioning)."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest
from ansible_cli import BIN, REPO, ansible_env, copy_inventory

pytestmark = [pytest.mark.lab, pytest.mark.podman]

IMAGE = os.environ.get("PSF_MOLECULE_IMAGE", "localhost/psf-infra/debian-systemd:bookworm")
LAB_VM_HOSTS = """    lab_vm_hosts:
      children:
        tenant_vms: {}
        backup_servers: {}
        monitoring_servers: {}
"""


@pytest.fixture(scope="module")
def containers_conf() -> str:
    result = subprocess.run(["bash", str(REPO / "lab" / "podman-env.sh")], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().removeprefix("export CONTAINERS_CONF=")


def podman(conf: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check,
                          env=dict(os.environ, CONTAINERS_CONF=conf))


def test_a_machine_whose_vm_left_the_registry_is_reported_and_kept(lab, containers_conf, tmp_path):
    name = f"psf-lab-orphan-{secrets.token_hex(3)}"
    podman(containers_conf, "create", "--name", name, "--label", "psf.infra.lab=vm",
           "--label", "psf.infra.inventory-host=old1.retired-tenant", IMAGE, "/sbin/init")
    try:
        # The lab inventory with no machine to make: every lab machine that exists is an orphan to it.
        target = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
        machines = target / "machines.yml"
        assert LAB_VM_HOSTS in machines.read_text()
        machines.write_text(machines.read_text().replace(LAB_VM_HOSTS, "    lab_vm_hosts: {}\n"))

        result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(target),
                                 str(REPO / "playbooks" / "lab-vms.yml")], cwd=REPO, capture_output=True, text=True,
                                env={**ansible_env(), "CONTAINERS_CONF": containers_conf}, timeout=300, check=False)

        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert (f"ORPHAN: lab machine {name} ran VM old1.retired-tenant, which is no longer in the registry; "
                "it is kept with its data, not removed.") in " ".join(result.stdout.split()), result.stdout[-3000:]
        state = podman(containers_conf, "inspect", "--format", "{{.State.Status}}", name, check=False)
        assert state.returncode == 0, f"the orphan {name} was removed: {state.stderr}"
    finally:
        podman(containers_conf, "rm", "-f", name, check=False)
