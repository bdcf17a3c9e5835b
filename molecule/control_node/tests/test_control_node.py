"""The control node: psf-infra installed, the vault password file guarded, a timer per job, and a
job started the way its timer starts it does its work (metrics, artifacts, drift report)."""

from __future__ import annotations

import json

JOB_USER = "psf-infra"
HOME = "/var/lib/psf-infra"


def unit_property(host, unit: str, name: str) -> str:
    return host.check_output(f"systemctl show -p {name} --value {unit}").strip()


def test_psf_infra_runs_from_its_virtualenv(host):
    out = host.run(f"runuser -u {JOB_USER} -- /usr/local/bin/psf-infra --help")
    assert out.rc == 0, out.stderr
    assert "exit codes of `psf-infra run`" in out.stdout
    version = host.run("/srv/psf-infra/.venv/bin/ansible-playbook --version")
    assert version.rc == 0 and "core 2.19" in version.stdout, version.stdout + version.stderr


def test_vault_password_file_is_the_job_users_alone(host):
    vault = host.file("/etc/psf-infra/vault-pass")
    assert vault.user == JOB_USER and vault.group == JOB_USER and vault.mode == 0o400
    assert host.file("/etc/psf-infra").mode == 0o750


def test_every_job_has_an_enabled_timer(host):
    calendars = {"reconcile": "2199-01-01 00:17:00", "drift": "2199-01-01 02:47:00", "status": "2199-01-01 00:00:00"}
    for job, calendar in calendars.items():
        timer = host.service(f"psf-infra-{job}.timer")
        assert timer.is_enabled and timer.is_running, job
        # the scenario's calendar (converge.yml: no timer fires while the tests start the jobs)
        assert f"OnCalendar={calendar}" in unit_property(host, f"psf-infra-{job}.timer", "TimersCalendar"), job
        assert unit_property(host, f"psf-infra-{job}.service", "User") == JOB_USER


def test_drift_job_reports_then_reconcile_fixes_and_drift_is_gone(host):
    host.run(f"rm -f {HOME}/marker")
    # what the timer does: start the service (a oneshot: systemctl waits until it has run)
    drift = host.run("systemctl start psf-infra-drift.service")
    assert drift.rc == 0, drift.stderr
    assert unit_property(host, "psf-infra-drift.service", "ExecMainStatus") == "5"  # drift, not a failure
    report = json.loads(host.file(f"{HOME}/status/drift/drift.json").content_string)
    assert report["drifted"] == ["infra"], report
    assert not host.file(f"{HOME}/marker").exists  # check mode changed nothing

    reconcile = host.run("systemctl start psf-infra-reconcile.service")
    assert reconcile.rc == 0, reconcile.stderr + host.check_output(
        "journalctl -u psf-infra-reconcile.service --no-pager -n 40")
    assert unit_property(host, "psf-infra-reconcile.service", "ExecMainStatus") == "0"
    assert host.file(f"{HOME}/marker").content_string == "reconciled\n"
    metrics = host.file("/var/lib/prometheus/node-exporter/psf_infra_run_marker.prom")
    assert metrics.user == JOB_USER
    assert 'psf_infra_run_last_result{playbook="marker",mode="apply",result="changed"} 1' in metrics.content_string
    last = json.loads(host.file(f"{HOME}/runs/last-run.json").content_string)
    assert last["result"] == "changed" and last["exit_code"] == 0

    again = host.run("systemctl start psf-infra-drift.service")
    assert again.rc == 0 and unit_property(host, "psf-infra-drift.service", "ExecMainStatus") == "0"
    assert json.loads(host.file(f"{HOME}/status/drift/drift.json").content_string)["drifted"] == []


def test_status_job_reads_the_vaulted_inventory_and_writes_the_page_and_its_metrics(host):
    # Like production, a variable of the inventory in a vault: the job reads it with the password file.
    vars_file = "/etc/psf-infra-test/group_vars/all.yml"
    prepared = host.run(f"mkdir -p -m 0755 /etc/psf-infra-test/group_vars && "
                        f"printf 'psf_registry_env: molecule-vaulted\\n' > {vars_file} && "
                        "/srv/psf-infra/.venv/bin/ansible-vault encrypt "
                        f"--vault-password-file /etc/psf-infra/vault-pass {vars_file} && "
                        f"chmod 0644 {vars_file}")  # ansible-vault writes it 0600; the job user reads it
    assert prepared.rc == 0, prepared.stderr
    try:
        assert host.file(vars_file).content_string.startswith("$ANSIBLE_VAULT;")
        started = host.run("systemctl start psf-infra-status.service")
        assert started.rc == 0, started.stderr + host.check_output(
            "journalctl -u psf-infra-status.service --no-pager -n 40")
        assert unit_property(host, "psf-infra-status.service", "ExecMainStatus") == "0"
        page = json.loads(host.file(f"{HOME}/status/status.json").content_string)
        assert page["env"] == "molecule-vaulted" and page["tenants"] == []
        assert host.file(f"{HOME}/status/index.html").user == JOB_USER
        assert host.file(f"{HOME}/status/drift/drift.json").exists  # the drift report beside it is kept
        metrics = host.file("/var/lib/prometheus/node-exporter/psf_infra_run_status.prom").content_string
        assert 'psf_infra_run_last_result{playbook="status",mode="apply",result="ok"} 1' in metrics
        assert 'psf_infra_run_stale_after_seconds{playbook="status",mode="apply"} 3600' in metrics
    finally:
        host.run("rm -rf /etc/psf-infra-test/group_vars")


def test_no_secret_in_the_artifacts_or_the_journal(host):
    # the runs' artifacts, the drift report, Ansible's temporary files (the checkout holds this test)
    found = host.run(f"grep -rl molecule-vault-password-not-secret {HOME}")
    assert found.stdout == "", found.stdout
    journal = host.run("journalctl --no-pager -u 'psf-infra-*'")
    assert "molecule-vault-password-not-secret" not in journal.stdout
