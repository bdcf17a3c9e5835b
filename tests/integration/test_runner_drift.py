"""`psf-infra drift`: a check + diff run, then a report per tenant of what would change.

Real ansible-runner and ansible-playbook, the real inventory plugin over the test registry
(tests/integration/fixtures/registry); the playbook changes files under a temporary directory, so
no lab is needed. The tenant VMs of the registry are reached with the local connection.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from ansible_cli import PSF_INFRA

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "registry"
SECRET_TEXT = "drift-report-must-not-show-this"


def psf_infra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PSF_INFRA, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    inventory = tmp_path / "inventory"
    shutil.copytree(REGISTRY_FIXTURE, inventory)
    state = tmp_path / "state"
    playbook = tmp_path / "site.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Zones of the registry, as files
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Write each zone's file
              ansible.builtin.copy:
                dest: "{state}/zones/{{{{ item.name }}}}"
                content: "zone {{{{ item.name }}}} of {{{{ item.tenant }}}}\\n"
                mode: "0644"
              loop: "{{{{ psf_tenants | psf.infra.tenant_zones }}}}"
              loop_control:
                label: "{{{{ item.name }}}}"
            - name: Write the name servers' own file
              ansible.builtin.copy:
                dest: "{state}/nameservers.conf"
                content: "shared\\n"
                mode: "0644"
            - name: Write a secret of the packaging tenant
              ansible.builtin.copy:
                dest: "{state}/secret"
                content: "{SECRET_TEXT}\\n"
                mode: "0600"
              no_log: true
              loop: [{{tenant: packaging}}]

        - name: Every tenant VM
          hosts: tenant_vms
          gather_facts: false
          connection: local
          tasks:
            - name: Write the VM's own file
              ansible.builtin.copy:
                dest: "{state}/vms/{{{{ inventory_hostname }}}}"
                content: "vm\\n"
                mode: "0644"
              vars:
                ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
        """))
    (state / "zones").mkdir(parents=True)
    (state / "vms").mkdir()
    return {"inventory": inventory, "playbook": playbook, "state": state, "artifacts": tmp_path / "runs",
            "output": tmp_path / "drift"}


def drift(site: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return psf_infra("drift", str(site["playbook"]), "-i", str(site["inventory"]), "-q",
                     "--artifacts", str(site["artifacts"]), "-o", str(site["output"]))


def test_drift_is_reported_per_tenant_then_gone_after_a_run(site):
    found = drift(site)
    assert found.returncode == 5, found.stdout + found.stderr
    assert "psf-infra: drift: packaging: 2 change(s) to make" in found.stdout, found.stdout
    assert "psf-infra: drift: pyladies-berlin: 2 change(s) to make" in found.stdout, found.stdout
    # the no_log task hides its item too: a control-node task that cannot say whose it is, is staff's
    assert "psf-infra: drift: infra: 2 change(s) to make" in found.stdout, found.stdout
    assert not any((site["state"] / "zones").iterdir()), "check mode changed something"

    output = site["output"]
    packaging = (output / "packaging.md").read_text()
    assert "## Write each zone's file" in packaging and "`localhost`, `packaging.test`" in packaging
    assert "+zone packaging.test of packaging" in packaging  # the diff itself
    assert "`web1.packaging`" in packaging  # the tenant's VM
    berlin = (output / "pyladies-berlin.md").read_text()
    assert "+zone pyladies-berlin.test of pyladies-berlin" in berlin and "packaging.test" not in berlin
    infra = (output / "infra.md").read_text()
    assert "Write the name servers' own file" in infra
    assert "## Write a secret of the packaging tenant" in infra and "(hidden: no_log)" in infra
    index = (output / "index.html").read_text()
    assert 'href="packaging.html"' in index and "<script" not in index
    report = json.loads((output / "drift.json").read_text())
    assert report["drifted"] == ["packaging", "pyladies-berlin", "infra"]
    for path in [*output.iterdir(), *site["artifacts"].rglob("*")]:
        if path.is_file():
            assert SECRET_TEXT not in path.read_text(errors="replace"), path

    applied = psf_infra("run", str(site["playbook"]), "-i", str(site["inventory"]), "-q",
                        "--artifacts", str(site["artifacts"]))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    clean = drift(site)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "psf-infra: drift: no drift" in clean.stdout
    assert "No drift" in (output / "packaging.md").read_text()
    assert json.loads((output / "drift.json").read_text())["drifted"] == []
