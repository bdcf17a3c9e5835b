# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of ``psf.infra.vm`` and ``psf.infra.vm_info`` (argument specs).

The shared ones (``provider``, ``uri``) are documented by the doc fragment ``psf.infra.hypervisor``
(``plugins/doc_fragments/hypervisor.py``). Free of third-party imports.
"""

from __future__ import annotations

from ansible_collections.psf.infra.plugins.module_utils.argspec import ArgumentSpec

REQUIRED_LIBRARIES = "libvirt-python and pycdlib"

#: Which hypervisor and how to reach it (fragment psf.infra.hypervisor).
HYPERVISOR = ArgumentSpec({
    "provider": {"type": "str", "default": "libvirt", "choices": ["libvirt", "podman"]},
    "uri": {"type": "str", "default": "qemu:///system"},
})

#: psf.infra.vm's own options.
VM = HYPERVISOR.merge(ArgumentSpec(
    {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "default": "running", "choices": ["running", "stopped", "absent"]},
        "tenant": {"type": "str"},
        "source_file": {"type": "str"},
        "vcpus": {"type": "int", "default": 1},
        "memory_mib": {"type": "int", "default": 1024},
        "disk_gib": {"type": "int", "default": 10},
        "base_image": {"type": "str"},
        "pool": {"type": "str", "default": "default"},
        "network": {"type": "str", "default": "default"},
        "domain_type": {"type": "str", "default": "qemu", "choices": ["qemu", "kvm"]},
        "hostname": {"type": "str"},
        "ssh_authorized_key": {"type": "str", "no_log": False},
        "network_config": {"type": "dict"},
        "restart": {"type": "bool", "default": False},
        "shutdown_timeout": {"type": "int", "default": 120},
        # podman only: what a container needs besides the VM's settings (the lab's machines)
        "podman": {"type": "dict", "options": {
            "labels": {"type": "dict", "default": {}},
            "network_aliases": {"type": "list", "elements": "str", "default": []},
            "cap_add": {"type": "list", "elements": "str", "default": []},
            "command": {"type": "list", "elements": "str", "default": ["/sbin/init"]},
        }},
    },
    # base_image (and on libvirt ssh_authorized_key) for a VM that exists: base.check_spec, per provider
))

#: psf.infra.vm_info's own options.
VM_INFO = HYPERVISOR.merge(ArgumentSpec(
    {
        "name": {"type": "str"},
        "tenant": {"type": "str"},
    },
    mutually_exclusive=[["name", "tenant"]],
))
