"""Relay an SSH connection to a lab guest: connect to HOST:PORT and copy stdin to it and its answer
to stdout. Run as an SSH ProxyCommand inside the guests' network namespace (`ip netns exec psflab`,
lab/psf_lab/libvirt.py), where the guests' bridge has an address and the host's stack has none.

    ProxyCommand ip netns exec psflab python3 lab/psf_lab/relay.py %h %p

A peer that vanishes without closing (a guest destroyed, a namespace deleted) does not leave the
relay behind: TCP keepalive on its connection notices within about a minute, and once the client
has closed its side the relay waits at most LINGER seconds for the rest of the answer.

Standard library only: it runs with any python3.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

CONNECT_TIMEOUT = 10.0
CHUNK = 65536
#: After the client's end of input, how long the answer may take to end.
LINGER = 30.0
#: TCP keepalive: first probe after KEEPIDLE s of silence, then every KEEPINTVL s, KEEPCNT probes.
KEEPIDLE, KEEPINTVL, KEEPCNT = 30, 10, 3


def keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", KEEPIDLE), ("TCP_KEEPINTVL", KEEPINTVL), ("TCP_KEEPCNT", KEEPCNT)):
        if hasattr(socket, option):  # Linux
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def relay(host: str, port: int) -> int:
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as err:
        print(f"relay: {host}:{port}: {err}", file=sys.stderr)
        return 1
    with sock:
        sock.settimeout(None)
        keepalive(sock)
        try:
            return _copy(sock, sys.stdin.fileno(), sys.stdout.fileno())
        except OSError as err:  # a peer gone (keepalive, reset, broken pipe): the connection ends
            print(f"relay: {host}:{port}: {err}", file=sys.stderr)
            return 1


def _copy(sock: socket.socket, stdin: int, stdout: int) -> int:
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ, "in")
    selector.register(sock, selectors.EVENT_READ, "sock")
    timeout = None
    while True:
        ready = selector.select(timeout)
        if not ready:  # the client is done and the answer did not end within LINGER
            return 0
        for key, _ in ready:
            if key.data == "in":
                data = os.read(stdin, CHUNK)
                if not data:  # the client closed its side: half-close ours, keep reading the answer
                    selector.unregister(stdin)
                    sock.shutdown(socket.SHUT_WR)
                    timeout = LINGER
                else:
                    sock.sendall(data)
            else:
                data = sock.recv(CHUNK)
                if not data:
                    return 0
                view = memoryview(data)
                while view:
                    view = view[os.write(stdout, view):]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: relay.py HOST PORT")
    sys.exit(relay(sys.argv[1], int(sys.argv[2])))
