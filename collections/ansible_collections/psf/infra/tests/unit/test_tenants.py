"""Unit tests of the tenant registry (module_utils/registry/): schema, charter rules, names,
quotas, uniqueness across tenants and the inventory view. No network, no Ansible run."""

from __future__ import annotations

import copy
import datetime
import json
import sys
from pathlib import Path

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[5]
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registry import checks, loading, views  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registry.schema import TENANT_SCHEMA  # noqa: E402

TODAY = datetime.date(2026, 1, 15)
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICOz6LHpDztJ3vXMFa1lKe2qf7HPBklaJU/xWARx/sBC ada@laptop"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI9xegNTrGyPhQZsxqxYQKuzhj0MXq+W1oIT"
         "V6HwstMZYkp0Flw8ChF89E5BbbK06UmUKK8V7g+UEs2cEM32l0U=")

SETTINGS = {
    "size_presets": {
        "small": {"vcpus": 1, "memory_mib": 2048, "disk_gib": 20},
        "medium": {"vcpus": 2, "memory_mib": 4096, "disk_gib": 40},
        "large": {"vcpus": 4, "memory_mib": 8192, "disk_gib": 80},
    },
    "quotas": {"default": {"max_vms": 1, "sizes": ["small"]},
               "tenants": {"packaging": {"max_vms": 3, "sizes": ["small", "medium"]}}},
    "vm_domain": "vms.infra.test",
    "environment": "lab",
}

PACKAGING = {
    "name": "packaging",
    "display_name": "Packaging WG",
    "kind": "working-group",
    "approval": {"body": "psf-membership", "date": "2023-03-15"},
    "status": "active",
    "members": [{"name": "Ada", "email": "ada@packaging.test", "ssh_keys": [ED25519]}],
    "services": {
        "domains": [{"name": "packaging.test", "registrar": "psf"}],
        "zones": [{"name": "packaging.test", "records": [
            {"name": "@", "type": "MX", "values": ["10 mail.packaging.test."]},
            {"name": "www", "type": "CNAME", "ttl": 60, "values": ["web1"]},
        ]}],
        "certificates": [{"name": "web", "names": ["packaging.test", "*.packaging.test"]}],
        "vms": [{"name": "web1", "size": "medium", "address": "2001:db8::10", "backup": {"paths": ["/etc"]}}],
        "apps": [{"name": "guide", "vm": "web1", "names": ["www.packaging.test"], "port": 8080,
                  "certificate": "web"}],
    },
}


@pytest.fixture
def config() -> checks.RegistryConfig:
    return checks.build_config(SETTINGS, source="tenants.yml")


def check(document: dict, config: checks.RegistryConfig, file: str = "/srv/tenants/packaging.yml"):
    return checks.check_tenant(document, file=file, config=config, today=TODAY)


def problems_of(document: dict, config: checks.RegistryConfig) -> list[str]:
    return [str(problem) for problem in check(document, config).problems]


def changed(**edits) -> dict:
    """A copy of PACKAGING with dotted-path edits; a value of ... deletes the key."""
    document = copy.deepcopy(PACKAGING)
    for dotted, value in edits.items():
        *parents, last = [int(part) if part.isdigit() else part for part in dotted.split("__")]
        node = document
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return document


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(TENANT_SCHEMA)


def test_the_editor_copy_of_the_schema_equals_the_code() -> None:
    copy_on_disk = COLLECTIONS / "ansible_collections/psf/infra/schemas/tenant.schema.json"
    assert json.loads(copy_on_disk.read_text()) == TENANT_SCHEMA


def test_a_valid_tenant_is_normalised_with_defaults(config) -> None:
    result = check(PACKAGING, config)

    assert result.problems == []
    record = result.record
    assert record["members"] == [{"name": "Ada", "email": "ada@packaging.test", "ssh_keys": [ED25519],
                                  "notify": True}]
    assert record["services"]["domains"] == [{"name": "packaging.test", "registrar": "psf", "auto_renew": True,
                                              "register": False}]
    zone = record["services"]["zones"][0]
    assert (zone["dnssec"], zone["managed"], zone["ignore"]) == (True, "declared", [])
    assert zone["records"][1] == {"name": "www", "type": "CNAME", "ttl": 60, "values": ["web1"]}
    assert record["services"]["certificates"][0]["key_type"] == "ecdsa-p256"
    assert record["services"]["vms"][0] == {
        "name": "web1", "fqdn": "web1.packaging.vms.infra.test", "size": "medium", "vcpus": 2,
        "memory_mib": 4096, "disk_gib": 40, "address": "2001:db8::10",
        "backup": {"paths": ["/etc"], "exclude": []}, "monitoring": {"http_checks": []}, "state": "active",
    }
    assert record["services"]["apps"][0]["certificate"] == "web"


@pytest.mark.parametrize(("edits", "expected"), [
    ({"kind": "club"}, "kind: 'club' is not one of: working-group, community-organization"),
    ({"approval__body": "psf-board"}, "approval.body: 'psf-board' does not match kind 'working-group'"),
    ({"approval__date": "2026-01-16"}, "approval.date: '2026-01-16' is in the future (today is 2026-01-15)"),
    ({"approval__date": "15/03/2023"}, "approval.date: '15/03/2023' must be an ISO date"),
    ({"approval": ...}, "approval: is required"),
    ({"status": "retired"}, "services: a retired tenant receives no services, but it declares domains, zones"),
    ({"status": "paused"}, "status: 'paused' is not one of: active, suspended, retired"),
    ({"members": []}, "members: the charter requires at least one tenant member"),
    ({"members__0__email": "ada@"}, "members[0].email: 'ada@' is not an email address"),
    ({"members__0__ssh_keys": ["ssh-dss AAAA"]}, "members[0].ssh_keys[0]: ssh-dss (DSA) keys are refused"),
    ({"members__0__ssh_keys": ["ssh-ed25519"]}, "is not an OpenSSH public key line"),
    ({"members__0__ssh_keys": [ECDSA.replace("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", 1)]},
     "the key data is of type 'ecdsa-sha2-nistp256' but the line says 'ecdsa-sha2-nistp384'"),
    ({"services__vms__0__backup": ...}, "services.vms[0].backup: missing is refused: the charter says"),
    ({"services__vms__0__backup": False}, "services.vms[0].backup: backup: False is refused"),
    ({"services__vms__0__backup": {"paths": ["/etc"], "enabled": False}}, "services.vms[0].backup: backup: {"),
    ({"services__vms__0__monitoring": False}, "services.vms[0].monitoring: monitoring: False is refused"),
    ({"services__vms__0__monitoring": None}, "services.vms[0].monitoring: monitoring: None is refused"),
    ({"services__vms__0__backup__paths": ["etc"]}, "services.vms[0].backup.paths[0]: 'etc' must be an absolute path"),
    ({"services__vms__0__size": "huge"}, "services.vms[0].size: 'huge' is not a size preset (small, medium, large)"),
    ({"services__vms__0__size": "large"}, "services.vms[0].size: size 'large' is not allowed by the tenant's quota "
                                          "(allowed: small, medium; quotas.tenants.packaging.sizes in tenants.yml)"),
    ({"services__vms__0__address": "10.0.0.0/8"}, "services.vms[0].address: '10.0.0.0/8' is not an IP address"),
    ({"services__vms__0__address": "2001:db8::zz"}, "services.vms[0].address: '2001:db8::zz' is not an IP address"),
    ({"services__vms__0__name": "Web_1"}, "services.vms[0].name: 'Web_1' must be a lowercase DNS label"),
    ({"services__zones__0__name": "pypa.test"}, "services.zones[0].name: zone 'pypa.test' is not under one of the "
                                                "tenant's domains (packaging.test)"),
    ({"services__zones__0__name": "-bad.packaging.test"}, "services.zones[0].name: '-bad.packaging.test': label"),
    ({"services__zones__0__zone_file": "zones/x.zone"}, "services.zones[0]: give either 'records' or 'zone_file'"),
    ({"services__zones__0__records__1__name": "www.example.org."},
     "services.zones[0].records[1].name: 'www.example.org.' is not inside the zone 'packaging.test'"),
    ({"services__zones__0__records__1__name": "@", "services__zones__0__records__1__type": "mx"},
     "services.zones[0].records[1]: the rrset @ MX is already declared at records[0]"),
    ({"services__domains__0__name": "test"}, "services.domains[0].name: 'test' needs at least 2 labels"),
    ({"services__certificates__0__names": ["www.python.test"]},
     "services.certificates[0].names[0]: certificate name 'www.python.test' is not in one of the tenant's zones"),
    ({"services__certificates__0__names": ["www.*.packaging.test"]}, "a wildcard is only allowed as the leftmost"),
    ({"services__certificates__0__key_type": "dsa-1024"}, "services.certificates[0].key_type: 'dsa-1024' is not one"),
    ({"services__apps__0__vm": "web9"}, "services.apps[0].vm: 'web9' is not one of the tenant's VMs (web1)"),
    ({"services__apps__0__certificate": "api"}, "services.apps[0].certificate: 'api' is not one of the tenant's"),
    ({"services__apps__0__names": ["docs.python.test"]}, "services.apps[0].names[0]: app name 'docs.python.test'"),
    ({"services__apps__0__port": 80}, "services.apps[0].port: 80 is out of range (minimum 1024)"),
    ({"services__vms__0__colour": "blue"}, "services.vms[0].colour: unknown field (allowed here: address, backup"),
    ({"name": "packagers"}, "tenant 'packaging': name: 'packagers' must equal the file name stem 'packaging'"),
])
def test_each_rule_names_the_file_the_tenant_and_the_field(config, edits: dict, expected: str) -> None:
    problems = problems_of(changed(**edits), config)

    assert any(problem.startswith("/srv/tenants/packaging.yml: tenant 'packaging': ") and expected in problem
               for problem in problems), problems


def test_a_charter_refusal_is_not_repeated_as_a_schema_error(config) -> None:
    problems = problems_of(changed(services__vms__0__backup=False), config)

    assert len(problems) == 1, problems


def test_the_vm_quota_counts_the_tenants_vms(config) -> None:
    vms = [{"name": f"vm{number}", "size": "small", "backup": {"paths": ["/etc"]}} for number in range(4)]

    problems = problems_of(changed(services__vms=vms, services__apps=[]), config)

    assert problems == ["/srv/tenants/packaging.yml: tenant 'packaging': services.vms: 4 VMs exceed the tenant's "
                        "quota of 3 (quotas.tenants.packaging.max_vms in tenants.yml)"]


def test_a_tenant_without_its_own_quota_gets_the_default(config) -> None:
    document = changed(name="sprints", services__vms__0__size="medium")
    result = checks.check_tenant(document, file="/srv/tenants/sprints.yml", config=config, today=TODAY)

    assert any("size 'medium' is not allowed by the tenant's quota (allowed: small; quotas.default.sizes" in str(p)
               for p in result.problems)


def test_a_retired_tenant_without_services_is_valid(config) -> None:
    document = changed(status="retired", services=...)

    result = check(document, config)

    assert result.problems == []
    assert result.record["services"] == {"domains": [], "zones": [], "certificates": [], "vms": [], "apps": [],
                                         "monitoring": {"notify_liaisons": False}}


def test_a_file_that_is_not_a_mapping_is_refused(config) -> None:
    problems = problems_of(["packaging"], config)

    assert problems == ["/srv/tenants/packaging.yml: tenant 'packaging': a tenant file holds one mapping "
                        "(the tenant), got a list"]


@pytest.mark.parametrize("line", [ED25519, ECDSA, ECDSA + " with a comment"])
def test_valid_ssh_keys_pass(line: str) -> None:
    assert checks.ssh_public_key_problem(line) is None


def test_an_ssh_key_with_truncated_data_is_refused() -> None:
    truncated = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICOz6LHpDztJ3vXMFa1lKe2qf7HPBkla"

    assert checks.ssh_public_key_problem(truncated) == "the ssh-ed25519 key data is truncated"


def test_build_config_refuses_unknown_presets_in_quotas() -> None:
    settings = copy.deepcopy(SETTINGS) | {"quotas": {"default": {"sizes": ["small", "xl"]}}}

    with pytest.raises(InvalidInput) as refused:
        checks.build_config(settings, source="inventories/lab/tenants.yml")

    assert "inventories/lab/tenants.yml: quotas.default.sizes[1]: 'xl' is not a size preset" in str(refused.value)


def test_build_config_refuses_a_bad_preset() -> None:
    settings = {"size_presets": {"small": {"vcpus": 0, "memory_mib": 2048}}}

    with pytest.raises(InvalidInput) as refused:
        checks.build_config(settings, source="tenants.yml")

    message = str(refused.value)
    assert "tenants.yml: size_presets.small.vcpus: 0 is out of range (minimum 1)" in message
    assert "tenants.yml: size_presets.small.disk_gib: is required" in message


# ---------------------------------------------------------------- whole registry


def write_registry(directory: Path, documents: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for stem, document in documents.items():
        text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
        (directory / f"{stem}.yml").write_text(text)
    return directory


def pyladies() -> dict:
    return {
        "name": "pyladies-berlin", "display_name": "PyLadies Berlin", "kind": "community-organization",
        "approval": {"body": "psf-board", "date": "2024-06-20"}, "status": "suspended",
        "members": [{"name": "Clara", "email": "clara@pyladies-berlin.test", "notify": False}],
        "services": {
            "domains": [{"name": "pyladies-berlin.test", "registrar": "tenant"}],
            "zones": [{"name": "pyladies-berlin.test", "dnssec": False, "zone_file": "zones/p.zone"}],
            "vms": [{"name": "site1", "size": "small", "backup": {"paths": ["/srv"]}}],
        },
    }


def test_load_registry_returns_sorted_normalised_tenants(tmp_path: Path, config) -> None:
    directory = write_registry(tmp_path / "tenants", {"pyladies-berlin": pyladies(), "packaging": PACKAGING})
    (directory / "zones").mkdir()
    (directory / "zones" / "p.zone").write_text("; zone\n")

    loaded = loading.load_registry(str(directory), config, today=TODAY)

    assert list(loaded.tenants) == ["packaging", "pyladies-berlin"]
    assert loaded.tenants["pyladies-berlin"]["services"]["zones"][0]["zone_file"] == str(directory / "zones/p.zone")
    summary = loaded.summary()
    assert summary["by_status"] == {"active": 1, "suspended": 1}
    assert summary["hosts"] == ["web1.packaging", "site1.pyladies-berlin"]


def test_load_registry_collects_every_problem_of_every_file(tmp_path: Path, config) -> None:
    broken = pyladies()
    broken["services"]["vms"][0]["backup"] = False
    directory = write_registry(tmp_path / "tenants", {
        "packaging": changed(services__vms__0__size="huge"),
        "pyladies-berlin": broken,
        "syntax": "name: [unclosed\n",
    })

    with pytest.raises(checks.InvalidRegistry) as refused:
        loading.load_registry(str(directory), config, today=TODAY)

    fields = sorted((problem.file.rsplit("/", 1)[-1], problem.field) for problem in refused.value.problems)
    assert fields == [("packaging.yml", "services.vms[0].size"),
                      ("pyladies-berlin.yml", "services.vms[0].backup"),
                      ("pyladies-berlin.yml", "services.zones[0].zone_file"),
                      ("syntax.yml", None)]
    assert "is invalid (4 problems):" in str(refused.value)
    assert "syntax.yml: is not valid YAML" in str(refused.value)


def test_a_duplicate_key_is_refused_not_silently_overwritten(tmp_path: Path, config) -> None:
    text = yaml.safe_dump(PACKAGING, sort_keys=False) + "status: retired\n"
    directory = write_registry(tmp_path / "tenants", {"packaging": text})

    with pytest.raises(InvalidInput, match="found duplicate key 'status'"):
        loading.load_registry(str(directory), config, today=TODAY)


def test_unquoted_dates_stay_iso_strings(tmp_path: Path, config) -> None:
    text = yaml.safe_dump(PACKAGING, sort_keys=False).replace("'2023-03-15'", "2023-03-15")
    assert "date: 2023-03-15\n" in text
    directory = write_registry(tmp_path / "tenants", {"packaging": text})

    loaded = loading.load_registry(str(directory), config, today=TODAY)

    assert loaded.tenants["packaging"]["approval"]["date"] == "2023-03-15"


@pytest.mark.parametrize(("claim", "expected"), [
    ({"domains": [{"name": "pyladies-berlin.test", "registrar": "psf"}]},
     "services.domains[1].name: domain 'pyladies-berlin.test' is also claimed by tenant 'packaging'"),
    ({"zones": [{"name": "pyladies-berlin.test"}]},
     "services.zones[1].name: zone 'pyladies-berlin.test' is also claimed by tenant 'packaging'"),
    ({"vms": [{"name": "site1", "size": "small", "fqdn": "web1.packaging.vms.infra.test",
               "backup": {"paths": ["/srv"]}}]},
     "services.vms[0].fqdn: VM FQDN 'web1.packaging.vms.infra.test' is also claimed by tenant 'packaging'"),
])
def test_a_name_claimed_by_two_tenants_is_refused(tmp_path: Path, config, claim: dict, expected: str) -> None:
    packaging = changed()
    packaging["services"]["domains"].append({"name": "pyladies-berlin.test", "registrar": "tenant"})
    packaging["services"]["zones"].append({"name": "pyladies-berlin.test"})
    other = pyladies()
    other["services"] = {"domains": [{"name": "pyladies-berlin.test", "registrar": "tenant"}], **claim}
    if "domains" in claim:
        other["services"]["domains"] = [{"name": "pyladies-berlin.test", "registrar": "tenant"}, *claim["domains"]]
    if "zones" in claim:
        other["services"]["zones"] = [{"name": "pyladies-berlin.test"}, *claim["zones"]]
    directory = write_registry(tmp_path / "tenants", {"packaging": packaging, "pyladies-berlin": other})

    with pytest.raises(checks.InvalidRegistry) as refused:
        loading.load_registry(str(directory), config, today=TODAY)

    assert any(str(problem).endswith(f"{expected} ({directory}/packaging.yml); a name belongs to one tenant")
               for problem in refused.value.problems), str(refused.value)
    assert all("tenant 'pyladies-berlin'" in str(problem) for problem in refused.value.problems
               if "also claimed" in str(problem))


def test_inventory_hosts_follow_the_contract(tmp_path: Path, config) -> None:
    retired = changed(name="old", status="retired", services=...)
    directory = write_registry(tmp_path / "tenants", {"packaging": PACKAGING, "old": retired})
    loaded = loading.load_registry(str(directory), config, today=TODAY)

    hosts = views.inventory_hosts(loaded)

    assert [host.name for host in hosts] == ["web1.packaging"]
    assert hosts[0].groups == ("tenant_packaging", "tenant_vms", "backup_clients", "monitoring_agents",
                               "vm_size_medium", "app_guide")
    variables = hosts[0].variables
    assert set(variables) == {"psf_tenant_name", "psf_tenant", "psf_tenant_members", "psf_vm", "psf_apps"}
    assert variables["psf_tenant"] is loaded.tenants["packaging"]
    assert views.registry_variables(loaded) == {"psf_tenants": dict(loaded.tenants), "psf_registry_env": "lab"}


def test_group_names_are_ansible_safe() -> None:
    assert views.group_name("tenant_", "pyladies-berlin") == "tenant_pyladies_berlin"


@pytest.mark.parametrize(("path", "text"), [
    (("services", "vms", 1, "size"), "services.vms[1].size"),
    (("members",), "members"),
    ((), ""),
])
def test_field_path(path: tuple, text: str) -> None:
    assert checks.field_path(path) == text


@pytest.mark.parametrize(("environment", "tenants"), [
    ("lab", {"packaging", "pyladies-berlin"}),
    ("production", {"packaging", "pyladies", "sprints-2019"}),
])
def test_the_shipped_registries_are_valid(environment: str, tenants: set[str]) -> None:
    inventory = COLLECTIONS.parent / "inventories" / environment
    settings = yaml.safe_load((inventory / "tenants.yml").read_text())
    config = checks.build_config({key: settings.get(key) for key in ("size_presets", "quotas", "vm_domain")},
                                 environment=environment)

    loaded = loading.load_registry(str(inventory / "tenants"), config)

    assert set(loaded.tenants) == tenants


def test_a_backup_of_the_wrong_type_is_a_type_error_not_an_opt_out(config) -> None:
    problems = problems_of(changed(services__vms__0__backup="yes"), config)

    assert problems == ["/srv/tenants/packaging.yml: tenant 'packaging': services.vms[0].backup: "
                        "expected a mapping, got a string ('yes')"]
