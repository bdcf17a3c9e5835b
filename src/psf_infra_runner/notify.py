"""Telling someone about a run: healthchecks-style heartbeat pings and the report mail to staff.

Both are best effort: a heartbeat service or mail relay that is down is reported on stderr and
never changes the run's exit code (the metrics and the summary still hold the result).

Heartbeat (``--heartbeat-url URL``), as healthchecks.io and its clones understand it:
``URL/start`` when the run starts, ``URL`` when it did its work (ok, changed, drift), ``URL/fail``
when it did not (failed, unreachable, timeout, invalid registry); the end pings carry the report
as their body, so the service shows why.
"""

from __future__ import annotations

import smtplib
import socket
import sys
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

TIMEOUT = 10.0  # seconds for one ping or one SMTP conversation
BODY_LIMIT = 100_000  # bytes of report a ping carries (healthchecks keeps up to 100 kB)


def ping(url: str, kind: str, body: str = "") -> bool:
    """kind: start, success or fail. Returns whether the service answered 2xx."""
    target = url.rstrip("/") + {"start": "/start", "success": "", "fail": "/fail"}[kind]
    if not target.startswith(("http://", "https://")):
        print(f"psf-infra: heartbeat {target}: not an http(s) URL; not pinged", file=sys.stderr)
        return False
    data = body.encode()[:BODY_LIMIT] if body else None
    request = urllib.request.Request(target, data=data, method="POST" if data else "GET",  # noqa: S310 (checked above)
                                     headers={"User-Agent": "psf-infra"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 (checked above)
            return 200 <= answer.status < 300
    except (OSError, ValueError) as err:
        print(f"psf-infra: heartbeat {target} failed: {err}", file=sys.stderr)
        return False


def parse_smtp(value: str) -> tuple[str, int]:
    """host[:port] (default port 25)."""
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "25")
    return host.strip("[]") or "localhost", int(port or 25)


def send_mail(*, smtp: str, sender: str, recipients: list[str], subject: str, body: str) -> bool:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=socket.getfqdn() or "localhost")
    message.set_content(body)
    host, port = parse_smtp(smtp)
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as client:
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as err:
        print(f"psf-infra: mail to {', '.join(recipients)} through {host}:{port} failed: {err}", file=sys.stderr)
        return False
    return True


def default_sender() -> str:
    return f"psf-infra@{socket.getfqdn() or 'localhost'}"
