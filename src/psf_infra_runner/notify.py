"""Telling someone about a run: healthchecks-style heartbeat pings and the report mail to staff.

Both are best effort: a heartbeat service or mail relay that is down is reported on stderr and
never changes the run's exit code (the metrics and the summary still hold the result).

Heartbeat (``--heartbeat-url URL``), as healthchecks.io and its clones understand it:
``URL/start`` when the run starts, ``URL`` when it did its work (ok, changed, drift), ``URL/fail``
when it did not (failed, unreachable, timeout, invalid registry); the end pings carry the report
as their body, so the service shows why.

The mail goes through the collection's SMTP client (``plugins/module_utils/notices/mail.py``, the one
``psf.infra.announce`` sends maintenance notices with), so there is one SMTP path in the project.
"""

from __future__ import annotations

import socket
import sys
import urllib.request

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


def send_mail(*, smtp: str, sender: str, recipients: list[str], subject: str, body: str) -> bool:
    """Mail ``body`` through ``smtp`` (``host[:port]``, default port 25, plain SMTP to the local relay)."""
    from psf_infra_runner.inventory import project_root
    from psf_infra_runner.summary import use_collection

    use_collection(project_root())
    from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError
    from ansible_collections.psf.infra.plugins.module_utils.notices import mail

    settings = mail.SmtpSettings.parse(smtp, timeout=TIMEOUT)
    message = mail.new_message(sender=sender, recipients=recipients, subject=subject, body=body,
                               domain=socket.getfqdn() or "localhost")
    try:
        mail.send(settings, message)
    except PsfInfraError as err:
        print(f"psf-infra: mail to {', '.join(recipients)} through {settings.host}:{settings.port} failed: {err}",
              file=sys.stderr)
        return False
    return True


def default_sender() -> str:
    return f"psf-infra@{socket.getfqdn() or 'localhost'}"
