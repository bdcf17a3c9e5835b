"""Session-wide test set-up shared by every test directory.

- `lab`: the local lab of real services (lab/labctl.py). Started if it is not up, stopped at the
  end only if this session started it (and `--keep-lab` / PSF_LAB_KEEP=1 was not given). Under
  pytest-xdist the controller stops it, after every worker is done: a worker that stopped the lab it
  started would pull it from under the others.
- CONTAINERS_CONF for podman, from lab/podman-env.sh when that script exists.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LABCTL = REPO_ROOT / "lab" / "labctl.py"
PODMAN_ENV = REPO_ROOT / "lab" / "podman-env.sh"

sys.path.insert(0, str(LABCTL.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))  # gandi_api (the registrar fake)
import labctl  # noqa: E402


def _podman_containers_conf() -> str | None:
    if not PODMAN_ENV.exists():
        return None
    result = subprocess.run(["bash", str(PODMAN_ENV)], capture_output=True, text=True, check=False)
    match = re.search(r"CONTAINERS_CONF=(\S+)", result.stdout)
    return match.group(1) if result.returncode == 0 and match else None


if "CONTAINERS_CONF" not in os.environ and (_conf := _podman_containers_conf()):
    os.environ["CONTAINERS_CONF"] = _conf


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--keep-lab", action="store_true", default=False,
                     help="leave a lab this session started running (same as PSF_LAB_KEEP=1)")


@dataclass(frozen=True)
class Lab:
    """What tests need to talk to the lab: the state written by `labctl up`."""

    state: dict[str, Any]

    @property
    def dir(self) -> Path:
        return Path(self.state["lab_dir"])

    def port(self, service: str) -> int:
        return self.state["services"][service]["port"]

    def pid(self, service: str) -> int:
        return self.state["services"][service]["pid"]

    def key(self, name: str) -> dict[str, str]:
        """{name, algorithm, secret, file} of a TSIG key (registry-key, staff-key, transfer-key)."""
        return self.state["keys"][name]

    def tsig(self, name: str) -> Any:
        return labctl.tsig_key(name)

    @property
    def trust_anchor(self) -> dict[str, str]:
        return self.state["trust_anchor"]

    @property
    def acme(self) -> dict[str, Any]:
        return self.state["acme"]

    @property
    def smtp(self) -> dict[str, Any]:
        return self.state["smtp"]


def _lab_entirely_down(report: dict[str, dict[str, Any]] | None = None) -> bool:
    """Only a lab that was entirely down is this session's to stop; a partly running one is shared:
    the fixture repairs it and leaves it."""
    return not any(entry["pid"] for entry in (report or labctl.status()).values())


def _keep_lab(config: pytest.Config) -> bool:
    return config.getoption("--keep-lab") or os.environ.get("PSF_LAB_KEEP") == "1"


def _stop_lab() -> None:
    subprocess.run([sys.executable, str(LABCTL), "down"], capture_output=True, text=True, check=False)


def _xdist_controller(config: pytest.Config) -> bool:
    return not os.environ.get("PYTEST_XDIST_WORKER") and bool(getattr(config.option, "numprocesses", None))


LAB_WAS_DOWN = pytest.StashKey[bool]()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _xdist_controller(session.config):
        session.config.stash[LAB_WAS_DOWN] = _lab_entirely_down()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller stops a lab that was down when the run began and that a worker started."""
    config = session.config
    if (_xdist_controller(config) and config.stash.get(LAB_WAS_DOWN, False) and not _keep_lab(config)
            and not _lab_entirely_down()):
        _stop_lab()


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    # A worker never stops the lab (see pytest_sessionfinish); `labctl up` takes the lab's lifecycle
    # lock, so workers starting it at once start each service once.
    report = labctl.status()
    started_here = _lab_entirely_down(report) and not os.environ.get("PYTEST_XDIST_WORKER")
    if not all(entry["healthy"] for entry in report.values()):
        result = subprocess.run([sys.executable, str(LABCTL), "up"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"lab/labctl.py up failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    yield Lab(labctl.load_state())
    if started_here and not _keep_lab(request.config):
        _stop_lab()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first: under pytest-xdist the Molecule scenarios and end-to-end runs start at once
    instead of closing the run one after another. The order within each kind is kept."""
    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("molecule"):
            return 0
        if item.get_closest_marker("slow"):
            return 1
        return 2

    items.sort(key=weight)


# The test modules that converge the lab's shared name server configuration or issue certificates
# in bulk run one after another on one pytest-xdist worker: two playbooks rewriting the lab
# primary's zone list at once would race, the end-to-end test's module-scoped fixture (the lab
# machines) must live on one worker, and pebble 2.4 deadlocks when new orders from two processes
# interleave (see plugins/module_utils/acme/protocol.py); test_registry_lab.py compares the primary's
# zone list before and after a refused run; test_domains_playbook.py removes a tenant zone's
# delegation at the lab registry that site.yml's domains.yml puts back. Every other test is
# scheduled on its own.
SERIAL_LAB_MODULES = frozenset({
    "test_site.py", "test_nameserver_lab.py", "test_certificate.py", "test_registry_lab.py",
    "test_domain_lab.py", "test_runner_lab.py",
    "test_dnssec_rollover.py", "test_offboard_lab.py", "test_vm_dns_lab.py", "test_domains_playbook.py",
})


# The modules that use the lab's libvirtd run one after another on one worker too: each starts it
# when it is not running and stops it after, and test_vm_libvirt.py restarts it under a running guest.
# test_vm_guest_lab.py (the longest, so first: slow) is among them, not on the serial lab worker: its
# backup and monitoring servers and its VM zones are its own, so it runs beside the tests that
# converge the lab's.
LIBVIRT_MODULES = frozenset({"test_vm_libvirt.py", "test_hypervisor_playbook.py", "test_vm_image_boot.py",
                             "test_vm_guest_lab.py"})


# The serial lab worker is the run's critical path: its modules add up to the longest share of
# `make test` (test_site.py's site runs, the offboarding), and nothing else can share its work. So on
# the other workers each test runs at a lower CPU priority, and so does everything it starts
# (Molecule's containers, a libvirtd it starts and its TCG guests, podman machines of its own): they
# take the CPU the serial lab worker leaves, instead of slowing it down. Outside pytest-xdist (one
# process, `make integration`), priorities are left alone.
OTHER_WORKERS_NICE = 10


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    serial = Path(str(item.path)).name in SERIAL_LAB_MODULES
    with contextlib.suppress(PermissionError):  # back to 0 needs root (CAP_SYS_NICE), as the lab does
        os.setpriority(os.PRIO_PROCESS, 0, 0 if serial else OTHER_WORKERS_NICE)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class LabAwareScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = Path(nodeid.split("::", 1)[0]).name
            if module in SERIAL_LAB_MODULES:
                return "lab-site"
            if module in LIBVIRT_MODULES:
                return "lab-libvirt"
            return nodeid

    return LabAwareScheduling(config, log)


@pytest.fixture
def api() -> Iterator[Any]:
    """Gandi's domain API v5 as the fake of tests/fakes/gandi_api.py, fresh for each test (a free
    loopback port), accepting ``gandi_api.TEST_TOKEN``."""
    from gandi_api import TEST_TOKEN, FakeGandi

    with FakeGandi(TEST_TOKEN) as fake:
        yield fake
