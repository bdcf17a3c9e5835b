"""playbooks/announce.yml against inventories/lab: the mails the lab's SMTP sink receives (headers,
text, the .ics), check mode sending nothing, a rerun sending nothing, refused input sending nothing,
and a relay that refuses one tenant's recipients or is down (docs/announcements.md).

The STARTTLS + authentication path of the shared SMTP client is tested against a real aiosmtpd
relay with TLS on a free loopback port (no lab needed)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import sys
import uuid
from pathlib import Path

import pytest
from ansible_cli import REPO, run
from smtp_support import free_port, relay

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.notices import mail

STAFF = "infra-staff@python.org"  # the playbook's default psf_staff_email (the lab inventory sets none)


def write_notice(path: Path, **changes) -> Path:
    notice = {"id": f"test-{uuid.uuid4().hex[:12]}", "what": "Upgrade of the name servers",
              "start": "2026-12-10 18:00 Europe/Berlin", "end": "2026-12-10T20:30:00+01:00",
              "impact": "Each name server restarts once; the other keeps answering.",
              "scope": {"services": ["nameservers"]}, **changes}
    path.write_text(json.dumps({key: value for key, value in notice.items() if value is not None}), encoding="utf-8")
    return path


def announce(notice: Path, state: Path, *extra: str):
    return run("ansible-playbook", "-i", "inventories/lab", "playbooks/announce.yml", "-e", f"notice_file={notice}",
               "-e", f"psf_announce_state_file={state}", *extra)


def received(mail_dir: Path, uid: str) -> dict[str, email.message.EmailMessage]:
    """The sink's messages of the notice ``uid``, by recipient list."""
    found = {}
    for path in sorted([*mail_dir.glob("new/*"), *mail_dir.glob("cur/*")]):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["X-PSF-Notice-UID"] == uid:
            assert message["To"] not in found, f"two mails to {message['To']} for {uid}"
            found[str(message["To"])] = message
    return found


def recap(result) -> str:
    return result.stdout.rsplit("PLAY RECAP", 1)[-1]


@pytest.fixture
def mail_dir(lab) -> Path:
    return lab.dir / "mail"


@pytest.mark.lab
def test_check_mode_prints_recipients_and_message_and_sends_nothing(mail_dir, tmp_path):
    notice = write_notice(tmp_path / "notice.yml")
    uid = json.loads(notice.read_text())["id"] + "@python.org"
    result = announce(notice, tmp_path / "state.json", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Tenant packaging: would send" in out and "Tenant pyladies-berlin: would send" in out
    assert "Recipients: Ada Packager <ada@packaging.test>" in out
    assert "ben@packaging.test" not in out  # notify: false
    assert "Hello PyLadies Berlin," in out and f"UID:{uid}" in out and "DTSTART:20261210T170000Z" in out
    assert received(mail_dir, uid) == {}
    assert not (tmp_path / "state.json").exists()


@pytest.mark.lab
def test_each_impacted_tenant_gets_one_notice_once(mail_dir, tmp_path):
    notice, state = write_notice(tmp_path / "notice.yml"), tmp_path / "state.json"
    uid = json.loads(notice.read_text())["id"] + "@python.org"
    first = announce(notice, state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=1" in recap(first)
    mails = received(mail_dir, uid)
    assert sorted(mails) == ["Ada Packager <ada@packaging.test>", "Clara Schmidt <clara@pyladies-berlin.test>"]

    message = mails["Ada Packager <ada@packaging.test>"]
    assert message["From"] == STAFF and message["Reply-To"] == STAFF
    assert message["Subject"] == "[PSF Infra maintenance] 2026-12-10 17:00-19:30 UTC: Upgrade of the name servers"
    assert message["Message-ID"].endswith("@python.org>")
    assert abs(email.utils.parsedate_to_datetime(message["Date"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    text_part, ics_part = message.iter_parts()
    text = text_part.get_content()
    assert text.startswith("Hello Packaging Working Group,\n")
    assert "When:        2026-12-10 17:00 UTC to 2026-12-10 19:30 UTC (2 h 30 min)" in text
    assert "(2026-12-10 18:00 CET to 2026-12-10 20:30 UTC+01:00)" in text
    assert "zone packaging.test (served by service nameservers)" in text and "pyladies" not in text
    assert f"Reply to this mail (it goes to {STAFF})" in text
    assert ics_part.get_content_type() == "text/calendar" and ics_part.get_filename() == "maintenance.ics"
    assert ics_part.get_param("method") == "PUBLISH"
    lines = ics_part.get_content().replace("\r\n ", "").split("\r\n")
    for expected in (f"UID:{uid}", "SEQUENCE:0", "DTSTART:20261210T170000Z", "DTEND:20261210T193000Z",
                     "SUMMARY:PSF Infra maintenance: Upgrade of the name servers", "BEGIN:VEVENT", "END:VCALENDAR"):
        assert expected in lines, lines
    assert any(line.startswith("DESCRIPTION:Each name server restarts once\\;") for line in lines)
    clara = mails["Clara Schmidt <clara@pyladies-berlin.test>"]
    assert clara["Message-ID"] != message["Message-ID"]
    assert [line for line in clara.get_payload()[1].get_content().split("\r\n") if line.startswith("UID:")] == [
        f"UID:{uid}"]

    again = announce(notice, state)
    assert again.returncode == 0 and "changed=0" in recap(again), again.stdout
    assert "Tenant packaging: already sent" in again.stdout
    assert len(received(mail_dir, uid)) == 2 and len(list(mail_dir.glob("*/*"))) >= 2

    before = len([p for p in [*mail_dir.glob("new/*"), *mail_dir.glob("cur/*")]])
    forced = announce(notice, state, "-e", "resend=true")
    assert forced.returncode == 0 and "changed=1" in recap(forced), forced.stdout
    assert len([p for p in [*mail_dir.glob("new/*"), *mail_dir.glob("cur/*")]]) >= before + 2

    # the same id, rescheduled: a new version (SEQUENCE 1) goes out again without resend
    write_notice(notice, id=uid.split("@")[0], end="2026-12-10T21:00:00+01:00")
    moved = announce(notice, state)
    assert moved.returncode == 0 and "changed=1" in recap(moved), moved.stdout
    recorded = json.loads(state.read_text())["notices"][uid]
    assert recorded["sequence"] == 1 and sorted(recorded["tenants"]) == ["packaging", "pyladies-berlin"]


@pytest.mark.lab
def test_a_vm_notice_reaches_only_its_tenant(mail_dir, tmp_path):
    notice = write_notice(tmp_path / "notice.yml", scope={"hosts": ["web1.packaging"]})
    uid = json.loads(notice.read_text())["id"] + "@python.org"
    result = announce(notice, tmp_path / "state.json")
    assert result.returncode == 0, result.stdout + result.stderr
    mails = received(mail_dir, uid)
    assert list(mails) == ["Ada Packager <ada@packaging.test>"]
    assert "VM web1.packaging (apps: packaging-guide)" in mails["Ada Packager <ada@packaging.test>"].get_payload()[0] \
        .get_content()


@pytest.mark.lab
@pytest.mark.parametrize(("changes", "field"), [
    ({"start": "2026-12-10T18:00:00"}, "notice.start"),
    ({"end": "2026-12-10T10:00:00Z"}, "notice.end"),
    ({"impact": None}, "notice.impact"),
    ({"scope": {"zones": ["nowhere.test"]}}, "notice.scope.zones[0]"),
    ({"scope": {"hosts": ["web9.packaging"]}}, "notice.scope.hosts[0]"),
    ({"scope": {"services": ["dhcp"]}}, "notice.scope.services[0]"),
    ({"scope": {"tenants": ["nobody"]}}, "notice.scope.tenants[0]"),
])
def test_bad_notices_are_refused_before_any_mail(mail_dir, tmp_path, changes, field):
    notice = write_notice(tmp_path / "notice.yml", **changes)
    uid = json.loads(notice.read_text())["id"] + "@python.org"
    result = announce(notice, tmp_path / "state.json")
    assert result.returncode != 0
    assert f"{notice}: {field}: " in result.stdout, result.stdout
    assert received(mail_dir, uid) == {} and not (tmp_path / "state.json").exists()


@pytest.fixture
def picky_relay():
    """A real SMTP server on a free port that refuses every recipient at pyladies-berlin.test."""

    class Picky:
        def __init__(self) -> None:
            self.messages: list[email.message.EmailMessage] = []

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.endswith("@pyladies-berlin.test"):
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    handler = Picky()
    with relay(handler) as port:
        yield port, handler.messages


@pytest.mark.lab
def test_a_refused_tenant_does_not_stop_the_others_and_a_rerun_retries_only_it(mail_dir, tmp_path, picky_relay):
    port, messages = picky_relay
    notice, state = write_notice(tmp_path / "notice.yml"), tmp_path / "state.json"
    uid = json.loads(notice.read_text())["id"] + "@python.org"
    result = announce(notice, state, "-e", json.dumps({"psf_smtp": {"host": "127.0.0.1", "port": port}}))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"announcement {uid}: mail failed for 1 of 2 tenants: pyladies-berlin (SMTP relay 127.0.0.1:{port}" \
           in result.stdout
    assert "550" in result.stdout and "sent to: packaging" in result.stdout
    assert [message["To"] for message in messages] == ["Ada Packager <ada@packaging.test>"]
    assert sorted(json.loads(state.read_text())["notices"][uid]["tenants"]) == ["packaging"]

    retry = announce(notice, state)  # the lab sink accepts everyone
    assert retry.returncode == 0, retry.stdout
    assert list(received(mail_dir, uid)) == ["Clara Schmidt <clara@pyladies-berlin.test>"]
    assert "Tenant packaging: already sent" in retry.stdout


@pytest.mark.lab
def test_a_relay_that_is_down_fails_the_run_naming_every_tenant(mail_dir, tmp_path):
    notice, state = write_notice(tmp_path / "notice.yml"), tmp_path / "state.json"
    port = free_port()
    result = announce(notice, state, "-e", json.dumps({"psf_smtp": {"host": "127.0.0.1", "port": port}}))
    assert result.returncode == 2
    assert "mail failed for 2 of 2 tenants: packaging (SMTP relay 127.0.0.1:" in result.stdout
    assert "pyladies-berlin (SMTP relay" in result.stdout and "sent to: nobody" in result.stdout
    assert not state.exists()


# --------------------------------------------------------------------------- STARTTLS and authentication

@pytest.fixture
def tls_relay(tmp_path):
    """aiosmtpd requiring STARTTLS and AUTH (user psf-infra, password s3cret) with a self-signed certificate."""
    from aiosmtpd.smtp import AuthResult
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    class Collect:
        def __init__(self) -> None:
            self.messages: list[tuple[str, bytes]] = []  # (login and TLS, content)

        async def handle_DATA(self, server, session, envelope):
            login = session.auth_data.decode() if session.authenticated and session.auth_data else ""
            self.messages.append((f"{login} tls={session.ssl is not None}", envelope.content))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"psf-infra" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    handler = Collect()
    with relay(handler, tls_context=context, require_starttls=True, auth_required=True,
               authenticator=authenticator) as port:
        yield port, str(cert_file), handler.messages


def a_message() -> email.message.EmailMessage:
    return mail.new_message(sender="infra@infra.test", recipients=["ada@packaging.test"], subject="s", body="b",
                            reply_to="staff@infra.test", domain="infra.test")


def test_starttls_and_authentication_against_a_real_relay(tls_relay):
    port, ca_file, messages = tls_relay
    settings = mail.SmtpSettings("127.0.0.1", port, starttls=True, username="psf-infra", password="s3cret",
                                 ca_file=ca_file)
    mail.send(settings, a_message())
    assert [login for login, _ in messages] == ["psf-infra tls=True"]

    with pytest.raises(BackendUnavailable, match=r"authentication as psf-infra failed: 535") as caught:
        mail.send(mail.SmtpSettings("127.0.0.1", port, starttls=True, username="psf-infra", password="wrong",
                                    ca_file=ca_file), a_message())
    assert "wrong" not in str(caught.value)
    with pytest.raises(BackendUnavailable, match=r"STARTTLS failed: .*certificate verify failed"):
        mail.send(mail.SmtpSettings("127.0.0.1", port, starttls=True, username="psf-infra", password="s3cret"),
                  a_message())  # the system's CAs do not know the relay's certificate
    with pytest.raises(BackendUnavailable, match=r"sending to ada@packaging.test failed"):
        mail.send(mail.SmtpSettings("127.0.0.1", port), a_message())  # no TLS: the relay refuses
    assert len(messages) == 1


def test_a_password_is_never_sent_without_tls():
    with pytest.raises(InvalidInput, match="smtp_starttls: authentication needs STARTTLS"):
        mail.SmtpSettings("127.0.0.1", 25, username="psf-infra", password="s3cret")


@pytest.mark.lab
def test_the_smtp_password_never_shows(tmp_path):
    notice = write_notice(tmp_path / "notice.yml")
    password = "smtp-Pa55-" + uuid.uuid4().hex
    smtp = {"psf_smtp": {"host": "127.0.0.1", "port": free_port(), "starttls": True, "username": "psf-infra",
                         "password": password}}
    result = announce(notice, tmp_path / "state.json", "-e", json.dumps(smtp), "--check", "--diff", "-vvv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Tenant packaging: would send" in result.stdout
    assert password not in result.stdout + result.stderr
