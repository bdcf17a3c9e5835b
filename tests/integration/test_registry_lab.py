"""A bad tenant file stops playbooks/dns.yml before the name servers change (the lab's real BIND).

A new tenant with a new zone is added to a copy of the lab inventory, with one bad record. Before
the registry judged record data at load, the nameserver role added the zone to ns1 (zone statement,
catalog member, so ns2 too) and only then did psf.infra.dns_zone refuse the record; now the
inventory refuses the tenant file and no task runs. The zone list of both name servers is compared
before and after.

The catalog is shared: while this test runs, tests on other pytest-xdist workers add and remove zones
of their own (labctl.add_zone makes each a catalog member). So the members compared are those the
nameserver role can touch (roles/nameserver/tasks/catalog.yml): the registry's zones, named by the
zone statements (compared in full), and the new zone. The others come and go with the other tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.zone
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAB_INVENTORY = REPO / "inventories" / "lab"

pytestmark = [pytest.mark.lab]

ZONE = "newcomer.test"


def newcomer(bad_record: dict) -> dict:
    return {
        "name": "newcomer", "display_name": "Newcomer WG", "kind": "working-group",
        "approval": {"body": "psf-membership", "date": "2024-01-01"}, "status": "active",
        "members": [{"name": "Nia Newcomer", "email": "nia@newcomer.test"}],
        "services": {
            "domains": [{"name": ZONE, "registrar": "psf"}],
            "zones": [{"name": ZONE, "dnssec": False, "records": [
                {"name": "@", "type": "A", "values": ["127.0.0.30"]},
                {"name": "www", "type": "A", "values": ["127.0.0.30"]},
                bad_record,
            ]}],
        },
    }


BAD_RECORDS = {
    "bad-a-value": ({"name": "ftp", "type": "A", "values": ["300.1.2.3"]}, "records[2].values[0]"),
    "unknown-type": ({"name": "ftp", "type": "BOGUS", "values": ["x"]}, "records[2].type"),
    "cname-beside-data": ({"name": "www", "type": "CNAME", "values": ["@"]}, "records[2]"),
    "cname-at-apex": ({"name": "@", "type": "CNAME", "values": ["www"]}, "records[2]"),
    "srv-without-port": ({"name": "_imap._tcp", "type": "SRV", "values": ["0 1 www.newcomer.test."]},
                         "records[2].values[0]"),
    "too-big-to-encode": ({"name": "big", "type": "TXT", "values": ["x" * 70_000]}, "records[2].values"),
}


def lab_facts() -> dict:
    return yaml.safe_load((LAB_INVENTORY / "group_vars" / "all" / "lab_generated.yml").read_text())


def statement_zones(statements: str) -> set[str]:
    """The zones (absolute names) of the primary's zone statements: the registry's."""
    return {f"{name}." for name in re.findall(r'^zone "([^"]+)"', statements, flags=re.MULTILINE)}


def name_servers_state(lab) -> dict:
    """What the name servers hold: the primary's zone statements, the catalog's members among the
    registry's zones and the new zone, and whether each server answers for the new zone."""
    facts = lab_facts()
    key = facts["psf_dns_transfer_key"]
    keyring = dns.tsigkeyring.from_text({key["name"]: (key["algorithm"], key["secret"])})
    catalog = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", facts["psf_dns_catalog_zone"], port=lab.port("ns1"),
                                              keyring=keyring, keyalgorithm=key["algorithm"], relativize=False,
                                              lifetime=10),
                                relativize=False)
    statements = Path(facts["psf_dns_primary"]["zones_include"]).read_text()
    ours = statement_zones(statements) | {f"{ZONE}."}
    members = sorted(rdata.target.to_text() for _name, _ttl, rdata in catalog.iterate_rdatas("PTR")
                     if rdata.target.to_text() in ours)
    answers = {}
    for server in ("ns1", "ns2"):
        request = dns.message.make_query(ZONE, "SOA")
        request.flags &= ~dns.flags.RD
        answers[server] = dns.rcode.to_text(dns.query.tcp(request, "127.0.0.1", port=lab.port(server),
                                                          timeout=5).rcode())
    return {"zone statements": statements, "catalog members": members, "answers for the new zone": answers}


@pytest.mark.parametrize(("bad_record", "field"), list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_a_bad_record_stops_dns_yml_before_the_name_servers_change(lab, tmp_path: Path, bad_record: dict,
                                                                   field: str) -> None:
    inventory = tmp_path / "lab"
    shutil.copytree(LAB_INVENTORY, inventory)
    tenant_file = inventory / "tenants" / "newcomer.yml"
    tenant_file.write_text(yaml.safe_dump(newcomer(bad_record), sort_keys=False))
    before = name_servers_state(lab)
    assert f"{ZONE}." not in before["catalog members"]
    assert before["catalog members"] == sorted(statement_zones(before["zone statements"])), before

    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "dns.yml")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode != 0
    assert "TASK [" not in result.stdout, result.stdout[-3000:]
    assert f"{tenant_file}: tenant 'newcomer': services.zones[0].{field}: " in result.stderr, result.stderr
    after = name_servers_state(lab)
    assert after == before
    assert after["answers for the new zone"] == {"ns1": "REFUSED", "ns2": "REFUSED"}
