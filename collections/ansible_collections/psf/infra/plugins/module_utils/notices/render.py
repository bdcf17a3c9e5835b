# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mail of a notice for one tenant: plain text, and the window as an iCalendar (RFC 5545) event.

The event's UID is the notice's (its ``id``, else a digest of its content), the same in every
tenant's mail and on every rerun; SEQUENCE grows when a notice with the same ``id`` is changed, so
calendars update the event instead of adding a second one. Times are in UTC (``...Z``).
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.notices.mail import new_message
from ansible_collections.psf.infra.plugins.module_utils.notices.notice import Notice

PRODID = "-//PSF Infrastructure Working Group//psf.infra announce//EN"


def _when(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").replace("UTC+00:00", "UTC")


def subject(notice: Notice) -> str:
    start, end = notice.start_utc, notice.end_utc
    until = end.strftime("%H:%M") if start.date() == end.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"[PSF Infra maintenance] {start:%Y-%m-%d %H:%M}-{until} UTC: {notice.what}"


def body(notice: Notice, record: Any, reasons: list[str], reply_to: str) -> str:
    local = ""
    if notice.start.utcoffset() != dt.timedelta(0) or notice.end.utcoffset() != dt.timedelta(0):
        local = f"             ({_when(notice.start)} to {_when(notice.end)})\n"
    duration = notice.end - notice.start
    hours, rest = divmod(int(duration.total_seconds()) // 60, 60)
    lines = [
        f"Hello {record.get('display_name') or record['name']},",
        "",
        "the PSF Infrastructure Working Group will carry out maintenance that affects your services.",
        "",
        f"What:        {notice.what}",
        f"When:        {notice.start_utc:%Y-%m-%d %H:%M} UTC to {notice.end_utc:%Y-%m-%d %H:%M} UTC"
        f" ({hours} h {rest:02d} min)",
    ]
    text = "\n".join(lines) + "\n" + local
    text += f"Impact:      {notice.impact}\n"
    if notice.details:
        text += f"\n{notice.details}\n"
    text += "\nWhat of yours is concerned:\n" + "".join(f"  - {reason}\n" for reason in reasons)
    text += ("\nThe window is attached as a calendar event (maintenance.ics).\n"
             f"Questions or a conflict with this window? Reply to this mail (it goes to {reply_to}).\n"
             "\n-- \nPSF Infrastructure Working Group\n"
             "You receive this as a member of your tenant with notify: true in the tenant registry.\n")
    return text


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with CRLF + one space (never inside a
    UTF-8 sequence)."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not out else 74):
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def icalendar(notice: Notice, *, uid: str, sequence: int, organizer: str, stamp: dt.datetime,
              description: str) -> str:
    """VCALENDAR with one VEVENT (METHOD:PUBLISH: a notice, not an invitation to answer)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{int(sequence)}",
        f"DTSTAMP:{_stamp(stamp)}",
        f"DTSTART:{_stamp(notice.start)}",
        f"DTEND:{_stamp(notice.end)}",
        f"SUMMARY:{_escape('PSF Infra maintenance: ' + notice.what)}",
        f"DESCRIPTION:{_escape(description)}",
        f"ORGANIZER:mailto:{organizer}",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)


def message(notice: Notice, record: Any, reasons: list[str], *, to: list[str], sender: str, reply_to: str,
            uid: str, sequence: int, domain: str | None = None,
            now: dt.datetime | None = None) -> EmailMessage:
    """The mail for one tenant: text/plain, then text/calendar (maintenance.ics)."""
    text = body(notice, record, reasons, reply_to)
    mail = new_message(sender=sender, recipients=to, subject=subject(notice), body=text, reply_to=reply_to,
                       domain=domain)
    mail["X-PSF-Notice-UID"] = uid
    description = f"{notice.impact}\n\nConcerned: " + "; ".join(reasons)
    ics = icalendar(notice, uid=uid, sequence=sequence, organizer=_address(reply_to),
                    stamp=now or dt.datetime.now(dt.UTC), description=description)
    mail.add_attachment(ics.encode("utf-8"), maintype="text", subtype="calendar", filename="maintenance.ics",
                        params={"method": "PUBLISH", "charset": "utf-8"})
    return mail


def _address(value: str) -> str:
    from email.utils import parseaddr

    return parseaddr(value)[1] or value
