"""psf.infra.dnssec_info's walk (module_utils/dns/chain.py) over zones signed here with dnspython and
served by small authoritative servers on 127.0.0.1 (real UDP, one zone per server, answers built
from the signed zones as an authoritative server builds them: answers, referrals with DS or NSEC,
NODATA and NXDOMAIN with the signed SOA)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fakes"))

from ansible_collections.psf.infra.plugins.module_utils.dns.chain import (
    BOGUS,
    INSECURE,
    SECURE,
    NotAZone,
    Referrals,
    TrustAnchor,
    checker_from_params,
    walk_options,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput
from authoritative import DAY, Key, Server, make_zone


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A root, ``test.`` and children: good (secure), bad (wrong DS digest), old (expired
    signatures), plain (unsigned, no DS), all signed in-process and served on 127.0.0.1."""
    keys = {name: Key() for name in (".", "test.", "good.test.", "bad.test.", "old.test.")}
    wrong = keys["bad.test."].ds("bad.test.")
    wrong = wrong[:-4] + ("0000" if not wrong.endswith("0000") else "1111")
    now = time.time()
    zones = {
        ".": make_zone(".", f"test. 300 IN NS ns.test.lab.\ntest. 300 IN DS {keys['test.'].ds('test.')}\n",
                       keys["."]),
        "test.": make_zone("test.", "".join([
            f"good 300 IN NS ns.good.test.lab.\ngood 300 IN DS {keys['good.test.'].ds('good.test.')}\n",
            f"bad 300 IN NS ns.bad.test.lab.\nbad 300 IN DS {wrong}\n",
            f"old 300 IN NS ns.old.test.lab.\nold 300 IN DS {keys['old.test.'].ds('old.test.')}\n",
            "plain 300 IN NS ns.plain.test.lab.\n",
            "www 300 IN A 127.0.0.1\n",
        ]), keys["test."]),
        "good.test.": make_zone("good.test.", "www 300 IN A 127.0.0.1\n", keys["good.test."]),
        "bad.test.": make_zone("bad.test.", "", keys["bad.test."]),
        "old.test.": make_zone("old.test.", "", keys["old.test."], inception=now - 30 * DAY,
                               expiration=now - DAY),
        "plain.test.": make_zone("plain.test.", "", None),
    }
    servers = {origin: Server(zone) for origin, zone in zones.items()}
    anchor = tmp_path_factory.mktemp("anchor") / "root.key"
    anchor.write_text(f". 300 IN DNSKEY {keys['.'].dnskey.to_text()}\n")
    params = {
        "trust_anchor": str(anchor), "timeout": 2.0,
        "root_servers": [{"server": "127.0.0.1", "port": servers["."].port}],
        "nameserver_addresses": [{"name": f"ns.{origin}lab", "address": "127.0.0.1", "port": server.port}
                                 for origin, server in servers.items() if origin != "."],
    }
    try:
        yield {"params": params, "keys": keys, "servers": servers}
    finally:
        for server in servers.values():
            server.stop()


def check(world: dict, zone: str, **more) -> dict:
    return checker_from_params({**world["params"], "zone": zone, **more}).check(zone).as_dict()


def test_a_signed_chain_is_secure(world):
    result = check(world, "good.test")
    assert result["status"] == SECURE, result["reason"]
    assert [cut["zone"] for cut in result["chain"]] == [".", "test.", "good.test."]
    keys = world["keys"]
    for cut in result["chain"]:
        tag = dns.dnssec.key_id(keys[cut["zone"]].dnskey)
        assert cut["validated_by"] == tag
        assert cut["dnskeys"] == [{"key_tag": tag, "flags": 257, "algorithm": 13}]
        assert cut["signature_expiry"].endswith("Z")
    assert result["chain"][2]["ds"] == [keys["good.test."].ds("good.test.")]
    assert 9.9 < result["days_to_signature_expiry"] <= 10


def test_a_wrong_ds_digest_is_bogus(world):
    result = check(world, "bad.test.")
    assert result["status"] == BOGUS
    assert result["reason"].startswith("bad.test.: no DNSKEY matches the DS at test.")
    assert str(dns.dnssec.key_id(world["keys"]["bad.test."].dnskey)) in result["reason"]


def test_expired_signatures_are_bogus(world):
    result = check(world, "old.test.")
    assert result["status"] == BOGUS
    assert result["reason"].startswith("old.test. DNSKEY: no valid signature")
    assert "expired at" in result["reason"]


def test_the_chain_is_bogus_when_the_root_key_is_not_the_anchor(world, tmp_path):
    other = tmp_path / "other.key"
    other.write_text(f". IN DS {Key().ds('.')}\n")
    result = check(world, "good.test.", trust_anchor=str(other))
    assert result["status"] == BOGUS
    assert result["reason"].startswith(".: no DNSKEY matches the trust anchor")


def test_an_unsigned_child_of_a_signed_parent_is_insecure(world):
    result = check(world, "plain.test.")
    assert result["status"] == INSECURE
    assert "test. delegates plain.test. without a DS record" in result["reason"]
    assert "signed NSEC record at plain.test." in result["reason"]
    assert result["chain"][-1] == {"zone": "plain.test.", "ds": [], "dnskeys": [], "validated_by": None,
                                   "signature_expiry": None}


def test_a_name_that_is_not_a_zone_is_an_error(world):
    with pytest.raises(NotAZone, match=r"test\. answers that nope\.test\. does not exist"):
        check(world, "nope.test.")
    with pytest.raises(NotAZone, match=r"www\.test\. is not a zone: test\. does not delegate it"):
        check(world, "www.test.")


def test_a_server_that_does_not_answer_is_named(world):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(Exception, match=rf"root name server 127\.0\.0\.1:{port}: query \. DNSKEY failed"):
        check(world, "good.test.", root_servers=[{"server": "127.0.0.1", "port": port}], timeout=0.5)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("root_servers", [{"server": "a.root-servers.net"}], "root_servers[0].server: 'a.root-servers.net' is not an IP"),
    ("root_servers", [{"server": "127.0.0.1", "port": 70000}], "root_servers[0].port: port 70000 is out of range"),
    ("nameserver_addresses", [{"name": "ns.x", "address": "ns.x"}], "nameserver_addresses[0].address: 'ns.x'"),
    ("timeout", -1.0, "timeout: timeout must be more than 0 seconds"),
    ("zone", "", "zone: a zone is needed"),
    ("trust_anchor", "/nonexistent/root.key", "/nonexistent/root.key: trust_anchor: cannot read the trust anchor"),
])
def test_bad_options_are_refused_naming_the_field(world, option, value, message):
    with pytest.raises(InvalidInput) as raised:
        checker_from_params({**world["params"], "zone": "good.test.", option: value})
    assert str(raised.value).startswith(message)
    assert raised.value.field.startswith(option)


def test_a_trust_anchor_file_holds_only_root_ds_or_dnskey(tmp_path):
    path = tmp_path / "anchor"
    path.write_text("example. 300 IN A 127.0.0.1\n")
    with pytest.raises(InvalidInput, match="only DS or DNSKEY records of the root"):
        TrustAnchor.from_file(str(path))


def test_the_built_in_anchors_are_ianas():
    anchor = TrustAnchor.iana()
    assert sorted((ds.key_tag, int(ds.algorithm), int(ds.digest_type)) for ds in anchor.ds) == [
        (20326, 8, 2), (38696, 8, 2)]


@pytest.mark.parametrize("name, parent", [
    ("test.", "."), ("good.test.", "test."), ("plain.test", "test."), ("www.good.test.", "good.test."),
    ("nothing.here.test.", "test."),
])
def test_the_parent_of_a_name_is_found_by_following_referrals_from_the_root(world, name, parent):
    roots, addresses, timeout = walk_options(world["params"])
    zone, servers = Referrals(roots, addresses, timeout).parent_of(name)
    assert zone == parent
    assert [(server.address, server.port) for server in servers] == [("127.0.0.1", world["servers"][parent].port)]
