#!/usr/bin/python3
"""Example tenant app for the Molecule scenario of roles/app: a greeting and a health URL.

Listens on HOST:PORT (set by the role's unit); APP_GREETING comes from the app's environment
file, read once at start, so the page shows whether a changed environment restarted the app.
"""

import getpass
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = os.environ.get("APP_GREETING", "hello")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = "ok\n"
        elif self.path == "/":
            body = f"{GREETING} (user {getpass.getuser()}, pid {os.getpid()})\n"
        else:
            self.send_error(404)
            return
        payload = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
