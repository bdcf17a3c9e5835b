"""Behaviour of the base role, seen from the VM and from another host (the probe).

The probe holds the staff keys (alice stays, bob left in side_effect.yml, stranger never was).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest
import testinfra

VM = "web1.example.test"
PROBE = "podman://psf-molecule-base-probe"
SSH_OPTIONS = "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5"


@pytest.fixture(scope="module")
def probe():
    return testinfra.get_host(PROBE)


def ssh(probe, user: str, command: str, *, key: str | None = None, options: str = ""):
    identity = f"-o IdentitiesOnly=yes -i /root/keys/{key}" if key else ""
    return probe.run(f"ssh {SSH_OPTIONS} {identity} {options} {user}@{VM} {shlex.quote(command)}")


def connects(probe, port: int) -> bool:
    """A TCP connection from the probe to the VM's port succeeds within 3 s."""
    result = probe.run(f"timeout 3 bash -c '</dev/tcp/{VM}/{port}'")
    return result.rc == 0


@pytest.fixture(scope="module")
def listeners(host) -> Iterator[None]:
    """Something listening on every port the firewall tests knock at."""
    ports = (8080, 8443, 9100, 9443)
    for port in ports:
        host.run(f"systemd-run --unit=molecule-listen-{port} python3 -m http.server {port}")
    host.run("sleep 1")
    yield
    for port in ports:
        host.run(f"systemctl stop molecule-listen-{port}")


# --- sshd -----------------------------------------------------------------------------------


def test_sshd_effective_config_allows_keys_only(host):
    effective = host.check_output("sshd -T")
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert "permitrootlogin without-password" in effective
    assert "authenticationmethods publickey" in effective


def test_password_login_is_refused_and_not_offered(probe):
    result = ssh(probe, "root", "true", options="-o PreferredAuthentications=password,keyboard-interactive")
    assert result.rc == 255
    # The server lists what it would accept: keys and nothing else.
    assert "Permission denied (publickey)." in result.stderr


def test_staff_member_logs_in_with_key_and_has_sudo(probe):
    result = ssh(probe, "alice", "id -un; sudo -n id -u", key="alice")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["alice", "0"]


def test_a_stranger_key_is_refused(probe):
    for user in ("alice", "root"):
        result = ssh(probe, user, "true", key="stranger")
        assert result.rc == 255
        assert "Permission denied" in result.stderr


def test_root_has_no_key_from_base(probe):
    assert ssh(probe, "root", "true", key="alice").rc == 255


# --- staff ----------------------------------------------------------------------------------


def test_former_staff_member_is_locked_out(host, probe):
    result = ssh(probe, "bob", "true", key="bob")
    assert result.rc == 255
    assert not host.file("/home/bob/.ssh/authorized_keys").exists
    assert host.user("bob").shell == "/usr/sbin/nologin"
    assert "psf-staff" not in host.user("bob").groups
    assert host.run("sudo -n -l -U bob").stdout.find("NOPASSWD: ALL") == -1
    # The files stay for audit.
    assert host.file("/home/bob").is_directory


def test_staff_group_lists_only_current_staff(host):
    assert host.group("psf-staff").exists
    members = host.check_output("getent group psf-staff").split(":")[3].split(",")
    assert members == ["alice"]


# --- firewall -------------------------------------------------------------------------------


def test_ruleset_drops_input_by_default(host):
    chain = host.check_output("nft list chain inet psf_filter input")
    assert re.search(r"type filter hook input priority filter; policy drop;", chain)
    assert 'tcp dport 22 accept comment "base: ssh"' in chain


def test_ruleset_survives_a_reload_from_disk(host):
    before = host.check_output("nft list table inet psf_filter")
    host.check_output("systemctl reload nftables")
    assert host.check_output("nft list table inet psf_filter") == before
    assert host.service("nftables").is_enabled


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize(
    ("port", "open_to_probe"),
    [
        (22, True),  # ssh
        (8443, True),  # base_firewall_openings, probe's network listed
        (9100, True),  # opened by another role's /etc/nftables.d/ snippet
        (9443, False),  # base_firewall_openings, only for another source
        (8080, False),  # nobody opened it
    ],
)
def test_firewall_seen_from_another_host(probe, port, open_to_probe):
    assert connects(probe, port) is open_to_probe


@pytest.mark.usefixtures("listeners")
def test_loopback_is_not_filtered(host):
    assert host.run("timeout 3 bash -c '</dev/tcp/127.0.0.1/8080'").rc == 0


# --- unattended upgrades, time, journald, identity ------------------------------------------


def test_unattended_security_upgrades_are_on(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    origins = re.findall(r'Unattended-Upgrade::Origins-Pattern:: "([^"]*)";', config)
    assert origins == [
        "origin=Debian,codename=${distro_codename},label=Debian-Security",
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
    ]
    # unattended-upgrade itself reads that configuration without complaint.
    assert host.run("unattended-upgrade --dry-run").rc == 0


def test_time_sync_uses_the_configured_servers(host):
    effective = host.check_output("chronyd -p")
    assert re.findall(r"^(?:server|pool) (\S+)", effective, re.MULTILINE) == [
        "ntp1.example.test",
        "ntp2.example.test",
    ]
    assert host.service("chrony").is_enabled
    if host.run("systemd-detect-virt --container").rc == 0:
        # The host keeps the clock: the unit refuses to run without CAP_SYS_TIME.
        assert host.check_output("systemctl show chrony -p ConditionResult") == "ConditionResult=no"
    else:
        assert host.service("chrony").is_running


def test_journald_runs_with_the_limits(host):
    # journald reports its effective limit when it opens the journal (after the restart).
    messages = host.check_output("journalctl -b -u systemd-journald --no-pager -o cat")
    assert re.search(r"Runtime Journal .* max 24\.0M", messages)


def test_hostname_and_motd(host):
    assert host.check_output("hostname") == VM
    assert host.check_output("getent hosts web1").split()[1:] == [VM, "web1"]
    motd = host.file("/etc/motd").content_string
    assert "Example Community Organisation" in motd
    assert 'tenant "example"' in motd
    assert "Liz Aison <liz@example.test>" in motd
    assert "Max Quiet <max@example.test>" in motd
    assert "infra-staff@example.test" in motd
