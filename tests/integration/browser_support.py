"""A real browser for the tests: Debian's headless Chromium driven through chromedriver over W3C
WebDriver (plain HTTP + JSON on loopback, https://www.w3.org/TR/webdriver2/), and a static site
served from a directory on loopback.

No client library: the handful of WebDriver commands the tests use (new session, navigate, execute
script, find and click, screenshot) are one HTTP request each. Chromium runs with the flags that keep
it off the network (no background networking, component updates, sync or QUIC) and a fresh profile.
Screenshots are kept under .cache/artifacts/ (test artifacts, outside git).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".cache" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
# A phone's viewport (CSS pixels) with Chromium's mobile emulation: the page's viewport meta applies.
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0}


class WebDriverError(AssertionError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One WebDriver session of headless Chromium."""

    def __init__(self, endpoint: str, session: str) -> None:
        self.endpoint, self.session = endpoint, session

    def command(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _request(method, f"{self.endpoint}/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        """Run `source` (a function body; `arguments` holds args) in the page; its return value."""
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def click(self, css: str) -> None:
        element = self.command("POST", "/element", {"using": "css selector", "value": css})
        self.command("POST", f"/element/{element[ELEMENT]}/click", {})

    def screenshot(self, name: str) -> Path:
        """A PNG of the viewport, kept as .cache/artifacts/<name>.png."""
        data = base64.b64decode(self.command("GET", "/screenshot"))
        path = ARTIFACTS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    if not url.startswith("http://127.0.0.1:"):
        raise AssertionError(f"WebDriver only on loopback, not {url}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 (loopback HTTP, checked above)
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (checked above)
            return json.load(response)["value"]
    except urllib.error.HTTPError as exc:
        detail = json.load(exc).get("value", {})
        raise WebDriverError(f"WebDriver {method} {url}: {detail.get('error')}: {detail.get('message')}") from None


@contextlib.contextmanager
def chromium(mobile: dict[str, Any] | None = None) -> Iterator[Browser]:
    """A headless Chromium session (phone-sized with `mobile`), ended and its driver stopped after."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        raise AssertionError(f"{', '.join(missing)} missing: Debian's chromium and chromium-driver are in "
                             "lab/apt-packages.txt (make deps installs them)")
    port = _free_port()
    profile = Path(tempfile.mkdtemp(prefix="psf-chromium-"))
    log = profile.with_suffix(".log")
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1", f"--log-path={log}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request("GET", f"{endpoint}/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise AssertionError(f"chromedriver did not become ready on {endpoint} (exit {driver.poll()})")
            time.sleep(0.1)
        options: dict[str, Any] = {"binary": CHROMIUM, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]}
        if mobile:
            options["mobileEmulation"] = {"deviceMetrics": mobile}
        else:
            options["args"].append("--window-size=1280,900")
        session = _request("POST", f"{endpoint}/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})
        browser = Browser(endpoint, session["sessionId"])
        try:
            yield browser
        finally:
            with contextlib.suppress(OSError, WebDriverError):
                _request("DELETE", f"{endpoint}/session/{browser.session}")
    finally:
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        shutil.rmtree(profile, ignore_errors=True)
        log.unlink(missing_ok=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """`directory` served over HTTP on loopback (as a web server would publish the status page);
    yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
