#!/usr/bin/python3
"""SMTP sink for the monitoring scenario: stores every message as a file, one per recipient list.

Usage: smtp_sink.py HOST PORT DIRECTORY. Python 3.11's smtpd (Debian bookworm) is enough here.
"""

import sys
import time
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore
    import smtpd


class Sink(smtpd.SMTPServer):
    def __init__(self, address, directory):
        super().__init__(address, None, decode_data=True)
        self.directory = directory

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        name = f"{time.time_ns()}.eml"
        header = "X-Envelope-To: " + ", ".join(rcpttos) + "\n"
        (self.directory / name).write_text(header + data)


if __name__ == "__main__":
    host, port, directory = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    directory.mkdir(parents=True, exist_ok=True)
    Sink((host, port), directory)
    asyncore.loop()
