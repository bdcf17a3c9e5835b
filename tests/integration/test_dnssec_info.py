"""psf.infra.dnssec_info against the lab's real chain of trust (the registry's `.` and `test.`, ns1/ns2),
run through ansible-playbook (check mode included), and cross-checked with `delv`, an independent
validator, and the lab resolver: `infra.test.` is secure, a delegation without DS is insecure, a name
that is not delegated is an error, and a wrong DS at the parent is bogus for the module, not
validated by delv, and SERVFAIL at the resolver. Every zone and delegation made is removed again."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdata
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer
from ansible_collections.psf.infra.plugins.module_utils.dns.query import query_message
from dns_support import REPO, fresh_zone, run_playbook, task_results

pytestmark = [pytest.mark.lab]


def chain_task(lab, zone: str, **more) -> dict:
    args = {"zone": zone, "trust_anchor": lab.trust_anchor["root_key"],
            "root_servers": [{"server": "127.0.0.1", "port": lab.port("registry")}],
            "nameserver_addresses": [{"name": name, "address": "127.0.0.1", "port": lab.port(name.split(".")[0])}
                                     for name in ("ns1.infra.test", "ns2.infra.test")],
            "timeout": 3.0, **more}
    return {"name": "chain", "psf.infra.dnssec_info": args, "ignore_errors": True}


def dnssec_info(lab, tmp_path, zone: str, *, check: bool = False) -> dict:
    return task_results(run_playbook(tmp_path, [chain_task(lab, zone)], check=check))[0]


def delv(lab, name: str) -> str:
    """delv's verdict on NAME's SOA, validating itself from the lab root's anchor (through the resolver)."""
    if shutil.which("delv") is None:
        pytest.skip("delv (bind9-dnsutils) is not installed")
    result = subprocess.run(["delv", "-a", lab.trust_anchor["anchor_conf"], "-p", str(lab.port("resolver")),
                             "@127.0.0.1", "SOA", name], capture_output=True, text=True, timeout=60, check=False)
    return result.stdout + result.stderr


def resolver_rcode(lab, name: str) -> int:
    resolver = DnsServer("127.0.0.1", lab.port("resolver"), timeout=5.0, role="resolver")
    return query_message(resolver, name, "SOA", dnssec=True, recursion=True).rcode()


def test_infra_test_is_secure_in_check_mode_too_and_delv_agrees(lab, tmp_path):
    for check in (False, True):
        result = dnssec_info(lab, tmp_path, "infra.test", check=check)
        assert not result.get("failed"), result
        assert result["changed"] is False
        assert result["status"] == "secure", result["reason"]
        assert [cut["zone"] for cut in result["chain"]] == [".", "test.", "infra.test."]
        assert all(cut["validated_by"] in [key["key_tag"] for key in cut["dnskeys"]] for cut in result["chain"])
        assert result["earliest_signature_expiry"] == min(cut["signature_expiry"] for cut in result["chain"])
        assert result["days_to_signature_expiry"] > 0
    served = labctl.signed_dnskeys(lab.port("ns1"), "infra.test.")
    assert result["chain"][2]["ds"] == sorted(ds.to_text() for ds in labctl.ds_from_dnskeys("infra.test.", served))
    assert "; fully validated" in delv(lab, "infra.test.")


def test_a_delegation_without_ds_is_insecure_and_a_name_not_delegated_is_an_error(lab, tmp_path):
    with fresh_zone(lab, "dnssec-plain", "www 300 IN A 127.0.0.1\n", signed=False) as zone:
        missing = dnssec_info(lab, tmp_path, zone)
        assert missing["failed"] is True
        assert missing["msg"] == f"{zone}: test. answers that {zone} does not exist (NXDOMAIN)"
        assert missing["error"] == "NotAZone"
        labctl.delegate_zone(zone, ds=[])
        try:
            result = dnssec_info(lab, tmp_path, zone)
            assert result["status"] == "insecure", result
            assert result["reason"].startswith(f"test. delegates {zone} without a DS record (proven by the signed "
                                               f"NSEC record at {zone} (NS without DS))")
            assert result["chain"][-1]["zone"] == zone and result["chain"][-1]["ds"] == []
            verdict = delv(lab, zone)
            assert "; unsigned answer" in verdict, verdict
        finally:
            labctl.undelegate_zone(zone)


def test_a_wrong_ds_at_the_parent_is_bogus_and_the_resolver_fails(lab, tmp_path):
    with fresh_zone(lab, "dnssec-wrong-ds", "www 300 IN A 127.0.0.1\n", signed=True) as zone:
        right = labctl.ds_from_dnskeys(zone, labctl.signed_dnskeys(lab.port("ns1"), zone))[0]
        digest = right.digest.hex()
        digest = digest[:-2] + ("00" if digest[-2:] != "00" else "11")
        wrong = dns.rdata.from_text("IN", "DS", f"{right.key_tag} {right.algorithm} {right.digest_type} {digest}")
        labctl.delegate_zone(zone, ds=[wrong])
        try:
            result = dnssec_info(lab, tmp_path, zone)
            assert result["status"] == "bogus", result
            assert result["reason"].startswith(f"{zone}: no DNSKEY matches the DS at test. (DS {right.key_tag} ")
            assert result["chain"][-1]["ds"] == [wrong.to_text()]
            assert result["chain"][-1]["validated_by"] is None
            deadline = time.monotonic() + 30
            while (rcode := resolver_rcode(lab, zone)) != dns.rcode.SERVFAIL and time.monotonic() < deadline:
                time.sleep(1)
            assert rcode == dns.rcode.SERVFAIL, dns.rcode.to_text(rcode)
            verdict = delv(lab, zone)
            assert "fully validated" not in verdict and "resolution failed" in verdict, verdict
            # the same zone with its right DS validates again
            labctl.delegate_zone(zone)
            assert dnssec_info(lab, tmp_path, zone)["status"] == "secure"
        finally:
            labctl.undelegate_zone(zone)


def test_the_module_documentation_renders():
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "module", "psf.infra.dnssec_info"],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "trust_anchor" in result.stdout and "days_to_signature_expiry" in result.stdout
