# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
name: tenants
short_description: The PSF Infra-WG tenant registry as an inventory
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
description:
  - Reads one YAML file per tenant (C(<registry_dir>/<name>.yml)), validates every file against the
    tenant JSON Schema and the rules of the Infra-WG charter, judges every zone's records and zone file
    with the DNS code that publishes them (types, values, CNAME rules, DNS size limits), and refuses the
    whole registry with every problem listed (file, tenant, field) when anything is wrong.
  - Every VM of an C(active) or C(suspended) tenant becomes a host C(<vm>.<tenant>) in the groups
    C(tenant_<tenant>), C(tenant_vms), C(backup_clients), C(monitoring_agents), C(vm_size_<preset>) and
    C(app_<app>) for each app it runs (dashes become underscores in group names).
  - Host variables C(psf_tenant_name), C(psf_tenant), C(psf_tenant_members), C(psf_vm), C(psf_apps);
    on group C(all) C(psf_tenants) (every tenant, retired ones included) and C(psf_registry_env).
  - The configuration file must be named C(tenants.yml) or end with C(.tenants.yml) (or C(.yaml)).
  - The file format and the rules are documented in C(docs/tenants.md).
requirements:
  - jsonschema
  - dnspython
  - netaddr
options:
  plugin:
    description: The name of this plugin; makes the file a configuration of this plugin.
    required: true
    type: str
    choices: [psf.infra.tenants]
  registry_dir:
    description:
      - The directory holding the tenant files, relative to the directory of the configuration file
        unless absolute. Only its C(*.yml) and C(*.yaml) files are tenants; subdirectories (for example
        C(zones/) with BIND zone files) are not read.
    type: str
    default: tenants
  environment:
    description:
      - The name of the environment, set as C(psf_registry_env) on group C(all).
      - Defaults to the name of the directory holding the configuration file (C(lab), C(production)).
    type: str
  vm_domain:
    description:
      - The domain under which a VM without an explicit C(fqdn) is named C(<vm>.<tenant>.<vm_domain>).
      - Set as C(psf_vm_domain) on group C(all); every VM's A/AAAA record is C(<vm>.<tenant>.<vm_domain>) in this
        Infra-WG zone (C(playbooks/vm-dns.yml)).
    type: str
    default: vms.infra.test
  size_presets:
    description:
      - The VM sizes tenants may choose from, by name; each gives C(vcpus), C(memory_mib) and C(disk_gib).
    type: dict
    required: true
  quotas:
    description:
      - Per-tenant limits. C(default) applies to every tenant; C(tenants.<name>) replaces the keys it gives
        for one tenant.
      - Each quota gives C(max_vms) (default 2) and C(sizes), the size presets allowed (default all).
    type: dict
    default: {}
  registry_cache:
    description:
      - Keep each valid registry in a content-addressed cache, so that a run on an unchanged registry
        takes it from there instead of parsing and judging every file again (about 0.9 s saved a run
        with a 10,000-record zone inline).
      - An entry is used only when every tenant file, every zone file it names, these settings, the
        day and the collection's code are byte for byte those it was judged with; an invalid registry
        is never stored. See C(docs/tenants.md), "The registry cache".
    type: bool
    default: true
    env:
      - name: PSF_INFRA_REGISTRY_CACHE
  registry_cache_dir:
    description:
      - Where the cache lives (created with mode 0700). Defaults to
        C($XDG_CACHE_HOME/psf-infra/registry), that is C(~/.cache/psf-infra/registry).
    type: path
    env:
      - name: PSF_INFRA_REGISTRY_CACHE_DIR
notes:
  - Set C([inventory] any_unparsed_is_failed = true) in C(ansible.cfg) so that an invalid registry stops
    every command instead of being reported as a warning, and C(ignore_patterns = ^tenants$) so that the
    inventory directory loader does not try to read the tenant files as inventories of their own.
seealso:
  - module: psf.infra.tenant_registry_info
"""

EXAMPLES = r"""
# inventories/lab/tenants.yml
plugin: psf.infra.tenants
registry_dir: tenants
environment: lab
vm_domain: vms.infra.test
size_presets:
  small: {vcpus: 1, memory_mib: 2048, disk_gib: 20}
  medium: {vcpus: 2, memory_mib: 4096, disk_gib: 40}
quotas:
  default: {max_vms: 2, sizes: [small]}
  tenants:
    packaging: {max_vms: 4, sizes: [small, medium]}
"""

import json
import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.registry import cache as registry_cache
from ansible_collections.psf.infra.plugins.module_utils.registry.checks import build_config, display_path
from ansible_collections.psf.infra.plugins.module_utils.registry.loading import load_registry
from ansible_collections.psf.infra.plugins.module_utils.registry.views import inventory_hosts, registry_variables


class InventoryModule(BaseInventoryPlugin):
    NAME = "psf.infra.tenants"

    def verify_file(self, path: str) -> bool:
        if not super().verify_file(path):
            return False
        name = os.path.basename(path)
        return name in ("tenants.yml", "tenants.yaml") or name.endswith((".tenants.yml", ".tenants.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        base = os.path.dirname(os.path.abspath(path))
        registry_dir = os.path.join(base, os.path.expanduser(self.get_option("registry_dir")))
        settings = _plain({
            "size_presets": self.get_option("size_presets"),
            "quotas": self.get_option("quotas"),
            "vm_domain": self.get_option("vm_domain"),
        })
        try:
            config = build_config(settings, source=display_path(path),
                                  environment=self.get_option("environment") or os.path.basename(base))
            cache_dir = (self.get_option("registry_cache_dir") or registry_cache.default_directory()
                         if self.get_option("registry_cache") else None)
            registry = load_registry(registry_dir, config, cache_dir=cache_dir)
        except InvalidInput as error:
            raise AnsibleParserError(str(error)) from error

        for name, value in registry_variables(registry).items():
            self.inventory.set_variable("all", name, value)
        # The VMs' own domain (<vm>.<tenant>.<vm_domain>): the Infra-WG zone of their A/AAAA records.
        self.inventory.set_variable("all", "psf_vm_domain", config.vm_domain)
        for host in inventory_hosts(registry):
            for group in host.groups:
                self.inventory.add_group(group)
            self.inventory.add_host(host.name, group=host.groups[0])
            for group in host.groups[1:]:
                self.inventory.add_child(group, host.name)
            for name, value in host.variables.items():
                self.inventory.set_variable(host.name, name, value)


def _plain(value):
    """Options come back as Ansible's tagged types; the registry code wants plain Python data."""
    return json.loads(json.dumps(value))
