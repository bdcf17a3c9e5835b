"""The tenant registry through the real Ansible commands.

Every case writes a registry to a temporary inventory (the valid one in fixtures/registry, with
one thing broken) and runs the real ``ansible-inventory`` / ``ansible-playbook`` with the
project's ansible.cfg: an invalid registry must be refused with a message naming the file, the
tenant and the field, and must stop a playbook before any task runs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory, run

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "registry"
SHORT_RSA_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDCjyJLxcJU7j/10BWVezZONZDkWjlVdbUXrjtqrHPz0ZzaDumtcC6bchIkc9wWR+UjpVZs"
    "je3FleeRUkuGtTrcoiEadXbxLXsyrMaFBdkflV3ndtD0fRz7HAz1cbZbC3RMjbr44iSsFstOPkL7XJkivxCtM8QtNry8KbBtmJUFvw== old"
)
ED25519_KEY_AS_RSA = "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAICOz6LHpDztJ3vXMFa1lKe2qf7HPBklaJU/xWARx/sBC liar"
CHARTER = "the charter says every server is backed up and monitored"


def trusted(mapping: dict) -> object:
    """ansible-inventory marks tenant strings as not-templates ({"__ansible_unsafe": ...}): unwrap them."""
    return mapping["__ansible_unsafe"] if set(mapping) == {"__ansible_unsafe"} else mapping


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return copy_inventory(FIXTURE, tmp_path / "inventory")


def edit(inventory: Path, tenant: str, change: Callable[[dict], object]) -> None:
    path = inventory / "tenants" / f"{tenant}.yml"
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def vm(document: dict, index: int = 0) -> dict:
    return document["services"]["vms"][index]


def set_in(mapping: dict, key: str, value: object) -> None:
    mapping[key] = value


def add_second_vm(document: dict, count: int) -> None:
    for number in range(2, count + 1):
        document["services"]["vms"].append({"name": f"extra{number}", "size": "small", "backup": {"paths": ["/etc"]}})


def add_record(document: dict, name: str, rdtype: str, *values: str) -> None:
    document["services"]["zones"][0]["records"].append({"name": name, "type": rdtype, "values": list(values)})


def claim_packaging_zone(document: dict) -> None:
    document["services"]["domains"].append({"name": "packaging.test", "registrar": "tenant"})
    document["services"]["zones"].append({"name": "packaging.test", "records": []})


# (case id, tenant file edited, change, (field path, reason fragment))
CASES = [
    ("kind-unknown", "packaging", lambda d: set_in(d, "kind", "club"),
     ("kind", "'club' is not one of: working-group, community-organization")),
    ("wg-recognised-by-board", "packaging", lambda d: set_in(d["approval"], "body", "psf-board"),
     ("approval.body", "a working group is approved by the PSF membership")),
    ("co-approved-by-membership", "pyladies-berlin", lambda d: set_in(d["approval"], "body", "psf-membership"),
     ("approval.body", "a community organisation is recognised by the PSF Board")),
    ("approval-in-future", "packaging", lambda d: set_in(d["approval"], "date", "2999-01-01"),
     ("approval.date", "'2999-01-01' is in the future")),
    ("approval-date-invalid", "packaging", lambda d: set_in(d["approval"], "date", "2024-02-30"),
     ("approval.date", "is not a valid date")),
    ("retired-with-services", "packaging", lambda d: set_in(d, "status", "retired"),
     ("services", "a retired tenant receives no services")),
    ("no-members", "packaging", lambda d: set_in(d, "members", []),
     ("members", "the charter requires at least one tenant member")),
    ("bad-email", "packaging", lambda d: set_in(d["members"][0], "email", "ada-at-packaging"),
     ("members[0].email", "'ada-at-packaging' is not an email address")),
    ("ssh-key-type-mismatch", "packaging", lambda d: set_in(d["members"][0], "ssh_keys", [ED25519_KEY_AS_RSA]),
     ("members[0].ssh_keys[0]", "the key data is of type 'ssh-ed25519' but the line says 'ssh-rsa'")),
    ("ssh-key-not-base64", "packaging", lambda d: set_in(d["members"][1], "ssh_keys", ["ssh-ed25519 not*base64"]),
     ("members[1].ssh_keys[0]", "key data is not valid base64")),
    ("ssh-rsa-too-short", "packaging", lambda d: set_in(d["members"][0], "ssh_keys", [SHORT_RSA_KEY]),
     ("members[0].ssh_keys[0]", "the RSA key has 1024 bits")),
    ("vm-without-backup", "packaging", lambda d: vm(d).pop("backup"),
     ("services.vms[0].backup", f"missing is refused: {CHARTER}")),
    ("vm-backup-false", "pyladies-berlin", lambda d: set_in(vm(d), "backup", False),
     ("services.vms[0].backup", f"backup: False is refused: {CHARTER}")),
    ("vm-monitoring-false", "packaging", lambda d: set_in(vm(d), "monitoring", False),
     ("services.vms[0].monitoring", f"monitoring: False is refused: {CHARTER}")),
    ("vm-monitoring-disabled", "packaging", lambda d: set_in(vm(d), "monitoring", {"enabled": False}),
     ("services.vms[0].monitoring", CHARTER)),
    ("vm-backup-no-paths", "packaging", lambda d: set_in(vm(d), "backup", {"paths": []}),
     ("services.vms[0].backup", CHARTER)),
    ("unknown-size", "packaging", lambda d: set_in(vm(d), "size", "huge"),
     ("services.vms[0].size", "'huge' is not a size preset (small, medium, large)")),
    ("size-outside-quota", "pyladies-berlin", lambda d: set_in(vm(d), "size", "large"),
     ("services.vms[0].size", "size 'large' is not allowed by the tenant's quota (allowed: small, medium")),
    ("quota-exceeded", "pyladies-berlin", lambda d: add_second_vm(d, 3),
     ("services.vms", "3 VMs exceed the tenant's quota of 2 (quotas.default.max_vms")),
    ("bad-ip", "packaging", lambda d: set_in(vm(d), "address", "192.0.2.300"),
     ("services.vms[0].address", "'192.0.2.300' is not an IP address")),
    ("zone-not-under-domain", "packaging", lambda d: set_in(d["services"]["zones"][0], "name", "pypa.test"),
     ("services.zones[0].name", "zone 'pypa.test' is not under one of the tenant's domains (packaging.test)")),
    ("zone-claimed-by-two-tenants", "pyladies-berlin", claim_packaging_zone,
     ("services.zones[1].name", "zone 'packaging.test' is also claimed by tenant 'packaging'")),
    ("name-is-not-file-stem", "packaging", lambda d: set_in(d, "name", "packagers"),
     ("name", "'packagers' must equal the file name stem 'packaging'")),
    ("certificate-outside-zones", "packaging",
     lambda d: d["services"]["certificates"][0]["names"].append("www.python.test"),
     ("services.certificates[0].names[3]", "certificate name 'www.python.test' is not in one of the tenant's zones")),
    ("app-on-unknown-vm", "pyladies-berlin", lambda d: set_in(d["services"]["apps"][0], "vm", "web9"),
     ("services.apps[0].vm", "'web9' is not one of the tenant's VMs (site1)")),
    ("zone-file-missing", "pyladies-berlin",
     lambda d: set_in(d["services"]["zones"][0], "zone_file", "zones/missing.zone"),
     ("services.zones[0].zone_file", "zone file 'zones/missing.zone' does not exist")),
    ("record-outside-zone", "packaging",
     lambda d: d["services"]["zones"][0]["records"].append({"name": "www.python.test.", "type": "A",
                                                            "values": ["192.0.2.1"]}),
     ("services.zones[0].records[9].name", "'www.python.test.' is not inside the zone 'packaging.test'")),
    ("unknown-field", "packaging", lambda d: set_in(vm(d), "colour", "blue"),
     ("services.vms[0].colour", "unknown field")),
    # record data, judged at load by the DNS code that publishes it (nothing reaches a name server)
    ("record-bad-a-value", "packaging", lambda d: add_record(d, "bad", "A", "300.1.2.3"),
     ("services.zones[0].records[9].values[0]", "'300.1.2.3' is not an IPv4 address (bad A)")),
    ("record-unknown-type", "packaging", lambda d: add_record(d, "bad", "BOGUS", "x"),
     ("services.zones[0].records[9].type", "unknown record type 'BOGUS'")),
    ("record-cname-beside-data", "packaging", lambda d: add_record(d, "web1", "CNAME", "mail"),
     ("services.zones[0].records[9]", "web1 has a CNAME beside other data (A)")),
    ("record-cname-at-apex", "packaging", lambda d: add_record(d, "@", "CNAME", "web1"),
     ("services.zones[0].records[9]", "a CNAME cannot be at the zone apex")),
    ("record-srv-without-port", "packaging", lambda d: add_record(d, "_imap._tcp", "SRV", "0 1 mail.packaging.test."),
     ("services.zones[0].records[9].values[0]", "is not valid SRV data")),
    ("record-too-big-to-encode", "packaging", lambda d: add_record(d, "big", "TXT", "x" * 70_000),
     ("services.zones[0].records[9].values", "a DNS record holds at most 65,535")),
]


@pytest.mark.parametrize(("tenant", "change", "expected"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_invalid_tenant_is_refused_by_ansible_inventory(inventory: Path, tenant: str, change, expected) -> None:
    edit(inventory, tenant, change)
    field, reason = expected

    result = run("ansible-inventory", "-i", str(inventory), "--list")

    assert result.returncode != 0
    file = inventory / "tenants" / f"{tenant}.yml"
    assert f"{file}: tenant '{tenant}': {field}: " in result.stderr, result.stderr
    problem_line = next(line for line in result.stderr.splitlines() if f"{field}: " in line and str(file) in line)
    assert reason in problem_line, result.stderr
    assert "Completely failed to parse inventory source" in result.stderr


def test_a_bad_record_in_a_zone_file_is_refused_by_ansible_inventory(inventory: Path) -> None:
    zone_file = inventory / "tenants" / "zones" / "pyladies-berlin.test.zone"
    zone_file.write_text(zone_file.read_text() + "ftp IN A 192.0.2.300\n")

    result = run("ansible-inventory", "-i", str(inventory), "--list")

    assert result.returncode != 0
    tenant_file = inventory / "tenants" / "pyladies-berlin.yml"
    assert f"{tenant_file}: tenant 'pyladies-berlin': services.zones[0].zone_file: " in result.stderr, result.stderr
    assert "pyladies-berlin.test.zone" in result.stderr


def test_psf_infra_validate_refuses_a_bad_record(inventory: Path) -> None:
    edit(inventory, "packaging", lambda d: add_record(d, "@", "CNAME", "web1"))

    result = run("psf-infra", "validate", "-i", str(inventory))

    assert result.returncode != 0
    file = inventory / "tenants" / "packaging.yml"
    assert f"{file}: tenant 'packaging': services.zones[0].records[9]: a CNAME cannot be at the zone apex" \
        in result.stderr, result.stderr
    assert result.stdout == ""


def test_every_problem_of_every_file_is_reported_together(inventory: Path) -> None:
    edit(inventory, "packaging", lambda d: set_in(vm(d), "size", "huge"))
    edit(inventory, "pyladies-berlin", lambda d: (set_in(d["members"][0], "email", "nope"),
                                                  set_in(vm(d), "backup", False)))

    result = run("ansible-inventory", "-i", str(inventory), "--list")

    assert result.returncode != 0
    assert "is invalid (3 problems):" in result.stderr
    assert "packaging.yml: tenant 'packaging': services.vms[0].size" in result.stderr
    assert "pyladies-berlin.yml: tenant 'pyladies-berlin': members[0].email" in result.stderr
    assert "pyladies-berlin.yml: tenant 'pyladies-berlin': services.vms[0].backup" in result.stderr
    assert result.stdout.strip() == ""


def test_quota_for_an_unknown_tenant_is_refused(inventory: Path) -> None:
    config = inventory / "tenants.yml"
    config.write_text(config.read_text().replace("    packaging:\n", "    packagin:\n"))

    result = run("ansible-inventory", "-i", str(inventory), "--list")

    assert result.returncode != 0
    assert "quotas.tenants.packagin: there is no tenant named 'packagin' in the registry" in result.stderr


def test_the_lab_registry_gives_the_contracted_groups_and_variables() -> None:
    result = run("ansible-inventory", "-i", "inventories/lab", "--list")
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout, object_hook=trusted)

    def hosts(group: str) -> set[str]:
        return set(inventory.get(group, {}).get("hosts", []))

    vms = {"web1.packaging", "site1.pyladies-berlin"}
    assert hosts("tenant_vms") == vms
    assert hosts("backup_clients") == vms
    assert hosts("monitoring_agents") == vms
    assert hosts("tenant_packaging") == {"web1.packaging"}
    assert hosts("tenant_pyladies_berlin") == {"site1.pyladies-berlin"}
    assert hosts("vm_size_medium") == {"web1.packaging"}
    assert hosts("vm_size_small") == {"site1.pyladies-berlin"}
    assert hosts("app_packaging_guide") == {"web1.packaging"}
    assert hosts("app_meetup_site") == {"site1.pyladies-berlin"}
    assert hosts("control_node") == {"localhost"}

    hostvars = inventory["_meta"]["hostvars"]
    web1 = hostvars["web1.packaging"]
    assert web1["psf_tenant_name"] == "packaging"
    assert web1["psf_registry_env"] == "lab"
    assert set(web1["psf_tenants"]) == {"packaging", "pyladies-berlin"}
    assert web1["psf_tenant"] == web1["psf_tenants"]["packaging"]
    assert set(web1["psf_tenant"]) == {"name", "display_name", "kind", "status", "approval", "members", "services"}
    assert web1["psf_tenant_members"] == web1["psf_tenant"]["members"]
    assert web1["psf_tenant_members"][1] == {
        "name": "Ben Wheel", "email": "ben@packaging.test", "notify": False,
        "ssh_keys": [web1["psf_tenant_members"][1]["ssh_keys"][0]],
    }
    assert web1["psf_vm"] == {
        "name": "web1", "fqdn": "web1.packaging.vms.infra.test", "size": "medium", "vcpus": 2,
        "memory_mib": 4096, "disk_gib": 40, "address": "127.0.0.10",
        "backup": {"paths": ["/etc", "/srv/packaging", "/var/lib/postgresql/backups"],
                   "exclude": ["/srv/packaging/cache"]},
        "monitoring": {"http_checks": ["https://packaging.test/"]}, "state": "active",
    }
    assert [app["name"] for app in web1["psf_apps"]] == ["packaging-guide"]
    site1 = hostvars["site1.pyladies-berlin"]
    zone = site1["psf_tenant"]["services"]["zones"][0]
    assert zone["zone_file"] == str(REPO / "inventories/lab/tenants/zones/pyladies-berlin.test.zone")
    assert zone["dnssec"] is False
    assert "address" in site1["psf_vm"]
    assert hostvars["localhost"]["psf_tenants"] == web1["psf_tenants"]


def test_a_retired_tenant_is_in_psf_tenants_but_has_no_hosts(inventory: Path) -> None:
    retired = {
        "name": "old-sprint", "display_name": "Old Sprint", "kind": "community-organization",
        "approval": {"body": "psf-board", "date": "2015-01-01"}, "status": "retired",
        "members": [{"name": "Ex Member", "email": "ex@old-sprint.test"}],
    }
    (inventory / "tenants" / "old-sprint.yml").write_text(yaml.safe_dump(retired))

    result = run("ansible-inventory", "-i", str(inventory), "--list")

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout, object_hook=trusted)
    hostvars = listed["_meta"]["hostvars"]
    assert hostvars["localhost"]["psf_tenants"]["old-sprint"]["status"] == "retired"
    assert "tenant_old_sprint" not in listed
    assert not any(host.endswith(".old-sprint") for host in hostvars)


PLAYBOOK = """
- name: A play that must never start on an invalid registry
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say the task ran
      ansible.builtin.debug:
        msg: THE-TASK-RAN
"""


def test_ansible_playbook_stops_before_any_task_on_an_invalid_registry(inventory: Path, tmp_path: Path) -> None:
    edit(inventory, "packaging", lambda d: set_in(vm(d), "backup", False))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)

    result = run("ansible-playbook", "-i", str(inventory), str(playbook))

    assert result.returncode != 0
    assert "THE-TASK-RAN" not in result.stdout
    assert "TASK [" not in result.stdout
    assert "Completely failed to parse inventory source" in result.stderr
    assert "packaging.yml: tenant 'packaging': services.vms[0].backup" in result.stderr


def test_without_any_unparsed_is_failed_the_same_playbook_would_run(inventory: Path, tmp_path: Path) -> None:
    """Proves that the ansible.cfg setting is what stops the playbook (a warning otherwise)."""
    edit(inventory, "packaging", lambda d: set_in(vm(d), "backup", False))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = ansible_env() | {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "false"}

    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr
    assert "THE-TASK-RAN" in result.stdout


def info_playbook(tmp_path: Path, inventory: Path, message: str, ignore_errors: bool = False) -> Path:
    """A playbook that runs psf.infra.tenant_registry_info on ``inventory``, then prints ``message``."""
    playbook = tmp_path / "info.yml"
    playbook.write_text(f"""
- name: Read the registry
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate the registry
      psf.infra.tenant_registry_info:
        config_file: {inventory / "tenants.yml"}
      register: registry
      ignore_errors: {str(ignore_errors).lower()}
    - name: Show what it returned
      ansible.builtin.debug:
        msg: "{message}"
""")
    return playbook


def test_tenant_registry_info_validates_and_refuses(inventory: Path, tmp_path: Path) -> None:
    playbook = info_playbook(tmp_path, inventory,
                             "SUMMARY {{ registry.summary.tenants }} {{ registry.summary.hosts | join(',') }}")
    good = run("ansible-playbook", "-i", "inventories/lab", "--check", str(playbook))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "SUMMARY 2 web1.packaging,site1.pyladies-berlin" in good.stdout
    assert "changed=0" in good.stdout

    edit(inventory, "pyladies-berlin", lambda d: set_in(d["approval"], "date", "2999-12-31"))
    bad = run("ansible-playbook", "-i", "inventories/lab", str(playbook))
    assert bad.returncode != 0
    assert "pyladies-berlin.yml: tenant 'pyladies-berlin': approval.date: '2999-12-31' is in the future" in bad.stdout
    assert "SUMMARY" not in bad.stdout


def test_tenant_registry_info_returns_each_problem_with_tenant_file_and_field(inventory: Path,
                                                                              tmp_path: Path) -> None:
    edit(inventory, "packaging", lambda d: add_record(d, "bad", "A", "300.1.2.3"))
    playbook = info_playbook(tmp_path, inventory, "PROBLEM {{ registry.error }} {{ registry.problems[0].tenant }} "
                                                  "{{ registry.problems[0].field }}", ignore_errors=True)

    result = run("ansible-playbook", "-i", "inventories/lab", str(playbook))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PROBLEM InvalidRegistry packaging services.zones[0].records[9].values[0]" in result.stdout


def test_tenant_data_is_never_templated_and_the_filters_work_in_a_play(inventory: Path, tmp_path: Path) -> None:
    """A tenant file is data: a Jinja expression in it must reach BIND as written, not be evaluated."""
    edit(inventory, "packaging", lambda d: d["services"]["zones"][0]["records"].append(
        {"name": "jinja", "type": "TXT", "values": ["{{ 6 * 7 }}"]}))
    playbook = tmp_path / "filters.yml"
    playbook.write_text("""
- name: Use the tenant filters
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show the TXT record as declared
      ansible.builtin.debug:
        msg: "TXT={{ (records | selectattr('name', 'eq', 'jinja') | first)['values'][0] }}"
      vars:
        records: "{{ psf_tenants.packaging.services.zones[0].records }}"
    - name: Show the zones
      ansible.builtin.debug:
        msg: "ZONES={{ psf_tenants | psf.infra.tenant_zones | map(attribute='name') | join(',') }}"
    - name: Show the liaisons
      ansible.builtin.debug:
        msg: "MAIL={{ psf_tenants | psf.infra.tenant_liaison_emails | join(';') }}"
""")

    result = run("ansible-playbook", "-i", str(inventory), str(playbook))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "TXT={{ 6 * 7 }}" in result.stdout
    assert "TXT=42" not in result.stdout
    assert "ZONES=packaging.test,pyladies-berlin.test" in result.stdout
    assert "MAIL=Ada Packager <ada@packaging.test>;Clara Schmidt <clara@pyladies-berlin.test>" in result.stdout


def test_ansible_doc_documents_the_plugin_and_the_module() -> None:
    plugin = run("ansible-doc", "-t", "inventory", "psf.infra.tenants")
    module = run("ansible-doc", "psf.infra.tenant_registry_info")
    assert plugin.returncode == 0, plugin.stderr
    assert "size_presets" in plugin.stdout
    assert module.returncode == 0, module.stderr
    assert "check_mode" in module.stdout
