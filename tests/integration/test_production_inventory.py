"""inventories/production is loaded and checked against what playbooks/site.yml reads, without
contacting any production host.

- The inventory is copied to a temporary directory with a test-only vault file
  (fixtures/production-vault: the variables of group_vars/all/vault.yml.example with made-up
  values, encrypted with the test password in the same directory), so every vault placeholder
  resolves; the committed inventory holds no secret.
- ``ansible-inventory --list`` loads it: the registry (plugin psf.infra.tenants), every group and
  host variable.
- ``site.yml --check --tags preflight --limit localhost`` runs the preflight play
  (playbooks/preflight.yml, imported first by site.yml): it checks that every play's hosts define
  the variables it reads and that every role's inputs pass its argument spec. ``--limit localhost``
  keeps every other play without hosts, so nothing but the control node is touched (no SSH, DNS or
  ACME to a production address).
- The preflight's list of what each play reads is proven complete by reading the code:
  variable_scan.py parses every Jinja expression of site.yml, its playbooks and its roles, and
  each variable a play reads from the inventory must be declared for that play.

No lab needed: a few seconds.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ansible_cli import REPO, copy_inventory, run
from variable_scan import Need
from variable_scan import site_needs as scan_site

PRODUCTION = REPO / "inventories" / "production"
VAULT = Path(__file__).resolve().parent / "fixtures" / "production-vault"
# The test vault: the variables of vault.yml.example with made-up values (see its README.md).
VAULT_FILE = VAULT / "vault.yml.encrypted"
VAULT_PASSWORD = VAULT / "vault-password"
PREFLIGHT = REPO / "playbooks" / "preflight.yml"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """inventories/production with the test vault as group_vars/all/vault.yml."""
    return copy_inventory(PRODUCTION, tmp_path / "production", vault=VAULT_FILE)


def preflight(inventory: Path) -> subprocess.CompletedProcess:
    """site.yml in check mode as far as its preflight, on the control node only."""
    return run("ansible-playbook", "-i", str(inventory), "playbooks/site.yml", "--check", "--diff",
               "--tags", "preflight", "--limit", "localhost",
               "--vault-password-file", str(VAULT_PASSWORD))


@functools.cache
def site_needs(repo: Path) -> tuple[list, list[Need]]:
    return scan_site(repo)


def declared_plays() -> list[dict]:
    return yaml.safe_load(PREFLIGHT.read_text())[0]["vars"]["preflight_plays"]


# ---- the production inventory loads ----------------------------------------------------------

@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`ansible-inventory --list` of the production inventory with the test vault."""
    target = copy_inventory(PRODUCTION, tmp_path_factory.mktemp("listing") / "production", vault=VAULT_FILE)
    result = run("ansible-inventory", "-i", str(target), "--list", "--vault-password-file", str(VAULT_PASSWORD))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def vault_placeholders() -> set[str]:
    """The vault_* variables of group_vars/all/vault.yml.example."""
    example = (PRODUCTION / "group_vars" / "all" / "vault.yml.example").read_text()
    return set(yaml.safe_load(example.replace("!vault", "")))


def group_hosts(listing: dict, group: str) -> set[str]:
    entry = listing.get(group, {})
    hosts = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts |= group_hosts(listing, child)
    return hosts


def test_inventory_loads_with_the_test_vault(listing: dict) -> None:
    hostvars = listing["_meta"]["hostvars"]
    # the registry: tenants, their VMs and groups; the static infrastructure and its variables
    assert set(hostvars["localhost"]["psf_tenants"]) >= {"packaging", "pyladies"}
    assert group_hosts(listing, "tenant_vms") == {"docs1.packaging", "build1.packaging", "www1.pyladies"}
    assert group_hosts(listing, "nameservers") == {"ns1.infra.psf.io", "ns2.infra.psf.io"}
    assert hostvars["ns1.infra.psf.io"]["nameserver_port"] == 53
    # the test vault is read (group_vars/all/vault.yml) and decrypted: every placeholder has its value
    for name in vault_placeholders():
        value = hostvars["localhost"][name]
        assert isinstance(value, str) and value and "ANSIBLE_VAULT" not in value, (name, type(value))


def test_the_test_vault_defines_every_placeholder() -> None:
    """Every vault_* variable the inventory refers to is in vault.yml.example, and the test vault
    defines exactly those (so the test exercises the real placeholders, not others)."""
    example = vault_placeholders()
    referred = set()
    for path in PRODUCTION.rglob("*.yml"):
        referred |= set(re.findall(r"\bvault_[a-z0-9_]+", path.read_text()))
    assert referred <= set(example), f"vault variables without a placeholder: {referred - set(example)}"
    result = run("ansible-vault", "view", "--vault-password-file", str(VAULT_PASSWORD), str(VAULT_FILE))
    assert result.returncode == 0, result.stderr
    assert set(yaml.safe_load(result.stdout)) == set(example)


def test_every_server_is_monitored(listing: dict) -> None:
    """The charter: every server is monitored, the name, backup and monitoring servers included."""
    servers = set(listing["_meta"]["hostvars"]) - group_hosts(listing, "control_node")
    monitored = group_hosts(listing, "monitoring_agents")
    assert servers - monitored == set(), f"servers not in monitoring_agents: {sorted(servers - monitored)}"
    assert {"ns1.infra.psf.io", "ns2.infra.psf.io", "backup1.infra.psf.io", "monitor1.infra.psf.io"} <= monitored


# ---- the preflight runs on it ----------------------------------------------------------------

def test_site_preflight_passes_on_production(inventory: Path, listing: dict) -> None:
    result = preflight(inventory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Preflight - the inventory defines what every play of the site needs" in output
    # the recap names the control node only: no play reached a production host
    recap = output[output.rindex("PLAY RECAP"):]
    assert re.findall(r"^(\S+)\s+:", recap, re.MULTILINE) == ["localhost"], recap
    assert "failed=0" in recap
    # every role of the site is validated against its argument spec on every host it runs on,
    # the infrastructure servers' node exporter included
    validated: dict[str, set[str]] = {}
    for role, hosts in re.findall(r"\(item=role (\S+) on ([^)]+)\)", output):
        validated.setdefault(role, set()).update(hosts.split(", "))
    plays, _ = site_needs(REPO)
    for play in plays:
        for role in play.roles:
            assert group_hosts(listing, play.hosts) <= validated.get(role, set()), (role, play.hosts, validated)
    assert {"ns1.infra.psf.io", "backup1.infra.psf.io", "monitor1.infra.psf.io"} <= validated["monitoring_agent"]
    assert "test-only" not in output, "a vault value reached the output"


def test_a_missing_variable_fails_the_preflight_naming_it(inventory: Path) -> None:
    """Nothing runs, and the failure names each variable, the host and the play: psf_dns_resolver
    (what inventories/production lacked), a role input of the wrong type, an app without command."""
    main = inventory / "group_vars" / "all" / "main.yml"
    variables = yaml.safe_load(main.read_text())
    del variables["psf_dns_resolver"]
    main.write_text(yaml.safe_dump(variables))
    nameservers = inventory / "group_vars" / "nameservers.yml"
    nameservers.write_text(nameservers.read_text().replace("nameserver_port: 53", "nameserver_port: fifty-three"))
    pyladies = inventory / "tenants" / "pyladies.yml"
    pyladies.write_text(re.sub(r"\n *command: .*", "", pyladies.read_text()))
    result = preflight(inventory)
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    assert result.returncode != 0
    assert ("tenant pyladies, file inventories/production/tenants/pyladies.yml, services.apps[name=pyladies-www]: "
            "field `command`") in output, output
    assert ('psf_dns_resolver is not defined for host localhost (hosts: localhost), needed by play '
            '"Every tenant certificate is valid and not due for renewal" of playbooks/certificates.yml'
            ) in output, output
    assert re.search(r"role nameserver on host ns1\.infra\.psf\.io, host ns2\.infra\.psf\.io: "
                     r"argument \W+nameserver_port\W+ is of type str", output), output
    recap = output[output.rindex("PLAY RECAP"):]
    assert re.findall(r"(\S+) : ok=\d+ changed=0", recap) == ["localhost"], recap


def test_a_missing_vault_file_fails_the_preflight_naming_what_it_lacks(inventory: Path) -> None:
    (inventory / "group_vars" / "all" / "vault.yml").unlink()
    result = preflight(inventory)
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    assert result.returncode != 0
    for name, host in [("nameserver_tsig_master_secret", "ns1.infra.psf.io"),
                       ("backup_client_passphrase", "docs1.packaging"),
                       ("psf_dns_staff_key", "localhost")]:
        assert f"{name} is not defined for host {host}" in output, output
    assert "refers to an undefined variable" in output


# ---- the preflight's declarations are complete ------------------------------------------------

def _covers(entry: dict, need: Need) -> bool:
    gates = set()
    if "where_defined" in entry:
        gates.add((entry["where_defined"], "defined"))
    if "where_true" in entry:
        gates.add((entry["where_true"], "true"))
    return (entry["play"] == need.play and entry["hosts"] == need.hosts
            and need.name in entry.get("vars", []) and gates <= need.gates)


def test_the_scan_reads_what_the_playbooks_read() -> None:
    """The scan is not blind: it finds what certificates.yml reads, and which reads are lab only."""
    _, needs = site_needs(REPO)
    found = {(need.play, need.name, need.gates) for need in needs}
    assert ("Every tenant certificate is valid and not due for renewal", "psf_dns_resolver", frozenset()) in found
    assert ("Lab only - a tenant name resolves through the lab's validating resolver", "psf_dns_resolver",
            frozenset({("psf_lab_dir", "defined")})) in found
    assert ("Backup clients", "backup_client_passphrase", frozenset()) in found
    # read under `| default(...)` or after `is defined`: optional
    assert not {name for _, name, _ in found} & {"psf_acme_ca_bundle", "psf_acme_account_key", "psf_lab_dir"}


def test_the_scan_rules_on_a_small_site(tmp_path: Path) -> None:
    """What counts as read from the inventory, on a site made for the purpose."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "templates").mkdir()
    (tmp_path / "roles" / "r" / "defaults").mkdir()
    (tmp_path / "roles" / "r" / "meta").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(yaml.safe_dump([
        {"ansible.builtin.import_playbook": "one.yml", "vars": {"passed": 1}}]))
    (tmp_path / "playbooks" / "one.yml").write_text(yaml.safe_dump([
        {"name": "P", "hosts": "g", "vars": {"local": "{{ needed_by_play_vars }}"},
         "roles": ["r"],
         "tasks": [
             {"name": "t1", "ansible.builtin.debug": {"msg": "{{ a | default(b) }} {{ passed }} {{ local }}"},
              "register": "reg"},
             {"name": "t2", "ansible.builtin.debug": {"msg": "{{ reg.x }} {{ c if c is defined else omit }}"}},
             {"name": "t3", "ansible.builtin.debug": {"msg": "{{ lab_thing }}"}, "when": "lab is defined and x"},
             {"name": "t4", "ansible.builtin.meta": "end_play", "when": "lab is not defined"},
             {"name": "t5", "ansible.builtin.debug": {"msg": "{{ after_end }}"}},
         ]}]))
    (tmp_path / "roles" / "r" / "defaults" / "main.yml").write_text("r_default: '{{ r_input | default(1) }}'\n")
    (tmp_path / "roles" / "r" / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(
        {"argument_specs": {"main": {"options": {"r_required": {"type": "str", "required": True},
                                                  "r_opt": {"type": "int", "default": 3}}}}}))
    (tmp_path / "roles" / "r" / "tasks" / "main.yml").write_text(yaml.safe_dump([
        {"name": "r1", "ansible.builtin.template": {"src": "t.j2", "dest": "/x"}}]))
    (tmp_path / "roles" / "r" / "templates" / "t.j2").write_text(
        "{{ r_default }} {{ r_opt }} {{ r_required }}{% if flag %}{{ flagged }}{% endif %}"
        "{% for i in items_from_inventory %}{{ i }}{% endfor %}")
    _, needs = scan_site(tmp_path)
    found = {(need.name, tuple(sorted(need.gates))) for need in needs}
    assert found == {
        ("needed_by_play_vars", ()), ("b", ()), ("lab_thing", (("lab", "defined"), ("x", "true"))),
        ("after_end", (("lab", "defined"),)), ("r_required", ()), ("flagged", (("flag", "true"),)),
        ("items_from_inventory", ()), ("flag", ()), ("x", (("lab", "defined"),)),
    }, found


def test_the_preflight_declares_every_variable_the_site_reads() -> None:
    plays, needs = site_needs(REPO)
    entries = declared_plays()
    missing = [f'play "{need.play}" (hosts: {need.hosts}) reads {need.name} in {need.where}'
               + (f" where {sorted(need.gates)}" if need.gates else "")
               for need in needs if not any(_covers(entry, need) for entry in entries)]
    assert not missing, "add to preflight_plays in playbooks/preflight.yml:\n" + "\n".join(missing)

    roles_missing = [f'play "{play.name}" (hosts: {play.hosts}) runs role {role}'
                     for play in plays for role in play.roles
                     if not any(entry["play"] == play.name and entry["hosts"] == play.hosts
                                and role in entry.get("roles", []) for entry in entries)]
    assert not roles_missing, "add to the roles of preflight_plays:\n" + "\n".join(roles_missing)

    # where_true skips a host only where the flag is set to false: unset, the role's default must be true
    for entry in entries:
        if "where_true" in entry:
            play = next(play for play in plays if play.name == entry["play"])
            defaults = [yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
                        ["argument_specs"]["main"]["options"].get(entry["where_true"], {}).get("default")
                        for role in play.roles]
            assert True in defaults, f"{entry['where_true']} has no default true in the roles of {entry['play']}"

    known = {(play.name, play.hosts, play.file) for play in plays}
    stale = [entry for entry in entries if (entry["play"], entry["hosts"], entry["file"]) not in known]
    assert not stale, f"preflight_plays names plays site.yml does not run: {stale}"


def test_site_runs_the_preflight_first_and_the_registry_once() -> None:
    site = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    assert site[0].get("ansible.builtin.import_playbook") == "preflight.yml"
    plays, _ = site_needs(REPO)
    assert plays[0].name == "Preflight - the inventory defines what every play of the site needs"
    # the inventory plugin validates the registry for every command (any_unparsed_is_failed)
    assert "tenant_registry_info" not in (REPO / "playbooks" / "site.yml").read_text()

