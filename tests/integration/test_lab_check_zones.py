"""`labctl.py check-zones` (lab/psf_lab/zone_check.py): the lab resolver checks of playbooks/dns.yml for
every zone in one process, against the lab's real registry and unbound resolver.

The rules are those the playbook's per-zone `dig` tasks had: a zone whose top hosted parent the
registry delegates must resolve NOERROR, a signed hosted child must also validate (AD); other zones
are reported, not failed; a failing zone is asked again and named in ``failed`` with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def check_zones(lab, zones: list[str], *, children: dict | None = None, unsigned: list[str] = (),
                retries: int = 0, delay: float = 0.5) -> dict:
    request = {"zones": zones, "unsigned": list(unsigned), "hosted_children": children or {},
               "registry": {"address": "127.0.0.1", "port": lab.port("registry")},
               "resolver": {"address": "127.0.0.1", "port": lab.port("resolver")},
               "retries": retries, "delay": delay}
    result = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "check-zones"], input=json.dumps(request),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_lab_zones_in_one_call(lab) -> None:
    """infra.test is delegated by the registry and signed; a name nobody delegates is only reported."""
    nobody = f"nobody-{uuid.uuid4().hex[:8]}.test"
    report = check_zones(lab, ["infra.test", nobody])
    infra, other = report["zones"]
    assert report["failed"] == []
    assert infra == {"name": "infra.test", "delegated": True, "hosted_parent": None, "reachable": True,
                     "status": "NOERROR", "validated": True, "failed": False, "reason": None}
    assert other["name"] == nobody and other["delegated"] is False and other["reachable"] is False
    assert other["status"] == "NXDOMAIN" and other["failed"] is False


def test_a_reachable_zone_that_does_not_resolve_is_named_with_its_reason(lab) -> None:
    """A hosted child of a delegated zone that nobody serves: reachable, so it must resolve; asked
    again (retries) and then named in ``failed``; a zone that resolves is not."""
    child = f"gone-{uuid.uuid4().hex[:8]}.infra.test"
    started = time.monotonic()
    report = check_zones(lab, [child, "infra.test"], children={child: "infra.test"}, retries=2, delay=0.5)
    assert time.monotonic() - started >= 1.0  # asked three times, 0.5 s apart
    assert report["failed"] == [child]
    gone = report["zones"][0]
    assert gone["reachable"] is True and gone["hosted_parent"] == "infra.test" and gone["failed"] is True
    assert gone["status"] == "NXDOMAIN" and "delegated, but the resolver answers NXDOMAIN" in gone["reason"]


def test_a_signed_hosted_child_must_validate_an_unsigned_one_need_not(lab) -> None:
    """A name inside infra.test that resolves without being a zone of its own: as a signed hosted
    child it must validate; infra.test is signed, so the answer validates and the check passes. The
    same name declared unsigned passes too; a zone whose top parent is not delegated is not checked."""
    report = check_zones(lab, ["infra.test", "ns1.infra.test"], children={"ns1.infra.test": "infra.test"})
    assert report["failed"] == [], report
    assert report["zones"][1]["validated"] is True
    report = check_zones(lab, ["ns1.infra.test"], children={"ns1.infra.test": "infra.test"},
                         unsigned=["ns1.infra.test"])
    assert report["failed"] == [] and report["zones"][0]["reachable"] is False  # its parent is not in the list


def test_bad_request_is_refused(lab) -> None:
    result = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "check-zones"],
                            input=json.dumps({"zones": [{"name": "x"}]}), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1 and "zones must be a list of zone names" in result.stderr
