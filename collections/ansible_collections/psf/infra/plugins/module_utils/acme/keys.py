# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private keys and certificate signing requests."""

from __future__ import annotations

from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import DEFAULT_KEY_TYPE, KEY_TYPES

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True

__all__ = ["DEFAULT_KEY_TYPE", "KEY_TYPES", "build_csr", "generate_key", "key_to_pem", "key_type_of", "load_key",
           "public_key_matches"]

_CURVE_TYPES = {"ecdsa-p256": "SECP256R1", "ecdsa-p384": "SECP384R1"}
_CURVE_NAMES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}


def generate_key(key_type: str):
    """A new private key of ``key_type`` (one of KEY_TYPES)."""
    if key_type in _CURVE_TYPES:
        return ec.generate_private_key(getattr(ec, _CURVE_TYPES[key_type])())
    if key_type.startswith("rsa-") and key_type in KEY_TYPES:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise PsfInfraError(f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def key_type_of(public_or_private_key) -> str:
    """The KEY_TYPES name of a key (public or private), or 'other:<description>'."""
    if isinstance(public_or_private_key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return _CURVE_NAMES.get(public_or_private_key.curve.name, f"other:ec-{public_or_private_key.curve.name}")
    if isinstance(public_or_private_key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa-{public_or_private_key.key_size}"
    return f"other:{type(public_or_private_key).__name__}"


def key_to_pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_key(pem: bytes, *, what: str):
    """Load an unencrypted PEM private key; the error never quotes the key."""
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise PsfInfraError(f"{what} is not an unencrypted PEM private key ({type(err).__name__})") from None


def public_key_matches(private_key, certificate: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_key.public_key().public_bytes(*fmt) == certificate.public_key().public_bytes(*fmt)


def build_csr(private_key, names: list[str]) -> bytes:
    """A PEM CSR for ``names`` (the first one is also the common name, when it fits in 64 characters)."""
    subject = []
    if len(names[0]) <= 64:
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, names[0]))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
    )
    csr = builder.sign(private_key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)
