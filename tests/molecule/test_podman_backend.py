"""Podman's network backend, as lab/podman-env.sh sets it up (docs/lab.md, "Podman").

The lab's machines and the multi-host Molecule scenarios find each other by name on `internal`
networks. Only the netavark backend (with aardvark-dns) gives such a network DNS; podman 4.3
falls back to CNI, which gives it none, whenever netavark is missing or CNI networks exist. These
tests use the real podman and the project's image:

- a network made with the project's settings has DNS, and a container finds another by name and
  by alias;
- a machine upgraded from CNI (the project's networks and containers left in /etc/cni/net.d) is
  switched by podman-env.sh: the leftovers are removed through CNI, said on stderr, and nothing
  else of podman's is touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PODMAN_ENV = REPO_ROOT / "lab" / "podman-env.sh"
IMAGE = os.environ.get("PSF_MOLECULE_IMAGE", "localhost/psf-infra/debian-systemd:bookworm")
CNI_DIR = Path("/etc/cni/net.d")

pytestmark = pytest.mark.podman


def podman_env() -> tuple[str, str]:
    """(CONTAINERS_CONF path, stderr) of one run of lab/podman-env.sh."""
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_CONF"}
    result = subprocess.run(["bash", str(PODMAN_ENV)], capture_output=True, text=True, check=True, env=env)
    return result.stdout.strip().removeprefix("export CONTAINERS_CONF="), result.stderr


def podman(conf: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, env=env)


@pytest.fixture(scope="module")
def conf() -> str:
    path, _ = podman_env()
    if podman(path, "image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"the Molecule image {IMAGE} is missing: run `make image`", pytrace=False)
    return path


@pytest.fixture
def suffix() -> str:
    return secrets.token_hex(3)


@pytest.fixture
def cleanup(conf: str) -> Iterator[list[tuple[str, str]]]:
    """(kind, name) of podman objects a test made, removed afterwards whatever happened."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, name in reversed(made):
        if kind == "container":
            podman(conf, "rm", "--force", "--time", "0", name, check=False)
        else:
            podman(conf, "network", "rm", "--force", name, check=False)


def test_the_backend_is_netavark_and_internal_networks_have_dns(conf: str, suffix: str,
                                                                cleanup: list[tuple[str, str]]) -> None:
    assert podman(conf, "info", "--format", "{{.Host.NetworkBackend}}").stdout.strip() == "netavark"
    network = f"psf-molecule-dns-{suffix}"
    podman(conf, "network", "create", "--internal", network)
    cleanup.append(("network", network))
    assert podman(conf, "network", "inspect", "--format", "{{.DNSEnabled}}", network).stdout.strip() == "true"

    server = f"psf-molecule-dns-server-{suffix}"
    podman(conf, "run", "--detach", "--name", server, "--network", network, "--network-alias", "backup.infra.test",
           IMAGE, "sleep", "300")
    cleanup.append(("container", server))
    lookup = podman(conf, "run", "--rm", "--network", network, IMAGE, "getent", "hosts", server, "backup.infra.test",
                    check=False)
    assert lookup.returncode == 0, f"names did not resolve on {network}: {lookup.stdout}{lookup.stderr}"
    addresses = {line.split()[0] for line in lookup.stdout.splitlines()}
    assert len(addresses) == 1, lookup.stdout


def test_networks_left_by_cni_are_switched_to_netavark(conf: str, suffix: str, tmp_path: Path,
                                                       cleanup: list[tuple[str, str]]) -> None:
    # The state of a machine that ran the lab before netavark: the project's network made by CNI,
    # with a container on it. Made through CNI explicitly, as podman did on such a machine.
    cni_conf = tmp_path / "containers.conf"
    cni_conf.write_text(Path(conf).read_text(encoding="utf-8").replace('"netavark"', '"cni"'), encoding="utf-8")
    network, container = f"psf-molecule-cni-{suffix}", f"psf-molecule-cni-vm-{suffix}"
    foreign = f"not-ours-cni-{suffix}"
    for name in (network, foreign):
        podman(cni_conf, "network", "create", "--internal", name)
    podman(cni_conf, "create", "--name", container, "--network", network, IMAGE, "sleep", "300")
    try:
        assert (CNI_DIR / f"{network}.conflist").exists()
        assert podman(conf, "network", "exists", network, check=False).returncode != 0, "netavark sees CNI networks?"

        _, stderr = podman_env()

        assert f"removing the CNI network {network} and its containers {container}" in stderr
        assert not (CNI_DIR / f"{network}.conflist").exists()
        assert podman(cni_conf, "container", "exists", container, check=False).returncode != 0
        # Somebody else's CNI network is none of the project's business.
        assert (CNI_DIR / f"{foreign}.conflist").exists()
        assert foreign not in stderr
        # The project's network can now be made again, by netavark, with DNS.
        podman(conf, "network", "create", "--internal", network)
        cleanup.append(("network", network))
        assert podman(conf, "network", "inspect", "--format", "{{.DNSEnabled}}", network).stdout.strip() == "true"
        # A second run has nothing left to switch.
        assert podman_env()[1] == ""
    finally:
        podman(cni_conf, "rm", "--force", "--time", "0", container, check=False)
        for name in (network, foreign):
            if (CNI_DIR / f"{name}.conflist").exists():
                podman(cni_conf, "network", "rm", "--force", name, check=False)
