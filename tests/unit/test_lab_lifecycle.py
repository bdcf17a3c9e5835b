"""The lab's lifecycle lock: `up`, `down`, `stop` and `restart` never interleave on one lab directory.

Two pytest-xdist workers once brought the lab up and down at once: one stopped the services the
other was starting, and a pebble no PID file named was left holding port 14000. Here the lock is held
by the test, as another process would hold it; each entry point must wait for it before it touches
anything (its body is replaced by a recorder: no lab is started)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from psf_lab import lifecycle  # noqa: E402
from psf_lab.config import LabPaths  # noqa: E402
from psf_lab.processes import file_lock  # noqa: E402

#: entry point -> its call, and the bodies it runs under the lock
ENTRY_POINTS = {
    "up": (lambda paths: lifecycle.up(paths), ["_up"]),
    "down": (lambda paths: lifecycle.down(paths), ["_down"]),
    "stop": (lambda paths: lifecycle.stop(["ns2"], paths), ["_stop"]),
    "restart": (lambda paths: lifecycle.restart(["ns2"], paths), ["_stop", "_up"]),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_each_entry_point_waits_for_the_lifecycle_lock(entry: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    paths = LabPaths(tmp_path / "lab")
    call, bodies = ENTRY_POINTS[entry]
    ran: list[str] = []
    for body in ("_up", "_down", "_stop"):
        monkeypatch.setattr(lifecycle, body, lambda *_args, body=body: ran.append(body))
    worker = threading.Thread(target=call, args=(paths,), daemon=True)
    with file_lock(paths.root / "lifecycle.lock"):
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), f"{entry} returned while another process held the lifecycle lock"
        assert ran == [], f"{entry} ran {ran} while another process held the lifecycle lock"
    worker.join(10)
    assert not worker.is_alive(), f"{entry} did not run once the lock was released"
    assert ran == bodies


def test_restart_holds_the_lock_once_for_stop_and_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """restart must not take the lock again inside (flock on a second open file would wait for itself)."""
    paths = LabPaths(tmp_path / "lab")
    ran: list[str] = []
    monkeypatch.setattr(lifecycle, "_stop", lambda *_args: ran.append("stop"))
    monkeypatch.setattr(lifecycle, "_up", lambda *_args: ran.append("up") or {"up": True})
    worker = threading.Thread(target=lambda: ran.append(lifecycle.restart(["ns2"], paths)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "restart waited for a lock it held itself"
    assert ran == ["stop", "up", {"up": True}]
