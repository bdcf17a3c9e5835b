# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of the hypervisor options of psf.infra.vm and psf.infra.vm_info; their argument
spec is beside, in ``plugins/module_utils/hypervisor/options.py`` (``HYPERVISOR``)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - libvirt-python
  - pycdlib
options:
  provider:
    description:
      - The hypervisor. C(libvirt) is libvirt through libvirt-python.
      - See C(docs/vms.md) for what each does and how to add another.
    type: str
    default: libvirt
    choices: [libvirt]
  uri:
    description:
      - The libvirt connection URI, for example C(qemu:///system), C(qemu+ssh://root@host/system),
        the lab's C(qemu:///system?socket=...) or C(test:///default) in tests.
    type: str
    default: qemu:///system
"""
