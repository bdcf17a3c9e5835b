# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor interface, the values it passes around, and the plan for one VM.

A provider reads a VM (:meth:`Provider.read` -> :class:`VmState`) and makes single changes (create
the volumes, define, start, stop, grow the disk, remove). What to change is decided here, once,
for every provider (:func:`plan_vm`), so a new hypervisor is only the adapter.

Resize rules (docs/vms.md): vCPUs and memory may grow or shrink; the definition changes at once
and a running VM needs a restart, done only when the task allows it (``restart``). A disk only
grows (online when the VM runs); a smaller ``disk_gib`` than the disk has is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError

GIB = 1024 ** 3
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SSH_KEY_RE = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+)\s+[A-Za-z0-9+/=]+(\s+\S.*)?$")


class HypervisorError(PsfInfraError):
    """The hypervisor refused or failed a request; the message names the VM and quotes it."""

    def __init__(self, vm: str, message: str, **fields: Any) -> None:
        self.vm = vm
        super().__init__(f"VM '{vm}': {message}", vm=vm, **fields)


@dataclass(frozen=True)
class VmSpec:
    """A VM as the task asks for it (already checked)."""

    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    base_image: str | None
    pool: str
    network: str
    domain_type: str
    hostname: str
    ssh_authorized_key: str | None
    network_config: Mapping[str, Any] | None = None
    tenant: str | None = None

    @property
    def overlay_volume(self) -> str:
        return f"{self.name}.qcow2"

    @property
    def seed_volume(self) -> str:
        return f"{self.name}-seed.iso"

    def settings(self) -> dict[str, Any]:
        """The meaningful settings of the definition: what diff mode shows and what is compared."""
        return {"domain_type": self.domain_type, "vcpus": self.vcpus, "memory_mib": self.memory_mib,
                "network": self.network, "pool": self.pool, "disk_volume": self.overlay_volume,
                "seed_volume": self.seed_volume, "tenant": self.tenant}


@dataclass
class VmState:
    """A VM as the hypervisor holds it (``exists=False``: no such domain)."""

    name: str
    exists: bool
    state: str = "absent"  # running, stopped, paused, lost (podman), other, absent
    uuid: str | None = None
    macs: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # persistent definition, as VmSpec.settings()
    live: dict[str, Any] = field(default_factory=dict)  # vcpus/memory_mib the running guest has
    disk_gib: float | None = None  # capacity of the overlay volume
    disks: list[dict[str, Any]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)  # our volumes that exist (overlay, seed)

    @property
    def restart_pending(self) -> bool:
        """The running guest does not have its definition's vCPUs or memory yet."""
        return self.state == "running" and any(
            self.live.get(key) is not None and self.live.get(key) != self.settings.get(key)
            for key in ("vcpus", "memory_mib"))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "exists": self.exists, "state": self.state, "uuid": self.uuid,
                "macs": list(self.macs), "tenant": self.settings.get("tenant"),
                "vcpus": self.settings.get("vcpus"), "memory_mib": self.settings.get("memory_mib"),
                "domain_type": self.settings.get("domain_type"), "network": self.settings.get("network"),
                "disk_gib": self.disk_gib, "disks": list(self.disks), "addresses": list(self.addresses),
                "restart_needed": self.restart_pending}


class Provider:
    """What a hypervisor adapter does. Every method raises PsfInfraError on failure."""

    name = "abstract"

    def read(self, name: str) -> VmState:
        raise NotImplementedError

    def list(self) -> list[VmState]:
        raise NotImplementedError

    def check(self, spec: VmSpec, *, tenant: str | None = None, source_file: str | None = None,
              current: VmState | None = None) -> None:
        """Refuse early what the hypervisor cannot do (unknown pool, network or base image; a change
        ``current`` cannot take)."""
        raise NotImplementedError

    def settings(self, spec: VmSpec) -> dict[str, Any]:
        """The settings of ``spec`` as :meth:`read` reports them: what is compared and what diff mode shows."""
        return spec.settings()

    def volumes(self, spec: VmSpec) -> tuple[str, ...]:
        """The volumes the VM needs besides its definition (created by :meth:`create_volumes`)."""
        return (spec.overlay_volume, spec.seed_volume)

    def create_volumes(self, spec: VmSpec, seed: bytes) -> list[str]:
        """The overlay on the base image and the seed, where missing; notes of what was not possible."""
        raise NotImplementedError

    def define(self, spec: VmSpec, current: VmState) -> None:
        """(Re)define the domain, keeping ``current``'s UUID and MACs."""
        raise NotImplementedError

    def grow_disk(self, spec: VmSpec, running: bool) -> None:
        raise NotImplementedError

    def start(self, name: str) -> None:
        raise NotImplementedError

    def stop(self, name: str, timeout: int) -> None:
        raise NotImplementedError

    def remove(self, spec: VmSpec, current: VmState) -> None:
        """The domain, its overlay and its seed; never the base image."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""


@dataclass
class Plan:
    """What a run does, in order, as ``(action, detail)``; ``restart_needed`` when a running VM
    must restart to get its new definition."""

    actions: list[tuple[str, str]] = field(default_factory=list)
    restart_needed: bool = False

    def add(self, action: str, detail: str) -> None:
        self.actions.append((action, detail))

    def has(self, action: str) -> bool:
        return any(entry[0] == action for entry in self.actions)


def plan_vm(spec: VmSpec, current: VmState, state: str, *, restart: bool, tenant: str | None = None,
            source_file: str | None = None, wanted: Mapping[str, Any] | None = None,
            volumes: tuple[str, ...] | None = None) -> Plan:
    """The actions that bring ``current`` to ``spec`` in ``state`` (pure: nothing is sent).

    ``wanted`` and ``volumes`` are the provider's view of ``spec`` (:meth:`Provider.settings`,
    :meth:`Provider.volumes`); by default libvirt's. Raises InvalidInput for a disk shrink, before
    anything changes.
    """
    plan = Plan()
    if state == "absent":
        if current.exists or current.volumes:
            plan.add("remove", f"remove VM {spec.name} and its volumes {', '.join(current.volumes) or '(none)'}; "
                               f"the base image stays")
        return plan
    if current.disk_gib is not None and spec.disk_gib < current.disk_gib:
        raise InvalidInput(f"VM '{spec.name}' cannot shrink its disk from {current.disk_gib:g} GiB to "
                           f"{spec.disk_gib} GiB; disks only grow", tenant=tenant, file=source_file,
                           field="disk_gib")
    wanted = dict(spec.settings() if wanted is None else wanted)
    needed = (spec.overlay_volume, spec.seed_volume) if volumes is None else volumes
    missing = [volume for volume in needed if volume not in current.volumes]
    if missing:
        plan.add("create_volumes", f"create {', '.join(missing)} in pool {spec.pool}"
                                   + (f" on base image {spec.base_image}" if spec.overlay_volume in missing else ""))
    if current.state == "lost":
        plan.add("recreate", f"make VM {spec.name} again from {spec.base_image} with its UUID and MAC: its "
                             "processes have gone while the hypervisor still records it running, and it cannot "
                             "be started again; what the old one held is lost")
    elif not current.exists:
        disk = f"{spec.disk_gib} GiB, " if needed else ""
        plan.add("define", f"define VM {spec.name} ({spec.vcpus} vCPU, {spec.memory_mib} MiB, "
                           f"{disk}network {spec.network}, type {wanted.get('domain_type', spec.domain_type)})")
    else:
        changed = {key: (current.settings.get(key), value) for key, value in wanted.items()
                   if current.settings.get(key) != value}
        if changed:
            plan.add("define", "redefine VM {} ({})".format(
                spec.name, ", ".join(f"{key} {old} -> {new}" for key, (old, new) in sorted(changed.items()))))
    if current.disk_gib is not None and spec.disk_gib > current.disk_gib:
        plan.add("grow_disk", f"grow disk {spec.overlay_volume} from {current.disk_gib:g} GiB to {spec.disk_gib} GiB")

    running = current.state == "running"
    redefined_live = running and plan.has("define") and any(
        current.settings.get(key) != wanted[key] for key in ("vcpus", "memory_mib", "domain_type", "network"))
    needs_restart = redefined_live or current.restart_pending
    if state == "running":
        if not running:
            plan.add("start", f"start VM {spec.name}")
        elif needs_restart:
            if restart:
                plan.add("restart", f"restart VM {spec.name} to apply its new definition")
            else:
                plan.restart_needed = True
    elif state == "stopped" and current.state not in ("stopped", "absent", "lost"):
        plan.add("stop", f"stop VM {spec.name}")
    return plan


def check_spec(params: Mapping[str, Any]) -> VmSpec:
    """Checked options -> VmSpec; InvalidInput naming the VM, the tenant and the field."""
    name = params["name"]
    tenant, source_file = params.get("tenant"), params.get("source_file")

    def bad(field_name: str, reason: str) -> InvalidInput:
        return InvalidInput(f"VM '{name}' {reason}", tenant=tenant, file=source_file, field=field_name)

    if not isinstance(name, str) or not NAME_RE.match(name):
        raise bad("name", "is not a valid VM name (lower-case letters, digits and '-', at most 63, "
                          "starting and ending with a letter or digit)")
    limits = {"vcpus": (1, 256), "memory_mib": (64, 4 * 1024 * 1024), "disk_gib": (1, 64 * 1024)}
    for key, (low, high) in limits.items():
        value = params.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise bad(key, f"needs {key} between {low} and {high}, not {value!r}")
    hostname = params.get("hostname") or name
    if not all(NAME_RE.match(label) for label in hostname.rstrip(".").split(".")):
        raise bad("hostname", f"has an invalid host name {hostname!r}")
    key = params.get("ssh_authorized_key")
    if key is not None:
        key = key.strip()
        if "\n" in key or not SSH_KEY_RE.match(key):
            raise bad("ssh_authorized_key", "needs one OpenSSH public key line (ssh-ed25519 AAAA... comment)")
    network_config = params.get("network_config")
    if network_config is not None and network_config.get("version") not in (1, 2):
        raise bad("network_config", "needs a cloud-init network configuration with version 1 or 2")
    provider = params.get("provider") or "libvirt"
    state = params.get("state") or "running"
    if state != "absent":
        for required in ("base_image", "ssh_authorized_key") if provider == "libvirt" else ("base_image",):
            if not params.get(required):
                raise bad(required, f"needs {required} to be {state} on {provider}")
    # a podman image reference has slashes (localhost/name:tag): the podman provider checks it
    for key_name in ("pool", "network") + (("base_image",) if provider == "libvirt" else ()):
        value = params.get(key_name)
        if value is not None and (not value or "/" in value or value != value.strip()):
            raise bad(key_name, f"needs a {key_name.replace('_', ' ')} name, not {value!r}")
    return VmSpec(name=name, vcpus=params["vcpus"], memory_mib=params["memory_mib"], disk_gib=params["disk_gib"],
                  base_image=params.get("base_image"), pool=params.get("pool") or "default",
                  network=params.get("network") or "default",
                  domain_type="container" if provider == "podman" else params.get("domain_type") or "qemu",
                  hostname=hostname, ssh_authorized_key=key, network_config=network_config, tenant=tenant)
