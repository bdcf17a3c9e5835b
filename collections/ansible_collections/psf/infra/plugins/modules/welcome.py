#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: welcome
short_description: Mail a new tenant's liaisons what the Infra-WG runs for them and what they must do
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.smtp
description:
  - One plain-text mail to the members of O(tenant) that have C(notify), saying what the Infra-WG now runs
    for the tenant (zones, domains, certificates, VMs, apps, from its tenant file), what the tenant
    must do itself (the NS and DS records at its own registrar, given as O(instructions), the reports
    of the P(psf.infra.delegation_instructions#filter) filter; the C(_acme-challenge) CNAME of each
    certificate name in no zone of O(hosted_zones)), how to reach its VMs as root, and whom to ask.
  - Sent once per tenant; the module records it in O(state_file) (key C(welcome), beside the
    announcements of M(psf.infra.announce)). A rerun sends nothing (C(changed=false)), even when the
    text would now differ, and O(resend=true) sends the current text again.
  - Check mode returns the message and sends nothing. A retired or suspended tenant, or one without
    a member with C(notify), is refused, naming the tenant and the field.
  - Runs on the control node.
options:
  tenant:
    description: The tenant to welcome (a key of O(tenants)).
    type: str
    required: true
  tenants:
    description: The tenant registry (C(psf_tenants)).
    type: dict
    required: true
  nameservers:
    description: The Infra-WG's name servers (C(psf_dns_nameservers)), named in the text for the hosted zones.
    type: list
    elements: str
    required: true
  hosted_zones:
    description: Every zone the Infra-WG hosts, of any tenant; a certificate name in none of them needs a CNAME.
    type: list
    elements: str
    default: []
  acme_zone:
    description: The zone where the Infra-WG answers ACME DNS-01 challenges for names delegated to it.
    type: str
    required: true
  instructions:
    description: >-
      The reports of P(psf.infra.delegation_instructions#filter) for the tenant's domains (C(domain),
      C(tenant), C(lines)); the lines of each go into the mail as they are.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
    description: Returns the recipients and the whole message in RV(body); sends and records nothing.
  diff_mode:
    support: full
    description: Shows when the tenant was welcomed before, and whether this run sends the welcome.
  idempotent:
    support: full
    description: A second run sends nothing and reports C(changed=false) (unless O(resend=true)).
"""

EXAMPLES = r"""
# playbooks/onboard.yml, with the mail settings of playbooks/vars/mail.yml
- name: Welcome the tenant's liaisons, once
  psf.infra.welcome:
    tenant: "{{ tenant }}"
    tenants: "{{ psf_tenants }}"
    nameservers: "{{ psf_dns_nameservers }}"
    hosted_zones: "{{ psf_tenants | psf.infra.tenant_zones | map(attribute='name') | list }}"
    acme_zone: "{{ acme_zone_name }}"
    instructions: "{{ instructions_reports }}"  # from playbooks/dns-tenant-instructions.yml
    sender: "{{ mail_sender }}"
    reply_to: "{{ mail_staff_email }}"
    smtp_host: "{{ mail_smtp_host }}"
    smtp_username: "{{ mail_smtp.username }}"
    smtp_password: "{{ mail_smtp.password }}"
    state_file: "{{ mail_state_file }}"
    resend: "{{ resend | default(false) | bool }}"
  register: onboard_welcome
"""

RETURN = r"""
status:
  description: sent, would send, or already sent.
  returned: always
  type: str
recipients:
  description: The members with C(notify), as C(Name <address>).
  returned: always
  type: list
  elements: str
subject:
  description: The subject of the mail.
  returned: always
  type: str
body:
  description: The text of the mail (the one that was sent, or would be).
  returned: always
  type: str
cnames:
  description: The C(_acme-challenge) records the tenant creates in its own DNS.
  returned: always
  type: list
  elements: str
message_id:
  description: The Message-ID of the mail sent (of the earlier one when already sent).
  returned: when sent
  type: str
sent:
  description: When the welcome was sent (ISO 8601, UTC).
  returned: when sent
  type: str
"""

from email.utils import parseaddr

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.notices import mail, notice, state, welcome

ARGUMENT_SPEC = {
    "tenant": {"type": "str", "required": True},
    "tenants": {"type": "dict", "required": True},
    "nameservers": {"type": "list", "elements": "str", "required": True},
    "hosted_zones": {"type": "list", "elements": "str", "default": []},
    "acme_zone": {"type": "str", "required": True},
    "instructions": {"type": "list", "elements": "dict", "default": []},
    **mail.ARGUMENT_SPEC,
}


def run(module: AnsibleModule) -> dict:
    params = module.params
    tenant = params["tenant"]
    record = params["tenants"].get(tenant)
    if record is None:
        known = ", ".join(sorted(params["tenants"]))
        raise InvalidInput(f"tenant {tenant!r} is not in the registry (tenants: {known})", field="tenant")
    if record.get("status", "active") != "active":
        raise InvalidInput(f"is {record.get('status')}: only an active tenant is welcomed", tenant=tenant,
                           field="status")
    to = notice.recipients(record)
    if not to:
        raise InvalidInput("has no member with notify: true, so nobody would read the welcome", tenant=tenant,
                           field="members")
    for report in params["instructions"]:
        if report.get("tenant") not in (None, tenant):
            raise InvalidInput(f"the report for {report.get('domain')} is tenant {report.get('tenant')}'s",
                               tenant=tenant, field="instructions")
    sender = mail.address(params["sender"], "sender")
    reply_to = mail.address(params["reply_to"], "reply_to")
    domain = params["domain"] or parseaddr(sender)[1].rpartition("@")[2]
    cnames = welcome.challenge_cnames(record, params["hosted_zones"], params["acme_zone"])
    text = welcome.body(record, nameservers=params["nameservers"], instructions=params["instructions"],
                        cnames=cnames, reply_to=reply_to)
    result = {"changed": False, "recipients": to, "subject": welcome.subject(record), "body": text, "cnames": cnames,
              "state_file": params["state_file"]}

    return state.send_once(
        module, result, kind="welcome", tenant=tenant, label="welcomed", recipients=to, digest=welcome.digest(text),
        message=lambda: mail.new_message(sender=sender, recipients=to, subject=result["subject"], body=text,
                                         reply_to=reply_to, domain=domain),
        send=lambda message: mail.send(mail.SmtpSettings.from_params(params), message))


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_together=mail.REQUIRED_TOGETHER)
    with fail_on_errors(module):
        module.exit_json(**run(module))


if __name__ == "__main__":
    main()
