"""Every Molecule scenario of the repo, as pytest tests.

`test_scenario` runs `molecule test -s <scenario>` (create, converge, idempotence, side effect,
verify, destroy) for each `molecule/<scenario>/molecule.yml`; a non-idempotent role fails it
because Molecule's idempotence step exits non-zero. `test_scenario_shares_the_template` keeps
the shared settings of every scenario identical to `molecule/_template/molecule.yml`.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MOLECULE_DIR = REPO_ROOT / "molecule"
TEMPLATE_FILE = MOLECULE_DIR / "_template" / "molecule.yml"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
OUTPUT_TAIL_LINES = 120
SCENARIO_TIMEOUT_S = 3600  # a scenario takes 1-3 min alone, up to 40 min on a loaded machine (hang guard)
# Several containers on one scenario-private internal network (docs/molecule.md, "Several hosts").
NETWORK_PLAYBOOKS = {
    "create": "../_template/create-network.yml",
    "destroy": "../_template/destroy-network.yml",
}

SCENARIOS = sorted(
    path.parent.name for path in MOLECULE_DIR.glob("*/molecule.yml") if not path.parent.name.startswith("_")
)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


@cache
def containers_conf() -> str:
    """The CONTAINERS_CONF path printed by lab/podman-env.sh (which writes the file)."""
    output = subprocess.run(
        [str(REPO_ROOT / "lab" / "podman-env.sh")], check=True, capture_output=True, text=True
    ).stdout
    prefix = "export CONTAINERS_CONF="
    lines = [line for line in output.splitlines() if line.startswith(prefix)]
    assert lines, f"lab/podman-env.sh printed no {prefix!r} line: {output!r}"
    return lines[0].removeprefix(prefix)


def molecule_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = containers_conf()
    # The repo's ansible.cfg points at the lab inventory; Molecule brings its own configuration.
    env.pop("ANSIBLE_CONFIG", None)
    env.update({"NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "false"})
    return env


@pytest.fixture(scope="session")
def molecule_image() -> None:
    """The shared image; lab/build-image.sh returns at once when it is up to date."""
    result = subprocess.run(
        [str(REPO_ROOT / "lab" / "build-image.sh")],
        cwd=REPO_ROOT,
        env=molecule_env(),
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )
    assert result.returncode == 0, f"lab/build-image.sh failed:\n{tail(result.stdout + result.stderr)}"


@pytest.mark.molecule
@pytest.mark.slow
@pytest.mark.timeout(SCENARIO_TIMEOUT_S + 60)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, molecule_image: None) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "molecule"), "test", "--scenario-name", scenario],
        cwd=REPO_ROOT,
        env=molecule_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"`molecule test -s {scenario}` exited {result.returncode}; last lines:\n{tail(result.stdout)}"
    )


def shared_settings_differences(template: dict[str, Any], scenario: dict[str, Any], name: str) -> list[str]:
    """What in a scenario's molecule.yml departs from the settings every scenario shares."""
    differences = []
    for key in ("dependency", "driver", "scenario"):
        if scenario.get(key) != template.get(key):
            differences.append(f"{key}: {scenario.get(key)!r} != template {template.get(key)!r}")
    template_platform = template["platforms"][0]
    # Underscores of a role name may be dashes in container and network names.
    prefixes = (f"psf-molecule-{name}", f"psf-molecule-{name.replace('_', '-')}")
    playbooks = scenario.get("provisioner", {}).get("playbooks", {})
    uses_network_playbooks = all(playbooks.get(step) == path for step, path in NETWORK_PLAYBOOKS.items())
    for platform in scenario.get("platforms", []):
        if not str(platform.get("name", "")).startswith(prefixes):
            differences.append(f"platform name {platform.get('name')!r} must start with psf-molecule-{name}")
        for key in ("image", "pre_build_image", "command", "systemd", "capabilities"):
            if platform.get(key) != template_platform.get(key):
                differences.append(f"platform {platform.get('name')}: {key} {platform.get(key)!r}")
        network = str(platform.get("network", ""))
        if network != "none" and not (network.startswith(prefixes) and uses_network_playbooks):
            differences.append(
                f"platform {platform.get('name')}: network {network!r} may reach outside; use none, or"
                f" psf-molecule-{name} created by {NETWORK_PLAYBOOKS['create']}"
            )
    provisioner, template_provisioner = scenario.get("provisioner", {}), template["provisioner"]
    for key, value in template_provisioner["env"].items():
        if provisioner.get("env", {}).get(key) != value:
            differences.append(f"provisioner.env.{key}: {provisioner.get('env', {}).get(key)!r}")
    if provisioner.get("config_options") != template_provisioner["config_options"]:
        differences.append("provisioner.config_options differ from the template")
    verifier = scenario.get("verifier", {})
    if verifier.get("name") != template["verifier"]["name"]:
        differences.append(f"verifier.name {verifier.get('name')!r}")
    if not str(verifier.get("options", {}).get("hosts", "")).startswith("podman://psf-molecule-"):
        differences.append("verifier.options.hosts must be podman://<platform name>")
    return differences


def test_template_sequence_checks_idempotence() -> None:
    sequence = load_yaml(TEMPLATE_FILE)["scenario"]["test_sequence"]
    assert sequence.index("converge") < sequence.index("idempotence") < sequence.index("verify")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_shares_the_template(scenario: str) -> None:
    config = load_yaml(MOLECULE_DIR / scenario / "molecule.yml")
    assert shared_settings_differences(load_yaml(TEMPLATE_FILE), config, scenario) == []
