"""execution-environment.yml (AWX): `ansible-builder create` validates the definition and writes the
build context; the context is checked here, and its psf.infra collection is installed with
ansible-galaxy exactly as the image's galaxy stage does. Building the image needs quay.io and the
package mirrors, which these machines do not reach (docs/awx.md)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "execution-environment.yml"
COLLECTION = ROOT / "collections" / "ansible_collections" / "psf" / "infra"
BIN = Path(sys.executable).parent


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ee") / "context"
    created = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", str(DEFINITION), "-c", str(target),
         "--output-filename", "Containerfile", "-v", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    # a src that matches nothing is only a warning for ansible-builder: an error here
    assert "No matches" not in created.stdout + created.stderr, created.stdout + created.stderr
    assert "does not exist" not in created.stdout + created.stderr, created.stdout + created.stderr
    return target


def test_the_python_dependencies_are_the_pins_the_project_tests_with(context):
    constraints = pins(ROOT / "constraints.txt")
    wanted = pins(context / "_build" / "requirements.txt")
    assert wanted, "no Python dependencies in the build context"
    assert {name: constraints.get(name) for name in wanted} == wanted
    containerfile = (context / "Containerfile").read_text()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.MULTILINE).group(1).split()
    assert sorted(refs) == sorted(f"{name}=={constraints[name]}" for name in ("ansible-core", "ansible-runner"))
    copied = context / "_build" / "constraints" / "constraints.txt"
    assert copied.read_text() == (ROOT / "constraints.txt").read_text()
    assert "ENV PIP_CONSTRAINT=/usr/share/psf-infra/constraints.txt" in containerfile
    base = containerfile.index("FROM $EE_BASE_IMAGE AS base")
    assert base < containerfile.index("ENV PIP_CONSTRAINT") < containerfile.index("pip install --no-cache-dir $ANSIBLE")


def _third_party_imports() -> set[str]:
    """Top-level modules the collection's plugins import that are neither stdlib nor Ansible's."""
    found = set()
    for path in (COLLECTION / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found
            if name not in sys.stdlib_module_names and name not in {"ansible", "ansible_collections", "__future__"}}


def test_every_library_the_collection_imports_is_in_the_image(context):
    distributions = importlib.metadata.packages_distributions()
    wanted = set(pins(context / "_build" / "requirements.txt"))
    imports = _third_party_imports()
    assert imports, "the scan found no imports: it is broken"
    missing = {module: distributions.get(module) for module in imports
               if not {d.lower() for d in distributions.get(module, [module])} & wanted}
    assert missing == {}, f"imported by psf.infra but not in execution-environment.yml: {missing}"


def test_the_collection_in_the_context_is_the_checkout_without_its_tests(context):
    copied = context / "_build" / "psf.infra"
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": "./psf.infra", "type": "dir"}]

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}

    expected = {f for f in files(COLLECTION) if f.split("/")[0] in {"plugins", "meta", "schemas"}}
    expected |= {"galaxy.yml", "README.md", "COPYING"}
    assert files(copied) == expected
    assert not (copied / "tests").exists()


def test_the_collection_installs_as_the_galaxy_stage_installs_it(context, tmp_path):
    """The image's galaxy stage runs this command in the same directory (offline: --no-deps)."""
    installed = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-r", "requirements.yml",
         "--collections-path", str(tmp_path)],
        cwd=context / "_build", capture_output=True, text=True, timeout=300, check=False,
        env={"ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1", "PATH": str(BIN) + ":/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    target = tmp_path / "ansible_collections" / "psf" / "infra"
    manifest = yaml.safe_load((target / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["namespace"] == "psf" and manifest["collection_info"]["name"] == "infra"
    assert sorted(p.name for p in (target / "plugins" / "modules").glob("*.py")) == \
        sorted(p.name for p in (COLLECTION / "plugins" / "modules").glob("*.py"))


def test_system_dependencies_parse_for_the_base_image(context):
    from bindep.depends import Depends

    rules = Depends((context / "_build" / "bindep.txt").read_text())
    rpm = ["platform:rpm", "platform:centos", "platform:redhat"]
    # ssh to the managed hosts; libvirt's library for libvirt-python (psf.infra.vm)
    assert [name for name, *_ in rules.active_rules(rpm)] == ["openssh-clients", "libvirt-libs"]


def test_the_definition_names_the_base_image_and_a_python_for_ansible_core():
    definition = yaml.safe_load(DEFINITION.read_text())
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"].startswith("quay.io/centos/centos:stream")
    python = definition["dependencies"]["python_interpreter"]["python_path"]
    assert tuple(int(x) for x in re.search(r"python(\d+)\.(\d+)$", python).groups()) >= (3, 11)
