"""`psf-infra drift`: what a check + diff run of the site would change, told per tenant.

The changes come from ansible-runner's events of a ``--check --diff`` run (execution.EventReader
keeps every changed result of a check run as a ``Change``). Each change is given to a tenant:

1. the host's tenant (``psf_tenant_name``, set by the inventory plugin on every tenant VM);
2. else the loop item's ``tenant`` (the registry's loops carry it: zones, domains, certificates);
3. else the longest zone or domain of the registry that a name in the item's label falls under;
4. else the Infra-WG itself (``infra``): the name servers, the backup and monitoring servers.

Nothing here runs a process: cli.py runs the playbooks and calls ``write_reports``. Results that
Ansible censored (``no_log``) stay censored: the report says that the task would change, never how.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from psf_infra_runner.outcome import write_atomically

INFRA = "infra"  # the report of what belongs to no tenant
DIFF_LINE_LIMIT = 60  # lines of one change's diff kept in the report
HIDDEN = "(hidden: no_log)"
NAME = re.compile(r"[A-Za-z0-9_*](?:[A-Za-z0-9_*-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9_-]+)+\.?")
TENANT_IN_LABEL = re.compile(r"\btenant[ =:]+([a-z0-9][a-z0-9-]*)")


@dataclass
class Change:
    """One result that check mode says would change."""

    playbook: str
    play: str
    task: str
    host: str
    item: str  # the loop item's label, "" outside a loop
    tenant_hint: str  # the item's own `tenant`, when it has one
    diff: str  # unified text, "" when the module gives none, HIDDEN when censored

    @classmethod
    def from_result(cls, playbook: str, data: Mapping[str, Any], res: Mapping[str, Any]) -> Change:
        censored = cls.censored(res)
        item = res.get("item")
        label = res.get("_ansible_item_label", item)
        hint = item.get("tenant") if isinstance(item, Mapping) and not censored else None
        return cls(
            playbook=playbook,
            play=str(data.get("play") or ""),
            task=str(data.get("task") or "?"),
            host=str(data.get("host") or "?"),
            item="" if label is None or censored else _label(label),
            tenant_hint=hint if isinstance(hint, str) else "",
            diff=HIDDEN if censored else render_diff(res.get("diff")),
        )

    @staticmethod
    def censored(res: Mapping[str, Any]) -> bool:
        return bool(res.get("_ansible_no_log") or res.get("censored"))


def _label(label: Any) -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, Mapping):  # a dict item: its name says most
        for key in ("name", "zone", "domain", "path"):
            if isinstance(label.get(key), str):
                return label[key]
    return json.dumps(label, sort_keys=True, default=str)[:200]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def render_diff(diff: Any) -> str:
    """Ansible's diff result (a dict, or a list of them) as unified text, at most DIFF_LINE_LIMIT lines."""
    parts = diff if isinstance(diff, list) else [diff] if isinstance(diff, Mapping) else []
    lines: list[str] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        if part.get("prepared"):
            lines += str(part["prepared"]).splitlines()
            continue
        if "before" not in part and "after" not in part:
            continue
        before, after = _text(part.get("before")), _text(part.get("after"))
        lines += difflib.unified_diff(
            before.splitlines(), after.splitlines(),
            fromfile=str(part.get("before_header") or "before"), tofile=str(part.get("after_header") or "after"),
            lineterm="",
        )
    if len(lines) > DIFF_LINE_LIMIT:
        lines = [*lines[:DIFF_LINE_LIMIT], f"... {len(lines) - DIFF_LINE_LIMIT} more lines"]
    return "\n".join(lines)


def with_hidden(changes: list[Change], hidden: list[Change], changed: Mapping[str, int]) -> list[Change]:
    """Add the changes that no_log hides: a censored result does not even say whether it changed.

    ``changed`` is the recap's count of changed tasks per host. What it counts beyond the tasks seen
    changing is in the censored tasks: all of them when the numbers match, else each is listed as
    possibly changing, with how many of them do.
    """
    found = list(changes)
    censored: dict[str, list[Change]] = {}
    for change in hidden:
        tasks = censored.setdefault(change.host, [])
        if all(seen.task != change.task for seen in tasks):
            tasks.append(change)
    for host, tasks in censored.items():
        visible = {change.task for change in changes if change.host == host}
        count = int(changed.get(host, 0)) - len(visible)
        if count <= 0:
            continue
        for change in tasks:
            if count < len(tasks):
                change.diff = f"{HIDDEN}: {count} of the {len(tasks)} tasks whose output is hidden would change"
            found.append(change)
    return found


class Owners:
    """Who a change belongs to, from the inventory's host variables and the registry."""

    def __init__(self, hostvars: Mapping[str, Mapping[str, Any]], tenants: Mapping[str, Any]) -> None:
        self.tenants = sorted(tenants)
        self.hosts = {host: str(v["psf_tenant_name"]) for host, v in hostvars.items()
                      if isinstance(v, Mapping) and v.get("psf_tenant_name")}
        self.names: dict[str, str] = {}
        for tenant, spec in tenants.items():
            services = (spec or {}).get("services") or {} if isinstance(spec, Mapping) else {}
            for kind in ("zones", "domains"):
                for entry in services.get(kind) or []:
                    if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                        self.names[entry["name"].lower().rstrip(".")] = tenant

    def owner(self, change: Change) -> str:
        if change.host in self.hosts:
            return self.hosts[change.host]
        if change.tenant_hint in self.tenants:
            return change.tenant_hint
        said = TENANT_IN_LABEL.search(change.item)
        if said and said.group(1) in self.tenants:
            return said.group(1)
        best = ""
        for name in NAME.findall(change.item):
            labels = name.lower().rstrip(".").split(".")
            for start in range(len(labels)):
                suffix = ".".join(labels[start:])
                if suffix in self.names and len(suffix) > len(best):
                    best = suffix
                    break
        return self.names[best] if best else INFRA


@dataclass
class DriftReport:
    inventory: str
    run_id: str
    result: str  # the check run's result (drift, ok, failed, ...)
    by_owner: dict[str, list[Change]]

    @classmethod
    def build(cls, *, inventory: str, run_id: str, result: str, changes: Iterable[Change], owners: Owners
              ) -> DriftReport:
        by_owner: dict[str, list[Change]] = {}
        for change in changes:
            by_owner.setdefault(owners.owner(change), []).append(change)
        for name in owners.tenants:
            by_owner.setdefault(name, [])
        ordered = dict(sorted(by_owner.items(), key=lambda kv: (kv[0] == INFRA, kv[0])))
        return cls(inventory=inventory, run_id=run_id, result=result, by_owner=ordered)

    @property
    def drifted(self) -> list[str]:
        return [owner for owner, changes in self.by_owner.items() if changes]

    def lines(self) -> list[str]:
        """The short form printed by `psf-infra drift`."""
        if not self.drifted:
            return [f"no drift: every tenant matches the registry ({self.inventory})"]
        return [f"{owner}: {len(self.by_owner[owner])} change(s) to make" for owner in self.drifted]

    def markdown(self, owner: str) -> str:
        changes = self.by_owner[owner]
        title = "the Infra-WG's own servers" if owner == INFRA else f"tenant {owner}"
        out = [f"# Drift: {title}", "",
               f"Inventory `{self.inventory}`, check run `{self.run_id}` ({self.result}).", ""]
        if not changes:
            out.append("No drift: everything matches the registry.")
        for change in changes:
            where = f"`{change.host}`" + (f", `{change.item}`" if change.item else "")
            out += [f"## {change.task}", "", f"{change.playbook}, play \"{change.play}\", {where}", ""]
            if change.diff:
                out += ["```diff", change.diff, "```", ""]
            else:
                out += ["(the module shows no diff: it would change)", ""]
        return "\n".join(out).rstrip() + "\n"

    def index_markdown(self) -> str:
        out = ["# Drift from the registry", "", f"Inventory `{self.inventory}`, check run `{self.run_id}` "
               f"({self.result}).", "", "| who | changes to make |", "| --- | --- |"]
        out += [f"| [{owner}]({owner}.md) | {len(changes)} |" for owner, changes in self.by_owner.items()]
        return "\n".join(out) + "\n"

    def html(self, owner: str | None) -> str:
        """The same content as HTML (no script, one inline style sheet; readable on a phone)."""
        esc = html.escape
        if owner is None:
            title = "Drift from the registry"
            rows = "".join(
                f'<tr class="{"drift" if changes else "ok"}"><td><a href="{esc(name)}.html">{esc(name)}</a></td>'
                f"<td>{len(changes)}</td></tr>" for name, changes in self.by_owner.items())
            body = f"<table><tr><th>who</th><th>changes to make</th></tr>{rows}</table>"
        else:
            title = f"Drift: {'the Infra-WG' if owner == INFRA else 'tenant ' + owner}"
            items = []
            for change in self.by_owner[owner]:
                where = esc(change.host) + (f", {esc(change.item)}" if change.item else "")
                diff = (f"<pre>{esc(change.diff)}</pre>" if change.diff
                        else "<p>(the module shows no diff: it would change)</p>")
                items.append(f"<section><h2>{esc(change.task)}</h2><p>{esc(change.playbook)}, "
                             f"play “{esc(change.play)}”, {where}</p>{diff}</section>")
            body = "".join(items) or "<p>No drift: everything matches the registry.</p>"
            body = '<p><a href="index.html">all tenants</a></p>' + body
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1><p>Inventory {esc(self.inventory)}, check run {esc(self.run_id)} "
            f"({esc(self.result)}).</p>{body}</body></html>\n"
        )

    def to_json(self) -> dict[str, Any]:
        return {"inventory": self.inventory, "run_id": self.run_id, "result": self.result,
                "drifted": self.drifted,
                "owners": {owner: [asdict(c) for c in changes] for owner, changes in self.by_owner.items()}}


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem;line-height:1.4}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:.3rem;text-align:left}"
    "tr.drift td:first-child{border-left:.4rem solid #c60}tr.ok td:first-child{border-left:.4rem solid #393}"
    "pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;font-size:.85rem}"
)


def write_reports(report: DriftReport, directory: Path) -> list[Path]:
    """index.{md,html}, <owner>.{md,html} and drift.json in ``directory``, each replaced atomically.
    Pages of owners no longer in the report are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "index.md", directory / "index.html", directory / "drift.json"]
    write_atomically(written[0], report.index_markdown())
    write_atomically(written[1], report.html(None))
    write_atomically(written[2], json.dumps(report.to_json(), indent=2) + "\n")
    for owner in report.by_owner:
        for suffix, text in (("md", report.markdown(owner)), ("html", report.html(owner))):
            path = directory / f"{owner}.{suffix}"
            write_atomically(path, text)
            written.append(path)
    for stale in [*directory.glob("*.md"), *directory.glob("*.html")]:
        if stale not in written:
            stale.unlink(missing_ok=True)
    return written
