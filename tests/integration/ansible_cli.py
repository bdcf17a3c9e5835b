"""The real Ansible commands of this virtualenv, run in the checkout with its ansible.cfg, and
temporary copies of inventories: shared by the integration tests that run ``ansible-inventory``,
``ansible-playbook`` and ``psf-infra`` on an inventory of their own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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


def copy_inventory(source: Path, target: Path, *, vault: Path | None = None) -> Path:
    """A copy of the inventory ``source`` at ``target``; ``vault`` becomes its group_vars/all/vault.yml."""
    shutil.copytree(source, target)
    if vault is not None:
        shutil.copy(vault, target / "group_vars" / "all" / "vault.yml")
    return target
