"""The tenant status page (src/psf_infra_runner/status.py): each rule's green / amber / red /
unknown and its reason, the metrics it reads, and the pages it writes (plain HTML parsed back, the
JSON twin)."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from psf_infra_runner import status
from psf_infra_runner.status import AMBER, GREEN, RED, UNKNOWN

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def days(n: float) -> dt.datetime:
    return NOW + dt.timedelta(days=n)


@pytest.mark.parametrize(("serials", "health", "reason"), [
    ({"primary": 7, "secondary1": 7}, GREEN, "serial 7 on 2 name servers"),
    ({"primary": 8, "secondary1": 7}, AMBER, "different serials (primary 8, secondary1 7)"),
    ({"primary": 8, "secondary1": "unreachable (timed out)"}, RED, "secondary1: unreachable (timed out)"),
    ({"primary": "not served (NOTAUTH)", "secondary1": 7}, RED, "primary: not served (NOTAUTH)"),
    ({}, UNKNOWN, "no name server is known"),
])
def test_zone(serials, health, reason):
    check = status.zone_check("packaging.test", serials)
    assert (check.health, check.kind, check.name) == (health, "zone", "packaging.test") and reason in check.reason


@pytest.mark.parametrize(("chain", "health"), [("secure", GREEN), ("insecure", AMBER), ("bogus", RED),
                                               (None, UNKNOWN)])
def test_dnssec(chain, health):
    assert status.dnssec_check("packaging.test", chain).health == health


@pytest.mark.parametrize(("left", "health", "reason"), [
    (200, GREEN, "(200 days)"), (29.5, AMBER, "renewal is due"), (13.5, RED, "renew now"), (-2, RED, "expired"),
])
def test_domain_we_register_by_its_expiry(left, health, reason):
    check = status.domain_check("packaging.test", "psf", expires=days(left).timestamp(), now=NOW)
    assert check.health == health and reason in check.reason
    assert status.domain_check("packaging.test", "psf", now=NOW).health == UNKNOWN


@pytest.mark.parametrize(("delegation", "health"), [("correct", GREEN), ("ds_missing", AMBER), ("wrong_ns", AMBER),
                                                     ("lame", RED), ("stale_ds", RED), ("missing", RED),
                                                     (None, UNKNOWN)])
def test_domain_the_tenant_registers_by_its_delegation(delegation, health):
    check = status.domain_check("pyladies.test", "tenant", delegation=delegation, now=NOW,
                                expires=days(-5).timestamp())  # an expiry is not ours to judge there
    assert check.health == health and "registered by the tenant" in check.reason


def test_certificate_green_until_two_thirds_of_its_life_then_amber_then_red():
    # 90 days, issued 10 days ago: due at day 60
    assert status.certificate_check("web", days(-10), days(80), now=NOW).health == GREEN
    late = status.certificate_check("web", days(-70), days(20), now=NOW)
    assert late.health == AMBER and "due for renewal since" in late.reason
    assert status.certificate_check("web", days(-95), days(-5), now=NOW).health == RED
    assert status.certificate_check("web", None, None, now=NOW).reason == "not issued yet"
    assert status.certificate_check("web", None, None, now=NOW, problem="unreadable (x)").health == RED


def test_app():
    def check(answer, state="running"):
        return status.app_check("guide", "web1.packaging", 8080, "/health", answer, vm_state=state)

    assert (check(200).health, check(200).reason) == (GREEN, "HTTP 200 from /health on web1.packaging port 8080")
    assert check(302).health == GREEN
    assert (check(503).health, check(503).reason) == (RED, "HTTP 503 from /health on web1.packaging port 8080")
    assert check(404).health == RED
    refused = check("no answer: [Errno 111] Connection refused")
    assert refused.health == RED and refused.reason.endswith("port 8080: no answer: [Errno 111] Connection refused")
    assert (check(None, "exited").health, check(None, "exited").reason) == (RED, "its VM web1.packaging is exited")
    assert check(None, None).health == UNKNOWN


def test_vm_and_backup():
    assert status.vm_check("web1.packaging", "running").health == GREEN
    assert status.vm_check("web1.packaging", "exited").health == RED
    assert status.vm_check("web1.packaging", None).health == UNKNOWN
    assert status.vm_check("web1.packaging", None).reason == status.NO_VM_SOURCE
    assert status.vm_check("web1.packaging", None, unseen="libvirt hv1: connect failed").reason == \
        "libvirt hv1: connect failed"
    absent = status.vm_check("web1.packaging", "absent")
    assert (absent.health, absent.reason) == (
        RED, "no such machine on the hypervisor: playbooks/hypervisor.yml makes it")
    hours = dt.timedelta(hours=1)
    assert status.backup_check("h", (NOW - 3 * hours).timestamp(), now=NOW).health == GREEN
    assert status.backup_check("h", (NOW - 30 * hours).timestamp(), now=NOW).health == AMBER
    assert status.backup_check("h", (NOW - 60 * hours).timestamp(), now=NOW).health == RED
    assert status.backup_check("h", None, now=NOW).health == RED
    assert status.backup_check("h", None, now=NOW, seen=False).health == UNKNOWN


def test_the_worst_check_is_the_tenants_health():
    assert status.worst([GREEN, UNKNOWN, AMBER]) == AMBER
    assert status.worst([GREEN, RED, AMBER]) == RED
    assert status.worst([GREEN, UNKNOWN]) == UNKNOWN
    assert status.worst([]) == GREEN


def test_facts_come_from_the_playbooks_textfiles(tmp_path):
    (tmp_path / "psf_domains.prom").write_text(
        "# HELP psf_domain_expiry_timestamp_seconds x\n# TYPE psf_domain_expiry_timestamp_seconds gauge\n"
        'psf_domain_expiry_timestamp_seconds{domain="packaging.test",tenant="packaging"} 1.8e+09\n'
        'psf_dnssec_chain_status{status="secure",tenant="packaging",zone="packaging.test"} 1\n'
        'psf_dnssec_chain_status{status="bogus",tenant="packaging",zone="packaging.test"} 0\n')
    (tmp_path / "psf_tenant_delegations.prom").write_text(
        'psf_domain_delegation_status{domain="pyladies.test",status="correct",tenant="pyladies"} 0\n'
        'psf_domain_delegation_status{domain="pyladies.test",status="lame",tenant="pyladies"} 1\n')
    facts = status.Facts.read(tmp_path)
    assert facts.expiry == {"packaging.test": 1.8e9}
    assert facts.chain == {"packaging.test": "secure"} and facts.delegation == {"pyladies.test": "lame"}
    assert status.Facts.read(tmp_path / "absent") == status.Facts()
    assert status.metrics_dir({"psf_metrics_textfile_dir": "{{ psf_lab_dir }}/metrics", "psf_lab_dir": "/l"}) \
        == Path("/l/metrics")
    assert status.metrics_dir({"psf_metrics_textfile_dir": "{{ other }}/m"}) is None


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.links += [value for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data):
        self.text.append(data)


def tenant(name: str, *checks: status.Check) -> status.TenantStatus:
    return status.TenantStatus(name=name, display_name=f"<{name}> & co", kind="working-group", status="active",
                               approval={"body": "psf-board", "date": "2024-06-20"},
                               liaisons=[f"Ada <ada@{name}.test>"], services={"zones": 1}, checks=list(checks))


def test_the_site_and_its_json_twin(tmp_path):
    tenants = [tenant("good", status.Check("zone", "good.test", GREEN, "serial 7 on 2 name servers")),
               tenant("broken", status.Check("zone", "broken.test", RED, "secondary1: unreachable"))]
    status.write_site([*tenants, tenant("gone")], tmp_path, env="lab", now=NOW)
    (tmp_path / "notes.html").write_text("not the status page's")
    written = status.write_site(tenants, tmp_path, env="lab", now=NOW)
    assert sorted(path.name for path in written) == ["broken.html", "good.html", "index.html", "status.json"]
    # A tenant that left the registry loses its page; a file the page did not write stays.
    assert not (tmp_path / "gone.html").exists() and (tmp_path / "notes.html").exists()

    index = Text()
    index.feed((tmp_path / "index.html").read_text())
    text = " ".join(index.text)
    assert index.scripts == 0 and sorted(index.links) == ["broken.html", "good.html"]
    assert "<good> & co" in text and "Ada <ada@good.test>" in text and "psf-board, 2024-06-20" in text
    assert "2 tenants in lab: 1 red, 1 green" in text
    assert "<good>" not in (tmp_path / "index.html").read_text()  # escaped, not markup
    assert 'name=viewport content="width=device-width' in (tmp_path / "index.html").read_text()

    page = Text()
    page.feed((tmp_path / "broken.html").read_text())
    assert "secondary1: unreachable" in " ".join(page.text) and "index.html" in page.links

    data = json.loads((tmp_path / "status.json").read_text())
    assert data["health"] == RED and data["generated"] == "2026-12-04 12:00 UTC"
    assert [(t["name"], t["health"]) for t in data["tenants"]] == [("good", GREEN), ("broken", RED)]
    assert data["tenants"][1]["checks"] == [{"kind": "zone", "name": "broken.test", "health": RED,
                                             "reason": "secondary1: unreachable"}]


def test_vm_states_come_from_the_libvirt_hypervisor_the_inventory_names(tmp_path):
    """On libvirt's built-in test driver (its one domain is "test", running): a tenant VM's state by
    its machine name, "absent" for a VM without a domain, and the reason when libvirtd cannot be reached."""
    pytest.importorskip("libvirt")
    from psf_infra_runner import summary

    summary.use_collection(Path(__file__).resolve().parents[2])
    cvars = {"psf_hypervisor": {"provider": "libvirt", "uri": "test:///default"}}
    assert summary.hypervisor_machines(cvars, ["test", "web1.packaging"]) == (
        {"test": "running", "web1.packaging": "absent"}, "")
    assert summary.hypervisor_machines({"psf_hypervisor": {"provider": "libvirt", "uri": "test:///default"}},
                                      []) == ({}, "")
    unreachable = {"psf_hypervisor": {"provider": "libvirt", "uri": f"qemu:///system?socket={tmp_path}/none"}}
    states, why = summary.hypervisor_machines(unreachable, ["web1.packaging"])
    assert states == {} and why.startswith(f"libvirt qemu:///system?socket={tmp_path}/none: connect failed"), why
    assert summary.hypervisor_machines({}, ["web1.packaging"]) == ({}, "")
    assert summary.hypervisor_machines({"psf_hypervisor": {"provider": "podman"}}, ["web1.packaging"]) == ({}, "")


def test_prometheus_facts_and_the_checks_made_of_them():
    answer = {"server": "monitor1", "prometheus": "http://127.0.0.1:9090", "results": {
        "backups": [{"metric": {"instance": "web1.packaging", "vm": "web1"}, "value": [1, "1764900000"]},
                    {"metric": {"instance": "web1.packaging", "job": "node2"}, "value": [1, "1764800000"]}],
        "apps": [{"metric": {"app": "guide", "instance": "https://b.example/"}, "value": [1, "1"]},
                 {"metric": {"app": "guide", "instance": "https://a.example/"}, "value": [1, "0"]},
                 {"metric": {"app": "www", "instance": "https://www.example/health"}, "value": [1, "1"]}]}}
    facts = status.MonitoringFacts.parse(answer)
    assert facts.server == "monitor1" and facts.backups == {"web1.packaging": 1764900000.0}
    assert facts.apps == {"guide": (0.0, "https://a.example/"), "www": (1.0, "https://www.example/health")}

    now = dt.datetime.fromtimestamp(1764900000 + 3 * 3600, dt.UTC)
    assert status.monitored_backup("web1.packaging", facts, now).health == GREEN
    assert status.monitored_backup("db1.packaging", facts, now).reason == "no successful backup yet"
    down = status.MonitoringFacts(problem="Prometheus on the monitoring server could not be asked (exit 4)")
    assert status.monitored_backup("web1.packaging", down, now) == status.Check(
        "backup", "web1.packaging", UNKNOWN, "Prometheus on the monitoring server could not be asked (exit 4)")

    www = status.app_probe_check("www", "web1.x", facts.apps["www"], server="monitor1")
    assert (www.health, www.reason) == (
        GREEN, "https://www.example/health answers Prometheus's HTTPS probe on monitor1")
    guide = status.app_probe_check("guide", "web1.x", facts.apps["guide"], server="monitor1")
    assert (guide.health, guide.reason) == (RED, "https://a.example/ fails Prometheus's HTTPS probe on monitor1")
    assert status.app_probe_check("new", "web1.x", None, server="monitor1").health == UNKNOWN
    assert status.app_probe_check("www", "web1.x", facts.apps["www"], server="monitor1",
                                  vm_state="stopped") == status.Check("app", "www", RED, "its VM web1.x is stopped")
    assert status.app_probe_check("www", "web1.x", None, server="", problem=down.problem).reason == down.problem


def test_backups_and_apps_come_from_prometheus_where_the_page_cannot_look_into_the_vms():
    from psf_infra_runner.inventory import Inventory

    def inventory(controller: dict, monitoring: dict | None) -> Inventory:
        data = {"_meta": {"hostvars": {"localhost": {"psf_tenants": {}, **controller}}}}
        if monitoring is not None:
            data["monitoring_servers"] = monitoring
        return Inventory(data)

    server = {"hosts": ["monitor1"]}
    lab = {"psf_lab_dir": "/repo/.lab"}
    guests = {**lab, "psf_hypervisor": {"provider": "libvirt", "uri": "qemu:///system"}}
    production = {"psf_hypervisor": {"provider": "libvirt", "uri": "qemu+ssh://kvm1/system"}}
    auto = {name: status.asks_monitoring("auto", inventory(cvars, server))
            for name, cvars in (("lab", lab), ("guests", guests), ("production", production))}
    assert auto == {"lab": False, "guests": True, "production": True}
    assert status.asks_monitoring("auto", inventory(production, {"children": {"monitoring_eu": {}}}))
    assert not status.asks_monitoring("auto", inventory(production, None))  # nothing to ask
    assert not status.asks_monitoring("auto", inventory(production, {"hosts": []}))
    assert status.asks_monitoring("always", inventory(lab, None))
    assert not status.asks_monitoring("never", inventory(production, server))


def test_the_summary_says_where_each_vm_runs():
    """`psf-infra summary`'s line of a VM: a lab machine's container, else its libvirt domain on the
    inventory's hypervisor (hypervisor_machines, as the status page reads it), else why it cannot tell."""
    from psf_infra_runner import summary

    hostvars = {"web1.packaging": {"psf_lab_dir": "/repo/.lab"}, "docs1.packaging": {}}
    assert summary.vm_status("web1.packaging", hostvars, {}, {"web1.packaging": "running"}) == \
        "libvirt domain web1-packaging running"
    assert summary.vm_status("web1.packaging", hostvars, {}, {"web1.packaging": "stopped"}) == \
        "libvirt domain web1-packaging stopped"
    assert summary.vm_status("web1.packaging", hostvars, {}, {"web1.packaging": "absent"}) == \
        "no libvirt domain: playbooks/hypervisor.yml makes it"
    unreachable = "libvirt qemu:///system?socket=/none: connect failed"
    assert summary.vm_status("web1.packaging", hostvars, {}, {}, unreachable) == unreachable
    assert summary.vm_status("web1.packaging", hostvars, {}) == "no lab machine"
    assert summary.vm_status("docs1.packaging", hostvars, {}) == "in inventory"
    assert summary.vm_status("www1.pyladies", hostvars, {}) == "not in inventory"
