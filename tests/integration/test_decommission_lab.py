"""playbooks/decommission.yml on the lab (issue #11 section 4): a throwaway tenant VM, made in a
temporary copy of inventories/lab (the lab's tenant files are never edited), backed up to the lab's
backup server and monitored by its Prometheus, then declared decommissioned and taken away:
refused without the confirmation, listed step by step in check mode, then the final archive is in
its borg repository and passed the restore check, its retention is recorded, Prometheus has no
target of it, its container is gone; a second run changes nothing. What the test made for its VM
is removed at the end (container, key line, repository, passphrase, marker; Prometheus's targets
rendered again without it). The lab's backup and monitoring machines are made when missing and
always kept: other runs in the same lab may be using them (the test is on the serial lab worker,
tests/conftest.py, as it converges them).

Durations are printed (`pytest -s`), never asserted."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory

pytestmark = [pytest.mark.lab, pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(3600)]

LAB_VM_HOSTS = """    lab_vm_hosts:
      children:
        tenant_vms: {}
        backup_servers: {}
        monitoring_servers: {}
"""
INFRA = {"lab-backup": "psf-lab-backup", "lab-monitor": "psf-lab-monitor"}
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
                        r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)


def containers_conf() -> str:
    result = subprocess.run(["bash", str(REPO / "lab" / "podman-env.sh")], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().removeprefix("export CONTAINERS_CONF=")


CONF = containers_conf()


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=600,
                            env=dict(os.environ, CONTAINERS_CONF=CONF))
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result


def exists(container: str) -> bool:
    return podman("container", "exists", container, check=False).returncode == 0


def playbook(inventory: Path, name: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / name),
                             *args], cwd=REPO, capture_output=True, text=True, timeout=3000, check=False,
                            env={**ansible_env(), "CONTAINERS_CONF": CONF, "PSF_INFRA_REGISTRY_CACHE": "false"})
    elapsed = time.monotonic() - started
    print(f"{name} {' '.join(args)}: rc {result.returncode} in {elapsed:.1f} s")
    return result, elapsed


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def recap(output: str) -> dict[str, dict[str, int]]:
    tail = output[output.rindex("PLAY RECAP"):]
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(tail)}


def prometheus_instances(check: bool = True) -> set[str]:
    script = ("import json, urllib.request; print(json.dumps([t['labels'].get('instance') for t in json.load("
              "urllib.request.urlopen('http://127.0.0.1:9090/api/v1/targets?state=active'))['data']['activeTargets']]))")
    result = podman("exec", INFRA["lab-monitor"], "python3", "-c", script, check=check)
    return set(json.loads(result.stdout)) if result.returncode == 0 else set()


def borg_archives(repository: str) -> list[str]:
    result = podman("exec", INFRA["lab-backup"], "runuser", "-u", "borg", "--", "env", "HOME=/srv/borg",
                    "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
                    f"BORG_PASSCOMMAND=cat /etc/psf-borg/passphrases/{repository}",
                    "borg", "list", "--format", "{archive}{NL}", f"/srv/borg/repos/{repository}")
    return result.stdout.split()


def test_a_declared_vm_is_backed_up_verified_and_taken_away(lab, tmp_path: Path) -> None:
    tenant = f"decom-{secrets.token_hex(3)}"
    host = f"tmp1.{tenant}"
    container = f"psf-lab-tmp1-{tenant}"

    # A copy of the lab inventory with one more tenant (one VM), whose lab_vm_hosts makes only the
    # infrastructure machines and that VM.
    inventory = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    machines = inventory / "machines.yml"
    assert LAB_VM_HOSTS in machines.read_text()
    tenant_group = "tenant_" + tenant.replace("-", "_")
    machines.write_text(machines.read_text().replace(LAB_VM_HOSTS, (
        "    lab_vm_hosts:\n      children:\n        backup_servers: {}\n        monitoring_servers: {}\n"
        f"        {tenant_group}: {{}}\n")))
    # No base role here (playbooks/vms.yml): the node exporter relies on the lab's internal network.
    (inventory / "group_vars" / f"{tenant_group}.yml").write_text("monitoring_agent_manage_firewall: false\n")
    tenant_file = inventory / "tenants" / f"{tenant}.yml"
    document = {
        "name": tenant, "display_name": "Decommissioning test", "kind": "community-organization",
        "approval": {"body": "psf-board", "date": "2024-01-01"}, "status": "active",
        "members": [{"name": "Test", "email": "test@example.org"}],
        "services": {"vms": [{"name": "tmp1", "size": "small", "backup": {"paths": ["/etc"]}}]},
    }
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    timings: dict[str, float] = {}
    try:
        result, timings["lab-vms"] = playbook(inventory, "lab-vms.yml")
        assert result.returncode == 0, out(result)
        assert exists(container)
        limit = f"lab-backup,lab-monitor,{host}"
        result, timings["backups"] = playbook(inventory, "backups.yml", "--limit", limit)
        assert result.returncode == 0, out(result)
        result, timings["monitoring"] = playbook(inventory, "monitoring.yml", "--limit", limit)
        assert result.returncode == 0, out(result)
        deadline = time.monotonic() + 120
        while host not in prometheus_instances() and time.monotonic() < deadline:
            time.sleep(2)
        assert host in prometheus_instances()
        first_archives = borg_archives(host)
        assert len(first_archives) == 1, first_archives

        # Declared decommissioned: still a host, in decommissioned_vms.
        document["services"]["vms"][0].update(state="decommissioned", decommissioned_on=time.strftime(
            "%Y-%m-%d", time.gmtime()))
        tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))

        # Refused without the confirmation, before anything changes.
        result, _ = playbook(inventory, "decommission.yml", "-e", f"vm={host}")
        assert result.returncode != 0
        assert f"Refusing to decommission '{host}' without the confirmation" in " ".join(result.stdout.split())
        assert "Nothing was changed." in result.stdout
        assert exists(container)

        # Check mode: every step listed, nothing changed.
        result, timings["check"] = playbook(inventory, "decommission.yml", "-e", f"vm={host}", "-e",
                                            f"confirm={host}", "--check")
        assert result.returncode == 0, out(result)
        text = " ".join(result.stdout.split())
        for step in ("1. final backup", "2. verify that archive with the restore check", "3. monitoring:",
                     "4. DNS:", "5. backup retention:",
                     f"6. destroy the lab machine: psf.infra.vm provider podman state absent, container {container}"):
            assert step in text, (step, out(result))
        assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), out(result)
        assert exists(container) and borg_archives(host) == first_archives
        assert podman("exec", INFRA["lab-backup"], "test", "-e", f"/var/lib/psf-borg/{host}.retired",
                      check=False).returncode != 0

        # The real run.
        result, timings["decommission"] = playbook(inventory, "decommission.yml", "-e", f"vm={host}", "-e",
                                                   f"confirm={host}")
        assert result.returncode == 0, out(result)
        text = " ".join(result.stdout.split())
        archives = borg_archives(host)
        assert len(archives) == 2 and archives[0] == first_archives[0], archives
        final = archives[1]
        assert f"final archive of {host}: {final}" in text
        assert re.search(rf"restore drill on {re.escape(host)}: \d+ files restored from {re.escape(final)} "
                         "are identical", text), out(result)
        marker = json.loads(podman("exec", INFRA["lab-backup"], "cat", f"/var/lib/psf-borg/{host}.retired").stdout)
        assert marker["final_archive"] == final and marker["key_revoked"] is True
        assert marker["retired_at"].startswith(document["services"]["vms"][0]["decommissioned_on"])
        assert marker["retain_until"] and marker["retention_days"] == 180
        keys = podman("exec", INFRA["lab-backup"], "cat", "/srv/borg/.ssh/authorized_keys").stdout
        assert f"psf-backup:{host}" not in keys
        assert host not in prometheus_instances()
        assert not exists(container)

        # A second run: the VM is gone, nothing changes.
        result, timings["second"] = playbook(inventory, "decommission.yml", "-e", f"vm={host}", "-e",
                                             f"confirm={host}")
        assert result.returncode == 0, out(result)
        assert f"{host} is gone already" in " ".join(result.stdout.split())
        assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), out(result)
        print("timings (s):", {name: round(value, 1) for name, value in timings.items()})
    finally:
        podman("rm", "--force", "--volumes", container, check=False)
        if exists(INFRA["lab-backup"]):
            podman("exec", INFRA["lab-backup"], "sh", "-c",
                   f"sed -i '/ psf-backup:{host}$/d' /srv/borg/.ssh/authorized_keys; "
                   f"rm -rf /srv/borg/repos/{host} /etc/psf-borg/passphrases/{host} /var/lib/psf-borg/{host}.*",
                   check=False)
        if exists(INFRA["lab-monitor"]) and host in prometheus_instances(check=False):
            # The run stopped before its monitoring step: Prometheus's targets without the test's tenant.
            tenant_file.unlink()
            playbook(inventory, "monitoring.yml", "--limit", "lab-monitor")
