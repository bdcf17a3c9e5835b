"""`psf-infra run` for cron: exit codes, --timeout, locks per playbook, a private data directory per
run, textfile metrics, heartbeat pings and the report mail.

Real ansible-runner and ansible-playbook against localhost; a real HTTP server on 127.0.0.1 for
the heartbeat and a real SMTP server (aiosmtpd) on a free loopback port for the mail. No lab needed.
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import json
import os
import random
import re
import shutil
import socket
import subprocess
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ansible_cli import PSF_INFRA, SECRET, local_inventory, secret_task

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "registry"
VAULT_PASSWORD = "vault-password-that-must-not-leak"
PROMTOOL = shutil.which("promtool")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def psf_infra(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PSF_INFRA, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300,
                          env={**os.environ, **(env or {})})


def playbook(path: Path, tasks: str, hosts: str = "localhost") -> Path:
    path.write_text(textwrap.dedent(f"""\
        - name: {path.stem}
          hosts: {hosts}
          gather_facts: false
          tasks:
        """) + textwrap.indent(textwrap.dedent(tasks), "    "))
    return path


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    inventory = local_inventory(tmp_path / "inventory.yml", **{"gone.example": {
        "ansible_host": "127.0.0.1", "ansible_port": free_port(), "ansible_user": "nobody",
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"}})
    (tmp_path / "vault-pass").write_text(VAULT_PASSWORD + "\n")
    marker = tmp_path / "marker"
    books = {
        "good": playbook(tmp_path / "good.yml", secret_task(marker)),
        "bad": playbook(tmp_path / "bad.yml", """\
            - name: Refuse
              ansible.builtin.fail:
                msg: the reason a person can act on
            """),
        "unreachable": playbook(tmp_path / "unreachable.yml", """\
            - name: Ping a host that is not there
              ansible.builtin.ping:
            """, hosts="gone.example"),
    }
    return {"inventory": inventory, "marker": marker, "artifacts": tmp_path / "runs", "metrics": tmp_path / "metrics",
            "vault": tmp_path / "vault-pass", "tmp": tmp_path, **books}


def run(project: dict[str, Path], book: str | Path, *extra: str, env: dict[str, str] | None = None,
        inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = project[book] if isinstance(book, str) else book
    return psf_infra("run", str(path), "-i", str(inventory or project["inventory"]), "--artifacts",
                     str(project["artifacts"]), "--metrics-dir", str(project["metrics"]), "--quiet", *extra, env=env)


def last_summary(project: dict[str, Path]) -> dict:
    return json.loads((project["artifacts"] / "last-run.json").read_text())


def metrics(project: dict[str, Path], name: str) -> dict[str, float]:
    """The samples of psf_infra_run_<name>.prom: 'metric{labels}' -> value."""
    text = (project["metrics"] / f"psf_infra_run_{name}.prom").read_text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def sample(values: dict[str, float], metric: str, **labels: str) -> float:
    for key, value in values.items():
        name, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if name == f"psf_infra_run_{metric}" and all(found.get(k) == v for k, v in labels.items()):
            return value
    raise KeyError(f"{metric} {labels} not in {sorted(values)}")


# --- exit codes ----------------------------------------------------------------------------------

def test_exit_codes_tell_the_outcomes_apart(project, tmp_path):
    drift = run(project, "good", "--check")
    assert drift.returncode == 5, drift.stdout + drift.stderr
    assert "result: drift (exit 5)" in drift.stdout
    assert not project["marker"].exists(), "check mode changed something"

    assert run(project, "good").returncode == 0
    no_drift = run(project, "good", "--check")
    assert no_drift.returncode == 0, no_drift.stdout
    assert "result: ok (exit 0)" in no_drift.stdout

    failed = run(project, "bad")
    assert failed.returncode == 1
    assert "localhost: FAILED" in failed.stdout and "Refuse: the reason a person can act on" in failed.stdout

    unreachable = run(project, "unreachable")
    assert unreachable.returncode == 4, unreachable.stdout + unreachable.stderr
    assert re.search(r"^psf-infra:   gone\.example: UNREACHABLE .* -- Ping a host that is not there: ",
                     unreachable.stdout, re.MULTILINE), unreachable.stdout

    inventory = tmp_path / "registry"
    shutil.copytree(REGISTRY_FIXTURE, inventory)
    tenant_file = inventory / "tenants" / "packaging.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["services"]["vms"][0]["size"] = "huge"
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    project["marker"].unlink()
    invalid = run(project, "good", inventory=inventory)
    assert invalid.returncode == 3, invalid.stdout + invalid.stderr
    assert f"{tenant_file}: tenant 'packaging': services.vms[0].size" in invalid.stdout
    assert not project["marker"].exists()
    assert last_summary(project)["result"] == "invalid_registry"


def test_help_documents_the_exit_codes():
    for args in (["--help"], ["run", "--help"]):
        text = psf_infra(*args).stdout
        for code in ("0", "1", "2", "3", "4", "5", "75", "124"):
            assert re.search(rf"^  {code} +\S", text, re.MULTILINE), (args, code, text)


# --- timeout -------------------------------------------------------------------------------------

def test_timeout_stops_the_task_and_its_processes(project):
    """ansible-runner's own timeout SIGKILLs ansible-playbook's group and leaves the task running
    (workers have process groups of their own); psf-infra's must not."""
    marker = f"{random.randint(100, 999)}.{random.randint(100, 999)}"
    slow = playbook(project["tmp"] / "slow.yml", f"""\
        - name: Wait far too long
          ansible.builtin.command: sleep {marker}
          changed_when: false
        """)
    started = time.monotonic()
    # long enough for ansible-playbook to reach the task on a loaded machine
    result = run(project, slow, "--timeout", "15s", "--cron")
    elapsed = time.monotonic() - started
    try:
        assert result.returncode == 124, result.stdout + result.stderr
        assert elapsed < 60, f"took {elapsed:.1f}s to stop"
        assert "stopped after the --timeout of 15s" in result.stdout
        assert "localhost: STOPPED" in result.stdout and "Wait far too long: stopped by the --timeout" in result.stdout
        assert last_summary(project)["result"] == "timeout"
        values = metrics(project, "slow")
        assert sample(values, "last_result", result="timeout") == 1
        assert sample(values, "last_exit_code") == 124
    finally:
        left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False)
        for pid in left.stdout.split():
            os.kill(int(pid), 9)
    assert left.stdout == "", f"the task outlived the timeout: {left.stdout}"


# --- locks and private data directories ----------------------------------------------------------

def test_lock_per_playbook_set_and_a_private_directory_per_run(project):
    tmp = project["tmp"]
    dns = playbook(tmp / "dns.yml", """\
        - name: Take a while
          ansible.builtin.command: sleep 12
          changed_when: false
        """)
    certificates = playbook(tmp / "certificates.yml", """\
        - name: Quick
          ansible.builtin.debug:
            msg: done
        """)
    site = tmp / "site.yml"
    site.write_text("- name: DNS\n  ansible.builtin.import_playbook: dns.yml\n"
                    "- name: Certificates\n  ansible.builtin.import_playbook: certificates.yml\n")
    first = subprocess.Popen([*PSF_INFRA, "run", str(dns), "-i", str(project["inventory"]), "--artifacts",
                              str(project["artifacts"]), "--quiet"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lock = project["artifacts"] / ".locks" / "dns.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took its lock"
            time.sleep(0.1)
        while not (running_dirs := list(project["artifacts"].glob("*-dns-*/.private-*"))):
            assert time.monotonic() < deadline and first.poll() is None, "no private data directory"
            time.sleep(0.1)
        assert len(running_dirs) == 1, running_dirs

        second = run(project, dns)
        assert second.returncode == 75, second.stdout + second.stderr
        assert f"another run (pid {first.pid}) holds the lock of playbook 'dns'" in second.stderr
        whole = run(project, site)  # site imports dns: it must wait for it too
        assert whole.returncode == 75, whole.stdout + whole.stderr

        other = run(project, certificates)
        assert other.returncode == 0, other.stdout + other.stderr
        assert first.poll() is None, "certificates ran while dns held its lock: the test proves nothing"
        other_summary = last_summary(project)
        assert not Path(other_summary["run_dir"], ".private-").exists()
        assert other_summary["run_dir"] != str(running_dirs[0].parent)
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert list(project["artifacts"].glob("*/.private-*")) == [], "private data directories are left behind"
    assert len(list(project["artifacts"].glob("*-dns-*"))) == 1, "the skipped dns run made a run directory"
    assert not (project["metrics"]).exists() or not list(project["metrics"].glob("*dns*"))


# --- metrics -------------------------------------------------------------------------------------

def test_metrics_of_the_last_run_count_failures_until_a_success(project, tmp_path):
    flaky = tmp_path / "flaky.yml"
    shutil.copy(project["bad"], flaky)
    start = time.time()
    assert run(project, flaky).returncode == 1
    assert run(project, flaky).returncode == 1
    values = metrics(project, "flaky")
    labels = {"playbook": "flaky", "mode": "apply"}
    assert sample(values, "consecutive_failures", **labels) == 2
    assert sample(values, "last_success_timestamp_seconds", **labels) == 0
    assert sample(values, "last_result", result="failed", **labels) == 1
    assert sample(values, "last_result", result="ok", **labels) == 0
    assert start <= sample(values, "last_start_timestamp_seconds", **labels) <= time.time()
    assert sample(values, "stale_after_seconds", **labels) == 26 * 3600

    shutil.copy(project["good"], flaky)
    assert run(project, flaky, "--stale-after", "2h").returncode == 0
    values = metrics(project, "flaky")
    assert sample(values, "consecutive_failures") == 0
    assert sample(values, "last_changed") == 1
    assert sample(values, "last_result", result="changed") == 1
    assert sample(values, "last_success_timestamp_seconds") == sample(values, "last_start_timestamp_seconds")
    assert sample(values, "stale_after_seconds") == 7200
    assert 0 < sample(values, "last_duration_seconds") < 120

    assert run(project, flaky, "--check").returncode == 0  # check mode has a file of its own
    assert sample(metrics(project, "flaky_check"), "last_result", mode="check", result="ok") == 1
    # written atomically: no temporary file is left beside them
    assert sorted(p.name for p in project["metrics"].iterdir()) == ["psf_infra_run_flaky.prom",
                                                                    "psf_infra_run_flaky_check.prom"]
    assert PROMTOOL is not None, "promtool not found: install lab/apt-packages.txt (Debian package prometheus)"
    for path in project["metrics"].iterdir():
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=path.read_text(), capture_output=True,
                                 text=True, check=False, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- heartbeat and mail --------------------------------------------------------------------------

class Pings(BaseHTTPRequestHandler):
    received: list[tuple[str, str, str]]

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.command, self.path, self.rfile.read(length).decode()))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def heartbeat():
    received: list[tuple[str, str, str]] = []
    handler = type("Handler", (Pings,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/job-uuid", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], str]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", handler.messages
    finally:
        controller.stop()


def test_heartbeat_pings_start_then_success_or_fail(project, heartbeat):
    url, received = heartbeat
    assert run(project, "good", "--heartbeat-url", url, "--cron").returncode == 0
    assert [(method, path) for method, path, _ in received] == [("GET", "/ping/job-uuid/start"),
                                                                ("POST", "/ping/job-uuid")]
    assert "result: changed (exit 0)" in received[1][2]

    received.clear()
    assert run(project, "bad", "--heartbeat-url", url, "--cron").returncode == 1
    assert [(method, path) for method, path, _ in received] == [("GET", "/ping/job-uuid/start"),
                                                                ("POST", "/ping/job-uuid/fail")]
    assert "Refuse: the reason a person can act on" in received[1][2]

    received.clear()
    (project["artifacts"] / ".locks").mkdir(parents=True, exist_ok=True)
    with open(project["artifacts"] / ".locks" / "good.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run(project, "good", "--heartbeat-url", url).returncode == 75
    assert received == [], "a run that skipped for the lock pinged: the holder pings"


def test_heartbeat_service_down_does_not_change_the_result(project):
    dead = f"http://127.0.0.1:{free_port()}/ping/x"
    result = run(project, "good", "--heartbeat-url", dead)
    assert result.returncode == 0
    assert f"heartbeat {dead}/start failed" in result.stderr


def test_report_mail_when_something_changed_or_failed_and_only_then(project, mailbox):
    smtp, messages = mailbox
    mail = ("--mail-to", "infra-staff@example.org", "--mail-from", "psf-infra@example.org", "--smtp", smtp,
            "--vault-password-file", str(project["vault"]), "--cron")
    assert run(project, "good", *mail).returncode == 0  # changed: mailed
    assert run(project, "good", *mail).returncode == 0  # nothing changed: silent
    assert run(project, "bad", *mail).returncode == 1  # failed: mailed
    assert [rcpt for rcpt, _ in messages] == [["infra-staff@example.org"]] * 2
    changed, failed = (mail_text(content) for _, content in messages)
    assert re.search(r"^Subject: psf-infra good: changed on ", changed, re.MULTILINE), changed
    assert "localhost: changed ok=1 changed=1" in changed
    assert re.search(r"^Subject: psf-infra bad: failed on ", failed, re.MULTILINE), failed
    assert "localhost: FAILED" in failed and "the reason a person can act on" in failed
    for _, content in messages:
        assert SECRET not in content and VAULT_PASSWORD not in content


def test_mail_relay_down_does_not_change_the_result(project):
    result = run(project, "bad", "--mail-to", "staff@example.org", "--smtp", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "mail to staff@example.org through 127.0.0.1:" in result.stderr


def mail_text(raw: str) -> str:
    """Headers and the decoded body (the report is sent quoted-printable)."""
    message = email.message_from_string(raw, policy=email.policy.default)
    headers = "".join(f"{name}: {value}\n" for name, value in message.items())
    return headers + message.get_content()


# --- secrets -------------------------------------------------------------------------------------

def test_no_secret_in_artifacts_summaries_or_output(project):
    env = {"PSF_REGISTRAR_TOKEN": SECRET + "-token"}  # what a cron job might export
    outputs = []
    for book in ("good", "bad", "good"):
        result = run(project, book, "--vault-password-file", str(project["vault"]), "--diff", env=env)
        outputs.append(result.stdout + result.stderr)
    files = [p for p in project["artifacts"].rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files) and any(p.parent.name == "job_events" for p in files)
    for secret in (SECRET, VAULT_PASSWORD):
        leaked = [str(p) for p in files if secret in p.read_text(errors="replace")]
        assert leaked == [], f"{secret[:6]}... in {leaked}"
        assert not any(secret in output for output in outputs)
    command = json.loads(next(p for p in files if p.name == "command").read_text())
    assert command["env"]["PSF_REGISTRAR_TOKEN"] == "********"
    assert not [p for p in project["artifacts"].rglob("*") if p.name in {"env", "fact_cache", "ssh_key_data"}]
