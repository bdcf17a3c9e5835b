# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypervisors for psf.infra: one interface, one adapter per hypervisor (docs/vms.md).

- ``base``: the interface (:class:`base.Provider`), the values it passes (:class:`base.VmSpec`,
  :class:`base.VmState`) and the pure plan of one VM (:func:`base.plan_vm`): what to create, what
  to redefine, which resize is allowed, whether a restart is needed.
- ``seed``: the cloud-init NoCloud seed (user-data, meta-data, network-config) as an ISO 9660
  image labelled ``cidata``, made in pure Python (pycdlib).
- ``libvirt``: the libvirt adapter (libvirt-python; ``qemu:///system``, a remote URI, or
  ``test:///default`` in tests).
- ``podman``: the podman adapter (the ``podman`` command): a VM is a container running systemd,
  the lab's stand-in for a hypervisor.
- ``options``: the argument specs of ``vm`` and ``vm_info``.
- ``vm_task``: what the ``vm`` and ``vm_info`` modules do, without Ansible.

A new hypervisor is one class with the methods of :class:`base.Provider` and one line in
``vm_task.PROVIDERS``.
"""
