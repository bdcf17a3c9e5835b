"""A server that is down is named: one line with the server, what was tried and what to check.

"Down" here is real: a loopback port nobody listens on (connection refused), or a socket that accepts
connections and never answers (no answer in time). No server is mocked.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.acme.dns01 import ResolverLookup  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.acme.protocol import (  # noqa: E402
    AcmeSession,
    CaUnavailable,
    Deadline,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.client import (  # noqa: E402
    DnsError,
    DnsServer,
    DnsTimeoutError,
    NameServerUnavailable,
    TsigKey,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.errors import BackendUnavailable  # noqa: E402

SECRET = "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls="


@pytest.fixture
def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text, text
    return text


def test_a_refused_zone_transfer_names_the_server_what_was_tried_and_what_to_check(closed_port):
    primary = DnsServer("127.0.0.1", closed_port, TsigKey("staff-key", "hmac-sha256", SECRET), timeout=2,
                        role="primary name server")
    with pytest.raises(NameServerUnavailable) as caught:
        primary.axfr("example.test")
    err = caught.value
    assert one_line(err) == (f"primary name server 127.0.0.1:{closed_port}: zone transfer (AXFR) of example.test. "
                             "failed: connection refused; check that named runs and listens there "
                             "(make lab-status in the lab)")
    assert isinstance(err, BackendUnavailable) and isinstance(err, DnsError)
    assert err.result_fields()["server"] == f"primary name server 127.0.0.1:{closed_port}"
    assert err.result_fields()["error"] == "NameServerUnavailable"
    assert SECRET not in str(err.result_fields())


def test_a_refused_update_is_named_too_and_the_default_role_is_name_server(closed_port):
    server = DnsServer("127.0.0.1", closed_port, TsigKey("staff-key", "hmac-sha256", SECRET), timeout=2)
    change = Change.add_values("_acme-challenge", "TXT", 0, ['"token"'], origin="example.test")
    with pytest.raises(NameServerUnavailable) as caught:
        server.send_updates("example.test", [change])
    assert one_line(caught.value).startswith(f"name server 127.0.0.1:{closed_port}: update of example.test. "
                                             "failed: connection refused; check that named runs")
    assert SECRET not in str(caught.value)


def test_a_server_that_never_answers_is_a_timeout_naming_the_timeout(silent_port):
    server = DnsServer("127.0.0.1", silent_port, timeout=0.3, role="secondary name server")
    with pytest.raises(DnsTimeoutError) as caught:
        server.axfr("example.test")
    text = one_line(caught.value)
    assert text.startswith(f"secondary name server 127.0.0.1:{silent_port}: zone transfer (AXFR) of "
                           "example.test. failed: no answer within 0.3 s; check that named runs")
    assert isinstance(caught.value, BackendUnavailable)


def test_a_udp_query_to_a_closed_port_is_refused_at_once(closed_port):
    # The ICMP "port unreachable" reaches the connected UDP socket: no waiting for the timeout.
    server = DnsServer("127.0.0.1", closed_port, timeout=5)
    started = time.monotonic()
    with pytest.raises(NameServerUnavailable, match=r"query example\.test\. SOA failed: connection refused; "):
        server.soa_serial("example.test")
    assert time.monotonic() - started < 2


def test_a_udp_query_nobody_answers_is_no_answer_within_the_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = DnsServer("127.0.0.1", silent.getsockname()[1], timeout=0.3)
        with pytest.raises(DnsTimeoutError, match=r"query example\.test\. SOA failed: no answer within 0\.3 s"):
            server.soa_serial("example.test")


def test_an_acme_ca_that_is_down_is_named_with_its_directory(closed_port, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = f"https://127.0.0.1:{closed_port}/dir"
    with pytest.raises(CaUnavailable) as caught:
        AcmeSession(directory, ec.generate_private_key(ec.SECP256R1()), ca_bundle=None, email=None,
                    deadline=Deadline(30, "test"), request_timeout=2)
    assert one_line(caught.value) == (f"ACME CA {directory}: reading the ACME directory failed: connection "
                                      "refused; check that the CA runs and acme_directory is right "
                                      "(make lab-status in the lab)")
    assert isinstance(caught.value, BackendUnavailable)


def test_an_acme_ca_that_never_answers_is_named_with_the_timeout(silent_port):
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = f"https://127.0.0.1:{silent_port}/dir"
    with pytest.raises(CaUnavailable) as caught:
        AcmeSession(directory, ec.generate_private_key(ec.SECP256R1()), ca_bundle=None, email=None,
                    deadline=Deadline(30, "test"), request_timeout=1)
    assert one_line(caught.value).startswith(f"ACME CA {directory}: reading the ACME directory failed: no answer "
                                             "within 1 s; check that the CA runs")


def test_a_resolver_that_is_down_is_named(closed_port):
    lookup = ResolverLookup("127.0.0.1", closed_port, timeout=0.5)
    with pytest.raises(BackendUnavailable) as caught:
        lookup.zone_of("www.example.test")
    assert one_line(caught.value).startswith(f"resolver 127.0.0.1:{closed_port}: finding the zone of "
                                             "www.example.test failed: no usable answer")
    assert "check that the resolver runs" in str(caught.value)
