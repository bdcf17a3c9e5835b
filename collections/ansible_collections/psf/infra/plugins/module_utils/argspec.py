# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An argument spec together with its constraints, so that a set of options and the rules between
them (required together, mutually exclusive, ...) travel as one value.

Each shared set of options is one ``ArgumentSpec`` beside the doc fragment that documents it (for
example ``module_utils/dns/options.py`` ``DNS_SERVER`` and ``doc_fragments/dns_server.py``
``DOCUMENTATION``); a module merges the sets it uses with its own options and passes
``spec.module_kwargs()`` to ``AnsibleModule`` (or ``spec.validator_kwargs()`` to
``ArgumentSpecValidator`` in an action plugin).

Free of third-party and Ansible imports, so modules can build their spec before they report
missing libraries.
"""

from __future__ import annotations

from typing import Any

_CONSTRAINTS = ("required_together", "mutually_exclusive", "required_one_of", "required_if", "required_by")


class ArgumentSpec:
    """Options (``argument_spec``) and the constraints between them."""

    def __init__(self, argument_spec: dict[str, dict[str, Any]] | None = None, *,
                 required_together: list | None = None, mutually_exclusive: list | None = None,
                 required_one_of: list | None = None, required_if: list | None = None,
                 required_by: dict[str, Any] | None = None) -> None:
        self.argument_spec: dict[str, dict[str, Any]] = dict(argument_spec or {})
        self.required_together = list(required_together or [])
        self.mutually_exclusive = list(mutually_exclusive or [])
        self.required_one_of = list(required_one_of or [])
        self.required_if = list(required_if or [])
        self.required_by = dict(required_by or {})

    def merge(self, *others: ArgumentSpec) -> ArgumentSpec:
        """A new spec holding this one's options and constraints and those of ``others``.

        An option defined twice is a programming error, so it raises instead of silently winning.
        """
        merged = ArgumentSpec(self.argument_spec, **{name: getattr(self, name) for name in _CONSTRAINTS})
        for other in others:
            twice = sorted(set(merged.argument_spec) & set(other.argument_spec))
            if twice:
                raise ValueError(f"options defined twice: {', '.join(twice)}")
            merged.argument_spec.update(other.argument_spec)
            for name in _CONSTRAINTS:
                if name == "required_by":
                    merged.required_by.update(other.required_by)
                else:
                    getattr(merged, name).extend(getattr(other, name))
        return merged

    def with_options(self, **options: dict[str, Any]) -> ArgumentSpec:
        """This spec with some options replaced (same constraints), e.g. an action plugin's lighter check."""
        replaced = self.merge()
        replaced.argument_spec.update(options)
        return replaced

    def validator_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ArgumentSpecValidator``."""
        return {"argument_spec": self.argument_spec,
                **{name: getattr(self, name) for name in _CONSTRAINTS if getattr(self, name)}}

    def module_kwargs(self, **more: Any) -> dict[str, Any]:
        """Keyword arguments of ``AnsibleModule`` (``more`` adds e.g. ``supports_check_mode``)."""
        return {**self.validator_kwargs(), **more}
