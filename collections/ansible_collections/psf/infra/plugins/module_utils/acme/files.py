# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile


def read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def prepare(path: str, content: bytes, mode: int) -> str:
    """Write ``content`` to a temporary file next to ``path`` (already with ``mode``); return its name."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        os.fchmod(handle, mode)
        os.write(handle, content)
        os.fsync(handle)
    except BaseException:
        os.close(handle)
        os.unlink(temporary)
        raise
    os.close(handle)
    return temporary


def commit(prepared: dict[str, str]) -> None:
    """Rename every prepared temporary file over its destination (``{destination: temporary}``)."""
    for destination, temporary in prepared.items():
        os.replace(temporary, destination)
    for directory in {os.path.dirname(os.path.abspath(path)) for path in prepared}:
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def discard(prepared: dict[str, str]) -> None:
    for temporary in prepared.values():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_files_atomically(contents: dict[str, tuple[bytes, int]]) -> None:
    """Write several files (``{path: (content, mode)}``): all temporaries first, then quick renames."""
    prepared: dict[str, str] = {}
    try:
        for path, (content, mode) in contents.items():
            prepared[path] = prepare(path, content, mode)
        commit(prepared)
    except BaseException:
        discard(prepared)
        raise
