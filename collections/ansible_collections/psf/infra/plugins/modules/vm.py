#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vm
short_description: Keep one tenant VM defined, sized and running (or stopped, or removed) on a hypervisor
version_added: 0.1.0
description:
  - Makes the hypervisor (O(provider)) hold one VM as asked - a qcow2 overlay volume on the base image
    volume O(base_image) in the storage pool O(pool), a cloud-init NoCloud seed volume, one NIC on
    the network O(network) - in the state O(state). A second run with the same input changes nothing.
  - Identity is kept - the UUID and the MAC address of an existing VM are written back into every
    definition, and the definition is compared setting by setting (type, vCPUs, memory, network,
    volumes, tenant), never as XML text, so nothing is redefined when nothing differs.
  - The seed (an ISO 9660 image labelled C(cidata)) carries only what Ansible needs to take over -
    the host name and the staff automation key O(ssh_authorized_key), and O(network_config) when
    given. It is made once, with the VM; root's keys stay the C(tenant_access) role's job.
  - Resizing - O(vcpus) and O(memory_mib) may grow or shrink; the definition changes at once and a
    running VM reports RV(restart_needed) until it restarts, which this module does only with
    O(restart=true). O(disk_gib) may only grow (online when the VM runs); a smaller value is an error
    naming the VM and the field.
  - O(state=absent) removes the domain, its overlay and its seed, never the base image.
  - Bad input (name, sizes, key, pool, network, base image) fails before anything changes, naming
    the VM, the tenant and the field.
  - With O(provider=podman) the VM is a container running systemd from the image O(base_image) on the
    podman network O(network), with CPU and memory limits from O(vcpus) and O(memory_mib) and a fixed
    MAC; it has no disk size and no seed, and a change of vCPUs, memory, network, image or tenant of
    an existing container is refused (podman cannot apply it without a new container, which would lose
    what the old one holds). The lab's machines are made this way (C(playbooks/lab-vms.yml)).
author:
  - PSF Infrastructure Working Group (@python)
extends_documentation_fragment:
  - psf.infra.hypervisor
options:
  name:
    description: The VM's name, also the domain's name (lower-case letters, digits and hyphens).
    type: str
    required: true
  state:
    description:
      - C(running) - defined and running; C(stopped) - defined and shut down (ACPI, then powered off
        after O(shutdown_timeout)); C(absent) - the domain and its volumes removed.
    type: str
    default: running
    choices: [running, stopped, absent]
  tenant:
    description:
      - The VM's tenant, kept in the domain's metadata (M(psf.infra.vm_info) selects on it) and named in errors.
    type: str
  source_file:
    description: The tenant file that declares the VM; used in error messages.
    type: str
  vcpus:
    description: Virtual CPUs (the tenant file's preset C(psf_vm.vcpus)).
    type: int
    default: 1
  memory_mib:
    description: Memory in MiB (C(psf_vm.memory_mib)).
    type: int
    default: 1024
  disk_gib:
    description: Size of the VM's disk in GiB (C(psf_vm.disk_gib)); it only grows.
    type: int
    default: 10
  base_image:
    description:
      - The base image, a volume of O(pool) (for example C(debian-12.qcow2)), the backing store of
        the VM's overlay. Required unless O(state=absent). Never changed nor removed.
      - With O(provider=podman), the image reference (for example C(localhost/psf-infra/debian-systemd:bookworm)).
    type: str
  pool:
    description: The storage pool of the base image and of the VM's volumes.
    type: str
    default: default
  network:
    description: The hypervisor network of the VM's one NIC.
    type: str
    default: default
  domain_type:
    description: The domain type; C(qemu) is TCG emulation (works everywhere), C(kvm) needs hardware virtualisation.
    type: str
    default: qemu
    choices: [qemu, kvm]
  hostname:
    description: The host name cloud-init sets; O(name) when not given.
    type: str
  ssh_authorized_key:
    description:
      - The staff automation public key (one OpenSSH line) put in the seed. Required unless O(state=absent)
        with O(provider=libvirt); not used by O(provider=podman) (Ansible reaches a container through podman).
    type: str
  network_config:
    description: A cloud-init network configuration (version 1 or 2) for the seed; DHCP on the NIC when not given.
    type: dict
  restart:
    description: Restart a running VM whose new definition (vCPUs, memory, type, network) needs a restart.
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds to wait for an ACPI shutdown before powering the VM off; C(0) powers off at once.
    type: int
    default: 120
  podman:
    description: With O(provider=podman) only, what the container needs besides the VM's settings.
    type: dict
    suboptions:
      labels:
        description: Labels of the container, beside the ones that hold the VM's identity (C(psf.infra.*)).
        type: dict
        default: {}
      network_aliases:
        description: Names the other containers of O(network) reach this one by.
        type: list
        elements: str
        default: []
      cap_add:
        description: Linux capabilities added to the container (for example C(NET_ADMIN) for a firewall).
        type: list
        elements: str
        default: []
      command:
        description: The container's command, systemd by default.
        type: list
        elements: str
        default: [/sbin/init]
attributes:
  check_mode:
    support: full
    description: Reads the hypervisor and plans; nothing is created, defined, resized, started or stopped.
  diff_mode:
    support: full
    description:
      Shows the VM's meaningful settings before and after (state, type, vCPUs, memory, disk, network,
      volumes, tenant, UUID, MACs).
  idempotent:
    support: full
    description: A second run with the same input reports no change; the UUID and the MAC addresses are kept.
seealso:
  - module: psf.infra.vm_info
notes:
  - The lab's libvirtd, the resize rules and what is not built yet are described in C(docs/vms.md).
"""

EXAMPLES = r"""
- name: A lab machine - a podman container running systemd
  psf.infra.vm:
    provider: podman
    name: psf-lab-web1-packaging
    hostname: web1.packaging.vms.infra.test
    tenant: packaging
    base_image: localhost/psf-infra/debian-systemd:bookworm
    network: psf-lab-vms
    vcpus: 2
    memory_mib: 4096
    podman:
      labels: {psf.infra.lab: vm}
      network_aliases: [web1.packaging.vms.infra.test]
      cap_add: [NET_ADMIN]

- name: A tenant VM on the hypervisor, from the standard image
  psf.infra.vm:
    name: web1
    tenant: packaging
    source_file: inventories/production/tenants/packaging.yml
    uri: qemu:///system
    base_image: debian-12.qcow2
    pool: default
    network: default
    vcpus: 2
    memory_mib: 2048
    disk_gib: 20
    ssh_authorized_key: "{{ psf_staff_automation_public_key }}"
    state: running

- name: More memory, restarting the VM now
  psf.infra.vm:
    name: web1
    tenant: packaging
    base_image: debian-12.qcow2
    memory_mib: 4096
    vcpus: 2
    disk_gib: 20
    ssh_authorized_key: "{{ psf_staff_automation_public_key }}"
    restart: true

- name: Remove the VM and its volumes (not the base image)
  psf.infra.vm:
    name: web1
    state: absent
"""

RETURN = r"""
name:
  description: The VM's name.
  returned: always
  type: str
provider:
  description: The hypervisor (C(libvirt)).
  returned: always
  type: str
actions:
  description: What was changed (or would be, in check mode), in order, as C({action, detail}).
  returned: always
  type: list
  elements: dict
  sample: [{action: define, detail: "redefine VM web1 (memory_mib 2048 -> 4096)"}]
restart_needed:
  description:
    - The VM runs with fewer or more vCPUs or memory than its definition; a run with O(restart=true) restarts it.
  returned: always
  type: bool
notes:
  description: What could not be done and why (for example a driver that cannot upload the seed).
  returned: always
  type: list
  elements: str
vm:
  description: The VM after the run (before it, in check mode), as M(psf.infra.vm_info) returns each VM.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the hypervisor has the VM.
      type: bool
    state:
      description:
        - C(running), C(stopped), C(paused), C(absent), ...
        - C(lost) (podman) for a container whose processes have gone while podman still records it running; a run
          that wants the VM makes it again from its image with the same UUID and MAC (action C(recreate)), with a
          warning, since what the old container held is lost.
      type: str
    uuid:
      description: The domain's UUID, or null.
      type: str
    macs:
      description: The MAC addresses of its NICs.
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
      description: Capacity of the VM's disk, in GiB.
      type: float
    addresses:
      description: IP addresses from the network's leases or the guest agent; empty when neither knows.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.hypervisor import vm_task
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.options import VM


def main() -> None:
    vm_task.run(AnsibleModule(**VM.module_kwargs(supports_check_mode=True)), changes=True)


if __name__ == "__main__":
    main()
