"""Behaviour of the nameserver role: a primary and a secondary on the scenario's network.

Queries and updates run inside the containers with BIND's own clients (dig, nsupdate), so what is
tested is what a tenant sees: authoritative answers, its key accepted on its zone only, a change
reaching the secondary, no recursion, a retired tenant's zone gone everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import pytest
import testinfra

PRIMARY = "podman://psf-molecule-nameserver-primary"
SECONDARY = "podman://psf-molecule-nameserver-secondary"
# The same test-only master secret as molecule.yml (production keeps it in vault).
MASTER_SECRET = "molecule-master-secret-0123456789abcdef"  # noqa: S105 - test-only, public


def zone_key(zone: str) -> str:
    """hmac-sha256:<name>:<secret> of a tenant zone, derived as psf.infra.tsig_derive does."""
    digest = hmac.new(MASTER_SECRET.encode(), f"zone:{zone}".encode(), hashlib.sha256).digest()
    return f"hmac-sha256:update.{zone}:{base64.b64encode(digest).decode()}"


@pytest.fixture(scope="module")
def primary():
    return testinfra.get_host(PRIMARY)


@pytest.fixture(scope="module")
def secondary():
    return testinfra.get_host(SECONDARY)


def dig(host, *args: str) -> str:
    return host.check_output("dig +time=2 +tries=2 @127.0.0.1 " + " ".join(args))


def status_and_flags(output: str) -> tuple[str, set[str]]:
    status = re.search(r"status: (\w+)", output).group(1)
    flags = set(re.search(r"flags: ([a-z ]+);", output).group(1).split())
    return status, flags


def soa_serial(host, zone: str) -> int:
    return int(dig(host, "+short", zone, "SOA").split()[2])


def nsupdate(host, key: str, zone: str, *commands: str):
    script = "\\n".join(["server 127.0.0.1", f"zone {zone}", *commands, "send"])
    return host.run(f"printf '{script}\\n' | nsupdate -y {key}")


@pytest.mark.parametrize("zone", ["alpha.test", "beta.test"])
def test_primary_answers_authoritatively(primary, zone):
    status, flags = status_and_flags(dig(primary, "+norecurse", zone, "SOA"))
    assert status == "NOERROR"
    assert "aa" in flags


@pytest.mark.parametrize("zone", ["alpha.test", "beta.test"])
def test_secondary_answers_authoritatively(secondary, zone):
    status, flags = status_and_flags(dig(secondary, "+norecurse", zone, "SOA"))
    assert status == "NOERROR"
    assert "aa" in flags


def test_dnssec_zone_is_signed(primary):
    answer = dig(primary, "+dnssec", "+norecurse", "alpha.test", "DNSKEY")
    assert re.search(r"\sRRSIG\s+DNSKEY\s", answer)


def test_dnssec_zone_uses_the_psf_policy_csk_with_a_rollover_scheduled(primary):
    """The role's own policy (no psf_dns_resolver here, so no parental agents): one ECDSAP256SHA256
    CSK whose one-year lifetime gives it a next rollover, the CDNSKEY set published for the parent."""
    status = primary.check_output("rndc dnssec -status alpha.test")
    assert "dnssec-policy: psf" in status
    assert re.findall(r"^key: \d+ \((\w+)\), (\w+)$", status, flags=re.M) == [("ECDSAP256SHA256", "CSK")]
    assert "Next rollover scheduled on" in status
    assert 'dnssec-policy "psf" {' in primary.file("/etc/bind/named.conf.options").content_string
    assert "parental-agents" not in primary.file("/etc/bind/psf-zones.conf").content_string


def test_update_with_zone_key_reaches_secondary(primary, secondary):
    value = f"molecule-{time.time_ns()}"
    result = nsupdate(primary, zone_key("alpha.test"), "alpha.test",
                      f'update add probe.alpha.test 60 TXT "{value}"')
    assert result.rc == 0, result.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if value in dig(secondary, "+short", "probe.alpha.test", "TXT"):
            break
        time.sleep(1)
    assert value in dig(secondary, "+short", "probe.alpha.test", "TXT")
    assert soa_serial(secondary, "alpha.test") == soa_serial(primary, "alpha.test")


def test_tenant_key_refused_on_another_tenants_zone(primary):
    result = nsupdate(primary, zone_key("alpha.test"), "beta.test",
                      'update add intruder.beta.test 60 TXT "alpha was here"')
    assert result.rc != 0
    assert re.search(r"REFUSED|NOTAUTH", result.stdout + result.stderr)
    assert dig(primary, "+short", "intruder.beta.test", "TXT") == ""


def test_tenant_key_cannot_change_apex_ns(primary):
    result = nsupdate(primary, zone_key("beta.test"), "beta.test", "update add beta.test 60 NS ns.evil.test.")
    assert result.rc != 0
    assert "ns.evil.test" not in dig(primary, "+short", "beta.test", "NS")


@pytest.mark.parametrize("server", [PRIMARY, SECONDARY])
def test_recursion_refused(server):
    status, flags = status_and_flags(dig(testinfra.get_host(server), "+recurse", "python.org", "A"))
    assert status == "REFUSED"
    assert "ra" not in flags


@pytest.mark.parametrize("server", [PRIMARY, SECONDARY])
def test_retired_tenant_zone_is_gone(server):
    host = testinfra.get_host(server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "status: REFUSED" not in dig(host, "+norecurse", "gamma.test", "SOA"):
        time.sleep(1)
    status, flags = status_and_flags(dig(host, "+norecurse", "gamma.test", "SOA"))
    assert status == "REFUSED"
    assert "aa" not in flags


def test_retired_zone_files_removed(primary):
    assert not primary.file("/var/lib/bind/psf/gamma.test.db").exists
    assert primary.file("/var/lib/bind/psf/alpha.test.db").exists


def test_keys_file_is_private(primary):
    keys = primary.file("/etc/bind/psf-keys.conf")
    assert (keys.user, keys.group, keys.mode) == ("root", "bind", 0o640)
    assert 'key "update.alpha.test"' in primary.check_output("cat /etc/bind/psf-keys.conf")


def test_configuration_is_valid_and_service_enabled(primary, secondary):
    for host in (primary, secondary):
        assert host.run("named-checkconf -z /etc/bind/named.conf").rc == 0
        assert host.service("named").is_enabled
        assert host.service("named").is_running
