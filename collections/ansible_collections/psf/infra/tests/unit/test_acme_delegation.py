"""Unit tests of challenge names, acme-dns style delegation targets and the CAA verdict (no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme.caa import (  # noqa: E402
    CaaRecord,
    caa_verdict,
    issuer_domain,
)
from ansible_collections.psf.infra.plugins.module_utils.acme.delegation import (  # noqa: E402
    challenge_base,
    challenge_name,
    delegation_label,
    delegation_record,
    delegation_target,
    normalize_names,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402


def test_names_are_normalised_and_deduplicated_in_order():
    assert normalize_names(["WWW.Example.Test.", "example.test", "www.example.test", "*.Example.test"]) == \
        ["www.example.test", "example.test", "*.example.test"]


@pytest.mark.parametrize("bad", ["localhost", "a..test", "*example.test", "www.*.example.test", "-a.test",
                                 "a_b.test", "", "x" * 64 + ".test"])
def test_bad_names_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidInput) as caught:
        normalize_names(["ok.test", bad])
    assert caught.value.field == "names[1]"


def test_empty_list_is_refused():
    with pytest.raises(InvalidInput, match="at least one name"):
        normalize_names([])


def test_wildcard_and_apex_share_the_challenge_name():
    assert challenge_base("*.example.test") == "example.test"
    assert challenge_name("*.example.test") == challenge_name("example.test") == "_acme-challenge.example.test."


def test_delegation_target_is_stable_readable_and_under_the_tenant():
    target = delegation_target("www.pyladies.example", tenant="pyladies", acme_zone="acme.infra.test.")
    assert target == delegation_target("www.pyladies.example", tenant="pyladies", acme_zone="acme.infra.test")
    assert target.startswith("www-pyladies-example-")
    assert target.endswith(".pyladies.acme.infra.test.")
    assert delegation_target("*.pyladies.example", tenant="pyladies", acme_zone="acme.infra.test") == \
        delegation_target("pyladies.example", tenant="pyladies", acme_zone="acme.infra.test")


def test_delegation_record_is_the_exact_zone_file_line():
    record = delegation_record("pyladies.example", tenant="pyladies", acme_zone="acme.infra.test")
    label = delegation_label("pyladies.example")
    assert record == f"_acme-challenge.pyladies.example. CNAME {label}.pyladies.acme.infra.test."


def test_names_that_read_alike_get_different_targets():
    assert delegation_label("a-b.example") != delegation_label("a.b-example")


def test_bad_tenant_label_is_refused():
    with pytest.raises(InvalidInput) as caught:
        delegation_target("a.example", tenant="bad tenant", acme_zone="acme.infra.test")
    assert caught.value.field == "tenant"


@given(st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True), min_size=2, max_size=6))
def test_every_label_is_a_valid_dns_label(labels):
    name = ".".join(labels)
    label = delegation_label(name)
    assert 1 <= len(label) <= 63
    assert not label.startswith("-") and not label.endswith("-")
    assert all(c.isalnum() or c == "-" for c in label)


# ---- CAA (RFC 8659) ------------------------------------------------------------------------------


def caa(*records: tuple[int, str, str]) -> list[CaaRecord]:
    return [CaaRecord(*record) for record in records]


def test_no_caa_allows_any_ca():
    assert caa_verdict([], identities=["pebble.test"], wildcard=False)[0]


def test_issue_naming_our_ca_allows():
    allowed, why = caa_verdict(caa((0, "issue", "pebble.test")), identities=["pebble.test"], wildcard=False)
    assert allowed and "pebble.test" in why


def test_issue_naming_another_ca_forbids_and_says_which():
    allowed, why = caa_verdict(caa((0, "issue", "otherca.example")), identities=["pebble.test"], wildcard=False)
    assert not allowed and "otherca.example" in why


def test_issuewild_wins_for_wildcards_only():
    records = caa((0, "issue", "pebble.test"), (0, "issuewild", ";"))
    assert caa_verdict(records, identities=["pebble.test"], wildcard=False)[0]
    assert not caa_verdict(records, identities=["pebble.test"], wildcard=True)[0]


def test_issue_applies_to_wildcards_without_issuewild():
    assert not caa_verdict(caa((0, "issue", "otherca.example")), identities=["pebble.test"], wildcard=True)[0]


def test_iodef_alone_does_not_restrict():
    assert caa_verdict(caa((0, "iodef", "mailto:x@example.test")), identities=["pebble.test"], wildcard=False)[0]


def test_unknown_critical_tag_forbids():
    assert not caa_verdict(caa((128, "tbs", "x"), (0, "issue", "pebble.test")), identities=["pebble.test"],
                           wildcard=False)[0]


def test_issuer_domain_drops_parameters():
    assert issuer_domain("letsencrypt.org; validationmethods=dns-01") == "letsencrypt.org"
