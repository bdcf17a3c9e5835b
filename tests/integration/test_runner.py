"""The cron command: `psf-infra run` through the real ansible-runner and ansible-playbook."""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from ansible_cli import PSF_INFRA, SECRET, local_inventory, secret_task

ROOT = Path(__file__).resolve().parents[2]


def psf_infra(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PSF_INFRA, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    """A playbook that handles a secret the way ours do (no_log), and one that fails."""
    inventory = local_inventory(tmp_path / "inventory.yml")
    marker = tmp_path / "marker"
    good = tmp_path / "good.yml"
    good.write_text(textwrap.dedent("""\
        - name: Uses a secret without showing it
          hosts: localhost
          gather_facts: false
          tasks:
        """) + textwrap.indent(secret_task(marker), "    "))
    bad = tmp_path / "bad.yml"
    bad.write_text(textwrap.dedent("""\
        - name: Fails
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Refuse
              ansible.builtin.fail:
                msg: the reason a person can act on
        """))
    return {"inventory": inventory, "good": good, "bad": bad, "marker": marker, "artifacts": tmp_path / "runs"}


def run(project: dict[str, Path], playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return psf_infra("run", str(project[playbook]), "-i", str(project["inventory"]),
                     "--artifacts", str(project["artifacts"]), *extra)


def test_run_succeeds_and_second_run_changes_nothing(project):
    first = run(project, "good", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "changed=1" in first.stdout
    second = run(project, "good", "--quiet")
    assert second.returncode == 0, second.stderr
    assert "changed=0" in second.stdout
    report = json.loads((project["artifacts"] / "last-run.json").read_text())
    assert report["results"][0]["status"] == "successful"
    assert (report["result"], report["exit_code"]) == ("ok", 0)
    assert report["hosts"]["localhost"]["changed"] == 0


def test_cron_mode_is_silent_when_nothing_changed(project):
    assert run(project, "good", "--cron").returncode == 0
    quiet = run(project, "good", "--cron")
    assert quiet.returncode == 0
    assert quiet.stdout == ""


def test_secrets_never_reach_the_artifacts(project):
    assert run(project, "good").returncode == 0
    assert run(project, "bad").returncode == 1
    leaked = [p for p in project["artifacts"].rglob("*") if p.is_file() and SECRET in p.read_text(errors="replace")]
    assert leaked == []
    # the env/ files that would hold passwords and extra vars are not written at all
    assert not list(project["artifacts"].rglob("env/extravars"))


def test_failure_is_reported_with_exit_code_and_reason(project):
    result = run(project, "bad", "--cron")
    assert result.returncode == 1
    assert "failed" in result.stdout
    stdout_files = list(project["artifacts"].rglob("stdout"))
    assert any("the reason a person can act on" in p.read_text() for p in stdout_files)


def test_overlapping_run_skips_with_tempfail(project):
    (project["artifacts"] / ".locks").mkdir(parents=True)
    with open(project["artifacts"] / ".locks" / "good.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = run(project, "good")
    assert result.returncode == 75
    assert "holds the lock of playbook 'good'" in result.stderr
    assert not project["marker"].exists()


def test_unknown_playbook_is_a_usage_error():
    result = psf_infra("run", "no-such-playbook")
    assert result.returncode == 2
    assert "no playbook 'no-such-playbook'" in result.stderr


REGISTRY_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "registry"


def test_validate_reads_the_registry_through_ansible_inventory(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(REGISTRY_FIXTURE, inventory)
    good = psf_infra("validate", "-i", str(inventory))
    assert good.returncode == 0, good.stderr
    assert re.fullmatch(rf"psf-infra: {re.escape(str(inventory))}: 2 tenants valid, \d+ hosts\n", good.stdout)

    tenant_file = inventory / "tenants" / "packaging.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["services"]["vms"][0]["size"] = "huge"
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    bad = psf_infra("validate", "-i", str(inventory))
    assert bad.returncode == 3
    assert f"{tenant_file}: tenant 'packaging': services.vms[0].size" in bad.stderr
    assert bad.stdout == ""


def test_summary_lists_every_tenant_of_the_inventory(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(REGISTRY_FIXTURE, inventory)
    names = sorted(path.stem for path in (inventory / "tenants").glob("*.yml"))
    # no name servers in this inventory: the summary reads the registry only, contacts nothing
    result = psf_infra("summary", "-i", str(inventory))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"psf.infra: {len(names)} tenants in ")
    for name in names:
        assert re.search(rf"^{re.escape(name)}  \(", result.stdout, re.MULTILINE), result.stdout

    tenant_file = inventory / "tenants" / f"{names[0]}.yml"
    tenant_file.write_text(tenant_file.read_text() + "\nnot_a_field: true\n")
    refused = psf_infra("summary", "-i", str(inventory))
    assert refused.returncode == 1
    assert str(tenant_file) in refused.stderr


def test_tenant_needs_its_playbook_and_a_tenant_of_the_registry(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(REGISTRY_FIXTURE, inventory)
    names = ", ".join(sorted(path.stem for path in (inventory / "tenants").glob("*.yml")))
    artifacts = ["-i", str(inventory), "--artifacts", str(tmp_path / "runs")]

    missing = psf_infra("run", "tenant", *artifacts)
    assert missing.returncode == 2 and "playbooks/tenant.yml needs --tenant NAME" in missing.stderr
    other = psf_infra("run", "dns", "--tenant", "packaging", *artifacts)
    assert other.returncode == 2
    assert "--tenant packaging runs playbooks/tenant.yml: name that playbook alone" in other.stderr
    unknown = psf_infra("run", "tenant", "--tenant", "nope", *artifacts)
    assert unknown.returncode == 2
    assert f"--tenant nope: no such tenant in {inventory} (the tenants are: {names})" in unknown.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*-tenant-*")), "something ran"
