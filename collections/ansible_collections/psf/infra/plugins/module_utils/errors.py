# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception family of psf.infra, and the one place it becomes a module failure.

Every module_utils raises PsfInfraError (or a subclass). Modules and action plugins turn it into
a failed result with ``fail_on_errors(module)`` / ``err.do_fail(module)`` (modules) or
``err.failed_result()`` (action plugins, and each entry of a batch), as community.crypto's
``ModuleFailException.do_fail`` does, so a person always reads one message they can act on, and
bad input always carries the tenant, the file and the field as result fields too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn


class PsfInfraError(Exception):
    """An error a person can act on; ``str(err)`` is the whole message.

    ``fields`` are extra result fields a module returns with the failure (for example the
    delegation records a tenant must publish).
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields

    def result_fields(self) -> dict[str, Any]:
        """The failure as result fields: the message, the error's kind and its extra fields."""
        return {"msg": str(self), "error": type(self).__name__, **self.fields}

    def failed_result(self, **more: Any) -> dict[str, Any]:
        """The failed result an action plugin returns (``failed``, the result fields and ``more``)."""
        return {"failed": True, **self.result_fields(), **more}

    def do_fail(self, module: Any, **more: Any) -> NoReturn:
        """``module.fail_json`` with this error's fields (and ``more``, e.g. ``changed``)."""
        module.fail_json(**{**self.result_fields(), **more})
        raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits


class ItemsFailed(PsfInfraError):
    """Some items of a list form failed and the others were done (``module_utils/parallel.py``):
    the message names every failed item, and ``fields`` carry every item's result, so that the
    failure returns them all (``fail_on_errors`` turns it into ``fail_json`` like any other error)."""


class InvalidInput(PsfInfraError):
    """Input refused before anything changed.

    The message names where the bad value came from: the tenant, the file and the field.
    """

    def __init__(self, message: str, *, tenant: str | None = None, file: str | None = None,
                 field: str | None = None, **fields: Any) -> None:
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
        super().__init__(": ".join([*where, message]) if where else message, **fields)

    def result_fields(self) -> dict[str, Any]:
        return {**super().result_fields(), "tenant": self.tenant, "file": self.file, "field": self.field}


class BackendUnavailable(PsfInfraError):
    """A server we depend on did not answer or refused: one line naming it, what was tried and
    what to check, e.g. ``primary name server 127.0.0.1:5301: zone transfer of example.org.
    failed: connection refused; check that named runs and listens there``.
    """

    def __init__(self, server: str, tried: str, reason: str, check: str, **fields: Any) -> None:
        self.server = server
        self.tried = tried
        self.reason = reason
        self.check = check
        super().__init__(f"{server}: {tried} failed: {reason}; check {check}", **fields)

    def result_fields(self) -> dict[str, Any]:
        return {**super().result_fields(), "server": self.server}


@contextmanager
def fail_on_errors(module: Any, **more: Any) -> Iterator[None]:
    """Turn every PsfInfraError raised inside into ``module.fail_json`` (the one place we do)."""
    try:
        yield
    except PsfInfraError as err:
        err.do_fail(module, **more)
