"""A server that is down is named: each lab service stopped in turn, for real.

For the primary (ns1), the secondary (ns2), the ACME CA (pebble) and the backup server (its podman
container), a run that needs it fails with ONE line naming the server, what was tried and what to
check, without the TSIG secret; the service is started again (always, in ``finally``) and a rerun
converges with ``changed=0``.

These tests stop services other tests use, so they run only when nothing else runs against the lab:
not under pytest-xdist with more than one worker (``make integration`` runs them; ``make test``
skips them with a reason). Run them under the lab lock:

    flock /tmp/psf-lab.lock .venv/bin/python -m pytest -p no:cacheprovider tests/integration/test_backends_down.py
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.query
import dns.rcode
import dns.update
import labctl
import pytest
import yaml
from ansible_cli import run
from browser_support import PHONE, chromium, served

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAB_INVENTORY = REPO / "inventories" / "lab"

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(1800)]

ENV = {
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",  # every result on one line: a message's own newlines show
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "false",
    "ANSIBLE_LOCALHOST_WARNING": "0",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
}
FAILED_RESULT = re.compile(r"^(?:fatal|failed): \[([^\]]+)\][^=]*=> (\{.*\})$", re.MULTILINE)


@pytest.fixture(scope="module", autouse=True)
def alone() -> None:
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.skip("stops lab services that the other workers' tests use: run without -n (make integration)")


@contextlib.contextmanager
def stopped(service: str) -> Iterator[None]:
    """Lab service ``service`` stopped inside the block, started again (and healthy) after it."""
    labctl.stop([service])
    try:
        yield
    finally:
        labctl.up()


@contextlib.contextmanager
def container_stopped(name: str) -> Iterator[None]:
    podman("stop", "-t", "5", name)
    try:
        yield
    finally:
        podman("start", name)
        # systemd boots inside; sshd (used by borg from the VMs) comes up with it.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = podman("exec", name, "systemctl", "is-active", "ssh", check=False).stdout.strip()
            if state == "active":
                break
            time.sleep(1)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=180)


def ansible_playbook(playbook: Path, *args: str, inventory: str = str(LAB_INVENTORY)) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", inventory, str(playbook), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900, check=False)


def run_tasks(tasks: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess:
    """A one-play playbook on localhost (the control node) with these tasks."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="backends-down-") as directory:
        playbook = Path(directory) / "play.yml"
        playbook.write_text(yaml.safe_dump(play))
        return ansible_playbook(playbook, "-e", "ansible_connection=local", "-e",
                                f"ansible_python_interpreter={sys.executable}", *args, inventory="localhost,")


def recap(result: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    """PLAY RECAP -> {host: {ok, changed, failed, ...}}."""
    totals: dict[str, dict[str, int]] = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", result.stdout, re.MULTILINE):
        for name, value in re.findall(r"(\w+)=(\d+)", counters):
            totals.setdefault(host, {})[name] = totals.get(host, {}).get(name, 0) + int(value)
    return totals


def failure_messages(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(host, msg) of every failed task result, decoded from the one-line JSON results."""
    messages = []
    for host, text in FAILED_RESULT.findall(result.stdout):
        payload = json.loads(text)
        for item in [payload, *payload.get("results", [])]:
            if (item.get("failed") or item is payload) and item.get("msg"):
                messages.append((host, item["msg"]))
    return messages


def the_one_failure(result: subprocess.CompletedProcess, host: str) -> str:
    """The message of the task that stopped ``host``: one line, the whole story."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    messages = [msg for failed_host, msg in failure_messages(result) if failed_host == host]
    assert messages, output[-3000:]
    message = messages[-1]
    print(f"\n{host}: {message}")  # what a person reads (pytest -s)
    assert "\n" not in message, message
    assert "non-zero return code" not in output, output[-3000:]
    return message


def assert_no_secret(result: subprocess.CompletedProcess, lab: Any) -> None:
    output = result.stdout + result.stderr
    for key in ("staff-key", "transfer-key", "registry-key"):
        assert lab.key(key)["secret"] not in output, f"the secret of {key} is in the output"


def assert_converged(result: subprocess.CompletedProcess, *hosts: str) -> None:
    totals = recap(result)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for host in hosts:
        assert totals[host]["failed"] == 0 and totals[host]["changed"] == 0, (host, totals, result.stdout[-3000:])


# ---- the name servers, through playbooks/dns.yml (role nameserver) --------------------------------


@pytest.fixture(scope="module")
def dns_converged(lab) -> None:
    """dns.yml has run once, so that a rerun after a restart must change nothing."""
    result = ansible_playbook(REPO / "playbooks" / "dns.yml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


@pytest.mark.parametrize(("service", "host", "control_port"), [("ns1", "lab-ns1", 9531), ("ns2", "lab-ns2", 9532)])
def test_a_stopped_name_server_is_named_by_the_dns_playbook(lab, dns_converged, service, host, control_port):
    part = "primary" if service == "ns1" else "secondary"
    with stopped(service):
        down = ansible_playbook(REPO / "playbooks" / "dns.yml")
    message = the_one_failure(down, host)
    assert message.startswith(f"{part} name server {host} (named, control channel 127.0.0.1:{control_port}): "
                              "rndc status failed: "), message
    assert "connection refused" in message, message
    assert "; check that named runs there" in message and "make lab-status" in message, message
    assert "RETRYING" not in down.stdout, "a server that is down must not be waited for"
    assert_no_secret(down, lab)

    again = ansible_playbook(REPO / "playbooks" / "dns.yml")
    assert_converged(again, "lab-ns1", "lab-ns2")


def test_a_stopped_name_server_turns_the_status_page_red_in_a_browser(lab, tmp_path):
    """The status page while ns2 is really stopped, loaded in headless Chromium on a phone: every zone
    red with the reason naming the server, the tenant red overall (a screenshot is kept)."""
    with stopped("ns2"):
        result = run("psf-infra", "status", "-i", str(LAB_INVENTORY), "-o", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads((tmp_path / "status.json").read_text())
    tenant = next(entry for entry in status["tenants"] if entry["name"] == "packaging")
    with served(tmp_path) as base, chromium(mobile=PHONE) as browser:
        browser.open(f"{base}/packaging.html")
        shown = browser.script("""return {overall: document.querySelector('p .health').textContent,
            rows: [...document.querySelectorAll('tbody tr')].map(row => [row.cells[0].innerText,
                row.cells[1].innerText, row.querySelector('.health').textContent, row.cells[3].innerText])}""")
        browser.screenshot("status-page/packaging-ns2-stopped-phone")
    zones = [row for row in shown["rows"] if row[0] == "zone"]
    assert {row[1] for row in zones} == {check["name"] for check in tenant["checks"] if check["kind"] == "zone"}
    assert zones and all(row[2] == "red" and "unreachable" in row[3] for row in zones), shown
    assert shown["overall"] == "red"


# ---- the DNS modules and the ACME CA, on a zone of this module ------------------------------------


@pytest.fixture(scope="module")
def zone(lab) -> Iterator[str]:
    """A zone of this module on ns1 (and ns2 through the catalog), delegated from test. (unsigned)."""
    name = f"down-{secrets.token_hex(3)}.test"
    labctl.add_zone(f"{name}.", "@ A 127.0.0.1\nwww A 127.0.0.1\n", signed=False)
    labctl.delegate_zone(f"{name}.", ds=[])
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            labctl.undelegate_zone(f"{name}.")
        labctl.remove_zone(f"{name}.")


def dns_zone_task(lab, zone: str) -> dict[str, Any]:
    key = lab.key("staff-key")
    return {"name": "publish the zone", "psf.infra.dns_zone": {
        "server": "127.0.0.1", "port": lab.port("ns1"), "zone": zone,
        "tsig_key_name": key["name"], "tsig_key_algorithm": key["algorithm"], "tsig_key_secret": key["secret"],
        "records": [{"name": "down-test", "type": "TXT", "values": ['"served"']}]}}


def test_a_secondary_started_after_a_change_serves_the_primarys_serial(lab, zone):
    """ns2 loads its zones from disk when it starts and, left alone, learns of a change made while it
    was down only at the SOA refresh (an hour; nobody NOTIFYed it). `labctl up` returns once ns2
    serves ns1's serial of every zone (found on a second `make demo` after `make lab-down`)."""
    ns1, ns2 = lab.port("ns1"), lab.port("ns2")
    deadline = time.monotonic() + 30
    while labctl.soa_serial(ns2, f"{zone}.") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    before = labctl.soa_serial(ns2, f"{zone}.")
    assert before is not None, f"ns2 never served {zone}"
    with stopped("ns2"):
        update = dns.update.UpdateMessage(f"{zone}.", keyring=lab.tsig("staff-key"))
        update.add(f"while-down.{zone}.", 60, "TXT", '"changed while ns2 was down"')
        assert dns.query.tcp(update, "127.0.0.1", port=ns1, timeout=10).rcode() == dns.rcode.NOERROR
        changed = labctl.soa_serial(ns1, f"{zone}.")
        assert changed != before
    # stopped() started ns2 again through labctl.up(), which returned: no waiting here
    assert labctl.soa_serial(ns2, f"{zone}.") == changed


def test_a_stopped_primary_is_named_by_dns_zone(lab, zone):
    task = dns_zone_task(lab, zone)
    with stopped("ns1"):
        down = run_tasks([task])
    message = the_one_failure(down, "localhost")
    assert message == (f"primary name server 127.0.0.1:{lab.port('ns1')}: zone transfer (AXFR) of {zone}. failed: "
                       "connection refused; check that named runs and listens there (make lab-status in the lab)")
    assert_no_secret(down, lab)

    first = run_tasks([task])  # nothing was sent while ns1 was down: the record is new now
    assert first.returncode == 0 and recap(first)["localhost"]["changed"] == 1, first.stdout[-3000:]
    assert_converged(run_tasks([task]), "localhost")


def certificate_task(lab, zone: str, workdir: Path) -> dict[str, Any]:
    key = lab.key("staff-key")
    return {"name": "certificate", "psf.infra.certificate": {
        "names": [zone, f"www.{zone}"], "dest": str(workdir / "live"), "tenant": "downtest",
        "acme_directory": lab.acme["directory"], "acme_ca_bundle": lab.acme["ca_bundle"],
        "acme_account_key_path": str(workdir / "account.key"),
        "dns_servers": [{"address": "127.0.0.1", "port": lab.port("ns1")},
                        {"address": "127.0.0.1", "port": lab.port("ns2")}],
        "dns_resolver": {"address": "127.0.0.1", "port": lab.port("resolver")},
        "dns_tsig_key_name": key["name"], "dns_tsig_key_secret": key["secret"], "timeout": 90}}


def test_a_stopped_primary_is_named_when_publishing_dns01(lab, zone, tmp_path):
    task = certificate_task(lab, zone, tmp_path)
    with stopped("ns1"):
        down = run_tasks([task])
    message = the_one_failure(down, "localhost")
    assert message.startswith(f"primary name server 127.0.0.1:{lab.port('ns1')}: query "), message
    assert "failed: connection refused; check that named runs and listens there" in message, message
    assert not (tmp_path / "live").exists()
    assert_no_secret(down, lab)


def test_a_stopped_acme_ca_is_named(lab, zone, tmp_path):
    task = certificate_task(lab, zone, tmp_path)
    with stopped("acme"):
        down = run_tasks([task])
    message = the_one_failure(down, "localhost")
    assert message == (f"ACME CA {lab.acme['directory']}: reading the ACME directory failed: connection refused; "
                       "check that the CA runs and acme_directory is right (make lab-status in the lab)"), message
    assert not (tmp_path / "live").exists()
    assert_no_secret(down, lab)

    first = run_tasks([task])  # nothing was ordered while the CA was down: the certificate is new now
    assert first.returncode == 0 and recap(first)["localhost"]["changed"] == 1, first.stdout[-3000:]
    assert_converged(run_tasks([task]), "localhost")


# ---- the backup server (a podman container of the lab), through playbooks/backups.yml --------------


def test_a_stopped_backup_server_is_named(lab):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    running = podman("ps", "--format", "{{.Names}}", check=False).stdout.split()
    if "psf-lab-backup" not in running or "psf-lab-web1-packaging" not in running:
        pytest.skip("the lab machines are not running (make demo or playbooks/lab-vms.yml makes them)")
    playbook = REPO / "playbooks" / "backups.yml"
    with container_stopped("psf-lab-backup"):
        down = ansible_playbook(playbook, "--limit", "web1.packaging")
    message = the_one_failure(down, "web1.packaging")
    assert message.startswith("backup server lab-backup (psf-lab-backup): looking up the account borg there "
                              "for web1.packaging failed: unreachable ("), message
    assert "check that the server is up" in message and "podman ps -a --filter name=psf-lab-backup" in message

    again = ansible_playbook(playbook, "--limit", "web1.packaging")
    assert_converged(again, "web1.packaging")
