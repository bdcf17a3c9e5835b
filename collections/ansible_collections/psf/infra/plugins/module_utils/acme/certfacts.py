# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an existing certificate says about itself: names, key type, validity."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ansible_collections.psf.infra.plugins.module_utils.acme.keys import key_type_of

try:
    from cryptography import x509
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True


@dataclass(frozen=True)
class CertificateFacts:
    names: frozenset[str]
    key_type: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: str
    issuer: str

    @property
    def lifetime(self) -> datetime.timedelta:
        return self.not_after - self.not_before

    def as_dict(self) -> dict:
        return {
            "names": sorted(self.names),
            "key_type": self.key_type,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "serial": self.serial,
            "issuer": self.issuer,
        }


def split_pem_chain(pem: str) -> list[str]:
    """The PEM blocks of a chain file, in order, each ending with a newline."""
    end = "-----END CERTIFICATE-----"
    blocks = []
    for part in pem.split(end)[:-1]:
        start = part.find("-----BEGIN CERTIFICATE-----")
        if start >= 0:
            blocks.append(part[start:] + end + "\n")
    return blocks


def serial_hex(number: int) -> str:
    """A serial number as ``openssl x509 -serial`` and CAs print it: lower-case hex in whole bytes
    (``069af1...``, not ``69af1...``), so that it can be compared with theirs as text."""
    digits = format(number, "x")
    return digits.zfill(len(digits) + len(digits) % 2)


def certificate_facts(certificate: x509.Certificate) -> CertificateFacts:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = frozenset(name.lower() for name in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = frozenset()
    return CertificateFacts(
        names=names,
        key_type=key_type_of(certificate.public_key()),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        serial=serial_hex(certificate.serial_number),
        issuer=certificate.issuer.rfc4514_string(),
    )
