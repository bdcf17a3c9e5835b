"""A VM leaves the inventory: the server revokes its key and keeps its repository.

Runs after test_backup.py (file order). The second VM of the scenario (web2.backup) is dropped from
a copy of Molecule's inventory, as a deleted VM drops out of the tenant registry in production, and
playbooks/backups.yml runs against that copy: first as the plan (check mode and diff), then refused
(more revocations than the limit), then forced, then a second time. At the end the full inventory
runs again and the VM is a client again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import yaml

SERVER = "podman://psf-molecule-backup-server"
KEPT_CLIENT = "podman://psf-molecule-backup-client"
RETIRED_HOST = "psf-molecule-backup-client2"
RETIRED_CLIENT = f"podman://{RETIRED_HOST}"
KEPT = "web1.backup"
RETIRED = "web2.backup"
AUTHORIZED_KEYS = "/srv/borg/.ssh/authorized_keys"
MARKER = f"/var/lib/psf-borg/{RETIRED}.retired"
PASSPHRASE = f"/etc/psf-borg/passphrases/{RETIRED}"
REPOSITORY_PATH = f"/srv/borg/repos/{RETIRED}"
RETENTION_DAYS = 180  # backup_server_retired_retention_days, the role's default

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])
PLAYBOOK = PROJECT / "playbooks" / "backups.yml"
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("MOLECULE_INVENTORY_FILE"), reason="needs Molecule's inventory (molecule verify)"
)


@pytest.fixture(scope="module")
def server():
    return testinfra.get_host(SERVER)


@pytest.fixture(scope="module")
def kept_client():
    return testinfra.get_host(KEPT_CLIENT)


@pytest.fixture(scope="module")
def retired_client():
    return testinfra.get_host(RETIRED_CLIENT)


@pytest.fixture(scope="module")
def full_inventory() -> Path:
    return Path(os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def inventory_without_web2(full_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Molecule's inventory, host_vars included, less the retired VM."""
    directory = tmp_path_factory.mktemp("inventory") / "inventory"
    shutil.copytree(full_inventory.parent, directory)
    shutil.rmtree(directory / "host_vars" / RETIRED_HOST, ignore_errors=True)
    (directory / "host_vars" / RETIRED_HOST).unlink(missing_ok=True)
    data = yaml.safe_load(full_inventory.read_text())
    for group in data.values():
        if isinstance(group, dict) and isinstance(group.get("hosts"), dict):
            group["hosts"].pop(RETIRED_HOST, None)
    inventory = directory / full_inventory.name
    inventory.write_text(yaml.safe_dump(data))
    return inventory


def playbook(inventory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(PROJECT / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": f"{PROJECT / 'collections'}:{PROJECT / '.venv/lib/python3.11/site-packages'}",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_NOCOLOR": "1",
    }
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), *arguments, str(PLAYBOOK)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=1800)


def recap(output: str) -> dict[str, dict[str, int]]:
    tail = output[output.rindex("PLAY RECAP") :]
    return {
        match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed")}
        for match in RECAP_LINE.finditer(tail)
    }


def tail(result: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])


def key_lines(server) -> list[str]:
    return [line for line in server.file(AUTHORIZED_KEYS).content_string.splitlines() if "psf-backup:" in line]


def server_borg(server, repository: str, *arguments: str):
    return server.run(
        "runuser -u borg -- env HOME=/srv/borg BORG_RELOCATED_REPO_ACCESS_IS_OK=yes "
        f"BORG_PASSCOMMAND='cat /etc/psf-borg/passphrases/{repository}' BORG_REPO=/srv/borg/repos/{repository} "
        + shlex.join(["borg", *arguments])
    )


def test_both_vms_are_clients_before(server):
    lines = key_lines(server)
    assert any(line.endswith(f" psf-backup:{KEPT}") for line in lines)
    assert any(line.endswith(f" psf-backup:{RETIRED}") for line in lines)
    assert not server.file(MARKER).exists


def test_the_plan_shows_the_revocation_and_changes_nothing(server, inventory_without_web2):
    before = server.file(AUTHORIZED_KEYS).content_string
    result = playbook(inventory_without_web2, "--check", "--diff", "--limit", "backup_servers")
    assert result.returncode == 0, tail(result)
    assert recap(result.stdout)["psf-molecule-backup-server"]["changed"] >= 1
    # The diff removes web2's line and only that line, and shows the marker it would write.
    removed = re.findall(r"^-(.*psf-backup:\S+)$", result.stdout, re.MULTILINE)
    assert removed, tail(result, 150)
    assert all(line.endswith(f"psf-backup:{RETIRED}") for line in removed)
    assert f"{RETIRED}.retired" in result.stdout
    assert server.file(AUTHORIZED_KEYS).content_string == before
    assert not server.file(MARKER).exists


def test_more_revocations_than_the_limit_are_refused(server, inventory_without_web2):
    before = server.file(AUTHORIZED_KEYS).content_string
    result = playbook(inventory_without_web2, "--limit", "backup_servers", "-e", "backup_server_revoke_limit=0")
    assert result.returncode != 0
    # ansible-core prints the failure on stderr too, wrapped: compare with whitespace collapsed.
    output = " ".join((result.stdout + result.stderr).split())
    assert f"would revoke the backup access of 1 VMs ({RETIRED})" in output, tail(result)
    assert "-e backup_server_revoke_force=true" in output
    assert "Nothing was changed" in output
    assert server.file(AUTHORIZED_KEYS).content_string == before
    assert not server.file(MARKER).exists


def test_a_vm_that_left_loses_its_key_and_keeps_its_repository(server, inventory_without_web2):
    # Only the server acts on a retirement; the next test runs every host again.
    result = playbook(
        inventory_without_web2, "--limit", "backup_servers",
        "-e", "backup_server_revoke_limit=0", "-e", "backup_server_revoke_force=true",
    )
    assert result.returncode == 0, tail(result)
    lines = key_lines(server)
    assert not any(f"psf-backup:{RETIRED}" in line for line in lines)
    assert any(line.endswith(f" psf-backup:{KEPT}") for line in lines)
    marker = json.loads(server.file(MARKER).content_string)
    assert marker["repository"] == RETIRED
    assert marker["key_revoked"] is True
    assert marker["retired_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert server.file(MARKER).mode == 0o600
    assert server.file(PASSPHRASE).is_file
    assert server.file(f"{REPOSITORY_PATH}/config").is_file


def test_the_second_run_changes_nothing(inventory_without_web2):
    result = playbook(inventory_without_web2)
    assert result.returncode == 0, tail(result)
    counts = recap(result.stdout)
    assert set(counts) == {"psf-molecule-backup-server", "psf-molecule-backup-client"}
    assert {host: c["changed"] for host, c in counts.items() if c["changed"]} == {}, tail(result, 150)


def ssh_to_the_server(client):
    """ssh with the VM's own backup key and settings (BORG_RSH), as borg runs it."""
    environment = dict(
        line.split("=", 1)
        for line in client.check_output("set -a && . /etc/psf-backup/borg.env && env").splitlines()
        if "=" in line
    )
    address, port = environment["BORG_REPO"].split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return client.run(f"{environment['BORG_RSH']} -p {port} borg@{address.strip('[]')} borg --version </dev/null")


def test_the_retired_vm_is_refused_by_the_server(retired_client, kept_client):
    # borg only says the connection closed; ssh itself says why: the key is no longer accepted.
    assert retired_client.run("psf-borg list --short").rc == 2
    refused = ssh_to_the_server(retired_client)
    assert refused.rc == 255
    assert "Permission denied (publickey" in refused.stderr, refused.stderr
    # The VM that stayed still gets in (its forced command answers) and still lists its archives.
    accepted = ssh_to_the_server(kept_client)
    assert accepted.rc != 255, accepted.stderr
    assert "Permission denied" not in accepted.stderr
    assert kept_client.run("psf-borg list --short").rc == 0


def test_the_retired_repository_still_lists_and_restores_with_its_passphrase(server, retired_client):
    listing = server_borg(server, RETIRED, "list", "--short")
    assert listing.rc == 0, listing.stderr
    archives = listing.stdout.split()
    assert archives
    assert all(name.startswith(f"{RETIRED}-") for name in archives)
    restored = server_borg(server, RETIRED, "extract", "--stdout", f"::{archives[-1]}", "etc/debian_version")
    assert restored.rc == 0, restored.stderr
    assert restored.stdout == retired_client.file("/etc/debian_version").content_string


def test_the_maintenance_keeps_and_reports_the_retired_repository(server):
    result = server.run("systemctl start psf-borg-maintain.service")
    assert result.rc == 0, server.run("journalctl -u psf-borg-maintain.service -n 30 --no-pager").stdout
    prom = server.file("/var/lib/prometheus/node-exporter/backup_server.prom").content_string
    assert re.search(rf'psf_backup_server_repository_retired_timestamp_seconds{{repository="{RETIRED}"}} \d+', prom)
    assert f'psf_backup_server_repository_retention_expired{{repository="{RETIRED}"}} 0' in prom
    assert f'repository="{KEPT}"}} ' in prom
    assert f'psf_backup_server_repository_retired_timestamp_seconds{{repository="{KEPT}"}}' not in prom
    retired = json.loads(server.check_output("psf-borg-maintain retired --json"))
    assert [(row["repository"], row["expired"], row["repository_present"]) for row in retired] == [
        (RETIRED, False, True)
    ]
    # Staff cannot delete it before the end of its retention (by mistake) without --force.
    purge = server.run(f"psf-borg-maintain purge {RETIRED}")
    assert purge.rc == 1
    assert f"kept for {RETENTION_DAYS} days" in purge.stderr
    assert server.file(f"{REPOSITORY_PATH}/config").is_file


def test_a_vm_back_in_the_inventory_is_a_client_again(server, retired_client, full_inventory):
    # Back under the same name, as a rebuilt VM: no backup recorded on it, and (first) a broken dump.
    records = "/var/lib/psf-backup/last-success /var/lib/prometheus/node-exporter/backup.prom"
    retired_client.check_output(f"rm -f {records}")
    hook = "/etc/psf-backup/pre.d/99-fail"
    retired_client.check_output(f"printf '#!/bin/sh\\necho dump failed >&2\\nexit 3\\n' > {hook} && chmod 0750 {hook}")
    archives_before = server_borg(server, RETIRED, "list", "--short").stdout.split()
    try:
        failed = playbook(full_inventory)
    finally:
        retired_client.run(f"rm -f {hook}")
    assert failed.returncode != 0
    counts = recap(failed.stdout)
    assert counts[RETIRED_HOST]["failed"] == 1
    assert counts["psf-molecule-backup-server"]["failed"] == counts["psf-molecule-backup-client"]["failed"] == 0
    # The failure names the VM and shows the end of the unit's journal.
    output = " ".join((failed.stdout + failed.stderr).split())
    assert f"backup_client on {RETIRED_HOST} (tenant backup): the first backup of this VM failed" in output
    assert "a pre hook failed" in output
    assert "dump failed" in output

    # The server took it back (marker gone, key line added again by the VM): the next run backs it up.
    assert not server.file(MARKER).exists
    assert any(line.endswith(f" psf-backup:{RETIRED}") for line in key_lines(server))
    # The VM that stayed has nothing to do with it: the server and the returning VM only.
    result = playbook(full_inventory, "--limit", f"backup_servers,{RETIRED_HOST}")
    assert result.returncode == 0, tail(result)
    assert recap(result.stdout)[RETIRED_HOST]["changed"] >= 1
    assert retired_client.file("/var/lib/psf-backup/last-success").is_file
    archives_after = server_borg(server, RETIRED, "list", "--short").stdout.split()
    assert len(archives_after) == len(archives_before) + 1
    assert retired_client.run("psf-borg list --short").rc == 0
    purge = server.run(f"psf-borg-maintain purge {RETIRED}")
    assert purge.rc == 1
    assert "is not retired" in purge.stderr
