# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception family of psf.infra.

Every module_utils raises PsfInfraError (or a subclass); the thin module files turn it into
``fail_json`` in one place, so a person always reads a message they can act on.
"""

from __future__ import annotations


class PsfInfraError(Exception):
    """An error a person can act on; ``str(err)`` is the whole message."""


class InvalidInput(PsfInfraError):
    """Input refused before anything changed.

    The message names where the bad value came from: the tenant, the file and the field.
    """

    def __init__(self, message: str, *, tenant: str | None = None, file: str | None = None,
                 field: str | None = None) -> None:
        self.tenant = tenant
        self.file = file
        self.field = field
        self.reason = message
        where = []
        if file:
            where.append(str(file))
        if tenant:
            where.append(f"tenant '{tenant}'")
        if field:
            where.append(field)
        super().__init__(": ".join([*where, message]) if where else message)
