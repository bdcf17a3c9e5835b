"""Every configuration file of the lab, rendered with Jinja2 from template files.

- `lab/templates/`: the lab's own files (the registry's named.conf, unbound, pebble, zone files, keys).
- `roles/nameserver/templates/`: ns1 and ns2 are Infra-WG name servers, so their controls, options
  (ns2's catalog consumer included) and ns2's catalog zone statement are the nameserver role's own
  templates, rendered with the lab's values: BIND's configuration has one source.

Both are rendered as Ansible's template module renders (`trim_blocks`, the final newline kept), with
undefined variables an error.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from psf_lab.config import REPO_ROOT

LAB_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
ROLE_TEMPLATES = REPO_ROOT / "roles" / "nameserver" / "templates"


def _environment(directory: Path) -> jinja2.Environment:
    environment = jinja2.Environment(  # noqa: S701 - configuration files, not HTML
        loader=jinja2.FileSystemLoader(str(directory)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, keep_trailing_newline=True,
    )
    environment.filters["b64encode"] = lambda data: base64.b64encode(data).decode()
    return environment


_LAB = _environment(LAB_TEMPLATES)
_ROLE = _environment(ROLE_TEMPLATES)


def render_lab(template: str, **variables: Any) -> str:
    """`lab/templates/<template>` rendered with `variables`."""
    return _LAB.get_template(template).render(**variables)


def render_role(template: str, **variables: Any) -> str:
    """`roles/nameserver/templates/<template>` rendered with `variables` (the role's own names);
    `ansible_managed` says where the file comes from."""
    managed = f"Written by lab/labctl.py from roles/nameserver/templates/{template}; edits are overwritten."
    return _ROLE.get_template(template).render(ansible_managed=managed, **variables)
