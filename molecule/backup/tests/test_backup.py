"""Behaviour of the backup roles: two containers, the borg server and one VM.

The tests run in file order and build on each other (a backup, then retention, then an attack by
the client and its repair), like an operator's day.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
import testinfra

SERVER = "podman://psf-molecule-backup-server"
CLIENT = "podman://psf-molecule-backup-client"
REPOSITORY = "web1.backup"  # backup_client_repository_name in molecule.yml
REPOSITORY_PATH = f"/srv/borg/repos/{REPOSITORY}"
RETENTION_LAST = 2  # backup_server_retention_last in molecule.yml
METRICS_FILE = "/var/lib/prometheus/node-exporter/backup.prom"


@pytest.fixture(scope="module")
def server():
    return testinfra.get_host(SERVER)


@pytest.fixture(scope="module")
def client():
    return testinfra.get_host(CLIENT)


def server_borg(server, *arguments: str, check: bool = True):
    """borg on the server with its own (not append-only) access, as the repository owner."""
    command = (
        "runuser -u borg -- env HOME=/srv/borg BORG_RELOCATED_REPO_ACCESS_IS_OK=yes "
        f"BORG_PASSCOMMAND='cat /etc/psf-borg/passphrases/{REPOSITORY}' BORG_REPO={REPOSITORY_PATH} "
        + shlex.join(["borg", *arguments])
    )
    result = server.run(command)
    if check:
        assert result.rc == 0, result.stderr
    return result


def server_archives(server) -> list[str]:
    listing = json.loads(server_borg(server, "list", "--json").stdout)
    return [archive["name"] for archive in listing["archives"]]


def run_backup(client):
    # A second start within the same second would reuse the archive name: keep them apart.
    time.sleep(1.1)
    return client.run("systemctl start psf-backup.service")


def metrics(client) -> dict[str, float]:
    values = {}
    for line in client.file(METRICS_FILE).content_string.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = float(value)
    return values


def sha256_of(host, path: str) -> str:
    return host.check_output(f"sha256sum {shlex.quote(path)}").split()[0]


def test_timers_are_active(server, client):
    assert client.service("psf-backup.timer").is_enabled
    assert client.run("systemctl is-active psf-backup.timer").stdout.strip() == "active"
    assert server.service("psf-borg-maintain.timer").is_enabled
    assert server.run("systemctl is-active psf-borg-maintain.timer").stdout.strip() == "active"
    timer = client.run("systemctl show psf-backup.timer -p RandomizedDelayUSec -p Persistent").stdout
    assert "Persistent=yes" in timer
    assert "RandomizedDelayUSec=1h" in timer


def test_a_backup_run_creates_an_archive_the_server_lists(server, client):
    before = server_archives(server)
    result = run_backup(client)
    assert result.rc == 0, client.run("journalctl -u psf-backup.service -n 30 --no-pager").stdout
    after = server_archives(server)
    new = sorted(set(after) - set(before))
    assert len(new) == 1
    assert new[0].startswith(f"{REPOSITORY}-")


def test_the_repository_is_encrypted_with_repokey_blake2(server):
    info = json.loads(server_borg(server, "info", "--json").stdout)
    assert info["encryption"]["mode"] == "repokey-blake2"


def test_the_pre_hook_dump_is_in_the_archive(server):
    latest = server_archives(server)[-1]
    listing = server_borg(server, "list", "--format", "{path}{NL}", f"::{latest}").stdout.splitlines()
    assert "var/backups/psf-dump/dump.sql" in listing
    assert "srv/data/blob" in listing


def test_the_metric_file_holds_a_recent_success(client):
    metric_file = client.file(METRICS_FILE)
    assert metric_file.mode == 0o644
    values = metrics(client)
    now = int(client.check_output("date +%s"))
    assert now - 120 <= values["psf_backup_last_success_timestamp_seconds"] <= now
    assert 0 <= values["psf_backup_last_duration_seconds"] < 120


def test_a_restore_returns_identical_bytes(client):
    latest = client.check_output("psf-borg list --last 1 --short")
    scratch = client.check_output("mktemp -d")
    try:
        client.check_output(f"cd {scratch} && psf-borg extract ::{latest} srv/data/blob")
        assert sha256_of(client, f"{scratch}/srv/data/blob") == sha256_of(client, "/srv/data/blob")
    finally:
        client.run(f"rm -rf {scratch}")


def test_a_failing_pre_hook_fails_the_backup_and_keeps_the_last_success(server, client):
    archives_before = server_archives(server)
    metrics_before = metrics(client)
    client.check_output("printf '#!/bin/sh\\necho dump failed >&2\\nexit 3\\n' > /etc/psf-backup/pre.d/99-fail")
    client.check_output("chmod 0750 /etc/psf-backup/pre.d/99-fail")
    try:
        result = run_backup(client)
        assert result.rc != 0
        assert client.run("systemctl is-failed psf-backup.service").stdout.strip() == "failed"
        journal = client.check_output("journalctl -u psf-backup.service -n 20 --no-pager")
        assert "a pre hook failed" in journal
    finally:
        client.run("rm -f /etc/psf-backup/pre.d/99-fail && systemctl reset-failed psf-backup.service")
    assert server_archives(server) == archives_before
    assert metrics(client) == metrics_before


def test_the_server_prune_keeps_the_configured_number(server, client):
    while len(server_archives(server)) <= RETENTION_LAST + 1:
        assert run_backup(client).rc == 0
    newest = server_archives(server)[-RETENTION_LAST:]
    result = server.run("systemctl start psf-borg-maintain.service")
    assert result.rc == 0, server.run("journalctl -u psf-borg-maintain.service -n 30 --no-pager").stdout
    assert server_archives(server) == newest
    prom = server.file("/var/lib/prometheus/node-exporter/backup_server.prom").content_string
    assert f'psf_backup_server_repository_tampered{{repository="{REPOSITORY}"}} 0' in prom
    assert f'psf_backup_server_archives{{repository="{REPOSITORY}"}} {RETENTION_LAST}' in prom


def client_environment(client) -> dict[str, str]:
    lines = client.check_output("set -a && . /etc/psf-backup/borg.env && env").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_the_client_key_gives_no_shell_and_no_other_repository(client):
    environment = client_environment(client)
    server_url = environment["BORG_REPO"].rsplit("/srv/borg/repos/", 1)[0]  # ssh://borg@host:port
    host_and_port = server_url.split("@", 1)[1]
    address, port = host_and_port.rsplit(":", 1)
    shell = client.run(f"{environment['BORG_RSH']} -p {port} borg@{address.strip('[]')} cat /etc/passwd </dev/null")
    assert "root:x:0:0" not in shell.stdout
    other = client.run(f"psf-borg list {server_url}/srv/borg/repos/someone-else")
    assert other.rc == 2
    assert "not allowed" in other.stderr


def test_the_client_cannot_destroy_its_repository(server, client):
    result = client.run("BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES psf-borg delete --force")
    assert result.rc == 2
    assert "append-only" in result.stderr
    assert len(server_archives(server)) == RETENTION_LAST


def test_an_archive_deleted_by_the_client_is_detected_and_restored(server, client):
    victim = server_archives(server)[0]
    expected = sha256_of(client, "/srv/data/blob")

    # borg 1.2 lets an append-only client *log* a deletion and compaction...
    assert client.run(f"psf-borg delete ::{victim} && psf-borg compact").rc == 0
    assert victim not in server_archives(server)

    # ...which the server's maintenance refuses to make permanent.
    result = server.run("systemctl start psf-borg-maintain.service")
    assert result.rc != 0
    prom = server.file("/var/lib/prometheus/node-exporter/backup_server.prom").content_string
    assert f'psf_backup_server_repository_tampered{{repository="{REPOSITORY}"}} 1' in prom
    assert "archives vanished" in server.check_output("journalctl -u psf-borg-maintain.service -n 20 --no-pager")

    # The operator rolls back to the state after the last maintenance run: the archive is back,
    # with the same bytes.
    rollback = server.run(f"psf-borg-maintain rollback {REPOSITORY}")
    assert rollback.rc == 0, rollback.stderr
    assert victim in server_archives(server)
    scratch = server.check_output("runuser -u borg -- mktemp -d")
    try:
        server.check_output(
            f"cd {scratch} && runuser -u borg -- env HOME=/srv/borg BORG_RELOCATED_REPO_ACCESS_IS_OK=yes "
            f"BORG_PASSCOMMAND='cat /etc/psf-borg/passphrases/{REPOSITORY}' "
            f"borg extract {REPOSITORY_PATH}::{victim} srv/data/blob"
        )
        assert sha256_of(server, f"{scratch}/srv/data/blob") == expected
    finally:
        server.run(f"rm -rf {scratch}")

    # The repair as documented: the VM forgets the newer state it saw, and backs up again.
    repository_id = json.loads(server_borg(server, "info", "--json").stdout)["repository"]["id"]
    remembered = [f"/var/lib/psf-backup/{place}/{repository_id}" for place in (".config/borg/security", ".cache/borg")]
    client.check_output(f"rm -rf {' '.join(remembered)}")
    assert run_backup(client).rc == 0
    assert server.run("systemctl start psf-borg-maintain.service").rc == 0
    prom = server.file("/var/lib/prometheus/node-exporter/backup_server.prom").content_string
    assert f'psf_backup_server_repository_tampered{{repository="{REPOSITORY}"}} 0' in prom


def test_the_passphrase_is_never_on_a_command_line_or_world_readable(client):
    for path in ("/etc/psf-backup/passphrase", "/etc/psf-backup/borg.env", "/etc/psf-backup/id_ed25519"):
        assert client.file(path).mode == 0o600
        assert client.file(path).user == "root"
    unit = client.file("/etc/systemd/system/psf-backup.service").content_string
    environment = client.file("/etc/psf-backup/borg.env").content_string
    passphrase = client.file("/etc/psf-backup/passphrase").content_string
    assert passphrase not in unit
    assert passphrase not in environment
    assert len(passphrase) >= 20
