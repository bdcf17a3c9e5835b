# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cloud-init NoCloud seed of a VM: an ISO 9660 image labelled ``cidata`` holding ``user-data``,
``meta-data`` and, when given, ``network-config``.

It bootstraps only what Ansible needs to take over: the host name and the staff automation key
(root's own keys are the ``tenant_access`` role's job). Made with pycdlib (pure Python), so the
seed is built where the module runs and uploaded through the hypervisor's API, remote or local.
"""

from __future__ import annotations

import io
import json

from ansible_collections.psf.infra.plugins.module_utils.hypervisor.base import VmSpec

try:
    import pycdlib
except ImportError as error:  # vm_task reports it with missing_required_lib
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None


def seed_files(spec: VmSpec, instance_id: str) -> dict[str, str]:
    """The seed's files; YAML written as JSON (a YAML subset), so no YAML library is needed."""
    user_data = {"hostname": spec.hostname.split(".")[0], "fqdn": spec.hostname,
                 "preserve_hostname": False, "ssh_pwauth": False,
                 # the key goes to the image's default user and, with disable_root off, to root
                 "disable_root": False, "ssh_authorized_keys": [spec.ssh_authorized_key]}
    files = {
        "user-data": "#cloud-config\n" + json.dumps(user_data, indent=2, sort_keys=True) + "\n",
        "meta-data": json.dumps({"instance-id": instance_id, "local-hostname": spec.hostname},
                                indent=2, sort_keys=True) + "\n",
    }
    if spec.network_config:
        files["network-config"] = json.dumps(dict(spec.network_config), indent=2, sort_keys=True) + "\n"
    return files


def seed_iso(files: dict[str, str]) -> bytes:
    """An ISO 9660 image (Joliet and Rock Ridge names) labelled ``cidata`` holding ``files``."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for name, text in sorted(files.items()):
        data = text.encode("utf-8")
        short = name.replace("-", "").upper()[:8]
        iso.add_fp(io.BytesIO(data), len(data), f"/{short}.;1", rr_name=name, joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()
