"""Relay an SSH connection to a lab guest: connect to HOST:PORT and copy stdin to it and its answer
to stdout. Run as an SSH ProxyCommand inside the guests' network namespace (`ip netns exec psflab`,
lab/psf_lab/libvirt.py), where the guests' bridge has an address and the host's stack has none.

    ProxyCommand ip netns exec psflab python3 lab/psf_lab/relay.py %h %p

Standard library only: it runs with any python3.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

CONNECT_TIMEOUT = 10.0
CHUNK = 65536


def relay(host: str, port: int) -> int:
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as err:
        print(f"relay: {host}:{port}: {err}", file=sys.stderr)
        return 1
    sock.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ, "in")
    selector.register(sock, selectors.EVENT_READ, "sock")
    while True:
        for key, _ in selector.select():
            if key.data == "in":
                data = os.read(stdin, CHUNK)
                if not data:  # the client closed its side: half-close ours, keep reading the answer
                    selector.unregister(stdin)
                    sock.shutdown(socket.SHUT_WR)
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
