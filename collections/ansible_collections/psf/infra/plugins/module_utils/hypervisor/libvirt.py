# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt adapter (libvirt-python): ``qemu:///system``, a remote URI, or ``test:///default``.

A VM is a persistent domain whose definition this module writes whole, from :class:`base.VmSpec`
plus the identity it already has (UUID, MAC), with its tenant in ``<metadata>`` under
:data:`METADATA_NS`. Its disks are volumes of one storage pool: ``<name>.qcow2`` (a qcow2 overlay
whose backing store is the base image volume) and ``<name>-seed.iso`` (the cloud-init seed). The
definition is read back into the settings of :meth:`base.VmSpec.settings` and compared field by
field, never as XML text (libvirt adds addresses, controllers and defaults of its own).
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable, InvalidInput
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.base import (
    GIB,
    HypervisorError,
    Provider,
    VmSpec,
    VmState,
)

try:
    import libvirt
except ImportError as error:  # vm_task reports it with missing_required_lib
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None

METADATA_NS = "https://github.com/python/psf-infra/vm"
METADATA_PREFIX = "psf"
_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024 ** 2, "mib": 1024 ** 2,
          "mb": 1000 ** 2, "g": GIB, "gib": GIB, "gb": 1000 ** 3, "t": 1024 ** 4, "tib": 1024 ** 4}
#: virDomainState -> our state names (VIR_DOMAIN_NOSTATE, RUNNING, BLOCKED, PAUSED, SHUTDOWN,
#: SHUTOFF, CRASHED, PMSUSPENDED)
_STATES = {0: "other", 1: "running", 2: "running", 3: "paused", 4: "running", 5: "stopped", 6: "crashed",
           7: "suspended"}


def _quiet(context: Any, error: Any) -> None:  # pylint: disable=unused-argument
    """libvirt prints every error on stderr by default; they come back as exceptions anyway."""


if IMPORT_ERROR is None:
    libvirt.registerErrorHandler(_quiet, None)


def _bytes(element: ET.Element | None) -> int | None:
    if element is None or element.text is None:
        return None
    return int(element.text) * _UNITS[(element.get("unit") or "KiB").lower()]


def parse_domain(xml: str) -> dict[str, Any]:
    """The meaningful settings of a domain definition, the same keys as VmSpec.settings(), plus
    ``uuid``, ``macs`` and ``disks``."""
    root = ET.fromstring(xml)  # noqa: S314 - libvirt's own answer
    memory = _bytes(root.find("memory"))
    vcpu = root.find("vcpu")
    settings: dict[str, Any] = {
        "domain_type": root.get("type"), "vcpus": int(vcpu.text) if vcpu is not None and vcpu.text else None,
        "memory_mib": memory // 1024 ** 2 if memory is not None else None,
        "network": None, "pool": None, "disk_volume": None, "seed_volume": None, "tenant": None,
        "uuid": root.findtext("uuid"), "macs": [], "disks": []}
    tenant = root.find(f"metadata/{{{METADATA_NS}}}vm/{{{METADATA_NS}}}tenant")
    if tenant is not None:
        settings["tenant"] = tenant.text or None
    for interface in root.findall("devices/interface"):
        mac = interface.find("mac")
        if mac is not None:
            settings["macs"].append(mac.get("address", "").lower())
        source = interface.find("source")
        if settings["network"] is None and source is not None:
            settings["network"] = source.get("network") or source.get("bridge")
    for disk in root.findall("devices/disk"):
        source, target = disk.find("source"), disk.find("target")
        entry = {"device": disk.get("device"), "target": target.get("dev") if target is not None else None,
                 "pool": source.get("pool") if source is not None else None,
                 "volume": source.get("volume") if source is not None else None,
                 "path": (source.get("file") or source.get("dev")) if source is not None else None}
        settings["disks"].append(entry)
        if disk.get("device") == "disk" and settings["disk_volume"] is None:
            settings["disk_volume"], settings["pool"] = entry["volume"], entry["pool"]
        elif disk.get("device") == "cdrom" and settings["seed_volume"] is None:
            settings["seed_volume"] = entry["volume"]
    return settings


def domain_xml(spec: VmSpec, *, domain_uuid: str, mac: str) -> str:
    """The whole definition of a VM. The seed is a CD-ROM (cloud-init's NoCloud looks for the
    ``cidata`` label); a guest agent channel lets vm_info ask the guest for its addresses."""
    root = ET.Element("domain", type=spec.domain_type)
    ET.SubElement(root, "name").text = spec.name
    ET.SubElement(root, "uuid").text = domain_uuid
    metadata = ET.SubElement(root, "metadata")
    vm = ET.SubElement(metadata, f"{METADATA_PREFIX}:vm", {f"xmlns:{METADATA_PREFIX}": METADATA_NS})
    if spec.tenant:
        ET.SubElement(vm, f"{METADATA_PREFIX}:tenant").text = spec.tenant
    ET.SubElement(root, "memory", unit="MiB").text = str(spec.memory_mib)
    ET.SubElement(root, "currentMemory", unit="MiB").text = str(spec.memory_mib)
    ET.SubElement(root, "vcpu").text = str(spec.vcpus)
    os_element = ET.SubElement(root, "os")
    ET.SubElement(os_element, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_element, "boot", dev="hd")
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="volume", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2")
    ET.SubElement(disk, "source", pool=spec.pool, volume=spec.overlay_volume)
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    seed = ET.SubElement(devices, "disk", type="volume", device="cdrom")
    ET.SubElement(seed, "driver", name="qemu", type="raw")
    ET.SubElement(seed, "source", pool=spec.pool, volume=spec.seed_volume)
    ET.SubElement(seed, "target", dev="hdc", bus="ide")
    ET.SubElement(seed, "readonly")
    interface = ET.SubElement(devices, "interface", type="network")
    ET.SubElement(interface, "mac", address=mac)
    ET.SubElement(interface, "source", network=spec.network)
    ET.SubElement(interface, "model", type="virtio")
    channel = ET.SubElement(devices, "channel", type="unix")
    ET.SubElement(channel, "target", type="virtio", name="org.qemu.guest_agent.0")
    ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(devices, "console", type="pty")
    return ET.tostring(root, encoding="unicode")


def new_mac() -> str:
    """A MAC address in QEMU's locally administered range 52:54:00 (libvirt's own choice)."""
    return "52:54:00:" + ":".join(f"{octet:02x}" for octet in random.sample(range(256), 3))


class LibvirtProvider(Provider):
    """One libvirt connection (``uri``)."""

    name = "libvirt"

    def __init__(self, uri: str) -> None:
        self.uri = uri
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            raise BackendUnavailable(f"libvirt {uri}", "connect", err.get_error_message(),
                                     "that libvirtd runs and the URI (socket, user) is right") from None

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.close()

    # ---- reading ------------------------------------------------------------------------------

    def _domain(self, name: str) -> Any:
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise HypervisorError(name, f"lookup failed: {err.get_error_message()}") from None

    def _pool(self, name: str, vm: str) -> Any:
        try:
            return self.conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise HypervisorError(vm, f"storage pool {name}: {err.get_error_message()}") from None

    @staticmethod
    def _volume(pool: Any, name: str) -> Any:
        if pool is None:
            return None
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def read(self, name: str, pool: str | None = None) -> VmState:
        domain = self._domain(name)
        spec_volumes = (f"{name}.qcow2", f"{name}-seed.iso")
        if domain is None:
            pool_object = self._pool(pool, name) if pool else None
            volumes = [volume for volume in spec_volumes if self._volume(pool_object, volume) is not None]
            disk = self._volume(pool_object, spec_volumes[0])
            return VmState(name=name, exists=False, volumes=volumes,
                           disk_gib=disk.info()[1] / GIB if disk is not None else None)
        return self._state(domain)

    def _state(self, domain: Any) -> VmState:
        name = domain.name()
        parsed = parse_domain(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        settings = {key: parsed[key] for key in ("domain_type", "vcpus", "memory_mib", "network", "pool",
                                                 "disk_volume", "seed_volume", "tenant")}
        state = _STATES.get(domain.state()[0], "other")
        live: dict[str, Any] = {}
        if domain.isActive():
            current = parse_domain(domain.XMLDesc(0))
            live = {"vcpus": current["vcpus"], "memory_mib": current["memory_mib"]}
        pool_object = self._pool(settings["pool"], name) if settings["pool"] else None
        volumes, disk_gib, disks = [], None, []
        for disk in parsed["disks"]:
            volume = self._volume(pool_object, disk["volume"]) if disk["volume"] and disk["pool"] == settings["pool"] \
                else None
            capacity = volume.info()[1] / GIB if volume is not None else None
            if volume is not None and disk["volume"] in (settings["disk_volume"], settings["seed_volume"]):
                volumes.append(disk["volume"])
            if disk["volume"] == settings["disk_volume"]:
                disk_gib = capacity
            disks.append({**disk, "path": volume.path() if volume is not None else disk["path"],
                          "capacity_gib": capacity})
        return VmState(name=name, exists=True, state=state, uuid=parsed["uuid"], macs=parsed["macs"],
                       settings=settings, live=live, disk_gib=disk_gib, disks=disks,
                       addresses=self._addresses(domain) if state == "running" else [], volumes=volumes)

    @staticmethod
    def _addresses(domain: Any) -> list[str]:
        """From the network's DHCP leases, else the guest agent; empty when neither knows."""
        for source in (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                       libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT):
            try:
                interfaces = domain.interfaceAddresses(source) or {}
            except libvirt.libvirtError:
                continue
            found = sorted({entry["addr"] for ifname, interface in interfaces.items() if ifname != "lo"
                            for entry in interface.get("addrs") or []
                            if not str(entry["addr"]).startswith(("127.", "::1", "fe80:"))})
            if found:
                return found
        return []

    def list(self) -> list[VmState]:
        return sorted((self._state(domain) for domain in self.conn.listAllDomains(0)), key=lambda vm: vm.name)

    # ---- checking -----------------------------------------------------------------------------

    def check(self, spec: VmSpec, *, tenant: str | None = None, source_file: str | None = None,
              current: VmState | None = None) -> None:  # pylint: disable=unused-argument
        def bad(field_name: str, reason: str) -> InvalidInput:
            return InvalidInput(f"VM '{spec.name}' {reason} (libvirt {self.uri})", tenant=tenant, file=source_file,
                                field=field_name)

        pool = self._pool(spec.pool, spec.name)
        if pool is None:
            raise bad("pool", f"needs storage pool {spec.pool!r}, which does not exist")
        if not pool.isActive():
            raise bad("pool", f"needs storage pool {spec.pool!r}, which is not active")
        try:
            self.conn.networkLookupByName(spec.network)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                raise bad("network", f"needs network {spec.network!r}, which does not exist") from None
            raise HypervisorError(spec.name, f"network {spec.network}: {err.get_error_message()}") from None
        if self._volume(pool, spec.overlay_volume) is None:
            base = self._volume(pool, spec.base_image) if spec.base_image else None
            if base is None:
                raise bad("base_image", f"needs base image volume {spec.base_image!r} in pool {spec.pool!r}, "
                                        "which does not exist")
            base_gib = base.info()[1] / GIB
            if spec.disk_gib < base_gib:
                raise bad("disk_gib", f"needs disk_gib of at least the base image's {base_gib:g} GiB, "
                                      f"not {spec.disk_gib}")

    # ---- changing -----------------------------------------------------------------------------

    def create_volumes(self, spec: VmSpec, seed: bytes) -> list[str]:
        notes: list[str] = []
        pool = self._pool(spec.pool, spec.name)
        try:
            if self._volume(pool, spec.overlay_volume) is None:
                base = pool.storageVolLookupByName(spec.base_image)
                base_format = ET.fromstring(base.XMLDesc(0)).find("target/format")  # noqa: S314
                pool.createXML(
                    f"<volume><name>{spec.overlay_volume}</name><capacity unit='GiB'>{spec.disk_gib}</capacity>"
                    "<target><format type='qcow2'/></target>"
                    f"<backingStore><path>{base.path()}</path>"
                    f"<format type='{base_format.get('type') if base_format is not None else 'qcow2'}'/>"
                    "</backingStore></volume>", 0)
            if self._volume(pool, spec.seed_volume) is None:
                volume = pool.createXML(
                    f"<volume><name>{spec.seed_volume}</name><capacity unit='bytes'>{len(seed)}</capacity>"
                    "<target><format type='raw'/></target></volume>", 0)
                try:
                    stream = self.conn.newStream(0)
                    volume.upload(stream, 0, len(seed), 0)
                    stream.send(seed)
                    stream.finish()
                except libvirt.libvirtError as err:
                    if err.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                        raise
                    notes.append(f"the driver of {self.uri} cannot upload volumes: the seed of {spec.name} is empty")
        except libvirt.libvirtError as err:
            raise HypervisorError(spec.name, f"creating its volumes in pool {spec.pool}: "
                                             f"{err.get_error_message()}") from None
        return notes

    def define(self, spec: VmSpec, current: VmState) -> None:
        xml = domain_xml(spec, domain_uuid=current.uuid or str(uuid.uuid4()),
                         mac=current.macs[0] if current.macs else new_mac())
        try:
            self.conn.defineXML(xml)
        except libvirt.libvirtError as err:
            raise HypervisorError(spec.name, f"defining the domain: {err.get_error_message()}") from None

    def grow_disk(self, spec: VmSpec, running: bool) -> None:
        size = spec.disk_gib * GIB
        try:
            if running:  # online: QEMU holds the image, so the guest's block device is resized through it
                self._domain(spec.name).blockResize("vda", size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            else:
                self._volume(self._pool(spec.pool, spec.name), spec.overlay_volume).resize(size, 0)
        except libvirt.libvirtError as err:
            raise HypervisorError(spec.name, f"growing disk {spec.overlay_volume} to {spec.disk_gib} GiB: "
                                             f"{err.get_error_message()}", field="disk_gib") from None

    def start(self, name: str) -> None:
        try:
            self._domain(name).create()
        except libvirt.libvirtError as err:
            raise HypervisorError(name, f"starting: {err.get_error_message()}") from None

    def stop(self, name: str, timeout: int) -> None:
        """ACPI shutdown, then power off when the guest has not stopped after ``timeout`` seconds."""
        domain = self._domain(name)
        try:
            if timeout > 0:
                domain.shutdown()
                deadline = time.monotonic() + timeout
                while domain.isActive() and time.monotonic() < deadline:
                    time.sleep(0.5)
            if domain.isActive():
                domain.destroy()
        except libvirt.libvirtError as err:
            if domain.isActive():
                raise HypervisorError(name, f"stopping: {err.get_error_message()}") from None

    def remove(self, spec: VmSpec, current: VmState) -> None:
        domain = self._domain(spec.name)
        try:
            if domain is not None:
                if domain.isActive():
                    domain.destroy()
                try:
                    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                except libvirt.libvirtError as err:  # a driver without those flags (test:///)
                    if err.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                        raise
                    domain.undefine()
            pool_name = current.settings.get("pool") or spec.pool
            pool = self._pool(pool_name, spec.name)
            for volume_name in (spec.overlay_volume, spec.seed_volume):
                if volume_name == spec.base_image:
                    continue
                volume = self._volume(pool, volume_name)
                if volume is not None:
                    volume.delete(0)
        except libvirt.libvirtError as err:
            raise HypervisorError(spec.name, f"removing: {err.get_error_message()}") from None
