"""DNS for every VM on the lab's real BIND (issue #11 section 3; docs/vms.md "DNS for VMs"):
playbooks/vm-dns.yml on a temporary copy of inventories/lab (the lab's tenant files are never edited)
with two throwaway VMs of tenant packaging. The lab's ns1 and ns2 are asked directly (dnspython, on
127.0.0.1, no recursion; never the system resolver):

- after the play both servers answer the A and the PTR of each VM, and both validate (AD) through
  the lab resolver: the VM domain is delegated from infra.test with its DS, and the reverse zone from
  the lab root (undelegated first, and the resolver's built-in 127.in-addr.arpa put back, so the play
  does it);
- a second run changes nothing; check mode after a VM left reports the change and changes nothing;
- the real run removes the records of the VM that left, and keeps those of the VM declared
  decommissioned, until playbooks/decommission.yml's step 4 (its play, read from that file) removes
  them; then vm-dns.yml does not bring them back;
- a new VM network in check mode: its reverse zone is named in the plan and not created.

At the end vm-dns.yml runs on the lab inventory itself, so the lab's VM zones hold the lab's VMs only.
Durations are printed (`pytest -s`), never asserted."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory
from psf_lab import dnsclient, resolver
from psf_lab.config import ROOT_ZONE, SERVICES, LabPaths
from psf_lab.keys import lab_key

pytestmark = [pytest.mark.lab]

NS1, NS2, RESOLVER = 5301, 5302, 5310
VM_DOMAIN = "vms.infra.test"
REVERSE = "0.0.127.in-addr.arpa"
LEAVING = ("dnsleft", "127.0.0.77")      # deleted from the tenant file: its records are pruned
RETIRING = ("dnsretired", "127.0.0.78")  # declared decommissioned: kept until decommission.yml step 4
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
                        r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)


def ask(port: int, name: str, rdtype: str) -> tuple[str, list[str]]:
    """The authoritative answer of one lab server: (RCODE, values)."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, "127.0.0.1", port=port, timeout=5)
    values = [item.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
              for item in rrset]
    return dns.rcode.to_text(response.rcode()), sorted(values)


def fqdn(vm: str) -> str:
    return f"{vm}.packaging.{VM_DOMAIN}."


def ptr_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def assert_records(vm: tuple[str, str], present: bool) -> None:
    name, address = vm
    for port in (NS1, NS2):
        forward = ask(port, fqdn(name), "A")
        reverse = ask(port, ptr_name(address), "PTR")
        if present:
            assert forward == ("NOERROR", [address]), (port, name, forward)
            assert reverse == ("NOERROR", [fqdn(name)]), (port, name, reverse)
        else:
            assert forward[0] == "NXDOMAIN", (port, name, forward)
            assert reverse[0] == "NXDOMAIN", (port, name, reverse)


def playbook(inventory: Path, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(path), *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False,
                            env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"})
    print(f"{path.name} {' '.join(args)}: rc {result.returncode} in {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


def changed(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    tail = result.stdout[result.stdout.rindex("PLAY RECAP"):]
    return {m["host"]: int(m["changed"]) for m in RECAP_LINE.finditer(tail)}


# Lab plumbing, not DNS data: the resolver's stub zones follow the catalog, which other tests running
# beside this one (test_lab.py, test_zone_delegation.py) change too.
RESOLVER_SYNC = "Point the resolver's stub zones at every zone of the catalog"


def changed_tasks(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The tasks that reported a change, by name (the DNS tasks: not the lab resolver's stub sync)."""
    names = []
    for chunk in result.stdout.split("TASK [")[1:]:
        name = chunk.split("]", 1)[0]
        if re.search(r"^changed: ", chunk, re.MULTILINE) and name != RESOLVER_SYNC:
            names.append(name)
    return names


def serials() -> tuple[int, int]:
    def soa(zone: str) -> int:
        rcode, values = ask(NS1, zone + ".", "SOA")
        assert rcode == "NOERROR", (zone, rcode)
        return int(values[0].split()[2])
    return soa(VM_DOMAIN), soa(REVERSE)


def vm_entry(name: str, address: str, **more: str) -> dict:
    return {"name": name, "size": "small", "address": address, "backup": {"paths": ["/etc"]}, **more}


@pytest.fixture
def inventory(tmp_path: Path, lab) -> Path:
    """A copy of inventories/lab whose tenant packaging has the two throwaway VMs; the lab's VM zones
    made by the nameserver role first when this lab has never run dns.yml."""
    if ask(NS1, VM_DOMAIN + ".", "SOA")[0] != "NOERROR" or ask(NS1, REVERSE + ".", "SOA")[0] != "NOERROR":
        playbook(REPO / "inventories" / "lab", REPO / "playbooks" / "dns.yml", "--limit", "nameservers")
    copy = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    tenant_file = copy / "tenants" / "packaging.yml"
    record = yaml.safe_load(tenant_file.read_text(encoding="utf-8"))
    record["services"]["vms"] += [vm_entry(*LEAVING), vm_entry(*RETIRING)]
    tenant_file.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    yield copy
    # The lab's VM zones back to the lab's own VMs (whatever the test left behind).
    playbook(REPO / "inventories" / "lab", REPO / "playbooks" / "vm-dns.yml")


def test_every_vm_has_forward_and_reverse_records_until_it_leaves(inventory: Path, tmp_path: Path) -> None:
    vm_dns = REPO / "playbooks" / "vm-dns.yml"
    # The lab as before the reverse zone was delegated: no delegation in the lab root, and the resolver
    # answering 127.in-addr.arpa from its built-in local zone.
    dnsclient.remove_delegation(SERVICES["registry"].port, ROOT_ZONE, REVERSE + ".", lab_key("root-key"))
    resolver.unbound_control(LabPaths(), "local_zone", "127.in-addr.arpa.", "static")

    first = playbook(inventory, vm_dns)
    assert {"Publish each VM zone (one task per zone; stale records pruned)",
            "The lab root delegates the reverse zones (NS, DS), as IANA and the RIRs would",
            } <= set(changed_tasks(first))
    assert_records(LEAVING, present=True)
    assert_records(RETIRING, present=True)
    assert_records(("web1", "127.0.0.10"), present=True)
    # The VM domain (from infra.test) and the reverse zone (from the lab root) are delegated with their
    # DS: a validating resolver sees both secure.
    for name, rdtype, value in ((fqdn(LEAVING[0]), "A", LEAVING[1]), (ptr_name(LEAVING[1]), "PTR", fqdn(LEAVING[0]))):
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        response = dns.query.udp(query, "127.0.0.1", port=RESOLVER, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AD, response.to_text()
        assert value in response.to_text(), response.to_text()

    again = playbook(inventory, vm_dns)
    assert changed_tasks(again) == [], again.stdout[-4000:]

    # One VM leaves the file, the other is declared decommissioned.
    tenant_file = inventory / "tenants" / "packaging.yml"
    record = yaml.safe_load(tenant_file.read_text(encoding="utf-8"))
    record["services"]["vms"] = [vm for vm in record["services"]["vms"] if vm["name"] != LEAVING[0]]
    for vm in record["services"]["vms"]:
        if vm["name"] == RETIRING[0]:
            vm.update(state="decommissioned", decommissioned_on="2026-12-01")
    tenant_file.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")

    before = serials()
    plan = playbook(inventory, vm_dns, "--check", "--diff")
    assert changed_tasks(plan) == ["Publish each VM zone (one task per zone; stale records pruned)"]
    assert f"Delete {LEAVING[0]}.packaging A" in plan.stdout and "Delete 77 PTR" in plan.stdout, plan.stdout[-4000:]
    # The decommissioned VM's names are kept (listed in ignore), not deleted.
    assert f"Delete {RETIRING[0]}" not in plan.stdout and "Delete 78 PTR" not in plan.stdout
    assert f"{RETIRING[0]}.packaging A: listed in ignore" in plan.stdout and "78 PTR: listed in ignore" in plan.stdout
    assert serials() == before
    assert_records(LEAVING, present=True)

    playbook(inventory, vm_dns)
    assert_records(LEAVING, present=False)
    assert_records(RETIRING, present=True)
    assert_records(("web1", "127.0.0.10"), present=True)

    # decommission.yml's step 4, its play as written there, on the decommissioned VM alone.
    plays = yaml.safe_load((REPO / "playbooks" / "decommission.yml").read_text(encoding="utf-8"))
    step4 = next(play for play in plays if play.get("name") == "Decommission a VM - 4. DNS")
    step4_file = tmp_path / "decommission-step4.yml"
    step4_file.write_text(yaml.safe_dump([{**step4, "hosts": f"{RETIRING[0]}.packaging"}], sort_keys=False),
                          encoding="utf-8")
    checked = playbook(inventory, step4_file, "--check")
    assert changed(checked)[f"{RETIRING[0]}.packaging"] > 0
    assert_records(RETIRING, present=True)
    removed = playbook(inventory, step4_file)
    assert changed(removed)[f"{RETIRING[0]}.packaging"] > 0
    assert_records(RETIRING, present=False)
    assert_records(("web1", "127.0.0.10"), present=True)
    assert changed(playbook(inventory, step4_file)) == {f"{RETIRING[0]}.packaging": 0}

    # The decommissioned VM's names are left alone: its records do not come back.
    last = playbook(inventory, vm_dns)
    assert changed_tasks(last) == [], last.stdout[-4000:]
    assert_records(RETIRING, present=False)

    # A new VM network in check mode: its reverse zone (which dns.yml's nameserver role would make
    # first) is named in the plan, and nothing is created.
    (inventory / "group_vars" / "all" / "vm_dns.yml").write_text(
        'psf_dns_vm_networks: [127.0.0.0/24, "fd89:250::/64"]\n', encoding="utf-8")
    new_zone = "0.0.0.0.0.0.0.0.0.5.2.0.9.8.d.f.ip6.arpa"
    planned = playbook(inventory, vm_dns, "--check", "--diff")
    plan_text = " ".join(planned.stdout.split())
    assert f"{new_zone}: would be created by the nameserver role, then hold 0 records" in plan_text
    assert ask(NS1, new_zone + ".", "SOA")[0] in ("REFUSED", "NOTAUTH", "SERVFAIL")
