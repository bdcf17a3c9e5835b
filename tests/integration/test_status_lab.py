"""`psf-infra status` against the lab: a check for every zone, DNSSEC chain, domain, certificate and
VM the registry declares, the zones' serials asked of the lab's real name servers; and a red state,
with the reason, when a name server does not answer (an inventory copy whose secondary is on a
loopback port nothing listens on). The rules themselves: tests/unit/test_status_page.py; the page
after the whole site converged: tests/e2e/test_site.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from ansible_cli import REPO, copy_inventory, run

pytestmark = pytest.mark.lab


def status_page(inventory: Path | str, output: Path) -> dict:
    result = run("psf-infra", "status", "-i", str(inventory), "-o", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{output / 'index.html'}" in result.stdout
    return json.loads((output / "status.json").read_text())


def declared(tenant: dict) -> set[tuple[str, str]]:
    services = tenant.get("services") or {}
    found = {("zone", z["name"].rstrip(".")) for z in services.get("zones") or []}
    found |= {("dnssec", z["name"].rstrip(".")) for z in services.get("zones") or [] if z.get("dnssec", True)}
    found |= {("domain", d["name"].rstrip(".")) for d in services.get("domains") or []}
    found |= {("certificate", c["name"]) for c in services.get("certificates") or []}
    found |= {(kind, f"{vm['name']}.{tenant['name']}") for vm in services.get("vms") or [] for kind in ("vm", "backup")}
    found |= {("app", app["name"]) for app in services.get("apps") or []}
    return found


def registry() -> dict[str, dict]:
    tenants = {}
    for path in sorted((REPO / "inventories/lab/tenants").glob("*.yml")):
        record = yaml.safe_load(path.read_text())
        tenants[record["name"]] = record
    return tenants


def test_every_declared_service_has_a_check_with_a_reason(lab, tmp_path):
    page = status_page("inventories/lab", tmp_path / "site")
    tenants = registry()
    assert [t["name"] for t in page["tenants"]] == sorted(tenants)
    for entry in page["tenants"]:
        checks = {(check["kind"], check["name"]): check for check in entry["checks"]}
        assert set(checks) == declared(tenants[entry["name"]]), entry["name"]
        assert all(check["health"] in ("green", "amber", "red", "unknown") and check["reason"]
                   for check in checks.values())
        assert (tmp_path / "site" / f"{entry['name']}.html").is_file()
    # The lab's name servers answer for the lab's infrastructure: a zone either has a serial or says why not.
    for entry in page["tenants"]:
        for check in entry["checks"]:
            if check["kind"] == "zone" and check["health"] == "green":
                assert check["reason"].startswith("serial ") and check["reason"].endswith(" on 2 name servers")


def test_a_name_server_that_does_not_answer_turns_every_zone_red(lab, tmp_path):
    target = copy_inventory(REPO / "inventories/lab", tmp_path / "lab")
    generated = target / "group_vars" / "all" / "lab_generated.yml"
    data = yaml.safe_load(generated.read_text())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        silent = sock.getsockname()[1]  # closed again below: nothing answers there
    data["psf_dns_secondaries"][0]["port"] = silent
    generated.write_text(yaml.safe_dump(data))
    page = status_page(target, tmp_path / "site")
    zones = [check for entry in page["tenants"] for check in entry["checks"] if check["kind"] == "zone"]
    assert zones and all(check["health"] == "red" and "secondary1: unreachable" in check["reason"]
                         for check in zones), zones
    assert page["health"] == "red" and all(entry["health"] == "red" for entry in page["tenants"])
    assert "secondary1: unreachable" in (tmp_path / "site" / "packaging.html").read_text()


def test_an_inventory_with_a_vault_is_read_with_its_password_and_the_run_is_recorded(lab, tmp_path):
    """Production keeps group_vars/all/vault.yml encrypted: ansible-inventory loads every variable, so
    `psf-infra status` and `validate` need the vault password (the control node's timer passes it),
    and without it they say so. The status run writes its metrics like a playbook run (job "status")."""
    target = copy_inventory(REPO / "inventories/lab", tmp_path / "lab")
    password = tmp_path / "vault-pass"
    password.write_text("status-test-vault-password\n")
    vault = target / "group_vars" / "all" / "vault.yml"
    vault.write_text("psf_registry_env: vaulted-lab\n")
    encrypted = run("ansible-vault", "encrypt", "--vault-password-file", str(password), str(vault))
    assert encrypted.returncode == 0, encrypted.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")

    refused = run("psf-infra", "validate", "-i", str(target))
    assert refused.returncode == 3
    assert "holds a vault: give its password with --vault-password-file" in refused.stderr
    assert run("psf-infra", "validate", "-i", str(target), "--vault-password-file", str(password)).returncode == 0

    metrics = tmp_path / "metrics"
    result = run("psf-infra", "status", "-i", str(target), "-o", str(tmp_path / "site"),
                 "--vault-password-file", str(password), "--metrics-dir", str(metrics), "--stale-after", "45m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "site" / "status.json").read_text())["env"] == "vaulted-lab"
    samples = (metrics / "psf_infra_run_status.prom").read_text()
    assert 'psf_infra_run_last_result{playbook="status",mode="apply",result="ok"} 1' in samples
    assert 'psf_infra_run_stale_after_seconds{playbook="status",mode="apply"} 2700' in samples

    failed = run("psf-infra", "status", "-i", str(target), "-o", str(tmp_path / "site"), "--metrics-dir", str(metrics))
    assert failed.returncode == 3
    samples = (metrics / "psf_infra_run_status.prom").read_text()
    assert 'psf_infra_run_last_result{playbook="status",mode="apply",result="invalid_registry"} 1' in samples
    assert 'psf_infra_run_consecutive_failures{playbook="status",mode="apply"} 1' in samples
