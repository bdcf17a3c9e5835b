"""Zones inside zones (issue 10): a hosted zone under another hosted zone is delegated by its parent.

Real BIND (the lab's ns1), real ansible-playbook, the lab's validating resolver. A throwaway signed
parent zone under `test.` (delegated from the lab registry with its DS, as a registrar would) and a
signed child zone inside it, both on ns1. The tasks are those of playbooks/dns.yml: the child's keys
read with psf.infra.dns_zone_info, the parent published by psf.infra.dns_zone with the delegations
that psf.infra.zone_delegations makes from them. Before the delegation the child is served but
bogus through the resolver (SERVFAIL); after it a name in the child resolves with AD set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl
from dns_support import primary, run_playbook, server_vars, task_results, unique_zone, wait_until_stable

pytestmark = pytest.mark.lab

NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]
SOURCE_FILE = "/srv/registry/tenants/packaging.yml"


def publish(lab, tmp_path: Path, parent: str, children: list[dict], records: list[dict] | None = None, *,
            check: bool = False, prune: bool = False) -> tuple[dict, dict]:
    """The two tasks of playbooks/dns.yml: read each signed child's keys, publish the parent."""
    tasks = [
        {"name": "read keys", "psf.infra.dns_zone_info": {**server_vars(lab), "zone": "{{ item.name }}",
                                                         "include_dnssec": True},
         "loop": "{{ children | selectattr('dnssec') }}", "register": "child_keys",
         "until": "child_keys.signed | default(false)", "retries": 30, "delay": 1},
        {"name": "publish", "psf.infra.dns_zone": {
            **server_vars(lab), "zone": parent, "tenant": "packaging", "source_file": SOURCE_FILE, "prune": prune,
            "records": records or [{"name": "www", "type": "A", "values": ["127.0.0.13"]}],
            "delegations": {"nameservers": NAMESERVERS,
                            "zones": "{{ children | psf.infra.zone_delegations(parent, child_keys) }}"}}},
    ]
    output = run_playbook(tmp_path, tasks, check=check, diff=check,
                          extra_vars={"children": children, "parent": parent})
    results = task_results(output)
    assert output["returncode"] in (0, 2), output["stderr"]
    return results[0], results[-1]


def served(lab, parent: str, child: str, rdtype: str) -> list[str]:
    """The parent zone's own rrset at the child's name (a zone transfer: a query for NS would be
    answered from the child's apex, ns1 serving both)."""
    _, live = primary(lab).axfr(parent)
    rrset = live.get((dns.name.from_text(child), dns.rdatatype.from_text(rdtype)))
    return sorted(rrset.values()) if rrset is not None else []


def resolve(lab, name: str) -> dns.message.Message:
    return labctl.dns_query(lab.port("resolver"), name, "A", dnssec=True, recursion=True)


@pytest.fixture
def zones(lab):
    """(parent, child): a signed parent delegated from test. with its DS, a signed child inside it."""
    parent = unique_zone("deleg")
    child = f"lab.{parent}"
    labctl.add_zone(parent, signed=True)
    try:
        wait_until_stable(primary(lab), parent, signed=True)
        labctl.delegate_zone(parent)
        labctl.add_zone(child, records="www 300 IN A 127.0.0.12\n", signed=True)
        try:
            wait_until_stable(primary(lab), child, signed=True)
            yield parent, child
        finally:
            labctl.remove_zone(child)
    finally:
        labctl.undelegate_zone(parent)
        labctl.remove_zone(parent)


def test_a_child_zone_is_delegated_with_its_ds_and_validates(lab, tmp_path, zones) -> None:
    parent, child = zones
    children = [{"name": child.rstrip("."), "parent": parent.rstrip("."), "dnssec": True}]
    # Served but unreachable: the parent proves there is no such name, so the child's data is bogus.
    before = resolve(lab, f"www.{child}")
    assert before.rcode() == dns.rcode.SERVFAIL, before

    serial = primary(lab).soa_serial(parent)
    keys, plan = publish(lab, tmp_path, parent, children, check=True)
    assert plan["changed"] and plan["counts"] == {"added": 3, "changed": 0, "deleted": 0}, plan  # www, NS, DS
    assert "Create lab NS" in plan["plan"] and "Create lab DS" in plan["plan"], plan["plan"]
    assert primary(lab).soa_serial(parent) == serial, "check mode sent an update"

    keys, first = publish(lab, tmp_path, parent, children)
    assert first["changed"], first
    assert served(lab, parent, child, "NS") == ["ns1.infra.test.", "ns2.infra.test."]
    assert keys["results"][0]["signed"], keys
    dnskeys = primary(lab).query(dns.name.from_text(child), "DNSKEY")
    expected = sorted(dns.dnssec.make_ds(dns.name.from_text(child), rdata, "SHA256").to_text()
                      for rdata in dnskeys.rdatas if rdata.flags & 1)
    assert served(lab, parent, child, "DS") == expected

    labctl.flush_resolver(child)
    after = resolve(lab, f"www.{child}")
    assert after.rcode() == dns.rcode.NOERROR and after.answer, after
    assert after.flags & dns.flags.AD, f"www.{child} was not validated (no AD):\n{after}"

    _, again = publish(lab, tmp_path, parent, children)
    assert not again["changed"], again["plan"]


def test_the_delegation_follows_the_child_unsigned_then_removed(lab, tmp_path, zones) -> None:
    parent, child = zones
    signed = [{"name": child.rstrip("."), "parent": parent.rstrip("."), "dnssec": True}]
    publish(lab, tmp_path, parent, signed)
    assert served(lab, parent, child, "DS")

    # The registry says the child is no longer signed: its DS goes first, the NS stays.
    _, unsigned = publish(lab, tmp_path, parent, [{**signed[0], "dnssec": False}])
    assert unsigned["changed"] and unsigned["counts"]["deleted"] == 1, unsigned["plan"]
    assert served(lab, parent, child, "DS") == []
    assert served(lab, parent, child, "NS") == ["ns1.infra.test.", "ns2.infra.test."]

    # The child zone is gone from the registry: its delegation is stale, and goes without prune.
    publish(lab, tmp_path, parent, signed)
    _, removed = publish(lab, tmp_path, parent, [], prune=False)
    assert removed["changed"] and removed["counts"]["deleted"] == 2, removed["plan"]
    assert served(lab, parent, child, "DS") == []
    _, live = primary(lab).axfr(parent)  # the parent's own data (a query for NS answers from the child)
    assert (dns.name.from_text(child), dns.rdatatype.NS) not in live


def test_a_record_declared_at_the_childs_name_is_refused_before_anything_is_sent(lab, tmp_path, zones) -> None:
    parent, child = zones
    children = [{"name": child.rstrip("."), "parent": parent.rstrip("."), "dnssec": True}]
    serial = primary(lab).soa_serial(parent)
    records = [{"name": "www", "type": "A", "values": ["127.0.0.13"]},
               {"name": "lab", "type": "NS", "values": ["ns.elsewhere.test."]}]
    _, refused = publish(lab, tmp_path, parent, children, records)
    assert refused.get("failed"), refused
    assert refused["tenant"] == "packaging" and refused["file"] == SOURCE_FILE, refused
    assert refused["field"] == "records[1].name", refused
    assert f"hosted zone {child.rstrip('.')}" in refused["msg"], refused["msg"]
    assert primary(lab).soa_serial(parent) == serial, "something was sent"
