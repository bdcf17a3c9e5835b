"""playbooks/dns.yml against the lab (inventories/lab): the real ansible-playbook, BIND and dig.

The playbook makes the lab's ns1 the primary of every tenant zone of the lab registry (role
nameserver: zone statements, per-zone TSIG keys, catalog members), ns2 follows through the
catalog, and psf.infra.dns_zone publishes each tenant's records.
"""

from __future__ import annotations

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
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = REPO / "playbooks" / "dns.yml"
LAB_INVENTORY = REPO / "inventories" / "lab"
sys.path.insert(0, str(REPO / "collections" / "ansible_collections" / "psf" / "infra" / "plugins" / "filter"))
from tsig import derive_tsig_secret  # noqa: E402

# One pytest-xdist worker runs the tests that converge the lab (SERIAL_LAB_MODULES, tests/conftest.py).
pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT_ZONES = {"packaging.test": "packaging", "pyladies-berlin.test": "pyladies-berlin"}


def ansible_playbook(*args: str, inventory: Path = LAB_INVENTORY) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "false",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def recap(result: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    """PLAY RECAP -> {host: {ok, changed, failed, ...}}, summed over the plays."""
    totals: dict[str, dict[str, int]] = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", result.stdout, re.MULTILINE):
        for name, value in re.findall(r"(\w+)=(\d+)", counters):
            totals.setdefault(host, {}).setdefault(name, 0)
            totals[host][name] += int(value)
    return totals


def query(port: int, name: str, rdtype: str) -> dns.message.Message:
    request = dns.message.make_query(name, rdtype)
    request.flags &= ~dns.flags.RD
    return dns.query.tcp(request, "127.0.0.1", port=port, timeout=5)


def soa_serial(port: int, zone: str) -> int:
    return query(port, zone, "SOA").answer[0][0].serial


def zone_key(lab, zone: str) -> dns.tsig.Key:
    # The lab derives every zone key from its staff secret (inventories/lab/group_vars/nameservers.yml).
    secret = derive_tsig_secret(lab.key("staff-key")["secret"], zone)
    return dns.tsigkeyring.from_text({f"update.{zone}": ("hmac-sha256", secret)})


def send_update(lab, zone: str, key_zone: str, build) -> str:
    update = dns.update.UpdateMessage(zone, keyring=zone_key(lab, key_zone), keyalgorithm="hmac-sha256")
    build(update)
    return dns.rcode.to_text(dns.query.tcp(update, "127.0.0.1", port=lab.port("ns1"), timeout=5).rcode())


@pytest.fixture(scope="module")
def first_run(lab):
    result = ansible_playbook()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


@pytest.mark.parametrize("zone", sorted(TENANT_ZONES))
@pytest.mark.parametrize("server", ["ns1", "ns2"])
def test_tenant_zone_served_authoritatively(lab, first_run, zone, server):
    answer = query(lab.port(server), zone, "SOA")
    assert answer.rcode() == dns.rcode.NOERROR
    assert answer.flags & dns.flags.AA
    assert soa_serial(lab.port("ns2"), zone) == soa_serial(lab.port("ns1"), zone)


@pytest.mark.parametrize("server", ["ns1", "ns2"])
def test_declared_records_served(lab, first_run, server):
    port = lab.port(server)
    assert [r.address for r in query(port, "web1.packaging.test", "A").answer[0]] == ["127.0.0.10"]
    assert query(port, "www.pyladies-berlin.test", "CNAME").answer[0][0].target.to_text() == "pyladies-berlin.test."
    ns = {r.target.to_text() for r in query(port, "packaging.test", "NS").answer[0]}
    assert ns == set(lab.state["zones"]["nameservers"])


def test_signed_zone_has_dnskey(lab, first_run):
    answer = query(lab.port("ns1"), "packaging.test", "DNSKEY")
    assert answer.answer and answer.answer[0].rdtype == dns.rdatatype.DNSKEY


def test_catalog_lists_the_tenant_zones(lab, first_run):
    sys.path.insert(0, str(REPO / "lab"))
    import labctl

    assert set(TENANT_ZONES) <= {member.rstrip(".") for member in labctl.catalog_members()}


def test_second_run_changes_nothing(lab, first_run):
    result = ansible_playbook()
    assert result.returncode == 0, result.stdout[-4000:]
    changed = {host: counters["changed"] for host, counters in recap(result).items()}
    assert changed == {"lab-ns1": 0, "lab-ns2": 0, "localhost": 0}


def test_check_diff_on_modified_tenant_plans_and_changes_nothing(lab, first_run, tmp_path):
    inventory = tmp_path / "lab"
    shutil.copytree(LAB_INVENTORY, inventory)
    tenant_file = inventory / "tenants" / "packaging.yml"
    tenant = yaml.safe_load(tenant_file.read_text())
    tenant["services"]["zones"][0]["records"].append({"name": "plan-probe", "type": "A", "values": ["127.0.0.99"]})
    tenant_file.write_text(yaml.safe_dump(tenant, sort_keys=False))
    serial_before = soa_serial(lab.port("ns1"), "packaging.test")

    result = ansible_playbook("--check", "--diff", inventory=inventory)

    assert result.returncode == 0, result.stdout[-4000:]
    assert "plan-probe" in result.stdout
    assert "127.0.0.99" in result.stdout
    assert recap(result)["localhost"]["changed"] >= 1
    assert query(lab.port("ns1"), "plan-probe.packaging.test", "A").rcode() == dns.rcode.NXDOMAIN
    assert soa_serial(lab.port("ns1"), "packaging.test") == serial_before


def test_zone_key_cannot_update_another_tenants_zone(lab, first_run):
    rcode = send_update(lab, "pyladies-berlin.test", "packaging.test",
                        lambda u: u.add("intruder", 60, "TXT", "packaging was here"))
    assert rcode == "REFUSED"
    assert query(lab.port("ns1"), "intruder.pyladies-berlin.test", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_zone_key_updates_its_own_zone_but_not_the_apex_ns(lab, first_run):
    zone = "pyladies-berlin.test"
    assert send_update(lab, zone, zone, lambda u: u.add("@", 60, "NS", "ns.elsewhere.test.")) == "REFUSED"
    try:
        assert send_update(lab, zone, zone, lambda u: u.replace("key-probe", 60, "TXT", "own key")) == "NOERROR"
        assert query(lab.port("ns1"), f"key-probe.{zone}", "TXT").rcode() == dns.rcode.NOERROR
    finally:
        send_update(lab, zone, zone, lambda u: u.delete("key-probe"))


def test_tenant_name_resolves_validated_through_lab_resolver(lab, first_run):
    # The registry delegates the tenant zones (playbooks/domains.yml: in the lab the registry is the
    # registrar of every tenant zone); then the lab's validating resolver reaches ns1/ns2 through its stub zones.
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    registrar = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(LAB_INVENTORY),
                                str(REPO / "playbooks" / "domains.yml")],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert registrar.returncode == 0, registrar.stdout[-3000:]
    request = dns.message.make_query("web1.packaging.test", "A", want_dnssec=True)
    deadline = time.monotonic() + 30
    while True:
        answer = dns.query.udp(request, "127.0.0.1", port=lab.port("resolver"), timeout=5)
        if answer.rcode() == dns.rcode.NOERROR or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer.rcode() == dns.rcode.NOERROR
    assert answer.flags & dns.flags.AD
    assert "127.0.0.10" in {rdata.to_text() for rrset in answer.answer for rdata in rrset}
