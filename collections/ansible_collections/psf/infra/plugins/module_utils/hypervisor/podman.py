# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The podman adapter: a VM is a container running systemd as PID 1 (the lab's fast stand-in for a
hypervisor; docs/vms.md, "The podman provider").

Driven through the ``podman`` command and its JSON (``podman container inspect``), so it needs no
Python binding and runs wherever podman does (its settings from ``CONTAINERS_CONF`` as usual).

- **What a VM is**: one container from the image ``base_image``, ``/sbin/init`` (``systemd=always``),
  one interface on the podman network ``network`` with a fixed MAC, CPU and memory limits from
  ``vcpus`` and ``memory_mib``, and labels holding its identity: ``psf.infra.vm-uuid``,
  ``psf.infra.vm-mac``, ``psf.infra.tenant`` and the image reference it was made from.
- **No volumes, no disk size**: the container's storage is the host's (no quota on the overlay
  driver here), so ``disk_gib`` is not applied and a VM reports no disk size; nothing is planned
  for it.
- **No redefinition**: podman 4 applies ``podman update`` to the running cgroup only (``inspect``
  and the next start keep the old limits), and anything else means a new container, which loses
  what the old one held. A change of vCPUs, memory, network or image of an existing VM is therefore
  refused before anything changes, naming the field: remove the VM (``state: absent``) and make it
  again, or keep its settings.
- **Lost containers**: when a container's processes are killed behind podman's back (its host's
  processes killed wholesale, conmon with them), podman 4.3 keeps recording it as running and can
  neither stop nor start it again; only ``podman rm --force`` clears it. Such a container (recorded
  running, stopping or paused, its PID gone) reads as state ``lost``, and a run that wants the VM
  makes it again from its image with the same UUID and MAC (``recreate``), saying that what the old
  container held is gone.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.base import (
    HypervisorError,
    Provider,
    VmSpec,
    VmState,
)

MIB = 1024 ** 2
LABEL_UUID = "psf.infra.vm-uuid"
LABEL_MAC = "psf.infra.vm-mac"
LABEL_TENANT = "psf.infra.tenant"
LABEL_IMAGE = "psf.infra.vm-image"
#: container status -> our state names
_STATES = {"running": "running", "paused": "paused", "exited": "stopped", "stopped": "stopped",
           "created": "stopped", "configured": "stopped", "initialized": "stopped"}
#: the settings a container cannot change without being made again
FIXED_SETTINGS = ("vcpus", "memory_mib", "network", "image", "tenant")
#: an image reference (registry/path:tag or @digest), as podman takes it
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
#: the statuses that need a live process behind them
_LIVE_STATUSES = ("running", "stopping", "paused")
_NO_SUCH = re.compile(r"no such (container|object)", re.IGNORECASE)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie is not)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # pid (comm) state ...: the state follows the last ')'
            return stat.read().rpartition(")")[2].split()[:1] != ["Z"]
    except FileNotFoundError:
        return False


def new_mac() -> str:
    """A locally administered unicast MAC (02:...), as podman itself would pick."""
    return "02:50:00:" + ":".join(f"{octet:02x}" for octet in random.sample(range(256), 3))


class PodmanProvider(Provider):
    """The local podman (``podman`` on PATH, or ``command``)."""

    name = "podman"

    def __init__(self, command: str | None = None, options: Mapping[str, Any] | None = None) -> None:
        self.command = command or shutil.which("podman") or "podman"
        self.options = dict(options or {})
        if shutil.which(self.command) is None:
            raise BackendUnavailable("podman", "find the podman command", f"{self.command} is not on PATH",
                                     "that podman is installed on the host the task runs on")

    # ---- the command ---------------------------------------------------------------------------

    def _run(self, arguments: Sequence[str], *, vm: str, doing: str,
             allow: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
        try:
            completed = subprocess.run([self.command, *arguments], capture_output=True, text=True, check=False,
                                       timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise HypervisorError(vm, f"{doing}: podman {' '.join(arguments[:2])} failed: {error}") from None
        if completed.returncode not in allow:
            message = (completed.stderr or completed.stdout).strip().splitlines()
            raise HypervisorError(vm, f"{doing}: {message[-1] if message else f'podman exited {completed.returncode}'}")
        return completed

    def _inspect(self, names: Sequence[str]) -> list[dict[str, Any]]:
        if not names:
            return []
        completed = self._run(["container", "inspect", "--format", "json", *names], vm=names[0],
                              doing="reading the container", allow=(0, 125))
        if completed.returncode != 0:
            if _NO_SUCH.search(completed.stderr) and len(names) == 1:
                return []
            raise HypervisorError(names[0], f"reading the container: {completed.stderr.strip()}")
        return json.loads(completed.stdout or "[]")

    # ---- reading -------------------------------------------------------------------------------

    def read(self, name: str, pool: str | None = None) -> VmState:  # pylint: disable=unused-argument
        found = self._inspect([name])
        return self._state(found[0]) if found else VmState(name=name, exists=False)

    @staticmethod
    def _state(container: Mapping[str, Any]) -> VmState:
        labels = (container.get("Config") or {}).get("Labels") or {}
        host = container.get("HostConfig") or {}
        networks = ((container.get("NetworkSettings") or {}).get("Networks") or {})
        status = str((container.get("State") or {}).get("Status", "")).lower()
        state = _STATES.get(status, "other")
        if status in _LIVE_STATUSES and not process_alive(int((container.get("State") or {}).get("Pid") or 0)):
            state = "lost"
        nano_cpus = int(host.get("NanoCpus") or 0)
        memory = int(host.get("Memory") or 0)
        settings = {
            "domain_type": "container",
            "vcpus": round(nano_cpus / 1e9) if nano_cpus else None,
            "memory_mib": memory // MIB if memory else None,
            "network": sorted(networks)[0] if networks else None,
            "image": labels.get(LABEL_IMAGE) or container.get("ImageName"),
            "tenant": labels.get(LABEL_TENANT) or None,
        }
        macs = sorted({str(network.get("MacAddress")) for network in networks.values() if network.get("MacAddress")})
        addresses = sorted({str(network.get(key)) for network in networks.values()
                            for key in ("IPAddress", "GlobalIPv6Address") if network.get(key)})
        return VmState(name=str(container.get("Name", "")).lstrip("/"), exists=True,
                       state=state, uuid=labels.get(LABEL_UUID) or None,
                       macs=macs or ([labels[LABEL_MAC]] if labels.get(LABEL_MAC) else []), settings=settings,
                       addresses=addresses if state == "running" else [])

    def list(self) -> list[VmState]:
        completed = self._run(["ps", "--all", "--filter", f"label={LABEL_UUID}", "--format", "{{.Names}}"],
                              vm="(all)", doing="listing the containers")
        names = sorted(line.strip() for line in completed.stdout.splitlines() if line.strip())
        return sorted((self._state(container) for container in self._inspect(names)), key=lambda vm: vm.name)

    # ---- the plan ------------------------------------------------------------------------------

    def settings(self, spec: VmSpec) -> dict[str, Any]:
        return {"domain_type": "container", "vcpus": spec.vcpus, "memory_mib": spec.memory_mib,
                "network": spec.network, "image": spec.base_image, "tenant": spec.tenant}

    def volumes(self, spec: VmSpec) -> tuple[str, ...]:
        return ()

    def check(self, spec: VmSpec, *, tenant: str | None = None, source_file: str | None = None,
              current: VmState | None = None) -> None:
        def bad(field_name: str, reason: str) -> InvalidInput:
            return InvalidInput(f"VM '{spec.name}' {reason} (podman)", tenant=tenant, file=source_file,
                                field=field_name)

        if not spec.base_image or not IMAGE_RE.match(spec.base_image):
            raise bad("base_image", f"needs an image reference such as localhost/name:tag, not {spec.base_image!r}")
        if current is not None and current.exists:
            wanted = self.settings(spec)
            for key in FIXED_SETTINGS:
                if current.settings.get(key) != wanted[key]:
                    raise bad(key, f"is a podman container with {key} {current.settings.get(key)!r}; the podman "
                                   f"provider cannot change it to {wanted[key]!r} without making a new container, "
                                   "which would lose what this one holds: remove the VM (state: absent) and "
                                   "make it again, or keep its settings")
            return
        if self._run(["image", "exists", spec.base_image], vm=spec.name, doing="looking for the image",
                     allow=(0, 1)).returncode != 0:
            raise bad("base_image", f"needs the image {spec.base_image!r}, which podman does not have")
        if self._run(["network", "exists", spec.network], vm=spec.name, doing="looking for the network",
                     allow=(0, 1)).returncode != 0:
            raise bad("network", f"needs the podman network {spec.network!r}, which does not exist")

    # ---- changing ------------------------------------------------------------------------------

    def create_volumes(self, spec: VmSpec, seed: bytes) -> list[str]:
        return []

    def define(self, spec: VmSpec, current: VmState) -> None:
        if current.exists:  # check() refuses every change of a fixed setting before anything changes
            raise HypervisorError(spec.name, "the podman provider cannot redefine an existing container; "
                                             "remove the VM (state: absent) and make it again")
        mac = current.macs[0] if current.macs else new_mac()
        labels = {**{str(key): str(value) for key, value in (self.options.get("labels") or {}).items()},
                  LABEL_UUID: current.uuid or "", LABEL_MAC: mac, LABEL_IMAGE: spec.base_image or ""}
        if spec.tenant:
            labels[LABEL_TENANT] = spec.tenant
        arguments = ["create", "--name", spec.name, "--hostname", spec.hostname, "--systemd", "always",
                     "--network", spec.network, "--mac-address", mac,
                     "--cpus", str(spec.vcpus), "--memory", f"{spec.memory_mib}m"]
        for alias in self.options.get("network_aliases") or []:
            arguments += ["--network-alias", str(alias)]
        for capability in self.options.get("cap_add") or []:
            arguments += ["--cap-add", str(capability)]
        for key, value in sorted(labels.items()):
            arguments += ["--label", f"{key}={value}"]
        arguments += [str(spec.base_image), *(self.options.get("command") or ["/sbin/init"])]
        self._run(arguments, vm=spec.name, doing="creating the container")

    def grow_disk(self, spec: VmSpec, running: bool) -> None:
        raise HypervisorError(spec.name, "the podman provider has no disk to grow")

    def start(self, name: str) -> None:
        self._run(["start", name], vm=name, doing="starting")

    def stop(self, name: str, timeout: int) -> None:
        """systemd's own shutdown (SIGRTMIN+3, podman's stop signal for systemd), then SIGKILL after ``timeout``."""
        self._run(["stop", "--time", str(max(timeout, 0)), name], vm=name, doing="stopping")

    def remove(self, spec: VmSpec, current: VmState) -> None:
        """The container and its anonymous volumes; never the image.

        A lost container takes podman 4.3 two tries: the first fails half-way (it waits for the exit
        file of a conmon that is gone, or finds the container stopped when it sends SIGKILL) and
        leaves it exited or stopping, which the second removes."""
        arguments = ["rm", "--force", "--volumes", "--ignore", spec.name]
        if current.state == "lost":
            arguments = ["rm", "--force", "--time", "0", "--volumes", "--ignore", spec.name]
            if self._run(arguments, vm=spec.name, doing="removing", allow=tuple(range(256))).returncode == 0:
                return
        self._run(arguments, vm=spec.name, doing="removing")
