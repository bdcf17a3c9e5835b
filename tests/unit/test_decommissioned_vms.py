"""A VM declared ``state: decommissioned`` (issue #11 section 4, docs/vms.md "Decommissioning"):
the registry's rules (the date, the errors naming file, tenant and field), the inventory (kept as a
host with all its variables, in ``decommissioned_vms`` only) and everything rendered from the
inventory or the registry that lists VMs (monitoring targets, the backup server's clients,
certificates, the welcome, notices, the status page)."""

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

from ansible_collections.psf.infra.plugins.module_utils.notices import notice as notices  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.notices import welcome  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.registry import checks, loading, views  # noqa: E402

from psf_infra_runner import status  # noqa: E402
from psf_infra_runner.status import AMBER, UNKNOWN  # noqa: E402

TODAY = datetime.date(2026, 12, 5)
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICOz6LHpDztJ3vXMFa1lKe2qf7HPBklaJU/xWARx/sBC ada@laptop"
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
    "status": "active",
    "members": [{"name": "Ada", "email": "ada@packaging.test", "ssh_keys": [ED25519]}],
    "services": {
        "domains": [{"name": "packaging.test", "registrar": "psf"}],
        "certificates": [{"name": "web", "names": ["packaging.test"]}],
        "vms": [
            {"name": "web1", "size": "small", "backup": {"paths": ["/etc"]}},
            {"name": "old1", "size": "small", "backup": {"paths": ["/etc", "/srv"]},
             "monitoring": {"http_checks": ["https://packaging.test/"]},
             "state": "decommissioned", "decommissioned_on": "2026-12-01"},
        ],
        "apps": [{"name": "guide", "vm": "web1", "names": ["packaging.test"], "port": 8080}],
    },
}
FILE = "/srv/tenants/packaging.yml"


@pytest.fixture
def config() -> checks.RegistryConfig:
    return checks.build_config(SETTINGS, source="tenants.yml")


def problems(document: dict, config: checks.RegistryConfig) -> list[str]:
    return [str(problem) for problem in checks.check_tenant(document, file=FILE, config=config, today=TODAY).problems]


def with_old1(**fields) -> dict:
    """TENANT with old1's fields replaced (a value of ... deletes the field)."""
    document = copy.deepcopy(TENANT)
    vm = document["services"]["vms"][1]
    for key, value in fields.items():
        if value is ...:
            vm.pop(key, None)
        else:
            vm[key] = value
    return document


def load(tmp_path: Path, document: dict, config: checks.RegistryConfig) -> loading.Registry:
    directory = tmp_path / "tenants"
    directory.mkdir()
    (directory / "packaging.yml").write_text(yaml.safe_dump(document))
    return loading.load_registry(str(directory), config, today=TODAY)


# --------------------------------------------------------------------------- the registry


def test_a_decommissioned_vm_is_normalised_with_its_state_and_date(config) -> None:
    result = checks.check_tenant(TENANT, file=FILE, config=config, today=TODAY)

    assert result.problems == []
    web1, old1 = result.record["services"]["vms"]
    assert web1["state"] == "active" and "decommissioned_on" not in web1
    assert (old1["state"], old1["decommissioned_on"]) == ("decommissioned", "2026-12-01")
    assert old1["backup"] == {"paths": ["/etc", "/srv"], "exclude": []}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"decommissioned_on": ...},
     "services.vms[1].decommissioned_on: is required with state: decommissioned: the day the VM was declared "
     "decommissioned (YYYY-MM-DD)"),
    ({"state": "active"},
     "services.vms[1].decommissioned_on: is only for a decommissioned VM, and this VM's state is 'active'"),
    ({"state": ...}, "services.vms[1].decommissioned_on: is only for a decommissioned VM"),
    ({"decommissioned_on": "2026-12-06"},
     "services.vms[1].decommissioned_on: '2026-12-06' is in the future (today is 2026-12-05)"),
    ({"decommissioned_on": "2026-02-30"}, "services.vms[1].decommissioned_on: '2026-02-30' is not a valid date"),
    ({"decommissioned_on": "1/12/2026"},
     "services.vms[1].decommissioned_on: '1/12/2026' must be an ISO date (YYYY-MM-DD)"),
    ({"state": "gone"}, "services.vms[1].state: 'gone' is not one of: active, decommissioned"),
])
def test_each_mistake_names_the_file_the_tenant_and_the_field(config, fields: dict, expected: str) -> None:
    found = problems(with_old1(**fields), config)

    assert any(problem.startswith(f"{FILE}: tenant 'packaging': {expected}") for problem in found), found


def test_an_app_on_a_decommissioned_vm_is_refused(config) -> None:
    document = copy.deepcopy(TENANT)
    document["services"]["apps"][0]["vm"] = "old1"

    assert problems(document, config) == [
        f"{FILE}: tenant 'packaging': services.apps[0].vm: VM 'old1' is decommissioned: move the app to another "
        "VM of the tenant or remove it before the VM leaves"]


def test_a_decommissioned_vm_does_not_count_against_the_quota(config) -> None:
    document = copy.deepcopy(TENANT)
    document["services"]["vms"].append({"name": "web2", "size": "small", "backup": {"paths": ["/etc"]}})
    assert problems(document, config) == []

    document["services"]["vms"].append({"name": "web3", "size": "small", "backup": {"paths": ["/etc"]}})
    assert problems(document, config) == [
        f"{FILE}: tenant 'packaging': services.vms: 3 VMs exceed the tenant's quota of 2 "
        "(quotas.default.max_vms in tenants.yml; decommissioned VMs do not count)"]


# --------------------------------------------------------------------------- the inventory and the views


def test_the_inventory_keeps_it_as_a_host_in_decommissioned_vms_only(tmp_path: Path, config) -> None:
    registry = load(tmp_path, TENANT, config)

    hosts = {host.name: host for host in views.inventory_hosts(registry)}

    assert hosts["web1.packaging"].groups == ("tenant_packaging", "tenant_vms", "backup_clients",
                                              "monitoring_agents", "vm_size_small", "app_guide")
    old1 = hosts["old1.packaging"]
    assert old1.groups == ("tenant_packaging", "decommissioned_vms")
    assert set(old1.variables) == {"psf_tenant_name", "psf_tenant", "psf_tenant_members", "psf_vm", "psf_apps"}
    assert old1.variables["psf_vm"]["backup"]["paths"] == ["/etc", "/srv"]
    assert old1.variables["psf_vm"]["decommissioned_on"] == "2026-12-01"


def test_views_leave_a_decommissioned_vm_out(tmp_path: Path, config) -> None:
    tenants = dict(load(tmp_path, TENANT, config).tenants)

    # the certificate of a tenant whose apps do not name it goes to its active VMs only
    assert views.certificates(tenants)[0]["hosts"] == ["web1.packaging"]
    assert [vm["host"] for vm in views.vms(tenants)] == ["web1.packaging"]
    assert [vm["host"] for vm in views.vms(tenants, state="decommissioned")] == ["old1.packaging"]
    assert len(views.vms(tenants, state=None)) == 2

    text = welcome.body(tenants["packaging"], nameservers=["ns1.infra.test."], instructions=[], cnames=[],
                        reply_to="staff@infra.test")
    assert "web1.packaging.vms.infra.test" in text and "old1" not in text


def test_a_notice_about_backups_or_monitoring_leaves_it_out_one_about_vms_does_not(tmp_path: Path, config) -> None:
    record = dict(load(tmp_path, TENANT, config).tenants)["packaging"]

    assert notices._service_reasons(record, "backups", "x") == ["VM web1.packaging: backups (x)"]
    assert notices._service_reasons(record, "monitoring", "x") == ["VM web1.packaging: monitoring (x)"]
    assert notices._service_reasons(record, "vms", "x") == ["VM web1.packaging: the VM itself (x)",
                                                            "VM old1.packaging: the VM itself (x)"]


def test_the_status_page_shows_decommissioned() -> None:
    still_there = status.decommissioned_check("old1.packaging", "2026-12-01", "running")
    gone = status.decommissioned_check("old1.packaging", "2026-12-01", None)

    assert (still_there.kind, still_there.health) == ("vm", AMBER)
    assert still_there.reason.startswith("decommissioned on 2026-12-01; the machine is still there (running)")
    assert (gone.health, gone.reason) == (UNKNOWN, "decommissioned on 2026-12-01")


# --------------------------------------------------------------------------- what the lab renders from it


def _load_role_filter(role: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "roles" / role / "filter_plugins" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lab_inventory(tmp_path_factory) -> dict:
    """``ansible-inventory --list`` of a copy of the lab inventory whose packaging tenant has one more
    VM, decommissioned (the real plugin, the real group_vars)."""
    target = tmp_path_factory.mktemp("inventory") / "lab"
    shutil.copytree(REPO / "inventories" / "lab", target)
    tenant_file = target / "tenants" / "packaging.yml"
    document = yaml.safe_load(tenant_file.read_text())
    document["services"]["vms"].append({"name": "old1", "size": "small", "backup": {"paths": ["/etc"]},
                                        "state": "decommissioned", "decommissioned_on": "2026-12-01"})
    tenant_file.write_text(yaml.safe_dump(document, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PSF_INFRA_REGISTRY_CACHE="false")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(target), "--list"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return plain(json.loads(result.stdout))


def _members(inventory: dict, group: str) -> set[str]:
    data = inventory.get(group, {})
    found = set(data.get("hosts", []))
    for child in data.get("children", []):
        found |= _members(inventory, child)
    return found


def test_the_lab_inventory_puts_it_in_decommissioned_vms_with_its_connection(lab_inventory: dict) -> None:
    assert _members(lab_inventory, "decommissioned_vms") == {"old1.packaging"}
    for group in ("tenant_vms", "backup_clients", "monitoring_agents", "lab_vm_hosts", "vm_size_small"):
        assert "old1.packaging" not in _members(lab_inventory, group), group
    assert "old1.packaging" in _members(lab_inventory, "tenant_packaging")
    old1 = lab_inventory["_meta"]["hostvars"]["old1.packaging"]
    assert old1["psf_vm"]["state"] == "decommissioned"
    assert old1["ansible_connection"] == "psf.infra.podman"
    assert old1["decommission_hypervisor"] == "lab-podman"


def test_prometheus_targets_and_the_backup_servers_clients_leave_it_out(lab_inventory: dict) -> None:
    hostvars = lab_inventory["_meta"]["hostvars"]
    monitoring = _load_role_filter("monitoring_server", "psf_monitoring")
    backup = _load_role_filter("backup_server", "psf_backup")

    agents = sorted(_members(lab_inventory, "monitoring_agents"))
    targets = monitoring.node_targets(agents, hostvars, 9100, sorted(_members(lab_inventory, "backup_clients")))
    instances = {group["labels"]["instance"] for group in targets}
    assert "web1.packaging" in instances and "old1.packaging" not in instances
    https = monitoring.https_targets(sorted(_members(lab_inventory, "tenant_vms")), hostvars)
    assert all(target["labels"].get("vm") != "old1" for target in https)

    clients = backup.clients(sorted(_members(lab_inventory, "backup_clients")), hostvars, "lab-backup", "lab-backup")
    assert "web1.packaging" in clients and "old1.packaging" not in clients
    # Its repository is kept: the server's plan retires it (marker), it never deletes it.
    plan = backup.plan(clients, ["old1.packaging", *clients], ["old1.packaging", *clients])
    assert plan["revoke"] == ["old1.packaging"] and plan["retire"] == ["old1.packaging"]
