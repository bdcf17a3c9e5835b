"""The status page in a real browser: Debian's headless Chromium loads the site `psf-infra status`
wrote for the lab, served over HTTP on loopback. What a reader sees must be what status.json says
(every tenant, every check, its health and reason), the links must lead to the tenant pages, the
health colours must be the ones the page defines, and on a phone (390 CSS pixels, Chromium's mobile
emulation) nothing may need sideways scrolling. Screenshots are kept in .cache/artifacts/status-page/.

A red page for a name server that is really stopped: tests/integration/test_backends_down.py."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from ansible_cli import run
from browser_support import PHONE, Browser, chromium, served

pytestmark = pytest.mark.lab

COLOURS = {"green": "rgb(46, 125, 50)", "amber": "rgb(249, 168, 37)", "red": "rgb(198, 40, 40)",
           "unknown": "rgb(117, 117, 117)"}
ROWS = """return [...document.querySelectorAll('tbody tr')].map(row => ({
    id: row.id, cells: [...row.cells].map(cell => cell.innerText.trim()),
    link: row.querySelector('a') && row.querySelector('a').getAttribute('href'),
    badge: row.querySelector('.health').textContent,
    colour: getComputedStyle(row.querySelector('.health')).backgroundColor,
    row: getComputedStyle(row).backgroundColor,
    stripe: getComputedStyle(row.cells[0]).borderLeftColor}))"""
TRANSPARENT = "rgba(0, 0, 0, 0)"


def generate(inventory: str, output: Path) -> dict:
    result = run("psf-infra", "status", "-i", inventory, "-o", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((output / "status.json").read_text())


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("status")
    return output, generate("inventories/lab", output)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def wait_for_page(browser: Browser, name: str) -> None:
    deadline = time.monotonic() + 10
    while not browser.script("return location.pathname").endswith(f"/{name}"):
        assert time.monotonic() < deadline, f"the browser never reached {name}"
        time.sleep(0.1)
    browser.script("return document.readyState")


def tenant_page_rows(browser: Browser) -> list[dict]:
    return browser.script(ROWS)


def test_what_the_browser_shows_is_the_status_and_the_links_lead_to_each_tenant(site):
    directory, status = site
    with served(directory) as base, chromium() as browser:
        browser.open(f"{base}/index.html")
        assert browser.script("return document.title") == "PSF Infra-WG tenants"
        rows = tenant_page_rows(browser)
        assert [row["id"] for row in rows] == [tenant["name"] for tenant in status["tenants"]]
        for row, tenant in zip(rows, status["tenants"], strict=True):
            assert row["link"] == f"{tenant['name']}.html"
            assert row["badge"] == tenant["health"] and row["colour"] == COLOURS[tenant["health"]], row
            assert tenant["display_name"] in row["cells"][0] and tenant["kind"] in row["cells"][1]
            assert row["cells"][3] == (", ".join(tenant["liaisons"]) or "nobody")
        shot = browser.screenshot("status-page/index-desktop")
        assert png_size(shot)[0] >= 1000

        for tenant in status["tenants"]:
            browser.open(f"{base}/index.html")
            browser.click(f'a[href="{tenant["name"]}.html"]')  # a reader's click, not a typed address
            wait_for_page(browser, f"{tenant['name']}.html")
            assert browser.script("return document.querySelector('h1').textContent") == tenant["display_name"]
            rows = tenant_page_rows(browser)
            shown = [(row["cells"][0], row["cells"][1], row["badge"], row["cells"][3], row["colour"], row["stripe"])
                     for row in rows]
            assert shown == [(check["kind"], check["name"], check["health"], check["reason"],
                              COLOURS[check["health"]], COLOURS[check["health"]])
                             for check in tenant["checks"]], tenant["name"]
            # only the badge and the stripe carry the colour: the reason stays on the page's background
            assert all(row["row"] == TRANSPARENT for row in rows), rows
            browser.screenshot(f"status-page/{tenant['name']}-desktop")


def test_every_page_fits_a_phone(site):
    directory, status = site
    pages = ["index.html", *(f"{tenant['name']}.html" for tenant in status["tenants"])]
    with served(directory) as base, chromium(mobile=PHONE) as browser:
        for name in pages:
            browser.open(f"{base}/{name}")
            layout = browser.script("""return {viewport: window.innerWidth, width: document.documentElement.scrollWidth,
                header: document.querySelector('thead') && getComputedStyle(document.querySelector('thead')).display,
                font: parseFloat(getComputedStyle(document.body).fontSize)}""")
            # the viewport meta applies (no 980-pixel desktop layout shrunk to fit), nothing scrolls sideways
            assert layout["viewport"] == PHONE["width"], (name, layout)
            assert layout["width"] <= layout["viewport"], (name, layout)
            assert layout["header"] in (None, "none"), (name, layout)  # rows as stacked cards on a phone
            assert layout["font"] >= 14, (name, layout)
            shot = browser.screenshot(f"status-page/{name.removesuffix('.html')}-phone")
            assert png_size(shot) == (PHONE["width"] * 2, PHONE["height"] * 2)
