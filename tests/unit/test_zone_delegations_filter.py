"""psf.infra.zone_delegations takes the keys read by psf.infra.dns_zone_info in its list form (``zones``)
as it takes a loop of the single form (``results``): the same delegations; a failed item is not known."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.filter.delegations import zone_delegations  # noqa: E402

KSK = "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
CHILDREN = [{"name": "lab.packaging.test", "parent": "packaging.test", "dnssec": True},
            {"name": "other.packaging.test", "parent": "packaging.test", "dnssec": True},
            {"name": "plain.packaging.test", "parent": "packaging.test", "dnssec": False}]


def read(zone: str) -> dict:
    return {"zone": f"{zone}.", "signed": True,
            "records": [{"name": "@", "type": "DNSKEY", "ttl": 60, "values": [KSK]}]}


def test_list_form_and_loop_give_the_same_delegations() -> None:
    listed = {"changed": False, "in_sync": True, "zones": [read("lab.packaging.test"), read("other.packaging.test")]}
    looped = {"results": [{**read(zone), "item": {"name": zone}}
                          for zone in ("lab.packaging.test", "other.packaging.test")]}
    from_list = zone_delegations(CHILDREN, "packaging.test", listed)
    assert from_list == zone_delegations(CHILDREN, "packaging.test", looped)
    assert from_list[0]["name"] == "lab.packaging.test" and from_list[0]["dnskeys"]
    assert from_list[2] == {"name": "plain.packaging.test", "dnskeys": []}


def test_a_child_not_read_keeps_its_ds() -> None:
    listed = {"failed": True, "msg": "1 of 2 zones could not be read", "in_sync": False,
              "zones": [read("lab.packaging.test"),
                        {"zone": "other.packaging.test.", "failed": True, "msg": "not served"}]}
    lab, other, _plain = zone_delegations(CHILDREN, "packaging.test", listed)
    assert lab["dnskeys"]
    assert other == {"name": "other.packaging.test"}  # no dnskeys: the parent's DS is left as it is
    assert zone_delegations(CHILDREN, "packaging.test", {"skipped": True})[0] == {"name": "lab.packaging.test"}
