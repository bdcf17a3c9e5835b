"""The lab's SMTP sink (aiosmtpd): every message lands in the Maildir `.lab/mail/`."""

from __future__ import annotations

import socket
import sys

from psf_lab.config import HOST, SERVICES, LabPaths
from psf_lab.processes import spawn


def start_smtp(paths: LabPaths) -> None:
    spawn(paths, "smtp", [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{SERVICES['smtp'].port}",
                          "-c", "aiosmtpd.handlers.Mailbox", str(paths.mail)])


def smtp_banner(port: int, timeout: float = 2.0) -> str:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        banner = sock.recv(512).decode(errors="replace")
        sock.sendall(b"QUIT\r\n")
    return banner.strip()
