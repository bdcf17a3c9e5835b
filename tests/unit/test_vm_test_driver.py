"""psf.infra.vm and psf.infra.vm_info on libvirt's built-in test driver (``test:///default``): fast,
no daemon. The test driver keeps its state per process, so the modules run in this process through
their Ansible entry (``main()`` with patched module arguments), as ansible-playbook would run them.

The test driver cannot upload or resize volumes: disk growth and the seed's upload are tested
against the lab's real libvirtd (tests/integration/test_vm_libvirt.py); the seed ISO itself here.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections")]

libvirt = pytest.importorskip("libvirt")
pycdlib = pytest.importorskip("pycdlib")

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.psf.infra.plugins.doc_fragments.hypervisor import ModuleDocFragment  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.hypervisor import options  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.base import VmSpec, VmState, plan_vm  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.hypervisor.seed import seed_files, seed_iso  # noqa: E402
from ansible_collections.psf.infra.plugins.modules import vm as vm_module  # noqa: E402
from ansible_collections.psf.infra.plugins.modules import vm_info as vm_info_module  # noqa: E402

URI = "test:///default"
POOL = "default-pool"
BASE = "base-test.qcow2"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0aW5nLXN0YWZmLWF1dG9tYXRpb24ta2V5 staff-automation"


@pytest.fixture
def conn() -> Any:
    """The process's test driver, with a 2 GiB base image volume in its pool."""
    connection = libvirt.open(URI)
    pool = connection.storagePoolLookupByName(POOL)
    if BASE not in pool.listVolumes():
        pool.createXML(f"<volume><name>{BASE}</name><capacity unit='GiB'>2</capacity>"
                       "<target><format type='qcow2'/></target></volume>", 0)
    yield connection
    connection.close()


@pytest.fixture
def name() -> str:
    return f"vm-{uuid.uuid4().hex[:8]}"


def run_module(module: Any, args: dict[str, Any], capsys: pytest.CaptureFixture, *, check: bool = False,
               diff: bool = False) -> dict[str, Any]:
    """The module's ``main()`` with ``args``; its JSON result."""
    capsys.readouterr()
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}), \
            pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def vm_args(name: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "uri": URI, "pool": POOL, "network": "default", "base_image": BASE,
            "tenant": "packaging", "vcpus": 1, "memory_mib": 512, "disk_gib": 4, "ssh_authorized_key": KEY,
            "shutdown_timeout": 0, **more}


def test_check_mode_then_create_then_nothing_changes(conn, name, capsys):
    planned = run_module(vm_module, vm_args(name), capsys, check=True, diff=True)
    assert planned["changed"] is True
    assert [a["action"] for a in planned["actions"]] == ["create_volumes", "define", "start"]
    assert planned["diff"]["before"] == {"state": "absent"}
    assert planned["diff"]["after"]["memory_mib"] == 512
    assert name not in conn.listDefinedDomains() and name not in [d.name() for d in conn.listAllDomains()]
    assert f"{name}.qcow2" not in conn.storagePoolLookupByName(POOL).listVolumes()

    created = run_module(vm_module, vm_args(name), capsys)
    assert created["changed"] is True, created
    vm = created["vm"]
    assert vm["state"] == "running" and vm["tenant"] == "packaging"
    assert (vm["vcpus"], vm["memory_mib"], vm["disk_gib"]) == (1, 512, 4.0)
    assert len(vm["macs"]) == 1 and vm["macs"][0].startswith("52:54:00:")
    volumes = conn.storagePoolLookupByName(POOL).listVolumes()
    assert {f"{name}.qcow2", f"{name}-seed.iso", BASE} <= set(volumes)
    overlay = conn.storagePoolLookupByName(POOL).storageVolLookupByName(f"{name}.qcow2")
    assert "<backingStore>" in overlay.XMLDesc(0) and BASE in overlay.XMLDesc(0)

    again = run_module(vm_module, vm_args(name), capsys, diff=True)
    assert again["changed"] is False and again["actions"] == [], again
    assert again["vm"]["uuid"] == vm["uuid"] and again["vm"]["macs"] == vm["macs"]
    assert again["restart_needed"] is False

    run_module(vm_module, vm_args(name, state="absent"), capsys)


def test_diff_is_the_meaningful_settings(conn, name, capsys):
    run_module(vm_module, vm_args(name), capsys)
    result = run_module(vm_module, vm_args(name, vcpus=2, memory_mib=1024), capsys, check=True, diff=True)
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert (before["vcpus"], before["memory_mib"]) == (1, 512)
    assert (after["vcpus"], after["memory_mib"]) == (2, 1024)
    assert before["uuid"] == after["uuid"] and before["macs"] == after["macs"]
    assert result["restart_needed"] is True
    detail = result["actions"][0]["detail"]
    assert "redefine VM" in detail and "memory_mib 512 -> 1024" in detail
    info = run_module(vm_info_module, {"uri": URI, "name": name}, capsys)
    assert info["vms"][0]["memory_mib"] == 512  # check mode changed nothing
    run_module(vm_module, vm_args(name, state="absent"), capsys)


def test_memory_and_vcpus_resize_restart_only_when_allowed(conn, name, capsys):
    first = run_module(vm_module, vm_args(name, vcpus=2, memory_mib=1024), capsys)
    grown = run_module(vm_module, vm_args(name, vcpus=1, memory_mib=2048), capsys)
    assert grown["changed"] is True and grown["restart_needed"] is True
    assert [a["action"] for a in grown["actions"]] == ["define"]
    assert grown["vm"]["memory_mib"] == 2048 and grown["vm"]["vcpus"] == 1

    waiting = run_module(vm_module, vm_args(name, vcpus=1, memory_mib=2048), capsys)
    assert waiting["changed"] is False and waiting["restart_needed"] is True

    restarted = run_module(vm_module, vm_args(name, vcpus=1, memory_mib=2048, restart=True), capsys)
    assert restarted["changed"] is True and [a["action"] for a in restarted["actions"]] == ["restart"]
    assert restarted["restart_needed"] is False and restarted["vm"]["state"] == "running"
    assert restarted["vm"]["uuid"] == first["vm"]["uuid"] and restarted["vm"]["macs"] == first["vm"]["macs"]

    settled = run_module(vm_module, vm_args(name, vcpus=1, memory_mib=2048, restart=True), capsys)
    assert settled["changed"] is False
    run_module(vm_module, vm_args(name, state="absent"), capsys)


def test_a_stopped_vm_is_resized_without_restart(conn, name, capsys):
    run_module(vm_module, vm_args(name, state="stopped"), capsys)
    assert conn.lookupByName(name).isActive() == 0
    result = run_module(vm_module, vm_args(name, state="stopped", memory_mib=768), capsys)
    assert result["changed"] is True and result["restart_needed"] is False
    assert conn.lookupByName(name).isActive() == 0
    started = run_module(vm_module, vm_args(name, memory_mib=768), capsys)
    assert [a["action"] for a in started["actions"]] == ["start"]
    stopped = run_module(vm_module, vm_args(name, state="stopped", memory_mib=768), capsys)
    assert [a["action"] for a in stopped["actions"]] == ["stop"] and stopped["vm"]["state"] == "stopped"
    run_module(vm_module, vm_args(name, state="absent"), capsys)


def test_a_disk_never_shrinks(conn, name, capsys):
    run_module(vm_module, vm_args(name, disk_gib=4), capsys)
    before = conn.lookupByName(name).XMLDesc(0)
    result = run_module(vm_module, vm_args(name, disk_gib=3, memory_mib=1024,
                                           source_file="inventories/lab/tenants/packaging.yml"), capsys)
    assert result["failed"] is True and not result.get("changed")
    assert result["field"] == "disk_gib" and result["tenant"] == "packaging"
    assert f"VM '{name}'" in result["msg"] and "from 4 GiB to 3 GiB" in result["msg"]
    assert "inventories/lab/tenants/packaging.yml" in result["msg"]
    assert conn.lookupByName(name).XMLDesc(0) == before  # the memory change was not applied either
    run_module(vm_module, vm_args(name, state="absent"), capsys)


@pytest.mark.parametrize(("override", "field", "words"), [
    ({"vcpus": 0}, "vcpus", "between 1 and"),
    ({"memory_mib": 16}, "memory_mib", "between 64 and"),
    ({"ssh_authorized_key": "not a key"}, "ssh_authorized_key", "OpenSSH public key"),
    ({"hostname": "bad_host"}, "hostname", "invalid host name"),
    ({"base_image": "missing.qcow2"}, "base_image", "'missing.qcow2'"),
    ({"network": "nowhere"}, "network", "'nowhere'"),
    ({"pool": "nopool"}, "pool", "'nopool'"),
    ({"disk_gib": 1}, "disk_gib", "at least the base image's 2 GiB"),
])
def test_bad_input_is_refused_before_anything_changes(conn, name, capsys, override, field, words):
    result = run_module(vm_module, vm_args(name, **override), capsys)
    assert result["failed"] is True, result
    assert result["field"] == field and result["tenant"] == "packaging"
    assert f"VM '{name}'" in result["msg"] and "tenant 'packaging'" in result["msg"] and words in result["msg"]
    assert name not in [domain.name() for domain in conn.listAllDomains()]
    assert f"{name}.qcow2" not in conn.storagePoolLookupByName(POOL).listVolumes()


def test_a_bad_name_is_named(capsys):
    result = run_module(vm_module, vm_args("Web_1"), capsys)
    assert result["failed"] is True and result["field"] == "name" and "VM 'Web_1'" in result["msg"]


def test_absent_removes_the_vm_and_its_volumes_never_the_base_image(conn, name, capsys):
    run_module(vm_module, vm_args(name), capsys)
    planned = run_module(vm_module, {"name": name, "uri": URI, "pool": POOL, "state": "absent"}, capsys, check=True)
    assert planned["changed"] is True and name in [d.name() for d in conn.listAllDomains()]
    removed = run_module(vm_module, {"name": name, "uri": URI, "pool": POOL, "state": "absent"}, capsys)
    assert removed["changed"] is True and removed["vm"]["exists"] is False
    volumes = conn.storagePoolLookupByName(POOL).listVolumes()
    assert BASE in volumes and not {f"{name}.qcow2", f"{name}-seed.iso"} & set(volumes)
    again = run_module(vm_module, {"name": name, "uri": URI, "pool": POOL, "state": "absent"}, capsys)
    assert again["changed"] is False


def test_vm_info_one_a_tenant_or_all(conn, name, capsys):
    other = f"{name}-x"
    run_module(vm_module, vm_args(name), capsys)
    run_module(vm_module, vm_args(other, tenant="pyladies", state="stopped"), capsys)
    mine = run_module(vm_info_module, {"uri": URI, "tenant": "packaging"}, capsys)["vms"]
    assert name in [vm["name"] for vm in mine] and other not in [vm["name"] for vm in mine]
    one = run_module(vm_info_module, {"uri": URI, "name": other}, capsys)["vms"]
    assert [(vm["name"], vm["state"], vm["tenant"]) for vm in one] == [(other, "stopped", "pyladies")]
    assert one[0]["addresses"] == [] and one[0]["disks"][0]["volume"] == f"{other}.qcow2"
    everything = {vm["name"] for vm in run_module(vm_info_module, {"uri": URI}, capsys)["vms"]}
    assert {name, other, "test"} <= everything  # the test driver's own domain too
    assert run_module(vm_info_module, {"uri": URI, "name": "no-such-vm"}, capsys)["vms"] == []
    for each in (name, other):
        run_module(vm_module, vm_args(each, state="absent"), capsys)


def test_an_unreachable_hypervisor_is_named(capsys, tmp_path):
    uri = f"qemu:///system?socket={tmp_path}/nothing"
    result = run_module(vm_info_module, {"uri": uri}, capsys)
    assert result["failed"] is True and uri in result["msg"] and "libvirtd runs" in result["msg"]


def test_the_seed_is_a_cidata_iso_with_hostname_and_the_staff_key_only():
    spec = VmSpec(name="web1", vcpus=1, memory_mib=512, disk_gib=4, base_image=BASE, pool=POOL, network="default",
                  domain_type="qemu", hostname="web1.vm.infra.test", ssh_authorized_key=KEY,
                  network_config={"version": 2, "ethernets": {"eth0": {"dhcp4": True}}})
    image = seed_iso(seed_files(spec, "8a3c-instance"))
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"

        def read(name: str) -> str:
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            return out.getvalue().decode()

        user_data, meta_data, network = read("user-data"), json.loads(read("meta-data")), read("network-config")
    finally:
        iso.close()
    assert user_data.startswith("#cloud-config\n")
    config = json.loads(user_data.split("\n", 1)[1])
    assert config["hostname"] == "web1" and config["fqdn"] == "web1.vm.infra.test"
    assert config["ssh_authorized_keys"] == [KEY] and "users" not in config
    assert meta_data == {"instance-id": "8a3c-instance", "local-hostname": "web1.vm.infra.test"}
    assert json.loads(network)["version"] == 2


def test_the_doc_fragment_documents_the_shared_options():
    import yaml

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = options.HYPERVISOR.argument_spec
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name].get("default") == option.get("default")
        assert documented[name].get("choices") == option.get("choices")


def test_a_lost_vm_is_planned_to_be_made_again_with_its_identity():
    """A container podman records as running while its processes have gone (read as ``lost``)."""
    spec = VmSpec(name="web1", vcpus=1, memory_mib=512, disk_gib=4, base_image="localhost/img:1", pool=POOL,
                  network="lab", domain_type="container", hostname="web1", ssh_authorized_key=None,
                  tenant="packaging")
    settings = {"domain_type": "container", "vcpus": 1, "memory_mib": 512, "network": "lab",
                "image": "localhost/img:1", "tenant": "packaging"}
    lost = VmState(name="web1", exists=True, state="lost", uuid=str(uuid.uuid4()), macs=["02:50:00:01:02:03"],
                   settings=settings)

    def actions(state: str) -> list[str]:
        return [action for action, _ in plan_vm(spec, lost, state, restart=False, wanted=settings, volumes=()).actions]

    assert actions("running") == ["recreate", "start"]
    assert actions("stopped") == ["recreate"]
    assert actions("absent") == ["remove"]
    detail = plan_vm(spec, lost, "running", restart=False, wanted=settings, volumes=()).actions[0][1]
    assert "with its UUID and MAC" in detail and "what the old one held is lost" in detail
    # the same container with a live process plans nothing
    assert plan_vm(spec, VmState(**{**lost.__dict__, "state": "running"}), "running", restart=False,
                   wanted=settings, volumes=()).actions == []
