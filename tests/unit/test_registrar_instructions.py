"""What a tenant that keeps its own registrar is told (module_utils/registrar/instructions.py, filter
psf.infra.delegation_instructions): the exact NS and DS records, and the state the parent serves,
judged against the zone's keys - correct, ds_incomplete, ds_missing, wrong_ns, lame, missing,
stale_ds (failing), unknown. The parent's view is given as psf.infra.domain_info returns it."""

from __future__ import annotations

import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.filter.registrar import delegation_instructions  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registrar import instructions as ins  # noqa: E402

DOMAIN = "pyladies.test"
NAMESERVERS = ["ns1.infra.test.", "NS2.infra.test"]


def dnskey(flags: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=flags).to_text()


KSK, ZSK, NEW_KSK, OLD_KSK = dnskey(257), dnskey(256), dnskey(257), dnskey(257)


def ds(key: str, digest: str = "SHA256") -> str:
    rdata = dns.rdata.from_text("IN", "DNSKEY", key)
    return dns.dnssec.make_ds(dns.name.from_text(DOMAIN), rdata, digest).to_text().upper()


def parent(delegation: str = "correct", parent_ds: list[str] | None = None, problems: list[str] | None = None):
    return {"delegation": delegation, "parent_nameservers": ["ns1.infra.test", "ns2.infra.test"],
            "parent_ds": parent_ds or [], "problems": problems or []}


def report(signed=True, keys=(KSK, ZSK), seen=None):
    return ins.instructions(DOMAIN, nameservers=NAMESERVERS, signed=signed, dnskeys=list(keys) if keys else keys,
                            parent=seen, tenant="pyladies", display_name="PyLadies")


def test_the_records_to_set_are_exact():
    result = report(seen=parent(parent_ds=[ds(KSK)]))
    assert result["ns"] == ["pyladies.test. 86400 IN NS ns1.infra.test.", "pyladies.test. 86400 IN NS ns2.infra.test."]
    # only the secure entry point (KSK/CSK), SHA-256
    assert result["ds"] == [f"pyladies.test. 86400 IN DS {ds(KSK)}"]
    assert result["ds"][0].split()[6] == "2"
    assert len(result["dnskeys"]) == 1 and result["dnskeys"][0].split()[4] == "257"
    assert result["status"] == "correct" and not result["failing"]
    text = "\n".join(result["lines"])
    assert text.startswith("Tenant pyladies (PyLadies), domain pyladies.test: correct")
    assert "  ns1.infra.test\n  ns2.infra.test\n" in text
    tag, _algorithm, _, digest = ds(KSK).split(" ", 3)
    assert f"key tag {tag}, algorithm 13 (ECDSAP256SHA256), digest type 2 (SHA-256), digest {digest}" in text
    assert result["statuses"] == list(ins.STATUSES)


@pytest.mark.parametrize(("case", "kwargs", "status", "failing"), [
    ("parent not asked", {"seen": None}, "unknown", False),
    ("no delegation", {"seen": parent("missing", problems=["the parent does not delegate pyladies.test"])},
     "missing", False),
    ("lame", {"seen": parent("lame", [ds(KSK)])}, "lame", False),
    ("other name servers", {"seen": parent("mismatch", [ds(KSK)])}, "wrong_ns", False),
    ("signed, no DS", {"seen": parent()}, "ds_missing", False),
    ("rollover: new key not at the parent yet", {"keys": (KSK, NEW_KSK, ZSK), "seen": parent(parent_ds=[ds(KSK)])},
     "ds_incomplete", False),
    ("rollover: old DS left beside the new one", {"seen": parent(parent_ds=[ds(KSK), ds(OLD_KSK)])}, "correct", False),
    ("DS of another digest type of our key", {"seen": parent(parent_ds=[ds(KSK, "SHA384")])}, "correct", False),
    ("DS of an old key only", {"seen": parent(parent_ds=[ds(OLD_KSK)])}, "stale_ds", True),
    ("stale DS wins over lame", {"seen": parent("lame", [ds(OLD_KSK)])}, "stale_ds", True),
    ("DS of a ZSK only", {"seen": parent(parent_ds=[ds(ZSK)])}, "stale_ds", True),
    ("unsigned zone with a DS at the parent", {"signed": False, "keys": None, "seen": parent(parent_ds=[ds(KSK)])},
     "stale_ds", True),
    ("unsigned zone, no DS", {"signed": False, "keys": None, "seen": parent()}, "correct", False),
    ("signed, keys not known yet (check mode)", {"keys": None, "seen": parent(parent_ds=[ds(OLD_KSK)])},
     "correct", False),
])
def test_the_state_at_the_parent(case, kwargs, status, failing):
    result = report(**kwargs)
    assert (result["status"], result["failing"]) == (status, failing), case
    assert result["status"] in ins.STATUSES
    assert result["lines"][0].endswith(".")


def test_a_stale_ds_says_which_keys_the_zone_has():
    result = report(seen=parent(parent_ds=[ds(OLD_KSK)]))
    tag = dns.dnssec.key_id(dns.rdata.from_text("IN", "DNSKEY", KSK))
    assert any(f"matches none of the zone's keys ({tag})" in problem for problem in result["problems"])
    assert "STALE DS" in result["lines"][0]


def test_unsigned_zone_is_told_to_set_no_ds():
    result = report(signed=False, keys=None, seen=parent())
    assert result["ds"] == []
    assert any("set no DS record" in line for line in result["lines"])


def test_bad_keys_and_names_are_refused_naming_the_tenant():
    with pytest.raises(InvalidInput) as caught:
        report(keys=["257 3 13 not-base64!"])
    assert caught.value.tenant == "pyladies" and caught.value.field == "dnskeys"
    with pytest.raises(InvalidInput):
        ins.instructions(DOMAIN, nameservers=[], tenant="pyladies")


def test_the_filter_takes_a_domain_entry_and_a_domain_info_result():
    entry = {"name": DOMAIN, "tenant": "pyladies"}
    result = delegation_instructions(entry, NAMESERVERS, True, [KSK, ZSK], parent(parent_ds=[ds(KSK)]), "PyLadies")
    assert result["status"] == "correct"
    skipped = delegation_instructions(entry, NAMESERVERS, True, [KSK], {"skipped": True})
    assert skipped["status"] == "unknown"
    failed = delegation_instructions(entry, NAMESERVERS, True, [KSK],
                                     {"failed": True, "msg": "parent 127.0.0.1: timeout"})
    assert failed["status"] == "unknown"
    assert failed["problems"] == ["the parent could not be asked: parent 127.0.0.1: timeout"]
    with pytest.raises(AnsibleFilterError, match="nameservers must be a list"):
        delegation_instructions(entry, "ns1.infra.test")
    with pytest.raises(AnsibleFilterError, match="expected a domain entry"):
        delegation_instructions(DOMAIN, NAMESERVERS)
    with pytest.raises(AnsibleFilterError, match="tenant 'pyladies'"):
        delegation_instructions(entry, NAMESERVERS, True, ["nonsense"])


def test_during_a_rollover_the_ds_to_set_follow_the_cdnskey_set():
    # BIND published the new key but still wants the old one's DS at the parent (CDNSKEY = old)
    result = ins.instructions(DOMAIN, nameservers=NAMESERVERS, dnskeys=[KSK, NEW_KSK, ZSK], cdnskeys=[KSK],
                              parent=parent(parent_ds=[ds(KSK)]), tenant="pyladies")
    assert result["ds"] == [f"pyladies.test. 86400 IN DS {ds(KSK)}"]
    assert result["status"] == "correct"
    # then the new one: the old DS still validates (its key is published), the set is incomplete
    result = ins.instructions(DOMAIN, nameservers=NAMESERVERS, dnskeys=[KSK, NEW_KSK, ZSK], cdnskeys=[NEW_KSK],
                              parent=parent(parent_ds=[ds(KSK)]), tenant="pyladies")
    assert result["ds"] == [f"pyladies.test. 86400 IN DS {ds(NEW_KSK)}"]
    assert (result["status"], result["failing"]) == ("ds_incomplete", False)
    # the old key is gone from the zone: its DS is stale
    result = ins.instructions(DOMAIN, nameservers=NAMESERVERS, dnskeys=[NEW_KSK, ZSK], cdnskeys=[NEW_KSK],
                              parent=parent(parent_ds=[ds(KSK)]), tenant="pyladies")
    assert (result["status"], result["failing"]) == ("stale_ds", True)


def test_the_cdnskey_delete_record_names_no_key():
    result = ins.instructions(DOMAIN, nameservers=NAMESERVERS, dnskeys=[KSK, ZSK], cdnskeys=["0 3 0 AA=="],
                              parent=parent(parent_ds=[ds(KSK)]), tenant="pyladies")
    assert result["ds"] == [] and result["status"] == "correct"


# One rule, one place: the DS a tenant is told to set are those domains.yml sets for our own domains.

def zone_info(*records: tuple[str, list[str]]) -> dict:
    return {"records": [{"name": "@", "type": rdtype, "ttl": 300, "values": values} for rdtype, values in records]}


RULE_CASES = {
    "new zone, one SEP key": zone_info(("DNSKEY", [KSK, ZSK])),
    "rollover, CDNSKEY still the old key": zone_info(("DNSKEY", [KSK, NEW_KSK, ZSK]), ("CDNSKEY", [KSK])),
    "rollover, CDNSKEY the new key": zone_info(("DNSKEY", [KSK, NEW_KSK, ZSK]), ("CDNSKEY", [NEW_KSK])),
    "delete request, spelled with other key data": zone_info(("DNSKEY", [KSK, ZSK]), ("CDNSKEY", ["0 3 0 AAAA"])),
}


@pytest.mark.parametrize("case", RULE_CASES)
def test_the_instructions_follow_the_same_rule_as_the_registrar_run(case):
    from ansible_collections.psf.infra.plugins.filter.delegations import zone_parent_keys

    info = RULE_CASES[case]
    told = delegation_instructions({"name": DOMAIN, "tenant": "pyladies"}, NAMESERVERS, True, zone_info=info)
    wanted = zone_parent_keys(info)
    assert wanted is not None
    assert told["ds"] == [f"pyladies.test. 86400 IN DS {ds(key)}" for key in wanted], case


def test_several_sep_keys_and_no_cdnskey_name_no_key_and_the_tenant_gets_each_ds():
    from ansible_collections.psf.infra.plugins.filter.delegations import zone_parent_keys

    info = zone_info(("DNSKEY", [KSK, NEW_KSK, ZSK]))
    assert zone_parent_keys(info) is None  # domains.yml leaves the DS as it is
    told = delegation_instructions({"name": DOMAIN, "tenant": "pyladies"}, NAMESERVERS, True, zone_info=info)
    assert told["ds"] == [f"pyladies.test. 86400 IN DS {ds(KSK)}", f"pyladies.test. 86400 IN DS {ds(NEW_KSK)}"]


def test_the_filter_takes_a_zone_info_result_and_a_failed_one_leaves_the_keys_unknown():
    entry = {"name": DOMAIN, "tenant": "pyladies"}
    failed = delegation_instructions(entry, NAMESERVERS, True, zone_info={"failed": True, "msg": "NOTAUTH"})
    assert failed["ds"] == [] and any("not known yet" in line for line in failed["lines"])
    with pytest.raises(AnsibleFilterError, match="not both"):
        delegation_instructions(entry, NAMESERVERS, True, [KSK], zone_info=zone_info(("DNSKEY", [KSK])))
