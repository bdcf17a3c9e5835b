"""The lab's configuration files, rendered from lab/templates/ and the nameserver role's templates,
checked by the programs that read them (named-checkconf, unbound-checkconf). No lab is started."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from psf_lab import acme, bind, resolver  # noqa: E402
from psf_lab.config import LabPaths  # noqa: E402
from psf_lab.keys import ensure_keys, lab_key  # noqa: E402
from psf_lab.templates import LAB_TEMPLATES, ROLE_TEMPLATES, render_lab, render_role  # noqa: E402

needs = pytest.mark.skipif(not shutil.which("named-checkconf"), reason="named-checkconf (bind9-utils) missing")


@pytest.fixture
def paths(tmp_path: Path) -> LabPaths:
    lab = LabPaths(tmp_path / "lab")
    for directory in (lab.run, lab.log, lab.ns1_zone_dir, lab.resolver, lab.anchor_dir):
        directory.mkdir(parents=True, exist_ok=True)
    ensure_keys(lab)
    return lab


@needs
@pytest.mark.parametrize("service", ["registry", "ns1", "ns2"])
def test_named_configuration_loads_with_its_zones(paths: LabPaths, service: str) -> None:
    conf = bind.write_named_config(paths, service)

    result = subprocess.run(["named-checkconf", "-z", str(conf)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def test_ns1_and_ns2_options_are_the_nameserver_roles(paths: LabPaths) -> None:
    for service, role in (("ns1", "primary"), ("ns2", "secondary")):
        bind.write_named_config(paths, service)
        options = (paths.server_dir(service) / "named.conf.options").read_text()
        assert options.startswith("// Written by lab/labctl.py from roles/nameserver/templates/named.conf.options.j2")
        assert f"Options of the Infra-WG {role} (role nameserver)" in options
        assert f'include "{paths.server_dir(service)}/named.conf.options";' in (
            paths.server_dir(service) / "named.conf").read_text()
    ns2 = paths.server_dir("ns2")
    # The catalog consumer: in the role's options and the role's zone statement, once each.
    assert (ns2 / "named.conf.options").read_text().count("catalog-zones {") == 1
    assert 'zone "catalog.infra.test" {\n\ttype secondary;' in (ns2 / "catalog.conf").read_text()
    assert "catalog-zones" not in (ns2 / "named.conf").read_text()
    assert (ns2 / "rndc.key").resolve() == paths.key_file("rndc-key")


def test_bind_settings_of_ns1_and_ns2_have_one_source() -> None:
    """catalog-zones, controls and the infra servers' options are written in the role's templates only."""
    lab_text = "\n".join(path.read_text() for path in LAB_TEMPLATES.rglob("*.j2"))
    assert "catalog-zones" not in lab_text
    assert "controls {" not in lab_text.replace((LAB_TEMPLATES / "named/registry.conf.j2").read_text(), "")
    assert "catalog-zones {" in (ROLE_TEMPLATES / "named.conf.options.j2").read_text()


def test_role_options_without_the_lab_variables_are_unchanged() -> None:
    """The variables the lab sets (nameserver_extra_options, nameserver_allow_transfer) add nothing
    when unset: the role's own output keeps `allow-transfer { none; };` and no extra line."""
    variables = {
        "nameserver_role": "primary", "nameserver_config_dir": "/etc/bind", "nameserver_control_port": 953,
        "nameserver_working_dir": "/var/cache/bind", "nameserver_port": 53, "nameserver_listen_on": ["any"],
        "nameserver_listen_on_v6": ["any"], "nameserver_sig_signing_nodes": 10000,
        "nameserver_sig_signing_signatures": 10000, "nameserver_catalog_managed": True,
        **bind.psf_policy_variables(),
    }
    text = render_role("named.conf.options.j2", **variables)
    lines = text.splitlines()
    assert "\tallow-transfer { none; };" in lines
    signatures = lines.index("\tsig-signing-signatures 10000;")
    assert lines[signatures + 1] == "};"


def test_the_psf_policy_is_the_roles_defaults_in_ns1_and_ns2(paths: LabPaths) -> None:
    """ns1/ns2 define the role's `psf` policy with the role's default timings; only ns1 has the
    tests' compressed rollover policy (and the registry neither)."""
    for service in ("ns1", "ns2"):
        bind.write_named_config(paths, service)
        options = (paths.server_dir(service) / "named.conf.options").read_text()
        assert ('dnssec-policy "psf" {\n\tkeys { csk key-directory lifetime P1Y algorithm ecdsap256sha256; };\n'
                '\tdnskey-ttl PT1H;\n') in options
        assert "\tparent-ds-ttl P1D;\n" in options and "\tsignatures-validity-dnskey P14D;\n" in options
    assert 'dnssec-policy "lab-rollover" {' in (paths.server_dir("ns1") / "named.conf").read_text()
    assert "lab-rollover" not in (paths.server_dir("ns2") / "named.conf").read_text()
    assert "lab-rollover" not in bind.registry_config(paths)


def test_addzone_statement_with_parental_agents() -> None:
    statement = render_lab("named/addzone.j2", zone_file="/z/r.test.db", signed=True, dnssec_policy="lab-rollover",
                           parental_agents=[{"address": "127.0.0.1", "port": 5310}],
                           update_policy=bind.UPDATE_POLICY).strip()
    assert statement == ('{ type primary; file "/z/r.test.db"; dnssec-policy lab-rollover; inline-signing no; '
                         'parental-agents { 127.0.0.1 port 5310; }; update-policy { grant staff-key zonesub ANY; }; };')
    assert bind.zone_file("r.test.", "ns1.infra.test.", ("ns1.infra.test.",), ttl=5).splitlines()[1] == "$TTL 5"


def test_zone_files_and_addzone_statement(paths: LabPaths) -> None:
    statement = render_lab("named/addzone.j2", zone_file="/z/example.test.db", signed=True, dnssec_policy="lab",
                           update_policy=bind.UPDATE_POLICY).strip()
    assert statement == ('{ type primary; file "/z/example.test.db"; dnssec-policy lab; inline-signing no; '
                         'update-policy { grant staff-key zonesub ANY; }; };')
    text = bind.zone_file("example.test.", "ns1.infra.test.", ("ns1.infra.test.", "ns2.infra.test."),
                          "www 60 A 127.0.0.9\n")
    assert text.splitlines() == [
        "$ORIGIN example.test.", "$TTL 300", "@ SOA ns1.infra.test. hostmaster.infra.test. 1 300 30 1209600 60",
        "@ NS ns1.infra.test.", "@ NS ns2.infra.test.", "www 60 A 127.0.0.9",
    ]


def test_unbound_configuration_and_stubs(paths: LabPaths) -> None:
    if not shutil.which("unbound-checkconf"):
        pytest.skip("unbound-checkconf missing")
    resolver.write_stubs(paths, ["infra.test.", "b.test.", "a.test.", "a.test."])
    paths.unbound_conf.write_text(resolver.unbound_config(paths))
    resolver.ensure_unbound_control_keys(paths)
    paths.root_key.write_text(". 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+"
                              "KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n")

    result = subprocess.run(["unbound-checkconf", str(paths.unbound_conf)], capture_output=True, text=True,
                            check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    stubs = paths.stubs_conf.read_text()
    names = [line.split('"')[1] for line in stubs.splitlines() if line.startswith("\tname:")]
    assert names == [".", "test.", "a.test.", "b.test.", "infra.test."]
    assert stubs.count("stub-addr: 127.0.0.1@5300") == 2
    assert stubs.count("stub-addr: 127.0.0.1@5301") == 3


def test_stub_plan_never_touches_the_static_stubs() -> None:
    assert resolver.plan_stub_changes([".", "test.", "old.test.", "keep.test."], ["keep.test.", "new.test."]) == (
        ["new.test."], ["old.test."])


def test_pebble_configuration_is_json(paths: LabPaths) -> None:
    config = json.loads(acme.pebble_config(paths))["pebble"]
    assert config["listenAddress"] == "127.0.0.1:14000"
    assert config["certificate"] == str(paths.pebble / "cert.pem")
    assert config["externalAccountBindingRequired"] is False


def test_keys_are_bind_key_files_the_dns_client_reads(paths: LabPaths) -> None:
    key = lab_key("staff-key", paths)
    assert key.name == "staff-key" and key.algorithm == "hmac-sha256"
    assert paths.key_file("staff-key").stat().st_mode & 0o777 == 0o600
    assert f'include "{paths.key_file("rndc-key")}";' in paths.rndc_conf.read_text()
    assert ensure_keys(paths)["staff-key"] == key.secret  # kept, not made again
