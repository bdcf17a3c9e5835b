# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
name: podman
short_description: Run tasks in a local podman container, one C(podman exec) per module
version_added: 0.1.0
author:
  - PSF Infrastructure Working Group (@python)
description:
  - Reaches a running container of the control node's podman, as the lab's machines and Molecule's
    instances are. Ansible's modules run through C(podman exec -i) with the module sent on standard
    input (pipelining), so a task costs one C(podman) process instead of the five or six of a copy,
    C(chmod), run and C(rm) through a temporary directory.
  - Files go in and out through C(podman exec) as well (C(cat) inside the container), streamed
    without being read into memory, so the container is never paused (C(podman cp) pauses it by
    default) nor mounted.
  - C(containers.podman.podman) declares that it cannot pipeline, because it runs C(podman exec)
    without C(-i); this plugin replaces it for containers of the control node. It needs no collection
    besides ansible-core.
  - Used by the lab inventory (C(inventories/lab)) and the Molecule scenarios; see C(docs/lab.md).
options:
  remote_addr:
    description: The name or ID of the container.
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description:
      - The user in the container the commands run as (C(podman exec --user)); unset, the container's
        default user (root for the lab's machines).
    type: str
    vars:
      - name: ansible_user
      - name: ansible_podman_user
    cli:
      - name: user
    keyword:
      - name: remote_user
  podman_executable:
    description: The podman command on the control node.
    type: str
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  podman_extra_args:
    description: Arguments given to podman before the C(exec) subcommand (for example C(--log-level debug)).
    type: str
    default: ""
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  pipelining:
    description:
      - Send modules on standard input instead of copying them into the container first.
      - On by default, unlike other connections; a task with C(async) is never pipelined.
    type: boolean
    default: true
    vars:
      - name: ansible_pipelining
      - name: ansible_podman_pipelining
    env:
      - name: ANSIBLE_PODMAN_PIPELINING
notes:
  - The control node's podman must see the container (the same user, or C(CONTAINERS_CONF) and the
    storage it names).
"""

EXAMPLES = r"""
# inventories/lab/group_vars/tenant_vms.yml: the lab's VMs are containers named psf-lab-<vm>-<tenant>
ansible_connection: psf.infra.podman
ansible_host: "psf-lab-{{ psf_vm.name }}-{{ psf_tenant_name }}"

# molecule/<scenario>/molecule.yml
# provisioner:
#   connection_options:
#     ansible_connection: psf.infra.podman
"""

import os
import shlex
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible.utils.display import Display

display = Display()

# podman exec's own exit codes (podman-exec(1)): the container is missing or not running (125),
# or the command cannot be run (126) or found (127). 126 and 127 are also what a shell inside says,
# so only 125 means that the container is unreachable.
PODMAN_ERROR = 125


class Connection(ConnectionBase):
    """A container of the control node's podman, reached with one ``podman exec`` per command."""

    transport = "psf.infra.podman"
    has_pipelining = True
    has_tty = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._podman_path = None

    @property
    def _container(self) -> str:
        return self.get_option("remote_addr")

    def _podman_command(self, *args: str | bytes) -> list[bytes]:
        if self._podman_path is None:
            executable = self.get_option("podman_executable")
            self._podman_path = shutil.which(executable)
            if not self._podman_path:
                raise AnsibleError(f"{executable}: the podman command was not found in PATH")
        command = [self._podman_path, *shlex.split(self.get_option("podman_extra_args") or "")]
        return [to_bytes(part, errors="surrogate_or_strict") for part in (*command, *args)]

    def _exec(self, argv: list[str], in_data: bytes | None = None, *, source=None,
              target=None) -> tuple[int, bytes, bytes]:
        """``podman exec`` in the container. Standard input is ``in_data`` or the open file ``source``
        (streamed, never read into memory), and is passed only when there is one; standard output goes
        to the open file ``target`` when given."""
        options = ["exec"]
        if in_data is not None or source is not None:
            options.append("-i")
        user = self.get_option("remote_user")
        if user:
            options += ["--user", user]
        command = self._podman_command(*options, self._container, *argv)
        display.vvv(f"EXEC {to_text(b' '.join(command), errors='surrogate_or_replace')}", host=self._container)
        streams = {"stdin": source} if source is not None else {"input": in_data}
        process = subprocess.run(command, **streams, stdout=target or subprocess.PIPE, stderr=subprocess.PIPE,
                                 check=False)
        if process.returncode == PODMAN_ERROR and process.stderr.startswith(b"Error:"):
            raise AnsibleConnectionFailure(
                f"podman cannot run a command in container {self._container}: "
                f"{to_native(process.stderr.strip(), errors='surrogate_or_replace')}")
        return process.returncode, process.stdout or b"", process.stderr

    def _connect(self):
        super()._connect()
        if not self._connected:
            display.vvv(f"ESTABLISH PODMAN CONNECTION FOR USER: {self.get_option('remote_user') or '(default)'}",
                        host=self._container)
            self._connected = True
        return self

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        return self._exec(shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    @ensure_connect
    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._container)
        if not os.path.isfile(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound(f"file or module does not exist: {to_native(in_path)}")
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as source:
            rc, _stdout, stderr = self._exec(["/bin/sh", "-c", 'cat > "$1"', "sh", to_native(out_path)],
                                             source=source)
        if rc != 0:
            raise AnsibleError(f"failed to write {out_path} in container {self._container}: "
                               f"{to_native(stderr.strip(), errors='surrogate_or_replace')}")

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._container)
        out_bytes = to_bytes(out_path, errors="surrogate_or_strict")
        with open(out_bytes, "wb") as target:
            rc, _stdout, stderr = self._exec(["/bin/cat", "--", to_native(in_path)], target=target)
        if rc != 0:
            os.unlink(out_bytes)  # not half a file
            raise AnsibleError(f"failed to read {in_path} in container {self._container}: "
                               f"{to_native(stderr.strip(), errors='surrogate_or_replace')}")

    def close(self):
        super().close()
        self._connected = False

    def reset(self):
        self.close()
