"""Root access to the VM, tried over ssh from another host (the probe).

ada is a member of the VM's tenant, ben was one until side_effect.yml removed him from the
registry, eve is a member of another tenant; prepare.yml had put eve's key into root's
authorized_keys and authorized_keys2 by hand.
"""

from __future__ import annotations

import pytest
import testinfra

VM = "web1.example.test"
PROBE = "podman://psf-molecule-tenant_access-probe"
SSH_OPTIONS = (
    "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    " -o ConnectTimeout=5 -o IdentitiesOnly=yes"
)


@pytest.fixture(scope="module")
def probe():
    return testinfra.get_host(PROBE)


def root_login(probe, key: str):
    return probe.run(f"ssh {SSH_OPTIONS} -i /root/keys/{key} root@{VM} id -u")


def public_key(probe, key: str) -> str:
    return probe.check_output(f"cat /root/keys/{key}.pub").strip()


def test_member_logs_in_as_root(probe):
    result = root_login(probe, "ada")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


@pytest.mark.parametrize("key", ["ben", "eve"])
def test_removed_member_and_other_tenant_are_refused(probe, key):
    result = root_login(probe, key)
    assert result.rc == 255
    assert "Permission denied (" in result.stderr


def test_authorized_keys_hold_exactly_the_members_keys(host, probe):
    authorized = host.file("/root/.ssh/authorized_keys")
    assert authorized.mode == 0o600
    assert authorized.user == "root"
    keys = [line for line in authorized.content_string.splitlines() if line and not line.startswith("#")]
    assert keys == [public_key(probe, "ada")]
    assert "# Ada Packager <ada@example.test>" in authorized.content_string
    assert not host.file("/root/.ssh/authorized_keys2").exists
