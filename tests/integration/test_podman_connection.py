"""The psf.infra.podman connection plugin, run by the real ansible-playbook against a real podman
container of the project's image (make image), with no network: a module is sent on standard input
(one ``podman exec -i`` for the task, nothing copied into the container), files go in and come back
byte for byte (binary included), a task with async still works (not pipelined: its wrapper is copied),
a failing command is a failed task while a missing container is an unreachable host naming it, the
remote user is honoured, and the results equal those of containers.podman.podman, the connection it
replaces.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "localhost/psf-infra/debian-systemd:bookworm"
pytestmark = [pytest.mark.podman]


def podman(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *arguments], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"the image {IMAGE} is missing: make image")
    name = f"psf-test-conn-{uuid.uuid4().hex[:6]}"
    podman("run", "-d", "--rm", "--network", "none", "--name", name, "--entrypoint", "sleep", IMAGE, "infinity")
    yield name
    podman("rm", "--force", "--time", "0", name, check=False)


def play(tmp_path: Path, container: str, tasks: list[dict], *, connection: str = "psf.infra.podman",
         verbose: bool = False, **host_vars: Any) -> tuple[dict[str, Any], subprocess.CompletedProcess]:
    inventory = {"all": {"hosts": {"box": {"ansible_host": container, "ansible_connection": connection,
                                           "ansible_python_interpreter": "/usr/bin/python3", **host_vars}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump([{"hosts": "box", "gather_facts": False, "tasks": tasks}], sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0")
    command = [str(BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"), str(path)]
    if verbose:
        command.append("-vvv")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    start = completed.stdout.find('{"custom_stats"')  # -vvv lines come before the JSON document
    assert start >= 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(completed.stdout[start:]), completed


def results(output: dict[str, Any]) -> list[dict[str, Any]]:
    return [task["hosts"]["box"] for p in output["plays"] for task in p["tasks"]]


def test_a_module_is_one_podman_exec_with_the_module_on_standard_input(tmp_path, container):
    output, completed = play(tmp_path, container, [{"ansible.builtin.stat": {"path": "/etc/debian_version"}}],
                             verbose=True)
    [stat] = results(output)
    assert stat["stat"]["exists"] is True and not stat.get("failed"), stat
    # Between the task's banner and its result: exactly one podman command, exec -i, and no file put.
    execs = re.findall(r"EXEC (\S*podman .*)", completed.stdout)
    assert len(execs) == 1, completed.stdout[-4000:]
    assert f"podman exec -i {container} /bin/sh -c " in execs[0] and "python3" in execs[0], execs
    assert "PUT " not in completed.stdout


def test_files_go_in_and_come_back_byte_for_byte(tmp_path, container):
    payload = secrets.token_bytes(300_000) + b"\x00\xff\n"  # binary, NUL included, larger than a pipe buffer
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    fetched = tmp_path / "fetched.bin"
    output, completed = play(tmp_path, container, [
        {"ansible.builtin.copy": {"src": str(source), "dest": "/root/payload.bin", "mode": "0600"}},
        {"ansible.builtin.copy": {"src": str(source), "dest": "/root/payload.bin", "mode": "0600"}},
        {"ansible.builtin.stat": {"path": "/root/payload.bin", "checksum_algorithm": "sha256"}},
        {"ansible.builtin.fetch": {"src": "/root/payload.bin", "dest": str(fetched), "flat": True}},
        {"ansible.builtin.copy": {"content": "with 'quotes' and $HOME\n", "dest": "/root/dir with space/a b.txt"},
         "ignore_errors": True},
        {"ansible.builtin.file": {"path": "/root/dir with space", "state": "directory", "mode": "0700"}},
        {"ansible.builtin.copy": {"content": "with 'quotes' and $HOME\n", "dest": "/root/dir with space/a b.txt",
                                  "mode": "0644"}},
        {"ansible.builtin.slurp": {"src": "/root/dir with space/a b.txt"}},
    ])
    first, again, stat, fetch, no_dir, _, quoted, slurp = results(output)
    assert first["changed"] is True and again["changed"] is False, (first, again)
    assert stat["stat"]["checksum"] == hashlib.sha256(payload).hexdigest()
    assert stat["stat"]["mode"] == "0600"
    assert fetch["changed"] is True and fetched.read_bytes() == payload
    assert no_dir.get("failed") is True  # the directory is not there yet: an error, not a file elsewhere
    assert quoted["changed"] is True and not quoted.get("failed"), quoted
    assert base64.b64decode(slurp["content"]) == b"with 'quotes' and $HOME\n"
    assert completed.returncode == 0  # the one failure was ignored


def test_async_tasks_run_without_pipelining(tmp_path, container):
    output, _ = play(tmp_path, container, [
        {"ansible.builtin.command": "cat /etc/hostname", "async": 30, "poll": 1, "register": "job"},
    ])
    [job] = results(output)
    assert job["rc"] == 0 and job["stdout"].strip(), job
    assert job.get("finished") == 1


def test_a_failing_command_fails_the_task_and_a_missing_container_is_unreachable(tmp_path, container):
    output, _ = play(tmp_path, container, [{"ansible.builtin.command": "sh -c 'echo oops >&2; exit 3'"}])
    [failed] = results(output)
    assert failed["failed"] is True and failed["rc"] == 3 and failed["stderr"] == "oops"
    assert not failed.get("unreachable")

    missing = f"psf-test-conn-missing-{uuid.uuid4().hex[:6]}"
    output, completed = play(tmp_path, missing, [{"ansible.builtin.ping": {}}])
    [ping] = results(output)
    assert ping.get("unreachable") is True, ping
    assert f"container {missing}" in ping["msg"] and "no such container" in ping["msg"], ping["msg"]
    assert completed.returncode == 4


def test_the_remote_user_is_honoured(tmp_path, container):
    output, _ = play(tmp_path, container, [{"ansible.builtin.command": "id -un", "changed_when": False},
                                           {"ansible.builtin.copy": {"content": "x\n", "dest": "/tmp/owned"}},
                                           {"ansible.builtin.stat": {"path": "/tmp/owned"}}],
                     ansible_user="nobody", ansible_remote_tmp="/tmp/.ansible-nobody")  # its home: /nonexistent
    whoami, copied, stat = results(output)
    assert whoami["stdout"] == "nobody", whoami
    assert not copied.get("failed"), copied
    assert stat["stat"]["pw_name"] == "nobody"


def test_the_results_equal_those_of_containers_podman(tmp_path, container):
    tasks = [{"ansible.builtin.command": "cat /etc/os-release", "changed_when": False},
             {"ansible.builtin.stat": {"path": "/etc/passwd", "checksum_algorithm": "sha256"}},
             {"ansible.builtin.getent": {"database": "passwd", "key": "root"}}]
    keys = ("stdout", "rc", "stat", "ansible_facts", "changed", "failed")
    ours, _ = play(tmp_path, container, tasks)
    theirs, _ = play(tmp_path, container, tasks, connection="containers.podman.podman")
    for mine, other in zip(results(ours), results(theirs), strict=True):
        assert {k: mine.get(k) for k in keys} == {k: other.get(k) for k in keys}
