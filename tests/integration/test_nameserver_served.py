"""The nameserver role's wait until named serves every tenant zone (roles/nameserver/tasks/served.yml),
against the lab's real ns1 through the real ansible-playbook and rndc: one task for every zone.

Read-only (rndc zonestatus): the role's tasks file runs alone (include_role tasks_from) with the lab
inventory and the zone list given as extra vars, so nothing of the shared lab changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.lab

SERVED = "packaging.test"  # a tenant zone of the lab registry, served by ns1


def run_served(tmp_path: Path, zones: list[str], **extra: object) -> tuple[subprocess.CompletedProcess, float]:
    playbook = [{"name": "served", "hosts": "lab-ns1", "gather_facts": False, "tasks": [
        {"name": "wait", "ansible.builtin.include_role": {"name": "nameserver", "tasks_from": "served.yml"}}]}]
    path = tmp_path / f"served-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    # exactly these zones: the Infra-WG's VM zones the lab inventory adds (nameserver_vm_zones) left out
    variables = {"nameserver_zones": [{"name": zone, "tenant": "packaging"} for zone in zones],
                 "nameserver_vm_zones": [], "nameserver_zone_wait_retries": 2, "nameserver_zone_wait_delay": 1, **extra}
    (tmp_path / "extra.json").write_text(json.dumps(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"), str(path),
                             "-e", f"@{tmp_path / 'extra.json'}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    return result, time.monotonic() - started


def failure(result: subprocess.CompletedProcess) -> str:
    found = re.search(r"Say which zones are not served.*?msg: (.*?)(?:\n\S|\nPLAY RECAP)", result.stdout, re.DOTALL)
    assert found, result.stdout
    return " ".join(found.group(1).split())


def test_every_zone_served_is_one_task(tmp_path: Path) -> None:
    result, _ = run_served(tmp_path, [SERVED, "lab.packaging.test"])
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("TASK [nameserver : Ask named for every tenant zone") == 1
    assert "item=" not in result.stdout


def test_zones_not_served_are_named_with_the_server_and_what_to_check(tmp_path: Path) -> None:
    missing = [f"zz-missing-{uuid.uuid4().hex[:6]}.test", f"zy-missing-{uuid.uuid4().hex[:6]}.test"]
    result, elapsed = run_served(tmp_path, [SERVED, *missing])
    assert result.returncode != 0
    message = failure(result)
    zones = sorted(missing)  # the role's zone list is sorted by name
    assert f"rndc zonestatus {zones[0]}, {zones[1]} failed:" in message, message
    assert SERVED not in message.split("failed:")[0]
    assert "primary name server lab-ns1" in message and "control channel 127.0.0.1:" in message
    assert "check the log of named for why the zone is not loaded" in message
    assert "no matching zone" in message or "not found" in message, message
    assert elapsed >= 2  # checked again (2 retries, 1 s apart), the served zone not


def test_named_not_answering_stops_at_once_naming_the_control_channel(tmp_path: Path) -> None:
    result, elapsed = run_served(tmp_path, [SERVED, "lab.packaging.test"], nameserver_control_port=1,
                                 nameserver_zone_wait_retries=30)
    assert result.returncode != 0
    message = failure(result)
    assert f"rndc zonestatus {'lab.packaging.test'} failed:" in message, message
    assert "connect failed" in message and "127.0.0.1:1" in message
    assert "check that named runs there and its control channel listens on that address and port" in message
    assert elapsed < 30  # not 30 retries
