#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_registry_info
short_description: Validate the tenant registry and return it normalised
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
description:
  - Reads a tenant registry directory (one YAML file per tenant) with the same code as the
    C(psf.infra.tenants) inventory plugin, and returns the normalised registry and a summary.
  - Fails with every problem of every file listed (file, tenant, field) when anything is invalid,
    so a playbook that starts with this module stops before it changes anything.
  - Runs on the control node (C(localhost)); it reads files and changes nothing.
requirements:
  - jsonschema
  - dnspython
  - netaddr
options:
  config_file:
    description:
      - The plugin configuration (C(inventories/<env>/tenants.yml)) to take C(registry_dir),
        C(size_presets), C(quotas), C(vm_domain) and C(environment) from.
      - Options given to this module override the values of the file.
    type: path
  registry_dir:
    description:
      - The directory of tenant files. Relative to the directory of O(config_file) when that is given.
      - Required when O(config_file) is not given.
    type: path
  size_presets:
    description: The VM size presets, as in the plugin configuration.
    type: dict
  quotas:
    description: The per-tenant quotas, as in the plugin configuration.
    type: dict
  vm_domain:
    description: The domain of VM FQDNs (C(<vm>.<tenant>.<vm_domain>)).
    type: str
  environment:
    description:
      - The environment name returned in RV(summary) (key C(environment)).
      - Defaults to the name of the directory holding the configuration file, or the registry directory.
    type: str
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs it unchanged.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: Reading the same files gives the same result.
seealso:
  - plugin: psf.infra.tenants
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Refuse to go on when the tenant registry is invalid
  psf.infra.tenant_registry_info:
    config_file: "{{ inventory_dir }}/tenants.yml"
  register: registry
  delegate_to: localhost
  run_once: true

- name: Validate a directory with explicit settings
  psf.infra.tenant_registry_info:
    registry_dir: /srv/psf-infra/inventories/production/tenants
    environment: production
    size_presets:
      small: {vcpus: 1, memory_mib: 2048, disk_gib: 20}
    quotas:
      default: {max_vms: 1, sizes: [small]}
"""

RETURN = r"""
tenants:
  description: The normalised tenant records by name (the same dict as the C(psf_tenants) variable).
  returned: success
  type: dict
  sample:
    packaging:
      name: packaging
      display_name: Packaging Working Group
      kind: working-group
      status: active
      approval: {body: psf-membership, date: "2023-03-15"}
      members: [{name: Ada Packager, email: ada@packaging.test, ssh_keys: [], notify: true}]
      services: {domains: [], zones: [], certificates: [], vms: [], apps: []}
summary:
  description: Counts over the registry, and the inventory host names of its VMs.
  returned: success
  type: dict
  sample:
    environment: lab
    tenants: 2
    by_status: {active: 2}
    by_kind: {working-group: 1, community-organization: 1}
    members: 3
    domains: 2
    zones: 2
    certificates: 2
    vms: 2
    apps: 2
    hosts: [web1.packaging, site1.pyladies-berlin]
registry_dir:
  description: The absolute path of the registry directory that was read.
  returned: success
  type: str
  sample: /srv/psf-infra/inventories/lab/tenants
problems:
  description: When the registry is invalid, each problem with the tenant, the file and the field it is about.
  returned: failure
  type: list
  elements: dict
  sample:
    - msg: "inventories/lab/tenants/packaging.yml: tenant 'packaging': services.zones[0].records[2].values[0]:
        '300.1.2.3' is not an IPv4 address (www A)"
      tenant: packaging
      file: inventories/lab/tenants/packaging.yml
      field: services.zones[0].records[2].values[0]
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.registry.checks import build_config, display_path
from ansible_collections.psf.infra.plugins.module_utils.registry.loading import load_registry, missing_libraries

ARGUMENT_SPEC = {
    "config_file": {"type": "path"},
    "registry_dir": {"type": "path"},
    "size_presets": {"type": "dict"},
    "quotas": {"type": "dict"},
    "vm_domain": {"type": "str"},
    "environment": {"type": "str"},
}
SETTINGS = ("size_presets", "quotas", "vm_domain", "environment")


def settings_from(params: dict) -> tuple[str, dict, str]:
    """The registry directory, the settings and their source, from the config file and the options."""
    settings: dict = {}
    source = "the module options"
    registry_dir = params["registry_dir"]
    config_file = params["config_file"]
    if config_file:
        import yaml

        try:
            with open(config_file, encoding="utf-8") as handle:
                settings = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as error:
            raise InvalidInput(f"cannot read the registry settings: {error}", file=config_file) from error
        if not isinstance(settings, dict):
            raise InvalidInput("the registry settings must be a mapping", file=config_file)
        source = display_path(config_file)
        base = os.path.dirname(os.path.abspath(config_file))
        registry_dir = os.path.join(base, registry_dir or settings.get("registry_dir", "tenants"))
        settings.setdefault("environment", os.path.basename(base))
    elif registry_dir:
        # inventories/<env>/tenants -> <env>, as the inventory plugin names it
        settings["environment"] = os.path.basename(os.path.dirname(os.path.abspath(registry_dir)))
    overrides = {key: params[key] for key in SETTINGS if params[key] is not None}
    settings = {key: settings[key] for key in SETTINGS if key in settings} | overrides
    return registry_dir, settings, source


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_one_of=[("config_file", "registry_dir")],
                           supports_check_mode=True)
    missing = missing_libraries()
    if missing:
        module.fail_json(msg=missing_required_lib(" and ".join(missing)))
    with fail_on_errors(module):
        registry_dir, settings, source = settings_from(module.params)
        config = build_config(settings, source=source)
        registry = load_registry(registry_dir, config)
    module.exit_json(changed=False, tenants=dict(registry.tenants), summary=registry.summary(),
                     registry_dir=registry.directory)


if __name__ == "__main__":
    main()
