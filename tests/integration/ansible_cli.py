"""The real Ansible commands of this virtualenv, run in the checkout with its ansible.cfg, and
temporary copies of inventories: shared by the integration tests that run ``ansible-inventory``,
``ansible-playbook`` and ``psf-infra`` on an inventory of their own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: The cron command, run from this virtualenv.
PSF_INFRA = [sys.executable, "-m", "psf_infra_runner.cli"]
#: What a TSIG secret looks like: the tests grep every output and artifact for it.
SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"


def ansible_env() -> dict[str, str]:
    """The environment of a command: the project's ansible.cfg, no colours, this virtualenv first on PATH."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(*command: str) -> subprocess.CompletedProcess:
    """``command`` (a program of this virtualenv and its arguments) in the checkout; never raises on failure."""
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, env=ansible_env(),
                          capture_output=True, text=True, timeout=300, check=False)


def status_page(inventory: Path, directory: Path) -> dict:
    """``psf-infra status`` on ``inventory``, written into ``directory``: its ``status.json``."""
    completed = subprocess.run([*PSF_INFRA, "status", "-i", str(inventory), "-o", str(directory)], cwd=REPO,
                               env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"}, capture_output=True,
                               text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads((directory / "status.json").read_text())


def copy_inventory(source: Path, target: Path, *, vault: Path | None = None) -> Path:
    """A copy of the inventory ``source`` at ``target``; ``vault`` becomes its group_vars/all/vault.yml."""
    shutil.copytree(source, target)
    if vault is not None:
        shutil.copy(vault, target / "group_vars" / "all" / "vault.yml")
    return target


def local_inventory(path: Path, **hosts: dict[str, object]) -> Path:
    """An inventory at ``path``: localhost (connection local, this Python), the ``hosts`` given, and
    ``tsig_secret`` (``SECRET``) in its variables, as the playbooks that handle secrets have them."""
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                 "ansible_python_interpreter": sys.executable},
                                   **hosts},
                         "vars": {"tsig_secret": SECRET}}}
    path.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")
    return path


def secret_task(marker: Path) -> str:
    """A task (YAML, not indented) that needs ``tsig_secret`` and handles it the way the project's
    playbooks do (``no_log``), leaving ``marker`` behind to show it ran."""
    return (f"- name: Write a file that needs the secret\n"
            f"  ansible.builtin.copy:\n"
            f"    dest: \"{marker}\"\n"
            f"    content: \"{{{{ tsig_secret | hash('sha256') }}}}\"\n"
            f"    mode: \"0600\"\n"
            f"  no_log: true\n")
