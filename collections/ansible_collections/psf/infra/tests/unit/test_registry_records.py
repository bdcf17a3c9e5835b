"""Unit tests of what the registry judges with the DNS code (records, zone files, DNS size limits),
the tables it shares (statuses, key types, zone-name spelling) and the views playbooks read (zones
with their tenant file and the Infra-WG NS, certificates with their destination). No network."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.filter import nameserver, tsig  # noqa: E402
from ansible_collections.psf.infra.plugins.filter import tenants as filters  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.acme import keys  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registry import checks, loading, schema, views  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registry.names import is_apex, zone_name  # noqa: E402
from test_tenants import PACKAGING, SETTINGS, TODAY, changed  # noqa: E402

FILE = "/srv/tenants/packaging.yml"
WHERE = f"{FILE}: tenant 'packaging': "


@pytest.fixture
def config() -> checks.RegistryConfig:
    return checks.build_config(SETTINGS, source="tenants.yml")


def with_record(record: dict) -> dict:
    document = copy.deepcopy(PACKAGING)
    document["services"]["zones"][0]["records"].append(record)
    return document


def problems_of(document: dict, config: checks.RegistryConfig) -> list[str]:
    return [str(problem) for problem in checks.check_tenant(document, file=FILE, config=config, today=TODAY).problems]


# ---------------------------------------------------------------- records, judged by dns/validate.py


@pytest.mark.parametrize(("record", "field", "reason"), [
    ({"name": "bad", "type": "A", "values": ["300.1.2.3"]},
     "records[2].values[0]", "'300.1.2.3' is not an IPv4 address (bad A)"),
    ({"name": "bad", "type": "BOGUS", "values": ["x"]}, "records[2].type", "unknown record type 'BOGUS'"),
    ({"name": "@", "type": "CNAME", "values": ["web1"]},
     "records[2]", "a CNAME cannot be at the zone apex"),
    ({"name": "_imap._tcp", "type": "SRV", "values": ["0 1 mail.packaging.test."]},
     "records[2].values[0]", "is not valid SRV data"),
    ({"name": "big", "type": "TXT", "values": ["x" * 70_000]},
     "records[2].values", "big TXT: a value is 70,275 bytes of record data; a DNS record holds at most 65,535"),
    ({"name": "big", "type": "TXT", "values": ["x" * 30_000, "y" * 30_000, "z" * 5_000]},
     "records[2].values", "an rrset must fit in one DNS UPDATE message"),
    ({"name": "www.example.org.", "type": "A", "values": ["192.0.2.1"]},
     "records[2].name", "'www.example.org.' is not inside the zone 'packaging.test'"),
    ({"name": "bad name", "type": "A", "values": ["192.0.2.1"]}, "records[2].name", "is not a valid DNS name"),
])
def test_every_bad_record_is_refused_naming_file_tenant_and_field(config, record: dict, field: str,
                                                                  reason: str) -> None:
    problems = problems_of(with_record(record), config)

    assert any(problem.startswith(f"{WHERE}services.zones[0].{field}: ") and reason in problem
               for problem in problems), problems


def test_a_cname_beside_other_data_is_refused(config) -> None:
    problems = problems_of(with_record({"name": "www", "type": "A", "values": ["192.0.2.1"]}), config)

    assert problems == [f"{WHERE}services.zones[0].records[1]: www has a CNAME beside other data (A): a CNAME "
                        "must be the only record at its name"]


def test_a_schema_problem_in_the_records_is_not_repeated_by_the_dns_parser(config) -> None:
    problems = problems_of(with_record({"name": "x", "type": "A"}), config)

    assert problems == [f"{WHERE}services.zones[0].records[2].values: is required"]


def test_an_ignored_name_outside_the_zone_is_refused(config) -> None:
    problems = problems_of(changed(services__zones__0__ignore=["legacy", "www.python.test."]), config)

    assert problems == [f"{WHERE}services.zones[0].ignore[1]: 'www.python.test.' is not inside the zone "
                        "'packaging.test' (a name outside the zone belongs to another zone)"]


def test_valid_records_pass(config) -> None:
    assert problems_of(PACKAGING, config) == []
    assert problems_of(with_record({"name": "mail", "type": "A", "values": ["192.0.2.25"]}), config) == []
    assert problems_of(with_record({"name": "big", "type": "TXT", "values": ["x" * 60_000]}), config) == []


def write_tenant(directory: Path, document: dict, suffix: str = ".yml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{document['name']}{suffix}"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def with_zone_file() -> dict:
    document = copy.deepcopy(PACKAGING)
    zone = document["services"]["zones"][0]
    del zone["records"]
    zone["zone_file"] = "zones/packaging.test.zone"
    return document


@pytest.mark.parametrize(("line", "reason"), [
    ("ftp A 192.0.2.300", "zones/packaging.test.zone:3: not a valid address"),
    ("@ CNAME web1", "a CNAME cannot be at the zone apex"),
    ("_imap._tcp SRV 0 1 mail", "zone file syntax error"),
    ("big TXT " + " ".join(['"' + "x" * 255 + '"'] * 300), "a DNS record holds at most 65,535"),
])
def test_a_zone_file_is_judged_at_load(tmp_path: Path, config, line: str, reason: str) -> None:
    directory = tmp_path / "tenants"
    write_tenant(directory, with_zone_file())
    (directory / "zones").mkdir()
    (directory / "zones" / "packaging.test.zone").write_text(f"$TTL 300\n@ A 192.0.2.1\n{line}\n")

    with pytest.raises(checks.InvalidRegistry) as refused:
        loading.load_registry(str(directory), config, today=TODAY)

    (problem,) = refused.value.problems
    assert problem.tenant == "packaging"
    assert problem.field.startswith("services.zones[0].zone_file")
    assert problem.file.endswith("tenants/packaging.yml")
    assert reason in str(problem)


def test_the_registry_s_problems_are_result_fields_one_by_one(tmp_path: Path, config) -> None:
    write_tenant(tmp_path / "tenants", with_record({"name": "bad", "type": "A", "values": ["300.1.2.3"]}))

    with pytest.raises(checks.InvalidRegistry) as refused:
        loading.load_registry(str(tmp_path / "tenants"), config, today=TODAY)

    (problem,) = refused.value.result_fields()["problems"]
    assert problem["tenant"] == "packaging"
    assert problem["file"].endswith("tenants/packaging.yml")
    assert problem["field"] == "services.zones[0].records[2].values[0]"
    assert "'300.1.2.3' is not an IPv4 address" in problem["msg"]


# ---------------------------------------------------------------- one table each


def test_one_key_type_table_for_the_schema_the_acme_code_and_the_editor_schema() -> None:
    assert "rsa-3072" in schema.KEY_TYPES
    assert keys.KEY_TYPES is schema.KEY_TYPES
    assert keys.DEFAULT_KEY_TYPE == schema.DEFAULT_KEY_TYPE
    editor = json.loads((COLLECTIONS / "ansible_collections/psf/infra/schemas/tenant.schema.json").read_text())
    key_type = editor["properties"]["services"]["properties"]["certificates"]["items"]["properties"]["key_type"]
    assert key_type["enum"] == list(schema.KEY_TYPES)


def test_the_certificate_module_documents_the_same_key_types() -> None:
    source = (COLLECTIONS / "ansible_collections/psf/infra/plugins/modules/certificate.py").read_text()
    documentation = yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
    option = documentation["options"]["key_type"]
    assert (option["choices"], option["default"]) == (list(schema.KEY_TYPES), schema.DEFAULT_KEY_TYPE)


def test_an_rsa_3072_certificate_is_accepted(config) -> None:
    assert problems_of(changed(services__certificates__0__key_type="rsa-3072"), config) == []


def test_one_set_of_hosted_statuses() -> None:
    assert schema.HOSTED_STATUSES == ("active", "suspended")
    assert set(schema.HOSTED_STATUSES) < set(schema.STATUSES)


@pytest.mark.parametrize(("text", "spelling"), [
    ("packaging.test", "packaging.test"), ("Packaging.Test.", "packaging.test"), (" pypa.test. ", "pypa.test"),
])
def test_one_zone_name_spelling_everywhere(text: str, spelling: str) -> None:
    assert zone_name(text) == spelling
    assert tsig.canonical_zone(text) == spelling
    assert nameserver.canonical_zone_name(text) == spelling


@pytest.mark.parametrize(("owner", "apex"), [
    ("@", True), ("packaging.test.", True), ("Packaging.Test.", True), ("packaging.test", False), ("www", False),
])
def test_is_apex(owner: str, apex: bool) -> None:
    assert is_apex(owner, "packaging.test") is apex


# ---------------------------------------------------------------- what playbooks read


def test_each_zone_knows_its_tenant_file_whatever_its_suffix(tmp_path: Path, config) -> None:
    path = write_tenant(tmp_path / "tenants", PACKAGING, suffix=".yaml")

    registry = loading.load_registry(str(tmp_path / "tenants"), config, today=TODAY)

    (zone,) = views.zones(registry.tenants)
    assert zone["source_file"] == str(path)
    assert zone["tenant"] == "packaging"


NAMESERVERS = ["ns1.infra.test.", "ns2.infra.test."]


def test_inline_records_get_the_infra_wg_apex_ns() -> None:
    (zone,) = views.zones({"packaging": PACKAGING}, nameservers=NAMESERVERS)

    assert zone["records"][-1] == {"name": "@", "type": "NS", "values": NAMESERVERS}
    assert zone["records"][:-1] == PACKAGING["services"]["zones"][0]["records"]
    assert len(PACKAGING["services"]["zones"][0]["records"]) == 2, "the input is not changed"


@pytest.mark.parametrize("owner", ["@", "packaging.test.", "PACKAGING.TEST."])
def test_an_apex_ns_declared_by_the_tenant_is_kept_as_declared(owner: str) -> None:
    own = {"name": owner, "type": "NS", "values": ["ns.elsewhere.test."]}

    (zone,) = views.zones({"packaging": with_record(own)}, nameservers=NAMESERVERS)

    assert zone["records"][-1] == own
    assert not any(record["values"] == NAMESERVERS for record in zone["records"])


def test_a_zone_file_zone_gets_no_records() -> None:
    (zone,) = views.zones({"packaging": with_zone_file()}, nameservers=NAMESERVERS)

    assert "records" not in zone


def test_without_nameservers_the_records_are_as_declared() -> None:
    (zone,) = filters.tenant_zones({"packaging": PACKAGING})

    assert zone["records"] == PACKAGING["services"]["zones"][0]["records"]


def test_each_certificate_knows_its_destination() -> None:
    (certificate,) = filters.tenant_certificates({"packaging": PACKAGING}, store="/var/lib/psf/certs")
    (default,) = filters.tenant_certificates({"packaging": PACKAGING})

    assert certificate["dest"] == "/var/lib/psf/certs/packaging/web"
    assert default["dest"] == f"{views.DEFAULT_CERTIFICATE_STORE}/packaging/web"
    assert filters.certificate_store(None) == views.DEFAULT_CERTIFICATE_STORE
    assert filters.certificate_store("/var/lib/psf/certs") == "/var/lib/psf/certs"


def test_the_zone_name_filter_spells_names_as_the_registry() -> None:
    from ansible_collections.psf.infra.plugins.filter import names as name_filters

    assert name_filters.FilterModule().filters()["zone_name"]("Infra.Test.") == "infra.test"
