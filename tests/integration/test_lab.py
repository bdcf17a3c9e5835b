"""The lab itself: chain of trust, secondary, catalog, ACME, SMTP, status and idempotent up."""

from __future__ import annotations

import json
import mailbox
import secrets
import smtplib
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.update
import dns.zone
import labctl
import pytest

pytestmark = pytest.mark.lab

LABCTL = Path(labctl.__file__)
WAIT_SECONDS = 20.0


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def resolve(lab, name: str, rdtype: str, checking_disabled: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    if checking_disabled:
        query.flags |= dns.flags.CD
    return dns.query.udp(query, "127.0.0.1", port=lab.port("resolver"), timeout=3)


def authoritative_txt(port: int, name: str) -> set[str]:
    response = labctl.dns_query(port, name, "TXT")
    return {rdata.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset}


@pytest.fixture
def tenant_zone(lab) -> Iterator[str]:
    """A signed zone on ns1, member of the catalog, removed (zone, catalog entry, delegation) after."""
    zone = f"chain-{secrets.token_hex(4)}.test."
    labctl.add_zone(zone, records="www 60 A 127.0.0.9\n")
    try:
        yield zone
    finally:
        labctl.undelegate_zone(zone)
        labctl.remove_zone(zone)


def test_chain_of_trust_validates_from_the_lab_root(lab, tenant_zone: str) -> None:
    labctl.delegate_zone(tenant_zone)

    result = subprocess.run(
        ["delv", "@127.0.0.1", "-p", str(lab.port("resolver")), "-a", lab.trust_anchor["anchor_conf"],
         f"www.{tenant_zone}", "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )

    assert "; fully validated" in result.stdout, result.stdout + result.stderr
    assert "127.0.0.9" in result.stdout


def test_bogus_ds_is_servfail_at_the_resolver(lab, tenant_zone: str) -> None:
    good_ds = labctl.delegate_zone(tenant_zone)
    good = resolve(lab, f"www.{tenant_zone}", "A")
    assert good.rcode() == dns.rcode.NOERROR and good.flags & dns.flags.AD

    bogus_ds = [
        dns.rdata.from_text("IN", "DS", f"{ds.key_tag} {ds.algorithm} {ds.digest_type} {'00' * len(ds.digest)}")
        for ds in good_ds
    ]
    labctl.delegate_zone(tenant_zone, ds=bogus_ds)

    assert resolve(lab, f"www.{tenant_zone}", "A").rcode() == dns.rcode.SERVFAIL
    # The data is there; only validation refuses it.
    assert resolve(lab, f"www.{tenant_zone}", "A", checking_disabled=True).rcode() == dns.rcode.NOERROR


def test_catalog_member_appears_on_the_secondary_and_follows_updates(lab, tenant_zone: str) -> None:
    ns1, ns2 = lab.port("ns1"), lab.port("ns2")
    wait_for(lambda: labctl.soa_serial(ns2, tenant_zone) is not None, f"ns2 to serve {tenant_zone}")
    token = f'"lab-{secrets.token_hex(8)}"'

    update = dns.update.UpdateMessage(tenant_zone, keyring=lab.tsig("staff-key"))
    update.add(f"probe.{tenant_zone}", 60, "TXT", token)
    assert dns.query.tcp(update, "127.0.0.1", port=ns1, timeout=5).rcode() == dns.rcode.NOERROR

    primary_serial = labctl.soa_serial(ns1, tenant_zone)
    wait_for(lambda: labctl.soa_serial(ns2, tenant_zone) == primary_serial,
             f"ns2 to reach serial {primary_serial} of {tenant_zone}")
    assert authoritative_txt(ns2, f"probe.{tenant_zone}") == {token}


def test_removed_catalog_member_leaves_the_secondary(lab) -> None:
    zone = f"gone-{secrets.token_hex(4)}.test."
    labctl.add_zone(zone)
    ns2 = lab.port("ns2")
    wait_for(lambda: labctl.soa_serial(ns2, zone) is not None, f"ns2 to serve {zone}")

    labctl.remove_zone(zone)

    wait_for(lambda: labctl.dns_query(ns2, zone, "SOA").rcode() == dns.rcode.REFUSED, f"ns2 to drop {zone}")
    assert zone not in labctl.catalog_members()


def test_secondary_transfers_need_the_transfer_key(lab) -> None:
    with pytest.raises(dns.exception.DNSException):
        dns.zone.from_xfr(dns.query.xfr("127.0.0.1", "infra.test.", port=lab.port("ns1"), lifetime=5))


def test_acme_directory_is_served_over_verified_https(lab) -> None:
    context = ssl.create_default_context(cafile=lab.acme["ca_bundle"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open(lab.acme["directory"], timeout=5) as response:
        directory = json.load(response)

    assert {"newNonce", "newAccount", "newOrder"} <= directory.keys()
    assert Path(lab.acme["issuing_root"]).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_smtp_sink_stores_each_message(lab) -> None:
    subject = f"lab probe {secrets.token_hex(6)}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "lab@infra.test", "tenant@example.test", subject
    message.set_content("hello from test_lab")

    with smtplib.SMTP(lab.smtp["host"], lab.smtp["port"], timeout=5) as client:
        client.send_message(message)

    maildir = mailbox.Maildir(lab.smtp["maildir"], create=False)
    assert wait_for(lambda: [m for m in maildir if m["Subject"] == subject], "the message in the Maildir")


def _status() -> tuple[int, dict[str, Any]]:
    result = subprocess.run([sys.executable, str(LABCTL), "status", "--json"], capture_output=True, text=True,
                            check=False)
    return result.returncode, json.loads(result.stdout)


def test_status_reports_every_service_healthy(lab) -> None:
    returncode, report = _status()

    assert returncode == 0
    assert set(report) == {"registry", "ns1", "ns2", "resolver", "acme", "smtp"}
    recorded = labctl.load_state()["services"]
    for name, entry in report.items():
        assert entry["healthy"], (name, entry)
        assert entry["pid"] == recorded[name]["pid"]
        assert entry["port"] == lab.port(name)


def test_up_twice_leaves_running_services_alone(lab) -> None:
    _, before = _status()

    result = subprocess.run([sys.executable, str(LABCTL), "up"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    _, after = _status()
    assert {name: entry["pid"] for name, entry in after.items()} == {
        name: entry["pid"] for name, entry in before.items()
    }


def test_ns1_and_ns2_run_the_nameserver_roles_configuration(lab) -> None:
    """BIND's configuration of the Infra-WG servers has one source: the options named loaded (and
    ns2's catalog consumer) are the nameserver role's templates, rendered by labctl."""
    printed = {}
    for service in ("ns1", "ns2"):
        options = lab.dir / service / "named.conf.options"
        assert options.read_text().startswith(
            "// Written by lab/labctl.py from roles/nameserver/templates/named.conf.options.j2")
        result = subprocess.run(["named-checkconf", "-p", str(lab.dir / service / "named.conf")],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        printed[service] = result.stdout
        assert "version none;" in printed[service]  # the role's hardening, not the lab's
    assert printed["ns1"].count("catalog-zones") == 0
    assert printed["ns2"].count("catalog-zones") == 1
    assert 'zone "catalog.infra.test" {' in printed["ns2"]
