# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The record of compromised keys in a certificate directory: ``<dest>/key-compromised.json``.

A revocation for ``keyCompromise`` appends one entry (serial, reason, when, what the CA answered, and the
SHA-256 of the key's SubjectPublicKeyInfo, never the key itself); the file is written atomically and only
ever grows. ``state: present`` reads it: a certificate whose serial or public key is listed is replaced by a
new certificate with a new key, and a listed key is never reused (``reuse_key`` included). The file holds no
secret (mode 0644).
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.psf.infra.plugins.module_utils.acme import files
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:  # the module reports missing libraries (acme.deps), sanity imports without them
    HAS_LIBRARIES = False
else:
    HAS_LIBRARIES = True

MARKER_FILE = "key-compromised.json"


def public_key_sha256(public_or_private_key) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo: the same for a private key and its certificate."""
    public_key = getattr(public_or_private_key, "public_key", None)
    public_key = public_key() if callable(public_key) else public_or_private_key
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def marker_path(dest: str) -> str:
    return os.path.join(dest, MARKER_FILE)


def read_entries(dest: str) -> list[dict]:
    """The entries of ``dest``'s marker ([] without one); a marker that cannot be read fails, naming it:
    ignoring it could put a compromised key back in service."""
    path = marker_path(dest)
    try:
        raw = files.read_or_none(path)
    except OSError as error:
        raise PsfInfraError(f"the compromised-key record {path} cannot be read ({error.strerror}); "
                            f"fix its permissions, nothing was changed") from None
    if raw is None:
        return []
    try:
        document = json.loads(raw)
        entries = document["compromised"]
        if not isinstance(entries, list) or not all(isinstance(entry, dict) and entry.get("public_key_sha256")
                                                    for entry in entries):
            raise ValueError("bad entries")
    except (ValueError, KeyError, TypeError):
        raise PsfInfraError(f"the compromised-key record {path} is not what this module writes (JSON with a "
                            f"'compromised' list); restore or inspect it, nothing was changed") from None
    return entries


def find(entries: list[dict], *, serial: str | None = None, public_keys: tuple = ()) -> dict | None:
    """The entry naming ``serial`` or one of ``public_keys`` (keys or certificates' public keys), if any."""
    digests = {public_key_sha256(key) for key in public_keys if key is not None}
    for entry in entries:
        if (serial is not None and entry.get("serial") == serial) or entry.get("public_key_sha256") in digests:
            return entry
    return None


def record(dest: str, entry: dict) -> None:
    """Append ``entry`` to ``dest``'s marker, atomically (temporary file and rename)."""
    entries = read_entries(dest)
    document = {"compromised": [*entries, entry]}
    content = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files.write_files_atomically({marker_path(dest): (content, 0o644)})


def describe(entry: dict) -> str:
    """``serial 1f2e revoked for keyCompromise at 2026-...`` (for reasons and messages)."""
    return f"serial {entry.get('serial')} revoked for {entry.get('reason')} at {entry.get('revoked_at')}"
