"""The registrar providers (module_utils/registrar/) against the fake Gandi API (tests/fakes/gandi_api.py).

No network beyond 127.0.0.1: the fake is an HTTP server in this process that follows Gandi's
published contract (docs/registrar.md). The planning and the parts of the tenant registry that
belong to the registrar work are tested here too.
"""

from __future__ import annotations

import copy
import datetime
import email.utils
import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO / "tests" / "fakes")]

from ansible_collections.psf.infra.plugins.doc_fragments.registrar import ModuleDocFragment  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registrar import options  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registrar.base import (  # noqa: E402
    Desired,
    DnsKey,
    RegistrarError,
    plan_domain,
)
from ansible_collections.psf.infra.plugins.module_utils.registrar.domain_task import run_domain  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registrar.gandi import (  # noqa: E402
    GandiProvider,
    GandiUnavailable,
)
from ansible_collections.psf.infra.plugins.module_utils.registry import checks  # noqa: E402
from authoritative import Server, make_zone  # noqa: E402
from gandi_api import TEST_TOKEN as TOKEN  # noqa: E402
from gandi_api import FakeGandi  # noqa: E402

# Two ECDSA P-256 keys (flags 257: KSK/CSK) and a ZSK, as a zone publishes them.
KSK_OLD = "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
KSK_NEW = "257 3 13 OeX5+4NnYH2SbNK5rjrItpChziLlDeV8xj/mSg4DVKKqJN/rjf48oxVHbJaVI1yoAOgzqFboVaTY8YNmteO22Q=="
ZSK = "256 3 13 eufvEDgs29Af6oUFWTNIx+7UjTzMlWj4Vl0PTuOE57ts7ydcofSPLZ2VVEbTU36E38WhrlrUXfr0sxy+7FvDBw=="
DOMAIN = "packaging.test"



@pytest.fixture
def sleeps():
    return []


def parent_zone(ds: list[str] | None = None):
    """The parent zone ``test.`` as its registry serves it: the domain delegated, with ``ds``."""
    records = "packaging 300 IN NS ns1.infra.test.\npackaging 300 IN NS ns2.infra.test.\n"
    records += "".join(f"packaging 300 IN DS {ds_text}\n" for ds_text in ds or [])
    return make_zone("test.", records, None)


@pytest.fixture(autouse=True)
def parent():
    """The domain's parent zone, served on 127.0.0.1: psf.infra.domain asks it for the DS it serves
    (the witness of the registrar's keys). By default it serves no DS, so the keys are read."""
    server = Server(parent_zone())
    try:
        yield server
    finally:
        server.stop()


def provider(api: FakeGandi, sleeps: list | None = None, **more) -> GandiProvider:
    return GandiProvider(TOKEN, api.url, max_retries=more.pop("max_retries", 3),
                         max_retry_wait=more.pop("max_retry_wait", 5.0),
                         sleep=(sleeps.append if sleeps is not None else (lambda _s: None)), **more)


def params(api: FakeGandi, parent: Server | None = None, **more) -> dict:
    values = {"provider": "gandi", "name": DOMAIN, "register": False, "years": 1, "auto_renew": True,
              "parent_servers": [{"server": "127.0.0.1", "port": parent.port}] if parent else [],
              "root_servers": [{"server": "127.0.0.1", "port": 9}], "timeout": 0.5,
              "renew_within_days": 30, "nameservers": ["ns1.infra.test", "ns2.infra.test"], "dnskeys": [KSK_OLD, ZSK],
              "tenant": "packaging", "source_file": "inventories/lab/tenants/packaging.yml",
              "gandi": {"token": TOKEN, "url": api.url, "max_retries": 3, "max_retry_wait": 0.05}}
    values.update(more)
    return values


def ds_of(key_text: str, domain: str = DOMAIN) -> str:
    return dns.dnssec.make_ds(dns.name.from_text(domain), dns.rdata.from_text("IN", "DNSKEY", key_text),
                              "SHA256").to_text().upper()


def key_dict(key_text: str) -> dict:
    flags, _protocol, algorithm, public_key = key_text.split(" ", 3)
    return {"flags": int(flags), "algorithm": int(algorithm), "public_key": public_key}


# ---- the options and their documentation --------------------------------------------------------


def _facts(spec: dict) -> dict:
    out = {}
    for name, option in spec.items():
        fact = {key: option[key] for key in ("type", "default", "choices", "elements") if option.get(key) is not None}
        fact.setdefault("type", "str")
        if option.get("required"):
            fact["required"] = True
        if "options" in option or "suboptions" in option:
            fact["suboptions"] = _facts(option.get("options") or option.get("suboptions"))
        out[name] = fact
    return out


def test_the_doc_fragment_documents_exactly_the_registrar_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert all(option.get("description") for option in documented.values())
    assert _facts(documented) == _facts(options.REGISTRAR.argument_spec)


@pytest.mark.parametrize("fragment", ["WALK", "PARENT"])
def test_the_walk_and_parent_fragments_document_exactly_their_argument_spec(fragment):
    documented = yaml.safe_load(getattr(ModuleDocFragment, fragment))["options"]
    spec = options.WALK.argument_spec if fragment == "WALK" else {
        name: option for name, option in options.PARENT.argument_spec.items() if name not in options.WALK.argument_spec}
    assert all(option.get("description") for option in documented.values())
    assert _facts(documented) == _facts(spec)


def test_secrets_are_no_log():
    spec = options.REGISTRAR.argument_spec
    assert spec["gandi"]["options"]["token"]["no_log"] is True
    assert spec["rfc2136"]["options"]["tsig_key_secret"]["no_log"] is True


# ---- reading --------------------------------------------------------------------------------------


def test_read_gives_expiry_status_auto_renew_name_servers_and_ds(api):
    api.add_domain(DOMAIN, days_left=100.5, autorenew=True, nameservers=["NS1.Example.TEST"],
                   keys=[key_dict(KSK_OLD)], status=["clientTransferProhibited"])
    state = provider(api).read(DOMAIN)
    assert state.registered
    assert state.days_left() == 100
    assert state.expires.tzinfo is not None
    assert (state.auto_renew, state.nameservers, state.status) == (True, ["ns1.example.test"],
                                                                   ["clientTransferProhibited"])
    assert state.ds == [ds_of(KSK_OLD)]  # Gandi's digest is the DS dnspython computes from the key
    assert [key.identity for key in state.keys] == [DnsKey.from_text(KSK_OLD).identity]


def test_a_domain_gandi_does_not_hold_reads_as_not_registered(api):
    state = provider(api).read("elsewhere.test")
    assert not state.registered


def test_availability_and_price(api):
    offer = provider(api).availability("free.test")
    assert offer == {"available": True, "status": "available", "price": 18.72, "currency": "EUR"}
    api.add_domain("taken.test")
    assert provider(api).availability("taken.test")["available"] is False


# ---- the whole run of one domain ------------------------------------------------------------------


def test_check_mode_plans_sends_only_a_dry_run_then_apply_then_nothing(api):
    api.add_domain(DOMAIN, days_left=10, autorenew=False, nameservers=["ns-1.gandi.net"], keys=[key_dict(KSK_NEW)])
    before = api.snapshot()

    plan = run_domain(params(api), check_mode=True, diff=True)
    assert plan["changed"]
    assert [a["action"] for a in plan["actions"]] == ["renew", "auto_renew", "nameservers", "add_key", "delete_key"]
    assert api.snapshot() == before, "check mode changed the fake's state"
    assert api.writes() == [], "check mode sent a change"
    assert [r["path"] for r in api.requests if r["dry_run"]] == [f"/domain/domains/{DOMAIN}/renew"]
    assert plan["diff"]["after"]["nameservers"] == ["ns1.infra.test", "ns2.infra.test"]
    assert plan["diff"]["after"]["ds"] == [ds_of(KSK_OLD)]

    applied = run_domain(params(api), check_mode=False, diff=False)
    assert applied["changed"]
    state = api.snapshot()[DOMAIN]
    assert state["nameservers"] == ["ns1.infra.test", "ns2.infra.test"]
    assert state["autorenew"]["enabled"] is True
    assert [key["public_key"] for key in state["dnskeys"]] == [key_dict(KSK_OLD)["public_key"]]  # no ZSK sent
    assert datetime.datetime.fromisoformat(state["dates"]["registry_ends_at"].replace("Z", "+00:00")) > \
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=370)

    writes = len(api.writes())
    again = run_domain(params(api), check_mode=False, diff=False)
    assert (again["changed"], again["actions"]) == (False, [])
    assert len(api.writes()) == writes
    assert again["api_requests"] == 2  # the domain and its keys: nothing else on a no-op
    assert again["keys_read_from"] == "registrar"  # no parent was given, and port 9 is no root


def test_the_parent_serving_exactly_the_wanted_ds_saves_the_key_request(api, parent):
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_OLD)])
    parent.zone = parent_zone([ds_of(KSK_OLD)])
    result = run_domain(params(api, parent), check_mode=False, diff=False)
    assert (result["changed"], result["api_requests"], result["keys_read_from"]) == (False, 1, "parent")
    assert [r["path"] for r in api.requests] == [f"/domain/domains/{DOMAIN}"]
    assert result["registrar"]["ds"] == [ds_of(KSK_OLD)]


def test_a_parent_that_serves_another_ds_makes_the_keys_read_and_fixed(api, parent):
    # The registrar holds the old key, the zone now signs with the new one; the parent still serves the old DS.
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_OLD)])
    parent.zone = parent_zone([ds_of(KSK_OLD)])
    result = run_domain(params(api, parent, dnskeys=[KSK_NEW]), check_mode=False, diff=False)
    assert result["keys_read_from"] == "registrar"
    assert [a["action"] for a in result["actions"]] == ["add_key", "delete_key"]
    assert [key["public_key"] for key in api.snapshot()[DOMAIN]["dnskeys"]] == [key_dict(KSK_NEW)["public_key"]]


def test_a_stale_parent_with_the_registrar_already_right_changes_nothing(api, parent):
    # Sent to the registrar last run, not yet published by the registry: read, found right, left alone.
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_NEW)])
    parent.zone = parent_zone([ds_of(KSK_OLD)])
    result = run_domain(params(api, parent, dnskeys=[KSK_NEW]), check_mode=False, diff=False)
    assert (result["changed"], result["api_requests"], result["keys_read_from"]) == (False, 2, "registrar")


def test_an_unsigned_zone_whose_parent_serves_no_ds_costs_one_request(api, parent):
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True)
    result = run_domain(params(api, parent, dnskeys=[]), check_mode=False, diff=False)
    assert (result["changed"], result["api_requests"], result["keys_read_from"]) == (False, 1, "parent")


def test_a_domain_whose_dnssec_is_left_alone_costs_one_request_and_reports_its_ds_unread(api, parent):
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_OLD)])
    result = run_domain(params(api, parent, dnskeys=None), check_mode=False, diff=False)
    assert (result["changed"], result["api_requests"], result["keys_read_from"]) == (False, 1, None)
    assert result["registrar"]["ds"] is None


def test_the_parent_is_found_from_the_root_when_not_given(api):
    """No parent_servers: referrals are followed from root_servers (here a root and test. on loopback)."""
    test_zone = Server(parent_zone([ds_of(KSK_OLD)]))
    root = Server(make_zone(".", "test. 300 IN NS ns.test.lab.\n", None))
    try:
        api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                       keys=[key_dict(KSK_OLD)])
        values = params(api, root_servers=[{"server": "127.0.0.1", "port": root.port}],
                        nameserver_addresses=[{"name": "ns.test.lab", "address": "127.0.0.1", "port": test_zone.port}])
        result = run_domain(values, check_mode=False, diff=False)
        assert (result["api_requests"], result["keys_read_from"]) == (1, "parent")
    finally:
        test_zone.stop()
        root.stop()


def test_new_key_is_added_before_the_old_one_is_deleted(api):
    api.add_domain(DOMAIN, nameservers=["ns1.infra.test", "ns2.infra.test"], keys=[key_dict(KSK_OLD)],
                   autorenew=True)
    result = run_domain(params(api, dnskeys=[KSK_OLD, KSK_NEW]), check_mode=False, diff=False)
    assert [a["action"] for a in result["actions"]] == ["add_key"]
    result = run_domain(params(api, dnskeys=[KSK_NEW]), check_mode=False, diff=False)
    assert [a["action"] for a in result["actions"]] == ["delete_key"]
    writes = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in api.writes()]
    assert writes[0] == ("POST", "dnskeys") and writes[1][0] == "DELETE"
    assert api.snapshot()[DOMAIN]["dnskeys"][0]["digest"] == ds_of(KSK_NEW).split()[-1]


def test_renewal_only_inside_the_window(api):
    api.add_domain(DOMAIN, days_left=31, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_OLD)])
    assert run_domain(params(api), check_mode=False, diff=False)["changed"] is False
    result = run_domain(params(api, renew_within_days=40), check_mode=False, diff=False)
    assert [a["action"] for a in result["actions"]] == ["renew"]
    assert result["messages"] == ["Domain renewed."]
    assert run_domain(params(api, renew_within_days=40), check_mode=False, diff=False)["changed"] is False


def test_registration_needs_register_true_and_nothing_is_sent_without_it(api):
    with pytest.raises(InvalidInput) as refused:
        run_domain(params(api, name="new.test"), check_mode=False, diff=False)
    message = str(refused.value)
    assert "inventories/lab/tenants/packaging.yml" in message and "tenant 'packaging'" in message
    assert "new.test" in message and "register: true" in message
    assert api.writes() == [] and not any(r["dry_run"] for r in api.requests)


def test_registration_with_register_true_dry_run_in_check_mode_then_once(api):
    owner = {"given": "Ada", "family": "Packager", "email": "ada@packaging.test", "streetaddr": "1 Main St",
             "city": "Paris", "zip": "75001", "country": "FR", "type": "association"}
    wanted = params(api, name="new.test", register=True, gandi={**params(api)["gandi"], "owner": owner})
    plan = run_domain(wanted, check_mode=True, diff=False)
    assert plan["actions"][0]["action"] == "register"
    assert "new.test" not in api.snapshot()
    assert [r["path"] for r in api.requests if r["dry_run"]] == ["/domain/domains"]

    run_domain(wanted, check_mode=False, diff=False)
    held = api.snapshot()["new.test"]
    assert held["nameservers"] == ["ns1.infra.test", "ns2.infra.test"]
    assert held["autorenew"]["enabled"] is True
    assert run_domain(wanted, check_mode=False, diff=False)["changed"] is False
    assert [r["path"] for r in api.writes()].count("/domain/domains") == 1


def test_registration_refused_above_max_price_and_when_not_available(api):
    owner = {"given": "A", "family": "B", "email": "a@b.test", "streetaddr": "x", "city": "y", "zip": "1",
             "country": "FR", "type": "individual"}
    cheap = params(api, name="new.test", register=True, gandi={**params(api)["gandi"], "owner": owner,
                                                               "max_price": 5.0})
    with pytest.raises(RegistrarError, match=r"new.test: costs 18.72 EUR a year at Gandi, more than"):
        run_domain(cheap, check_mode=False, diff=False)
    api.unavailable.add("premium.test")
    taken = params(api, name="premium.test", register=True, gandi={**params(api)["gandi"], "owner": owner})
    with pytest.raises(RegistrarError, match=r"premium.test: cannot be registered at Gandi: its status is "):
        run_domain(taken, check_mode=False, diff=False)
    assert api.writes() == []


def test_gandi_validation_errors_are_quoted_with_the_domain(api):
    api.add_domain(DOMAIN)
    with pytest.raises(RegistrarError) as failed:
        provider(api).set_nameservers(DOMAIN, ["not a host"], None, check=False)
    assert str(failed.value) == (f"{DOMAIN}: Gandi API answered PUT /domain/domains/{DOMAIN}/nameservers with 400: "
                                 '"nameservers: must be a non-empty list of host names"')


def test_a_bad_token_names_the_domain_and_never_shows_the_token(api):
    api.add_domain(DOMAIN)
    wrong = "pat_wrong-secret-value"
    with pytest.raises(RegistrarError) as failed:
        GandiProvider(wrong, api.url).read(DOMAIN)
    message = str(failed.value)
    assert message.startswith(f"{DOMAIN}: Gandi API refused GET /domain/domains/{DOMAIN} with 401: \"The server could")
    assert "check the personal access token" in message
    assert wrong not in message and wrong not in repr(GandiProvider(wrong, api.url))


# ---- retries --------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(api, sleeps):
    api.add_domain(DOMAIN)
    api.fail("GET", f"/domain/domains/{DOMAIN}", status=429, retry_after=2, times=2)
    state = provider(api, sleeps).read(DOMAIN)
    assert state.registered
    assert sleeps == [2.0, 2.0]
    assert [r["status"] for r in api.requests][:3] == [429, 429, 200]


def test_retry_after_as_an_http_date_and_the_wait_is_bounded(api, sleeps):
    api.add_domain(DOMAIN)
    later = email.utils.format_datetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3600),
                                        usegmt=True)
    api.fail("GET", f"/domain/domains/{DOMAIN}", status=503, retry_after=later, times=1)
    provider(api, sleeps, max_retry_wait=7.0).read(DOMAIN)
    assert sleeps == [7.0]


def test_429_for_too_long_fails_naming_the_domain_and_quoting_gandi(api, sleeps):
    api.add_domain(DOMAIN)
    api.fail("GET", f"/domain/domains/{DOMAIN}", status=429, retry_after=1, times=10)
    with pytest.raises(GandiUnavailable) as failed:
        provider(api, sleeps, max_retries=2).read(DOMAIN)
    message = str(failed.value)
    assert f"GET /domain/domains/{DOMAIN} for {DOMAIN} failed: HTTP 429 after 3 attempts: " \
           '"Too many requests, slow down."' in message
    assert len(sleeps) == 2


def test_a_renewal_is_not_sent_twice_after_a_5xx_and_the_rerun_converges(api, sleeps):
    api.add_domain(DOMAIN, days_left=5, nameservers=["ns1.infra.test", "ns2.infra.test"], autorenew=True,
                   keys=[key_dict(KSK_OLD)])
    api.fail("POST", "/renew", status=502, times=1)
    with pytest.raises(GandiUnavailable, match="It may have been applied: it was not sent again"):
        run_domain(params(api), check_mode=False, diff=False)
    assert [r["path"] for r in api.requests].count(f"/domain/domains/{DOMAIN}/renew") == 1
    result = run_domain(params(api), check_mode=False, diff=False)
    assert [a["action"] for a in result["actions"]] == ["renew"]
    assert run_domain(params(api), check_mode=False, diff=False)["changed"] is False


def test_an_idempotent_write_is_retried_after_a_5xx(api, sleeps):
    api.add_domain(DOMAIN, nameservers=["ns-1.gandi.net"])
    api.fail("PUT", "/nameservers", status=500, times=1)
    provider(api, sleeps).set_nameservers(DOMAIN, ["ns1.infra.test"], None, check=False)
    assert api.snapshot()[DOMAIN]["nameservers"] == ["ns1.infra.test"]
    assert sleeps == [1.0]


def test_the_fake_lists_domains_in_pages_with_link_and_total_count(api):
    import json
    import urllib.request

    for index in range(5):
        api.add_domain(f"d{index}.test")
    # the fake, on 127.0.0.1
    request = urllib.request.Request(f"{api.url}/domain/domains?per_page=2&page=2",  # noqa: S310
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as response:  # noqa: S310
        page = json.loads(response.read())
        assert [item["fqdn"] for item in page] == ["d2.test", "d3.test"]
        assert response.headers["Total-Count"] == "5"
        assert response.headers["Link"] == f'<{api.url}/domain/domains?page=3&per_page=2>; rel="next"'


# ---- planning without a registrar -----------------------------------------------------------------


class _NoOp(GandiProvider):
    def __init__(self) -> None:
        pass


def test_plan_keeps_duplicate_keys_out():
    state_keys = [DnsKey.from_text(KSK_OLD), DnsKey.from_text(KSK_OLD)]
    from ansible_collections.psf.infra.plugins.module_utils.registrar.base import DomainState

    state = DomainState(DOMAIN, True, keys=state_keys, nameservers=["a.test"])
    actions, _notes = plan_domain(_NoOp(), state, Desired(DOMAIN, dnskeys=[DnsKey.from_text(KSK_OLD)]))
    assert [a.kind for a in actions] == ["delete_key"]


def test_bad_dnskey_is_refused_naming_the_field(api):
    with pytest.raises(InvalidInput, match=r"tenant 'packaging': dnskeys\[1\]: 'nonsense' is not DNSKEY"):
        run_domain(params(api, dnskeys=[KSK_OLD, "nonsense"]), check_mode=True, diff=False)
    assert api.requests == []


# ---- the tenant registry's new field ---------------------------------------------------------------

SETTINGS = {"size_presets": {"small": {"vcpus": 1, "memory_mib": 2048, "disk_gib": 20}}, "environment": "lab"}
TENANT = {
    "name": "packaging", "display_name": "Packaging WG", "kind": "working-group",
    "approval": {"body": "psf-membership", "date": "2023-03-15"}, "status": "active",
    "members": [{"name": "Ada", "email": "ada@packaging.test"}],
    "services": {"domains": [{"name": "packaging.test", "registrar": "psf", "register": True}]},
}


def _check(document: dict):
    return checks.check_tenant(document, file="/srv/tenants/packaging.yml",
                               config=checks.build_config(SETTINGS, source="tenants.yml"),
                               today=datetime.date(2026, 1, 15))


def test_register_is_a_tenant_field_false_by_default():
    result = _check(TENANT)
    assert result.problems == []
    assert result.record["services"]["domains"][0]["register"] is True
    plain = copy.deepcopy(TENANT)
    del plain["services"]["domains"][0]["register"]
    assert _check(plain).record["services"]["domains"][0]["register"] is False


def test_register_needs_registrar_psf():
    document = copy.deepcopy(TENANT)
    document["services"]["domains"][0]["registrar"] = "tenant"
    assert [str(p) for p in _check(document).problems] == [
        "/srv/tenants/packaging.yml: tenant 'packaging': services.domains[0].register: register: true needs "
        "registrar: psf (the Infra-WG registers only what it holds)"]
    document["services"]["domains"][0]["register"] = "yes"
    assert any("services.domains[0].register" in str(p) for p in _check(document).problems)


# ---- a transfer out (offboarding.domains: transfer) ---------------------------------------------


def transfer_params(api: FakeGandi, **more) -> dict:
    """What playbooks/offboard.yml asks for a domain leaving to another registrar: DS withdrawn, unlocked."""
    return params(api, auto_renew=None, nameservers=None, dnskeys=[], transfer_out=True, **more)


def test_transfer_out_checks_then_unlocks_and_gives_the_code_once(api):
    api.add_domain(DOMAIN, authinfo="s3cr3t-AUTH-code")
    before = api.snapshot()

    plan = run_domain(transfer_params(api), check_mode=True, diff=True)
    assert [a["action"] for a in plan["actions"]] == ["unlock"]
    assert plan["transfer"] == {"supported": True, "unlocked": False, "auth_code": None, "auth_code_expires": None}
    assert plan["diff"]["before"]["status"] == ["clientTransferProhibited"] and plan["diff"]["after"]["status"] == []
    assert api.snapshot() == before and api.writes() == [], "check mode sent a change"
    assert "s3cr3t-AUTH-code" not in repr(plan), "check mode returned the code"

    done = run_domain(transfer_params(api), check_mode=False, diff=True)
    assert done["changed"] and [a["action"] for a in done["actions"]] == ["unlock"]
    assert [(w["method"], w["path"]) for w in api.writes()] == [("PATCH", f"/domain/domains/{DOMAIN}/status")]
    assert api.snapshot()[DOMAIN]["status"] == []
    assert done["transfer"]["unlocked"] is True and done["transfer"]["auth_code"] == "s3cr3t-AUTH-code"
    # the code is only in transfer.auth_code: not in the registrar's state, the messages, the diff
    leftover = {key: value for key, value in done.items() if key != "transfer"}
    assert "s3cr3t-AUTH-code" not in repr(leftover)

    again = run_domain(transfer_params(api), check_mode=False, diff=True)
    assert (again["changed"], again["actions"]) == (False, []), "an unlocked domain was changed again"
    assert again["transfer"]["auth_code"] == "s3cr3t-AUTH-code" and len(api.writes()) == 1
    assert again["api_requests"] == 2  # the domain, and its keys (dnskeys: [] asks the registrar's)


def test_an_expired_code_is_made_anew_and_the_new_one_given(api):
    api.add_domain(DOMAIN, status=[], authinfo="old-code", authinfo_days_left=-1)

    done = run_domain(transfer_params(api), check_mode=False, diff=False)
    assert [a["action"] for a in done["actions"]] == ["auth_code"]
    assert [(w["method"], w["path"]) for w in api.writes()] == [("PUT", f"/domain/domains/{DOMAIN}/authinfo")]
    code = done["transfer"]["auth_code"]
    assert code and code != "old-code" and code == api.snapshot()[DOMAIN]["authinfo"]
    assert run_domain(transfer_params(api), check_mode=False, diff=False)["changed"] is False


def test_an_unlock_gandi_has_not_applied_yet_is_reported_not_unlocked(api):
    api.add_domain(DOMAIN, unlock_pending=True)

    done = run_domain(transfer_params(api), check_mode=False, diff=False)
    assert done["transfer"]["unlocked"] is False and done["transfer"]["auth_code"]
    assert api.snapshot()[DOMAIN]["status"] == ["clientTransferProhibited"]


def test_the_fake_refuses_a_lock_change_without_a_boolean(api):
    api.add_domain(DOMAIN)
    gandi = provider(api)
    with pytest.raises(Exception, match="clientTransferProhibited is required"):
        gandi.request("PATCH", f"/domain/domains/{DOMAIN}/status", DOMAIN, body={"clientTransferProhibited": "no"})


def test_the_code_is_never_in_the_state_s_dict_or_repr(api):
    api.add_domain(DOMAIN, authinfo="s3cr3t-AUTH-code")
    state = provider(api).read(DOMAIN, keys=False)
    assert state.auth_code == "s3cr3t-AUTH-code"
    assert "s3cr3t" not in repr(state) and "s3cr3t" not in repr(state.as_dict())


def test_a_domain_request_without_transfer_out_leaves_the_lock_and_returns_no_code(api):
    api.add_domain(DOMAIN)
    done = run_domain(params(api, auto_renew=None, nameservers=None, dnskeys=None), check_mode=False, diff=False)
    assert "transfer" not in done and done["actions"] == []
    assert api.snapshot()[DOMAIN]["status"] == ["clientTransferProhibited"]


def test_a_provider_without_transfers_notes_it_and_plans_nothing():
    from ansible_collections.psf.infra.plugins.module_utils.registrar.base import Desired, DomainState, plan_domain
    from ansible_collections.psf.infra.plugins.module_utils.registrar.rfc2136 import Rfc2136Provider

    lab = Rfc2136Provider.__new__(Rfc2136Provider)  # the flags only: nothing is sent
    actions, notes = plan_domain(lab, DomainState(DOMAIN, registered=True), Desired(DOMAIN, transfer_out=True))
    assert actions == []
    assert any(note.startswith("transfer out is not applicable at rfc2136") for note in notes)
