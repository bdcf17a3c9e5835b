"""The lab's processes: spawn, recorded PIDs, ports, stop, wait, and why a process died.

A PID is only signalled when it still runs the expected program (PID reuse). The processes this
Python process started are kept with their `Popen`, so that when one dies its exit status or the
signal that killed it is known (reaped here, never lost to another `waitpid`).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from psf_lab.config import SERVICES, STOP_TIMEOUT, LabError, LabPaths

# PID -> Popen of every process spawned by this Python process. Keeping the object alive keeps it
# out of subprocess's own clean-up list, which would reap a dead child and drop its exit status.
_CHILDREN: dict[int, subprocess.Popen] = {}


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write `text` atomically (mode `mode`) unless the file holds it already; True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    # A name of its own: test workers write the same file at once (the resolver's stubs.conf); with one
    # shared ".tmp" name, one renamed the file away under the other's chmod.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        tmp.write_text(text)
        os.chmod(tmp, mode)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (flock; made if missing) for the block: one process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"  ({path} does not exist)"
    content = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in content) or f"  ({path} is empty)"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, on_timeout: str = "") -> Any:
    """Poll `predicate` every 0.1 s until it returns something true; LabError when `timeout` passes.
    Exceptions other than LabError count as "not yet" (the last one is reported)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except LabError:
            raise
        except Exception as exc:  # the service is still starting; remember why
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{on_timeout}")
        time.sleep(0.1)


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def reap(pid: int) -> int | None:
    """Collect `pid` if it is a dead child of this process; its returncode (negative: the signal)
    when known (also for a child reaped earlier here), else None."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll()
    with contextlib.suppress(ChildProcessError):
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return os.waitstatus_to_exitcode(status)
    return None


def pid_matches(pid: int, program: str) -> bool:
    """The PID is alive (not a zombie) and runs `program` (guards against PID reuse).

    A child spawned by this process is judged by its `Popen`: its PID cannot be reused before it is
    reaped here, and right after `Popen` returns the kernel may still be finishing the `execve`
    (the close-on-exec pipe that `Popen` waits on closes before the new program's arguments are
    set), so `/proc/<pid>/cmdline` can read empty for a process that is starting normally. For any
    other PID an empty command line falls back to `/proc/<pid>/comm`."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            return False
    else:
        state = _proc_state(pid)
        if state is None or state in ("Z", "X"):
            reap(pid)
            return False
    try:
        cmdline = [part.decode(errors="replace")
                   for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if part]
        if not cmdline and child is not None:
            return True  # our own child, still in execve
        if not cmdline:
            cmdline = [Path(f"/proc/{pid}/comm").read_text().strip()]
    except OSError:
        return False
    return any(program in Path(part).name or program in part for part in cmdline[:3])


def describe_exit(pid: int) -> str:
    """How `pid` ended, as far as this process can know: "exit status 1", "killed by signal 9 (SIGKILL)"."""
    returncode = reap(pid)
    if returncode is None:
        if pid in _CHILDREN:
            return "still running"
        return "exit status unknown (not started by this labctl process)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-returncode} ({name})"
    return f"exit status {returncode}"


def recorded_pid(paths: LabPaths, service: str) -> int | None:
    try:
        return int(paths.pid_file(service).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(paths: LabPaths, service: str) -> int | None:
    pid = recorded_pid(paths, service)
    if pid is not None and pid_matches(pid, SERVICES[service].program):
        return pid
    return None


def spawn(paths: LabPaths, service: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start `argv` in its own session, output appended to `.lab/log/<service>.out`; PID recorded."""
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.log.mkdir(parents=True, exist_ok=True)
    with open(paths.out_file(service), "ab") as out:
        out.write(f"--- {datetime.datetime.now(datetime.UTC).isoformat()} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd or paths.root, env={**os.environ, **(env or {})}, start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    paths.pid_file(service).write_text(f"{proc.pid}\n")
    return proc.pid


def listening_ports() -> set[int]:
    """Ports with a TCP listener or a bound UDP socket on 127.0.0.1 or 0.0.0.0 (from /proc/net)."""
    ports: set[int] = set()
    for table, wanted_state in (("tcp", "0A"), ("udp", "07"), ("tcp6", "0A"), ("udp6", "07")):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == wanted_state:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def lab_ports() -> set[int]:
    ports = {s.port for s in SERVICES.values()}
    ports |= {s.control_port for s in SERVICES.values() if s.control_port}
    return ports


def stop_pid(pid: int, program: str) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; only while `pid` still runs `program`."""
    if not pid_matches(pid, program):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not pid_matches(pid, program):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_matches(pid, program), 5, f"PID {pid} to die after SIGKILL")


def failure_context(paths: LabPaths, service: str) -> str:
    """The tails of both logs of a service (its stdout/stderr and the program's own log)."""
    return "\n".join(f"--- tail of {path}:\n{tail(path)}"
                     for path in (paths.out_file(service), paths.log_file(service)))


def wait_healthy(paths: LabPaths, service: str, predicate: Callable[[], Any], what: str,
                 timeout: float) -> Any:
    """`wait_until(predicate)` while the service's recorded process lives; when it dies, a LabError
    saying how (exit status or signal) with the tails of its logs."""
    program = SERVICES[service].program

    def alive_and(predicate_: Callable[[], Any]) -> Any:
        pid = recorded_pid(paths, service)
        if pid is None:
            raise LabError(f"{service} ({program}) exited during start: no PID recorded in "
                           f"{paths.pid_file(service)}\n{failure_context(paths, service)}")
        if not pid_matches(pid, program):
            raise LabError(f"{service} ({program}, PID {pid}) exited during start: {describe_exit(pid)}\n"
                           f"{failure_context(paths, service)}")
        return predicate_()

    return wait_until(lambda: alive_and(predicate), timeout, f"{service}: {what}", failure_context(paths, service))
