"""Forward TCP connections between network namespaces of the lab: listen on HOST:PORT in the
namespace this process runs in, and give each connection it accepts to COMMAND as its standard
input and output, the way inetd starts a `nowait` service. COMMAND is usually the lab's relay
(lab/psf_lab/relay.py) started in another namespace, so that the two namespaces need no route
between them:

    ip netns exec psflab python3 forward.py 192.0.2.1 2222 -- \\
        nsenter --target <pid of the backup machine> --net python3 relay.py 127.0.0.1 22

lets a libvirt guest on the lab's bridge reach the backup machine's sshd (a podman container on
another, internal network) at its gateway's port 2222; the other way round, a forwarder in the
monitoring machine's namespace lets Prometheus scrape a guest (docs/vms.md, "Guests and the lab's
machines"). Nothing listens outside the namespaces named, and loopback stays the host's only target.

It prints `listening HOST:PORT` on its standard output once the socket is bound (start() waits for
that line), then runs until it is terminated. start() gives it a session of its own, and stop()
ends that whole process group: the forwarder and the commands of the connections still open.
Standard library only: it runs with any python3.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def serve(host: str, port: int, command: Sequence[str]) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family, backlog=16) as server:
        print(f"listening {host}:{port}", flush=True)
        server.settimeout(1.0)
        children: list[subprocess.Popen[bytes]] = []
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                conn = None
            if conn is not None:
                with conn:
                    conn.setblocking(True)
                    children.append(subprocess.Popen(list(command), stdin=conn.fileno(), stdout=conn.fileno(),
                                                     close_fds=True))
            children = [child for child in children if child.poll() is None]


def start(prefix: Sequence[str], host: str, port: int, command: Sequence[str],
          python: str = sys.executable) -> subprocess.Popen[str]:
    """Start a forwarder under ``prefix`` (the command that puts it into its namespace, such as
    ``ip netns exec psflab``) and return once it listens; stop it with ``stop()``."""
    argv = [*prefix, python, os.path.abspath(__file__), host, str(port), "--", *command]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # its first line, or nothing when it died before listening
    if line.strip() != f"listening {host}:{port}":
        process.kill()
        _, err = process.communicate(timeout=5)
        raise RuntimeError(f"forwarder {' '.join(argv)} did not start: {line.strip()} {err.strip()}")
    return process


def stop(process: subprocess.Popen[str]) -> None:
    """End the forwarder and every connection's command (its process group, start()'s session):
    SIGTERM, then SIGKILL for what is left after 5 s."""
    stop_group(process.pid, process.poll)
    process.wait(timeout=5)


def stop_group(pgid: int, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM to the process group ``pgid`` (a forwarder that leads its session, and its connections'
    relays), then SIGKILL for what is left after 5 s. ``reap`` reaps the leader when it is the caller's
    child (a reaped leader no longer counts)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:  # nothing of the group is left
            return
        if _group_ended(pgid, reap, timeout=5):
            return


def _group_ended(pgid: int, reap: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not _group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: Sequence[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: forward.py HOST PORT -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        serve(argv[0], int(argv[1]), argv[3:])
    except KeyboardInterrupt:
        return 0
    except OSError as err:
        print(f"forward: {argv[0]}:{argv[1]}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
