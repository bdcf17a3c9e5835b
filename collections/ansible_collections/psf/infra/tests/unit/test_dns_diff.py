"""Unit tests of zone planning (module_utils/dns/diff.py, plan_text.py, client batching). No network."""

from __future__ import annotations

import sys
from pathlib import Path

import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns import client, wire  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.diff import (  # noqa: E402
    SafetyPolicy,
    UnsafeChangeError,
    apply_changes,
    check_plan,
    plan_zone,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.plan_text import (  # noqa: E402
    changes_as_data,
    plan_text,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402

ZONE = "example.test."
ORIGIN = dns.name.from_text(ZONE)


def rrset(name: str, rdtype: str, values: list[str], ttl: int = 300) -> RRset:
    return RRset.from_text(name, rdtype, ttl, values, ZONE)


def zone(*rrsets: RRset) -> dict:
    return {each.key: each for each in rrsets}


SOA = rrset("@", "SOA", ["ns1.infra.test. hostmaster.example.test. 5 300 30 1209600 60"])
APEX_NS = rrset("@", "NS", ["ns1.infra.test.", "ns2.infra.test."])
KEY_DATA = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
DNSSEC = [
    rrset("@", "DNSKEY", [f"257 3 13 {KEY_DATA}"]),
    rrset("@", "NSEC", ["www.example.test. A NS SOA RRSIG NSEC DNSKEY"]),
    rrset("@", "RRSIG", ["A 13 2 300 20261201000000 20261101000000 12345 example.test. "
                         "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="]),
    rrset("@", "TYPE65534", [r"\# 5 0D30390001"]),
]


def test_no_change_is_an_empty_plan():
    live = zone(SOA, APEX_NS, rrset("www", "A", ["192.0.2.1"]))
    desired = zone(APEX_NS, rrset("www", "A", ["192.0.2.1"]))
    plan = plan_zone(live, desired, ORIGIN, prune=True)
    assert plan.changes == []
    assert plan.existing == 2
    assert "No changes" in plan_text(plan)


def test_add_change_delete_and_the_plan_text():
    live = zone(SOA, APEX_NS, rrset("www", "A", ["192.0.2.1"]), rrset("old", "TXT", ['"gone"']))
    desired = zone(APEX_NS, rrset("www", "A", ["192.0.2.2"]), rrset("new", "AAAA", ["2001:db8::1"]))
    plan = plan_zone(live, desired, ORIGIN, prune=True)
    assert plan.counts == {"added": 1, "changed": 1, "deleted": 1}
    text = plan_text(plan, "127.0.0.1:5301")
    assert "*   Create new AAAA 300 ['2001:db8::1']" in text
    assert "*   Update www A\n*     - 300 ['192.0.2.1']\n*     + 300 ['192.0.2.2']" in text
    assert "*   Delete old TXT 300 ['\"gone\"']" in text
    assert "Summary: Creates=1, Updates=1, Deletes=1, Existing Records=3" in text
    data = changes_as_data(plan)
    assert data["changed"] == [{"name": "www", "type": "A", "before": {"ttl": 300, "values": ["192.0.2.1"]},
                                "after": {"ttl": 300, "values": ["192.0.2.2"]}}]


def test_without_prune_undeclared_records_stay():
    live = zone(SOA, APEX_NS, rrset("www", "A", ["192.0.2.1"]))
    assert plan_zone(live, zone(APEX_NS), ORIGIN, prune=False).changes == []


def test_prune_never_deletes_protected_records():
    acme = rrset("_acme-challenge.www", "TXT", ['"token"'])
    ignored = rrset("legacy", "A", ["192.0.2.9"])
    doomed = rrset("doomed", "A", ["192.0.2.8"])
    live = zone(SOA, APEX_NS, *DNSSEC, acme, ignored, doomed)
    plan = plan_zone(live, zone(APEX_NS), ORIGIN, prune=True, ignore=[dns.name.from_text("legacy", ORIGIN)])
    assert [change.key for change in plan.changes] == [doomed.key]
    reasons = dict(plan.protected)
    assert "ACME" in reasons[acme.key]
    assert "ignore" in reasons[ignored.key]


def test_apex_ns_change_needs_force_but_a_ttl_change_does_not():
    live = zone(SOA, APEX_NS)
    moved = zone(rrset("@", "NS", ["ns1.elsewhere.test."]))
    plan = plan_zone(live, moved, ORIGIN)
    with pytest.raises(UnsafeChangeError, match="apex NS set"):
        check_plan(plan, live, SafetyPolicy())
    check_plan(plan, live, SafetyPolicy(force=True))
    check_plan(plan_zone(live, zone(rrset("@", "NS", APEX_NS.values(), ttl=60)), ORIGIN), live, SafetyPolicy())


def _hosts(count: int, address: str = "192.0.2.1") -> list[RRset]:
    return [rrset(f"h{index}", "A", [address]) for index in range(count)]


@pytest.mark.parametrize(("changed", "refused"), [(3, False), (4, True)])
def test_update_threshold(changed, refused):
    live = zone(SOA, *_hosts(10))
    desired = zone(*_hosts(changed, "192.0.2.2"), *_hosts(10)[changed:])
    plan = plan_zone(live, desired, ORIGIN)
    assert plan.counts["changed"] == changed
    if refused:
        with pytest.raises(UnsafeChangeError, match=rf"update {changed} of 10 rrsets"):
            check_plan(plan, live, SafetyPolicy())
        check_plan(plan, live, SafetyPolicy(force=True))
        check_plan(plan, live, SafetyPolicy(max_update_fraction=0.5))
    else:
        check_plan(plan, live, SafetyPolicy())


def test_delete_threshold_and_small_zones():
    live = zone(SOA, *_hosts(10))
    plan = plan_zone(live, zone(*_hosts(6)), ORIGIN, prune=True)
    with pytest.raises(UnsafeChangeError, match="delete 4 of 10 rrsets"):
        check_plan(plan, live, SafetyPolicy())
    small = zone(SOA, *_hosts(9))
    check_plan(plan_zone(small, zone(), ORIGIN, prune=True), small, SafetyPolicy())


def test_cname_beside_live_data_is_refused_before_sending():
    live = zone(SOA, rrset("www", "A", ["192.0.2.1"]))
    plan = plan_zone(live, zone(rrset("www", "CNAME", ["example.test."])), ORIGIN)
    with pytest.raises(InvalidInput, match="CNAME beside other data"):
        check_plan(plan, live, SafetyPolicy())
    check_plan(plan_zone(live, zone(rrset("www", "CNAME", ["example.test."])), ORIGIN, prune=True), live,
               SafetyPolicy())


def test_in_zone_mx_target_needs_an_address():
    live = zone(SOA)
    plan = plan_zone(live, zone(rrset("@", "MX", ["10 mail"])), ORIGIN)
    with pytest.raises(InvalidInput, match=r"mail\.example\.test\., which is in the zone but has no A or AAAA"):
        check_plan(plan, live, SafetyPolicy())


def test_partial_changes_keep_values_somebody_else_added():
    live = zone(rrset("_acme-challenge", "TXT", ['"theirs"', '"mine"']))
    after = apply_changes(live, [Change.remove_values("_acme-challenge", "TXT", ['"mine"'], ZONE)])
    assert after[rrset("_acme-challenge", "TXT", ["x"]).key].values() == ['"theirs"']
    after = apply_changes(after, [Change.add_values("_acme-challenge", "TXT", 300, ['"new"'], ZONE)])
    assert after[rrset("_acme-challenge", "TXT", ["x"]).key].values() == ['"new"', '"theirs"']


# ---- property: applying plan(a -> b) to a gives b ---------------------------------------------------

NAMES = st.sampled_from(["@", "www", "mail", "a.b", "_srv._tcp", "x"])
VALUE_STRATEGIES = {
    "A": st.builds(lambda n: f"192.0.2.{n}", st.integers(1, 6)),
    "AAAA": st.builds(lambda n: f"2001:db8::{n:x}", st.integers(1, 6)),
    "TXT": st.sampled_from(['"a"', '"b"', '"c d"', '"e" "f"']),
    "MX": st.sampled_from(["10 mx1.other.test.", "20 mx2.other.test.", "0 ."]),
}


@st.composite
def zones(draw):
    content = {}
    for name in draw(st.sets(NAMES, max_size=5)):
        for rdtype in draw(st.sets(st.sampled_from(sorted(VALUE_STRATEGIES)), min_size=1, max_size=3)):
            values = draw(st.sets(VALUE_STRATEGIES[rdtype], min_size=1, max_size=3))
            each = rrset(name, rdtype, sorted(values), ttl=draw(st.sampled_from([60, 300])))
            content[each.key] = each
    return content


@settings(max_examples=200, deadline=None)
@given(zones(), zones())
def test_applying_the_plan_to_the_first_zone_yields_the_second(first, second):
    plan = plan_zone(first, second, ORIGIN, prune=True)
    assert apply_changes(first, plan.changes) == second
    assert plan_zone(apply_changes(first, plan.changes), second, ORIGIN, prune=True).changes == []


@settings(max_examples=200, deadline=None)
@given(zones(), zones())
def test_without_prune_the_plan_only_adds_and_changes(first, second):
    plan = plan_zone(first, second, ORIGIN, prune=False)
    after = apply_changes(first, plan.changes)
    assert {key: after[key] for key in second} == second
    assert all(key in after for key in first)


@settings(max_examples=60, deadline=None)
@given(zones(), zones())
def test_update_operations_equal_the_modelled_result(first, second):
    """The RFC 2136 operations built for the plan, replayed on the first zone, give the second."""
    plan = plan_zone(first, second, ORIGIN, prune=True)
    result = {key: set(each.digests) for key, each in first.items()}
    ttls = {key: each.ttl for key, each in first.items()}
    for number, batch in enumerate(client._batches(ORIGIN, plan.changes)):
        # rendered by psf.infra's own renderer, read back by dnspython's parser
        message = dns.message.from_wire(wire.render_update(ORIGIN, batch, number, next(iter(SOA.rdatas))))
        assert message.opcode() == dns.opcode.UPDATE and message.zone[0].name == ORIGIN
        assert [prerequisite.rdtype for prerequisite in message.prerequisite] == [dns.rdatatype.SOA]
        for op in message.update:
            if op.deleting == dns.rdataclass.ANY:  # delete rrset
                result.pop((op.name, op.rdtype), None)
            elif op.deleting == dns.rdataclass.NONE:  # delete values
                values = result.get((op.name, op.rdtype), set())
                values -= {rdata.to_digestable() for rdata in op}
                if not values:
                    result.pop((op.name, op.rdtype), None)
            else:
                result.setdefault((op.name, op.rdtype), set()).update(rdata.to_digestable() for rdata in op)
                ttls[(op.name, op.rdtype)] = op.ttl
    assert result == {key: set(each.digests) for key, each in second.items()}
    assert {key: ttls[key] for key in result} == {key: each.ttl for key, each in second.items()}


def test_batches_fill_messages_close_to_64k_and_never_overflow():
    changes = [Change(None, rrset(f"host-{index:05d}", "A", [f"10.0.{index // 256}.{index % 256}"]))
               for index in range(10_000)]
    batches = list(client._batches(ORIGIN, changes))
    key = client.TsigKey("staff-key", "hmac-sha256", "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls=")
    sizes = []
    for number, batch in enumerate(batches):
        signed, _mac = wire.sign(wire.render_update(ORIGIN, batch, number, next(iter(SOA.rdatas))),
                                 next(iter(key.keyring.values())), number)
        parsed = dns.message.from_wire(signed, keyring=key.keyring)  # dnspython checks the TSIG
        assert sum(len(rrset) for rrset in parsed.update) == len(batch)
        sizes.append(len(signed))
    assert sum(len(batch) for batch in batches) == 10_000
    assert len(batches) == 5
    assert max(sizes) <= 65_535
    assert min(sizes[:-1]) > 0.85 * 65_535


def test_changes_of_one_name_stay_in_one_message():
    changes = [Change(None, rrset(f"h{index}", rdtype, [value]))
               for index in range(3_000) for rdtype, value in (("A", "192.0.2.1"), ("AAAA", "2001:db8::1"))]
    for batch in client._batches(ORIGIN, changes):
        names = [change.name for change in batch]
        assert len(names) == 2 * len(set(names))


# ---- dns_record's one change ------------------------------------------------------------------------

def _record_change(live, values, **options):
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone import RecordRequest, plan_record

    request = RecordRequest(ZONE, "www", "A", values, **options)
    wanted = rrset("www", "A", values, ttl=options.get("ttl") if options.get("ttl") is not None else 3600) \
        if values else None
    key = rrset("www", "A", ["192.0.2.1"]).key
    return plan_record(live, wanted, request, key, 3600)


def test_record_replace_append_and_remove_values():
    live = rrset("www", "A", ["192.0.2.1", "192.0.2.2"])
    assert _record_change(live, ["192.0.2.1", "192.0.2.2"], ttl=300) is None
    replaced = _record_change(live, ["192.0.2.3"])
    assert replaced.new.values() == ["192.0.2.3"] and replaced.new.ttl == 300  # keeps the live TTL
    appended = _record_change(live, ["192.0.2.3"], mode="append")
    assert appended.new.values() == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert _record_change(live, ["192.0.2.2"], mode="append") is None
    removed = _record_change(live, ["192.0.2.2", "192.0.2.9"], state="absent")
    assert apply_changes({live.key: live}, [removed])[live.key].values() == ["192.0.2.1"]
    assert _record_change(live, ["192.0.2.9"], state="absent") is None
    assert _record_change(live, None, state="absent").new is None
    assert _record_change(None, None, state="absent") is None


def test_record_ttl_zero_is_a_ttl():
    change = _record_change(None, ["192.0.2.1"], ttl=0)
    assert change.new.ttl == 0


def test_reported_changes_are_limited_but_counts_and_plan_are_complete():
    plan = plan_zone(zone(SOA), zone(*_hosts(5)), ORIGIN)
    data = changes_as_data(plan, limit=2)
    assert [entry["name"] for entry in data["added"]] == ["h0", "h1"]
    assert plan.counts["added"] == 5
    assert plan_text(plan).count("*   Create") == 5
