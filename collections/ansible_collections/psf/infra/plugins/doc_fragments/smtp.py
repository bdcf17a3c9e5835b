# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the mail options of psf.infra.announce and psf.infra.welcome; their argument
spec is beside, in ``plugins/module_utils/notices/mail.py`` (``ARGUMENT_SPEC``)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  sender:
    description: The From address.
    type: str
    required: true
  reply_to:
    description: Where answers go (staff).
    type: str
    required: true
  domain:
    description: The domain of the Message-ID (and of a notice's UID). Default the domain of O(sender).
    type: str
  smtp_host:
    description: The SMTP relay.
    type: str
    required: true
  smtp_port:
    description: Its port.
    type: int
    default: 587
  smtp_starttls:
    description: Require STARTTLS (the relay's certificate is verified). Production relays need it.
    type: bool
    default: true
  smtp_username:
    description: Authenticate as this user (only inside TLS).
    type: str
  smtp_password:
    description: The password of O(smtp_username). Keep it in the vault.
    type: str
  smtp_ca_file:
    description: CA certificates to verify the relay with instead of the system's.
    type: path
  smtp_timeout:
    description: Seconds for one SMTP conversation.
    type: float
    default: 10
  state_file:
    description: The JSON file on the control node recording what was sent to whom.
    type: path
    required: true
  resend:
    description: Send again, also to the tenants that received this version.
    type: bool
    default: false
"""
