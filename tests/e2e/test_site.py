"""End to end: playbooks/site.yml against inventories/lab, then the real outcomes.

The first run converges the whole site (lab machines as podman containers, DNS, certificates, the
VMs' baseline and access, backups, monitoring, apps); the checks then ask the real programs: the
name servers, the lab resolver, openssl, the containers' files, borg, Prometheus, nginx. A second
run must change nothing. Durations are printed (`pytest -s`), never asserted.

The lab machines are removed at the end only when this test created them.

PSF_E2E_ANSIBLE_ARGS adds arguments to every ansible-playbook run (e.g. `-e
psf_acme_directory=https://127.0.0.1:5684/dir` to use another pebble); PSF_E2E_ACME_ISSUING_ROOT is
then that CA's issuing root (default: the lab's `.lab/pebble/issuing-root.pem`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.rcode
import labctl
import pytest

# One run of the whole site on 2 cores takes minutes; the fixture runs it inside the first test.
# One pytest-xdist worker runs the tests that converge the lab (SERIAL_LAB_MODULES, tests/conftest.py).
# The limits below only stop a hung run: on 2 cores shared with the Molecule scenarios a site run
# was measured at up to 30 min, so each run may take an hour before it is called hung.
SITE_RUN_LIMIT = 3600
pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(2 * SITE_RUN_LIMIT)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORY = "inventories/lab"
SITE = "playbooks/site.yml"
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
                        r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)


def ansible_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def run(argv: list[str], timeout: int = SITE_RUN_LIMIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=ansible_env(), capture_output=True, text=True, check=False,
                          timeout=timeout)


def playbook(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    extra = shlex.split(os.environ.get("PSF_E2E_ANSIBLE_ARGS", ""))
    result = run([str(BIN / "ansible-playbook"), "-i", INVENTORY, *extra, *args])
    return result, time.monotonic() - started


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {host: {ok, changed, unreachable, failed}}."""
    tail = output[output.rindex("PLAY RECAP"):]
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(tail)}


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=300)
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}: rc {result.returncode}\n{result.stderr}"
    return result


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


def plain_value(obj: dict[str, Any]) -> Any:
    """ansible-inventory --list writes strings the inventory plugin marked unsafe as {"__ansible_unsafe": str}."""
    if len(obj) == 1 and "__ansible_unsafe" in obj:
        return obj["__ansible_unsafe"]
    return obj


@pytest.fixture(scope="module")
def inventory() -> dict[str, Any]:
    result = run([str(BIN / "ansible-inventory"), "-i", INVENTORY, "--list"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout, object_hook=plain_value)


@pytest.fixture(scope="module")
def hostvars(inventory: dict[str, Any]) -> dict[str, Any]:
    return inventory["_meta"]["hostvars"]


@pytest.fixture(scope="module")
def tenants(hostvars: dict[str, Any]) -> dict[str, Any]:
    return hostvars["localhost"]["psf_tenants"]


def group(inventory: dict[str, Any], name: str) -> list[str]:
    found = inventory.get(name, {})
    hosts = list(found.get("hosts", []))
    for child in found.get("children", []):
        hosts += group(inventory, child)
    return sorted(set(hosts))


def lab_containers() -> dict[str, str]:
    """Inventory host -> container name, from the labels playbooks/lab-vms.yml puts on each machine.

    (ansible-inventory --list does not template, and the tenant VMs' ansible_host is a template.)
    """
    listing = podman("ps", "--all", "--filter", "label=psf.infra.lab=vm", "--format", "json")
    return {c["Labels"]["psf.infra.inventory-host"]: c["Names"][0] for c in json.loads(listing.stdout or "[]")}


def container(hostvars: dict[str, Any], host: str) -> str:
    names = lab_containers()
    assert host in names, f"no lab machine for {host} (containers: {names})"
    return names[host]


@pytest.fixture(scope="module")
def site(lab: Any, inventory: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Runs site.yml once (must succeed); removes the lab machines afterwards if it made them."""
    build = run(["bash", "lab/build-image.sh"])
    assert build.returncode == 0, f"lab/build-image.sh failed:\n{tail(build.stdout + build.stderr)}"
    machines = group(inventory, "lab_vm_hosts")
    assert machines, "inventories/lab declares no lab machines (group lab_vm_hosts)"
    existed = sorted(set(machines) & set(lab_containers()))
    first, seconds = playbook(SITE)
    print(f"\nsite.yml first run: {seconds:.1f} s (lab machines existed before: {existed or 'none'})")
    yield {"first": first, "first_seconds": seconds}
    if not existed:
        down, _ = playbook("playbooks/lab-vms.yml", "-e", "lab_vms_state=absent")
        assert down.returncode == 0, tail(down.stdout + down.stderr)


def test_first_run_succeeds(site: dict[str, Any]) -> None:
    first = site["first"]
    assert first.returncode == 0, f"site.yml failed (rc {first.returncode}):\n{tail(first.stdout, 150)}\n{first.stderr}"
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in recap(first.stdout).values())


def test_tenant_zones_are_served_by_both_name_servers(site: dict[str, Any], lab: Any,
                                                      tenants: dict[str, Any]) -> None:
    zones = [zone["name"] for tenant in tenants.values() if tenant["status"] != "retired"
             for zone in tenant.get("services", {}).get("zones", [])]
    assert zones, "the lab registry declares no zones"
    for zone in zones:
        primary = labctl.soa_serial(lab.port("ns1"), zone)
        secondary = labctl.soa_serial(lab.port("ns2"), zone)
        assert primary is not None, f"ns1 does not serve {zone}"
        assert secondary == primary, f"{zone}: ns1 serial {primary}, ns2 serial {secondary}"


def test_dnssec_tenant_resolves_validated(site: dict[str, Any], lab: Any, tenants: dict[str, Any]) -> None:
    signed = [zone["name"] for tenant in tenants.values() if tenant["status"] != "retired"
              for zone in tenant.get("services", {}).get("zones", []) if zone.get("dnssec", True)]
    assert signed, "the lab registry declares no DNSSEC-signed zone"
    for zone in signed:
        response = labctl.dns_query(lab.port("resolver"), zone, "SOA", dnssec=True, recursion=True)
        assert response.rcode() == dns.rcode.NOERROR, f"{zone}: {dns.rcode.to_text(response.rcode())}"
        assert response.answer, f"{zone}: no answer through the lab resolver"
        assert response.flags & dns.flags.AD, f"{zone}: the lab resolver did not validate the answer (no AD)"


def certificates_of(tenants: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, cert) for name, tenant in tenants.items() if tenant["status"] != "retired"
            for cert in tenant.get("services", {}).get("certificates", [])]


def test_certificates_verify_against_the_acme_root(site: dict[str, Any], lab: Any, hostvars: dict[str, Any],
                                                   tenants: dict[str, Any]) -> None:
    store = Path(hostvars["localhost"].get("psf_certificate_store") or lab.dir / "certificates")
    issuing_root = Path(os.environ.get("PSF_E2E_ACME_ISSUING_ROOT") or lab.dir / "pebble" / "issuing-root.pem")
    assert certificates_of(tenants)
    for tenant, cert in certificates_of(tenants):
        directory = store / tenant / cert["name"]
        for name in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"):
            assert (directory / name).is_file(), f"{directory / name} is missing"
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(issuing_root), "-untrusted",
                                 str(directory / "chain.pem"), str(directory / "cert.pem")],
                                capture_output=True, text=True, check=False)
        assert verify.returncode == 0, f"{tenant}/{cert['name']}: {verify.stdout}{verify.stderr}"


def test_root_keys_are_exactly_the_members_keys(site: dict[str, Any], inventory: dict[str, Any],
                                                hostvars: dict[str, Any]) -> None:
    vms = group(inventory, "tenant_vms")
    assert vms
    for host in vms:
        wanted = {key for member in hostvars[host]["psf_tenant_members"] for key in member.get("ssh_keys", [])}
        content = podman("exec", container(hostvars, host), "cat", "/root/.ssh/authorized_keys").stdout
        present = {line.strip() for line in content.splitlines() if line.strip() and not line.startswith("#")}
        assert present == wanted, f"{host}: authorized_keys {present} != members' keys {wanted}"


def test_backup_lands_on_the_backup_server(site: dict[str, Any], inventory: dict[str, Any],
                                           hostvars: dict[str, Any]) -> None:
    server = container(hostvars, group(inventory, "backup_servers")[0])
    for host in group(inventory, "backup_clients"):
        started = podman("exec", container(hostvars, host), "systemctl", "start", "psf-backup.service", check=False)
        assert started.returncode == 0, f"{host}: psf-backup.service failed:\n{started.stderr}\n" + podman(
            "exec", container(hostvars, host), "journalctl", "-u", "psf-backup.service", "-n", "30",
            "--no-pager", check=False).stdout
        passphrase = f"/etc/psf-borg/passphrases/{host}"
        listing = podman("exec", "--user", "borg", server, "env", f"BORG_PASSCOMMAND=cat {passphrase}",
                         "BORG_BASE_DIR=/srv/borg", "borg", "list", "--short", f"/srv/borg/repos/{host}", check=False)
        assert listing.returncode == 0, f"{host}: borg list on {server}: {listing.stderr}"
        assert listing.stdout.split(), f"{host}: no archive in /srv/borg/repos/{host} on {server}"


PROMETHEUS_TARGETS = (
    "import json, urllib.request; "
    "print(json.dumps(json.load(urllib.request.urlopen('http://127.0.0.1:9090/api/v1/targets'))['data']['activeTargets']))"
)


def test_prometheus_scrapes_every_vm(site: dict[str, Any], inventory: dict[str, Any],
                                     hostvars: dict[str, Any]) -> None:
    monitor = container(hostvars, group(inventory, "monitoring_servers")[0])
    agents = set(group(inventory, "monitoring_agents"))
    assert agents
    deadline = time.monotonic() + 90
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        result = podman("exec", monitor, "python3", "-c", PROMETHEUS_TARGETS, check=False)
        if result.returncode == 0:
            health = {t["labels"].get("instance", ""): t["health"] for t in json.loads(result.stdout)
                      if t["labels"].get("instance") in agents and t["labels"].get("job", "").startswith("node")}
            if set(health) == agents and set(health.values()) == {"up"}:
                return
        time.sleep(3)
    pytest.fail(f"node exporter targets on {monitor}: {health or 'none'} (want {sorted(agents)} up)")


PROMETHEUS_GET = """
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode(dict(zip(sys.argv[2::2], sys.argv[3::2])))
answer = json.load(urllib.request.urlopen(url, timeout=10))
print(json.dumps(answer["data"] if isinstance(answer, dict) and "data" in answer else answer))
"""
PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
# The textfile collector directory on every monitored host (roles/monitoring_agent).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def api(monitor: str, url: str, **params: str) -> Any:
    """GET an HTTP API of the monitoring server from inside its container (it listens on 127.0.0.1):
    Prometheus' `data`, or Alertmanager's answer as it is."""
    args = [item for pair in params.items() for item in pair]
    result = podman("exec", monitor, "python3", "-c", PROMETHEUS_GET, url, *args, check=False)
    assert result.returncode == 0, f"{url} {params} on {monitor}: {result.stderr}"
    return json.loads(result.stdout)


def query(monitor: str, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Instant query: {sorted label pairs: value}."""
    data = api(monitor, f"{PROMETHEUS}/api/v1/query", query=expr)
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}


def wait_for(what: str, probe: Any, timeout: float = 120) -> Any:
    """Calls probe() every 3 s until it returns something true; fails with `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(3)
    pytest.fail(f"{what}: not seen within {timeout:.0f} s (last answer: {last!r})")


def write_textfile(machine: str, name: str, content: str) -> None:
    """Writes a *.prom file into the machine's textfile directory atomically (temporary file, rename)."""
    script = (f"cat > {TEXTFILE_DIR}/.{name}.tmp && chmod 0644 {TEXTFILE_DIR}/.{name}.tmp"
              f" && mv {TEXTFILE_DIR}/.{name}.tmp {TEXTFILE_DIR}/{name}")
    result = subprocess.run(["podman", "exec", "-i", machine, "sh", "-c", script], input=content,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, f"writing {name} on {machine}: {result.stderr}"


def firing(monitor: str, alertname: str, **labels: str) -> list[dict[str, Any]]:
    """The alerts of Prometheus (/api/v1/alerts) named alertname whose labels include `labels`."""
    alerts = api(monitor, f"{PROMETHEUS}/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def infra_servers(inventory: dict[str, Any]) -> list[str]:
    return sorted(set(group(inventory, "backup_servers")) | set(group(inventory, "monitoring_servers")))


def test_the_infra_servers_are_monitored(site: dict[str, Any], inventory: dict[str, Any]) -> None:
    """The lab's backup and monitoring servers are agents, and Prometheus scrapes them (up == 1)."""
    agents = set(group(inventory, "monitoring_agents"))
    infra = infra_servers(inventory)
    assert infra and set(infra) <= agents, f"infra servers {infra} not all in monitoring_agents {sorted(agents)}"
    monitor = container({}, group(inventory, "monitoring_servers")[0])
    for host in infra:
        up = wait_for(f"up{{job=node, instance={host}}} == 1 on {monitor}",
                      lambda host=host: [v for v in query(monitor, f'up{{job="node",instance="{host}"}}').values()
                                         if v == 1])
        assert up == [1.0]


def maintain(server: str) -> subprocess.CompletedProcess[str]:
    """One run of the backup server's maintenance job (tamper check, prune, compact, metrics)."""
    return podman("exec", server, "systemctl", "start", "psf-borg-maintain.service", check=False)


def journal(machine: str, unit: str) -> str:
    return podman("exec", machine, "journalctl", "-u", unit, "-n", "30", "--no-pager", check=False).stdout


def test_backup_server_metrics_reach_prometheus_and_the_tamper_alert_fires(
        site: dict[str, Any], inventory: dict[str, Any]) -> None:
    """The backup server's maintenance job writes its textfile metrics and Prometheus scrapes them; a
    client deleting one of its archives (its append-only key lets borg 1.2 do that) is detected by the
    next maintenance run and raises BackupRepositoryTampered in Prometheus and Alertmanager; staff's
    `psf-borg-maintain accept` (docs/backups.md) clears it."""
    backup_host = group(inventory, "backup_servers")[0]
    server = container({}, backup_host)
    monitor = container({}, group(inventory, "monitoring_servers")[0])
    clients = group(inventory, "backup_clients")
    started = maintain(server)
    assert started.returncode == 0, (f"psf-borg-maintain.service on {server} failed:\n{started.stderr}\n"
                                     + journal(server, "psf-borg-maintain.service"))

    def tamper_series() -> dict[str, float]:
        found = query(monitor, f'psf_backup_server_repository_tampered{{instance="{backup_host}"}}')
        return {dict(labels)["repository"]: value for labels, value in found.items()}

    tampered = wait_for(f"psf_backup_server_repository_tampered of {clients} from {backup_host}",
                        lambda: (found if set(clients) <= set(found := tamper_series()) else {}))
    assert all(value == 0 for value in tampered.values()), f"a lab repository is reported tampered: {tampered}"
    archives = query(monitor, f'psf_backup_server_archives{{instance="{backup_host}"}}')
    assert archives and all(value > 0 for value in archives.values()), f"psf_backup_server_archives: {archives}"

    # The monitoring server's own repository: one of the infrastructure servers' backups.
    victim = group(inventory, "monitoring_servers")[0]
    assert victim in clients
    vm = container({}, victim)
    names = podman("exec", vm, "psf-borg", "list", "--short").stdout.split()
    assert names, f"{victim} has no archive"
    podman("exec", vm, "psf-borg", "delete", f"::{names[0]}")
    try:
        refused = maintain(server)
        assert refused.returncode != 0, f"the maintenance job did not notice {names[0]} vanishing from {victim}"
        wait_for(f"psf_backup_server_repository_tampered{{repository={victim}}} == 1 in Prometheus",
                 lambda: tamper_series().get(victim) == 1)
        alerts = wait_for(f"BackupRepositoryTampered firing for repository {victim}",
                          lambda: [a for a in firing(monitor, "BackupRepositoryTampered", repository=victim,
                                                     instance=backup_host) if a["state"] == "firing"])
        assert alerts[0]["labels"]["severity"] == "critical"

        def in_alertmanager() -> list[dict[str, Any]]:
            return [a for a in api(monitor, f"{ALERTMANAGER}/api/v2/alerts") if
                    a["labels"].get("alertname") == "BackupRepositoryTampered"
                    and a["labels"].get("repository") == victim]

        wait_for("BackupRepositoryTampered in Alertmanager", in_alertmanager)
    finally:
        # Staff accept the deletion (it was ours); the next run records the baseline and clears the metric.
        podman("exec", server, "/usr/local/sbin/psf-borg-maintain", "--config", "/etc/psf-borg/maintain.json",
               "accept", victim, check=False)
        again = maintain(server)
    assert again.returncode == 0, f"after accept:\n{again.stderr}\n" + journal(server, "psf-borg-maintain.service")
    wait_for(f"psf_backup_server_repository_tampered{{repository={victim}}} back to 0",
             lambda: tamper_series().get(victim) == 0)


def test_monitoring_server_dnssec_metrics_reach_prometheus_and_the_expiry_alert_fires(
        site: dict[str, Any], inventory: dict[str, Any], tenants: dict[str, Any]) -> None:
    """psf-dnssec-expiry's textfile metrics on the monitoring server reach Prometheus, and a
    signature expiring within the threshold makes DnssecSignaturesExpiring pending."""
    monitor_host = group(inventory, "monitoring_servers")[0]
    monitor = container({}, monitor_host)
    signed = {zone["name"].rstrip(".") for tenant in tenants.values() if tenant["status"] != "retired"
              for zone in tenant.get("services", {}).get("zones", []) if zone.get("dnssec", True)}
    assert signed
    last_run_expr = f'psf_dnssec_check_last_run_timestamp_seconds{{instance="{monitor_host}"}}'
    last_run = wait_for(f"{last_run_expr} on {monitor}", lambda: query(monitor, last_run_expr))
    assert next(iter(last_run.values())) > time.time() - 3600
    # Per zone and name server (in the lab the check cannot reach the lab's BIND from inside the
    # container, so success is 0 here: docs/monitoring.md; what matters is that the series arrive).
    checked = query(monitor, f'psf_dnssec_check_success{{instance="{monitor_host}"}}')
    assert {dict(labels)["zone"] for labels in checked} == signed, f"psf_dnssec_check_success: {checked}"

    # A signature that expires within the hour, as psf-dnssec-expiry writes it (same HELP and TYPE:
    # the node exporter refuses a metric whose help differs between two files).
    metric = "psf_dnssec_rrsig_expiry_timestamp_seconds"
    real = podman("exec", monitor, "cat", f"{TEXTFILE_DIR}/psf_dnssec.prom").stdout
    header = [line for line in real.splitlines() if re.match(rf"# (HELP|TYPE) {metric} ", line)]
    soon = int(time.time()) + 3600
    write_textfile(monitor, "e2e_dnssec.prom",
                   "\n".join([*header, f'{metric}{{zone="e2e.test",nameserver="e2e",type="SOA"}} {soon}']) + "\n")
    try:
        alerts = wait_for("DnssecSignaturesExpiring pending for zone e2e.test",
                          lambda: firing(monitor, "DnssecSignaturesExpiring", zone="e2e.test", instance=monitor_host))
        assert alerts[0]["state"] in ("pending", "firing"), alerts
    finally:
        podman("exec", monitor, "rm", "-f", f"{TEXTFILE_DIR}/e2e_dnssec.prom", check=False)


HTTPS_GET = """
import hashlib, json, socket, ssl, sys
name = sys.argv[1]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", 443), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
        tls.sendall(f"GET / HTTP/1.1\\r\\nHost: {name}\\r\\nConnection: close\\r\\n\\r\\n".encode())
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
print(json.dumps({"sha256": hashlib.sha256(der).hexdigest(), "status": reply.split(b"\\r\\n", 1)[0].decode()}))
"""


def test_apps_answer_over_https_with_the_tenant_certificate(site: dict[str, Any], lab: Any,
                                                            hostvars: dict[str, Any],
                                                            inventory: dict[str, Any]) -> None:
    store = Path(hostvars["localhost"].get("psf_certificate_store") or lab.dir / "certificates")
    apps = [(host, app) for host in group(inventory, "tenant_vms") for app in hostvars[host].get("psf_apps", [])]
    assert apps
    for host, app in apps:
        cert_pem = (store / hostvars[host]["psf_tenant_name"] / app["certificate"] / "cert.pem").read_text()
        expected = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem)).hexdigest()
        for name in app["names"]:
            result = podman("exec", container(hostvars, host), "python3", "-c", HTTPS_GET, name, check=False)
            assert result.returncode == 0, f"{host}: https://{name}/ through nginx: {result.stderr}"
            answer = json.loads(result.stdout)
            assert answer["sha256"] == expected, f"{host}: nginx serves another certificate for {name}"
            assert re.match(r"HTTP/1\.[01] [23]\d\d", answer["status"]), f"{host}: https://{name}/ -> {answer}"


def test_second_run_changes_nothing(site: dict[str, Any]) -> None:
    if site["first"].returncode != 0:
        pytest.skip("the first run failed (test_first_run_succeeds says why)")
    second, seconds = playbook(SITE)
    print(f"\nsite.yml first run: {site['first_seconds']:.1f} s, second run: {seconds:.1f} s")
    assert second.returncode == 0, tail(second.stdout, 150)
    counts = recap(second.stdout)
    print("second run changed=" + ", ".join(f"{host}:{c['changed']}" for host, c in sorted(counts.items())))
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"]}
    assert not changed, f"the second run changed something: {changed}\n{tail(second.stdout, 150)}"


# --------------------------------------------------------------------------- one tenant at a time (tenant.yml)

SCOPE, OTHER = "packaging", "pyladies-berlin"


def zone_snapshot(lab: Any, zone: str) -> dict[str, list[str]]:
    """Every rrset of the zone on ns1 (AXFR with the staff key), serial included."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey

    key = lab.key("staff-key")
    serial, rrsets = DnsServer("127.0.0.1", lab.port("ns1"), TsigKey(key["name"], key["algorithm"], key["secret"]),
                               timeout=10).axfr(zone)
    return {f"{name} {rdtype}": sorted(rrset.values()) for (name, rdtype), rrset in rrsets.items()} | {
        "serial": [str(serial)]}


def set_record(lab: Any, zone: str, name: str, rdtype: str, values: list[str], ttl: int = 300) -> None:
    """An out-of-band change, as somebody with the staff key would make it (drift)."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.client import TsigKey
    from ansible_collections.psf.infra.plugins.module_utils.dns.query import replace_rrset
    from psf_lab.dnsclient import send_update

    key = lab.key("staff-key")
    send_update(lab.port("ns1"), zone, TsigKey(key["name"], key["algorithm"], key["secret"]),
                [replace_rrset(name, rdtype, ttl, values, origin=zone)])


def shared_files(inventory: dict[str, Any]) -> dict[str, str]:
    """What tenants share: the backup server's keys, Prometheus's targets and Alertmanager's routes."""
    backup = container({}, group(inventory, "backup_servers")[0])
    monitor = container({}, group(inventory, "monitoring_servers")[0])
    files = {f"{backup}:/srv/borg/.ssh/authorized_keys": podman(
        "exec", backup, "cat", "/srv/borg/.ssh/authorized_keys").stdout}
    listing = podman("exec", monitor, "sh", "-c", "ls /etc/prometheus/file_sd/*.json").stdout.split()
    for path in [*listing, "/etc/prometheus/prometheus.yml", "/etc/prometheus/alertmanager.yml"]:
        files[f"{monitor}:{path}"] = podman("exec", monitor, "cat", path).stdout
    return files


def test_one_tenants_run_converges_it_and_leaves_the_others_alone(site: dict[str, Any], lab: Any,
                                                                   inventory: dict[str, Any],
                                                                   tenants: dict[str, Any]) -> None:
    if site["first"].returncode != 0:
        pytest.skip("the first run failed (test_first_run_succeeds says why)")
    assert {SCOPE, OTHER} <= set(tenants), sorted(tenants)
    # Drift in both tenants: a record each tenant file declares, changed out of band.
    set_record(lab, "packaging.test.", "web1", "A", ["127.0.0.99"])
    set_record(lab, "pyladies-berlin.test.", "@", "TXT", ['"drifted"'])
    other_zone = zone_snapshot(lab, "pyladies-berlin.test.")
    catalog = zone_snapshot(lab, labctl.CATALOG_ZONE)
    shared = shared_files(inventory)
    try:
        result, seconds = playbook("playbooks/tenant.yml", "-e", f"tenant={SCOPE}")
        print(f"\ntenant.yml -e tenant={SCOPE}: {seconds:.1f} s")
        assert result.returncode == 0, tail(result.stdout, 150)
        counts = recap(result.stdout)
        other_hosts = set(group(inventory, f"tenant_{OTHER.replace('-', '_')}"))
        assert other_hosts and not other_hosts & set(counts), f"{OTHER}'s VMs were in the run: {sorted(counts)}"
        # The tenant's own drift is repaired ...
        answer = labctl.dns_query(lab.port("ns1"), "web1.packaging.test", "A").answer
        assert answer and answer[0].to_text().endswith("127.0.0.10"), answer
        # ... the other tenant's zone, the zone list and the shared files are byte for byte what they were.
        assert zone_snapshot(lab, "pyladies-berlin.test.") == other_zone
        assert zone_snapshot(lab, labctl.CATALOG_ZONE) == catalog
        assert shared_files(inventory) == shared

        again, seconds = playbook("playbooks/tenant.yml", "-e", f"tenant={SCOPE}")
        print(f"tenant.yml -e tenant={SCOPE}, second run: {seconds:.1f} s")
        assert again.returncode == 0, tail(again.stdout, 150)
        changed = {host: c["changed"] for host, c in recap(again.stdout).items() if c["changed"]}
        assert not changed, f"the second run changed something: {changed}\n{tail(again.stdout, 150)}"
    finally:
        # As its zone file says (inventories/lab/tenants/zones/pyladies-berlin.test.zone).
        set_record(lab, "pyladies-berlin.test.", "@", "TXT", ['"v=spf1 -all"'], ttl=3600)


# --------------------------------------------------------------------------- onboarding (onboard.yml)

WELCOME_SUBJECT = "Welcome to the PSF Infra-WG's services: "


def welcomes(mail_dir: Path, display_name: str) -> list[Any]:
    """The sink's welcome mails of a tenant, oldest first."""
    import email
    import email.policy

    found = []
    for path in sorted([*mail_dir.glob("new/*"), *mail_dir.glob("cur/*")], key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["Subject"] == WELCOME_SUBJECT + display_name:
            found.append(message)
    return found


def parent_ds_records(lab: Any, zone: str) -> list[str]:
    """The DS (SHA-256) of each key with the SEP flag the primary serves for ``zone``: computed here
    with dnspython, not by the project's code."""
    import dns.dnssec
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rdatatype

    request = dns.message.make_query(zone, dns.rdatatype.DNSKEY, want_dnssec=True)
    request.flags &= ~dns.flags.RD
    response = dns.query.tcp(request, "127.0.0.1", port=lab.port("ns1"), timeout=10)
    keys = [key for rrset in response.answer if rrset.rdtype == dns.rdatatype.DNSKEY for key in rrset
            if key.flags & 0x0001]
    assert keys, f"the primary serves no SEP key for {zone}"
    name = dns.name.from_text(zone)
    return [f"{name.to_text()} IN DS {dns.dnssec.make_ds(name, key, 'SHA256').to_text()}" for key in keys]


def test_onboarding_mails_the_liaisons_the_exact_records_once(site: dict[str, Any], lab: Any,
                                                              tenants: dict[str, Any], tmp_path: Path) -> None:
    if site["first"].returncode != 0:
        pytest.skip("the first run failed (test_first_run_succeeds says why)")
    record = tenants[OTHER]  # pyladies-berlin keeps its own registrar: it has records to set
    zone = next(domain["name"] for domain in record["services"]["domains"] if domain["registrar"] == "tenant")
    mail_dir, state = lab.dir / "mail", tmp_path / "announcements.json"
    before = len(welcomes(mail_dir, record["display_name"]))
    args = ("playbooks/onboard.yml", "-e", f"tenant={OTHER}", "-e", f"psf_announce_state_file={state}")

    # The plan and the rerun on the control node's plays alone (zones, domains, certificates, the
    # welcome): tenant.yml on the VMs is tested above, and each full run takes minutes.
    plan, seconds = playbook(*args, "--check", "--limit", "localhost")
    print(f"\nonboard.yml -e tenant={OTHER} --check --limit localhost: {seconds:.1f} s")
    assert plan.returncode == 0, tail(plan.stdout, 150)
    assert "welcome would send" in plan.stdout and len(welcomes(mail_dir, record["display_name"])) == before

    result, seconds = playbook(*args)
    print(f"onboard.yml -e tenant={OTHER}: {seconds:.1f} s")
    assert result.returncode == 0, tail(result.stdout, 150)
    [message] = welcomes(mail_dir, record["display_name"])[before:]
    liaisons = [member for member in record["members"] if member.get("notify", True)]
    assert message["To"] == ", ".join(f"{member['name']} <{member['email']}>" for member in liaisons)
    assert message["Reply-To"] == "infra-staff@python.org"
    text = message.get_content().replace("\r\n", "\n")
    # The exact records, as zone-file lines (any TTL): NS of our name servers, DS of the zone's keys
    # as the primary serves them.
    records = {(tokens[0], tokens[3], " ".join(tokens[4:]).upper()) for tokens in map(str.split, text.splitlines())
               if len(tokens) > 4 and tokens[2] == "IN"}
    for nameserver in ("ns1.infra.test.", "ns2.infra.test."):
        assert (f"{zone}.", "NS", nameserver.upper()) in records, f"NS {nameserver} is not in the welcome:\n{text}"
    signed = next(z.get("dnssec", True) for z in record["services"]["zones"] if z["name"].rstrip(".") == zone)
    if signed:
        for ds in parent_ds_records(lab, f"{zone}."):
            owner, _, rest = ds.partition(" IN DS ")
            assert (owner, "DS", rest.upper()) in records, f"{ds} is not in the welcome:\n{text}"
    else:
        assert not [entry for entry in records if entry[1] == "DS"], text
        assert f"DNSSEC: {zone} is not signed by the Infra-WG: set no DS record at your registrar" in text, text
    for vm in record["services"]["vms"]:
        assert f"  ssh root@{vm['fqdn']}\n" in text
    assert json.loads(state.read_text())["welcome"][OTHER]["to"] == message["To"].split(", ")

    again, seconds = playbook(*args, "--limit", "localhost")
    print(f"onboard.yml -e tenant={OTHER} --limit localhost, second run: {seconds:.1f} s")
    assert again.returncode == 0, tail(again.stdout, 150)
    assert len(welcomes(mail_dir, record["display_name"])) == before + 1, "the second run sent the welcome again"
    changed = {host: c["changed"] for host, c in recap(again.stdout).items() if c["changed"]}
    assert not changed, f"the second run changed something: {changed}\n{tail(again.stdout, 150)}"


# --------------------------------------------------------------------------- the status page

def test_the_status_page_shows_the_converged_site_green(site: dict[str, Any], tenants: dict[str, Any],
                                                        tmp_path: Path) -> None:
    if site["first"].returncode != 0:
        pytest.skip("the first run failed (test_first_run_succeeds says why)")
    result = run([str(BIN / "psf-infra"), "status", "-i", INVENTORY, "-o", str(tmp_path)])
    assert result.returncode == 0, result.stdout + result.stderr
    page = json.loads((tmp_path / "status.json").read_text())
    print("\nstatus page: " + "; ".join(f"{check['kind']} {check['name']}: {check['health']} ({check['reason']})"
                                        for entry in page["tenants"] for check in entry["checks"]))
    checks = {(entry["name"], check["kind"], check["name"]): check for entry in page["tenants"]
              for check in entry["checks"]}
    for name, record in tenants.items():
        services = record.get("services") or {}
        # What the site converged is green: every zone on both name servers at one serial, each signed
        # zone's chain secure, each certificate valid and not due, each VM running, each app answering
        # its health path, each domain we registered far from its expiry (the lab registry's).
        wanted = [("zone", zone["name"]) for zone in services.get("zones", [])]
        wanted += [("domain", domain["name"]) for domain in services.get("domains", [])
                   if domain.get("registrar") == "psf"]
        wanted += [("dnssec", zone["name"]) for zone in services.get("zones", []) if zone.get("dnssec", True)]
        wanted += [("certificate", cert["name"]) for cert in services.get("certificates", [])]
        wanted += [("vm", f"{vm['name']}.{name}") for vm in services.get("vms", [])]
        wanted += [("app", app["name"]) for app in services.get("apps", [])]
        for kind, item in wanted:
            check = checks[(name, kind, item.rstrip("."))]
            assert check["health"] == "green", check


def test_the_status_page_reads_backups_and_apps_from_prometheus_as_production_does(
        site: dict[str, Any], inventory: dict[str, Any], hostvars: dict[str, Any], tmp_path: Path) -> None:
    """`psf-infra status --monitoring always`: the backups and apps from Prometheus on the lab's
    monitoring server, asked there through playbooks/status-facts.yml (Ansible's podman connection; in
    production SSH): each VM's last backup is the one the lab machine itself reports, and each app's
    health is what Prometheus's probe of it says."""
    if site["first"].returncode != 0:
        pytest.skip("the first run failed (test_first_run_succeeds says why)")
    monitor = container(hostvars, group(inventory, "monitoring_servers")[0])

    def page(*more: str) -> dict[tuple[str, str], dict[str, Any]]:
        out = tmp_path / ("monitoring" if more else "lab")
        result = run([str(BIN / "psf-infra"), "status", "-i", INVENTORY, "-o", str(out), *more])
        assert result.returncode == 0, result.stdout + result.stderr
        data = json.loads((out / "status.json").read_text())
        return {(check["kind"], check["name"]): check for entry in data["tenants"] for check in entry["checks"]}

    lab = page()
    backups = sorted(key for key in lab if key[0] == "backup")
    assert backups

    def agreeing() -> dict[tuple[str, str], dict[str, Any]] | None:
        seen = page("--monitoring", "always")
        return seen if all(seen[key]["reason"] == lab[key]["reason"] for key in backups) else None

    # Prometheus has each backup once it scraped the machine's textfile after that backup
    seen = wait_for("the backups as Prometheus holds them, as the machines report them", agreeing, timeout=90)
    for key in backups:
        assert seen[key]["health"] == lab[key]["health"] == "green", (seen[key], lab[key])
    probes = query(monitor, 'probe_success{app!=""}')
    apps = {dict(labels)["app"]: value for labels, value in probes.items()}
    for key, check in seen.items():
        if key[0] == "app":
            assert key[1] in apps, (check, probes)
            wanted = "green" if apps[key[1]] >= 1 else "red"
            assert check["health"] == wanted and "Prometheus's HTTPS probe on" in check["reason"], (check, apps)
