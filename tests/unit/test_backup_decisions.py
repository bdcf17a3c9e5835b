"""The pure decisions of the backup programs and the backup_server role's filters, without containers.

(Moved from molecule/backup/tests/, where only the Molecule verify step ran them.)
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load_program(path: Path):
    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


maintain = load_program(ROLES / "backup_server/files/psf-borg-maintain")
restore_check = load_program(ROLES / "backup_client/files/psf-backup-restore-check")
server_filters = load_program(ROLES / "backup_server/filter_plugins/psf_backup.py")
DAY = 86400


def test_vanished_archives_are_those_of_the_baseline_missing_now():
    assert maintain.vanished_archives(["a", "b", "c"], ["b", "c", "d"]) == ["a"]
    assert maintain.vanished_archives(["a"], ["a", "b"]) == []


def test_no_baseline_means_nothing_vanished():
    assert maintain.vanished_archives(None, []) == []


def test_prune_arguments_skip_disabled_rules():
    retention = {"last": 0, "hourly": 0, "daily": 7, "weekly": 4, "monthly": 0, "yearly": 0}
    assert maintain.prune_arguments(retention) == ["--keep-daily=7", "--keep-weekly=4"]


def test_a_retention_without_any_rule_is_refused():
    with pytest.raises(maintain.MaintenanceError, match="delete every archive"):
        maintain.prune_arguments(dict.fromkeys(maintain.RETENTION_RULES, 0))


def test_overrides_replace_only_the_rules_they_name():
    config = maintain.Config(
        user="borg",
        home=Path("/srv/borg"),
        repos_dir=Path("/srv/borg/repos"),
        passphrases_dir=Path("/etc/psf-borg/passphrases"),
        state_dir=Path("/var/lib/psf-borg"),
        metrics_file=Path("/var/lib/prometheus/node-exporter/backup_server.prom"),
        compact=True,
        lock_wait=1,
        retention={"last": 0, "hourly": 0, "daily": 7, "weekly": 4, "monthly": 6, "yearly": 0},
        retention_overrides={"db1.packaging": {"daily": 14}},
    )
    assert maintain.retention_for(config, "db1.packaging")["daily"] == 14
    assert maintain.retention_for(config, "db1.packaging")["monthly"] == 6
    assert maintain.retention_for(config, "web1.packaging")["daily"] == 7


def test_rollback_targets_start_at_the_last_maintenance_run():
    logged = [5, 9, 13, 29, 33]
    # Maintenance compacted at 25 (not logged: only append-only access logs), then the client wrote
    # 29 (a backup) and 33 (a deletion): 25 and 29 are states to go back to, 33 is the present.
    assert maintain.rollback_targets(logged, 25, 33) == [25, 29]


def test_rollback_targets_without_a_maintenance_run_are_the_logged_transactions():
    assert maintain.rollback_targets([5, 9, 13], None, 13) == [5, 9]


def test_nothing_to_roll_back_when_nothing_happened_since_the_maintenance_run():
    assert maintain.rollback_targets([5, 9], 25, 25) == []


def test_logged_transactions_are_read_from_borgs_log():
    text = "transaction 5, UTC time 2026-11-21T15:24:50.295973\ntransaction 9, UTC time 2026-11-21T15:28:53\n"
    assert maintain.logged_transactions(text) == [5, 9]


def test_metrics_name_each_repository():
    text = maintain.metrics_text({"web1.packaging": {"last_success": 1700000000.4, "archives": ["a", "b"]}})
    assert 'psf_backup_server_repository_tampered{repository="web1.packaging"} 0' in text
    assert 'psf_backup_server_archives{repository="web1.packaging"} 2' in text
    assert (
        'psf_backup_server_maintenance_last_success_timestamp_seconds{repository="web1.packaging"} 1700000000' in text
    )


def test_a_file_unchanged_since_the_archive_is_a_drill_candidate(tmp_path):
    live = tmp_path / "etc" / "hostname"
    live.parent.mkdir()
    live.write_text("web1\n")
    os.utime(live, ns=(1_700_000_000_123_456_000, 1_700_000_000_123_456_000))
    archived = restore_check.ArchivedFile("etc/hostname", 1_700_000_000_123_456, 5)
    archive_start = 1_700_000_100_000_000
    assert restore_check.unchanged_since(archived, archive_start, live_root=tmp_path)

    changed_size = restore_check.ArchivedFile("etc/hostname", 1_700_000_000_123_456, 6)
    assert not restore_check.unchanged_since(changed_size, archive_start, live_root=tmp_path)
    changed_mtime = restore_check.ArchivedFile("etc/hostname", 1_700_000_000_100_000, 5)
    assert not restore_check.unchanged_since(changed_mtime, archive_start, live_root=tmp_path)
    assert not restore_check.unchanged_since(archived, 1_700_000_000_000_000, live_root=tmp_path)


def test_a_missing_live_file_is_not_a_candidate(tmp_path):
    archived = restore_check.ArchivedFile("etc/gone", 1_700_000_000_000_000, 5)
    assert not restore_check.unchanged_since(archived, 1_800_000_000_000_000, live_root=tmp_path)


def test_borg_times_are_read_as_local_time_with_microseconds():
    from datetime import datetime

    moment = datetime(2026, 11, 21, 15, 24, 50, 295973).astimezone()
    assert restore_check.epoch_us("2026-11-21T15:24:50.295973") == round(moment.timestamp() * 1_000_000)


def test_the_clients_of_a_server_are_the_repository_names_of_its_backup_clients():
    hostvars = {
        "web1.packaging": {},
        "db1.packaging": {"backup_client_repository_name": "db1-renamed"},
        "web1.pyladies": {"backup_client_server_host": "backup2"},
    }
    hosts = ["web1.packaging", "db1.packaging", "web1.pyladies"]
    assert server_filters.clients(hosts, hostvars, "backup1", "backup1") == ["db1-renamed", "web1.packaging"]
    assert server_filters.clients(hosts, hostvars, "backup2", "backup1") == ["web1.pyladies"]


def test_key_names_read_the_comment_of_each_psf_backup_line():
    text = (
        'command="borg serve --append-only --restrict-to-repository /srv/borg/repos/web1.packaging",restrict '
        "ssh-ed25519 AAAA psf-backup:web1.packaging\n"
        "# command=... ssh-ed25519 BBBB psf-backup:db1.packaging\n"
        "ssh-ed25519 CCCC staff@laptop\n"
    )
    assert server_filters.key_names(text) == ["db1.packaging", "web1.packaging"]
    assert maintain.key_names(text) == {"db1.packaging", "web1.packaging"}


def test_a_vm_that_left_is_revoked_and_marked_but_its_data_is_in_no_deletion_list():
    plan = server_filters.plan(
        wanted=["web1.packaging"],
        keys=["web1.packaging", "web2.packaging"],
        repositories=["web1.packaging", "web2.packaging", "old.sprints", "lost+found"],
        passphrases=["web1.packaging", "web2.packaging", "old.sprints"],
        markers=[],
    )
    assert plan == {
        "revoke": ["web2.packaging"],
        "retire": ["old.sprints", "web2.packaging"],
        "returned": [],
        "retired": ["old.sprints", "web2.packaging"],
    }


def test_a_marked_vm_is_not_marked_again_and_a_returning_vm_loses_its_mark():
    plan = server_filters.plan(
        wanted=["web1.packaging", "web2.packaging"],
        keys=["web1.packaging"],
        repositories=["web1.packaging", "web2.packaging", "old.sprints"],
        markers=["web2.packaging", "old.sprints"],
    )
    assert plan == {"revoke": [], "retire": [], "returned": ["web2.packaging"], "retired": ["old.sprints"]}


def test_a_new_vm_without_key_or_repository_changes_nothing():
    assert server_filters.plan(wanted=["new.vm"], keys=[]) == {
        "revoke": [],
        "retire": [],
        "returned": [],
        "retired": [],
    }


def test_marker_names_and_expired_markers():
    assert server_filters.marker_names(["/var/lib/psf-borg/web2.backup.retired", "/x/web1.json"]) == ["web2.backup"]
    now = 1_800_000_000
    markers = [
        {"repository": "a", "retired_at": "then", "retired_epoch": now - 200 * DAY},
        {"repository": "b", "retired_at": "lately", "retired_epoch": now - 10 * DAY},
    ]
    assert server_filters.expired(markers, now, 180) == [{"repository": "a", "retired_at": "then", "days": 200}]


def test_purge_only_a_retired_vm_without_key_after_its_retention():
    now = 1_800_000_000
    old = {"retired_at": "2026-01-01T00:00:00Z", "retired_epoch": now - 200 * DAY}
    recent = {"retired_at": "2026-07-01T00:00:00Z", "retired_epoch": now - 10 * DAY}
    assert "not retired" in maintain.purge_refusal("web1", None, False, now, 180)
    assert "key line" in maintain.purge_refusal("web1", old, True, now, 180)
    assert "kept for 180 days" in maintain.purge_refusal("web1", recent, False, now, 180)
    assert maintain.purge_refusal("web1", recent, False, now, 180, force=True) is None
    assert maintain.purge_refusal("web1", old, False, now, 180) is None
    assert "key line" in maintain.purge_refusal("web1", old, True, now, 180, force=True)


def test_metrics_report_retired_repositories_and_their_retention():
    now = 1_800_000_000
    text = maintain.metrics_text(
        {"web2.backup": {"archives": ["a"]}}, {"web2.backup": {"retired_epoch": now - 181 * DAY}}, now, 180
    )
    assert (
        f'psf_backup_server_repository_retired_timestamp_seconds{{repository="web2.backup"}} {now - 181 * DAY}' in text
    )
    assert 'psf_backup_server_repository_retention_expired{repository="web2.backup"} 1' in text
    assert "retired" not in maintain.metrics_text({"web1.backup": {}})


def test_the_program_and_the_role_filters_apply_one_borg_policy():
    policy = server_filters.policy
    assert Path(policy.__file__).resolve() == ROLES / "backup_server/files/psf_borg_policy.py"
    assert maintain.key_names is policy.key_names
    assert maintain.prune_arguments is policy.prune_arguments
    assert maintain.purge_refusal is policy.purge_refusal
    assert maintain.retention_expired is policy.retention_expired
    assert maintain.MaintenanceError is policy.MaintenanceError


def test_the_role_installs_the_policy_beside_the_program(tmp_path):
    tasks = yaml.safe_load((ROLES / "backup_server/tasks/main.yml").read_text())
    copies = {Path(task["ansible.builtin.copy"]["src"]).name: task["ansible.builtin.copy"]
              for task in tasks if "ansible.builtin.copy" in task and "src" in task["ansible.builtin.copy"]}
    program, policy = copies["psf-borg-maintain"], copies["psf_borg_policy.py"]
    assert Path(policy["dest"]).parent == Path(program["dest"]).parent
    assert Path(policy["dest"]).name == "psf_borg_policy.py"

    # as installed: the two files alone in one directory, run by the system's Python without the checkout
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    shutil.copy2(ROLES / "backup_server/files/psf-borg-maintain", sbin / "psf-borg-maintain")
    shutil.copy2(ROLES / "backup_server/files/psf_borg_policy.py", sbin / "psf_borg_policy.py")
    result = subprocess.run([sys.executable, "-I", str(sbin / "psf-borg-maintain"), "retired", "--help"],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (sbin / "__pycache__").exists()
