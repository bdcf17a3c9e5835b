# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One spelling per domain name, for everything that compares names as text.

The registry stores zone, domain and certificate names in this spelling; the filters (TSIG key
derivation, the name servers' zone list, the monitoring server's probes) use the same helper, so a
zone written ``Packaging.Test.`` in one place and ``packaging.test`` in another is one zone
everywhere. The DNS code compares ``dns.name.Name`` objects instead (``dns/model.py``).
Pure: no imports.
"""

from __future__ import annotations


def zone_name(text: str) -> str:
    """``' Packaging.Test. '`` -> ``'packaging.test'``: no surrounding space, no final dot, lower case."""
    return text.strip().rstrip(".").lower()


def is_within(name: str, parent: str) -> bool:
    """True when ``name`` equals ``parent`` or is below it (both in the ``zone_name`` spelling)."""
    return name == parent or name.endswith("." + parent)


def is_apex(owner: str, zone: str) -> bool:
    """True when a record's owner as declared (``@``, relative or absolute) is the apex of ``zone``."""
    owner = owner.strip()
    return owner == "@" or (owner.endswith(".") and zone_name(owner) == zone_name(zone))
