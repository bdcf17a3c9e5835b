"""The tenant status page: a static site (plain HTML and CSS, no script) and its JSON twin, of every
tenant and the live health of each of its services, for staff, the Chair and the annual survey.

`psf-infra status [-i INVENTORY] [-o DIR]` writes ``index.html`` (the tenants: kind, approval,
liaisons, services, overall health), ``<tenant>.html`` (each check with its health and the reason)
and ``status.json`` into DIR (default ``.cache/status``, beside the drift report's ``drift/``).

Each check is green, amber or red with the reason, or unknown when the page cannot tell (and says
why). The rules are the pure ``*_check`` functions below (unit-tested in tests/unit/test_status_page.py);
the facts come from the sources ``psf-infra summary`` reads (summary.py: the name servers through
the collection's DNS client, the certificate store, the lab's machines, the libvirt hypervisor
the inventory names in psf_hypervisor, through the collection's libvirt adapter) and from the textfile
metrics the playbooks write on the control node (domains.yml: domain expiry and DNSSEC chain;
dns-tenant-instructions.yml: the delegation of domains tenants register themselves).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psf_infra_runner import metrics, summary
from psf_infra_runner.inventory import Inventory, InventoryError, project_root, read_inventory, sibling_tool
from psf_infra_runner.outcome import EXIT_INVALID_REGISTRY, EXIT_OK, PlaybookResult, write_atomically

GREEN, AMBER, RED, UNKNOWN = "green", "amber", "red", "unknown"
#: worst first: a tenant's health is its worst check's
SEVERITY = (RED, AMBER, UNKNOWN, GREEN)

DOMAIN_AMBER_DAYS, DOMAIN_RED_DAYS = 30, 14
BACKUP_AMBER_HOURS, BACKUP_RED_HOURS = 26, 50  # nightly backups: one missed night is amber, two red
DELEGATION_HEALTH = {"correct": GREEN, "ds_missing": AMBER, "ds_incomplete": AMBER, "wrong_ns": AMBER,
                     "lame": RED, "missing": RED, "stale_ds": RED, "unknown": UNKNOWN}


@dataclass
class Check:
    kind: str  # zone, dnssec, domain, certificate, vm, backup, app
    name: str
    health: str
    reason: str


@dataclass
class TenantStatus:
    name: str
    display_name: str
    kind: str
    status: str
    approval: dict[str, Any]
    liaisons: list[str]
    services: dict[str, int]
    checks: list[Check] = field(default_factory=list)

    @property
    def health(self) -> str:
        return worst(check.health for check in self.checks)


def worst(healths: Iterable[str]) -> str:
    found = set(healths)
    return next((health for health in SEVERITY if health in found), GREEN)


# ---------------------------------------------------------------------------------------------- the rules

def zone_check(zone: str, serials: Mapping[str, int | str]) -> Check:
    """``serials``: per name server, the SOA serial it serves, or why it does not (a string)."""
    if not serials:
        return Check("zone", zone, UNKNOWN, "no name server is known (psf_dns_primary, psf_dns_secondaries)")
    broken = {server: value for server, value in serials.items() if not isinstance(value, int)}
    if broken:
        return Check("zone", zone, RED, "; ".join(f"{server}: {value}" for server, value in broken.items()))
    if len(set(serials.values())) > 1:
        return Check("zone", zone, AMBER, "the name servers serve different serials ("
                     + ", ".join(f"{server} {value}" for server, value in serials.items())
                     + "): a transfer is pending or failing")
    return Check("zone", zone, GREEN, f"serial {next(iter(serials.values()))} on {len(serials)} name servers")


def dnssec_check(zone: str, chain: str | None) -> Check:
    """``chain``: the status domains.yml recorded for a signed zone (secure, insecure, bogus), or None."""
    if chain is None:
        return Check("dnssec", zone, UNKNOWN, "no chain of trust check recorded yet (playbooks/domains.yml)")
    if chain == "secure":
        return Check("dnssec", zone, GREEN, "secure: validated from the trust anchor")
    if chain == "insecure":
        return Check("dnssec", zone, AMBER, "insecure: signed, but no DS at the parent, so nobody validates it")
    return Check("dnssec", zone, RED, f"{chain}: validating resolvers refuse its names")


def domain_check(domain: str, registrar: str, *, expires: float | None = None, delegation: str | None = None,
                 now: dt.datetime) -> Check:
    """A domain we register: by the expiry its registrar reported; one the tenant registers: by the
    delegation the parent serves (dns-tenant-instructions.yml)."""
    if registrar != "psf":
        if delegation is None:
            return Check("domain", domain, UNKNOWN, "registered by the tenant; no delegation check recorded yet "
                         "(playbooks/dns-tenant-instructions.yml)")
        return Check("domain", domain, DELEGATION_HEALTH.get(delegation, UNKNOWN),
                     f"registered by the tenant; delegation at the parent: {delegation}")
    if expires is None:
        return Check("domain", domain, UNKNOWN, "no expiry recorded: playbooks/domains.yml writes it when the "
                     "registrar reports one (a parent zone of ours as registrar has none)")
    until = dt.datetime.fromtimestamp(expires, dt.UTC)
    days = (until - now).days
    text = f"expires {until:%Y-%m-%d} ({days} days)"
    if days < DOMAIN_RED_DAYS:
        return Check("domain", domain, RED, text + (": expired" if days < 0 else ": renew now"))
    if days < DOMAIN_AMBER_DAYS:
        return Check("domain", domain, AMBER, text + ": renewal is due")
    return Check("domain", domain, GREEN, text)


def certificate_check(name: str, not_before: dt.datetime | None, not_after: dt.datetime | None, *,
                      now: dt.datetime, problem: str | None = None) -> Check:
    """Green until the renewal point the certificate module uses (``renewal_point``), amber after it
    (the renewal should have happened), red when expired or missing."""
    if problem or not_before is None or not_after is None:
        return Check("certificate", name, RED, problem or "not issued yet")
    text = f"valid until {not_after:%Y-%m-%d} ({(not_after - now).days} days)"
    if now >= not_after:
        return Check("certificate", name, RED, f"expired on {not_after:%Y-%m-%d}")
    due = renewal_point(not_before, not_after)
    if now >= due:
        return Check("certificate", name, AMBER, f"{text}; due for renewal since {due:%Y-%m-%d}: check the "
                     "certificates job")
    return Check("certificate", name, GREEN, text)


def renewal_point(not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
    """When the certificate module renews a certificate that sets no renew_before_days: its own rule
    (``module_utils/acme/renewal.py``), not a copy of it."""
    summary.use_collection(project_root())
    from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import CertificateFacts
    from ansible_collections.psf.infra.plugins.module_utils.acme.renewal import renewal_due

    return renewal_due(CertificateFacts(frozenset(), "", not_before, not_after, "", ""), None)


NO_VM_SOURCE = "the inventory names no hypervisor (psf_hypervisor) and the lab has no machine for it"


def vm_check(host: str, state: str | None, *, unseen: str = NO_VM_SOURCE) -> Check:
    """``state``: the lab machine's container state or the libvirt domain's (``absent``: the hypervisor
    has no such domain), or None where the page cannot see the VM (``unseen`` says why)."""
    if state is None:
        return Check("vm", host, UNKNOWN, unseen)
    if state == "running":
        return Check("vm", host, GREEN, "running")
    if state == "absent":
        return Check("vm", host, RED, "no such machine on the hypervisor: playbooks/hypervisor.yml makes it")
    return Check("vm", host, RED, state)


def decommissioned_check(host: str, since: str, state: str | None) -> Check:
    """A VM declared ``state: decommissioned``: neither backed up on schedule nor monitored any more;
    ``state`` as for ``vm_check`` (None: gone from the lab, or a VM the page cannot see)."""
    text = f"decommissioned on {since}"
    if state is None:
        return Check("vm", host, UNKNOWN, text)
    return Check("vm", host, AMBER, f"{text}; the machine is still there ({state}): "
                                    "playbooks/decommission.yml takes its last backup and removes it")


def offboarding_check(kind: str, name: str, since: str, present: bool | None) -> Check:
    """A zone, certificate or domain of a tenant being offboarded (``offboarding`` in its file): no
    longer served by the site; amber while it is still there, until playbooks/offboard.yml removes
    it (``present`` None: the page cannot tell, e.g. a domain)."""
    text = f"offboarding since {since}"
    if present:
        return Check(kind, name, AMBER, f"{text}; still there: playbooks/offboard.yml removes it")
    return Check(kind, name, UNKNOWN, text if present is None else f"{text}; removed")


NO_MONITORING = ("the status page reads it from the lab's machines, or from Prometheus on the monitoring "
                 "server (psf-infra status --monitoring)")


def backup_check(host: str, last_success: float | None, *, now: dt.datetime, seen: bool = True,
                 unseen: str = NO_MONITORING) -> Check:
    if not seen:
        return Check("backup", host, UNKNOWN, unseen)
    if last_success is None:
        return Check("backup", host, RED, "no successful backup yet")
    finished = dt.datetime.fromtimestamp(last_success, dt.UTC)
    hours = (now - finished).total_seconds() / 3600
    text = f"last success {finished:%Y-%m-%d %H:%M} UTC ({hours:.0f} h ago)"
    if hours > BACKUP_RED_HOURS:
        return Check("backup", host, RED, text)
    if hours > BACKUP_AMBER_HOURS:
        return Check("backup", host, AMBER, text + ": last night's backup is missing")
    return Check("backup", host, GREEN, text)


def app_check(app: str, host: str, port: int, path: str, answer: int | str | None, *,
              vm_state: str | None = "running") -> Check:
    """``answer``: the HTTP status of GET <path> on the app's port in its VM, or why none came; None
    (or ``vm_state`` None) where the page cannot ask."""
    where = f"{path} on {host} port {port}"
    if vm_state is None:
        return Check("app", app, UNKNOWN, NO_MONITORING)
    if vm_state != "running":
        return Check("app", app, RED, f"its VM {host} is {vm_state}")
    if answer is None:
        return Check("app", app, UNKNOWN, f"{where} was not asked")
    if isinstance(answer, str):
        return Check("app", app, RED, f"{where}: {answer}")
    if 200 <= answer < 400:
        return Check("app", app, GREEN, f"HTTP {answer} from {where}")
    return Check("app", app, RED, f"HTTP {answer} from {where}")


def app_probe_check(app: str, host: str, probe: tuple[float, str] | None, *, server: str,
                    vm_state: str | None = None, problem: str = "") -> Check:
    """An app as Prometheus's HTTPS probe of it on the monitoring server ``server`` sees it: ``probe``
    is (probe_success, the URL probed), None when Prometheus has no probe of the app."""
    if vm_state not in (None, "running"):
        return Check("app", app, RED, f"its VM {host} is {vm_state}")
    if problem:
        return Check("app", app, UNKNOWN, problem)
    if probe is None:
        return Check("app", app, UNKNOWN, f"Prometheus on {server} has no probe of it yet (playbooks/monitoring.yml "
                                          "renders the probe targets)")
    success, url = probe
    if success >= 1:
        return Check("app", app, GREEN, f"{url} answers Prometheus's HTTPS probe on {server}")
    return Check("app", app, RED, f"{url} fails Prometheus's HTTPS probe on {server}")


# ---------------------------------------------------------------------------------------------- the facts


@dataclass
class MonitoringFacts:
    """What Prometheus on the monitoring server holds (playbooks/status-facts.yml asks it there):
    the last successful backup per VM (``instance``: the inventory host) and the probe of each app."""

    server: str = ""
    backups: dict[str, float] = field(default_factory=dict)
    apps: dict[str, tuple[float, str]] = field(default_factory=dict)
    problem: str = ""  # why Prometheus could not be asked: every such check is unknown with it

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> MonitoringFacts:
        """From the file status-facts.yml writes: {server, prometheus, results: {backups, apps}}, each
        result as Prometheus's instant vector ([{metric: {...}, value: [time, "value"]}])."""
        facts = cls(server=str(answer.get("server", "")))
        results = answer.get("results") or {}
        for sample in results.get("backups") or []:
            host, value = sample["metric"].get("instance", ""), float(sample["value"][1])
            facts.backups[host] = max(value, facts.backups.get(host, value))
        for sample in sorted(results.get("apps") or [], key=lambda s: s["metric"].get("instance", "")):
            app, value = sample["metric"].get("app", ""), float(sample["value"][1])
            if app not in facts.apps or value < facts.apps[app][0]:  # the worst probe of an app counts
                facts.apps[app] = (value, sample["metric"].get("instance", ""))
        return facts


def _failure(output: str) -> str:
    """The message of the first failed or unreachable task in ansible-playbook's output, or of its ERROR."""
    for line in output.splitlines():
        if line.startswith("fatal:") or line.startswith("[ERROR]"):
            found = re.search(r'"msg": "((?:[^"\\]|\\.)*)"', line)
            return (found.group(1) if found else line.strip())[:300]
    return ""


def monitoring_facts(inventory: str, root: Path, vault_password_file: str | None) -> MonitoringFacts:
    """Ask Prometheus on the monitoring server through playbooks/status-facts.yml (Ansible's own
    connection to that server: Prometheus listens on its loopback)."""
    with tempfile.TemporaryDirectory(prefix="psf-status-") as tmp:
        answer = Path(tmp) / "facts.json"
        extra = Path(tmp) / "vars.json"
        extra.write_text(json.dumps({"status_facts_file": str(answer)}))
        vault = ["--vault-password-file", vault_password_file] if vault_password_file else []
        env = {**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        try:
            proc = subprocess.run([sibling_tool("ansible-playbook"), "-i", inventory, *vault, "-e", f"@{extra}",
                                   str(root / "playbooks" / "status-facts.yml")], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return MonitoringFacts(problem="Prometheus on the monitoring server did not answer within 300 s "
                                           "(playbooks/status-facts.yml)")
        if proc.returncode != 0 or not answer.is_file():
            return MonitoringFacts(problem=f"Prometheus on the monitoring server could not be asked "
                                           f"(playbooks/status-facts.yml, exit {proc.returncode}"
                                           f"{': ' + why if (why := _failure(proc.stdout + proc.stderr)) else ''})")
        return MonitoringFacts.parse(json.loads(answer.read_text()))

def metrics_dir(cvars: Mapping[str, Any]) -> Path | None:
    """psf_metrics_textfile_dir as the playbooks see it (ansible-inventory does not template: the lab's
    ``{{ psf_lab_dir }}/metrics`` is resolved here); None when it cannot be known."""
    value = str(cvars.get("psf_metrics_textfile_dir") or "")
    if "{{ psf_lab_dir }}" in value and cvars.get("psf_lab_dir"):
        value = value.replace("{{ psf_lab_dir }}", str(cvars["psf_lab_dir"]))
    return Path(value) if value and "{{" not in value else None


@dataclass
class Facts:
    chain: dict[str, str] = field(default_factory=dict)  # zone -> secure/insecure/bogus
    expiry: dict[str, float] = field(default_factory=dict)  # domain -> unix time
    delegation: dict[str, str] = field(default_factory=dict)  # domain -> status

    @classmethod
    def read(cls, directory: Path | None) -> Facts:
        facts = cls()
        if directory is None:
            return facts
        for name, labels, value in metrics.read_samples(directory / "psf_domains.prom"):
            if name == "psf_domain_expiry_timestamp_seconds":
                facts.expiry[labels.get("domain", "")] = value
            elif name == "psf_dnssec_chain_status" and value == 1:
                facts.chain[labels.get("zone", "")] = labels.get("status", "")
        for name, labels, value in metrics.read_samples(directory / "psf_tenant_delegations.prom"):
            if name == "psf_domain_delegation_status" and value == 1:
                facts.delegation[labels.get("domain", "")] = labels.get("status", "")
        return facts


def collect(inventory: Inventory, root: Path, now: dt.datetime,
            monitoring: MonitoringFacts | None = None) -> list[TenantStatus]:
    summary.use_collection(root)
    cvars = inventory.controller_vars
    servers = summary.name_servers(cvars)
    store = summary.certificate_store(cvars)
    machines = summary.lab_machines() if cvars.get("psf_lab_dir") else {}
    domains, unseen = summary.hypervisor_machines(cvars, summary.vm_hosts(inventory.tenants))
    facts = Facts.read(metrics_dir(cvars))
    tenants = []
    for name, record in sorted(inventory.tenants.items()):
        services = record.get("services") or {}
        status = TenantStatus(
            name=name, display_name=str(record.get("display_name") or name), kind=str(record.get("kind", "")),
            status=str(record.get("status", "active")), approval=dict(record.get("approval") or {}),
            liaisons=[f"{m.get('name')} <{m.get('email')}>" for m in record.get("members") or []
                      if m.get("notify", True)],
            services={key: len(value) for key, value in services.items() if isinstance(value, list)})
        offboarding = record.get("offboarding") or {}
        if offboarding:
            since = str(offboarding.get("started_on"))
            for zone in services.get("zones") or []:
                zone_name = str(zone["name"]).rstrip(".")
                served = any(isinstance(value, int) for value in summary.serials_of(zone_name, servers).values())
                status.checks.append(offboarding_check("zone", zone_name, since, served))
            for certificate in services.get("certificates") or []:
                status.checks.append(offboarding_check("certificate", certificate["name"], since,
                                                       (store / name / certificate["name"]).exists()))
            for domain in services.get("domains") or []:
                status.checks.append(offboarding_check("domain", str(domain["name"]).rstrip("."), since, None))
            services = {**services, "zones": [], "certificates": [], "domains": [], "apps": []}
        for zone in services.get("zones") or []:
            zone_name = str(zone["name"]).rstrip(".")
            status.checks.append(zone_check(zone_name, summary.serials_of(zone_name, servers)))
            if zone.get("dnssec", True):
                status.checks.append(dnssec_check(zone_name, facts.chain.get(zone_name)))
        for domain in services.get("domains") or []:
            domain_name = str(domain["name"]).rstrip(".")
            status.checks.append(domain_check(domain_name, str(domain.get("registrar", "psf")), now=now,
                                              expires=facts.expiry.get(domain_name),
                                              delegation=facts.delegation.get(domain_name)))
        for certificate in services.get("certificates") or []:
            cert, problem = summary.read_certificate(store / name / certificate["name"] / "cert.pem")
            status.checks.append(certificate_check(
                certificate["name"], cert.not_valid_before_utc if cert else None,
                cert.not_valid_after_utc if cert else None, now=now, problem=problem))
        for vm in services.get("vms") or []:
            host = f"{vm['name']}.{name}"
            container = machines.get(host)
            state = container[1] if container else domains.get(host)
            if vm.get("state") == "decommissioned":
                status.checks.append(decommissioned_check(host, str(vm.get("decommissioned_on")),
                                                          None if state == "absent" else state))
                continue
            status.checks.append(vm_check(host, state, unseen=unseen or NO_VM_SOURCE))
            if monitoring is not None:
                status.checks.append(monitored_backup(host, monitoring, now))
            else:
                status.checks.append(lab_backup(host, container, now))
        for app in services.get("apps") or []:
            host = f"{app['vm']}.{name}"
            container = machines.get(host)
            if monitoring is not None:
                status.checks.append(app_probe_check(
                    str(app["name"]), host, monitoring.apps.get(str(app["name"])), server=monitoring.server,
                    vm_state=container[1] if container else domains.get(host), problem=monitoring.problem))
                continue
            port, path = int(app["port"]), str(app.get("health_path") or "/")
            running = container is not None and container[1] == "running"
            answer = summary.lab_app_answer(container[0], port, path) if running else None  # type: ignore[index]
            status.checks.append(app_check(str(app["name"]), host, port, path, answer,
                                           vm_state=container[1] if container else None))
        tenants.append(status)
    return tenants


def monitored_backup(host: str, monitoring: MonitoringFacts, now: dt.datetime) -> Check:
    if monitoring.problem:
        return backup_check(host, None, now=now, seen=False, unseen=monitoring.problem)
    return backup_check(host, monitoring.backups.get(host), now=now)


def lab_backup(host: str, container: tuple[str, str] | None, now: dt.datetime) -> Check:
    if container is None:
        return backup_check(host, None, now=now, seen=False)
    return backup_check(host, summary.lab_backup_timestamp(container[0]), now=now)


# ---------------------------------------------------------------------------------------------- the page

STYLE = (
    ":root{color-scheme:light dark}"
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem;line-height:1.4}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #8884;padding:.35rem;"
    "text-align:left;vertical-align:top}"
    ".health{display:inline-block;padding:0 .5rem;border-radius:.6rem;font-weight:600;white-space:nowrap}"
    ".green{background:#2e7d32;color:#fff}.amber{background:#f9a825;color:#000}.red{background:#c62828;color:#fff}"
    ".unknown{background:#757575;color:#fff}"
    # a check's row: a stripe of its colour at the left, the text on the page's own background
    ".check-green{--health:#2e7d32}.check-amber{--health:#f9a825}.check-red{--health:#c62828}"
    ".check-unknown{--health:#757575}tr[class^=check-]>td:first-child{border-left:.35rem solid var(--health)}"
    "@media (max-width:40rem){table,tbody,tr,td,th{display:block}thead{display:none}"
    "tr{border-bottom:1px solid #8886;padding:.4rem 0}td{border:0;padding:.1rem 0}"
    "tr[class^=check-]{border-left:.35rem solid var(--health);padding-left:.6rem}"
    "tr[class^=check-]>td:first-child{border-left:0}"
    "tr[class^=check-]>td:nth-child(-n+2){display:inline;font-weight:600;padding-right:.4rem}}"
)


def badge(health: str) -> str:
    return f'<span class="health {html.escape(health)}">{html.escape(health)}</span>'


def page(title: str, body: str, generated: str) -> str:
    esc = html.escape
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1>{body}<p><small>Generated {esc(generated)} by psf-infra status.</small></p>"
            "</body></html>\n")


def index_html(tenants: Sequence[TenantStatus], generated: str, env: str) -> str:
    esc = html.escape
    rows = []
    for tenant in tenants:
        approval = ", ".join(str(tenant.approval.get(key)) for key in ("body", "date") if tenant.approval.get(key))
        services = ", ".join(f"{count} {kind}" for kind, count in tenant.services.items() if count) or "none"
        rows.append(
            f'<tr id="{esc(tenant.name)}"><td><a href="{esc(tenant.name)}.html">{esc(tenant.display_name)}</a>'
            f"<br><small>{esc(tenant.name)}</small></td><td>{esc(tenant.kind)}<br><small>{esc(tenant.status)}"
            f"</small></td><td>{esc(approval)}</td><td>{esc(', '.join(tenant.liaisons)) or 'nobody'}</td>"
            f"<td>{esc(services)}</td><td>{badge(tenant.health)}</td></tr>")
    counts = {health: sum(1 for tenant in tenants if tenant.health == health) for health in SEVERITY}
    body = (f"<p>{len(tenants)} tenants in {esc(env)}: "
            + ", ".join(f"{count} {health}" for health, count in counts.items() if count)
            + ". Liaisons are the members told about maintenance.</p>"
            "<table><thead><tr><th>Tenant</th><th>Kind</th><th>Approval</th><th>Liaisons</th><th>Services</th>"
            f"<th>Health</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return page("PSF Infra-WG tenants", body, generated)


def tenant_html(tenant: TenantStatus, generated: str) -> str:
    esc = html.escape
    rows = "".join(f'<tr class="check-{esc(check.health)}"><td>{esc(check.kind)}</td><td>{esc(check.name)}</td>'
                   f"<td>{badge(check.health)}</td><td>{esc(check.reason)}</td></tr>" for check in tenant.checks)
    body = (f'<p><a href="index.html">all tenants</a></p><p>{esc(tenant.name)}: {esc(tenant.kind)}, '
            f"{esc(tenant.status)}; liaisons: {esc(', '.join(tenant.liaisons)) or 'nobody'}. Overall "
            f"{badge(tenant.health)}</p>"
            + (f"<table><thead><tr><th>Service</th><th>Name</th><th>Health</th><th>Why</th></tr></thead>"
               f"<tbody>{rows}</tbody></table>" if rows else "<p>No service to check.</p>"))
    return page(tenant.display_name, body, generated)


def to_json(tenants: Sequence[TenantStatus], generated: str, env: str) -> dict[str, Any]:
    return {"generated": generated, "env": env, "health": worst(tenant.health for tenant in tenants),
            "tenants": [{**asdict(tenant), "health": tenant.health} for tenant in tenants]}


def write_site(tenants: Sequence[TenantStatus], directory: Path, *, env: str, now: dt.datetime) -> list[Path]:
    """index.html, <tenant>.html and status.json, each replaced atomically; the page of a tenant that
    was in the last status.json and is no longer in the registry is removed (nothing else is)."""
    generated = now.strftime("%Y-%m-%d %H:%M UTC")
    directory.mkdir(parents=True, exist_ok=True)
    try:  # the pages of the last run: only those are ours to remove
        before = [entry["name"] for entry in json.loads((directory / "status.json").read_text())["tenants"]]
    except (OSError, ValueError, KeyError, TypeError):
        before = []
    written = {directory / "index.html": index_html(tenants, generated, env),
               directory / "status.json": json.dumps(to_json(tenants, generated, env), indent=2) + "\n"}
    for tenant in tenants:
        written[directory / f"{tenant.name}.html"] = tenant_html(tenant, generated)
    for path, text in written.items():
        write_atomically(path, text)
    for name in before:
        stale = directory / f"{name}.html"
        if stale not in written:
            stale.unlink(missing_ok=True)
    return list(written)


def asks_monitoring(mode: str, inventory: Inventory) -> bool:
    """Whether backups and apps come from Prometheus on the monitoring server (``--monitoring``):
    ``always``; ``never``; ``auto`` when the inventory has a monitoring server and its VMs are not
    the lab's podman machines, whose insides the page reads itself: production, and the lab's site on
    libvirt guests (``make demo VM_PROVIDER=libvirt``: a lab inventory that names a hypervisor)."""
    if mode in ("always", "never"):
        return mode == "always"
    group = inventory.data.get("monitoring_servers", {})
    if not (group.get("hosts") or group.get("children")):
        return False
    cvars = inventory.controller_vars
    return not cvars.get("psf_lab_dir") or bool(cvars.get("psf_hypervisor"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="psf-infra status")
    parser.add_argument("-i", "--inventory", default="inventories/lab")
    parser.add_argument("-o", "--output", metavar="DIR")
    parser.add_argument("--vault-password-file")
    parser.add_argument("--metrics-dir", metavar="DIR", help="write psf_infra_run_status.prom there")
    parser.add_argument("--stale-after", type=float, default=3600.0, metavar="SECONDS")
    parser.add_argument("--monitoring", choices=["auto", "always", "never"], default="auto",
                        help="read backups and apps from Prometheus on the monitoring server (auto: outside the lab, "
                        "and in the lab when its VMs are libvirt guests)")
    args = parser.parse_args(argv)
    root = project_root()
    started, wall = time.monotonic(), time.time()

    def record(invalid_registry: str = "") -> None:
        """The run's metrics, as `psf-infra run` writes a playbook's: the timer's alerts read them."""
        if args.metrics_dir:
            result = PlaybookResult(playbook="status", status="failed" if invalid_registry else "successful",
                                    rc=EXIT_INVALID_REGISTRY if invalid_registry else 0,
                                    seconds=time.monotonic() - started, started=wall,
                                    invalid_registry=invalid_registry)
            metrics.write(Path(args.metrics_dir), result, args.stale_after)

    try:
        inventory = read_inventory(args.inventory, root, args.vault_password_file)
    except InventoryError as err:
        print(err, file=sys.stderr)
        record(invalid_registry=str(err))
        return EXIT_INVALID_REGISTRY
    now = dt.datetime.now(dt.UTC)
    ask = asks_monitoring(args.monitoring, inventory)
    monitoring = monitoring_facts(args.inventory, root, args.vault_password_file) if ask else None
    tenants = collect(inventory, root, now, monitoring)
    directory = Path(args.output) if args.output else root / ".cache" / "status"
    env = str(inventory.controller_vars.get("psf_registry_env", args.inventory))
    write_site(tenants, directory, env=env, now=now)
    record()
    overall = worst(tenant.health for tenant in tenants)
    print(f"psf-infra status: {len(tenants)} tenants, overall {overall}: {directory / 'index.html'}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
