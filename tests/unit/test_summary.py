"""psf-infra summary's rules come from the collection: the certificate store from the registry's views,
server addresses through the DNS modules' address rule (never the system resolver)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.registry import views  # noqa: E402

from psf_infra_runner import summary  # noqa: E402


def test_the_certificate_store_is_the_playbooks_one():
    assert summary.certificate_store({"psf_certificate_store": "/var/lib/certs"}) == Path("/var/lib/certs")
    assert summary.certificate_store({"psf_lab_dir": "/work/.lab"}) == Path("/work/.lab/certificates")
    assert summary.certificate_store({}) == Path(views.DEFAULT_CERTIFICATE_STORE)


def test_a_server_named_by_host_name_is_never_asked():
    servers = summary.name_servers({
        "psf_dns_primary": {"name": "ns1", "address": "127.0.0.1", "port": 5301},
        "psf_dns_secondaries": [{"address": "ns2.example.test", "port": 53}, {"address": "::1"}],
    })
    assert servers[0] == ("primary", "127.0.0.1", 5301)
    assert servers[1][0] == "secondary1" and len(servers[1]) == 2
    assert "psf_dns_secondaries[0].address: 'ns2.example.test' is not an IP address" in servers[1][1]
    assert servers[2] == ("secondary2", "::1", 53)
    line = summary.zone_serials("example.test", servers[1:2])
    assert line.startswith("secondary1=psf_dns_secondaries[0].address: 'ns2.example.test' is not an IP address")
