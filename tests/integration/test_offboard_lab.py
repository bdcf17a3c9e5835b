"""playbooks/decommission.yml and playbooks/offboard.yml on the lab (issue #11 section 4, issue #12
section 2): a throwaway tenant, made in a temporary copy of inventories/lab (the lab's tenant files are
never edited), with a zone on the lab's name servers (rendered by the nameserver role from the registry,
delegated from test. by domains.yml), a certificate from the lab's ACME CA, a domain at the lab's
registrar (rfc2136 on test., which has no auto-renewal: step 4 runs psf.infra.domain, which withdraws
the signed zone's DS that domains.yml published there) and two running VMs (podman machines of the lab), each backed up
to the lab's backup server and scraped by its Prometheus. The two tests share that tenant, in order:

1. ``test_a_declared_vm_is_backed_up_verified_and_taken_away``: one VM (tmp1) declared decommissioned
   goes through decommission.yml alone: refused without the confirmation, listed step by step in check
   mode, then its final archive is in its borg repository and passed the restore check, its retention
   is recorded, Prometheus has no target of it, its container is gone, the other VM untouched; a second
   run changes nothing and quotes the final archive and the retention recorded on the backup server.
2. ``test_offboard_a_tenant_on_the_lab``: the tenant, suspended with offboarding declared, is offboarded
   with its other VM (web1) still running: check mode lists every step (the running VM's six from
   decommission.yml --check) and changes nothing; a failed VM step stops the run before anything else is
   removed; a run whose revocation the CA refuses decommissions the VM in step 1 (final backup verified,
   out of monitoring, key revoked, destroyed) and stops in step 2 before the certificate's files go; the
   run that resumes it finds the VM gone and quotes its final archive and retention from the backup
   server, takes the tenant out of the lab's real Prometheus (step 3: before, the blackbox probes of its
   zone on both name servers and its VM's node target are active; after, none is, while the lab's own
   tenants' probes stay), keeps a copy of the zone, the primary and the secondary no longer serve it, the
   certificate is revoked at pebble (its management interface's cert-status-by-serial: Revoked, reason 5
   cessationOfOperation) and out of the store, and the SMTP sink holds one summary to the liaison (Cc
   staff, not the member without notify) with the final archive; a second run changes nothing and says
   what is gone already.

The lab's backup and monitoring machines are made when missing and always kept (other runs in the same
lab may be using them: the module is on the serial lab worker, tests/conftest.py, as it converges
them); what the tests made (containers, key lines, repositories, passphrases, retention records, the
delegation in test.) is removed at the end, and Prometheus's targets are rendered from the lab inventory
again. Durations are printed (`pytest -s`), never asserted."""

from __future__ import annotations

import email
import email.policy
import functools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rcode
import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory

sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / "collections"))

import labctl

pytestmark = [pytest.mark.lab, pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(3600)]

MONITOR = "psf-lab-monitor"  # inventories/lab/machines.yml, lab-monitor
BACKUP = "psf-lab-backup"  # inventories/lab/machines.yml, lab-backup
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


@functools.cache
def containers_conf() -> str:
    result = subprocess.run(["bash", str(REPO / "lab" / "podman-env.sh")], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().removeprefix("export CONTAINERS_CONF=")


def playbook(inventory: Path, name: str, *args: str, podman: bool = True,
             timeout: float = 1200) -> tuple[subprocess.CompletedProcess[str], float]:
    path = name if name.startswith("/") else str(REPO / "playbooks" / name)
    env = {**ansible_env(), "CONTAINERS_CONF": containers_conf(), "PSF_INFRA_REGISTRY_CACHE": "false"}
    if not podman:
        del env["CONTAINERS_CONF"]
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), path, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=timeout, check=False, env=env)
    elapsed = time.monotonic() - started
    print(f"{Path(path).name} {' '.join(args)}: rc {result.returncode} in {elapsed:.1f} s")
    return result, elapsed


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=600,
                            env=dict(os.environ, CONTAINERS_CONF=containers_conf()))
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result


def exists(container: str) -> bool:
    return podman("container", "exists", container, check=False).returncode == 0


def borg_archives(repository: str, server: str = BACKUP) -> list[str]:
    """The archives of a VM's repository on the lab's backup server (its container), oldest first."""
    result = podman("exec", server, "runuser", "-u", "borg", "--", "env", "HOME=/srv/borg",
                    "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
                    f"BORG_PASSCOMMAND=cat /etc/psf-borg/passphrases/{repository}",
                    "borg", "list", "--format", "{archive}{NL}", f"/srv/borg/repos/{repository}")
    return result.stdout.split()


def retention_record(repository: str, server: str = BACKUP) -> dict | None:
    """What decommission.yml's step 5 recorded on the backup server (its container, <repository>.retired),
    if anything."""
    result = podman("exec", server, "cat", f"/var/lib/psf-borg/{repository}.retired", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def recap(output: str) -> dict[str, dict[str, int]]:
    tail = output[output.rindex("PLAY RECAP"):]
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(tail)}


def prometheus_api(server: str, path: str, check: bool = True, **params: str) -> Any:
    """The ``data`` of a GET of the Prometheus HTTP API ``path`` (``targets``, ``query``) in the monitoring
    machine ``server``, asked inside that machine (it listens on 127.0.0.1); None when ``check`` is off
    and the machine did not answer."""
    script = ("import json, sys, urllib.parse, urllib.request; print(json.dumps(json.load(urllib.request.urlopen("
              "'http://127.0.0.1:9090/api/v1/' + sys.argv[1] + '?' + urllib.parse.urlencode(json.loads(sys.argv[2]))"
              "))['data']))")
    result = subprocess.run(["podman", "exec", server, "python3", "-c", script, path, json.dumps(params)],
                            capture_output=True, text=True, check=False, timeout=60,
                            env=dict(os.environ, CONTAINERS_CONF=containers_conf()))
    if check:
        assert result.returncode == 0, f"{path} {params} on {server}: {result.stderr}"
    return json.loads(result.stdout) if result.returncode == 0 else None


def active_targets(server: str = MONITOR, check: bool = True) -> list[dict]:
    """The active targets (labels, health, ...) of the Prometheus in the monitoring machine ``server``."""
    data = prometheus_api(server, "targets", check, state="active")
    return data["activeTargets"] if data else []


def prometheus_labels(check: bool = True) -> list[dict[str, str]]:
    """The labels of the lab Prometheus's active targets."""
    return [target["labels"] for target in active_targets(MONITOR, check)]


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


def ds_at_registry(lab, zone: str) -> list[str]:
    """The DS records of ``zone`` in the lab registrar's parent zone test. (rfc2136)."""
    answer = labctl.dns_query(lab.port("registry"), zone, "DS")
    return sorted(rdata.to_text() for rrset in answer.answer for rdata in rrset)


def instances() -> set[str]:
    return {labels.get("instance", "") for labels in prometheus_labels()}


@dataclass
class Offboarded:
    """The throwaway tenant both tests share."""
    name: str
    inventory: Path
    tenant_file: Path

    @property
    def zone(self) -> str:
        return f"{self.name}.test"

    def document(self) -> dict:
        return yaml.safe_load(self.tenant_file.read_text())

    def write(self, document: dict) -> None:
        self.tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def tenant(lab, tmp_path_factory: pytest.TempPathFactory):
    """A throwaway tenant with a zone served by the lab's name servers, a certificate in the lab's
    store, two running VMs (tmp1, web1) backed up by the lab's backup server, and targets in the lab's
    Prometheus; everything it made removed at the end."""
    tmp_path = tmp_path_factory.mktemp("offboard")
    name = f"offb{secrets.token_hex(3)}"
    zone = f"{name}.test"
    hosts = [f"tmp1.{name}", f"web1.{name}"]
    inventory = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    machines = yaml.safe_load((inventory / "machines.yml").read_text())
    # lab-vms.yml makes (or starts) the backup and monitoring machines and this tenant's VMs only
    tenant_group = f"tenant_{name}"
    machines["all"]["children"]["lab_vm_hosts"] = {
        "children": {"backup_servers": {}, "monitoring_servers": {}, tenant_group: {}}}
    (inventory / "machines.yml").write_text(yaml.safe_dump(machines, sort_keys=False))
    # No base role here (playbooks/vms.yml): the node exporter relies on the lab's internal network.
    (inventory / "group_vars" / f"{tenant_group}.yml").write_text("monitoring_agent_manage_firewall: false\n")
    document = {
        "name": name, "display_name": "Offboarding test", "kind": "working-group",
        "approval": {"body": "psf-membership", "date": "2026-12-01"}, "status": "active",
        "members": [{"name": "Liaison One", "email": f"one@{zone}"},
                    {"name": "Quiet Member", "email": f"quiet@{zone}", "notify": False}],
        "services": {
            # at the lab's registrar (the registry test., provider rfc2136), so that step 4 runs psf.infra.domain
            "domains": [{"name": zone, "registrar": "psf"}],
            # signed, so that domains.yml publishes its DS in test. and step 4 withdraws it
            "zones": [{"name": zone, "dnssec": True}],
            "certificates": [{"name": "web", "names": [zone]}],
            "vms": [{"name": "tmp1", "size": "small", "backup": {"paths": ["/etc"]}},
                    {"name": "web1", "size": "small", "backup": {"paths": ["/etc"]}}],
        },
    }
    tenant_file = inventory / "tenants" / f"{name}.yml"
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "nameservers.yml").write_text(NAMESERVERS_PLAY)
    timings: dict[str, float] = {}
    try:
        result, timings["nameservers"] = playbook(inventory, str(tmp_path / "nameservers.yml"))
        assert result.returncode == 0, out(result)
        labctl.sync_resolver()  # as dns.yml does in the lab: the resolver's stub zones follow the catalog
        labctl.wait_signed(zone)  # its DNSKEYs are what domains.yml publishes as DS
        limit = ",".join(["lab-backup", "lab-monitor", *hosts])
        for name_of, args in (("domains.yml", ("-e", f"psf_tenant_scope={name}")),
                              ("certificates.yml", ("--tags", "renew", "-e", f"psf_tenant_scope={name}")),
                              ("lab-vms.yml", ()), ("backups.yml", ("--limit", limit)),
                              ("monitoring.yml", ("--limit", limit))):
            result, timings[name_of] = playbook(inventory, name_of, *args)
            assert result.returncode == 0, out(result)
        print("setup timings (s):", {step: round(value, 1) for step, value in timings.items()})
        yield Offboarded(name, inventory, tenant_file)
    finally:
        for host in hosts:
            podman("rm", "--force", "--volumes", f"psf-lab-{host.replace('.', '-')}", check=False)
            if exists(BACKUP):
                podman("exec", BACKUP, "sh", "-c",
                       f"sed -i '/ psf-backup:{host}$/d' /srv/borg/.ssh/authorized_keys; "
                       f"rm -rf /srv/borg/repos/{host} /etc/psf-borg/passphrases/{host} /var/lib/psf-borg/{host}.*",
                       check=False)
        labctl.undelegate_zone(zone)
        shutil.rmtree(lab.dir / "offboarding" / name, ignore_errors=True)
        forget_summary(lab.dir / "announcements.json", name)
        if serves(lab, "ns1", zone):  # the run failed before its zones step: the lab's zone list without it
            tenant_file.unlink(missing_ok=True)
            playbook(inventory, str(tmp_path / "nameservers.yml"))
        labctl.sync_resolver()
        # Prometheus's targets as the lab inventory renders them (a run that stopped before its
        # monitoring step leaves the tenant's targets)
        playbook(REPO / "inventories" / "lab", "monitoring.yml", "--limit", "lab-monitor")


def test_a_declared_vm_is_backed_up_verified_and_taken_away(tenant) -> None:
    """decommission.yml for one VM of a tenant that stays (issue #11 section 4)."""
    host, other = f"tmp1.{tenant.name}", f"web1.{tenant.name}"
    container = f"psf-lab-tmp1-{tenant.name}"
    assert exists(container) and exists(f"psf-lab-web1-{tenant.name}")
    deadline = time.monotonic() + 120
    while not {host, other} <= instances() and time.monotonic() < deadline:
        time.sleep(2)
    assert {host, other} <= instances()
    first_archives = borg_archives(host)
    assert len(first_archives) == 1, first_archives
    timings: dict[str, float] = {}

    # Declared decommissioned: still a host, in decommissioned_vms.
    document = tenant.document()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    document["services"]["vms"][0].update(state="decommissioned", decommissioned_on=today)
    tenant.write(document)
    confirm = ("-e", f"vm={host}", "-e", f"confirm={host}")

    # Refused without the confirmation, before anything changes.
    result, _ = playbook(tenant.inventory, "decommission.yml", "-e", f"vm={host}")
    assert result.returncode != 0
    assert f"Refusing to decommission '{host}' without the confirmation" in " ".join(result.stdout.split())
    assert "Nothing was changed." in result.stdout
    assert exists(container)

    # Check mode: every step listed, nothing changed.
    result, timings["check"] = playbook(tenant.inventory, "decommission.yml", *confirm, "--check")
    assert result.returncode == 0, out(result)
    text = " ".join(result.stdout.split())
    for step in ("1. final backup", "2. verify that archive with the restore check", "3. monitoring:",
                 "4. DNS:", "5. backup retention:",
                 f"6. destroy the lab machine: psf.infra.vm provider podman state absent, container {container}"):
        assert step in text, (step, out(result))
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), out(result)
    assert exists(container) and borg_archives(host) == first_archives
    assert retention_record(host) is None

    # The real run.
    result, timings["decommission"] = playbook(tenant.inventory, "decommission.yml", *confirm)
    assert result.returncode == 0, out(result)
    text = " ".join(result.stdout.split())
    archives = borg_archives(host)
    assert len(archives) == 2 and archives[0] == first_archives[0], archives
    final = archives[1]
    assert f"final archive of {host}: {final}" in text
    assert re.search(rf"restore drill on {re.escape(host)}: \d+ files restored from {re.escape(final)} "
                     "are identical", text), out(result)
    marker = retention_record(host)
    assert marker["final_archive"] == final and marker["key_revoked"] is True
    assert marker["retired_at"].startswith(today)
    assert marker["retain_until"] and marker["retention_days"] == 180
    keys = podman("exec", BACKUP, "cat", "/srv/borg/.ssh/authorized_keys").stdout
    assert f"psf-backup:{host}" not in keys and f"psf-backup:{other}" in keys
    assert host not in instances() and other in instances()  # the tenant's other VM is still monitored
    assert not exists(container) and exists(f"psf-lab-web1-{tenant.name}")

    # A second run: the VM is gone, nothing changes; it says which archive is kept, and until when.
    result, timings["second"] = playbook(tenant.inventory, "decommission.yml", *confirm)
    assert result.returncode == 0, out(result)
    assert (f"{host} is gone already (no container {container}): nothing to do. Its final archive {final} (verified "
            f"by the restore check) and repository {host} are kept on lab-backup until {marker['retain_until']}"
            ) in " ".join(result.stdout.split()), out(result)
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), out(result)
    print("decommission timings (s):", {step: round(value, 1) for step, value in timings.items()})


def test_offboard_a_tenant_on_the_lab(lab, tenant) -> None:
    name, inventory, tenant_file = tenant.name, tenant.inventory, tenant.tenant_file
    zone = tenant.zone
    vm, container = f"web1.{name}", f"psf-lab-web1-{name}"
    store = lab.dir / "certificates" / name
    assert serves(lab, "ns1", zone) and (store / "web" / "fullchain.pem").exists()
    serial = serial_of(store / "web" / "cert.pem")
    assert pebble_status(lab, serial)["Status"] == "Valid"
    ds = ds_at_registry(lab, zone)
    assert ds, "domains.yml published no DS of the signed zone in test."
    assert exists(container)
    first_archives = borg_archives(vm)
    assert len(first_archives) == 1, first_archives
    # Prometheus probes the zone on both name servers and scrapes the running VM's node exporter
    # (tmp1 too when the first test did not take it away)
    monitored = sorted([f"ns1/{zone}", f"ns2/{zone}", vm,
                        *([f"tmp1.{name}"] if exists(f"psf-lab-tmp1-{name}") else [])])
    deadline = time.monotonic() + 120
    while targets_of(name, zone) != monitored and time.monotonic() < deadline:
        time.sleep(2)
    assert targets_of(name, zone) == monitored, prometheus_labels()
    others = {labels["instance"] for labels in prometheus_labels() if labels.get("tenant") == "packaging"}

    document = tenant.document()
    document.update(status="suspended", offboarding={"started_on": "2026-12-05", "domains": "expire",
                                                     "reason": "the lab test"})
    tenant.write(document)
    confirm = ("-e", f"tenant={name}", "-e", f"confirm={name}")

    checked, _ = playbook(inventory, "offboard.yml", *confirm, "--check")
    assert checked.returncode == 0, out(checked)
    flat = " ".join(checked.stdout.replace("''", "'").split())
    # decommission.yml --check, run for each VM: the running one lists its steps
    assert f"{vm}: ['Decommissioning {vm} (check mode: nothing is changed):', '1. final backup: the backup_client " \
           f"role on {vm}" in flat, out(checked)
    assert f"6. destroy the lab machine: psf.infra.vm provider podman state absent, container {container}" in flat
    for step in (f"1. VMs, one run of playbooks/decommission.yml each (final backup, restore check, out of "
                 f"monitoring, backup key revoked and retention recorded, the VM and its volumes destroyed): "
                 f"tmp1.{name}, {vm}", f"2. certificates: revoke {store}/web at the ACME CA {lab.acme['directory']} "
                 "(reason cessationOfOperation, signed with the ACME account key), then remove them",
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
    assert targets_of(name, zone) == monitored and exists(container) and borg_archives(vm) == first_archives
    assert ds_at_registry(lab, zone) == ds

    # a VM's decommissioning that fails (here: refused, the lab's podman settings missing) stops the run
    # before anything else is removed, naming the VM and the failing step
    failed, _ = playbook(inventory, "offboard.yml", *confirm, podman=False)
    assert failed.returncode != 0
    flat = " ".join(failed.stdout.replace("''", "'").split())
    assert (f"{vm}: localhost: Check that podman has the lab's settings (CONTAINERS_CONF): CONTAINERS_CONF is "
            "not set") in flat, out(failed)
    assert "Offboard a tenant - 2." not in flat
    assert serves(lab, "ns1", zone) and (store / "web").exists() and summaries(lab, name) == []
    assert pebble_status(lab, serial)["Status"] == "Valid"
    assert exists(container) and borg_archives(vm) == first_archives and ds_at_registry(lab, zone) == ds

    # A revocation the CA refuses (here: another account key, which has no account at pebble) stops the run
    # in step 2 before any file is removed, naming the tenant, the certificate and its file. Step 1 went
    # through: the running VM was decommissioned (its final archive verified, then destroyed).
    stranger = tenant_file.parents[2] / "stranger.json"  # beside the inventory, not in it
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                         capture_output=True, text=True, check=True).stdout
    stranger.write_text(json.dumps({"psf_acme_account_key": key}))
    refused, seconds = playbook(inventory, "offboard.yml", *confirm, "-e", f"@{stranger}")
    print(f"offboard.yml run with the VM's decommissioning, refused in step 2: {seconds:.1f} s")
    assert refused.returncode != 0
    flat = " ".join(refused.stdout.replace("''", "'").split())
    archives = borg_archives(vm)
    assert len(archives) == 2 and archives[0] == first_archives[0], archives
    final = archives[1]
    assert f"'{vm} is decommissioned: final archive {final} verified by the restore check, out of monitoring, its " \
           "key revoked, the VM and its volumes destroyed." in flat, out(refused)
    marker = retention_record(vm)
    assert marker["final_archive"] == final and marker["key_revoked"] is True
    assert marker["retired_at"].startswith("2026-12-05")  # offboarding.started_on
    assert not exists(container)
    assert f"the certificate web of tenant {name} ({store}/web/cert.pem, serial {serial})" in flat, out(refused)
    print("refused revocation:", flat[flat.index("certificates failed"):][:400])
    assert "accountDoesNotExist" in flat and "Offboard a tenant - 3." not in flat
    assert key.strip().splitlines()[1] not in refused.stdout + refused.stderr
    assert (store / "web" / "cert.pem").exists() and serves(lab, "ns1", zone) and summaries(lab, name) == []
    assert pebble_status(lab, serial)["Status"] == "Valid" and ds_at_registry(lab, zone) == ds

    # The run that resumes it: the VM is gone, its final archive and retention quoted from the backup server.
    real, seconds = playbook(inventory, "offboard.yml", *confirm)
    assert real.returncode == 0, out(real)
    print(f"offboard.yml real run: {seconds:.1f} s")
    flat = " ".join(real.stdout.replace("''", "'").split())
    kept = (f"{vm} is gone already (no container {container}): nothing to do. Its final archive {final} (verified by "
            f"the restore check) and repository {vm} are kept on lab-backup until {marker['retain_until']}")
    assert kept in flat, out(real)
    assert targets_of(name, zone) == []  # step 3 waited for it
    assert ds_at_registry(lab, zone) == []  # step 4: the DS withdrawn before the zone went (step 5)
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
    assert f"certificate web of {name} ({store}/web/cert.pem): revoked at the CA (cessationOfOperation)" in flat
    copy = lab.dir / "offboarding" / name / f"{zone}.json"
    assert copy.exists() and f'"{zone}."' in copy.read_text()
    [message] = summaries(lab, name)
    assert message["To"] == f"Liaison One <one@{zone}>" and message["Cc"] == STAFF and message["Reply-To"] == STAFF
    body = message.get_content()
    assert f"zone {zone}: no longer served by" in body
    assert ("certificate web: revoked at the CA (cessation of operation) and removed from our certificate store; "
            "it is no longer renewed") in " ".join(body.split())
    assert f"- VM {kept}" in " ".join(body.split()) and "The final backups of your VMs" in body
    assert f"- {zone}: registered by the Infra-WG, left to expire: its auto-renewal is off" in body
    # psf.infra.domain ran: the DS withdrawn, and the lab's registrar has no auto-renewal
    registrar = (f"{zone}: registration and renewal are not applicable at rfc2136 (a parent zone we run); "
                 "auto_renew is not applicable at rfc2136")
    withdrawn = re.search(rf"{re.escape(zone)}: DS {ds[0].split()[0]} [^;]*-> \(none\); "
                          rf"{re.escape(registrar.split(': ', 1)[1])}", flat)
    assert withdrawn, real.stdout[real.stdout.find("registrar did"):][:2000]
    assert "quiet@" not in message["To"] + message["Cc"]

    again, _ = playbook(inventory, "offboard.yml", *confirm)
    assert again.returncode == 0, out(again)
    assert all(counts["changed"] == 0 for counts in recap(again.stdout).values()), recap(again.stdout)
    flat = " ".join(again.stdout.replace("''", "'").split())
    assert kept in flat
    assert f"certificates of {name}: none left in" in flat and "(gone already): nothing to revoke or remove" in flat
    assert pebble_status(lab, serial)["RevokedAt"] == status["RevokedAt"]
    assert f"not served any more (gone already): {zone}" in flat
    assert registrar in flat
    assert f"Tenant {name}: offboarding summary already sent" in flat
    assert len(summaries(lab, name)) == 1
