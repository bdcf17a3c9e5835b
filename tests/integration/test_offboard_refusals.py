"""playbooks/offboard.yml refuses before anything changes (the real ansible-playbook on a copy of
inventories/lab with one tenant being offboarded; nothing is reached but the control node): without
a tenant, for a tenant that is not in the registry, one that is not suspended (naming the field and
the file), one whose file declares no offboarding, and without the confirmation naming the tenant."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    """The lab inventory with pyladies-berlin being offboarded and a suspended tenant, quiet, that is not."""
    target = copy_inventory(REPO / "inventories" / "lab", tmp_path_factory.mktemp("inventory") / "lab")
    tenant_file = target / "tenants" / "pyladies-berlin.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["status"] = "suspended"
    document["offboarding"] = {"started_on": "2026-12-01", "domains": "expire"}
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    quiet = {"name": "quiet", "display_name": "Quiet WG", "kind": "working-group",
             "approval": {"body": "psf-membership", "date": "2023-03-15"}, "status": "suspended",
             "members": [{"name": "Q", "email": "q@quiet.test"}]}
    (target / "tenants" / "quiet.yml").write_text(yaml.safe_dump(quiet, sort_keys=False))
    return target


def offboard(inventory: Path, *args: str) -> tuple[int, str]:
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory),
                             str(REPO / "playbooks" / "offboard.yml"), *args], cwd=REPO, capture_output=True,
                            text=True, timeout=300, check=False,
                            env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"})
    return result.returncode, " ".join((result.stdout + result.stderr).replace("''", "'").split())


@pytest.mark.parametrize(("args", "expected"), [
    ((), "offboard.yml needs the tenant's name and a confirmation naming it: -e tenant=<name> -e confirm=<name>. "
         "The tenants being offboarded (status: suspended and offboarding in their file) are: pyladies-berlin."),
    (("-e", "tenant=nope", "-e", "confirm=nope"),
     "tenant 'nope' is not in the registry (no inventories/lab/tenants/nope.yml): a tenant leaves through status: "
     "suspended and offboarding in its file, not by deletion. The tenants are: packaging, pyladies-berlin, quiet."),
    (("-e", "tenant=packaging", "-e", "confirm=packaging"),
     "tenant 'packaging' is active (field status in inventories/lab/tenants/packaging.yml): only a suspended "
     "tenant is offboarded. Set status: suspended and offboarding: {started_on: \"<YYYY-MM-DD>\", "
     "domains: expire|transfer} in its file first."),
    (("-e", "tenant=quiet", "-e", "confirm=quiet"),
     "tenant 'quiet' declares no offboarding (field offboarding in inventories/lab/tenants/quiet.yml): set "
     "offboarding: {started_on: \"<YYYY-MM-DD>\", domains: expire|transfer} there first"),
    (("-e", "tenant=pyladies-berlin"),
     "Refusing to offboard 'pyladies-berlin' without the confirmation"),
    (("-e", "tenant=pyladies-berlin", "-e", "confirm=packaging"),
     "Run again with -e confirm=pyladies-berlin (given: 'packaging')"),
])
def test_refused_before_anything_changes(inventory: Path, args: tuple[str, ...], expected: str) -> None:
    returncode, output = offboard(inventory, *args)

    assert returncode != 0
    assert expected in output, output[-3000:]
    assert "Nothing was changed." in output
    # only the control node was reached, nothing changed there, and no later play ran
    recap = output.split("PLAY RECAP")[-1]
    assert recap.count(": ok=") == 1 and "localhost : ok=" in recap and "changed=0" in recap, recap
    assert "Offboard a tenant - 1." not in output
