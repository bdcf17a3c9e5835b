"""The modules' one edge: argument specs beside their doc fragments, and errors.py as the only place
the collection's errors become failed results."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.doc_fragments.dns_server import ModuleDocFragment  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns import options  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import (  # noqa: E402
    BackendUnavailable,
    InvalidInput,
    PsfInfraError,
)

PLUGINS = COLLECTIONS / "ansible_collections" / "psf" / "infra" / "plugins"
COLLECTION_ERRORS = {"PsfInfraError", "InvalidInput", "BackendUnavailable", "DelegationRequired", "PublishError"}


def _spec_as_doc(spec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the documentation of an argument spec must say, in the doc fragment's own words."""
    documented = {}
    for name, option in spec.items():
        doc: dict[str, Any] = {"type": option.get("type", "str")}
        for key in ("default", "choices", "elements"):
            if option.get(key) is not None:
                doc[key] = option[key]
        if option.get("required"):
            doc["required"] = True
        if "options" in option:
            doc["suboptions"] = _spec_as_doc(option["options"])
        documented[name] = doc
    return documented


def _doc_facts(doc_options: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    facts = {}
    for name, option in doc_options.items():
        assert option.get("description"), f"{name} has no description"
        fact = {key: option[key] for key in ("type", "default", "choices", "elements") if option.get(key) is not None}
        fact.setdefault("type", "str")
        if option.get("required"):
            fact["required"] = True
        if "suboptions" in option:
            fact["suboptions"] = _doc_facts(option["suboptions"])
        facts[name] = fact
    return facts


@pytest.mark.parametrize(("fragment", "spec"), [
    ("DOCUMENTATION", options.DNS_SERVER),
    ("ACME", options.ACME_DNS),
])
def test_each_doc_fragment_documents_exactly_its_argument_spec(fragment, spec):
    documented = yaml.safe_load(getattr(ModuleDocFragment, fragment))["options"]
    assert _doc_facts(documented) == _spec_as_doc(spec.argument_spec)


def test_both_tsig_option_sets_take_the_same_values():
    plain = {name.removeprefix("tsig_"): option for name, option in options.DNS_SERVER.argument_spec.items()
             if name.startswith("tsig_")}
    acme = {name.removeprefix("dns_tsig_"): option for name, option in options.ACME_DNS.argument_spec.items()
            if name.startswith("dns_tsig_") and name != "dns_tsig_key_file"}
    assert plain == acme
    assert acme["key_secret"]["no_log"] is True


def test_merging_specs_keeps_every_constraint_and_refuses_an_option_twice():
    extra = ArgumentSpec({"zone": {"type": "str"}}, required_if=[["zone", "x", ["port"]]],
                         required_by={"zone": "server"})
    merged = options.DNS_SERVER.merge(extra)
    assert set(merged.argument_spec) == {*options.DNS_SERVER.argument_spec, "zone"}
    assert merged.module_kwargs(supports_check_mode=True) == {
        "argument_spec": merged.argument_spec,
        "required_together": [["tsig_key_name", "tsig_key_secret"]],
        "required_if": [["zone", "x", ["port"]]],
        "required_by": {"zone": "server"},
        "supports_check_mode": True,
    }
    assert "zone" not in options.DNS_SERVER.argument_spec  # the shared spec is not changed
    with pytest.raises(ValueError, match="options defined twice: port"):
        merged.merge(ArgumentSpec({"port": {"type": "int"}}))


def test_a_failure_carries_its_kind_and_fields():
    bad = InvalidInput("'x' is not an address", tenant="packaging", file="tenants/packaging.yml",
                       field="services.zones[0].records[1]")
    assert bad.failed_result(changed=False) == {
        "failed": True, "changed": False, "error": "InvalidInput",
        "msg": "tenants/packaging.yml: tenant 'packaging': services.zones[0].records[1]: 'x' is not an address",
        "tenant": "packaging", "file": "tenants/packaging.yml", "field": "services.zones[0].records[1]"}
    delegation = PsfInfraError("create the CNAME", delegation_records=["_acme-challenge.a. CNAME b."])
    assert delegation.result_fields() == {"msg": "create the CNAME", "error": "PsfInfraError",
                                          "delegation_records": ["_acme-challenge.a. CNAME b."]}
    down = BackendUnavailable("primary name server 127.0.0.1:5301", "zone transfer of a.test.",
                              "connection refused", "that named runs")
    assert down.result_fields()["server"] == "primary name server 127.0.0.1:5301"


def _plugin_files() -> list[Path]:
    return sorted([*(PLUGINS / "modules").glob("*.py"), *(PLUGINS / "action").glob("*.py")])


@pytest.mark.parametrize("path", _plugin_files(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_modules_turn_errors_into_failures_only_through_errors_py(path):
    """No module or action plugin builds a failure from an error itself: a handler of a collection
    error hands it to ``do_fail``/``failed_result``, and ``fail_json`` is only called directly to
    report missing libraries."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any("fail" in alias.name for alias in node.names):
            allowed = {"ansible_collections.psf.infra.plugins.module_utils.errors", "ansible.module_utils.basic"}
            assert node.module in allowed, f"line {node.lineno}: a failure helper of {node.module}"
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "")
                      for n in ast.walk(node.type) if isinstance(n, ast.Name | ast.Attribute)}
            if caught & COLLECTION_ERRORS:
                calls = {n.func.attr for n in ast.walk(node) if isinstance(n, ast.Call)
                         and isinstance(n.func, ast.Attribute)}
                assert calls & {"do_fail", "failed_result"}, f"line {node.lineno}: handles {caught} itself"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fail_json":
            names = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            assert "missing_required_lib" in names, f"line {node.lineno}: fail_json outside errors.py"
