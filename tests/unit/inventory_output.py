"""What ``ansible-inventory --list`` prints, as plain data: tenant data comes out of it as
``{"__ansible_unsafe": ...}`` (the unit tests that load a real inventory share this)."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """``value`` with every ``{"__ansible_unsafe": x}`` replaced by ``x``, at any depth."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
