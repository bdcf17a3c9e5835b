# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan as a person reads it (diff mode), in the manner of octoDNS's plan output::

    ********************************************************************************
    * example.test. (127.0.0.1:5301)
    ********************************************************************************
    *   Create www A 300 ['192.0.2.10']
    *   Update mail MX
    *     - 300 ['10 mx1.example.test.']
    *     + 300 ['10 mx2.example.test.']
    *   Delete old TXT 300 ['"gone"']
    *   Summary: Creates=1, Updates=1, Deletes=1, Existing Records=12
    ********************************************************************************
"""

from __future__ import annotations

from ansible_collections.psf.infra.plugins.module_utils.dns.diff import Plan, describe
from ansible_collections.psf.infra.plugins.module_utils.dns.model import ADD, CHANGE, DELETE, Change, RRset

RULE = "*" * 80


def _values(rrset: RRset | None) -> str:
    if rrset is None or not rrset.digests:
        return "[]"
    return f"{rrset.ttl} {rrset.values()}"


def change_lines(change: Change, plan: Plan) -> list[str]:
    label = describe(change.key, plan.origin)
    if change.action == ADD:
        return [f"*   Create {label} {_values(change.new)}"]
    if change.action == DELETE:
        return [f"*   Delete {label} {_values(change.old)}"]
    return [f"*   Update {label}", f"*     - {_values(change.old)}", f"*     + {_values(change.new)}"]


def plan_text(plan: Plan, server: str = "", *, show_protected: bool = True) -> str:
    """The whole plan as text, ending with a newline."""
    title = plan.origin.to_text() + (f" ({server})" if server else "")
    lines = [RULE, f"* {title}", RULE]
    for change in plan.changes:
        lines.extend(change_lines(change, plan))
    if not plan.changes:
        lines.append("*   No changes")
    if show_protected and plan.protected:
        lines.append(f"*   Kept (not pruned): {len(plan.protected)} rrset(s)")
        lines.extend(f"*     {describe(key, plan.origin)}: {reason}" for key, reason in plan.protected[:20])
        if len(plan.protected) > 20:
            lines.append(f"*     ... and {len(plan.protected) - 20} more")
    counts = plan.counts
    lines.append(f"*   Summary: Creates={counts['added']}, Updates={counts['changed']}, "
                 f"Deletes={counts['deleted']}, Existing Records={plan.existing}")
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def changes_as_data(plan: Plan, limit: int | None = None) -> dict[str, list[dict]]:
    """``{added: [...], changed: [{name, type, before, after}], deleted: [...]}`` for module returns,
    at most ``limit`` entries of each kind (the plan text and the counts always cover everything)."""
    origin = plan.origin
    data: dict[str, list[dict]] = {"added": [], "changed": [], "deleted": []}
    kinds = {ADD: "added", CHANGE: "changed", DELETE: "deleted"}
    for change in plan.changes:
        if limit is not None and len(data[kinds[change.action]]) >= limit:
            continue
        if change.action == ADD:
            data["added"].append(change.new.as_dict(origin))  # type: ignore[union-attr]
        elif change.action == DELETE:
            data["deleted"].append(change.old.as_dict(origin))  # type: ignore[union-attr]
        elif change.action == CHANGE:
            before = change.old.as_dict(origin)  # type: ignore[union-attr]
            after = change.new.as_dict(origin)  # type: ignore[union-attr]
            data["changed"].append({"name": before["name"], "type": before["type"],
                                    "before": {"ttl": before["ttl"], "values": before["values"]},
                                    "after": {"ttl": after["ttl"], "values": after["values"]}})
    return data
