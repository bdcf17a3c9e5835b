"""The list forms of psf.infra.domain, psf.infra.domain_info (option ``domains``) and
psf.infra.dnssec_info (``zones``), run by the real ansible-playbook: one task, one module process,
the domains in threads (module_utils/parallel.py).

Against the Gandi API fake (tests/fakes/gandi_api.py, in this process) with the parent ``test.``
served on 127.0.0.1 by tests/fakes/authoritative.py: each domain's result equals the single form's;
check mode sends nothing that changes or costs, and its diff is a list naming each domain; a domain
whose write keeps failing with 5xx is reported (name, tenant, file, Gandi's words) after every other
domain converged, a rerun converges it, and the run after changes nothing; bad input in one item
fails naming its tenant, file and field before any request; the token never shows.
Against the lab (real BIND): dnssec_info's list form equals the single form zone by zone and reports
a zone that is not delegated in its item.
"""

from __future__ import annotations

import copy
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

pytestmark = pytest.mark.slow

NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]
KSK = "257 3 13 OeX5+4NnYH2SbNK5rjrItpChziLlDeV8xj/mSg4DVKKqJN/rjf48oxVHbJaVI1yoAOgzqFboVaTY8YNmteO22Q=="
KEY_BLOB = KSK.split(" ", 3)[3]
# domain -> (tenant, what the fake holds before the run, the dnskeys the task asks for)
DOMAINS = {
    "alpha.test": ("alpha", {"days_left": 12, "nameservers": ["ns-1.gandi.net"]}, [KSK]),
    "bravo.test": ("bravo", {"autorenew": True, "nameservers": NAMESERVERS}, []),
    "charlie.test": ("charlie", {"autorenew": False, "nameservers": NAMESERVERS,
                                 "keys": [{"flags": 257, "algorithm": 13, "public_key": KEY_BLOB}]}, [KSK]),
    "delta.test": ("delta", {"autorenew": True, "nameservers": ["ns1.infra.test"]}, None),
}


def tenant_file(tenant: str) -> str:
    return f"inventories/lab/tenants/{tenant}.yml"


@pytest.fixture
def parent():
    """``test.`` delegating every domain above to our name servers (no DS), on 127.0.0.1."""
    text = "".join(f"{name.removesuffix('.test')} 300 IN NS {ns}.\n" for name in DOMAINS for ns in NAMESERVERS)
    server = Server(make_zone("test.", text, None))
    try:
        yield server
    finally:
        server.stop()


def populate(api) -> None:
    for name, (_tenant, held, _keys) in DOMAINS.items():
        api.add_domain(name, **held)


def shared(api, parent_server) -> dict:
    return {"provider": "gandi", "timeout": 0.5, "root_servers": [{"server": "127.0.0.1", "port": 9}],
            "gandi": {"token": "{{ registrar_token }}", "url": api.url, "max_retry_wait": 0.05, "max_retries": 1},
            "renew_within_days": 30, "parent_servers": [{"server": "127.0.0.1", "port": parent_server.port}]}


def item(name: str) -> dict:
    tenant, _held, keys = DOMAINS[name]
    entry = {"name": name, "auto_renew": True, "nameservers": NAMESERVERS, "tenant": tenant,
             "source_file": tenant_file(tenant)}
    if keys is not None:
        entry["dnskeys"] = keys
    return entry


def list_task(api, parent_server, names=None, **more) -> dict:
    args = {**shared(api, parent_server), "domains": [item(name) for name in (names or DOMAINS)], **more}
    return {"name": "domains", "psf.infra.domain": args, "register": "kept", "ignore_errors": True}


def single_task(api, parent_server, name: str) -> dict:
    return {"name": name, "psf.infra.domain": {**shared(api, parent_server), **item(name)}, "ignore_errors": True}


def run(tmp_path: Path, tasks: list[dict], **kwargs) -> dict:
    output = run_playbook(tmp_path, tasks, extra_vars={"registrar_token": TOKEN}, **kwargs)
    assert TOKEN not in output["stdout"] + output["stderr"]
    return output


def comparable(result: dict) -> dict:
    """A domain's result without what differs between two runs of the same plan (retries, the
    registrar's messages) or between the forms (``name``, ``diff``, Ansible's own keys)."""
    kept = {key: value for key, value in result.items()
            if key not in ("name", "diff", "invocation", "action", "failed", "api_requests", "messages")
            and not key.startswith("_ansible")}
    kept.setdefault("changed", False)
    return kept


def test_list_form_results_equal_the_single_form(tmp_path, parent):
    from gandi_api import FakeGandi

    with FakeGandi(TOKEN) as single_api, FakeGandi(TOKEN) as list_api:
        populate(single_api)
        populate(list_api)
        singles = task_results(run(tmp_path, [single_task(single_api, parent, name) for name in DOMAINS],
                                   check=True, diff=True))
        listed = task_results(run(tmp_path, [list_task(list_api, parent)], check=True, diff=True))[0]
        assert not listed.get("failed"), listed.get("msg")
        assert [entry["name"] for entry in listed["domains"]] == list(DOMAINS)
        for single, entry in zip(singles, listed["domains"], strict=True):
            assert comparable(entry) == comparable(single), entry["name"]
        assert listed["changed"] is True
        # the diff: one before/after a changed domain, its header naming it
        assert [d["before_header"] for d in listed["diff"]] == [
            f"{name} at gandi" for name, single in zip(DOMAINS, singles, strict=True) if single["changed"]]
        assert [d["after"] for d in listed["diff"]] == [s["diff"]["after"] for s in singles if s["changed"]]
        # the same reads and dry runs, nothing written
        assert single_api.writes() == [] and list_api.writes() == []
        assert sorted(r["path"] for r in list_api.requests) == sorted(r["path"] for r in single_api.requests)

        # applied by both forms: the registrar holds the same
        run(tmp_path, [single_task(single_api, parent, name) for name in DOMAINS])
        applied = task_results(run(tmp_path, [list_task(list_api, parent)]))[0]
        assert not applied.get("failed"), applied.get("msg")

        def held(api):
            return {name: (domain["nameservers"], domain["autorenew"]["enabled"],
                           [key["public_key"] for key in domain["dnskeys"]], domain["dates"]["registry_ends_at"][:10])
                    for name, domain in api.snapshot().items()}

        assert held(list_api) == held(single_api)

        # domain_info: the list form's items equal the single form's
        info_args = {k: v for k, v in shared(list_api, parent).items() if k != "renew_within_days"}
        info_args["nameserver_addresses"] = []
        single_infos = [{"name": name, "psf.infra.domain_info": {**info_args, "name": name, "nameservers": NAMESERVERS,
                                                                 **({"dnskeys": DOMAINS[name][2]}
                                                                    if DOMAINS[name][2] is not None else {})},
                         "ignore_errors": True} for name in DOMAINS]
        list_info = {"name": "infos", "psf.infra.domain_info": {
            **info_args, "nameservers": NAMESERVERS, "workers": 3,
            "domains": [{"name": name, **({"dnskeys": DOMAINS[name][2]} if DOMAINS[name][2] is not None else {})}
                        for name in DOMAINS]}, "ignore_errors": True}
        results = task_results(run(tmp_path, [*single_infos, list_info]))
        *single_info, listed_info = results
        assert [entry["name"] for entry in listed_info["domains"]] == list(DOMAINS)
        for single, entry in zip(single_info, listed_info["domains"], strict=True):
            assert comparable(entry) == comparable(single), entry["name"]


def test_check_mode_then_apply_then_nothing(tmp_path, api, parent):
    populate(api)
    before = api.snapshot()
    planned = task_results(run(tmp_path, [list_task(api, parent)], check=True, diff=True))[0]
    assert planned["changed"] is True and not planned.get("failed"), planned.get("msg")
    assert api.snapshot() == before and api.writes() == []
    assert [r["path"] for r in api.requests if r["dry_run"]] == ["/domain/domains/alpha.test/renew"]
    by_name = {entry["name"]: entry for entry in planned["domains"]}
    assert [a["action"] for a in by_name["alpha.test"]["actions"]] == ["renew", "auto_renew", "nameservers", "add_key"]
    assert [a["action"] for a in by_name["bravo.test"]["actions"]] == []
    assert by_name["bravo.test"]["changed"] is False

    applied = task_results(run(tmp_path, [list_task(api, parent)]))[0]
    assert applied["changed"] is True and not applied.get("failed"), applied.get("msg")
    held = api.snapshot()
    assert all(held[name]["nameservers"] == NAMESERVERS for name in DOMAINS)
    assert [key["public_key"] for key in held["alpha.test"]["dnskeys"]] == [KEY_BLOB]
    assert held["bravo.test"]["dnskeys"] == []

    writes = len(api.writes())
    again = task_results(run(tmp_path, [list_task(api, parent)], diff=True))[0]
    assert again["changed"] is False and not again.get("failed")
    assert all(entry["changed"] is False for entry in again["domains"])
    assert again["diff"] == []
    assert len(api.writes()) == writes


def test_one_failing_domain_is_reported_and_the_others_converge(tmp_path, api, parent):
    populate(api)
    # charlie's auto-renew change keeps failing with 503 (retried once, then given up)
    api.fail("PATCH", "/domain/domains/charlie.test/autorenew", status=503, times=2,
             body={"code": 503, "message": "Service Unavailable", "object": "HTTPServiceUnavailable"})
    output = run(tmp_path, [list_task(api, parent)])
    result = task_results(output)[0]
    assert result["failed"] is True
    assert result["msg"].startswith("1 of 4 domains failed")
    assert f"charlie.test (tenant charlie, {tenant_file('charlie')}): " in result["msg"]
    assert '503 after 2 attempts: "Service Unavailable"' in result["msg"]
    by_name = {entry["name"]: entry for entry in result["domains"]}
    assert [entry["name"] for entry in result["domains"]] == list(DOMAINS)
    failed = by_name["charlie.test"]
    assert (failed["failed"], failed["tenant"], failed["source_file"], failed["error"]) == (
        True, "charlie", tenant_file("charlie"), "GandiUnavailable")
    # every other domain is done, and says so
    for name in ("alpha.test", "bravo.test", "delta.test"):
        assert not by_name[name].get("failed") and "actions" in by_name[name], name
    held = api.snapshot()
    assert held["alpha.test"]["nameservers"] == NAMESERVERS and held["alpha.test"]["autorenew"]["enabled"] is True
    assert held["delta.test"]["nameservers"] == NAMESERVERS
    assert held["charlie.test"]["autorenew"]["enabled"] is False

    # the rerun converges charlie alone; the run after changes nothing
    rerun = task_results(run(tmp_path, [list_task(api, parent)]))[0]
    assert not rerun.get("failed"), rerun.get("msg")
    assert [entry["name"] for entry in rerun["domains"] if entry["changed"]] == ["charlie.test"]
    assert api.snapshot()["charlie.test"]["autorenew"]["enabled"] is True
    last = task_results(run(tmp_path, [list_task(api, parent)]))[0]
    assert last["changed"] is False and not last.get("failed")


def test_429_with_retry_after_is_retried_for_that_domain_alone(tmp_path, api, parent):
    populate(api)
    run(tmp_path, [list_task(api, parent)])  # converged
    api.requests.clear()
    api.fail("GET", "/domain/domains/bravo.test", status=429, retry_after=0.05, times=1)
    result = task_results(run(tmp_path, [list_task(api, parent)]))[0]
    assert not result.get("failed") and result["changed"] is False, result.get("msg")
    requests = {entry["name"]: entry["api_requests"] for entry in result["domains"]}
    assert requests["bravo.test"] == 2  # the 429, then the answer
    assert [r["status"] for r in api.requests if r["path"] == "/domain/domains/bravo.test"] == [429, 200]


def test_bad_token_fails_every_gandi_domain_naming_each(tmp_path, api, parent):
    populate(api)
    wrong = "pat_wrong-1b2c3d"
    output = run_playbook(tmp_path, [list_task(api, parent, names=["alpha.test", "bravo.test"])],
                          extra_vars={"registrar_token": wrong})
    result = task_results(output)[0]
    assert result["failed"] is True and result["msg"].startswith("2 of 2 domains failed")
    assert "alpha.test (tenant alpha" in result["msg"] and "bravo.test (tenant bravo" in result["msg"]
    assert all(entry["error"] == "RegistrarError" and "401" in entry["msg"] for entry in result["domains"])
    assert wrong not in output["stdout"] + output["stderr"]
    assert api.writes() == []


def test_bad_input_in_one_item_fails_before_any_request(tmp_path, api, parent):
    populate(api)
    task = list_task(api, parent)
    bad = copy.deepcopy(task)
    bad["psf.infra.domain"]["domains"][2]["dnskeys"] = ["257 3 13 not-base64!"]
    result = task_results(run(tmp_path, [bad]))[0]
    assert result["failed"] is True
    assert result["msg"].startswith(f"{tenant_file('charlie')}: tenant 'charlie': domains[2].dnskeys[0]: ")
    assert (result["tenant"], result["file"], result["field"]) == (
        "charlie", tenant_file("charlie"), "domains[2].dnskeys[0]")
    assert api.requests == []

    both = copy.deepcopy(bad)
    both["psf.infra.domain"]["domains"][0]["nameservers"] = []
    result = task_results(run(tmp_path, [both]))[0]
    assert result["msg"].startswith("2 items are wrong, nothing was changed: ")
    assert [error["field"] for error in result["errors"]] == ["domains[0].nameservers", "domains[2].dnskeys[0]"]
    assert api.requests == []

    mixed = copy.deepcopy(task)
    mixed["psf.infra.domain"]["name"] = "alpha.test"
    result = task_results(run(tmp_path, [mixed]))[0]
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


def test_a_no_op_list_run_costs_one_request_a_domain(tmp_path, api):
    """The parent serves each signed domain's DS: the keys are not read; domain_info reuses the read."""
    ds = dns.dnssec.make_ds("charlie.test.", dns.rdata.from_text("IN", "DNSKEY", KSK), "SHA256").to_text()
    names = ["bravo.test", "charlie.test"]
    text = "".join(f"{name.removesuffix('.test')} 300 IN NS {ns}.\n" for name in names for ns in NAMESERVERS)
    server = Server(make_zone("test.", text + f"charlie 300 IN DS {ds}\n", None))
    try:
        api.add_domain("bravo.test", autorenew=True, nameservers=NAMESERVERS)
        api.add_domain("charlie.test", autorenew=True, nameservers=NAMESERVERS,
                       keys=[{"flags": 257, "algorithm": 13, "public_key": KEY_BLOB}])
        keep = list_task(api, server, names=names)
        info = {"name": "info", "psf.infra.domain_info": {
            **{k: v for k, v in shared(api, server).items() if k != "renew_within_days"},
            "nameservers": NAMESERVERS,
            "domains": [{"name": "bravo.test", "registrar": "{{ kept.domains[0].registrar }}", "dnskeys": []},
                        {"name": "charlie.test", "registrar": "{{ kept.domains[1].registrar }}", "dnskeys": [KSK]}]}}
        kept, seen = task_results(run(tmp_path, [keep, info]))
        assert kept["changed"] is False and not kept.get("failed"), kept.get("msg")
        assert [(e["keys_read_from"], e["api_requests"]) for e in kept["domains"]] == [("parent", 1), ("parent", 1)]
        assert [e["ds_match"] for e in seen["domains"]] == [True, True]
        assert sorted(r["path"] for r in api.requests) == ["/domain/domains/bravo.test", "/domain/domains/charlie.test"]
    finally:
        server.stop()


# ---- psf.infra.dnssec_info on the lab --------------------------------------------------------------


def chain_args(lab) -> dict:
    return {"trust_anchor": lab.trust_anchor["root_key"],
            "root_servers": [{"server": "127.0.0.1", "port": lab.port("registry")}],
            "nameserver_addresses": [{"name": name, "address": "127.0.0.1", "port": lab.port(name.split(".")[0])}
                                     for name in ("ns1.infra.test", "ns2.infra.test")],
            "timeout": 3.0}


@pytest.mark.lab
def test_dnssec_info_list_form_equals_the_single_form(lab, tmp_path):
    zones = ["infra.test", "test.", "not-delegated-here.test"]
    singles = [{"name": zone, "psf.infra.dnssec_info": {**chain_args(lab), "zone": zone}, "ignore_errors": True}
               for zone in zones]
    listed = {"name": "all", "psf.infra.dnssec_info": {**chain_args(lab), "zones": zones, "workers": 2},
              "ignore_errors": True}
    for check in (False, True):
        *single, result = task_results(run_playbook(tmp_path, [*singles, listed], check=check))
        assert result["failed"] is True
        assert result["msg"].startswith("1 of 3 zones failed")
        assert "not-delegated-here.test.: " in result["msg"]
        assert [item["name"] for item in result["zones"]] == zones
        for one, item in zip(single, result["zones"], strict=True):
            if one.get("failed"):
                assert item["failed"] is True and item["msg"] == one["msg"] and item["error"] == one["error"]
                continue
            assert not item.get("failed")
            for key in ("zone", "status", "reason", "chain", "earliest_signature_expiry"):
                assert item[key] == one[key], (item["name"], key)
        assert [item.get("status") for item in result["zones"]] == ["secure", "secure", None]
