# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``psf.infra.vm`` and ``psf.infra.vm_info`` do, from checked options to the result, and
their life once the AnsibleModule is made (:func:`run`).

Raises ``PsfInfraError`` on failure. Every option is checked, and the hypervisor asked whether the
pool, network and base image exist, before anything changes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.errors import fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.hypervisor import libvirt as libvirt_provider
from ansible_collections.psf.infra.plugins.module_utils.hypervisor import seed
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.base import (
    Provider,
    VmSpec,
    VmState,
    check_spec,
    plan_vm,
)
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.libvirt import LibvirtProvider
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.options import REQUIRED_LIBRARIES
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.podman import PodmanProvider
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.seed import seed_files, seed_iso

#: What each provider needs imported where the module runs (libvirt: libvirt-python and pycdlib;
#: podman: only the podman command).
IMPORT_ERRORS = {"libvirt": libvirt_provider.IMPORT_ERROR or seed.IMPORT_ERROR, "podman": None}

#: The hypervisors: one adapter each (see base.Provider). A new one is a class and a line here.
PROVIDERS: dict[str, Callable[[Mapping[str, Any]], Provider]] = {
    "libvirt": lambda params: LibvirtProvider(params.get("uri") or "qemu:///system"),
    "podman": lambda params: PodmanProvider(options=params.get("podman")),
}


def provider_from_params(params: Mapping[str, Any]) -> Provider:
    return PROVIDERS[params.get("provider") or "libvirt"](params)


def _diff(spec: VmSpec, current: VmState, state: str, wanted: Mapping[str, Any]) -> dict[str, Any]:
    before: dict[str, Any] = {"state": current.state}
    if current.exists:
        before.update({**current.settings, "disk_gib": current.disk_gib, "uuid": current.uuid,
                       "macs": current.macs})
    if state == "absent":
        after: dict[str, Any] = {"state": "absent"}
    else:
        after = {"state": state, **wanted,
                 "disk_gib": max(spec.disk_gib, current.disk_gib or 0) if current.disk_gib is not None or
                 "disk_volume" in wanted else None,
                 "uuid": current.uuid or "(new)", "macs": current.macs or ["(new)"]}
    return {"before": before, "after": after,
            "before_header": f"VM {spec.name} (now)", "after_header": f"VM {spec.name} (after)"}


def run_vm(params: Mapping[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    spec = check_spec(params)
    state = params.get("state") or "running"
    tenant, source_file = params.get("tenant"), params.get("source_file")
    provider = provider_from_params(params)
    try:
        current = provider.read(spec.name, pool=spec.pool)
        if state != "absent":
            provider.check(spec, tenant=tenant, source_file=source_file, current=current)
        wanted = provider.settings(spec)
        plan = plan_vm(spec, current, state, restart=bool(params.get("restart")), tenant=tenant,
                       source_file=source_file, wanted=wanted, volumes=provider.volumes(spec))
        notes: list[str] = []
        warnings: list[str] = []  # also in notes; the module shows them as Ansible warnings
        # a new VM's UUID is chosen here, so that the seed's instance-id is the domain's UUID
        identity = dataclasses.replace(current, uuid=current.uuid or str(uuid.uuid4()))
        if not check_mode:
            for action in [entry[0] for entry in plan.actions]:
                if action == "create_volumes":
                    notes += provider.create_volumes(spec, seed_iso(seed_files(spec, identity.uuid)))
                elif action == "define":
                    provider.define(spec, identity)
                elif action == "recreate":
                    provider.remove(spec, current)
                    provider.define(spec, dataclasses.replace(identity, exists=False))
                    warnings.append(f"VM {spec.name} was made again from its image with UUID {identity.uuid}: its "
                                    "processes had gone while the hypervisor still recorded it running; what the "
                                    "old one held is lost")
                elif action == "grow_disk":
                    provider.grow_disk(spec, running=current.state == "running")
                elif action == "start":
                    provider.start(spec.name)
                elif action == "stop":
                    provider.stop(spec.name, params.get("shutdown_timeout", 120))
                elif action == "restart":
                    provider.stop(spec.name, params.get("shutdown_timeout", 120))
                    provider.start(spec.name)
                elif action == "remove":
                    provider.remove(spec, current)
        after = provider.read(spec.name, pool=spec.pool) if not check_mode else current
    finally:
        provider.close()
    result: dict[str, Any] = {
        "changed": bool(plan.actions), "name": spec.name, "provider": provider.name,
        "actions": [{"action": action, "detail": detail} for action, detail in plan.actions],
        "restart_needed": plan.restart_needed if check_mode else after.restart_pending,
        "notes": notes + warnings, "warnings_": warnings, "vm": after.as_dict(),
    }
    if diff:
        result["diff"] = _diff(spec, current, state, wanted)
    return result


def run_vm_info(params: Mapping[str, Any]) -> dict[str, Any]:
    provider = provider_from_params(params)
    try:
        if params.get("name"):
            found = provider.read(params["name"])
            vms = [found] if found.exists else []
        else:
            vms = provider.list()
    finally:
        provider.close()
    if params.get("tenant"):
        vms = [vm for vm in vms if vm.settings.get("tenant") == params["tenant"]]
    return {"changed": False, "provider": provider.name, "vms": [vm.as_dict() for vm in vms]}


def run(module: Any, *, changes: bool) -> None:
    """``vm`` (``changes=True``: check and diff mode apply) or ``vm_info``; never returns."""
    import_error = IMPORT_ERRORS.get(module.params.get("provider") or "libvirt")
    if import_error is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(import_error))
    with fail_on_errors(module):
        if changes:
            result = run_vm(module.params, check_mode=module.check_mode, diff=module._diff)
            for warning in result.pop("warnings_"):  # what the old container held is lost: not only in -v
                module.warn(warning)
        else:
            result = run_vm_info(module.params)
    module.exit_json(**result)
