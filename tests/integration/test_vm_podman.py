"""psf.infra.vm and psf.infra.vm_info with provider podman, run by the real ansible-playbook against
the real podman and the project's systemd image (make image): a container is planned, made,
rerun, stopped, started, found by vm_info, refused a resize it cannot take, and removed. Its
network is one of the test's own (internal, removed after). One test, so the container's whole
life runs in order on one pytest-xdist worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dns_support import run_playbook, task_results

IMAGE = "localhost/psf-infra/debian-systemd:bookworm"
pytestmark = [pytest.mark.podman]


def podman(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *arguments], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"the image {IMAGE} is missing: make image")
    name = f"psf-test-vm-{uuid.uuid4().hex[:6]}"
    podman("network", "create", "--internal", name)
    yield name
    podman("network", "rm", "--force", name, check=False)


def vm_task(network: str, name: str, **more: Any) -> dict[str, Any]:
    return {"psf.infra.vm": {"provider": "podman", "name": name, "hostname": f"{name}.vms.infra.test",
                             "base_image": IMAGE, "network": network, "tenant": "packaging",
                             "vcpus": 1, "memory_mib": 256, "shutdown_timeout": 5,
                             "podman": {"labels": {"psf.infra.test": "vm"}, "network_aliases": [f"{name}-alias"],
                                        "cap_add": ["NET_ADMIN"]}, **more}}


def one(tmp_path: Path, task: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return task_results(run_playbook(tmp_path, [task], **kwargs))[0]


def inspect(name: str) -> dict[str, Any]:
    return json.loads(podman("container", "inspect", "--format", "json", name).stdout)[0]


def test_a_podman_vm_lives_and_keeps_its_identity(tmp_path, network):
    name = f"psf-test-{uuid.uuid4().hex[:6]}"
    try:
        planned = one(tmp_path, vm_task(network, name), check=True, diff=True)
        assert planned["changed"] is True, planned
        assert [action["action"] for action in planned["actions"]] == ["define", "start"]
        assert planned["diff"]["before"] == {"state": "absent"}
        assert planned["diff"]["after"]["image"] == IMAGE and planned["diff"]["after"]["vcpus"] == 1
        assert podman("container", "exists", name, check=False).returncode == 1  # check mode made nothing

        created = one(tmp_path, vm_task(network, name))
        assert created["changed"] is True, created
        vm = created["vm"]
        assert vm["state"] == "running" and vm["tenant"] == "packaging"
        assert (vm["vcpus"], vm["memory_mib"], vm["network"]) == (1, 256, network)
        assert vm["uuid"] and vm["macs"] and vm["addresses"], vm
        container = inspect(name)
        assert container["Config"]["Hostname"] == f"{name}.vms.infra.test"
        assert container["Config"]["Labels"]["psf.infra.test"] == "vm"
        assert container["HostConfig"]["NanoCpus"] == 10 ** 9
        assert container["HostConfig"]["Memory"] == 256 * 1024 ** 2
        assert "CAP_NET_ADMIN" in container["EffectiveCaps"]
        assert f"{name}-alias" in container["NetworkSettings"]["Networks"][network]["Aliases"]
        # systemd is PID 1 and comes up
        booted = podman("exec", name, "systemctl", "is-system-running", "--wait", check=False)
        assert booted.stdout.strip() in ("running", "degraded"), booted
        identity = (vm["uuid"], vm["macs"])

        again = one(tmp_path, vm_task(network, name), diff=True)
        assert again["changed"] is False and again["actions"] == [], again
        assert (again["vm"]["uuid"], again["vm"]["macs"]) == identity

        stopped = one(tmp_path, vm_task(network, name, state="stopped"))
        assert stopped["changed"] is True and stopped["vm"]["state"] == "stopped"
        assert stopped["vm"]["macs"] == identity[1]  # from its label while it has no interface
        started = one(tmp_path, vm_task(network, name))
        assert [action["action"] for action in started["actions"]] == ["start"]
        assert (started["vm"]["uuid"], started["vm"]["macs"]) == identity
        # the address survives a restart with the same MAC
        podman("restart", "--time", "5", name)
        assert one(tmp_path, vm_task(network, name))["changed"] is False

        listed = one(tmp_path, {"psf.infra.vm_info": {"provider": "podman", "tenant": "packaging"}})
        assert name in [each["name"] for each in listed["vms"]]
        found = next(each for each in listed["vms"] if each["name"] == name)
        assert (found["uuid"], found["macs"], found["state"]) == (*identity, "running")

        # a resize podman cannot apply without a new container: refused before anything changes
        output = run_playbook(tmp_path, [vm_task(network, name, memory_mib=512)])
        refused = task_results(output)[0]
        assert refused.get("failed") is True
        assert "memory_mib" in refused["msg"] and "state: absent" in refused["msg"], refused["msg"]
        assert refused.get("field") == "memory_mib" and refused.get("tenant") == "packaging"
        assert inspect(name)["HostConfig"]["Memory"] == 256 * 1024 ** 2
        assert inspect(name)["State"]["Status"] == "running"

        removed_plan = one(tmp_path, vm_task(network, name, state="absent"), check=True)
        assert removed_plan["changed"] is True and podman("container", "exists", name, check=False).returncode == 0
        removed = one(tmp_path, vm_task(network, name, state="absent"))
        assert removed["changed"] is True, removed.get("msg")
        assert podman("container", "exists", name, check=False).returncode == 1
        assert podman("image", "exists", IMAGE, check=False).returncode == 0  # the image stays
        assert one(tmp_path, vm_task(network, name, state="absent"))["changed"] is False
    finally:
        podman("rm", "--force", "--ignore", name, check=False)


def test_bad_input_names_the_vm_and_the_field_before_anything_changes(tmp_path, network):
    name = f"psf-test-{uuid.uuid4().hex[:6]}"
    missing_image = task_results(run_playbook(tmp_path, [vm_task(network, name,
                                                                 base_image="localhost/no/such:image")]))[0]
    assert missing_image["failed"] is True and missing_image["field"] == "base_image", missing_image
    assert "podman does not have" in missing_image["msg"]
    missing_network = task_results(run_playbook(tmp_path, [vm_task("psf-no-such-net", name)]))[0]
    assert missing_network["failed"] is True and missing_network["field"] == "network", missing_network
    assert podman("container", "exists", name, check=False).returncode == 1
    assert os.environ.get("CONTAINERS_CONF")  # tests/conftest.py points podman at the project's settings


def test_a_container_killed_behind_podmans_back_is_made_again_with_its_identity(tmp_path, network):
    """What a host whose processes are killed wholesale leaves behind (conmon and systemd SIGKILLed):
    podman 4.3 still records the container as running, cannot exec in it, stop it or start it. The
    module reads it as lost, plans and makes it again with the same UUID and MAC, and the next run
    changes nothing."""
    name = f"psf-test-{uuid.uuid4().hex[:6]}"
    try:
        created = one(tmp_path, vm_task(network, name))["vm"]
        identity = (created["uuid"], created["macs"])
        state = inspect(name)["State"]
        os.kill(int(state["ConmonPid"]), 9)
        os.kill(int(state["Pid"]), 9)
        # wait until the kernel has taken the container's init away
        for _ in range(100):
            if not Path(f"/proc/{state['Pid']}").exists():
                break
            time.sleep(0.1)
        assert inspect(name)["State"]["Status"] == "running"  # podman's record, now stale
        assert podman("exec", name, "true", check=False).returncode != 0

        found = one(tmp_path, {"psf.infra.vm_info": {"provider": "podman", "name": name}})["vms"][0]
        assert found["state"] == "lost" and found["addresses"] == [], found

        planned = one(tmp_path, vm_task(network, name), check=True, diff=True)
        assert [action["action"] for action in planned["actions"]] == ["recreate", "start"], planned
        assert "what the old one held is lost" in planned["actions"][0]["detail"]
        assert planned["diff"]["before"]["state"] == "lost"
        assert inspect(name)["State"]["Pid"] == state["Pid"]  # check mode touched nothing

        remade = one(tmp_path, vm_task(network, name))
        assert remade["changed"] is True and remade["vm"]["state"] == "running", remade
        assert (remade["vm"]["uuid"], remade["vm"]["macs"]) == identity
        assert any("made again" in note for note in remade["notes"]), remade["notes"]
        booted = podman("exec", name, "systemctl", "is-system-running", "--wait", check=False)
        assert booted.stdout.strip() in ("running", "degraded"), booted
        assert one(tmp_path, vm_task(network, name))["changed"] is False

        # a lost VM that is to go goes like any other
        os.kill(int(inspect(name)["State"]["ConmonPid"]), 9)
        os.kill(int(inspect(name)["State"]["Pid"]), 9)
        removed = one(tmp_path, vm_task(network, name, state="absent"))
        assert removed["changed"] is True, removed.get("msg")
        assert podman("container", "exists", name, check=False).returncode == 1
    finally:
        podman("rm", "--force", "--ignore", name, check=False)
