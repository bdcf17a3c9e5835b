"""The runner's modules import one another without a loop, and only inventory.py runs ansible-inventory."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "psf_infra_runner"


def _imports(path: Path) -> set[str]:
    """The psf_infra_runner modules ``path`` imports, at any depth of the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "psf_infra_runner":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("psf_infra_runner."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("psf_infra_runner."))
    return found


def test_the_runner_has_no_import_loop():
    graph = {path.stem: _imports(path) - {path.stem} for path in PACKAGE.glob("*.py")}
    assert graph["inventory"] == set()
    assert "inventory" in graph["cli"] and "inventory" in graph["summary"]

    def reaches(start: str, target: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt}))
                   for nxt in graph.get(start, ()))

    loops = sorted(module for module in graph if reaches(module, module))
    assert loops == [], f"import loop through {loops}: {graph}"


def test_only_the_inventory_module_runs_ansible_inventory():
    runs = sorted(path.stem for path in PACKAGE.glob("*.py") if '"ansible-inventory"' in path.read_text())
    assert runs == ["inventory"]
