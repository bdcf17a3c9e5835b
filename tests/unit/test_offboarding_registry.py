"""A tenant being offboarded (issue #12 section 2, docs/tenants.md "Offboarding"): the registry's
rules for ``offboarding`` (only with ``status: suspended``, a real date not in the future, errors
naming file, tenant and field), and the site honouring it through the real inventory plugin and the
real filters: the tenant's VMs are decommissioned VMs (out of tenant_vms, backup_clients,
monitoring_agents), its zones are out of the name servers' zone list and its certificates and
domains out of what certificates.yml and domains.yml keep, while the other tenants keep theirs."""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from inventory_output import plain

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.psf.infra.plugins.module_utils.registry import checks, loading, views  # noqa: E402

TODAY = datetime.date(2026, 12, 5)
SETTINGS = {
    "size_presets": {"small": {"vcpus": 1, "memory_mib": 2048, "disk_gib": 20}},
    "quotas": {"default": {"max_vms": 2, "sizes": ["small"]}},
    "vm_domain": "vms.infra.test",
}
TENANT = {
    "name": "packaging",
    "display_name": "Packaging WG",
    "kind": "working-group",
    "approval": {"body": "psf-membership", "date": "2023-03-15"},
    "status": "suspended",
    "offboarding": {"started_on": "2026-12-04", "domains": "transfer"},
    "members": [{"name": "Ada", "email": "ada@packaging.test"}],
    "services": {
        "domains": [{"name": "packaging.test", "registrar": "psf"}],
        "zones": [{"name": "packaging.test", "records": [{"name": "www", "type": "A", "values": ["192.0.2.1"]}]}],
        "certificates": [{"name": "web", "names": ["packaging.test"]}],
        "vms": [
            {"name": "web1", "size": "small", "backup": {"paths": ["/etc"]}},
            {"name": "old1", "size": "small", "backup": {"paths": ["/etc"]},
             "state": "decommissioned", "decommissioned_on": "2026-12-01"},
        ],
        "apps": [{"name": "guide", "vm": "web1", "names": ["packaging.test"], "port": 8080, "certificate": "web"}],
    },
}
OTHER = {
    "name": "other",
    "display_name": "Other WG",
    "kind": "working-group",
    "approval": {"body": "psf-membership", "date": "2023-03-15"},
    "status": "active",
    "members": [{"name": "Bob", "email": "bob@other.test"}],
    "services": {
        "domains": [{"name": "other.test", "registrar": "psf"}],
        "zones": [{"name": "other.test"}],
        "certificates": [{"name": "web", "names": ["other.test"]}],
        "vms": [{"name": "web1", "size": "small", "backup": {"paths": ["/etc"]}}],
    },
}
FILE = "/srv/tenants/packaging.yml"


@pytest.fixture
def config() -> checks.RegistryConfig:
    return checks.build_config(SETTINGS, source="tenants.yml")


def problems(document: dict, config: checks.RegistryConfig) -> list[str]:
    return [str(problem) for problem in checks.check_tenant(document, file=FILE, config=config, today=TODAY).problems]


def tenant(**fields) -> dict:
    """TENANT with top-level fields replaced (a value of ... deletes the field)."""
    document = copy.deepcopy(TENANT)
    for key, value in fields.items():
        if value is ...:
            document.pop(key, None)
        else:
            document[key] = value
    return document


# --------------------------------------------------------------------------- the registry


def test_offboarding_is_normalised_and_every_vm_becomes_decommissioned(config) -> None:
    result = checks.check_tenant(TENANT, file=FILE, config=config, today=TODAY)

    assert result.problems == []
    assert result.record["offboarding"] == {"started_on": "2026-12-04", "domains": "transfer"}
    web1, old1 = result.record["services"]["vms"]
    # the VM declared active leaves on the day offboarding started; one decommissioned before keeps its date
    assert (web1["state"], web1["decommissioned_on"]) == ("decommissioned", "2026-12-04")
    assert (old1["state"], old1["decommissioned_on"]) == ("decommissioned", "2026-12-01")
    # its app is kept in the record (no need to delete it from the file first)
    assert [app["name"] for app in result.record["services"]["apps"]] == ["guide"]


def test_domains_default_to_expire_and_a_reason_is_kept(config) -> None:
    document = tenant(offboarding={"started_on": "2026-12-05", "reason": "the WG was dissolved"})
    record = checks.check_tenant(document, file=FILE, config=config, today=TODAY).record

    assert record["offboarding"] == {"started_on": "2026-12-05", "domains": "expire", "reason": "the WG was dissolved"}


def test_a_tenant_without_offboarding_has_no_such_key(config) -> None:
    record = checks.check_tenant(tenant(offboarding=..., status="active"), file=FILE, config=config,
                                 today=TODAY).record

    assert "offboarding" not in record
    assert record["services"]["vms"][0]["state"] == "active"


@pytest.mark.parametrize(("fields", "expected"), [
    ({"status": "active"},
     "offboarding: is only for a suspended tenant, and this tenant's status is 'active': set status: suspended"),
    ({"offboarding": {"started_on": "2026-12-06"}},
     "offboarding.started_on: '2026-12-06' is in the future (today is 2026-12-05)"),
    ({"offboarding": {"started_on": "2026-02-30"}}, "offboarding.started_on: '2026-02-30' is not a valid date"),
    ({"offboarding": {"started_on": "5/12/2026"}},
     "offboarding.started_on: '5/12/2026' must be an ISO date (YYYY-MM-DD)"),
    ({"offboarding": {"domains": "expire"}}, "offboarding"),
    ({"offboarding": {"started_on": "2026-12-04", "domains": "keep"}},
     "offboarding.domains: 'keep' is not one of: expire, transfer"),
    ({"offboarding": {"started_on": "2026-12-04", "when": "now"}},
     "offboarding.when: unknown field (allowed here: domains, reason, started_on)"),
])
def test_each_mistake_names_the_file_the_tenant_and_the_field(config, fields: dict, expected: str) -> None:
    found = problems(tenant(**fields), config)

    assert any(problem.startswith(f"{FILE}: tenant 'packaging': {expected}") for problem in found), found


def test_a_retired_tenant_cannot_be_offboarding(config) -> None:
    found = problems(tenant(status="retired", services={}), config)

    assert found == [f"{FILE}: tenant 'packaging': offboarding: is only for a suspended tenant, and this tenant's "
                     "status is 'retired': set status: suspended while it is offboarded (a retired tenant declares "
                     "no services; retire it, and remove offboarding, once playbooks/offboard.yml has run)"]


def test_its_vms_do_not_count_against_the_quota(config) -> None:
    document = tenant()
    document["services"]["vms"].append({"name": "web2", "size": "small", "backup": {"paths": ["/etc"]}})
    document["services"]["vms"].append({"name": "web3", "size": "small", "backup": {"paths": ["/etc"]}})
    assert problems(document, config) == []

    del document["offboarding"]
    assert any("exceed the tenant's quota" in problem for problem in problems(document, config))


# --------------------------------------------------------------------------- the views and the inventory


def load(tmp_path: Path, config: checks.RegistryConfig, *documents: dict) -> loading.Registry:
    directory = tmp_path / "tenants"
    directory.mkdir()
    for document in documents:
        (directory / f"{document['name']}.yml").write_text(yaml.safe_dump(document))
    return loading.load_registry(str(directory), config, today=TODAY)


def test_the_views_leave_its_zones_domains_and_certificates_out(tmp_path: Path, config) -> None:
    registry = load(tmp_path, config, TENANT, OTHER)
    tenants = dict(registry.tenants)

    assert views.zone_names(tenants) == ["other.test"]
    assert views.zone_records(tenants, "other.test") == []
    with pytest.raises(views.NotTenantRecords):
        views.zone_records(tenants, "packaging.test")
    assert [domain["name"] for domain in views.domains(tenants)] == ["other.test"]
    assert [(c["tenant"], c["name"]) for c in views.certificates(tenants)] == [("other", "web")]
    # still listed where the tenant itself is asked for: its VMs (decommissioned), its liaisons
    assert [vm["host"] for vm in views.vms(tenants, state="decommissioned")] == ["web1.packaging", "old1.packaging"]
    assert views.vms(tenants) == [{**tenants["other"]["services"]["vms"][0], "tenant": "other", "host": "web1.other"}]
    assert views.member_addresses(tenants["packaging"]) == ["Ada <ada@packaging.test>"]
    assert [record["name"] for record in views.with_statuses(tenants, "suspended")] == ["packaging"]
    assert views.with_statuses(tenants, "suspended", offboarding=False) == []


def test_the_inventory_hosts_are_decommissioned_vms(tmp_path: Path, config) -> None:
    hosts = {host.name: host for host in views.inventory_hosts(load(tmp_path, config, TENANT, OTHER))}

    assert hosts["web1.packaging"].groups == ("tenant_packaging", "decommissioned_vms")
    assert hosts["web1.packaging"].variables["psf_vm"]["decommissioned_on"] == "2026-12-04"
    assert hosts["old1.packaging"].groups == ("tenant_packaging", "decommissioned_vms")
    assert "tenant_vms" in hosts["web1.other"].groups


# --------------------------------------------------------------------------- the lab inventory, real plugin


def _load_role_filter(role: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "roles" / role / "filter_plugins" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _members(inventory: dict, group: str) -> set[str]:
    data = inventory.get(group, {})
    found = set(data.get("hosts", []))
    for child in data.get("children", []):
        found |= _members(inventory, child)
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    """A copy of the lab inventory whose tenant pyladies-berlin is suspended and being offboarded:
    ``ansible-inventory --list`` (the real plugin) and what the site's plays render from it through the
    real collection filters (``ansible localhost -m debug``): the name servers' zone list, the zones
    dns.yml publishes, the certificates certificates.yml keeps, the domains domains.yml keeps."""
    target = tmp_path_factory.mktemp("inventory") / "lab"
    shutil.copytree(REPO / "inventories" / "lab", target)
    tenant_file = target / "tenants" / "pyladies-berlin.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["status"] = "suspended"
    document["offboarding"] = {"started_on": "2026-12-01", "domains": "expire"}
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PSF_INFRA_REGISTRY_CACHE="false")
    bindir = Path(sys.executable).parent
    listed = subprocess.run([str(bindir / "ansible-inventory"), "-i", str(target), "--list"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert listed.returncode == 0, listed.stderr[-3000:]
    expressions = {
        # roles/nameserver/defaults/main.yml (nameserver_zones) and its zone list filter
        "nameserver_zones": "psf_tenants | psf.infra.tenant_zones(records=false) | psf.infra.nameserver_zone_list"
                            " | map(attribute='name') | list",
        "dns_publish": "psf_tenants | psf.infra.tenant_scope('') | psf.infra.tenant_zones(records=false)"
                       " | map(attribute='name') | list",
        "certificates": "psf_tenants | psf.infra.tenant_certificates | map(attribute='tenant') | list",
        "domains": "psf_tenants | psf.infra.tenant_domains | map(attribute='name') | list",
        "children": "psf_tenants | psf.infra.hosted_child_zones | map(attribute='name') | list",
    }
    template = "{{ " + " }}|{{ ".join(f"({expression}) | to_json" for expression in expressions.values()) + " }}"
    rendered = subprocess.run([str(bindir / "ansible"), "localhost", "-i", str(target), "-m", "ansible.builtin.debug",
                               "-a", f"msg={template}", "-o"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-3000:]
    message = json.loads(rendered.stdout.split(" => ", 1)[1])["msg"]
    values = dict(zip(expressions, (json.loads(part) for part in message.split("|")), strict=True))
    return {"inventory": plain(json.loads(listed.stdout)), **values}


def test_the_lab_inventory_treats_its_vm_as_a_decommissioned_vm(lab: dict) -> None:
    inventory = lab["inventory"]
    assert _members(inventory, "decommissioned_vms") == {"site1.pyladies-berlin"}
    for group in ("tenant_vms", "backup_clients", "monitoring_agents", "lab_vm_hosts", "app_meetup_site"):
        assert "site1.pyladies-berlin" not in _members(inventory, group), group
    assert "web1.packaging" in _members(inventory, "tenant_vms")
    site1 = inventory["_meta"]["hostvars"]["site1.pyladies-berlin"]
    assert (site1["psf_vm"]["state"], site1["psf_vm"]["decommissioned_on"]) == ("decommissioned", "2026-12-01")
    assert site1["decommission_hypervisor"] == "lab-podman"


def test_site_runs_leave_its_zones_certificates_and_domains_alone(lab: dict) -> None:
    assert "pyladies-berlin.test" not in lab["nameserver_zones"]
    assert "packaging.test" in lab["nameserver_zones"]
    assert "pyladies-berlin.test" not in lab["dns_publish"] and "packaging.test" in lab["dns_publish"]
    assert "pyladies-berlin" not in lab["certificates"] and "packaging" in lab["certificates"]
    assert "pyladies-berlin.test" not in lab["domains"]
    assert "pyladies-berlin.test" not in lab["children"]


def test_prometheus_and_the_backup_server_leave_it_out(lab: dict) -> None:
    inventory = lab["inventory"]
    hostvars = inventory["_meta"]["hostvars"]
    monitoring = _load_role_filter("monitoring_server", "psf_monitoring")
    backup = _load_role_filter("backup_server", "psf_backup")

    psf_tenants = hostvars["web1.packaging"]["psf_tenants"]
    zones = monitoring.hosted_zones(psf_tenants)
    assert "pyladies-berlin.test" not in zones and "packaging.test" in zones
    agents = sorted(_members(inventory, "monitoring_agents"))
    backed_up = sorted(_members(inventory, "backup_clients"))
    instances = {group["labels"]["instance"] for group in monitoring.node_targets(agents, hostvars, 9100, backed_up)}
    assert "site1.pyladies-berlin" not in instances and "web1.packaging" in instances
    clients = backup.clients(sorted(_members(inventory, "backup_clients")), hostvars, "lab-backup", "lab-backup")
    assert "site1.pyladies-berlin" not in clients and "web1.packaging" in clients


# --------------------------------------------------------------------------- the status page


def test_the_status_page_shows_offboarding_not_red() -> None:
    from psf_infra_runner.status import AMBER, UNKNOWN, offboarding_check

    still_served = offboarding_check("zone", "packaging.test", "2026-12-04", True)
    removed = offboarding_check("certificate", "web", "2026-12-04", False)
    domain = offboarding_check("domain", "packaging.test", "2026-12-04", None)

    assert (still_served.health, still_served.reason) == (
        AMBER, "offboarding since 2026-12-04; still there: playbooks/offboard.yml removes it")
    assert (removed.health, removed.reason) == (UNKNOWN, "offboarding since 2026-12-04; removed")
    assert (domain.kind, domain.health, domain.reason) == ("domain", UNKNOWN, "offboarding since 2026-12-04")


# --------------------------------------------------------------------------- the summary's text


def test_the_summary_says_what_becomes_of_each_domain(config) -> None:
    from ansible_collections.psf.infra.plugins.module_utils.notices import offboarding

    document = tenant()
    document["services"]["domains"].append({"name": "own.test", "registrar": "tenant"})
    transfer = checks.check_tenant(document, file=FILE, config=config, today=TODAY).record
    document["offboarding"] = {"started_on": "2026-12-04"}
    expire = checks.check_tenant(document, file=FILE, config=config, today=TODAY).record

    assert [line.split(":", 2)[:2] for line in offboarding.domain_lines(transfer)] == [
        ["- packaging.test", " registered by the Infra-WG, to be transferred to the registrar you choose"],
        ["- own.test", " at your own registrar"]]
    assert "left to expire: its auto-renewal is off" in offboarding.domain_lines(expire)[0]
    text = offboarding.body(expire, done=["VM web1.packaging is decommissioned"], reply_to="staff@infra.test")
    assert "(tenant packaging). Offboarding started on 2026-12-04." in text
    assert "- VM web1.packaging is decommissioned\n" in text
    assert "The final backups of your VMs stay restorable" in text and "(staff@infra.test)" in text
    assert offboarding.subject(expire) == "[PSF Infra] Packaging WG: the services of the Infra-WG have ended"


def test_a_transfer_code_is_in_the_mail_only_and_a_placeholder_everywhere_else(config) -> None:
    from ansible_collections.psf.infra.plugins.module_utils.notices import offboarding

    record = checks.check_tenant(tenant(), file=FILE, config=config, today=TODAY).record
    transfers = {"packaging.test": {"supported": True, "unlocked": True, "auth_code": "Xfer-s3cret"}}

    mailed = offboarding.body(record, done=[], reply_to="staff@infra.test", transfers=transfers, show_codes=True)
    shown = offboarding.body(record, done=[], reply_to="staff@infra.test", transfers=transfers)
    planned = offboarding.body(record, done=[], reply_to="staff@infra.test", planned=True)
    assert "its transfer lock is removed, and its transfer (authorisation) code is: Xfer-s3cret ." in mailed
    assert "Xfer-s3cret" not in shown and offboarding.CODE_PLACEHOLDER in shown
    assert "Xfer-s3cret" not in planned and offboarding.CODE_PLACEHOLDER in planned
    assert offboarding.digest(shown) != offboarding.digest(mailed)

    # an unlock the registrar has not applied yet, and a registrar without transfer codes (rfc2136)
    pending = {"packaging.test": {"supported": True, "unlocked": False, "auth_code": "Xfer-s3cret"}}
    assert "may take up to a few days" in offboarding.domain_lines(record, pending, show_codes=True)[0]
    none = {"packaging.test": {"supported": False, "unlocked": None, "auth_code": None}}
    assert "staff send it to you" in offboarding.domain_lines(record, none, show_codes=True)[0]
