"""The lab's process handling: a service that dies while starting is reported with its exit status or
signal and the tails of both its logs (CI once saw only "exited during start"). Real processes, no lab."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from psf_lab import processes  # noqa: E402
from psf_lab.config import LabError, LabPaths  # noqa: E402


@pytest.fixture
def paths(tmp_path: Path) -> LabPaths:
    return LabPaths(tmp_path / "lab")


def _dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while processes._proc_state(pid) not in (None, "Z", "X"):
        assert time.monotonic() < deadline, f"PID {pid} still running"
        time.sleep(0.02)


def test_a_service_killed_while_starting_is_reported_with_its_signal_and_logs(paths: LabPaths) -> None:
    pid = processes.spawn(paths, "resolver", ["sh", "-c", "echo 'resolver says goodbye'; kill -9 $$"])
    _dead(pid)
    # Another subprocess in between (labctl runs checkconf tools): the status must not be lost to it.
    subprocess.run(["true"], check=True)

    with pytest.raises(LabError) as caught:
        processes.wait_healthy(paths, "resolver", lambda: False, "health check", timeout=5)

    message = str(caught.value)
    assert f"resolver (unbound, PID {pid}) exited during start: killed by signal 9 (SIGKILL)" in message
    assert f"--- tail of {paths.out_file('resolver')}:" in message
    assert "resolver says goodbye" in message
    assert f"--- tail of {paths.log_file('resolver')}:\n  ({paths.log_file('resolver')} does not exist)" in message


def test_a_service_that_exits_is_reported_with_its_exit_status(paths: LabPaths) -> None:
    paths.log.mkdir(parents=True)
    paths.log_file("smtp").write_text("line 1\nfatal: cannot bind\n")
    pid = processes.spawn(paths, "smtp", ["sh", "-c", "exit 3"])
    _dead(pid)

    with pytest.raises(LabError, match=r"smtp \(aiosmtpd, PID \d+\) exited during start: exit status 3") as caught:
        processes.wait_healthy(paths, "smtp", lambda: False, "health check", timeout=5)

    assert "fatal: cannot bind" in str(caught.value)


def test_a_pid_this_process_did_not_start_has_no_known_status() -> None:
    other = subprocess.Popen(["true"])
    other.wait()
    assert processes.describe_exit(other.pid) == "exit status unknown (not started by this labctl process)"


def test_write_if_changed_reports_changes_only(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.conf"
    assert processes.write_if_changed(target, "x\n", mode=0o600)
    assert not processes.write_if_changed(target, "x\n", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_service_is_alive_right_after_it_is_spawned(paths: LabPaths, tmp_path: Path) -> None:
    """CI saw "resolver (unbound, PID n) exited during start: still running": the health check read
    /proc/<pid>/cmdline while the kernel was still finishing the execve (empty), and took the
    starting process for a dead one. Checked right after spawn, many times, it must count as alive."""
    program = tmp_path / "bin" / "unbound"
    program.parent.mkdir()
    program.symlink_to("/bin/sleep")
    pids = []
    try:
        for _ in range(100):
            # What spawn does, without the PID file write that sometimes hides the window.
            child = subprocess.Popen([str(program), "30"], start_new_session=True)
            processes._CHILDREN[child.pid] = child
            pids.append(child.pid)
            assert processes.pid_matches(child.pid, "unbound"), "a starting child taken for a dead one"
        for _ in range(20):
            pid = processes.spawn(paths, "resolver", [str(program), "30"])
            pids.append(pid)
            assert processes.wait_healthy(paths, "resolver", lambda: True, "health check", timeout=5)
            assert processes.running_pid(paths, "resolver") == pid
    finally:
        for pid in pids:
            processes.stop_pid(pid, "unbound")
    assert all(not processes.pid_matches(pid, "unbound") for pid in pids)


def test_a_child_running_another_program_does_not_match(paths: LabPaths) -> None:
    pid = processes.spawn(paths, "resolver", ["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while not Path(f"/proc/{pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not processes.pid_matches(pid, "unbound")
        assert processes.pid_matches(pid, "sleep")
    finally:
        processes.stop_pid(pid, "sleep")
