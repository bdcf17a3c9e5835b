#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_info
short_description: Read the VMs of a hypervisor - one, a tenant's, or all
version_added: 0.1.0
description:
  - Reads the VMs (O(provider)) with their state, UUID, MAC addresses, IP addresses, vCPUs,
    memory and disks. Changes nothing.
  - A tenant's VMs are those whose domain metadata names the tenant (M(psf.infra.vm) writes it).
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.hypervisor
options:
  name:
    description: Only this VM (an empty list when it does not exist).
    type: str
  tenant:
    description: Only the VMs of this tenant.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode too.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
  idempotent:
    support: full
    description: Reads only.
seealso:
  - module: psf.infra.vm
"""

EXAMPLES = r"""
- name: The VMs of the packaging tenant
  psf.infra.vm_info:
    uri: qemu:///system
    tenant: packaging
  register: packaging_vms

- name: One VM
  psf.infra.vm_info:
    name: web1
  register: web1
"""

RETURN = r"""
provider:
  description: The hypervisor (C(libvirt)).
  returned: always
  type: str
vms:
  description: The VMs, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The VM's name.
      type: str
    state:
      description: C(running), C(stopped), C(paused), ...
      type: str
    uuid:
      description: The domain's UUID.
      type: str
    macs:
      description: The MAC addresses of its NICs.
      type: list
      elements: str
    addresses:
      description: IP addresses from the network's leases or the guest agent; empty when neither knows.
      type: list
      elements: str
    tenant:
      description: The tenant from the domain's metadata, or null.
      type: str
    vcpus:
      description: vCPUs of the definition.
      type: int
    memory_mib:
      description: Memory of the definition, in MiB.
      type: int
    disk_gib:
      description: Capacity of the VM's disk, in GiB, or null.
      type: float
    disks:
      description: Every disk as C({device, target, pool, volume, path, capacity_gib}).
      type: list
      elements: dict
    restart_needed:
      description: The running guest does not have its definition's vCPUs or memory yet.
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.hypervisor import vm_task
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.options import VM_INFO


def main() -> None:
    vm_task.run(AnsibleModule(**VM_INFO.module_kwargs(supports_check_mode=True)), changes=False)


if __name__ == "__main__":
    main()
