"""Unit tests of the DNS client's pure parts: TSIG keys, connection options, serial arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.dns.client import (  # noqa: E402
    DnsError,
    TsigKey,
    next_serial,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.module_support import (  # noqa: E402
    secondaries_from_params,
    server_from_params,
)
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402

SECRET = "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls="


def test_serial_increments_like_bind_and_skips_zero():
    assert next_serial(41) == 42
    assert next_serial(2**32 - 2) == 2**32 - 1
    assert next_serial(2**32 - 1) == 1


def test_tsig_key_hides_its_secret_and_reads_bind_files(tmp_path):
    key = TsigKey("staff-key", "HMAC-SHA256.", SECRET)
    assert key.algorithm == "hmac-sha256"
    assert SECRET not in repr(key)
    key_file = tmp_path / "staff.key"
    key_file.write_text(f'key "staff-key" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n')
    loaded = TsigKey.from_file(str(key_file))
    assert (loaded.name, loaded.algorithm, loaded.secret) == ("staff-key", "hmac-sha256", SECRET)


@pytest.mark.parametrize(("algorithm", "secret", "words"), [
    ("hmac-sha256", "not base64!", "not valid base64"),
    ("hmac-sha256", "", "empty secret"),
    ("rot13", SECRET, "not supported"),
])
def test_bad_tsig_keys_are_refused(algorithm, secret, words):
    with pytest.raises(DnsError, match=words):
        TsigKey("staff-key", algorithm, secret)


def test_servers_are_ip_addresses_never_host_names():
    params = {"server": "127.0.0.1", "port": 5301, "tsig_key_name": "staff-key", "tsig_key_secret": SECRET,
              "tsig_key_algorithm": "hmac-sha256", "timeout": 3.0}
    server = server_from_params(params)
    assert (server.address, server.port, server.tsig.name, server.timeout) == ("127.0.0.1", 5301, "staff-key", 3.0)
    with pytest.raises(InvalidInput, match="not an IP address") as caught:
        server_from_params({**params, "server": "ns1.example.test"})
    assert caught.value.field == "server"
    with pytest.raises(InvalidInput, match="out of range"):
        server_from_params({**params, "port": 70000})
    with pytest.raises(InvalidInput) as caught:
        secondaries_from_params({"secondaries": [{"server": "::1", "port": 53}, {"server": "ns2", "port": 53}]})
    assert caught.value.field == "secondaries[1].server"
