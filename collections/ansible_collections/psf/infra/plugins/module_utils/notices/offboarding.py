# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The summary an offboarded tenant's liaisons and staff receive (``playbooks/offboard.yml``, module
``psf.infra.offboarding_notice``).

One plain-text mail, to the tenant's members with ``notify: true`` and to staff: what the run did
(the lines the playbook gives: each VM's final archive and its retention, each certificate, zone and
monitoring step), what becomes of each domain (``offboarding.domains`` for the domains the Infra-WG
registers; the tenant's own registrar for the others), how long the backups stay restorable, and
whom to ask. Pure: nothing here sends or reads a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

#: Where a transfer code stands in every text that is shown or returned (check mode, the module's
#: ``body``): the code itself is in the mail only (docs/tenants.md, "Offboarding").
CODE_PLACEHOLDER = "<the transfer code: in the mail to the liaisons only>"


def _services(record: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return list((record.get("services") or {}).get(key) or [])


def subject(record: Mapping[str, Any]) -> str:
    return f"[PSF Infra] {record.get('display_name') or record['name']}: the services of the Infra-WG have ended"


def _transfer_line(name: str, transfer: Mapping[str, Any] | None, *, show_codes: bool, planned: bool) -> str:
    """A domain leaving to the registrar the tenant chooses: unlocked, and its code (or the placeholder)."""
    code = (transfer or {}).get("auth_code")
    if planned or code:
        shown = code if show_codes and code else CODE_PLACEHOLDER
        lock = ("its transfer lock is removed" if planned or (transfer or {}).get("unlocked")
                else "the removal of its transfer lock was asked of the registrar, which may take up to a few "
                     "days to validate it; the transfer can be ordered once it is done")
        return (f"- {name}: registered by the Infra-WG, ready to be transferred to the registrar you choose: "
                f"{lock}, and its transfer (authorisation) code is: {shown} . Order the transfer at your new "
                "registrar with this code (keep it private: whoever has it can move the domain). It stays "
                "registered with us until the transfer completes.")
    return (f"- {name}: registered by the Infra-WG, to be transferred to the registrar you choose: its transfer "
            "code could not be had automatically from its registrar, so staff send it to you and unlock the "
            "domain: reply to this mail with the registrar's name. Until then it stays registered with us.")


def domain_lines(record: Mapping[str, Any], transfers: Mapping[str, Any] | None = None, *,
                 show_codes: bool = False, planned: bool = False) -> list[str]:
    """What becomes of each domain of the tenant: ``offboarding.domains`` (expire or transfer) for the
    ones the Infra-WG registers (``registrar: psf``); the others are at the tenant's own registrar.

    ``transfers``: per domain, what ``psf.infra.domain`` with ``transfer_out`` returned (``unlocked``,
    ``auth_code``). A code is written only with ``show_codes`` (the mail); otherwise, and for every
    domain when ``planned`` (check mode: nothing was asked of the registrar), the placeholder."""
    fate = (record.get("offboarding") or {}).get("domains", "expire")
    lines = []
    for domain in _services(record, "domains"):
        name = domain["name"]
        if domain.get("registrar") == "psf" and fate == "transfer":
            lines.append(_transfer_line(name, (transfers or {}).get(name), show_codes=show_codes, planned=planned))
        elif domain.get("registrar") == "psf":
            lines.append(f"- {name}: registered by the Infra-WG, left to expire: its auto-renewal is off and "
                         "its DNSSEC DS record withdrawn; it lapses at the end of its current term. Reply to "
                         "this mail before then if you want it transferred to you instead.")
        else:
            lines.append(f"- {name}: at your own registrar: point its NS records to wherever its DNS is served "
                         "now, and remove any DS record we asked you to set (our name servers no longer "
                         "answer for it).")
    return lines


def body(record: Mapping[str, Any], *, done: Sequence[str], reply_to: str, transfers: Mapping[str, Any] | None = None,
         show_codes: bool = False, planned: bool = False) -> str:
    """The text: the tenant, what was done (``done``: one line each, as the playbook words them), its
    domains (the transfer codes only with ``show_codes``: the mail, never a shown text), and whom to ask."""
    offboarding = record.get("offboarding") or {}
    name = record["name"]
    lines = [
        "Hello,",
        "",
        f"The PSF Infrastructure Working Group has ended the services it ran for {record.get('display_name') or name}"
        f" (tenant {name}). Offboarding started on {offboarding.get('started_on', '?')}"
        + (f": {offboarding['reason']}" if offboarding.get("reason") else "."),
        "",
        "What was done:",
        *(f"- {line}" for line in done),
    ]
    if not done:
        lines.append("- nothing was left to remove")
    domains = domain_lines(record, transfers, show_codes=show_codes, planned=planned)
    if domains:
        lines += ["", "Your domains:", *domains]
    if _services(record, "vms"):
        lines += ["", "The final backups of your VMs stay restorable until the date given above for each: to get "
                      "files back from them, reply to this mail."]
    lines += [
        "",
        f"For any question, reply to this mail: it goes to the Infra-WG staff ({reply_to}).",
        "",
        "Thank you for working with the Infra-WG.",
        "-- ",
        "PSF Infrastructure Working Group",
    ]
    return "\n".join(lines) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
