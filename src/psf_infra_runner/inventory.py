"""The one inventory reader of `psf-infra`: finds the checkout, runs the real `ansible-inventory`
and reads its answer.

`psf-infra validate` (cli.py) and `psf-infra summary` (summary.py) both read the inventory here, so
the registry is loaded exactly as the inventory plugin loads it for a playbook, and an invalid
registry fails both the same way. This module imports nothing else of the package: cli.py and
summary.py import it, never each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InventoryError(Exception):
    """`ansible-inventory` refused the inventory (for example an invalid registry); ``str()`` is its message."""


def project_root() -> Path:
    """The checkout holding playbooks/ and ansible.cfg (PSF_INFRA_ROOT overrides)."""
    configured = os.environ.get("PSF_INFRA_ROOT")
    if configured:
        return Path(configured).resolve()
    here = Path(__file__).resolve()
    for candidate in [Path.cwd(), *here.parents]:
        if (candidate / "ansible.cfg").is_file() and (candidate / "playbooks").is_dir():
            return candidate
    raise SystemExit("psf-infra: cannot find the psf.infra checkout; set PSF_INFRA_ROOT")


def sibling_tool(tool: str) -> str:
    """An Ansible command from the same virtualenv as this Python, else from PATH."""
    candidate = Path(sys.executable).parent / tool
    return str(candidate) if candidate.exists() else tool


def _plain_value(obj: dict[str, Any]) -> Any:
    """ansible-inventory --list writes strings the inventory plugin marked unsafe as {"__ansible_unsafe": str}."""
    if len(obj) == 1 and "__ansible_unsafe" in obj:
        return obj["__ansible_unsafe"]
    return obj


@dataclass(frozen=True)
class Inventory:
    """The answer of ``ansible-inventory --list``, with the views `psf-infra` needs."""

    data: dict[str, Any]

    @property
    def hostvars(self) -> dict[str, dict[str, Any]]:
        return self.data.get("_meta", {}).get("hostvars", {})

    @property
    def controller_vars(self) -> dict[str, Any]:
        """The variables of the host holding the registry (localhost first), else the group ``all``'s."""
        hostvars = self.hostvars
        for name in ("localhost", *hostvars):
            if "psf_tenants" in hostvars.get(name, {}):
                return hostvars[name]
        if "localhost" in hostvars:  # no registry: the controller's own variables (group_vars/all merged in)
            return hostvars["localhost"]
        return self.data.get("all", {}).get("vars", {})

    @property
    def tenants(self) -> dict[str, Any]:
        """The registry (``psf_tenants``) as the inventory plugin loaded it."""
        return self.controller_vars.get("psf_tenants", {})


def read_inventory(inventory: str, root: Path, vault_password_file: str | None = None) -> Inventory:
    """Run ``ansible-inventory -i <inventory> --list`` in the checkout with its ansible.cfg.

    An inventory with a vault (production: group_vars/all/vault.yml) is read only with its password
    (``vault_password_file``, or ANSIBLE_VAULT_PASSWORD_FILE in the environment): ansible-inventory
    loads every variable. Raises InventoryError with ansible-inventory's own message when it fails.
    """
    env = {**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    vault = ["--vault-password-file", vault_password_file] if vault_password_file else []
    proc = subprocess.run(
        [sibling_tool("ansible-inventory"), "-i", inventory, "--list", *vault],
        capture_output=True, text=True, env=env, cwd=root, check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.strip() or proc.stdout.strip() or "ansible-inventory failed"
        if "no vault secrets" in message and not vault_password_file:
            message += f"\n{inventory} holds a vault: give its password with --vault-password-file"
        raise InventoryError(message)
    return Inventory(json.loads(proc.stdout, object_hook=_plain_value))
