# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What was already announced: a JSON file on the control node, so that a rerun of the same notice
sends nothing (docs/announcements.md, "Sending once").

``{"version": 1, "notices": {<uid>: {"digest", "sequence", "what", "tenants": {<tenant>: {"digest",
"sent", "message_id", "to"}}}}}``: per tenant, the version (digest) of the notice it received.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput


def load(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {"version": 1, "notices": {}}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as err:
        raise InvalidInput(f"cannot read the announcement state: {err}", file=path, field="state_file") from None
    if not isinstance(data, dict) or not isinstance(data.get("notices"), dict):
        raise InvalidInput("not an announcement state file (no 'notices' mapping)", file=path, field="state_file")
    return data


def save(path: str, data: dict[str, Any]) -> None:
    """Atomically (a temporary file renamed over it), mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".announcements.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def entry(data: dict[str, Any], uid: str, digest: str, what: str) -> tuple[dict[str, Any], int]:
    """The notice's entry (not stored yet) and the SEQUENCE of this version: 0 for a new notice,
    one more than the last sent version when the content changed."""
    current = data["notices"].get(uid)
    if current is None:
        return {"digest": digest, "sequence": 0, "what": what, "tenants": {}}, 0
    if current.get("digest") == digest:
        return current, int(current.get("sequence", 0))
    sequence = int(current.get("sequence", 0)) + 1
    return {**current, "digest": digest, "sequence": sequence, "what": what}, sequence


def send_once(module: Any, result: dict[str, Any], *, kind: str, tenant: str, label: str, recipients: list[str],
              digest: str, message: Callable[[], Any], send: Callable[[Any], None]) -> dict[str, Any]:
    """A tenant's one-off mail (the welcome, the offboarding summary) sent once: the state file's
    ``kind`` mapping records it per tenant (when, to whom, its Message-ID and digest), a rerun sends
    nothing unless ``resend``; check mode builds nothing and sends nothing; diff mode shows the record
    (``<tenant>: <label> <when> (<recipients>)``). ``message`` builds the mail, ``send`` sends it."""
    params = module.params
    sent_state = load(params["state_file"])
    records = sent_state.setdefault(kind, {})
    previous = records.get(tenant)
    before = f"{tenant}: {label} {previous.get('sent')} ({', '.join(previous.get('to') or [])})\n" if previous else ""
    if previous and not params["resend"]:
        result.update(status="already sent", message_id=previous.get("message_id"), sent=previous.get("sent"))
    else:
        result.update(changed=True, status="would send" if module.check_mode else "sent")
        if not module.check_mode:
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            built = message()
            send(built)
            result.update(message_id=str(built["Message-ID"]), sent=now)
            records[tenant] = {"sent": now, "to": recipients, "message_id": result["message_id"], "digest": digest}
            save(params["state_file"], sent_state)
    if module._diff:  # pylint: disable=protected-access
        after = (f"{tenant}: {label} {result.get('sent', 'now')} ({', '.join(recipients)})\n"
                 if result["changed"] else before)
        result["diff"] = {"before_header": f"{params['state_file']} ({kind})", "after_header": kind,
                          "before": before, "after": after}
    return result
