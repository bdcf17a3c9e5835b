"""`psf-infra run`'s pure parts: results and exit codes, the per-host report, locks of a playbook set,
run rotation, the hidden environment, the textfile metrics and the alert rules that read them."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_alert_rules import RULES_NAME, render_rules, run_promtool

from psf_infra_runner import cli, execution, metrics
from psf_infra_runner.outcome import (
    EXIT_CODES,
    RESULTS,
    HostProblem,
    PlaybookResult,
    RunSummary,
    write_atomically,
)

ROOT = Path(__file__).resolve().parents[2]
RUNNER_SUITE = ROOT / "roles" / "monitoring_server" / "files" / "tests" / "runner.yml"


def result(stats: dict[str, dict[str, int]] | None = None, **fields) -> PlaybookResult:
    base = {"playbook": "playbooks/dns.yml", "status": "successful", "rc": 0, "seconds": 2.5, "started": 1.7e9}
    return PlaybookResult(**{**base, **fields}, stats=stats or {})


def stats(**counters: dict[str, int]) -> dict[str, dict[str, int]]:
    return {name: counters.get(name, {}) for name in ("ok", "changed", "dark", "failures", "skipped")}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"stats": stats(ok={"ns1": 3})}, "ok"),
    ({"stats": stats(ok={"ns1": 3}, changed={"ns1": 1})}, "changed"),
    ({"stats": stats(ok={"ns1": 3}, changed={"ns1": 1}), "check": True}, "drift"),
    ({"stats": stats(dark={"ns2": 1}, ok={"ns1": 2}), "status": "failed", "rc": 4}, "unreachable"),
    ({"stats": stats(dark={"ns2": 1}, failures={"ns1": 1}), "status": "failed", "rc": 2}, "failed"),
    ({"status": "failed", "rc": 4}, "failed"),  # a syntax error: no recap at all
    ({"status": "failed", "rc": 1, "invalid_registry": "tenants/x.yml: tenant 'x': zones"}, "invalid_registry"),
    ({"stats": stats(failures={"ns1": 1}), "status": "failed", "rc": 99, "timed_out": True}, "timeout"),
])
def test_a_playbook_result_and_its_exit_code(fields, expected):
    found = result(**fields)
    assert found.result == expected
    summary = RunSummary.build(run_id="r", playbooks=["dns"], started=0, seconds=1, check=found.check,
                               run_dir="/runs/r", results=[found], not_run=[], timeout_seconds=None)
    assert (summary.result, summary.exit_code) == (expected, EXIT_CODES[expected])


def test_the_run_takes_the_worst_result_and_one_line_per_host():
    dns = result(stats(ok={"ns1": 4, "localhost": 2}, changed={"ns1": 1}))
    certificates = result(stats(ok={"localhost": 1}, failures={"localhost": 1}), playbook="playbooks/certificates.yml",
                          status="failed", rc=2,
                          problems={"localhost": HostProblem("playbooks/certificates.yml", "Issue", "CA said no")})
    summary = RunSummary.build(run_id="r", playbooks=["dns", "certificates", "site"], started=0, seconds=9.04,
                               check=False, run_dir="/runs/r", results=[dns, certificates],
                               not_run=["playbooks/site.yml"], timeout_seconds=None)
    assert (summary.result, summary.exit_code) == ("failed", 1)
    assert summary.host_lines() == [
        "localhost: FAILED ok=3 changed=0 unreachable=0 failed=1 skipped=0 -- Issue: CA said no",
        "ns1: changed ok=4 changed=1 unreachable=0 failed=0 skipped=0",
    ]
    lines = summary.report_lines()
    assert lines[0] == "playbooks/dns.yml: changed (ok=6 changed=1 unreachable=0 failed=0 skipped=0) in 2.5s"
    assert "not run: playbooks/site.yml" in lines
    assert lines[-1] == "result: failed (exit 1) in 9.0s; summary /runs/r/summary.json"
    data = json.loads(json.dumps(summary.to_json()))
    assert data["hosts"]["localhost"]["failed"] == 1 and data["results"][1]["result"] == "failed"


def test_a_run_told_to_stop_is_not_a_success():
    summary = RunSummary.build(run_id="r", playbooks=["dns"], started=0, seconds=1, check=False, run_dir="/r",
                               results=[], not_run=["playbooks/dns.yml"], timeout_seconds=None, interrupted=True)
    assert (summary.result, summary.exit_code) == ("failed", 1)


def test_results_are_ordered_worst_first_and_all_have_an_exit_code():
    assert set(RESULTS) == set(EXIT_CODES)
    assert RESULTS[0] == "timeout" and RESULTS[-1] == "ok"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200),
                                               ("1.5h", 5400), ("1d", 86400)])
def test_durations(text, seconds):
    assert cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "2w", "soon"])
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        cli.parse_duration(text)


def test_site_takes_the_lock_of_every_playbook_it_imports():
    site = ROOT / "playbooks" / "site.yml"
    imported = {entry["ansible.builtin.import_playbook"] for entry in yaml.safe_load(site.read_text())}
    # ... and the playbooks those import: dns.yml imports vm-dns.yml (DNS for VMs, its last play).
    assert cli.lock_names([site]) == sorted({"site", "vm-dns"} | {Path(name).stem for name in imported})
    assert {"dns", "certificates"} <= set(cli.lock_names([site]))
    assert cli.lock_names([ROOT / "playbooks" / "dns.yml"]) == ["dns", "vm-dns"]
    assert cli.lock_names([ROOT / "playbooks" / "certificates.yml"]) == ["certificates"]


def test_locks_are_all_or_none(tmp_path):
    with cli.playbook_locks(tmp_path, ["dns"]):
        with pytest.raises(cli.Locked) as held, cli.playbook_locks(tmp_path, ["certificates", "dns"]):
            pass
        assert held.value.name == "dns"
        with cli.playbook_locks(tmp_path, ["certificates"]):  # released by the refused attempt
            pass


def test_rotation_keeps_the_last_runs_of_each_set(tmp_path):
    names = [f"2026120{day}T040000-{name}-abcd{day}fgh" for day in range(1, 6) for name in ("dns", "lab-vms", "vms")]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / ".locks").mkdir()
    cli.rotate(tmp_path, "vms", keep=2)
    left = sorted(path.name for path in tmp_path.iterdir())
    assert [n for n in left if n.endswith(tuple(f"-vms-abcd{d}fgh" for d in range(6)))
            and "-lab-" not in n] == [names[11], names[14]]
    assert sum("-lab-vms-" in n for n in left) == 5 and sum("-dns-" in n for n in left) == 5


def test_the_command_artifact_keeps_variable_names_but_hides_values(tmp_path):
    (tmp_path / "command").write_text(json.dumps({"command": ["ansible-playbook"], "cwd": "/srv",
                                                  "env": {"PATH": "/usr/bin", "REGISTRAR_TOKEN": "t0k3n"}}))
    execution.hide_environment(str(tmp_path))
    assert json.loads((tmp_path / "command").read_text())["env"] == {"PATH": "/usr/bin", "REGISTRAR_TOKEN": "********"}


def test_the_vault_password_is_redacted_from_reports(tmp_path):
    password = tmp_path / "vault-pass"
    password.write_text("hunter2-but-longer\n")
    args = argparse.Namespace(vault_password_file=str(password))
    assert cli.redact("msg: hunter2-but-longer failed", cli.secrets_of(args)) == "msg: ******** failed"
    password.chmod(0o700)  # an executable prints the password: not read
    assert cli.secrets_of(args) == []


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    write_atomically(tmp_path / "x.prom", "a 1\n")
    write_atomically(tmp_path / "x.prom", "a 2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]
    assert (tmp_path / "x.prom").read_text() == "a 2\n"


# --- metrics and the rules that read them -------------------------------------------------------

def test_metrics_are_valid_exposition_format_and_carry_the_last_success(tmp_path):
    good = result(stats(ok={"ns1": 2}, changed={"ns1": 1}), started=1000.0)
    path = metrics.write(tmp_path, good, 7200)
    failed = result(stats(failures={"ns1": 1}), status="failed", rc=2, started=2000.0)
    metrics.write(tmp_path, failed, 7200)
    metrics.write(tmp_path, failed, 7200)
    text = path.read_text()
    assert path.name == "psf_infra_run_dns.prom"
    assert 'psf_infra_run_consecutive_failures{playbook="dns",mode="apply"} 2\n' in text
    assert 'psf_infra_run_last_success_timestamp_seconds{playbook="dns",mode="apply"} 1000.000\n' in text
    assert 'psf_infra_run_last_start_timestamp_seconds{playbook="dns",mode="apply"} 2000.000\n' in text
    assert 'psf_infra_run_last_result{playbook="dns",mode="apply",result="failed"} 1\n' in text
    assert 'psf_infra_run_last_exit_code{playbook="dns",mode="apply"} 1\n' in text
    assert 'psf_infra_run_last_failed_hosts{playbook="dns",mode="apply"} 1\n' in text
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool not found: install lab/apt-packages.txt (Debian package prometheus)"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             check=False, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_runner_alerts_read_metrics_the_runner_writes(tmp_path):
    rules = yaml.safe_load(render_rules())
    group = next(g for g in rules["groups"] if g["name"] == "psf-runner")
    read = {name for rule in group["rules"] for name in re.findall(r"psf_infra_run_\w+", rule["expr"])}
    written = set(re.findall(r"^(psf_infra_run_\w+)\{", metrics.render(result(), 3600, {}), re.MULTILINE))
    assert read and read <= written, read - written
    assert {rule["alert"] for rule in group["rules"]} == {"PsfInfraRunMissing", "PsfInfraRunFailing"}


def test_the_runner_suite_follows_the_failure_threshold(tmp_path):
    """The suite is written for the default (2 in a row): with 3 it must fail."""
    shutil.copy(RUNNER_SUITE, tmp_path / RUNNER_SUITE.name)
    (tmp_path / RULES_NAME).write_text(render_rules())
    assert run_promtool("test", "rules", RUNNER_SUITE.name, cwd=tmp_path).returncode == 0
    (tmp_path / RULES_NAME).write_text(render_rules({"monitoring_server_alert_runner_failures": 3}))
    changed = run_promtool("test", "rules", RUNNER_SUITE.name, cwd=tmp_path)
    assert changed.returncode != 0
    assert "PsfInfraRunFailing" in changed.stdout + changed.stderr
