"""The welcome a new tenant's liaisons receive (module_utils/notices/welcome.py): which
_acme-challenge CNAMEs the tenant must create, and what the text says for each service."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.acme.delegation import delegation_target  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.notices import welcome  # noqa: E402

ACME = "acme.infra.test"
NAMESERVERS = ["ns1.infra.test.", "ns2.infra.test."]


def record(**services):
    return {"name": "sprints", "display_name": "Python Sprints", "status": "active",
            "members": [{"name": "Ada", "email": "ada@sprints.test"},
                        {"name": "Ben", "email": "ben@sprints.test", "notify": False}],
            "services": services}


def test_only_names_outside_every_hosted_zone_need_a_cname():
    tenant = record(certificates=[
        {"name": "web", "names": ["sprints.test", "www.sprints.test", "*.sprints.test"]},
        {"name": "blog", "names": ["blog.sprints.org", "sprints.org", "www.sprints.test"]},
    ])
    cnames = welcome.challenge_cnames(tenant, ["sprints.test."], ACME)
    assert cnames == [f"_acme-challenge.{name}. CNAME {delegation_target(name, tenant='sprints', acme_zone=ACME)}"
                      for name in ("blog.sprints.org", "sprints.org")]
    # A zone of another tenant is ours too: its names are answered there, not through a CNAME.
    assert welcome.challenge_cnames(tenant, ["sprints.test", "sprints.org"], ACME) == []
    # A name merely ending like a hosted zone is not inside it.
    assert len(welcome.challenge_cnames(record(certificates=[{"name": "x", "names": ["notsprints.test"]}]),
                                        ["sprints.test"], ACME)) == 1


def test_the_text_names_each_service_what_to_do_and_who_reads_it():
    tenant = record(
        zones=[{"name": "sprints.test", "dnssec": True}, {"name": "old.sprints.test", "dnssec": False}],
        domains=[{"name": "sprints.test", "registrar": "tenant"}, {"name": "sprints.net", "registrar": "psf",
                                                                  "auto_renew": False}],
        certificates=[{"name": "web", "names": ["sprints.test", "sprints.org"]}],
        vms=[{"name": "web1", "fqdn": "web1.sprints.vms.infra.test", "size": "small"}],
        apps=[{"name": "site", "vm": "web1", "names": ["sprints.test"]}])
    report = {"domain": "sprints.test", "tenant": "sprints",
              "lines": ["Tenant sprints, domain sprints.test: NOT DELEGATED",
                        "  sprints.test. 3600 IN NS ns1.infra.test."]}
    cnames = welcome.challenge_cnames(tenant, ["sprints.test"], ACME)
    text = welcome.body(tenant, nameservers=NAMESERVERS, instructions=[report], cnames=cnames,
                        reply_to="infra-staff@python.org")
    assert text.startswith("Hello Ada,\n")  # Ben has notify: false
    assert "the zone sprints.test on ns1.infra.test., ns2.infra.test. (signed with DNSSEC)" in text
    assert "the zone old.sprints.test on ns1.infra.test., ns2.infra.test. (not signed)" in text
    assert "Domain: sprints.net, held at our registrar and not renewed automatically" in text
    assert "sprints.test, held at our registrar" not in text  # the tenant's own registrar holds it
    assert "TLS certificate web: sprints.test, sprints.org" in text
    assert "VM web1.sprints.vms.infra.test (small)" in text and "  ssh root@web1.sprints.vms.infra.test" in text
    assert "App site on web1: https://sprints.test/" in text
    assert ("  Tenant sprints, domain sprints.test: NOT DELEGATED\n"
            "    sprints.test. 3600 IN NS ns1.infra.test.\n") in text
    assert f"    {cnames[0]}\n" in text and len(cnames) == 1
    assert "write to infra-staff@python.org" in text
    assert welcome.subject(tenant) == "Welcome to the PSF Infra-WG's services: Python Sprints"


def test_a_tenant_with_nothing_to_do_is_told_so():
    text = welcome.body(record(zones=[{"name": "sprints.test"}]), nameservers=NAMESERVERS, instructions=[],
                        cnames=[], reply_to="staff@infra.test")
    assert "  - nothing: every record your services need is in zones we host." in text
    assert "ssh root@" not in text
    assert welcome.digest(text) == welcome.digest(text) != welcome.digest(text + " ")
