"""The pure functions behind the monitoring server's targets, probes and alert routes
(roles/monitoring_server/filter_plugins/psf_monitoring.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "roles" / "monitoring_server" / "filter_plugins" / "psf_monitoring.py"
_spec = importlib.util.spec_from_file_location("psf_monitoring", PLUGIN)
assert _spec and _spec.loader
monitoring = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(monitoring)

HOSTVARS = {
    "web1.packaging": {
        "psf_tenant_name": "packaging",
        "psf_vm": {
            "name": "web1",
            "fqdn": "web1.packaging.test",
            "address": "192.0.2.10",
            "monitoring": {"http_checks": ["https://packaging.test/"]},
        },
        "psf_apps": [
            {"name": "guide", "names": ["packaging.test", "www.packaging.test"], "health_path": "/healthz"},
            {"name": "same-url", "names": ["packaging.test"]},
        ],
    },
    "db1.packaging": {
        "psf_tenant_name": "packaging",
        "psf_vm": {"name": "db1", "address": "2001:db8::5"},
        "ansible_port": 2222,
    },
    "ns1": {"ansible_host": "198.51.100.1"},
    "monitor": {},
}

TENANTS = {
    "packaging": {
        "name": "packaging",
        "status": "active",
        "members": [
            {"name": "Ada", "email": "ada@packaging.test"},
            {"name": "Ben", "email": "ben@packaging.test", "notify": False},
        ],
        "services": {
            "monitoring": {"notify_liaisons": True},
            "zones": [{"name": "packaging.test", "dnssec": True}, {"name": "pypa.test.", "dnssec": False}],
        },
    },
    "pyladies": {
        "name": "pyladies",
        "status": "suspended",
        "members": [{"name": "Cleo", "email": "cleo@pyladies.test"}],
        "services": {"zones": ["pyladies.test"]},
    },
    "gone": {
        "name": "gone",
        "status": "retired",
        "members": [{"name": "Old", "email": "old@gone.test"}],
        "services": {"monitoring": {"notify_liaisons": True}, "zones": [{"name": "gone.test"}]},
    },
}


def test_node_targets_use_vm_address_then_ansible_host_then_name():
    groups = monitoring.node_targets(
        ["web1.packaging", "ns1", "monitor", "db1.packaging"], HOSTVARS, 9100, backup_hosts=["web1.packaging"]
    )
    assert groups == [
        {
            "targets": ["[2001:db8::5]:9100"],
            "labels": {"instance": "db1.packaging", "vm": "db1", "tenant": "packaging"},
        },
        {"targets": ["monitor:9100"], "labels": {"instance": "monitor", "vm": "monitor"}},
        {"targets": ["198.51.100.1:9100"], "labels": {"instance": "ns1", "vm": "ns1"}},
        {
            "targets": ["192.0.2.10:9100"],
            "labels": {"instance": "web1.packaging", "vm": "web1", "tenant": "packaging", "backup_client": "true"},
        },
    ]


def test_node_targets_honour_the_hosts_own_exporter_port():
    hostvars = {**HOSTVARS, "ns1": {**HOSTVARS["ns1"], "monitoring_agent_port": 19100}}
    groups = monitoring.node_targets(["ns1", "monitor"], hostvars, 9100)
    assert [g["targets"] for g in groups] == [["monitor:9100"], ["198.51.100.1:19100"]]


def test_ssh_targets_honour_ansible_port():
    groups = monitoring.ssh_targets(["db1.packaging", "ns1"], HOSTVARS, 22)
    assert [g["targets"] for g in groups] == [["[2001:db8::5]:2222"], ["198.51.100.1:22"]]


def test_https_targets_from_apps_and_http_checks_without_duplicates():
    groups = monitoring.https_targets(
        ["web1.packaging", "ns1"], HOSTVARS, [{"url": "https://www.python.org/", "labels": {"tenant": "psf"}}]
    )
    assert groups == [
        {
            "targets": ["https://packaging.test/healthz"],
            "labels": {
                "instance": "https://packaging.test/healthz",
                "vm": "web1",
                "tenant": "packaging",
                "app": "guide",
            },
        },
        {
            "targets": ["https://packaging.test/"],
            "labels": {"instance": "https://packaging.test/", "vm": "web1", "tenant": "packaging", "app": "same-url"},
        },
        {"targets": ["https://www.python.org/"], "labels": {"instance": "https://www.python.org/", "tenant": "psf"}},
    ]


def test_hosted_zones_skip_retired_tenants_and_can_keep_only_signed_ones():
    assert monitoring.hosted_zones(TENANTS) == ["packaging.test", "pyladies.test", "pypa.test"]
    assert monitoring.hosted_zones(TENANTS, dnssec_only=True) == ["packaging.test", "pyladies.test"]


def test_dns_modules_ask_the_zone_soa_without_recursion():
    modules = monitoring.dns_modules(["packaging.test", "py-ladies.test."])
    assert set(modules) == {"dns_soa_packaging_test", "dns_soa_py_ladies_test"}
    dns = modules["dns_soa_py_ladies_test"]["dns"]
    assert dns["query_name"] == "py-ladies.test."
    assert dns["query_type"] == "SOA"
    assert dns["recursion_desired"] is False
    assert dns["valid_rcodes"] == ["NOERROR"]


@pytest.mark.parametrize(
    ("record", "matches"),
    [
        ("py-ladies.test.\t300\tIN\tSOA\tns1.infra.test. hostmaster.infra.test. 1 2 3 4 5", True),
        ("sub.py-ladies.test.\t300\tIN\tSOA\tns1.infra.test. h. 1 2 3 4 5", False),
        ("pyXladies.test.\t300\tIN\tSOA\tns1.infra.test. h. 1 2 3 4 5", False),
        ("py-ladies.test.\t300\tIN\tNS\tns1.infra.test.", False),
    ],
)
def test_dns_module_regexp_accepts_only_the_zone_soa(record, matches):
    (pattern,) = monitoring.dns_modules(["py-ladies.test"])["dns_soa_py_ladies_test"]["dns"]["validate_answer_rrs"][
        "fail_if_not_matches_regexp"
    ]
    assert bool(re.search(pattern, record)) is matches


def test_dns_targets_pair_every_zone_with_every_server():
    servers = [{"name": "ns1", "address": "192.0.2.53", "port": 5301}, {"name": "ns2", "address": "2001:db8::53"}]
    groups = monitoring.dns_targets(["b.test", "a.test"], servers)
    assert [(g["targets"][0], g["labels"]["instance"], g["labels"]["module"]) for g in groups] == [
        ("192.0.2.53:5301", "ns1/a.test", "dns_soa_a_test"),
        ("192.0.2.53:5301", "ns1/b.test", "dns_soa_b_test"),
        ("[2001:db8::53]:53", "ns2/a.test", "dns_soa_a_test"),
        ("[2001:db8::53]:53", "ns2/b.test", "dns_soa_b_test"),
    ]


def test_tenant_receivers_only_for_opted_in_served_tenants_and_notified_members():
    assert monitoring.tenant_receivers(TENANTS) == [
        {"tenant": "packaging", "receiver": "tenant-packaging", "emails": ["ada@packaging.test"]}
    ]


def test_dnssec_check_config():
    config = monitoring.dnssec_check_config(
        [{"name": "ns1", "address": "192.0.2.53", "rndc_port": 9}], ["b.test.", "a.test"], "5s"
    )
    assert config == {
        "servers": [{"name": "ns1", "address": "192.0.2.53", "port": 53}],
        "zones": ["a.test", "b.test"],
        "timeout": 5.0,
    }


# --- The inventories: every server is scraped (the charter: "All servers will be backed up and monitored") ---

REPO = PLUGIN.parents[3]


def _inventory(name: str) -> dict:
    """ansible-inventory --list of inventories/<name> (strings marked unsafe come back plain)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", f"inventories/{name}", "--list"],
        cwd=REPO, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    unsafe = {"__ansible_unsafe"}
    return json.loads(result.stdout, object_hook=lambda o: o["__ansible_unsafe"] if set(o) == unsafe else o)


def _hosts(inventory: dict, group: str) -> set[str]:
    found = inventory.get(group, {})
    hosts = set(found.get("hosts", []))
    for child in found.get("children", []):
        hosts |= _hosts(inventory, child)
    return hosts


# The lab's name servers are named processes on the developer's own computer (connection local):
# they are watched from the monitoring server (SOA probes, DNSSEC check), not by a node exporter
# installed on that computer (docs/monitoring.md, "The infrastructure servers").
@pytest.mark.parametrize(("env", "infra_groups"), [
    ("production", ["nameservers", "backup_servers", "monitoring_servers"]),
    ("lab", ["backup_servers", "monitoring_servers"]),
])
def test_every_server_of_the_inventory_is_a_scraped_agent(env: str, infra_groups: list[str]) -> None:
    inventory = _inventory(env)
    agents = _hosts(inventory, "monitoring_agents")
    infra = set().union(*(_hosts(inventory, g) for g in infra_groups))
    assert infra, f"inventories/{env} declares none of {infra_groups}"
    assert _hosts(inventory, "tenant_vms") | infra <= agents, (
        f"inventories/{env}: not in monitoring_agents: {sorted((_hosts(inventory, 'tenant_vms') | infra) - agents)}")
    # The monitoring server's node.json (role default: the hosts of monitoring_agents) has each of them.
    hostvars = inventory["_meta"]["hostvars"]
    targets = monitoring.node_targets(agents, hostvars, 9100, backup_hosts=_hosts(inventory, "backup_clients"))
    assert infra <= {group["labels"]["instance"] for group in targets}
    if env == "lab":
        # Decided in docs/monitoring.md: not the lab's name servers.
        assert not _hosts(inventory, "nameservers") & agents


def test_the_lab_monitoring_server_is_a_backup_client_and_the_backup_server_is_not() -> None:
    inventory = _inventory("lab")
    clients = _hosts(inventory, "backup_clients")
    assert _hosts(inventory, "monitoring_servers") <= clients
    assert not _hosts(inventory, "backup_servers") & clients
