"""psf.infra.domain and psf.infra.domain_info run by the real ansible-playbook against the fake Gandi
API (tests/fakes/gandi_api.py, in this process, on 127.0.0.1): check mode plans and sends nothing
that changes or costs, apply, a second run changes nothing, 429 is retried, errors name the domain
and never show the token. No lab needed."""

from __future__ import annotations

import sys
from pathlib import Path

import dns.dnssec
import dns.rdata
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from authoritative import Server, make_zone
from dns_support import run_playbook, task_results
from gandi_api import TEST_TOKEN as TOKEN
from gandi_api import FakeGandi

pytestmark = pytest.mark.slow

DOMAIN = "packaging.test"
KSK = "257 3 13 OeX5+4NnYH2SbNK5rjrItpChziLlDeV8xj/mSg4DVKKqJN/rjf48oxVHbJaVI1yoAOgzqFboVaTY8YNmteO22Q=="
TENANT_FILE = "inventories/lab/tenants/packaging.yml"
KSK_DS = dns.dnssec.make_ds(DOMAIN + ".", dns.rdata.from_text("IN", "DNSKEY", KSK), "SHA256").to_text().upper()


@pytest.fixture
def dns_servers():
    """The parent ``test.`` (delegating packaging.test to ns1.infra.test, no DS) and packaging.test
    itself, served on 127.0.0.1 in this process: never a name server off this machine."""
    parent = Server(make_zone("test.", "packaging 300 IN NS ns1.infra.test.\n", None))
    child = Server(make_zone("packaging.test.", "", None))
    try:
        yield {"parent": parent, "child": child,
               "parent_servers": [{"server": "127.0.0.1", "port": parent.port}],
               "nameserver_addresses": [{"name": "ns1.infra.test", "address": "127.0.0.1", "port": child.port}]}
    finally:
        parent.stop()
        child.stop()


def domain_task(api: FakeGandi, **more) -> dict:
    args = {"name": DOMAIN, "provider": "gandi", "root_servers": [{"server": "127.0.0.1", "port": 9}],
            "timeout": 0.5,
            "gandi": {"token": "{{ registrar_token }}", "url": api.url, "max_retry_wait": 0.2},
            "auto_renew": True, "renew_within_days": 30, "nameservers": ["ns1.infra.test", "ns2.infra.test"],
            "dnskeys": [KSK], "tenant": "packaging", "source_file": TENANT_FILE}
    args.update(more)
    return {"name": "domain", "psf.infra.domain": args, "no_log": False}


def run(tmp_path: Path, tasks: list[dict], **kwargs) -> dict:
    return run_playbook(tmp_path, tasks, extra_vars={"registrar_token": TOKEN}, **kwargs)


def test_check_mode_plans_then_apply_then_nothing(tmp_path, api):
    api.add_domain(DOMAIN, days_left=12, nameservers=["ns-1.gandi.net"])
    before = api.snapshot()

    planned = run(tmp_path, [domain_task(api)], check=True, diff=True)
    result = task_results(planned)[0]
    assert planned["returncode"] == 0, planned["stdout"][-2000:]
    assert result["changed"] is True
    assert [a["action"] for a in result["actions"]] == ["renew", "auto_renew", "nameservers", "add_key"]
    assert result["diff"]["after"]["nameservers"] == ["ns1.infra.test", "ns2.infra.test"]
    assert api.snapshot() == before and api.writes() == []
    assert [r["path"] for r in api.requests if r["dry_run"]] == [f"/domain/domains/{DOMAIN}/renew"]

    applied = run(tmp_path, [domain_task(api)])
    assert task_results(applied)[0]["changed"] is True
    held = api.snapshot()[DOMAIN]
    assert held["nameservers"] == ["ns1.infra.test", "ns2.infra.test"] and held["autorenew"]["enabled"] is True

    writes = len(api.writes())
    again = run(tmp_path, [domain_task(api)], check=False, diff=True)
    assert task_results(again)[0]["changed"] is False
    assert len(api.writes()) == writes
    for output in (planned, applied, again):
        assert TOKEN not in output["stdout"] + output["stderr"]


def test_429_is_retried_by_the_module(tmp_path, api):
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[{"flags": 257, "algorithm": 13, "public_key": KSK.split(" ", 3)[3]}])
    api.fail("GET", f"/domain/domains/{DOMAIN}", status=429, retry_after=0.1, times=2)
    output = run(tmp_path, [domain_task(api)])
    result = task_results(output)[0]
    assert output["returncode"] == 0, output["stdout"][-2000:]
    assert result["changed"] is False
    assert result["api_requests"] == 4
    assert [r["status"] for r in api.requests[:3]] == [429, 429, 200]


def test_errors_name_the_domain_and_never_show_the_token(tmp_path, api):
    api.add_domain(DOMAIN)
    wrong = "pat_wrong-7e3d9c1b"
    output = run_playbook(tmp_path, [domain_task(api)], extra_vars={"registrar_token": wrong})
    result = task_results(output)[0]
    assert result["failed"] is True
    assert result["msg"].startswith(f"{DOMAIN}: Gandi API refused GET /domain/domains/{DOMAIN} with 401")
    assert result["error"] == "RegistrarError"
    assert wrong not in output["stdout"] + output["stderr"]


def test_registration_is_refused_without_register_true(tmp_path, api):
    output = run(tmp_path, [domain_task(api, name="unregistered.test")])
    result = task_results(output)[0]
    assert result["failed"] is True
    assert result["msg"].startswith(f"{TENANT_FILE}: tenant 'packaging': services.domains[].register: "
                                    "unregistered.test is not registered at gandi")
    assert (result["tenant"], result["file"]) == ("packaging", TENANT_FILE)
    assert api.writes() == [] and not any(r["dry_run"] for r in api.requests)


def test_domain_info_reads_the_registrar_and_the_parent(tmp_path, api, dns_servers):
    api.add_domain(DOMAIN, days_left=40.5, autorenew=True, nameservers=["ns1.infra.test"],
                   keys=[{"flags": 257, "algorithm": 13, "public_key": KSK.split(" ", 3)[3]}])
    task = {"name": "info", "psf.infra.domain_info": {
        "name": DOMAIN, "provider": "gandi", "gandi": {"token": "{{ registrar_token }}", "url": api.url},
        "parent_servers": dns_servers["parent_servers"], "nameserver_addresses": dns_servers["nameserver_addresses"],
        "nameservers": ["ns1.infra.test"], "dnskeys": [KSK]}}
    output = run(tmp_path, [task], check=True)
    result = task_results(output)[0]
    assert output["returncode"] == 0, output["stdout"][-2000:]
    assert (result["changed"], result["registered"], result["days_left"], result["auto_renew"]) == (
        False, True, 40, True)
    assert result["nameservers"] == ["ns1.infra.test"]
    assert result["ds"] == [KSK_DS]
    # The parent delegates to a server that answers, but serves no DS for the key the registrar holds.
    assert (result["delegation"], result["parent_nameservers"], result["parent_ds"]) == (
        "correct", ["ns1.infra.test"], [])
    assert result["ds_match"] is False and result["registrar_matches_parent"] is False
    assert api.writes() == []


def test_a_no_op_domain_run_costs_one_api_request_a_domain(tmp_path, api, dns_servers):
    """As playbooks/domains.yml runs them: the parent serves the zone's DS, so psf.infra.domain does
    not read the keys, and psf.infra.domain_info takes the registrar state psf.infra.domain read."""
    api.add_domain(DOMAIN, autorenew=True, nameservers=["ns1.infra.test", "ns2.infra.test"],
                   keys=[{"flags": 257, "algorithm": 13, "public_key": KSK.split(" ", 3)[3]}])
    dns_servers["parent"].zone = make_zone("test.", f"packaging 300 IN NS ns1.infra.test.\n"
                                                    f"packaging 300 IN NS ns2.infra.test.\n"
                                                    f"packaging 300 IN DS {KSK_DS}\n", None)
    info = {"name": "info", "psf.infra.domain_info": {
        "name": DOMAIN, "provider": "gandi", "gandi": {"token": "{{ registrar_token }}", "url": api.url},
        "registrar": "{{ kept.registrar }}", "parent_servers": dns_servers["parent_servers"],
        "nameserver_addresses": dns_servers["nameserver_addresses"], "dnskeys": [KSK]}}
    keep = domain_task(api, parent_servers=dns_servers["parent_servers"])
    output = run(tmp_path, [{**keep, "register": "kept"}, info])
    kept, seen = task_results(output)
    assert output["returncode"] == 0, output["stdout"][-2000:]
    assert (kept["changed"], kept["keys_read_from"], kept["api_requests"]) == (False, "parent", 1)
    assert (seen["ds_match"], seen["registrar_matches_parent"]) == (True, True)
    assert [r["path"] for r in api.requests] == [f"/domain/domains/{DOMAIN}"]
