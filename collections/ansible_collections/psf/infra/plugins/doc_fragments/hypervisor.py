# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the hypervisor options of psf.infra.vm and psf.infra.vm_info; their argument
spec is beside, in ``plugins/module_utils/hypervisor/options.py`` (``HYPERVISOR``)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - libvirt-python and pycdlib (O(provider=libvirt))
  - the podman command (O(provider=podman))
options:
  provider:
    description:
      - The hypervisor. C(libvirt) is libvirt through libvirt-python; C(podman) makes each VM a
        container running systemd (the lab's stand-in, through the podman command).
      - See C(docs/vms.md) for what each does and how to add another.
    type: str
    default: libvirt
    choices: [libvirt, podman]
  uri:
    description:
      - The libvirt connection URI (O(provider=libvirt) only), for example C(qemu:///system), C(qemu+ssh://root@host/system),
        the lab's C(qemu:///system?socket=...) or C(test:///default) in tests.
    type: str
    default: qemu:///system
"""
