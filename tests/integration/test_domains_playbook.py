"""playbooks/domains.yml and playbooks/dns-tenant-instructions.yml on the lab, and the module they
write their metrics with (psf.infra.textfile_metrics).

- textfile_metrics (no lab): check mode writes nothing and shows the diff, a run writes the file, a
  second run changes nothing, bad input fails naming the field before anything is written;
- domains.yml (lab): the lab registry stands in for the tenants' own registrars too
  (psf_registrar_stand_in_zone): a tenant zone whose registrar is the tenant's, removed from `test.`,
  is delegated again and resolves through the lab's validating resolver; the metrics file holds the
  chain status of every zone we sign (secure) and promtool accepts it;
- domains.yml's list forms in the play (lab): with that zone's delegation removed, check mode with
  diff names it and changes nothing at the registry, a run delegates it again, and a second run
  changes nothing and loops over no domain (one task per step);
- dns-tenant-instructions.yml (lab): the exact NS records and the state at the parent for the
  tenant that keeps its own registrar; a DS at the parent that matches no key of the zone fails the
  run naming the tenant and the domain, after the report, and the metric says stale_ds.

Real servers only (the lab's BIND registry, ns1/ns2, unbound). Whatever a test changes at the
registry is put back in `finally`. These tests change the lab registry's delegation of a tenant zone
that `site.yml` keeps, so they run on the serial lab worker (tests/conftest.py), never beside
test_site.py or each other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl
from dns_support import REPO, run_playbook, task_results
from psf_lab.dnsclient import remove_delegation

INVENTORY = REPO / "inventories" / "lab"
TENANT_ZONE = "pyladies-berlin.test"  # registrar: tenant, unsigned (inventories/lab/tenants)
SIGNED_ZONE = "packaging.test"  # registrar: psf, signed
# A DS no zone of the lab has a key for.
FOREIGN_DS = "12345 13 2 " + "AB" * 32


def metrics_dir() -> Path:
    return labctl.LabPaths().root / "metrics"


def playbook(name: str, *more: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(INVENTORY),
               str(REPO / "playbooks" / name), *more]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)


def recap_changed(stdout: str) -> int:
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", stdout)
    assert match, stdout[-3000:]
    return int(match.group(1))


def resolve(lab, name: str, rdtype: str = "SOA", timeout: float = 30) -> dns.message.Message:
    request = dns.message.make_query(name, rdtype, want_dnssec=True)
    deadline = time.monotonic() + timeout
    while True:
        answer = dns.query.udp(request, "127.0.0.1", port=lab.port("resolver"), timeout=5)
        if answer.rcode() == dns.rcode.NOERROR or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def set_delegation(lab, zone: str, ds: list[str], nameservers: bool = True) -> None:
    """The registry holds exactly our NS and these DS for zone (nameservers=False: no delegation at all)."""
    key = labctl.lab_key("registry-key")
    if nameservers:
        records = [dns.rdata.from_text("IN", "DS", text) for text in ds]
        ns = dict.fromkeys(labctl.INFRA_NAMESERVERS, labctl.HOST)
        labctl.publish_delegation(lab.port("registry"), labctl.REGISTRY_ZONE, zone, key, records, ns)
    else:
        remove_delegation(lab.port("registry"), labctl.REGISTRY_ZONE, zone, key)
    labctl.flush_resolver(zone)


def words(text: str) -> str:
    """The output with every run of white space as one space (the callback wraps long messages)."""
    return " ".join(text.split())


# ---- psf.infra.textfile_metrics (no lab) ------------------------------------------------------

METRICS_TASK = {
    "name": "metrics",
    "psf.infra.textfile_metrics": {
        "path": "{{ target }}",
        "metrics": [{"name": "psf_domain_expiry_timestamp_seconds", "help": "expiry",
                     "samples": [{"labels": {"domain": "a.test", "tenant": "a"}, "value": "2027-01-31T00:00:00Z"}]}],
    },
}


def test_textfile_metrics_check_mode_apply_and_idempotence(tmp_path):
    target = tmp_path / "textfile" / "psf_domains.prom"
    extra = {"target": str(target)}
    checked = run_playbook(tmp_path, [METRICS_TASK], check=True, diff=True, extra_vars=extra)
    [result] = task_results(checked)
    assert result["changed"] and not target.exists()
    assert 'psf_domain_expiry_timestamp_seconds{domain="a.test",tenant="a"} 1801353600' in result["diff"]["after"]
    applied = run_playbook(tmp_path, [METRICS_TASK], extra_vars=extra)
    assert task_results(applied)[0]["changed"]
    assert target.read_text() == result["diff"]["after"]
    assert [p.name for p in target.parent.iterdir()] == ["psf_domains.prom"]
    again = run_playbook(tmp_path, [METRICS_TASK], extra_vars=extra)
    assert not task_results(again)[0]["changed"]


def test_textfile_metrics_refuses_bad_input_before_writing(tmp_path):
    target = tmp_path / "psf_domains.prom"
    bad = json.loads(json.dumps(METRICS_TASK))
    bad["psf.infra.textfile_metrics"]["metrics"][0]["samples"][0]["labels"] = {"bad-label": "x"}
    output = run_playbook(tmp_path, [bad], extra_vars={"target": str(target)})
    [result] = task_results(output)
    assert result["failed"]
    assert result["field"] == "metrics[0].samples[0].labels"
    assert "not a Prometheus label name" in result["msg"]
    assert not target.exists()


# ---- the playbooks on the lab -----------------------------------------------------------------


@pytest.fixture
def tenant_zones_served(lab):
    for zone in (SIGNED_ZONE, TENANT_ZONE):
        if labctl.soa_serial(lab.port("ns1"), zone + ".") is None:
            pytest.skip(f"{zone} is not on ns1 (run playbooks/dns.yml first)")


@pytest.mark.lab
@pytest.mark.slow
def test_domains_delegates_a_tenant_registrar_zone_in_the_lab_and_exports_the_chain(lab, tenant_zones_served):
    # The tenant's own registrar (the lab registry stands in for it) lost the delegation.
    set_delegation(lab, TENANT_ZONE, [], nameservers=False)
    try:
        assert labctl._parent_delegation(lab.port("registry"), TENANT_ZONE)[0] == set()
        # the resolver's stub reaches ns1, but the signed parent proves there is no delegation
        assert resolve(lab, TENANT_ZONE, timeout=0).rcode() == dns.rcode.SERVFAIL
        run = playbook("domains.yml")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert labctl._parent_delegation(lab.port("registry"), TENANT_ZONE)[0] == set(labctl.INFRA_NAMESERVERS)
        answer = resolve(lab, TENANT_ZONE)
        assert answer.rcode() == dns.rcode.NOERROR, answer
        # the signed zone validates: pebble's DNS-01 through the resolver depends on it
        signed = resolve(lab, SIGNED_ZONE)
        assert signed.rcode() == dns.rcode.NOERROR and signed.flags & dns.flags.AD
    finally:
        set_delegation(lab, TENANT_ZONE, [])
    text = (metrics_dir() / "psf_domains.prom").read_text()
    assert f'psf_dnssec_chain_status{{status="secure",tenant="packaging",zone="{SIGNED_ZONE}"}} 1' in text
    assert f'psf_dnssec_chain_status{{status="bogus",tenant="packaging",zone="{SIGNED_ZONE}"}} 0' in text
    assert f'psf_dnssec_signature_expiry_timestamp_seconds{{tenant="packaging",zone="{SIGNED_ZONE}"}} ' in text
    # unsigned: no chain to check (its domain's expiry is there: the lab registry's configured one)
    assert f'zone="{TENANT_ZONE}"' not in text
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                 timeout=60, check=False)
        assert "error" not in checked.stderr.lower(), checked.stderr


@pytest.mark.lab
@pytest.mark.slow
def test_tenant_instructions_report_and_a_stale_ds_fails_naming_the_tenant(lab, tenant_zones_served):
    run = playbook("domains.yml")  # the delegations as they should be
    assert run.returncode == 0, run.stdout[-4000:]
    report = playbook("dns-tenant-instructions.yml")
    assert report.returncode == 0, report.stdout[-4000:] + report.stderr[-2000:]
    out = words(report.stdout)
    assert f"Tenant pyladies-berlin (PyLadies Berlin), domain {TENANT_ZONE}: correct" in out, out[-3000:]
    assert f"{TENANT_ZONE}. 86400 IN NS ns1.infra.test." in out
    assert "set no DS record" in out
    delegations = metrics_dir() / "psf_tenant_delegations.prom"
    assert (f'psf_domain_delegation_status{{domain="{TENANT_ZONE}",status="correct",tenant="pyladies-berlin"}} 1'
            in delegations.read_text())
    check = playbook("dns-tenant-instructions.yml", "--check", "--diff")
    assert check.returncode == 0 and recap_changed(check.stdout) == 0, check.stdout[-3000:]

    set_delegation(lab, TENANT_ZONE, [FOREIGN_DS])  # a DS the unsigned zone has no key for
    try:
        stale = playbook("dns-tenant-instructions.yml")
        assert stale.returncode != 0
        out = words(stale.stdout)
        assert "STALE DS" in out
        assert f"tenant pyladies-berlin, domain {TENANT_ZONE}: the DS at the parent matches none" in out, out[-3000:]
        # reported before failing, and the metric says so
        assert out.index("STALE DS") < out.index("matches none of the zone's keys, so")
        text = delegations.read_text()
        assert (f'psf_domain_delegation_status{{domain="{TENANT_ZONE}",status="stale_ds",tenant="pyladies-berlin"}} 1'
                in text)
        # the lab's registrar run repairs it (the registry stands in for the tenant's registrar)
        repaired = playbook("domains.yml")
        assert repaired.returncode == 0, repaired.stdout[-3000:]
        assert labctl._parent_delegation(lab.port("registry"), TENANT_ZONE)[1] == set()
    finally:
        set_delegation(lab, TENANT_ZONE, [])


# ---- domains.yml's list forms in the play: check, diff, apply, again -----------------------------


@pytest.mark.lab
@pytest.mark.slow
def test_domains_playbook_check_diff_apply_again_without_loops(lab):
    zone = TENANT_ZONE  # rfc2136 at the lab registry, unsigned
    if labctl.soa_serial(lab.port("ns1"), zone + ".") is None:
        pytest.skip(f"{zone} is not on ns1 (run playbooks/dns.yml first)")
    set_delegation(lab, zone, [], nameservers=False)
    try:
        planned = playbook("domains.yml", "--check", "--diff")
        assert planned.returncode == 0, planned.stdout[-4000:] + planned.stderr[-2000:]
        out = words(planned.stdout)
        # the diff names the domain, and check mode changed nothing at the registry
        assert f"before: {zone} at rfc2136" in out and f"after: {zone} at rfc2136" in out, out[-3000:]
        assert labctl._parent_delegation(lab.port("registry"), zone)[0] == set()

        applied = playbook("domains.yml")
        assert applied.returncode == 0, applied.stdout[-4000:] + applied.stderr[-2000:]
        assert labctl._parent_delegation(lab.port("registry"), zone)[0] == set(labctl.INFRA_NAMESERVERS)
        assert f"{zone}: expires " in words(applied.stdout)

        again = playbook("domains.yml")
        assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-3000:]
        # one task per step: no task loops over the domains
        assert "(item=" not in again.stdout, again.stdout[:3000]
    finally:
        set_delegation(lab, zone, [])
