"""The rfc2136 registrar provider and psf.infra.domain / domain_info against the lab's real BIND
registry `test.` (the parent zone) and a fresh signed zone on ns1/ns2: check mode changes nothing at
the parent, the run publishes NS and the zone's DS, a second run changes nothing, a rollover adds the
new DS before the old one goes, and domain_info sees correct / lame / missing from the parent's own
name server. Real servers only; every delegation made is removed again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl
from dns_support import REPO, fresh_zone, primary, run_playbook, task_results

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]
NEW_KEY = "257 3 13 OeX5+4NnYH2SbNK5rjrItpChziLlDeV8xj/mSg4DVKKqJN/rjf48oxVHbJaVI1yoAOgzqFboVaTY8YNmteO22Q=="


def registry(lab) -> dict:
    key = lab.key("registry-key")
    return {"server": "127.0.0.1", "port": lab.port("registry"), "zone": "test.",
            "tsig_key_name": key["name"], "tsig_key_algorithm": key["algorithm"], "tsig_key_secret": key["secret"]}


def addresses(lab) -> list[dict]:
    return [{"name": "ns1.infra.test", "address": "127.0.0.1", "port": lab.port("ns1")},
            {"name": "ns2.infra.test", "address": "127.0.0.1", "port": lab.port("ns2")}]


def domain_task(lab, zone: str, **more) -> dict:
    args = {"name": zone, "provider": "rfc2136", "rfc2136": registry(lab), "nameservers": NAMESERVERS,
            "auto_renew": True, "tenant": "lab-test", "source_file": "tests/integration/test_domain_lab.py"}
    args.update(more)
    return {"name": "domain", "psf.infra.domain": args}


def info_task(lab, zone: str, **more) -> dict:
    args = {"name": zone, "provider": "rfc2136", "rfc2136": registry(lab), "nameservers": NAMESERVERS,
            "nameserver_addresses": addresses(lab)}
    args.update(more)
    return {"name": "info", "psf.infra.domain_info": args}


def zone_keys(lab, zone: str) -> list[str]:
    rrset = primary(lab).query(zone, "DNSKEY")
    assert rrset is not None, f"{zone} has no DNSKEY yet"
    return rrset.values()


def ds_of(zone: str, key: str) -> str:
    return dns.dnssec.make_ds(dns.name.from_text(zone), dns.rdata.from_text("IN", "DNSKEY", key),
                              "SHA256").to_text().upper()


def parent(lab, zone: str) -> tuple[set[str], set[str]]:
    ns, ds = labctl._parent_delegation(lab.port("registry"), zone)
    return ns, {text.upper() for text in ds}


def test_rfc2136_provider_delegates_with_the_zones_ds_check_apply_again_rollover(lab, tmp_path):
    with fresh_zone(lab, "registrar", signed=True) as zone:
        domain = zone.rstrip(".")
        try:
            keys = zone_keys(lab, zone)
            sep = [key for key in keys if int(key.split()[0]) & 1]
            assert sep

            missing = task_results(run_playbook(tmp_path, [info_task(lab, domain)]))[0]
            assert missing["delegation"] == "missing"

            plan = run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=keys)], check=True, diff=True)
            planned = task_results(plan)[0]
            assert plan["returncode"] == 0, plan["stdout"][-2000:]
            assert [a["action"] for a in planned["actions"]] == ["nameservers", "ds"]
            assert "registration and renewal are not applicable at rfc2136 (a parent zone we run)" in planned["notes"]
            assert "auto_renew is not applicable at rfc2136" in planned["notes"]
            assert parent(lab, zone) == (set(), set()), "check mode changed the parent"

            applied = task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=keys)]))[0]
            assert applied["changed"] is True
            assert parent(lab, zone) == ({"ns1.infra.test.", "ns2.infra.test."}, {ds_of(zone, k) for k in sep})

            again = task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=keys)]))[0]
            assert (again["changed"], again["actions"]) == (False, [])

            info = task_results(run_playbook(tmp_path, [info_task(lab, domain, dnskeys=keys)]))[0]
            assert info["delegation"] == "correct", info["problems"]
            assert (info["ds_match"], info["nameservers_match"]) == (True, True)
            assert info["parent_ds"] == sorted(ds_of(zone, k) for k in sep)

            # A rollover: the new key's DS is added while the old one stays, then the old one goes.
            new_key = NEW_KEY
            both = task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=[*keys, new_key])]))[0]
            assert [a["action"] for a in both["actions"]] == ["ds"]
            assert parent(lab, zone)[1] == {ds_of(zone, k) for k in [*sep, new_key]}
            stale = task_results(run_playbook(tmp_path, [info_task(lab, domain, dnskeys=keys)]))[0]
            assert stale["ds_match"] is False and stale["delegation"] == "correct"
            task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=keys)]))
            assert parent(lab, zone)[1] == {ds_of(zone, k) for k in sep}

            # Unsigned: no DS at all.
            task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=[])]))
            assert parent(lab, zone)[1] == set()
        finally:
            labctl.undelegate_zone(zone)


def test_domain_info_says_lame_when_a_listed_server_does_not_serve_the_zone(lab, tmp_path):
    with fresh_zone(lab, "lame", signed=False) as zone:
        domain = zone.rstrip(".")
        try:
            task_results(run_playbook(tmp_path, [domain_task(lab, domain, dnskeys=[])]))
            wrong = [addresses(lab)[0],
                     {"name": "ns2.infra.test", "address": "127.0.0.1", "port": lab.port("registry")}]
            lame = task_results(run_playbook(tmp_path, [info_task(lab, domain, nameserver_addresses=wrong)]))[0]
            assert lame["delegation"] == "lame"
            assert any(p.startswith(f"ns2.infra.test (127.0.0.1:{lab.port('registry')}) does not answer "
                                    f"authoritatively for {domain}") for p in lame["problems"])
            other = task_results(run_playbook(tmp_path, [info_task(lab, domain, nameservers=["ns1.infra.test"])]))[0]
            assert other["delegation"] == "mismatch"
        finally:
            labctl.undelegate_zone(zone)


def test_a_bad_registry_key_is_refused_naming_the_parent(lab, tmp_path):
    with fresh_zone(lab, "badkey", signed=False) as zone:
        domain = zone.rstrip(".")
        bad = {**registry(lab), "tsig_key_secret": "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="}
        output = run_playbook(tmp_path, [domain_task(lab, domain, rfc2136=bad, dnskeys=[])])
        result = task_results(output)[0]
        assert result["failed"] is True
        assert result["msg"].startswith(f"parent zone primary 127.0.0.1:{lab.port('registry')}: update of test.")
        assert "c2VjcmV0LXRoYXQtaXMtd3Jvbmc=" not in output["stdout"] + output["stderr"]
        assert parent(lab, zone) == (set(), set())


def _domains_playbook(*more: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
               str(REPO / "playbooks" / "domains.yml"), *more]
    return subprocess.run(command,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_domains_playbook_in_check_mode_against_the_lab(lab):
    completed = _domains_playbook("--check", "--diff")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert lab.key("registry-key")["secret"] not in completed.stdout + completed.stderr


def test_the_domains_playbook_converges_and_a_second_run_changes_nothing(lab):
    if labctl.soa_serial(lab.port("ns1"), "packaging.test.") is None:
        pytest.skip("the lab's tenant zones are not on ns1 (run playbooks/dns.yml first)")
    first = _domains_playbook()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    second = _domains_playbook()
    assert second.returncode == 0, second.stdout[-3000:]
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=0\s", second.stdout), second.stdout[-3000:]
    # the expiry configured for the lab registry (inventories/lab/group_vars/all/registrar.yml)
    assert re.search(r"packaging\.test: expires 2036-12-31T00:00:00\+00:00 \(\d+ days\), delegation correct",
                     second.stdout), second.stdout[-3000:]


def test_the_gandi_fake_is_a_registrar_of_the_lab_registry_and_delv_validates_through_it(lab, tmp_path):
    """The Gandi fake with the lab registry behind it (labctl.registry_view): the domain is held at
    the fake with Gandi's own name servers, psf.infra.domain (provider gandi) sets ours and the
    zone's key-signing key through the API, the lab registry `test.` then serves exactly that, and
    delv validates a name of the zone from the lab root. A second run sends nothing to the API."""
    sys.path.insert(0, str(REPO / "tests" / "fakes"))
    from gandi_api import TEST_TOKEN, FakeGandi

    with fresh_zone(lab, "gandi", "www 60 A 127.0.0.9\n", signed=True) as zone:
        domain = zone.rstrip(".")
        try:
            with FakeGandi(TEST_TOKEN, registry=labctl.registry_view) as api:
                api.add_domain(domain, days_left=200, nameservers=["ns-1.gandi.net", "ns-2.gandi.net"])
                assert parent(lab, zone) == ({"ns-1.gandi.net.", "ns-2.gandi.net."}, set())

                sep = [key for key in zone_keys(lab, zone) if int(key.split()[0]) & 1]
                task = {"name": "domain", "psf.infra.domain": {
                    "name": domain, "provider": "gandi", "nameservers": NAMESERVERS, "dnskeys": sep,
                    "gandi": {"token": "{{ registrar_token }}", "url": api.url, "max_retry_wait": 0.2},
                    "auto_renew": True, "renew_within_days": 30, "tenant": "lab-test",
                    "source_file": "tests/integration/test_domain_lab.py",
                    "root_servers": [{"server": "127.0.0.1", "port": lab.port("registry")}]}}
                first = run_playbook(tmp_path, [task], extra_vars={"registrar_token": TEST_TOKEN})
                assert first["returncode"] == 0, first["stdout"][-3000:]
                assert task_results(first)[0]["changed"] is True

                assert parent(lab, zone) == ({f"{ns}." for ns in NAMESERVERS}, {ds_of(zone, key) for key in sep})
                delv = subprocess.run(
                    ["delv", "@127.0.0.1", "-p", str(lab.port("resolver")), "-a", lab.trust_anchor["anchor_conf"],
                     f"www.{zone}", "A"], capture_output=True, text=True, timeout=30, check=False)
                assert "; fully validated" in delv.stdout, delv.stdout + delv.stderr

                writes = len(api.writes())
                again = run_playbook(tmp_path, [task], extra_vars={"registrar_token": TEST_TOKEN})
                assert task_results(again)[0]["changed"] is False, again["stdout"][-3000:]
                assert len(api.writes()) == writes
                assert TEST_TOKEN not in first["stdout"] + first["stderr"] + again["stdout"] + again["stderr"]
        finally:
            labctl.undelegate_zone(zone)
