# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A content-addressed cache of *valid* registries, so that a run on an unchanged registry (cron,
every hour) does not parse and judge 10,000 inline records again.

An entry is found only by the SHA-256 of everything the judgement depends on:

- the bytes of every tenant file of the directory (and the directory's absolute path);
- the bytes of every zone file the valid registry read (kept in the entry, compared on every hit);
- the registry settings (``RegistryConfig``) and the day (checks compare dates with today);
- the source of the collection's ``module_utils`` (the schema, the checks, the DNS parser they call),
  the versions of Python and dnspython, and this file's format number.

So a changed byte anywhere is a miss and the registry is read and judged in full. An invalid
registry is never stored (its errors are always reported from a full judgement). The cache is an
optimisation only: an entry that cannot be read, parsed or written is ignored.
Entries are written atomically (``os.replace``) with mode 0600 in a 0700 directory; the registry
holds no secret (secrets live in the vault), the modes only keep other users out of it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

FORMAT = 1
KEEP_ENTRIES = 16  # the newest entries kept in a cache directory; older ones are removed on write
_MODULE_UTILS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_directory() -> str:
    """``$PSF_INFRA_REGISTRY_CACHE_DIR``, else ``$XDG_CACHE_HOME/psf-infra/registry`` (``~/.cache``)."""
    explicit = os.environ.get("PSF_INFRA_REGISTRY_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "psf-infra", "registry")


@functools.cache
def code_fingerprint() -> str:
    """The source of every module_utils file, and the library versions the judgement depends on."""
    digest = hashlib.sha256()
    for root, directories, files in os.walk(_MODULE_UTILS):
        directories.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, _MODULE_UTILS).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read() + b"\0")
    try:
        import dns.version

        dnspython = dns.version.version
    except ImportError:  # pragma: no cover - the registry refuses to load without it anyway
        dnspython = "none"
    digest.update(f"{sys.version}\0{dnspython}\0{FORMAT}".encode())
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_key(directory: str, contents: Iterable[tuple[str, bytes]], config: Any, today: datetime.date) -> str:
    """The key of a registry: ``contents`` are ``(file name, bytes)`` of its tenant files."""
    settings = json.dumps(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config,
                          sort_keys=True, default=str)
    digest = hashlib.sha256()
    digest.update(f"{code_fingerprint()}\0{os.path.abspath(directory)}\0{settings}\0{today.isoformat()}\0".encode())
    for name, data in contents:
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def _file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return _sha256(handle.read())
    except OSError:
        return None


def lookup(cache_dir: str | None, key: str) -> dict[str, Any] | None:
    """The stored registry for ``key`` (``{"tenants", "files"}``), or None on a miss, a zone file that
    changed since, or an entry that cannot be used."""
    if not cache_dir:
        return None
    try:
        with open(os.path.join(cache_dir, f"{key}.json"), encoding="utf-8") as handle:
            entry = json.load(handle)
        if entry.get("format") != FORMAT or entry.get("key") != key:
            return None
        zone_files = entry["zone_files"]
        if any(_file_digest(path) != digest for path, digest in zone_files.items()):
            return None
        tenants, files = entry["tenants"], entry["files"]
        if not isinstance(tenants, dict) or not isinstance(files, dict):
            return None
        return {"tenants": tenants, "files": files}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def zone_files_of(tenants: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The zone files a valid registry names (absolute paths, as the checks normalise them)."""
    return sorted({zone["zone_file"] for tenant in tenants.values()
                   for zone in tenant.get("services", {}).get("zones", []) if zone.get("zone_file")})


def store(cache_dir: str | None, key: str, tenants: Mapping[str, Any], files: Mapping[str, str]) -> None:
    """Keep a valid registry under ``key``; silently does nothing when the directory is not writable."""
    if not cache_dir:
        return
    zone_files = {path: _file_digest(path) for path in zone_files_of(tenants)}
    if any(digest is None for digest in zone_files.values()):
        return
    entry = {"format": FORMAT, "key": key, "zone_files": zone_files, "tenants": tenants, "files": files}
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, separators=(",", ":"))
            os.replace(temporary, os.path.join(cache_dir, f"{key}.json"))
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(cache_dir)
    except (OSError, TypeError, ValueError):
        return


def _prune(cache_dir: str) -> None:
    entries = []
    for name in os.listdir(cache_dir):
        if name.endswith(".json") and not name.startswith("."):
            path = os.path.join(cache_dir, name)
            try:
                entries.append((os.stat(path).st_mtime, path))
            except OSError:
                continue
    for _mtime, path in sorted(entries, reverse=True)[KEEP_ENTRIES:]:
        try:
            os.unlink(path)
        except OSError:
            continue
