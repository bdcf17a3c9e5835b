"""psf.infra.welcome through ansible-playbook, handing mail to a real SMTP server (aiosmtpd on a free
loopback port, no lab needed): check mode sends nothing, the mail goes to the members with notify
once, a rerun sends nothing, resend sends it again, bad input is refused before anything is sent.
playbooks/onboard.yml against the lab is tested in tests/e2e/test_site.py."""

from __future__ import annotations

import email
import email.policy
import json
import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import pytest
from ansible_cli import REPO, local_inventory, run
from cryptography.hazmat.primitives.asymmetric import ec
from smtp_support import relay

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.registrar import instructions

TENANT = {
    "name": "sprints", "display_name": "Python Sprints", "status": "active",
    "members": [{"name": "Ada Sprinter", "email": "ada@sprints.test"},
                {"name": "Ben Quiet", "email": "ben@sprints.test", "notify": False},
                {"name": "Cy Liaison", "email": "cy@sprints.test", "notify": True}],
    "services": {"zones": [{"name": "sprints.test", "dnssec": True}],
                 "domains": [{"name": "sprints.test", "registrar": "tenant"}],
                 "certificates": [{"name": "web", "names": ["sprints.test", "blog.sprints.org"]}],
                 "vms": [{"name": "web1", "fqdn": "web1.sprints.vms.infra.test", "size": "small"}]},
}
REPORT = {"domain": "sprints.test", "tenant": "sprints",
          "lines": ["Tenant Python Sprints, domain sprints.test: NOT DELEGATED",
                    "  sprints.test. 3600 IN NS ns1.infra.test."]}


@pytest.fixture
def sink():
    """A plain SMTP server on loopback that keeps what it receives: (port, [(envelope recipients, message)])."""

    class Collect:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=email.policy.default)))
            return "250 OK"

    handler = Collect()
    with relay(handler) as port:
        yield port, handler.messages


def welcome(tmp_path: Path, port: int, *extra: str, tenants=None, **options):
    """The module in a one-task playbook; its result, written to result.json by a second task."""
    args = {"tenant": "sprints", "tenants": tenants or {"sprints": TENANT},
            "nameservers": ["ns1.infra.test.", "ns2.infra.test."], "hosted_zones": ["sprints.test", "infra.test"],
            "acme_zone": "acme.infra.test", "instructions": [REPORT], "sender": "PSF Infra <infra-staff@python.org>",
            "reply_to": "infra-staff@python.org", "smtp_host": "127.0.0.1", "smtp_port": port,
            "smtp_starttls": False, "state_file": str(tmp_path / "state.json"), **options}
    (tmp_path / "args.json").write_text(json.dumps({"welcome_args": args}), encoding="utf-8")
    outcome = tmp_path / "result.json"
    outcome.unlink(missing_ok=True)
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - psf.infra.welcome: \"{{ welcome_args }}\"\n      register: welcome_result\n"
        "    - ansible.builtin.copy:\n        content: \"{{ welcome_result | to_json }}\"\n"
        f"        dest: {outcome}\n        mode: '0600'\n      check_mode: false\n", encoding="utf-8")
    inventory = local_inventory(tmp_path / "inventory.json")
    result = run("ansible-playbook", "-i", str(inventory), str(tmp_path / "play.yml"),
                 "-e", f"@{tmp_path / 'args.json'}", *extra)
    return result, (json.loads(outcome.read_text()) if outcome.exists() else None)


def test_check_mode_shows_the_welcome_and_sends_nothing(tmp_path, sink):
    port, messages = sink
    result, outcome = welcome(tmp_path, port, "--check")
    assert result.returncode == 0, result.stdout
    assert outcome["status"] == "would send" and outcome["changed"] is True
    assert "NOT DELEGATED" in outcome["body"] and messages == [] and not (tmp_path / "state.json").exists()


def test_sent_once_to_the_liaisons_then_nothing_then_again_on_resend(tmp_path, sink):
    port, messages = sink
    result, outcome = welcome(tmp_path, port, "--diff")
    assert result.returncode == 0, result.stdout
    assert outcome["status"] == "sent" and outcome["changed"] is True
    [(envelope, message)] = messages
    assert sorted(envelope) == ["ada@sprints.test", "cy@sprints.test"]  # Ben has notify: false
    assert message["To"] == "Ada Sprinter <ada@sprints.test>, Cy Liaison <cy@sprints.test>"
    assert message["Reply-To"] == "infra-staff@python.org" and message["Subject"] == (
        "Welcome to the PSF Infra-WG's services: Python Sprints")
    assert message["Message-ID"] == outcome["message_id"] and message["Message-ID"].endswith("@python.org>")
    text = message.get_content().replace("\r\n", "\n")  # SMTP's line ends
    assert text == outcome["body"]
    assert ("  Tenant Python Sprints, domain sprints.test: NOT DELEGATED\n"
            "    sprints.test. 3600 IN NS ns1.infra.test.\n") in text
    # blog.sprints.org is in no zone we host: the CNAME; sprints.test is ours: none.
    assert outcome["cnames"] == [line.strip() for line in text.splitlines() if "CNAME" in line]
    assert len(outcome["cnames"]) == 1 and outcome["cnames"][0].startswith("_acme-challenge.blog.sprints.org. CNAME ")
    assert outcome["cnames"][0].endswith(".sprints.acme.infra.test.")
    assert "  ssh root@web1.sprints.vms.infra.test\n" in text
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["welcome"]["sprints"]["message_id"] == outcome["message_id"]
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600

    again, outcome = welcome(tmp_path, port)
    assert again.returncode == 0 and outcome["changed"] is False and outcome["status"] == "already sent"
    assert len(messages) == 1

    resent, outcome = welcome(tmp_path, port, resend=True)
    assert resent.returncode == 0 and outcome["status"] == "sent" and len(messages) == 2
    assert messages[1][1]["Message-ID"] != messages[0][1]["Message-ID"]


def test_the_mail_holds_the_exact_ns_and_ds_records(tmp_path, sink):
    """The report of a signed zone (module_utils/registrar/instructions.py, what the playbook passes):
    the DS in the mail is the SHA-256 DS of the zone's KSK as dnspython computes it here."""
    port, messages = sink
    keys = [dns.dnssec.make_dnskey(ec.generate_private_key(ec.SECP256R1()).public_key(),
                                   dns.dnssec.Algorithm.ECDSAP256SHA256, flags=flags).to_text() for flags in (257, 256)]
    report = instructions.instructions("sprints.test", nameservers=["ns1.infra.test.", "ns2.infra.test."], signed=True,
                                       dnskeys=keys, parent=None, tenant="sprints", display_name="Python Sprints")
    result, _ = welcome(tmp_path, port, instructions=[report])
    assert result.returncode == 0, result.stdout
    [(_, message)] = messages
    lines = {line.strip() for line in message.get_content().replace("\r\n", "\n").splitlines()}
    ksk = dns.rdata.from_text("IN", "DNSKEY", keys[0])
    expected = dns.dnssec.make_ds(dns.name.from_text("sprints.test."), ksk, "SHA256").to_text().upper()
    assert {line for line in lines if " IN DS " in line} == {f"sprints.test. 86400 IN DS {expected}"}
    assert {line for line in lines if " IN NS " in line} == {"sprints.test. 86400 IN NS ns1.infra.test.",
                                                            "sprints.test. 86400 IN NS ns2.infra.test."}


@pytest.mark.parametrize(("tenant", "options", "error"), [
    ({**TENANT, "status": "suspended"}, {},
     "tenant 'sprints': status: is suspended: only an active tenant is welcomed"),
    ({**TENANT, "members": [{"name": "Ben Quiet", "email": "ben@sprints.test", "notify": False}]}, {},
     "tenant 'sprints': members: has no member with notify: true"),
    (TENANT, {"tenant": "nobody"}, "tenant: tenant 'nobody' is not in the registry (tenants: sprints)"),
    (TENANT, {"sender": "infra staff"}, "sender: 'infra staff' is not an e-mail address"),
    (TENANT, {"instructions": [{**REPORT, "tenant": "packaging"}]},
     "tenant 'sprints': instructions: the report for sprints.test is tenant packaging's"),
])
def test_bad_input_is_refused_before_anything_is_sent(tmp_path, sink, tenant, options, error):
    port, messages = sink
    result, _ = welcome(tmp_path, port, tenants={"sprints": tenant}, **options)
    assert result.returncode != 0 and error in result.stdout, result.stdout
    assert messages == [] and not (tmp_path / "state.json").exists()


def test_the_smtp_password_never_shows(tmp_path, sink):
    port, _ = sink
    # A password without STARTTLS is refused before any connection: the password must not be in the output.
    result, _ = welcome(tmp_path, port, "-v", smtp_username="psf-infra", smtp_password="hunter2-welcome")
    assert result.returncode != 0 and "authentication needs STARTTLS" in result.stdout, result.stdout
    assert "hunter2-welcome" not in result.stdout + result.stderr


def test_the_module_is_documented_as_it_behaves():
    doc = run("ansible-doc", "-t", "module", "psf.infra.welcome", "--json")
    assert doc.returncode == 0, doc.stderr
    options = json.loads(doc.stdout)["psf.infra.welcome"]["doc"]["options"]
    assert {"tenant", "tenants", "instructions", "smtp_password", "state_file", "resend"} <= set(options)
    assert REPO.joinpath("playbooks/onboard.yml").is_file()
