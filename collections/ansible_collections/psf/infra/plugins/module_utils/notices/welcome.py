# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The welcome a new tenant's liaisons receive (``playbooks/onboard.yml``, module ``psf.infra.welcome``).

One plain-text mail to the tenant's members with ``notify: true``: what the Infra-WG now runs for
the tenant, what the tenant must do itself (the NS and DS records at its own registrar, from
``registrar/instructions.py``, the text ``dns-tenant-instructions.yml`` prints; the
``_acme-challenge`` CNAME of each certificate name whose zone is not ours, from
``acme/delegation.py``, the record the certificate module asks for), how to reach its VMs as root,
and whom to ask. Pure: nothing here sends or reads a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.acme.delegation import delegation_record
from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_within, zone_name


def _services(record: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return list((record.get("services") or {}).get(key) or [])


def challenge_cnames(record: Mapping[str, Any], hosted_zones: Sequence[str], acme_zone: str) -> list[str]:
    """The ``_acme-challenge`` CNAME records the tenant creates in its own DNS: one per certificate
    name that is in no zone the Infra-WG hosts (those it answers itself)."""
    hosted = [zone_name(zone) for zone in hosted_zones]
    names = []
    for certificate in _services(record, "certificates"):
        for name in certificate.get("names") or []:
            if not any(is_within(zone_name(name), zone) for zone in hosted) and name not in names:
                names.append(name)
    return [delegation_record(name, tenant=str(record["name"]), acme_zone=acme_zone) for name in names]


def body(record: Mapping[str, Any], *, nameservers: Sequence[str], instructions: Sequence[Mapping[str, Any]],
         cnames: Sequence[str], reply_to: str) -> str:
    """The welcome text; ``record`` is the tenant as the registry normalised it (each VM has its
    ``fqdn``)."""
    name = str(record["name"])
    display = str(record.get("display_name") or name)
    # A decommissioned VM is on its way out: not announced as a service.
    vms = [vm for vm in _services(record, "vms") if vm.get("state", "active") != "decommissioned"]
    members = [member for member in record.get("members") or [] if member.get("notify", True)]
    hello = ", ".join(str(member.get("name") or member.get("email")) for member in members) or display
    lines = [f"Hello {hello},", "",
             f"{display} (tenant {name}) is now served by the PSF Infrastructure Working Group (Infra-WG).",
             "You receive this as its liaison: we will also write to you before any maintenance",
             "that impacts its services.", "", "What the Infra-WG runs for you:"]
    services = []
    for zone in _services(record, "zones"):
        signed = "signed with DNSSEC" if zone.get("dnssec", True) else "not signed"
        services.append(f"  - DNS: the zone {zone_name(zone['name'])} on {', '.join(nameservers)} ({signed})")
    for domain in _services(record, "domains"):
        if domain.get("registrar") == "psf":
            renew = "renewed automatically" if domain.get("auto_renew", True) else "not renewed automatically"
            services.append(f"  - Domain: {domain['name']}, held at our registrar and {renew}")
    for certificate in _services(record, "certificates"):
        services.append(f"  - TLS certificate {certificate['name']}: {', '.join(certificate.get('names') or [])}, "
                        "renewed before it expires")
    for vm in vms:
        services.append(f"  - VM {vm['fqdn']} ({vm.get('size', '?')}): backed up every night and monitored by staff")
    for app in _services(record, "apps"):
        services.append(f"  - App {app['name']} on {app.get('vm')}: https://{(app.get('names') or ['?'])[0]}/")
    lines += services or ["  - nothing yet: the tenant file declares no service"]

    lines += ["", "What you must do yourselves:"]
    todo = []
    for report in instructions:
        todo += ["", *[f"  {line}" for line in report.get("lines") or []]]
    if cnames:
        todo += ["", "  Your DNS is not ours for these certificate names: create these records at your DNS provider,",
                 "  so that we can renew the certificates (ACME DNS-01 through our name servers):",
                 *[f"    {cname}" for cname in cnames]]
    lines += todo or ["  - nothing: every record your services need is in zones we host."]

    if vms:
        lines += ["", "Your VMs, as root (with the SSH keys of your tenant file's members):"]
        lines += [f"  ssh root@{vm['fqdn']}" for vm in vms]
        lines += ["  A new or removed key goes into the tenant file; the next run sets it on every VM."]
    lines += ["", f"Questions: reply to this mail, or write to {reply_to}.", "",
              "The PSF Infrastructure Working Group"]
    return "\n".join(lines) + "\n"


def subject(record: Mapping[str, Any]) -> str:
    return f"Welcome to the PSF Infra-WG's services: {record.get('display_name') or record['name']}"


def digest(text: str) -> str:
    """What identifies the version of a welcome (the state file keeps it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
