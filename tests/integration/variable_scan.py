"""Which inventory variables each play of playbooks/site.yml needs, read from the code itself.

Every Jinja expression of site.yml, the playbooks it imports and the roles they run (tasks,
handlers, templates, defaults, vars) is parsed; a name it reads is *needed from the inventory*
unless the code defines it itself or reads it optionally:

- defined by the code: play/block/task ``vars`` (and a play's ``vars_files``), ``register``,
  ``set_fact``, loop variables, the variables an ``import_playbook`` or ``include_role`` passes,
  a role's defaults, vars and ``meta/argument_specs.yml`` options (the preflight validates those
  against the argument spec), names a template sets itself (``{% set %}``, ``{% for %}``);
- Ansible's own: magic variables, facts (``ansible_*``), ``omit``, lookups and Jinja globals;
- optional: every occurrence sits under ``| default(...)``, or the expression (or the task's
  ``when``) tests the name with ``is defined`` / ``is undefined``.

A task whose ``when`` (or that of an enclosing block), or an ``end_play`` / ``assert`` before it in
the same play, makes it run only where a variable is (not) defined is *gated*: what it reads is
needed only on the hosts where that gate holds (``psf_lab_dir`` marks the lab-only tasks).

The result is a list of :class:`Need` (play, host pattern, variable, gates, where it is read),
which tests/integration/test_production_inventory.py compares with the declarations of
playbooks/preflight.yml, the play that checks them against an inventory before site.yml changes
anything.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, meta, nodes

# Ansible's magic variables, connection settings it fills in, Jinja globals and lookups.
MAGIC = frozenset({
    "ansible_check_mode", "ansible_diff_mode", "ansible_play_hosts", "ansible_play_hosts_all",
    "ansible_play_batch", "ansible_play_name", "ansible_play_role_names", "ansible_role_names",
    "ansible_run_tags", "ansible_skip_tags", "ansible_loop", "ansible_loop_var", "ansible_index_var",
    "ansible_parent_role_names", "ansible_parent_role_paths", "ansible_playbook_python", "ansible_version",
    "ansible_config_file", "ansible_limit", "ansible_forks", "ansible_verbosity", "ansible_facts",
    "ansible_local", "ansible_search_path", "ansible_collection_name", "ansible_role_name",
    "group_names", "groups", "hostvars", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "inventory_file", "playbook_dir", "play_hosts", "role_name", "role_path",
    "omit", "item", "vars", "environment",
    "lookup", "query", "q", "now", "undef", "range", "dict", "lipsum", "cycler", "joiner", "namespace",
    "True", "False", "None", "true", "false", "none",
})
# Keys whose value is a bare Jinja expression rather than a template.
CONDITION_KEYS = frozenset({"when", "changed_when", "failed_when", "until"})
BLOCK_KEYS = ("block", "rescue", "always")
TASK_LIST_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
SET_FACT = frozenset({"set_fact", "ansible.builtin.set_fact"})
ASSERT = frozenset({"assert", "ansible.builtin.assert"})
META = frozenset({"meta", "ansible.builtin.meta"})
INCLUDE_ROLE = frozenset({"include_role", "import_role", "ansible.builtin.include_role",
                          "ansible.builtin.import_role"})
INCLUDE_TASKS = frozenset({"include_tasks", "import_tasks", "ansible.builtin.include_tasks",
                           "ansible.builtin.import_tasks"})
IMPORT_PLAYBOOK = frozenset({"import_playbook", "ansible.builtin.import_playbook"})
# A gate (variable, kind): what it guards runs only on the hosts where the variable is "defined",
# "undefined", or "true" (a flag: `when: x | bool`, `{% if x %}`).
Gate = tuple[str, str]



#: ``hosts: "{{ 'tenant_vms' | psf.infra.tenant_hosts(psf_tenant_scope | default('')) }}"``: a play
#: narrowed to one tenant by playbooks/tenant.yml runs on its pattern in the site (the preflight's).
_TENANT_HOSTS = re.compile(r"""^\{\{\s*'([^']+)'\s*\|\s*psf\.infra\.tenant_hosts\(.*\)\s*\}\}$""")


def site_hosts(hosts: str) -> str:
    """The host pattern of a play as site.yml runs it (psf_tenant_scope not set)."""
    match = _TENANT_HOSTS.match(hosts.strip())
    return match.group(1) if match else hosts


class _AnyPlugin(dict):
    """Every filter and test name is known: only the names of variables matter here."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        return _any_plugin

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


def _any_plugin(*args: Any, **kwargs: Any) -> None:
    return None


# Parsed only, never rendered: no autoescape question.
JINJA = Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])  # noqa: S701
JINJA.filters = _AnyPlugin(JINJA.filters)
JINJA.tests = _AnyPlugin(JINJA.tests)


@dataclass(frozen=True)
class Need:
    """Variable ``name`` must be defined on every host of ``hosts`` where all ``gates`` hold."""

    play: str
    hosts: str
    name: str
    gates: frozenset[Gate]
    where: str


@dataclass
class Play:
    name: str
    hosts: str
    file: str
    roles: list[str] = field(default_factory=list)
    needs: dict[tuple[str, frozenset[Gate]], str] = field(default_factory=dict)


def _root_name(node: nodes.Node) -> str | None:
    while isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Filter):
        node = node.node
    return node.name if isinstance(node, nodes.Name) else None


def _is_defined_test(node: nodes.Node) -> Gate | None:
    """`x is defined` -> (x, "defined"); `x is undefined` / `x is not defined` -> (x, "undefined")."""
    negate = False
    if isinstance(node, nodes.Not):
        negate, node = True, node.node
    if isinstance(node, nodes.Test) and node.name in ("defined", "undefined") and isinstance(node.node, nodes.Name):
        return node.node.name, "defined" if (node.name == "defined") != negate else "undefined"
    return None


def _gate(node: nodes.Node) -> Gate | None:
    """The gate a condition puts on what it guards: a defined-test, or a plain flag (`x`, `x | bool`)."""
    if gate := _is_defined_test(node):
        return gate
    if isinstance(node, nodes.Filter) and node.name == "bool" and not node.args:
        node = node.node
    if isinstance(node, nodes.Name):
        return node.name, "true"
    return None


def _conjuncts(node: nodes.Node) -> Iterator[nodes.Node]:
    if isinstance(node, nodes.And):
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _parse(source: str, bare: bool) -> nodes.Template | None:
    text = "{{ (" + source + ") }}" if bare else source
    try:
        with warnings.catch_warnings():
            # Jinja decodes regex escapes in string literals ('\.') with a DeprecationWarning.
            warnings.simplefilter("ignore", DeprecationWarning)
            return JINJA.parse(text)
    except Exception:  # not Jinja (e.g. a shell script with {{ in it): nothing to read
        return None


def _occurrences(node: nodes.Node, gates: frozenset[Gate] = frozenset(),
                 under_default: bool = False) -> Iterator[tuple[str, bool, frozenset[Gate]]]:
    """(name, guarded by `| default`, gates of the enclosing `{% if %}`s) of every name read."""
    if isinstance(node, nodes.Name) and node.ctx == "load":
        yield node.name, under_default, gates
        return
    if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
        if node.node is not None:
            yield from _occurrences(node.node, gates, True)
        for child in [*node.args, *[kw.value for kw in node.kwargs]]:
            yield from _occurrences(child, gates, under_default)
        return
    if isinstance(node, nodes.If):
        yield from _occurrences(node.test, gates, under_default)
        inner = gates | {gate for conjunct in _conjuncts(node.test) if (gate := _gate(conjunct))}
        for child in node.body:
            yield from _occurrences(child, frozenset(inner), under_default)
        for child in [*node.elif_, *node.else_]:
            yield from _occurrences(child, gates, under_default)
        return
    for child in node.iter_child_nodes():
        yield from _occurrences(child, gates, under_default)


def expression_needs(source: str, bare: bool = False) -> set[tuple[str, frozenset[Gate]]]:
    """(name, gates) of every name one template or bare expression reads unguarded."""
    ast = _parse(source, bare)
    if ast is None:
        return set()
    free = meta.find_undeclared_variables(ast)
    tested = {gate[0] for node in ast.find_all(nodes.Test | nodes.Not) if (gate := _is_defined_test(node))}
    occurrences = [(name, gates) for name, under_default, gates in _occurrences(ast)
                   if name in free and name not in tested and not under_default]
    # an occurrence with fewer gates makes the others redundant
    return {(name, gates) for name, gates in occurrences
            if not any(other == name and other_gates < gates for other, other_gates in occurrences)}


def condition_gates(conditions: Any) -> tuple[set[Gate], set[str]]:
    """Gates a `when` (string or list, all must hold) puts on its task, and the names it tests."""
    gates: set[Gate] = set()
    tested: set[str] = set()
    for condition in conditions if isinstance(conditions, list) else [conditions]:
        if not isinstance(condition, str):
            continue
        ast = _parse(condition, bare=True)
        if ast is None:
            continue
        for conjunct in _conjuncts(ast.body[0].nodes[0]):
            if gate := _gate(conjunct):
                gates.add(gate)
        tested |= {gate[0] for node in ast.find_all(nodes.Test | nodes.Not) if (gate := _is_defined_test(node))}
    return gates, tested


def _strings(value: Any, key: str | None = None) -> Iterator[tuple[str, bool]]:
    """(source, bare) of every template or bare expression in a task value."""
    if isinstance(value, str):
        if key in CONDITION_KEYS or key == "that":
            yield value, True
        elif "{{" in value or "{%" in value:
            yield value, False
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key if key in CONDITION_KEYS or key == "that" else None)
    elif isinstance(value, dict):
        for sub_key, sub_value in value.items():
            yield from _strings(sub_value, sub_key)


@functools.cache
def _load(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader) if path.exists() else None  # noqa: S506 - a safe loader


class Scanner:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.plays: list[Play] = []

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.repo))

    # ---- playbooks ---------------------------------------------------------------------------
    def playbook(self, path: Path, passed: set[str] | None = None) -> list[Play]:
        for entry in _load(path) or []:
            module = next((key for key in entry if key in IMPORT_PLAYBOOK), None)
            if module:
                self.playbook(path.parent / entry[module], (passed or set()) | set(entry.get("vars") or {}))
            else:
                self.play(entry, path, passed or set())
        return self.plays

    def play(self, entry: dict, path: Path, passed: set[str]) -> None:
        play = Play(name=entry.get("name", "?"), hosts=site_hosts(str(entry["hosts"])), file=self.rel(path))
        self.plays.append(play)
        play_vars = {}  # vars_files (relative to the playbook), then vars
        for name in entry.get("vars_files") or []:
            play_vars.update(_load(path.parent / name) or {})
        play_vars.update(entry.get("vars") or {})
        declared = set(passed) | set(play_vars)
        tasks: list[dict] = []
        for key in TASK_LIST_KEYS:
            tasks.extend(entry.get(key) or [])
        declared |= self.produced(tasks)
        for role in entry.get("roles") or []:
            name = role if isinstance(role, str) else role.get("role", role.get("name"))
            play.roles.append(name)
            declared |= set(role.get("vars") or {}) if isinstance(role, dict) else set()
        where = f"{play.file} (play vars)"
        for source, bare in _strings(play_vars):
            self.add(play, source, bare, declared, frozenset(), where)
        for key in TASK_LIST_KEYS:
            self.tasks(play, entry.get(key) or [], declared, frozenset(), set(), play.file, None)
        for role in play.roles:
            self.role(play, role, declared, frozenset())

    def add(self, play: Play, source: str, bare: bool, declared: set[str], gates: frozenset[Gate],
            where: str, tested: set[str] | frozenset[str] = frozenset()) -> None:
        for name, inner in expression_needs(source, bare):
            if name in declared or name in tested or name in MAGIC or name.startswith("ansible_"):
                continue
            all_gates = gates | inner
            own = {gate for gate in all_gates if gate[0] == name}
            # `x is defined` guards x; a flag (`when: x`) is itself read, wherever the other gates hold.
            if all(kind == "true" for _, kind in own):
                play.needs.setdefault((name, all_gates - own), where)

    # ---- tasks -------------------------------------------------------------------------------
    def produced(self, tasks: list[dict], role_dir: Path | None = None) -> set[str]:
        """Names the tasks define: register, set_fact, loop/index vars, vars of tasks and blocks."""
        names: set[str] = set()
        for task in tasks:
            if not isinstance(task, dict):
                continue
            names |= set(task.get("vars") or {})
            if task.get("register"):
                names.add(task["register"])
            for key in SET_FACT & set(task):
                names |= {k for k in task[key] or {} if k != "cacheable"}
            control = task.get("loop_control") or {}
            names |= {control[k] for k in ("loop_var", "index_var") if k in control}
            for key in BLOCK_KEYS:
                names |= self.produced(task.get(key) or [], role_dir)
            for key in INCLUDE_TASKS & set(task):
                if role_dir is not None:
                    names |= self.produced(_load(role_dir / "tasks" / self._file(task[key])) or [], role_dir)
        return names

    @staticmethod
    def _file(spec: Any) -> str:
        return spec if isinstance(spec, str) else spec.get("file", "")

    def tasks(self, play: Play, tasks: list[dict], declared: set[str], gates: frozenset[Gate],
              tested: set[str], file: str, role_dir: Path | None) -> frozenset[Gate]:
        """Scan a task list; return the gates that hold after it (end_play / assert)."""
        for task in tasks:
            if not isinstance(task, dict):
                continue
            when_gates, when_tested = condition_gates(task.get("when", []))
            task_gates = gates | frozenset(when_gates)
            task_tested = tested | when_tested
            name = task.get("name", "?")
            where = f"{file}: {name}"
            if any(key in task for key in BLOCK_KEYS):
                for key in BLOCK_KEYS:
                    self.tasks(play, task.get(key) or [], declared, task_gates, task_tested, file, role_dir)
                for source, bare in _strings({k: v for k, v in task.items() if k not in BLOCK_KEYS}):
                    self.add(play, source, bare, declared, task_gates, where, task_tested)
                continue
            for source, bare in _strings(task):
                self.add(play, source, bare, declared, task_gates, where, task_tested)
            for key in INCLUDE_TASKS & set(task):
                if role_dir is not None:
                    path = role_dir / "tasks" / self._file(task[key])
                    self.tasks(play, _load(path) or [], declared, task_gates, task_tested, self.rel(path), role_dir)
            for key in INCLUDE_ROLE & set(task):
                self.role(play, task[key]["name"], declared | set(task.get("vars") or {}), task_gates)
            gates = gates | self._after(task)
        return gates

    @staticmethod
    def _after(task: dict) -> frozenset[Gate]:
        """Gates that hold for the rest of the play after this task on the hosts that go on."""
        if META & set(task) and task[next(iter(META & set(task)))] in ("end_play", "end_host"):
            conditions = task.get("when", [])
            conditions = conditions if isinstance(conditions, list) else [conditions]
            # Only an end_play whose condition is nothing but "X is (not) defined" tests.
            parsed = [_parse(c, True) for c in conditions if isinstance(c, str)]
            conjuncts = [c for ast in parsed if ast is not None for c in _conjuncts(ast.body[0].nodes[0])]
            tests = [_is_defined_test(c) for c in conjuncts]
            if tests and all(tests):
                return frozenset((name, "undefined" if kind == "defined" else "defined") for name, kind in tests)
        if ASSERT & set(task) and "when" not in task:
            that = task[next(iter(ASSERT & set(task)))].get("that", [])
            gates, _ = condition_gates(that if isinstance(that, list) else [that])
            return frozenset(gate for gate in gates if gate[1] != "true")
        return frozenset()

    # ---- roles -------------------------------------------------------------------------------
    def role_declared(self, role_dir: Path) -> set[str]:
        names: set[str] = set()
        for part in ("defaults", "vars"):
            names |= set(_load(role_dir / part / "main.yml") or {})
        # An option with a default in the argument spec is defined by it; one without (required,
        # or optional and read under `| default`) comes from the inventory or the play.
        for options in self.role_options(role_dir).values():
            names |= {name for name, option in options.items() if "default" in option}
        for tasks_file in [*sorted((role_dir / "tasks").glob("*.yml")), role_dir / "handlers" / "main.yml"]:
            names |= self.produced(_load(tasks_file) or [], role_dir)
        return names

    @staticmethod
    def role_options(role_dir: Path) -> dict[str, dict[str, dict]]:
        specs = (_load(role_dir / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})
        return {entry: spec.get("options") or {} for entry, spec in specs.items()}

    def role(self, play: Play, name: str, declared: set[str], gates: frozenset[Gate]) -> None:
        role_dir = self.repo / "roles" / name
        declared = declared | self.role_declared(role_dir)
        for part in ("defaults", "vars"):
            path = role_dir / part / "main.yml"
            for source, bare in _strings(_load(path) or {}):
                self.add(play, source, bare, declared, gates, self.rel(path))
        for source in ("tasks/main.yml", "handlers/main.yml"):
            path = role_dir / source
            self.tasks(play, _load(path) or [], declared, gates, set(), self.rel(path), role_dir)
        for template in sorted((role_dir / "templates").glob("*")):
            self.add(play, template.read_text(), False, declared, gates, self.rel(template))


def site_needs(repo: Path, site: str = "playbooks/site.yml") -> tuple[list[Play], list[Need]]:
    plays = Scanner(repo).playbook(repo / site)
    needs = [Need(play.name, play.hosts, name, gates, where)
             for play in plays for (name, gates), where in sorted(play.needs.items(), key=str)]
    return plays, needs
