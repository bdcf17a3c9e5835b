# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-zone TSIG secrets derived from one vault master secret.

Vault then holds one secret for every tenant zone instead of one per zone. A zone's key is
``base64(HMAC-SHA256(master, "zone:<zone>"))`` (generation 0) or
``base64(HMAC-SHA256(master, "zone:<zone>:<generation>"))``: rotating one zone's key is raising its
generation number, which changes no other key. Derivation is a pure function of its inputs, so the
name server role, playbooks and tests all compute the same secret without storing it anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ansible.errors import AnsibleFilterError
from ansible_collections.psf.infra.plugins.module_utils.registry.names import zone_name

#: HMAC-SHA256 keys shorter than the hash itself weaken the MAC (RFC 2104 section 3); a master
#: secret is asked to carry at least as many characters as a 256-bit key has bytes.
MIN_MASTER_SECRET_LENGTH = 32


class TsigDerivationError(ValueError):
    """The inputs cannot give a key; the message says which one and why."""


def canonical_zone(zone: str) -> str:
    """``Packaging.Test.`` -> ``packaging.test``: one spelling per zone, so one key per zone."""
    if not isinstance(zone, str) or not zone.strip().strip("."):
        raise TsigDerivationError(f"zone must be a non-empty domain name, got {zone!r}")
    return zone_name(zone)


def derivation_message(zone: str, generation: int = 0) -> bytes:
    """What is MACed for ``zone`` at ``generation``; generation 0 is ``zone:<zone>``."""
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise TsigDerivationError(f"generation of zone {zone!r} must be an integer >= 0, got {generation!r}")
    name = canonical_zone(zone)
    text = f"zone:{name}" if generation == 0 else f"zone:{name}:{generation}"
    return text.encode("ascii")


def derive_tsig_secret(master_secret: str, zone: str, generation: int = 0) -> str:
    """The base64 hmac-sha256 TSIG secret of ``zone`` at ``generation`` under ``master_secret``."""
    if not isinstance(master_secret, str) or len(master_secret) < MIN_MASTER_SECRET_LENGTH:
        # Never echo the secret, not even a part of it.
        raise TsigDerivationError(
            f"the TSIG master secret must be a string of at least {MIN_MASTER_SECRET_LENGTH} characters "
            "(set nameserver_tsig_master_secret with ansible-vault)")
    digest = hmac.new(master_secret.encode("utf-8"), derivation_message(zone, generation), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def tsig_derive(master_secret: str, zone: str, generation: int | str = 0) -> str:
    """Filter: ``nameserver_tsig_master_secret | psf.infra.tsig_derive('packaging.test', 1)``."""
    if isinstance(generation, str) and generation.strip().isdigit():
        generation = int(generation)  # inventory values and extra vars often arrive as text
    try:
        return derive_tsig_secret(master_secret, zone, generation)
    except TsigDerivationError as err:
        raise AnsibleFilterError(f"psf.infra.tsig_derive: {err}") from None


class FilterModule:
    """psf.infra TSIG helpers."""

    def filters(self) -> dict:
        return {"tsig_derive": tsig_derive}
