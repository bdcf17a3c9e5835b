"""psf.infra.dns_zone_info's list form (``zones``) against the lab's real BIND, through ansible-playbook.

One task reads many zones from the primary (ns1) in threads; each item equals what the single form
returns for that zone, a zone ns1 does not serve is reported in its own item (the task fails naming
it, every other item still there), ``in_sync`` covers every zone, and ``wait`` polls until the
secondary (ns2) serves a new serial.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dns_support import fresh_zone, run_playbook, server_vars, task_results, unique_zone

pytestmark = pytest.mark.lab


def secondaries(lab) -> list[dict]:
    return [{"server": "127.0.0.1", "port": lab.port("ns2")}]


def comparable(result: dict) -> dict:
    """A single-form result or a list item without what Ansible adds (``invocation``, ``changed``...)."""
    return {key: value for key, value in result.items()
            if key not in ("invocation", "changed", "failed", "_ansible_no_log", "action", "attempts", "item",
                           "ansible_loop_var")}


def test_list_form_equals_single_form_per_zone(lab, tmp_path: Path) -> None:
    with fresh_zone(lab, "zilist-a", "www 300 IN A 192.0.2.1\n") as first, \
            fresh_zone(lab, "zilist-b", "mail 300 IN MX 10 mx.example.\n", signed=True) as second:
        zones = [second, first.rstrip("."), second]  # input order kept, a name without its final dot
        info = {**server_vars(lab), "include_dnssec": True}
        tasks = [{"name": "list", "psf.infra.dns_zone_info": {**info, "zones": zones}}]
        tasks += [{"name": f"single {zone}", "psf.infra.dns_zone_info": {**info, "zone": zone}} for zone in zones]
        output = run_playbook(tmp_path, tasks)
        assert output["returncode"] == 0, output["stdout"]
        listed, *singles = task_results(output)
        assert listed["changed"] is False and listed["in_sync"] is True and listed["lagging"] == []
        assert [item["zone"] for item in listed["zones"]] == [second, first, second]
        for item, single in zip(listed["zones"], singles, strict=True):
            assert comparable(item) == comparable(single)
        assert listed["zones"][0]["signed"] is True and listed["zones"][1]["signed"] is False
        assert key_secret(lab) not in output["stdout"]


def key_secret(lab) -> str:
    return lab.key("staff-key")["secret"]


def test_a_zone_not_served_is_named_in_its_item_and_the_failure(lab, tmp_path: Path) -> None:
    missing = unique_zone("zilist-missing")
    with fresh_zone(lab, "zilist-c") as present:
        task = {"name": "list", "psf.infra.dns_zone_info": {**server_vars(lab), "zones": [present, missing],
                                                           "include_records": False, "workers": 2},
                "ignore_errors": True}
        output = run_playbook(tmp_path, [task])
        (result,) = task_results(output)
        assert result["failed"] is True
        assert missing in result["msg"] and "1 of 2 zones" in result["msg"]
        assert present not in result["msg"]
        ok, bad = result["zones"]
        assert ok["zone"] == present and ok["in_sync"] is True and isinstance(ok["serial"], int)
        assert bad["zone"] == missing and bad["failed"] is True and bad["msg"]
        assert result["in_sync"] is False and result["lagging"] == [missing]


def test_bad_input_is_refused_before_any_query_and_no_zones_is_no_work(lab, tmp_path: Path) -> None:
    tasks = [
        {"name": "both", "psf.infra.dns_zone_info": {**server_vars(lab), "zone": "a.test", "zones": ["b.test"]},
         "ignore_errors": True},
        {"name": "workers", "psf.infra.dns_zone_info": {**server_vars(lab), "zones": ["a.test"], "workers": 0},
         "ignore_errors": True},
        {"name": "empty names", "psf.infra.dns_zone_info": {**server_vars(lab), "zones": ["a.test", ""]},
         "ignore_errors": True},
        {"name": "empty list", "psf.infra.dns_zone_info": {**server_vars(lab), "zones": []}},
    ]
    both, workers, empty, nothing = task_results(run_playbook(tmp_path, tasks))
    assert both["failed"] and "mutually exclusive" in both["msg"]
    assert workers["failed"] and "workers" in workers["msg"]
    assert empty["failed"] and "empty names at positions [1]" in empty["msg"]
    assert nothing.get("failed") is not True and nothing["zones"] == [] and nothing["in_sync"] is True


def test_wait_polls_until_every_server_serves_the_serial(lab, tmp_path: Path) -> None:
    """A zone just added to ns1 and its catalog: with ``wait`` the task returns once ns2 serves it too.
    A server that never serves the zone (the lab registry, as a secondary) keeps it lagging: the task
    ends when the wait ran out, saying which zone (``lagging``); the single form waits as well."""
    with fresh_zone(lab, "zilist-d") as zone:
        served = "infra.test."
        info = {**server_vars(lab), "include_records": False}
        never = [{"server": "127.0.0.1", "port": lab.port("registry")}]
        output = run_playbook(tmp_path, [
            {"name": "wait", "psf.infra.dns_zone_info": {**info, "secondaries": secondaries(lab),
                                                        "zones": [served, zone], "wait": 60, "wait_delay": 0.5}},
            {"name": "lagging", "psf.infra.dns_zone_info": {**info, "secondaries": never, "zones": [zone],
                                                           "wait": 2, "wait_delay": 0.5}},
            {"name": "single", "psf.infra.dns_zone_info": {**info, "secondaries": secondaries(lab),
                                                          "zone": zone, "wait": 5}},
        ])
        waited, lagging, single = task_results(output)
        assert waited["in_sync"] is True and waited["lagging"] == []
        assert [item["zone"] for item in waited["zones"]] == [served, zone]
        assert all(item["in_sync"] for item in waited["zones"])
        assert lagging["in_sync"] is False and lagging["lagging"] == [zone] and "failed" not in lagging["zones"][0]
        assert lagging["zones"][0]["serials"][f"127.0.0.1:{lab.port('registry')}"] is None
        assert single["in_sync"] is True and single["zone"] == zone and "zones" not in single
