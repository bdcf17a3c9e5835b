"""The pure decisions of the backup programs, without containers (run by the verify step too)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[3] / "roles"


def load_program(path: Path):
    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


maintain = load_program(ROLES / "backup_server/files/psf-borg-maintain")
restore_check = load_program(ROLES / "backup_client/files/psf-backup-restore-check")


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
