# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The renewal decision: pure, so every reason can be unit-tested."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ansible_collections.psf.infra.plugins.module_utils.acme.certfacts import CertificateFacts

#: the reason when the current certificate's key is recorded as compromised (module_utils/acme/compromised.py),
#: as planned (check mode, decide_renewal) and once done
KEY_COMPROMISED_PLAN = "key compromised: a new key and certificate would be ordered"
KEY_COMPROMISED_DONE = "key compromised: a new key and certificate were ordered"


@dataclass(frozen=True)
class RenewalDecision:
    renew: bool
    reason: str
    due: datetime.datetime | None = None  # when the current certificate becomes due, if it is kept


def renewal_due(facts: CertificateFacts, renew_before_days: int | None) -> datetime.datetime:
    """When a certificate becomes due: ``renew_before_days`` before expiry, or at 2/3 of its lifetime."""
    if renew_before_days is None:
        return facts.not_after - facts.lifetime / 3
    return facts.not_after - datetime.timedelta(days=renew_before_days)


def decide_renewal(
    existing: CertificateFacts | None,
    *,
    names: list[str],
    key_type: str,
    now: datetime.datetime,
    renew_before_days: int | None = None,
    key_matches: bool = True,
    ari_renewal_time: datetime.datetime | None = None,
    force: bool = False,
    key_compromised: bool = False,
) -> RenewalDecision:
    """Whether to order a new certificate, and why (first reason wins, most fundamental first).

    ``existing`` is None when there is no readable certificate. ``key_matches`` is False when the
    private key file is missing or does not belong to the certificate. ``ari_renewal_time`` is the
    time the CA's renewal information (RFC 9773) picked inside its suggested window, if offered.
    ``key_compromised`` is True when the certificate or its key is recorded as compromised (revoked for
    keyCompromise): nothing else matters then, not even ``force`` or the CA's opinion.
    """
    if existing is None:
        return RenewalDecision(True, "no certificate yet")
    if key_compromised:
        return RenewalDecision(True, KEY_COMPROMISED_PLAN)
    if not key_matches:
        return RenewalDecision(True, "the private key is missing or does not match the certificate")
    wanted = frozenset(name.lower() for name in names)
    if wanted != existing.names:
        added = ", ".join(sorted(wanted - existing.names)) or "none"
        removed = ", ".join(sorted(existing.names - wanted)) or "none"
        return RenewalDecision(True, f"names changed (added: {added}; removed: {removed})")
    if key_type != existing.key_type:
        return RenewalDecision(True, f"key type changed from {existing.key_type} to {key_type}")
    if force:
        return RenewalDecision(True, "renewal forced")
    if now >= existing.not_after:
        return RenewalDecision(True, f"expired on {existing.not_after.isoformat()}")
    due = renewal_due(existing, renew_before_days)
    if ari_renewal_time is not None and now >= ari_renewal_time:
        return RenewalDecision(True, f"the CA's renewal information asks for renewal from "
                                     f"{ari_renewal_time.isoformat()}")
    if now >= due:
        days_left = (existing.not_after - now) / datetime.timedelta(days=1)
        return RenewalDecision(True, f"expires on {existing.not_after.isoformat()} ({days_left:.1f} days "
                                     f"left), renewal due since {due.isoformat()}")
    if ari_renewal_time is not None:
        due = min(due, ari_renewal_time)
    return RenewalDecision(False, f"valid until {existing.not_after.isoformat()}; "
                                  f"renewal due on {due.isoformat()}", due=due)
