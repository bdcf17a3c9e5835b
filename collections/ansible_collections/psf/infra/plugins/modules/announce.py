#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: announce
short_description: Mail a maintenance notice to the liaisons of every impacted tenant
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.smtp
description:
  - Reads a maintenance notice (C(what), C(start), C(end) with time zone, C(impact), C(scope)),
    works out which tenants it impacts from the tenant registry and the inventory groups (the rules
    are in C(docs/announcements.md)), and mails each impacted tenant's members that have C(notify)
    one notice, plain text with the window as an iCalendar (RFC 5545) attachment.
  - Bad input (a missing field, an end before the start, a date and time without a time zone, an
    unknown service, host, zone or tenant) is refused before any mail is sent, naming the field.
  - Retired tenants and members with C(notify=false) receive nothing.
  - A notice is sent once per tenant; the module records what it sent in O(state_file). A rerun
    sends nothing (C(changed=false)) unless the notice changed (then the new version goes out with
    a higher C(SEQUENCE)) or O(resend=true).
  - A failed send for one tenant does not stop the others; the module fails at the end, naming
    the tenants that got nothing (a rerun retries only them).
  - Runs on the control node.
options:
  notice:
    description: The notice. Mutually exclusive with O(notice_file).
    type: dict
  notice_file:
    description: A YAML file holding the notice (the mapping itself, or under a C(notice) key).
    type: path
  tenants:
    description: The tenant registry (C(psf_tenants)).
    type: dict
    required: true
  groups:
    description: The inventory groups (C(groups)), to know which hosts are name servers, backup or monitoring servers.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Returns the recipients and the whole message of each tenant in RV(notices); sends and records nothing.
  diff_mode:
    support: full
    description: Shows, per tenant, what was sent before and what this run sends.
  idempotent:
    support: full
    description: A second run of the same notice sends nothing and reports C(changed=false).
"""

EXAMPLES = r"""
- name: Announce a maintenance of the name servers
  psf.infra.announce:
    notice:
      id: ns-upgrade-2026-12
      what: Upgrade of the name servers to BIND 9.20
      start: "2026-12-10T18:00:00+01:00"
      end: "2026-12-10 20:00 Europe/Berlin"
      impact: Each name server restarts once; the other keeps answering.
      scope: {services: [nameservers]}
    tenants: "{{ psf_tenants }}"
    groups: "{{ groups }}"
    sender: infra-staff@python.org
    reply_to: infra-staff@python.org
    smtp_host: smtp.example.org
    smtp_username: psf-infra
    smtp_password: "{{ vault_psf_smtp_password }}"
    state_file: /var/lib/psf-infra/announcements.json
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
uid:
  description: The iCalendar UID of the notice (the same in every mail and on every run).
  returned: always
  type: str
  sample: ns-upgrade-2026-12@python.org
sequence:
  description: The iCalendar SEQUENCE of this version of the notice.
  returned: always
  type: int
impacted:
  description: Each impacted tenant and why (retired tenants included; they receive nothing).
  returned: always
  type: dict
  sample: {packaging: ["zone packaging.test (served by service nameservers)"]}
notices:
  description: >-
    One entry per impacted tenant: C(tenant), C(status) (sent, would send, already sent, failed, no recipients,
    retired), C(recipients), C(subject), C(body), C(ics), C(message_id), C(msg).
  returned: always
  type: list
  elements: dict
sent:
  description: The tenants mailed by this run.
  returned: always
  type: list
  elements: str
failed_tenants:
  description: The tenants whose mail failed (C(tenant), C(recipients), C(msg)).
  returned: when a send failed
  type: list
  elements: dict
"""

import datetime as dt
from email.utils import parseaddr

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.notices import mail, notice, render, state

ARGUMENT_SPEC = {
    "notice": {"type": "dict"},
    "notice_file": {"type": "path"},
    "tenants": {"type": "dict", "required": True},
    "groups": {"type": "dict", "default": {}},
    **mail.ARGUMENT_SPEC,
}


def read_notice(params: dict):
    if params["notice_file"]:
        path = params["notice_file"]
        try:
            import yaml

            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle)
        except OSError as err:
            raise InvalidInput(f"cannot read the notice: {err.strerror}", file=path, field="notice_file") from None
        except Exception as err:  # yaml.YAMLError, without importing yaml at module level
            raise InvalidInput(f"not YAML: {err}", file=path, field="notice_file") from None
        if isinstance(data, dict) and set(data) == {"notice"}:
            data = data["notice"]
        return notice.parse_notice(data, file=path), path
    return notice.parse_notice(params["notice"]), None


def run(module: AnsibleModule) -> dict:
    params = module.params
    the_notice, file = read_notice(params)
    sender = mail.address(params["sender"], "sender")
    reply_to = mail.address(params["reply_to"], "reply_to")
    domain = params["domain"] or parseaddr(sender)[1].rpartition("@")[2]
    smtp = mail.SmtpSettings.from_params(params)
    impacted = notice.impacted_tenants(the_notice, params["tenants"], params["groups"], file=file)
    for host in notice.hosts_without_tenants(the_notice, params["groups"]):
        module.warn(f"host {host} serves no tenant: its maintenance impacts no one")
    uid = the_notice.uid(domain)
    sent_state = state.load(params["state_file"])
    record_entry, sequence = state.entry(sent_state, uid, the_notice.digest, the_notice.what)
    now = dt.datetime.now(dt.UTC)

    notices, sent, failed, before, after = [], [], [], [], []
    for tenant, reasons in impacted.items():
        record = params["tenants"][tenant]
        to = notice.recipients(record)
        item = {"tenant": tenant, "reasons": reasons, "recipients": to}
        previous = record_entry["tenants"].get(tenant)
        if previous:
            before.append(f"{tenant}: sent {previous.get('sent')} to {', '.join(previous.get('to') or [])}"
                          f" (version {previous.get('digest', '')[:12]})")
        if record.get("status") == "retired":
            notices.append({**item, "status": "retired", "msg": "a retired tenant receives nothing"})
            continue
        if not to:
            notices.append({**item, "status": "no recipients", "msg": "no member with notify: true"})
            module.warn(f"tenant {tenant} is impacted but has no member with notify: true; nobody is told")
            continue
        if previous and previous.get("digest") == the_notice.digest and not params["resend"]:
            notices.append({**item, "status": "already sent", "msg": f"sent {previous.get('sent')}",
                            "message_id": previous.get("message_id")})
            continue
        message = render.message(the_notice, record, reasons, to=to, sender=sender, reply_to=reply_to, uid=uid,
                                 sequence=sequence, domain=domain, now=now)
        parts = list(message.iter_parts())
        item.update(subject=str(message["Subject"]), message_id=str(message["Message-ID"]),
                    body=parts[0].get_content(), ics=parts[1].get_content())
        after.append(f"{tenant}: {'would send' if module.check_mode else 'sent'} to {', '.join(to)}")
        if module.check_mode:
            notices.append({**item, "status": "would send"})
            continue
        try:
            mail.send(smtp, message)
        except PsfInfraError as err:  # one tenant's failure: the others are still told, then the task fails
            reason = err.failed_result()["msg"]
            failed.append({"tenant": tenant, "recipients": to, "msg": reason})
            notices.append({**item, "status": "failed", "msg": reason})
            continue
        sent.append(tenant)
        notices.append({**item, "status": "sent"})
        record_entry["tenants"][tenant] = {"digest": the_notice.digest, "sent": now.isoformat(timespec="seconds"),
                                           "message_id": item["message_id"], "to": to}
    if sent:
        sent_state["notices"][uid] = record_entry
        state.save(params["state_file"], sent_state)

    would = [entry["tenant"] for entry in notices if entry["status"] in ("sent", "would send", "failed")]
    result = {"changed": bool(sent) or (module.check_mode and bool(would)), "uid": uid, "sequence": sequence,
              "impacted": impacted, "notices": notices, "sent": sent, "state_file": params["state_file"]}
    if module._diff:
        result["diff"] = {"before_header": f"{params['state_file']} ({uid})", "after_header": uid,
                          "before": "".join(line + "\n" for line in before),
                          "after": "".join(line + "\n" for line in before + after)}
    if failed:
        names = ", ".join(f"{entry['tenant']} ({entry['msg']})" for entry in failed)
        result["failed_tenants"] = failed
        raise PsfInfraError(f"announcement {uid}: mail failed for {len(failed)} of {len(failed) + len(sent)} tenants: "
                            f"{names}; sent to: {', '.join(sent) or 'nobody'}. A rerun retries only the failed ones.",
                            **result)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[("notice", "notice_file")],
                           required_one_of=[("notice", "notice_file")],
                           required_together=mail.REQUIRED_TOGETHER)
    with fail_on_errors(module):  # a failure after some mails went out says changed: true
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
