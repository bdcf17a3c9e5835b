# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus textfile metrics: the exposition text of a set of metric families, and the atomic
write the node exporter's textfile collector needs (it reads ``*.prom`` files at every scrape, so
it must see the old file or the new one, never half of one).

Used by ``psf.infra.textfile_metrics`` (the domain playbooks' metrics). Free of third-party and
Ansible imports, so the ``psf-infra`` runner can import it too (``summary.use_collection``).
"""

from __future__ import annotations

import datetime
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("gauge", "counter", "untyped")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _timestamp(value: str) -> float | None:
    """``2027-01-31T00:00:00+00:00`` (ISO 8601; without an offset: UTC) -> Unix seconds, else None."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017 - older targets
    return moment.timestamp()


def _number(value: Any, where: str) -> str:
    """A sample value: a number, or an ISO 8601 date and time (written as Unix seconds)."""
    if isinstance(value, bool):
        return str(int(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = _timestamp(value) if isinstance(value, str) else None
        if number is None:
            raise InvalidInput(f"{value!r} is not a number nor an ISO 8601 date and time", field=where) from None
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def render(families: Sequence[Mapping[str, Any]]) -> str:
    """The exposition text of ``[{name, help, type, samples: [{labels: {...}, value}]}]``.

    Every name, label and value is checked first (InvalidInput naming the field); a family without
    samples still gets its HELP and TYPE lines. Samples keep their order; a label set given twice
    for one family is refused (Prometheus would reject the whole file).
    """
    lines: list[str] = []
    seen_names: set[str] = set()
    for index, family in enumerate(families):
        where = f"metrics[{index}]"
        name = family.get("name")
        if not isinstance(name, str) or not METRIC_NAME.match(name):
            raise InvalidInput(f"{name!r} is not a Prometheus metric name", field=f"{where}.name")
        if name in seen_names:
            raise InvalidInput(f"{name} is given twice", field=f"{where}.name")
        seen_names.add(name)
        kind = family.get("type") or "gauge"
        if kind not in TYPES:
            raise InvalidInput(f"type {kind!r} is not one of {', '.join(TYPES)}", field=f"{where}.type")
        lines.append(f"# HELP {name} {_escape_help(str(family.get('help') or name))}")
        lines.append(f"# TYPE {name} {kind}")
        seen_labels: set[tuple[tuple[str, str], ...]] = set()
        for number, sample in enumerate(family.get("samples") or ()):
            at = f"{where}.samples[{number}]"
            labels = sample.get("labels") or {}
            if not isinstance(labels, Mapping):
                raise InvalidInput("labels must be a mapping of label names to values", field=f"{at}.labels")
            for label in labels:
                if not isinstance(label, str) or not LABEL_NAME.match(label) or label.startswith("__"):
                    raise InvalidInput(f"{label!r} is not a Prometheus label name", field=f"{at}.labels")
            key = tuple(sorted((label, str(value)) for label, value in labels.items()))
            if key in seen_labels:
                raise InvalidInput(f"{name} has this label set twice: {dict(key)}", field=f"{at}.labels")
            seen_labels.add(key)
            value = _number(sample.get("value"), f"{at}.value")
            text = ",".join(f'{label}="{_escape_label(str(labels[label]))}"' for label in sorted(labels))
            lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
    return "\n".join(lines) + "\n" if lines else ""


def write_atomically(path: str | os.PathLike, text: str, mode: int = 0o644) -> None:
    """Readers (the node exporter, cron's next run, staff) see the old file or the new one, never half."""
    directory = os.path.dirname(os.fspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    # The temporary name does not end in .prom: the textfile collector ignores it.
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_text(path: str | os.PathLike) -> str | None:
    """The file's text, or None when there is none."""
    try:
        with open(path) as stream:
            return stream.read()
    except FileNotFoundError:
        return None
