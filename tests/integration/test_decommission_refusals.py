"""playbooks/decommission.yml refuses before anything changes (the real ansible-playbook on a copy of
inventories/lab with one decommissioned VM; nothing is reached but the control node): without a VM,
for a host that is not in the inventory, for a VM its tenant file does not declare decommissioned
(naming the tenant, its file and the field), and without the confirmation naming the VM."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    target = copy_inventory(REPO / "inventories" / "lab", tmp_path_factory.mktemp("inventory") / "lab")
    tenant_file = target / "tenants" / "packaging.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["services"]["vms"].append({"name": "old1", "size": "small", "backup": {"paths": ["/etc"]},
                                        "state": "decommissioned", "decommissioned_on": "2026-12-01"})
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def decommission(inventory: Path, *args: str) -> tuple[int, str]:
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                             str(REPO / "playbooks" / "decommission.yml"), *args], cwd=REPO, capture_output=True,
                            text=True, timeout=300, check=False,
                            env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"})
    return result.returncode, " ".join((result.stdout + result.stderr).replace("''", "'").split())


@pytest.mark.parametrize(("args", "expected"), [
    ((), "decommission.yml needs the VM's inventory name and a confirmation naming it: -e vm=<vm>.<tenant> "
         "-e confirm=<vm>.<tenant>. The decommissioned VMs of this inventory are: old1.packaging."),
    (("-e", "vm=web9.packaging", "-e", "confirm=web9.packaging"),
     "VM 'web9.packaging' is not an inventory host: a VM leaves through state: decommissioned in its tenant file"),
    (("-e", "vm=web1.packaging", "-e", "confirm=web1.packaging"),
     "VM 'web1.packaging' of tenant packaging is not declared decommissioned: set state: decommissioned and "
     "decommissioned_on: <YYYY-MM-DD> on services.vms[0] (name: web1) in its tenant file tenants/packaging.yml"),
    (("-e", "vm=old1.packaging"),
     "Refusing to decommission 'old1.packaging' without the confirmation"),
    (("-e", "vm=old1.packaging", "-e", "confirm=web1.packaging"),
     "Run again with -e confirm=old1.packaging (given: 'web1.packaging')"),
])
def test_refused_before_anything_changes(inventory: Path, args: tuple[str, ...], expected: str) -> None:
    returncode, output = decommission(inventory, *args)

    assert returncode != 0
    assert expected in output, output[-3000:]
    assert "Nothing was changed." in output
    # only the control node was reached, and nothing changed there
    recap = output.split("PLAY RECAP")[-1]
    assert recap.count(": ok=") == 1 and "localhost : ok=" in recap and "changed=0" in recap, recap
