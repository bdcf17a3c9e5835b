#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: offboarding_notice
short_description: Mail an offboarded tenant's liaisons and staff what was removed and what becomes of its domains
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.smtp
description:
  - One plain-text mail to the members of O(tenant) that have C(notify) (To) and to staff (Cc, O(staff);
    Reply-To O(reply_to)) once C(playbooks/offboard.yml) has taken the tenant's services away - the
    lines of O(done) (what the run did, and what was gone already), what becomes of each of its domains
    (C(offboarding.domains) of its tenant file for the domains the Infra-WG registers), and whom to ask.
  - Sent once per tenant; the module records it in O(state_file) (key C(offboarding), beside the
    announcements and welcomes). A rerun sends nothing (C(changed=false)); O(resend=true) sends the
    current text again.
  - Check mode returns the message and sends nothing. A tenant whose file does not declare
    C(offboarding) is refused, naming the tenant and the field. A tenant without a member with
    C(notify) is told nothing itself; staff still receive the summary.
  - Runs on the control node.
options:
  tenant:
    description: The offboarded tenant (a key of O(tenants)).
    type: str
    required: true
  tenants:
    description: The tenant registry (C(psf_tenants)).
    type: dict
    required: true
  done:
    description: What the run did and found, one line each (without a leading dash).
    type: list
    elements: str
    default: []
  staff:
    description: The staff addresses that receive the summary too (Cc).
    type: list
    elements: str
    required: true
  transfers:
    description:
      - Per domain leaving to another registrar (C(offboarding.domains=transfer)), what M(psf.infra.domain)
        with C(transfer_out) returned in its C(transfer) - C(unlocked) and C(auth_code), the transfer
        code. A B(secret) (C(no_log)) - the code is written in the mail only; RV(body), check mode and the
        state file carry a placeholder instead. Staff, in Cc, receive the mail with the code too.
      - A domain without a code here (a registrar without transfers, such as a parent zone we run) is told
        that staff send its code.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Returns the recipients and the whole message in RV(body); sends and records nothing.
  diff_mode:
    support: full
    description: Shows when the summary was sent before, and whether this run sends it.
  idempotent:
    support: full
    description: A second run sends nothing and reports C(changed=false) (unless O(resend=true)).
"""

EXAMPLES = r"""
# playbooks/offboard.yml, with the mail settings of playbooks/vars/mail.yml
- name: Mail the summary to the liaisons and staff, once
  psf.infra.offboarding_notice:
    tenant: "{{ tenant }}"
    tenants: "{{ psf_tenants }}"
    done: ["VM web1.packaging: final archive verified, destroyed", "zone packaging.test: no longer served"]
    staff: ["{{ mail_staff_email }}"]
    sender: "{{ mail_sender }}"
    reply_to: "{{ mail_staff_email }}"
    smtp_host: "{{ mail_smtp_host }}"
    state_file: "{{ mail_state_file }}"
"""

RETURN = r"""
status:
  description: sent, would send, or already sent.
  returned: always
  type: str
recipients:
  description: The members with C(notify), as C(Name <address>) (To).
  returned: always
  type: list
  elements: str
cc:
  description: The staff addresses (Cc).
  returned: always
  type: list
  elements: str
subject:
  description: The subject of the mail.
  returned: always
  type: str
body:
  description:
    - The text of the mail (the one that was sent, or would be), each transfer code replaced by a
      placeholder (the code is in the mail only).
  returned: always
  type: str
message_id:
  description: The Message-ID of the mail sent (of the earlier one when already sent).
  returned: when sent
  type: str
sent:
  description: When the summary was sent (ISO 8601, UTC).
  returned: when sent
  type: str
"""

from email.utils import parseaddr

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.notices import mail, offboarding, state
from ansible_collections.psf.infra.plugins.module_utils.registry import views

ARGUMENT_SPEC = {
    "tenant": {"type": "str", "required": True},
    "tenants": {"type": "dict", "required": True},
    "done": {"type": "list", "elements": "str", "default": []},
    "staff": {"type": "list", "elements": "str", "required": True},
    "transfers": {"type": "dict", "default": {}, "no_log": True},
    **mail.ARGUMENT_SPEC,
}


def run(module: AnsibleModule) -> dict:
    params = module.params
    tenant = params["tenant"]
    record = params["tenants"].get(tenant)
    if record is None:
        known = ", ".join(sorted(params["tenants"]))
        raise InvalidInput(f"tenant {tenant!r} is not in the registry (tenants: {known})", field="tenant")
    if not views.is_offboarding(record):
        raise InvalidInput("declares no offboarding: only a tenant being offboarded gets this summary",
                           tenant=tenant, field="offboarding")
    to = views.member_addresses(record)
    cc = [mail.address(address, "staff") for address in params["staff"]]
    if not cc:
        raise InvalidInput("staff receive the summary: give at least one address", field="staff")
    sender = mail.address(params["sender"], "sender")
    reply_to = mail.address(params["reply_to"], "reply_to")
    domain = params["domain"] or parseaddr(sender)[1].rpartition("@")[2]
    transfers = params["transfers"] or {}
    # shown and returned: the codes as placeholders (in check mode nothing was asked of the registrar)
    text = offboarding.body(record, done=params["done"], reply_to=reply_to, transfers=transfers,
                            planned=module.check_mode)
    # mailed: the codes themselves, to the liaisons (To) and staff (Cc)
    mailed = offboarding.body(record, done=params["done"], reply_to=reply_to, transfers=transfers, show_codes=True)
    result = {"changed": False, "recipients": to, "cc": cc, "subject": offboarding.subject(record), "body": text,
              "state_file": params["state_file"]}

    return state.send_once(
        module, result, kind="offboarding", tenant=tenant, label="offboarding summary sent", recipients=to + cc,
        digest=offboarding.digest(text),
        message=lambda: mail.new_message(sender=sender, recipients=to or cc, cc=cc if to else None,
                                         subject=result["subject"], body=mailed, reply_to=reply_to, domain=domain),
        send=lambda message: mail.send(mail.SmtpSettings.from_params(params), message))


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_together=mail.REQUIRED_TOGETHER)
    with fail_on_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
