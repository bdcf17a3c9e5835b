"""Unit tests of module_utils/acme/runner.py's DNS-01 set-up: the name servers and the resolver of the
certificate module pass the DNS modules' one address rule (module_utils/dns/module_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme.runner import build_dns  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402

SECRET = "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls="
PARAMS = {"dns_servers": [{"address": "127.0.0.1", "port": 5301, "name": "ns1"}, {"address": "::1"}],
          "dns_resolver": {"address": "127.0.0.1", "port": 5353},
          "dns_tsig_key_name": "staff-key", "dns_tsig_key_secret": SECRET}


def test_ip_addresses_build_the_primary_the_servers_and_the_resolver():
    dns01 = build_dns(PARAMS)
    assert [(server.address, server.port) for server in dns01.servers] == [("127.0.0.1", 5301), ("::1", 53)]
    assert dns01.primary.tsig.name == "staff-key" and dns01.primary.role == "primary name server"


@pytest.mark.parametrize(("change", "field"), [
    ({"dns_servers": [{"address": "ns1.example.test", "port": 53}]}, "dns_servers[0].address"),
    ({"dns_servers": [{"address": "127.0.0.1"}, {"address": "localhost"}]}, "dns_servers[1].address"),
    ({"dns_resolver": {"address": "resolver.example.test"}}, "dns_resolver.address"),
    ({"dns_servers": [{"address": "127.0.0.1", "port": "fifty-three"}]}, "dns_servers[0].port"),
    ({"dns_servers": [{"address": "127.0.0.1", "port": 70000}]}, "dns_servers[0].port"),
    ({"dns_resolver": "127.0.0.1"}, "dns_resolver"),
])
def test_a_host_name_or_bad_port_is_refused_naming_the_option(change, field):
    with pytest.raises(InvalidInput) as caught:
        build_dns({**PARAMS, **change})
    assert caught.value.field == field


def test_a_tsig_key_is_required():
    with pytest.raises(InvalidInput, match="TSIG key"):
        build_dns({**PARAMS, "dns_tsig_key_secret": None})
