"""A real SMTP server (aiosmtpd) on a free loopback port, for the tests of the mail the project sends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def relay(handler: Any, **options: Any) -> Iterator[int]:
    """aiosmtpd serving ``handler`` (its ``handle_DATA`` keeps what it receives) on 127.0.0.1; yields the port.
    ``options`` go to aiosmtpd's Controller (tls_context, require_starttls, auth_required, authenticator)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
