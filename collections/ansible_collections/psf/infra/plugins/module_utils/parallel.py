# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The list form of a module: one task, one Python process, many items worked in threads.

A per-item loop of a module starts a new Python process for every item (0.25-0.9 s an item, most of
it Ansible starting the module, docs/bench-fleet.md). The list forms of ``psf.infra.domain``,
``psf.infra.domain_info`` and ``psf.infra.dnssec_info`` take the whole list in one task and work its
items here, in a bounded pool of threads (the work is network waits: HTTP to the registrar, DNS
queries), and return one result per item in input order::

    outcomes = run_items(items, work, workers=8)
    for outcome in outcomes:
        outcome.index, outcome.item, outcome.result (a dict) or outcome.error (an exception)

Rules every list form keeps:

- **Bad input first.** The caller checks every item before calling :func:`run_items`
  (:func:`check_items`) and fails naming each bad item's tenant, file and field: nothing is sent
  while one item is wrong.
- **One item's failure stops no other.** Every item runs to its end; an item that fails keeps its
  error (:class:`Outcome` ``error``) and the others their results. The caller then fails naming every
  failed item (:func:`failure_message`), with every item's result returned.
- **Connections per thread.** :class:`PerThread` keeps one client object a thread (a registrar's
  HTTP opener, a DNS client), made on first use: never shared between threads, never one per item.

Free of third-party imports (``concurrent.futures`` and ``threading`` are the standard library).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError

#: Threads of a list form unless its ``workers`` option says otherwise: enough to hide network waits,
#: few enough to stay far below a registrar's rate limit (Gandi: 1000 requests a minute).
DEFAULT_WORKERS = 8
MAX_WORKERS = 64

#: The ``workers`` option of every list form (merged into its argument spec).
WORKERS_OPTION = {"workers": {"type": "int", "default": DEFAULT_WORKERS}}


@dataclass
class Outcome:
    """One item's end: its ``result`` (a dict), or the ``error`` it raised."""

    index: int
    item: Any
    result: dict[str, Any] | None = None
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def error_fields(self) -> dict[str, Any]:
        """The failure as result fields (``failed``, ``msg``, ``error`` and the error's own fields)."""
        if isinstance(self.error, PsfInfraError):
            return {"failed": True, **self.error.result_fields()}
        return {"failed": True, "msg": f"{type(self.error).__name__}: {self.error}", "error": type(self.error).__name__}


def check_workers(workers: Any) -> int:
    """The ``workers`` option, checked: 1 to MAX_WORKERS."""
    if workers is None:
        return DEFAULT_WORKERS
    if not isinstance(workers, int) or workers < 1 or workers > MAX_WORKERS:
        raise InvalidInput(f"workers must be 1 to {MAX_WORKERS}, not {workers!r}", field="workers")
    return workers


def check_items(items: Sequence[Any], check: Callable[[int, Any], Any]) -> list[Any]:
    """``check(index, item)`` for every item, before any work; the values it returns, in order.

    Every item is checked (not only up to the first bad one): the InvalidInput raised names all the
    bad items, each with its own tenant, file and field, and carries ``errors``, one result-field dict
    per bad item."""
    checked: list[Any] = []
    bad: list[PsfInfraError] = []
    for index, item in enumerate(items):
        try:
            checked.append(check(index, item))
        except PsfInfraError as err:
            bad.append(err)
            checked.append(None)
    if len(bad) == 1:
        raise bad[0]
    if bad:
        raise InvalidInput(f"{len(bad)} items are wrong, nothing was changed: " + "; ".join(str(err) for err in bad),
                           errors=[err.result_fields() for err in bad])
    return checked


def run_items(items: Sequence[Any], work: Callable[[int, Any], dict[str, Any]], *,
              workers: int = DEFAULT_WORKERS) -> list[Outcome]:
    """``work(index, item)`` for every item in a pool of ``workers`` threads; the outcomes in input
    order. An exception ends its own item only; every other item still runs to its end."""

    def one(index: int, item: Any) -> Outcome:
        try:
            return Outcome(index, item, result=work(index, item))
        except Exception as err:  # any item's error is reported in that item, not raised
            return Outcome(index, item, error=err)

    if not items:
        return []
    if workers <= 1 or len(items) == 1:
        return [one(index, item) for index, item in enumerate(items)]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="psf-infra-item") as pool:
        futures = [pool.submit(one, index, item) for index, item in enumerate(items)]
        return [future.result() for future in futures]


def failure_message(outcomes: Iterable[Outcome], what: str, describe: Callable[[Outcome], str]) -> str:
    """``2 of 300 domains failed (...): a.test (tenant a, x.yml): <error>; ...``: every failed item,
    described (its name first), with its error's message (without the name again when it starts so)."""
    outcomes = list(outcomes)
    parts = []
    for outcome in outcomes:
        if not outcome.failed:
            continue
        label = describe(outcome)
        message = str(outcome.error_fields()["msg"])
        name = label.split(" ", 1)[0]
        if message.startswith(f"{name}: "):
            message = message[len(name) + 2:]
        parts.append(f"{label}: {message}")
    return (f"{len(parts)} of {len(outcomes)} {what} failed (the others were done; every result is in "
            f"{what}): " + "; ".join(parts))


class PerThread:
    """One object a thread and key, made by ``factory()`` the first time that thread asks for it."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        made = getattr(self._local, "made", None)
        if made is None:
            made = self._local.made = {}
        if key not in made:
            made[key] = factory()
        return made[key]
