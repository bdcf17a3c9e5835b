"""playbooks/offboard.yml on the lab (issue #12 section 2): a throwaway tenant, made in a temporary
copy of inventories/lab (the lab's tenant files are never edited), with a zone on the lab's name
servers (rendered by the nameserver role from the registry, delegated from test. by domains.yml)
and a certificate from the lab's ACME CA, then suspended with offboarding declared and offboarded:
check mode lists the steps and changes nothing; a failed VM step stops the run before anything else
is removed; a revocation the CA refuses stops it before the certificate's files are removed; the
real run takes the tenant out of the lab's real Prometheus (step 3: before, the blackbox probes of its
zone on both name servers and its VM's node target are active; after, none is, while the lab's own
tenants' probes stay), keeps a copy of the zone, the primary and the secondary no longer serve it, the
certificate is revoked at pebble (its management interface's cert-status-by-serial: Revoked,
reason 5 cessationOfOperation) and out of the store, and the SMTP sink holds one summary to the
liaison (Cc staff, not the member without notify); a second run changes nothing and says what is
gone already.

The throwaway tenant's VM has no machine: each VM goes through playbooks/decommission.yml (a child
ansible-playbook), whose own lab test (test_decommission_lab.py) takes a running VM through it; here
the child finds the VM gone already and says so, in the run's output and in the summary. The lab's
backup machine is left out of this inventory; its monitoring machine stays (made when missing, and
kept: the test is on the serial lab worker, tests/conftest.py, as it converges it), and its
Prometheus targets are rendered from the lab inventory again at the end. Its domain is at the lab's
registrar (rfc2136 on test., which has no auto-renewal: step 4 runs psf.infra.domain, which
withdraws no DS from an unsigned zone and notes that). The delegation in test. is removed at the
end. Durations are printed (`pytest -s`), never asserted."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dns.rcode
import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory

sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / "collections"))

import labctl

pytestmark = [pytest.mark.lab, pytest.mark.podman, pytest.mark.slow]

MONITOR = "psf-lab-monitor"  # inventories/lab/machines.yml, lab-monitor
STAFF = "infra-staff@python.org"  # the playbooks' default psf_staff_email (the lab inventory sets none)
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
                        r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)
# The name servers' play of dns.yml alone: the zone list rendered from the registry.
NAMESERVERS_PLAY = """---
- name: Name servers serve every tenant zone of the registry
  hosts: nameservers
  gather_facts: false
  any_errors_fatal: true
  roles:
    - role: nameserver
"""


def containers_conf() -> str:
    result = subprocess.run(["bash", str(REPO / "lab" / "podman-env.sh")], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().removeprefix("export CONTAINERS_CONF=")


def playbook(inventory: Path, name: str, *args: str,
             podman: bool = True) -> tuple[subprocess.CompletedProcess[str], float]:
    path = name if name.startswith("/") else str(REPO / "playbooks" / name)
    env = {**ansible_env(), "CONTAINERS_CONF": containers_conf(), "PSF_INFRA_REGISTRY_CACHE": "false"}
    if not podman:
        del env["CONTAINERS_CONF"]
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), path, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=1200, check=False, env=env)
    elapsed = time.monotonic() - started
    print(f"{Path(path).name} {' '.join(args)}: rc {result.returncode} in {elapsed:.1f} s")
    return result, elapsed


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def recap(output: str) -> dict[str, dict[str, int]]:
    tail = output[output.rindex("PLAY RECAP"):]
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(tail)}


def prometheus_labels(check: bool = True) -> list[dict[str, str]]:
    """The labels of the lab Prometheus's active targets (its HTTP API, asked inside its machine)."""
    script = ("import json, urllib.request; print(json.dumps([t['labels'] for t in json.load(urllib.request.urlopen("
              "'http://127.0.0.1:9090/api/v1/targets?state=active'))['data']['activeTargets']]))")
    result = subprocess.run(["podman", "exec", MONITOR, "python3", "-c", script], capture_output=True, text=True,
                            check=False, timeout=60, env=dict(os.environ, CONTAINERS_CONF=containers_conf()))
    if check:
        assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.returncode == 0 else []


def targets_of(tenant: str, zone: str, check: bool = True) -> list[str]:
    """The instances of the active targets that belong to ``tenant`` or probe ``zone``."""
    return sorted({labels.get("instance", "") for labels in prometheus_labels(check)
                   if labels.get("tenant") == tenant or labels.get("zone") == zone})


def serves(lab, server: str, zone: str) -> bool:
    """Whether the lab name server answers for ``zone`` with authority."""
    return labctl.soa_serial(lab.port(server), zone) is not None


def pebble_status(lab, serial: str) -> dict:
    """What pebble records for a certificate (GET /cert-status-by-serial/<hex serial> on its management
    interface, letsencrypt/pebble README.md, "Certificate Status"): Status Valid or Revoked, Reason."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=lab.acme["ca_bundle"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(f"{lab.acme['management']}/cert-status-by-serial/{serial}", timeout=10) as response:
        return json.loads(response.read())


def serial_of(path: Path) -> str:
    """As openssl x509 -serial prints it (whole bytes, lower case)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split("=", 1)[1].lower()


def summaries(lab, tenant: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted([*(lab.dir / "mail").glob("new/*"), *(lab.dir / "mail").glob("cur/*")]):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        # the sink also holds other tests' mails, announcements among them (multipart, with an iCalendar part)
        body = message.get_body(preferencelist=("plain",))
        if body is not None and f"(tenant {tenant})" in body.get_content():
            found.append(message)
    return found


def forget_summary(state_file: Path, tenant: str) -> None:
    """The lab's record of the summary sent to the throwaway tenant (key offboarding of the state file)."""
    from ansible_collections.psf.infra.plugins.module_utils.notices import state

    if state_file.exists():
        data = state.load(str(state_file))
        if (data.get("offboarding") or {}).pop(tenant, None) is not None:
            state.save(str(state_file), data)


@pytest.fixture
def tenant(lab, tmp_path: Path):
    """(name, inventory): a throwaway tenant with a zone served by the lab's name servers, a
    certificate in the lab's store and targets in the lab's Prometheus; its delegation in test.
    removed at the end."""
    name = f"offb{secrets.token_hex(3)}"
    zone = f"{name}.test"
    inventory = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    machines = yaml.safe_load((inventory / "machines.yml").read_text())
    machines["all"]["children"]["backup_servers"] = {}
    # lab-vms.yml makes (or starts) the monitoring machine alone, not one for the tenant's VM
    machines["all"]["children"]["lab_vm_hosts"] = {"children": {"monitoring_servers": {}}}
    (inventory / "machines.yml").write_text(yaml.safe_dump(machines, sort_keys=False))
    document = {
        "name": name, "display_name": "Offboarding test", "kind": "working-group",
        "approval": {"body": "psf-membership", "date": "2026-12-01"}, "status": "active",
        "members": [{"name": "Liaison One", "email": f"one@{zone}"},
                    {"name": "Quiet Member", "email": f"quiet@{zone}", "notify": False}],
        "services": {
            # at the lab's registrar (the registry test., provider rfc2136), so that step 4 runs psf.infra.domain
            "domains": [{"name": zone, "registrar": "psf"}],
            "zones": [{"name": zone, "dnssec": False}],
            "certificates": [{"name": "web", "names": [zone]}],
            "vms": [{"name": "web1", "size": "small", "backup": {"paths": ["/etc"]}}],
        },
    }
    tenant_file = inventory / "tenants" / f"{name}.yml"
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "nameservers.yml").write_text(NAMESERVERS_PLAY)
    try:
        result, _ = playbook(inventory, str(tmp_path / "nameservers.yml"))
        assert result.returncode == 0, out(result)
        labctl.sync_resolver()  # as dns.yml does in the lab: the resolver's stub zones follow the catalog
        for name_of, args in (("domains.yml", ("-e", f"psf_tenant_scope={name}")),
                              ("certificates.yml", ("--tags", "renew", "-e", f"psf_tenant_scope={name}"))):
            result, _ = playbook(inventory, name_of, *args)
            assert result.returncode == 0, out(result)
        for name_of, args in (("lab-vms.yml", ()), ("monitoring.yml", ("--limit", "lab-monitor"))):
            result, _ = playbook(inventory, name_of, *args)
            assert result.returncode == 0, out(result)
        yield name, inventory, tenant_file
    finally:
        labctl.undelegate_zone(zone)
        shutil.rmtree(lab.dir / "offboarding" / name, ignore_errors=True)
        forget_summary(lab.dir / "announcements.json", name)
        if serves(lab, "ns1", zone):  # the run failed before its zones step: the lab's zone list without it
            tenant_file.unlink(missing_ok=True)
            playbook(inventory, str(tmp_path / "nameservers.yml"))
        labctl.sync_resolver()
        # Prometheus's targets as the lab inventory renders them (this copy has no backup server, and a
        # run that stopped before its monitoring step leaves the tenant's targets)
        playbook(REPO / "inventories" / "lab", "monitoring.yml", "--limit", "lab-monitor")


def test_offboard_a_tenant_on_the_lab(lab, tenant) -> None:
    name, inventory, tenant_file = tenant
    zone = f"{name}.test"
    store = lab.dir / "certificates" / name
    assert serves(lab, "ns1", zone) and (store / "web" / "fullchain.pem").exists()
    serial = serial_of(store / "web" / "cert.pem")
    assert pebble_status(lab, serial)["Status"] == "Valid"
    # Prometheus probes the zone on both name servers and scrapes the VM's node exporter (down: no machine)
    monitored = [f"ns1/{zone}", f"ns2/{zone}", f"web1.{name}"]
    deadline = time.monotonic() + 120
    while targets_of(name, zone) != monitored and time.monotonic() < deadline:
        time.sleep(2)
    assert targets_of(name, zone) == monitored, prometheus_labels()
    others = {labels["instance"] for labels in prometheus_labels() if labels.get("tenant") == "packaging"}

    document = yaml.safe_load(tenant_file.read_text())
    document.update(status="suspended", offboarding={"started_on": "2026-12-05", "domains": "expire",
                                                     "reason": "the lab test"})
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    confirm = ("-e", f"tenant={name}", "-e", f"confirm={name}")

    checked, _ = playbook(inventory, "offboard.yml", *confirm, "--check")
    assert checked.returncode == 0, out(checked)
    flat = " ".join(checked.stdout.replace("''", "'").split())
    # decommission.yml --check, run for the VM: its machine is not there
    assert f"web1.{name}: ['web1.{name} is gone already (no container psf-lab-web1-{name})" in flat
    for step in (f"1. VMs, one run of playbooks/decommission.yml each (final backup, restore check, out of "
                 f"monitoring, backup key revoked and retention recorded, the VM and its volumes destroyed): "
                 f"web1.{name}", f"2. certificates: revoke {store}/web at the ACME CA {lab.acme['directory']} (reason "
                 "cessationOfOperation, signed with the ACME account key), then remove them",
                 "3. monitoring:",
                 f"4. domains: {zone} at the Infra-WG registrar: DS withdrawn, auto-renew off, left to expire",
                 f"5. zones: keep a copy of {zone}",
                 f"6. mail the summary to Liaison One <one@{zone}>, {STAFF}"):
        assert step in flat, step
    assert "offboarding summary would send" in checked.stdout
    assert f"certificate web of {name} ({store}/web/cert.pem): would be revoked at the CA" in flat
    assert f"3. monitoring: render the targets of lab-monitor again from the registry and wait until Prometheus " \
           f"has no target of tenant {name} or its zones" in flat
    assert serves(lab, "ns1", zone) and (store / "web").exists() and summaries(lab, name) == []
    assert pebble_status(lab, serial)["Status"] == "Valid"  # check mode sent nothing
    assert targets_of(name, zone) == monitored

    # a VM's decommissioning that fails (here: refused, the lab's podman settings missing) stops the run
    # before anything else is removed, naming the VM and the failing step
    failed, _ = playbook(inventory, "offboard.yml", *confirm, podman=False)
    assert failed.returncode != 0
    flat = " ".join(failed.stdout.replace("''", "'").split())
    assert (f"decommission.yml failed for web1.{name}: web1.{name}: localhost: Check that podman has the lab's "
            "settings (CONTAINERS_CONF): CONTAINERS_CONF is not set") in flat, out(failed)
    assert "Offboard a tenant - 2." not in flat
    assert serves(lab, "ns1", zone) and (store / "web").exists() and summaries(lab, name) == []
    assert pebble_status(lab, serial)["Status"] == "Valid"

    # a revocation the CA refuses (here: another account key, which has no account at pebble) stops the run
    # in step 2 before any file is removed, naming the tenant, the certificate and its file
    stranger = tenant_file.parents[2] / "stranger.json"  # beside the inventory, not in it
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                         capture_output=True, text=True, check=True).stdout
    stranger.write_text(json.dumps({"psf_acme_account_key": key}))
    refused, _ = playbook(inventory, "offboard.yml", *confirm, "-e", f"@{stranger}")
    assert refused.returncode != 0
    flat = " ".join(refused.stdout.replace("''", "'").split())
    assert f"the certificate web of tenant {name} ({store}/web/cert.pem, serial {serial})" in flat, out(refused)
    print("refused revocation:", flat[flat.index("certificates failed"):][:400])
    assert "accountDoesNotExist" in flat and "Offboard a tenant - 3." not in flat
    assert key.strip().splitlines()[1] not in refused.stdout + refused.stderr
    assert (store / "web" / "cert.pem").exists() and serves(lab, "ns1", zone) and summaries(lab, name) == []
    assert pebble_status(lab, serial)["Status"] == "Valid"

    real, seconds = playbook(inventory, "offboard.yml", *confirm)
    assert real.returncode == 0, out(real)
    print(f"offboard.yml real run: {seconds:.1f} s")
    assert targets_of(name, zone) == []  # step 3 waited for it
    assert others and others <= {labels["instance"] for labels in prometheus_labels()
                                 if labels.get("tenant") == "packaging"}
    deadline = time.monotonic() + 30
    while serves(lab, "ns2", zone) and time.monotonic() < deadline:  # the secondary follows the catalog
        time.sleep(1)
    assert not serves(lab, "ns1", zone) and not serves(lab, "ns2", zone)
    refused = labctl.dns_query(lab.port("ns1"), zone, "SOA")
    assert refused.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTAUTH), dns.rcode.to_text(refused.rcode())
    assert not store.exists()
    status = pebble_status(lab, serial)
    assert (status["Status"], status.get("Reason")) == ("Revoked", 5), status
    assert f"certificate web of {name} ({store}/web/cert.pem): revoked at the CA (cessationOfOperation)" in " ".join(
        real.stdout.split())
    copy = lab.dir / "offboarding" / name / f"{zone}.json"
    assert copy.exists() and f'"{zone}."' in copy.read_text()
    [message] = summaries(lab, name)
    assert message["To"] == f"Liaison One <one@{zone}>" and message["Cc"] == STAFF and message["Reply-To"] == STAFF
    body = message.get_content()
    assert f"zone {zone}: no longer served by" in body
    assert ("certificate web: revoked at the CA (cessation of operation) and removed from our certificate store; "
            "it is no longer renewed") in " ".join(body.split())
    assert f"- VM web1.{name} is gone already" in body and "The final backups of your VMs" in body
    assert f"- {zone}: registered by the Infra-WG, left to expire: its auto-renewal is off" in body
    # psf.infra.domain ran: an unsigned zone has no DS to withdraw, and the lab's registrar no auto-renewal
    registrar = (f"{zone}: registration and renewal are not applicable at rfc2136 (a parent zone we run); "
                 "auto_renew is not applicable at rfc2136")
    assert registrar in " ".join(real.stdout.split()), real.stdout[real.stdout.find("registrar did"):][:2000]
    assert "quiet@" not in message["To"] + message["Cc"]

    again, _ = playbook(inventory, "offboard.yml", *confirm)
    assert again.returncode == 0, out(again)
    assert all(counts["changed"] == 0 for counts in recap(again.stdout).values()), recap(again.stdout)
    flat = " ".join(again.stdout.replace("''", "'").split())
    assert f"certificates of {name}: none left in" in flat and "(gone already): nothing to revoke or remove" in flat
    assert pebble_status(lab, serial)["RevokedAt"] == status["RevokedAt"]
    assert f"not served any more (gone already): {zone}" in flat
    assert registrar in flat
    assert f"Tenant {name}: offboarding summary already sent" in flat
    assert len(summaries(lab, name)) == 1
