"""The standard VM image (docs/vms.md, "The standard image"): built by lab/build-vm-image.sh, cached in
`.cache/vm-image/` and rebuilt only when its recipe changes; put into the lab libvirtd's storage pool
as the base image volume of psf.infra.vm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from psf_lab.config import REPO_ROOT, LabError

SCRIPT = REPO_ROOT / "lab" / "build-vm-image.sh"


def image_path() -> Path:
    """Where the image is (or will be) cached."""
    out = subprocess.run(["bash", str(SCRIPT), "--path"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def recipe_file(image: Path) -> Path:
    return image.with_suffix(".recipe")


def build(force: bool = False) -> dict[str, Any]:
    """Build the image when missing or outdated (or always with ``force``). Returns its path, its
    recipe hash and the seconds the call took; the script's messages go to stderr."""
    started = time.monotonic()
    result = subprocess.run(["bash", str(SCRIPT), *(["--force"] if force else [])], check=False)
    if result.returncode != 0:
        raise LabError(f"{SCRIPT.relative_to(REPO_ROOT)} failed (exit status {result.returncode})")
    image = image_path()
    return {"path": str(image), "recipe": recipe_file(image).read_text().strip(),
            "seconds": round(time.monotonic() - started, 1)}


def volume_name(recipe: str) -> str:
    """The pool volume of one recipe: a new image never replaces the backing file of existing VMs."""
    return f"psf-debian-12-{recipe}.qcow2"


def _backing_files(pool_dir: Path) -> set[str]:
    """The backing files of the qcow2 volumes of a pool directory (the VMs' overlays)."""
    used = set()
    for volume in pool_dir.glob("*.qcow2"):
        info = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(volume)], capture_output=True,
                              text=True, check=False)
        if info.returncode == 0:
            backing = json.loads(info.stdout).get("full-backing-filename") or ""
            used.add(Path(backing).name)
    return used


def put_in_pool(image: dict[str, Any], pool_dir: str | Path) -> str:
    """Make the image a volume of a directory pool (a hard link, or a copy across file systems), once
    per recipe, and remove the volumes of earlier recipes that no overlay of the pool uses. The
    caller refreshes the pool. Returns the volume's name."""
    name = volume_name(image["recipe"])
    pool_dir = Path(pool_dir)
    target = pool_dir / name
    # earlier recipes, and this recipe's volume when the image was rebuilt (--force) since
    stale = [path for path in pool_dir.glob(volume_name("*"))
             if path.name != name or not os.path.samefile(path, image["path"])]
    if stale:
        used = _backing_files(pool_dir)
        for path in stale:
            if path.name not in used:
                path.unlink()
    if not target.exists():
        partial = target.with_name(f".{name}.partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(image["path"], partial)
        except OSError:
            shutil.copyfile(image["path"], partial)
        os.chmod(partial, 0o644)  # QEMU (libvirt-qemu) reads it as the backing file
        partial.rename(target)
    return name
