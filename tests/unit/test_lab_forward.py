"""The lab's forwarder (lab/psf_lab/forward.py) with the lab's relay (lab/psf_lab/relay.py) as its
command, on loopback: both run as the lab runs them (real processes, real sockets); only the
namespaces are left out (an empty prefix instead of `ip netns exec` / `nsenter --net`)."""

from __future__ import annotations

import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[2] / "lab"
sys.path.insert(0, str(LAB))

from psf_lab import forward  # noqa: E402

RELAY = str(LAB / "psf_lab" / "relay.py")


class Echo(socketserver.StreamRequestHandler):
    """Answers each line with the line in upper case; on end of input, says how many lines it read
    (so that a half-close through the relay is seen arriving)."""

    def handle(self) -> None:
        count = 0
        for line in self.rfile:
            count += 1
            self.wfile.write(line.upper())
        self.wfile.write(f"bye after {count}\n".encode())


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def talk(port: int, lines: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for line in lines:
            sock.sendall(line)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_connections_are_relayed_both_ways_and_each_on_its_own(echo):
    port = free_port()
    process = forward.start([], "127.0.0.1", port, [sys.executable, RELAY, "127.0.0.1", str(echo)])
    try:
        assert talk(port, [b"one\n", b"two\n"]) == b"ONE\nTWO\nbye after 2\n"
        # several at once: each connection gets a relay of its own
        results: dict[int, bytes] = {}
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, talk(port, [b"x%d\n" % n] * n)))
                   for n in range(1, 6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == {n: b"X%d\n" % n * n + b"bye after %d\n" % n for n in range(1, 6)}
        # a large transfer is copied whole
        big = [b"%07d\n" % n for n in range(50000)]
        assert talk(port, big) == b"".join(big) + b"bye after 50000\n"
        assert process.poll() is None
    finally:
        forward.stop(process)
    assert process.returncode is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_a_target_that_refuses_closes_the_client_connection_and_the_forwarder_goes_on(echo):
    port, closed = free_port(), free_port()
    process = forward.start([], "127.0.0.1", port, [sys.executable, RELAY, "127.0.0.1", str(closed)])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert sock.recv(4096) == b""  # closed: the relay found nothing to connect to
        assert process.poll() is None
    finally:
        forward.stop(process)
    assert "Connection refused" in process.stderr.read()


def test_a_port_in_use_is_an_error_naming_it(echo):
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{echo}: .*Address already in use"):
        forward.start([], "127.0.0.1", echo, ["true"])


def test_usage():
    assert forward.main(["127.0.0.1", "1"]) == 2


def relays_of(port: int) -> list[int]:
    """The PIDs of the relay processes that connect to ``port``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and argv[1:2] == [RELAY.encode()] and str(port).encode() in argv:
            found.append(int(proc.name))
    return found


def test_stop_ends_the_commands_of_connections_still_open(echo):
    port = free_port()
    process = forward.start([], "127.0.0.1", port, [sys.executable, RELAY, "127.0.0.1", str(echo)])
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client.sendall(b"still here\n")
        assert client.recv(100) == b"STILL HERE\n"
        assert len(relays_of(echo)) == 1  # the open connection's relay
        forward.stop(process)
        assert process.returncode is not None
        assert relays_of(echo) == []
        assert client.recv(100) == b""  # its connection was closed with it
    finally:
        client.close()
        forward.stop(process)


class Mute(socketserver.BaseRequestHandler):
    """Reads to the end of input and then neither answers nor closes (a peer gone silent)."""

    def handle(self) -> None:
        while self.request.recv(4096):
            pass
        self.server.quiet.wait(30)


def test_the_relay_gives_up_on_an_answer_that_never_ends_after_linger(tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Mute)
    server.daemon_threads = True
    server.quiet = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (f"import sys; sys.path.insert(0, {str(LAB / 'psf_lab')!r}); import relay; relay.LINGER = 0.5; "
            f"sys.exit(relay.relay('127.0.0.1', {server.server_address[1]}))")
    try:
        # stdin ends at once (the client is done); the peer stays open: the relay ends after LINGER
        done = subprocess.run([sys.executable, "-c", code], input=b"", capture_output=True, timeout=20, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        server.quiet.set()
        server.shutdown()
        server.server_close()
