"""psf.infra.dns_record and psf.infra.dns_zone_info against the lab's real BIND, through ansible-playbook."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change
from dns_support import fresh_zone, primary, relative_records, run_playbook, server_vars, task_results

pytestmark = pytest.mark.lab


def record_task(lab, zone: str, **options) -> dict:
    return {"name": "record", "psf.infra.dns_record": {**server_vars(lab), "zone": zone, **options}}


def test_append_replace_and_remove_values(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsr-values", '@ MX 10 mx1.other.test.\n@ TXT "keep" "me"\n@ TXT "drop"\n') as zone:
        tasks = [
            record_task(lab, zone, name="@", type="MX", values=["20 mx2.other.test."], mode="append"),
            record_task(lab, zone, name="@", type="MX", values=["20 mx2.other.test."], mode="append"),
            record_task(lab, zone, name="@", type="TXT", values=['"drop"', '"never-there"'], state="absent"),
            record_task(lab, zone, name="@", type="TXT", values=['"drop"'], state="absent"),
            record_task(lab, zone, name="www", type="A", ttl=120, values=["192.0.2.1", "192.0.2.2"]),
            record_task(lab, zone, name="www", type="A", ttl=120, values=["192.0.2.2"]),
            record_task(lab, zone, name="www", type="A", state="absent"),
            record_task(lab, zone, name="www", type="A", state="absent"),
        ]
        results = task_results(run_playbook(tmp_path, tasks, diff=True))
        assert [result["changed"] for result in results] == [True, False, True, False, True, True, True, False]
        assert [result["messages_sent"] for result in results] == [1, 0, 1, 0, 1, 1, 1, 0]
        assert results[0]["after"]["values"] == ["10 mx1.other.test.", "20 mx2.other.test."]
        assert results[2]["after"]["values"] == ['"keep" "me"']
        assert results[5]["before"]["values"] == ["192.0.2.1", "192.0.2.2"]
        assert results[5]["after"] == {"name": "www", "type": "A", "ttl": 120, "values": ["192.0.2.2"]}
        live = relative_records(server, zone)
        assert live[("@", "MX")][1] == ["10 mx1.other.test.", "20 mx2.other.test."]
        assert live[("@", "TXT")][1] == ['"keep" "me"']
        assert ("www", "A") not in live


def test_check_mode_and_a_record_beside_a_cname(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsr-check", "alias CNAME www.other.test.\n") as zone:
        serial = server.soa_serial(zone)
        tasks = [record_task(lab, zone, name="new", type="AAAA", values=["2001:db8::1"]),
                 {**record_task(lab, zone, name="alias", type="A", values=["192.0.2.1"]), "ignore_errors": True},
                 {**record_task(lab, zone, name="@", type="CNAME", values=["www.other.test."]),
                  "ignore_errors": True}]
        checked, beside_cname, cname_beside = task_results(run_playbook(tmp_path, tasks, check=True, diff=True))
        assert cname_beside["failed"] is True
        assert "already has NS, SOA" in cname_beside["msg"]
        assert checked["changed"] is True
        assert checked["after"]["values"] == ["2001:db8::1"]
        assert "new 3600 AAAA 2001:db8::1" in checked["diff"][0]["after"] if isinstance(checked["diff"], list) \
            else "new 3600 AAAA 2001:db8::1" in checked["diff"]["after"]
        assert beside_cname["failed"] is True
        assert "CNAME must be the only record" in beside_cname["msg"]
        assert server.soa_serial(zone) == serial


def test_zone_info_reports_records_and_waits_for_the_secondary(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsr-info", "www A 192.0.2.1\n", signed=True) as zone:
        server.send_updates(zone, [Change.add_values("api", "A", 300, ["192.0.2.9"], zone)])
        info = {**server_vars(lab), "zone": zone, "secondaries": [{"server": "127.0.0.1", "port": lab.port("ns2")}]}
        tasks = [
            {"name": "wait", "psf.infra.dns_zone_info": {**info, "include_records": False}, "register": "serials",
             "until": "serials.in_sync", "retries": 60, "delay": 1},
            {"name": "records", "psf.infra.dns_zone_info": info},
        ]
        waited, full = task_results(run_playbook(tmp_path, tasks))
        assert waited["in_sync"] is True, waited
        assert waited["serials"] == {f"127.0.0.1:{lab.port('ns1')}": waited["serial"],
                                     f"127.0.0.1:{lab.port('ns2')}": waited["serial"]}
        assert "records" not in waited
        assert full["signed"] is True
        assert full["nameservers"] == ["ns1.infra.test.", "ns2.infra.test."]
        assert {"name": "api", "type": "A", "ttl": 300, "values": ["192.0.2.9"]} in full["records"]
        assert not any(record["type"] in ("RRSIG", "NSEC", "DNSKEY") for record in full["records"])


def test_zone_info_says_out_of_sync_for_a_server_without_the_zone(lab, tmp_path):
    with fresh_zone(lab, "dnsr-nosync") as zone:
        info = {**server_vars(lab), "zone": zone, "include_records": False,
                "secondaries": [{"server": "127.0.0.1", "port": lab.port("registry")}]}
        (result,) = task_results(run_playbook(tmp_path, [{"name": "info", "psf.infra.dns_zone_info": info}]))
        assert result["in_sync"] is False
        assert result["servers"][1]["serial"] is None
        assert "is the zone loaded there?" in result["servers"][1]["error"]
