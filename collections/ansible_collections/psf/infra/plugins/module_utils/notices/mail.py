# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sending one mail through an SMTP relay: the one SMTP client of the project.

``psf.infra.announce`` sends the maintenance notices with it, and the cron command
(``src/psf_infra_runner/notify.py``) its report mail. Standard library only, no Ansible imports.

Production relays want STARTTLS (the certificate is verified against the system's CAs or
``ca_file``) and authentication; the lab's SMTP sink speaks plain SMTP on 127.0.0.1 without either.
Authentication is only ever attempted inside TLS: a password is never sent in clear.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput

DEFAULT_TIMEOUT = 10.0  # seconds for one SMTP conversation

#: The mail options of psf.infra.announce and psf.infra.welcome (documented in doc_fragments/smtp.py).
ARGUMENT_SPEC = {
    "sender": {"type": "str", "required": True},
    "reply_to": {"type": "str", "required": True},
    "domain": {"type": "str"},
    "smtp_host": {"type": "str", "required": True},
    "smtp_port": {"type": "int", "default": 587},
    "smtp_starttls": {"type": "bool", "default": True},
    "smtp_username": {"type": "str"},
    "smtp_password": {"type": "str", "no_log": True},
    "smtp_ca_file": {"type": "path"},
    "smtp_timeout": {"type": "float", "default": 10},
    "state_file": {"type": "path", "required": True},
    "resend": {"type": "bool", "default": False},
}
REQUIRED_TOGETHER = [("smtp_username", "smtp_password")]


class SmtpSettings:
    """Where and how to hand mail over: ``host``, ``port``, ``starttls``, ``username``/``password``."""

    def __init__(self, host: str, port: int = 25, *, starttls: bool = False, username: str | None = None,
                 password: str | None = None, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.host = host
        self.port = int(port)
        self.starttls = bool(starttls)
        self.username = username or None
        self.password = password or None
        self.ca_file = ca_file or None
        self.timeout = float(timeout)
        if self.username and not self.password:
            raise InvalidInput("a username without a password", field="smtp_password")
        if self.username and not self.starttls:
            raise InvalidInput("authentication needs STARTTLS (the password is never sent in clear)",
                               field="smtp_starttls")

    @property
    def where(self) -> str:
        return f"SMTP relay {self.host}:{self.port}"

    @classmethod
    def from_params(cls, params) -> SmtpSettings:
        """From a module's ``smtp_*`` options (``ARGUMENT_SPEC``)."""
        return cls(params["smtp_host"], params["smtp_port"], starttls=params["smtp_starttls"],
                   username=params["smtp_username"], password=params["smtp_password"],
                   ca_file=params["smtp_ca_file"], timeout=params["smtp_timeout"])

    @classmethod
    def parse(cls, value: str, **keywords) -> SmtpSettings:
        """``host[:port]`` (default port 25; ``[v6]:port`` for IPv6)."""
        host, port = (value.rsplit(":", 1) if ":" in value else (value, "25"))
        return cls(host.strip("[]") or "localhost", int(port or 25), **keywords)


def new_message(*, sender: str, recipients: list[str], subject: str, body: str,
                reply_to: str | None = None, domain: str | None = None,
                cc: list[str] | None = None) -> EmailMessage:
    """A plain-text message with From, To, Subject, Date and a fresh Message-ID (and Reply-To, Cc)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain or socket.getfqdn() or "localhost")
    message.set_content(body)
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the relay (envelope from its From and To/Cc headers); raises
    ``BackendUnavailable`` naming the relay and what failed (a refused recipient included)."""
    step = "connection"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as client:
            step = "EHLO"
            client.ehlo()
            if settings.starttls:
                step = "STARTTLS"
                if not client.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the relay does not offer STARTTLS")
                context = ssl.create_default_context(cafile=settings.ca_file)
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                step = f"authentication as {settings.username}"
                client.login(settings.username, settings.password or "")
            step = f"sending to {message['To']}"
            refused = client.send_message(message)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
    except smtplib.SMTPRecipientsRefused as err:
        reasons = "; ".join(f"{rcpt}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                            for rcpt, (code, text) in sorted(err.recipients.items()))
        raise BackendUnavailable(settings.where, step, f"recipient refused ({reasons})",
                                 "the addresses in the tenant file") from None
    except smtplib.SMTPAuthenticationError as err:
        raise BackendUnavailable(settings.where, step, f"{err.smtp_code} {_text(err.smtp_error)}",
                                 "the SMTP username and password (vault)") from None
    except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
        raise BackendUnavailable(settings.where, step, str(err) or type(err).__name__,
                                 "that the relay runs and accepts mail from this host") from None


def address(value: str, field: str) -> str:
    """``value`` when it holds an e-mail address (``Name <a@b>`` or ``a@b``), else an error naming ``field``."""
    if "@" not in parseaddr(value)[1]:
        raise InvalidInput(f"{value!r} is not an e-mail address", field=field)
    return value


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
