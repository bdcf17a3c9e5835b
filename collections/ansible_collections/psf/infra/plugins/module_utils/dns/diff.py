# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure planning: what to add, change and delete in a zone, what is never touched, what is too much.

No I/O here: the inputs are rrset dictionaries (``{(name, rdtype): RRset}``) read from the server and
parsed from the declaration; the output is a list of :class:`Change` and, when the plan is unsafe,
an :class:`UnsafeChangeError` explaining why and how to go ahead (``force``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dns.name
import dns.rdatatype
from ansible_collections.psf.infra.plugins.module_utils.dns.model import (
    ADD,
    CHANGE,
    DELETE,
    NS,
    SERVER_MANAGED_TYPES,
    SOA,
    Change,
    RRset,
    RRsetKey,
    name_sort_key,
    relative_text,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import Where, check_integrity, check_rrsets
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

ACME_CHALLENGE_LABEL = b"_acme-challenge"
_ACTION_ORDER = {DELETE: 0, CHANGE: 1, ADD: 2}


class UnsafeChangeError(PsfInfraError):
    """The plan exceeds a safety threshold; nothing was sent."""


@dataclass(frozen=True)
class SafetyPolicy:
    """octoDNS's thresholds: a zone of ``min_existing`` rrsets or more may not see more than
    ``max_update_fraction`` of them updated or ``max_delete_fraction`` deleted in one run, and the apex
    NS set is not changed, unless ``force``."""

    max_update_fraction: float = 0.3
    max_delete_fraction: float = 0.3
    min_existing: int = 10
    force: bool = False


@dataclass
class Plan:
    """The changes for one zone, in a stable order (name, then type), and what was left alone."""

    origin: dns.name.Name
    changes: list[Change]
    existing: int  # rrsets in the live zone that this module could manage (no SOA, no DNSSEC)
    protected: list[tuple[RRsetKey, str]] = field(default_factory=list)  # kept by prune, and why

    def of(self, action: str) -> list[Change]:
        return [change for change in self.changes if change.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.of(ADD)), "changed": len(self.of(CHANGE)), "deleted": len(self.of(DELETE))}


def protection_reason(key: RRsetKey, origin: dns.name.Name, ignore: frozenset[dns.name.Name]) -> str | None:
    """Why an undeclared rrset must not be pruned, or None when it may be."""
    name, rdtype = key
    if rdtype in SERVER_MANAGED_TYPES:
        return "DNSSEC record maintained by the name server"
    if rdtype == SOA:
        return "SOA maintained by the name server"
    if name.labels and name.labels[0].lower() == ACME_CHALLENGE_LABEL:
        return "ACME challenge (owned by the certificate workflow)"
    if name in ignore:
        return "listed in ignore"
    return None


def manageable(key: RRsetKey) -> bool:
    return key[1] != SOA and key[1] not in SERVER_MANAGED_TYPES


def plan_zone(live: Mapping[RRsetKey, RRset], desired: Mapping[RRsetKey, RRset], origin: dns.name.Name, *,
              prune: bool = False, ignore: Iterable[dns.name.Name] = (),
              also_delete: Iterable[RRsetKey] = ()) -> Plan:
    """The changes that make ``live`` hold ``desired``; with ``prune``, unprotected extras go.
    ``also_delete`` (undeclared rrsets the caller owns, e.g. stale delegations) go even without it."""
    ignored = frozenset(ignore)
    changes: list[Change] = []
    for key, new in desired.items():
        old = live.get(key)
        if old is None:
            changes.append(Change(None, new))
        elif old.ttl != new.ttl or old.digests != new.digests:
            changes.append(Change(old, new))
    protected: list[tuple[RRsetKey, str]] = []
    owned = frozenset(also_delete)
    if prune or owned:
        for key, old in live.items():
            if key in desired or not (prune or key in owned):
                continue
            reason = protection_reason(key, origin, ignored)
            if reason is None:
                changes.append(Change(old, None))
            elif manageable(key):
                protected.append((key, reason))
    # At one name, deletions go first: BIND silently ignores data added beside a CNAME that is still
    # there (and a CNAME added beside data), so replacing one by the other must remove before adding.
    changes.sort(key=lambda change: (name_sort_key(change.name), _ACTION_ORDER[change.action], change.rdtype))
    protected.sort(key=lambda item: (name_sort_key(item[0][0]), item[0][1]))
    existing = sum(1 for key in live if manageable(key))
    return Plan(origin, changes, existing, protected)


def apply_changes(live: Mapping[RRsetKey, RRset], changes: Iterable[Change]) -> dict[RRsetKey, RRset]:
    """The zone after ``changes``, applied the way the UPDATE operations the client sends for them act
    on the server (see ``wire.change_operations``); used for the consistency check and the tests."""
    result = dict(live)
    for change in changes:
        key, old, new = change.key, change.old, change.new
        current = result.get(key)
        if new is not None and new.digests and (current is old or (current is None and not (old and old.digests))):
            result[key] = new  # the plan's own changes: the outcome is exactly ``new``
            continue
        kept = dict(current.by_digest) if current is not None else {}
        if new is None:
            kept = {}  # the whole rrset is deleted
        elif old is not None and old.digests and new.digests and old.ttl != new.ttl:
            kept = dict(new.by_digest)  # replaced
        else:
            for digest in (old.digests - new.digests) if old is not None else ():
                kept.pop(digest, None)
            kept.update(new.by_digest)
        if kept:
            ttl = new.ttl if new is not None and new.digests else current.ttl  # type: ignore[union-attr]
            result[key] = RRset.from_map(key[0], key[1], ttl, kept)
        else:
            result.pop(key, None)
    return result


def check_plan(plan: Plan, live: Mapping[RRsetKey, RRset], policy: SafetyPolicy,
               where: Where | None = None) -> None:
    """Refuse a plan that breaks the zone (CNAME beside data) or exceeds a safety threshold."""
    where = where or Where()
    if plan.changes:
        after = {key: rrset for key, rrset in apply_changes(live, plan.changes).items() if manageable(key)}
        check_rrsets(after, plan.origin, where)
        check_integrity(after, plan.origin, where)
    if policy.force:
        return
    reasons = []
    for change in plan.changes:
        values_differ = change.old is None or change.new is None or change.old.digests != change.new.digests
        if change.key == (plan.origin, NS) and values_differ:  # a TTL-only change moves nothing
            before = change.old.values() if change.old else []
            after = change.new.values() if change.new else []
            reasons.append(f"it changes the apex NS set ({', '.join(before) or 'none'} -> "
                           f"{', '.join(after) or 'none'}), which moves the zone's delegation")
    if plan.existing >= policy.min_existing:
        counts = plan.counts
        for action, limit in (("changed", policy.max_update_fraction), ("deleted", policy.max_delete_fraction)):
            fraction = counts[action] / plan.existing
            if fraction > limit:
                reasons.append(f"it would update {counts[action]} of {plan.existing} rrsets ({fraction:.0%}, "
                               f"{action}), more than the limit of {limit:.0%}" if action == "changed" else
                               f"it would delete {counts[action]} of {plan.existing} rrsets ({fraction:.0%}), "
                               f"more than the limit of {limit:.0%}")
    if reasons:
        zone = plan.origin.to_text()
        raise UnsafeChangeError(f"refusing to change zone {zone}: {'; '.join(reasons)}. Nothing was sent. "
                                "Check the plan (check mode + diff), then set force: true to go ahead.")


def describe(key: RRsetKey, origin: dns.name.Name) -> str:
    return f"{relative_text(key[0], origin)} {dns.rdatatype.to_text(key[1])}"
