"""Behaviour of monitoring_agent + monitoring_server on two containers of an internal network.

server (the `host` fixture): Prometheus, blackbox exporter, Alertmanager, its own node exporter
and an SMTP sink. agent: node exporter, sshd, BIND serving the signed zone example.test.
Both run the base role's firewall (policy drop) with the roles' openings (prepare.yml).
"""

import ipaddress
import json
import time
import urllib.parse

import pytest
import testinfra

PROMETHEUS = "http://127.0.0.1:9090"
BLACKBOX = "http://127.0.0.1:9115"
ALERTMANAGER = "http://127.0.0.1:9093"
SERVER = "psf-molecule-monitoring-server"
AGENT = "psf-molecule-monitoring-agent"


@pytest.fixture(scope="module")
def agent():
    return testinfra.get_host(f"podman://{AGENT}")


def ipv4_of(machine):
    """(address, network) of the container's interface on the scenario network."""
    line = machine.check_output("ip -4 -o addr show scope global").splitlines()[0]
    interface = ipaddress.ip_interface(line.split()[3])
    return str(interface.ip), interface.network


def get_json(host, url):
    return json.loads(host.check_output("curl --silent --show-error --fail --max-time 5 %s", url))


def query(host, expression):
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    answer = get_json(host, url)
    assert answer["status"] == "success", answer
    return {json.dumps(r["metric"], sort_keys=True): r["value"][1] for r in answer["data"]["result"]}


def eventually(check, timeout=90, interval=2):
    """Retry `check` (which asserts) until it passes or `timeout` seconds are over."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def probe(host, module, target):
    return host.check_output(
        "curl --silent --show-error --fail --max-time 10 %s",
        f"{BLACKBOX}/probe?" + urllib.parse.urlencode({"module": module, "target": target}),
    )


def test_node_exporter_answers_the_server_with_the_textfile_collector(host, agent):
    directory = "/var/lib/prometheus/node-exporter"
    agent.run_expect(
        [0], f"printf 'psf_molecule_marker 42\\n' > {directory}/.m && mv {directory}/.m {directory}/molecule.prom"
    )
    address, _ = ipv4_of(agent)
    metrics = host.check_output("curl --silent --fail --max-time 5 http://%s:9100/metrics", address)
    assert "node_exporter_build_info" in metrics
    assert "psf_molecule_marker 42" in metrics


def test_node_exporter_refuses_other_sources(host, agent):
    """The opening is for the monitoring server's address only: the same server, speaking from
    a second address of its network, is dropped by the agent's firewall."""
    agent_address, network = ipv4_of(agent)
    server_address, _ = ipv4_of(host)
    other = str(network[-6])
    assert other not in (agent_address, server_address)
    url = f"http://{agent_address}:9100/metrics"
    host.run_expect([0], "ip addr add %s/%s dev eth0", other, str(network.prefixlen))
    try:
        refused = host.run("curl --silent --max-time 3 --interface %s -o /dev/null %s", other, url)
        allowed = host.run("curl --silent --max-time 3 --interface %s -o /dev/null %s", server_address, url)
    finally:
        host.run("ip addr del %s/%s dev eth0", other, str(network.prefixlen))
    assert allowed.rc == 0
    assert refused.rc == 28  # timed out: dropped, not refused
    rules = agent.check_output("nft list chain inet psf_filter input")
    assert f"ip saddr {server_address} tcp dport 9100 accept" in rules


def test_prometheus_scrapes_every_agent_with_inventory_labels(host):
    def nodes_are_up():
        answer = get_json(host, f"{PROMETHEUS}/api/v1/targets?state=active")
        nodes = sorted(
            ((t["labels"], t["health"]) for t in answer["data"]["activeTargets"] if t["labels"]["job"] == "node"),
            key=lambda pair: pair[0]["instance"],
        )
        assert nodes == [
            ({"backup_client": "true", "instance": AGENT, "job": "node", "tenant": "example", "vm": "web1"}, "up"),
            ({"instance": SERVER, "job": "node", "vm": "monitor"}, "up"),
        ]
        assert list(query(host, f'up{{job="node", instance="{AGENT}"}}').values()) == ["1"]

    eventually(nodes_are_up)


def test_prometheus_loaded_the_alert_rules(host):
    answer = get_json(host, f"{PROMETHEUS}/api/v1/rules?type=alert")
    groups = {g["name"]: {r["name"] for r in g["rules"]} for g in answer["data"]["groups"]}
    assert {"psf-hosts", "psf-backups", "psf-probes", "psf-dns", "psf-domains"} <= set(groups)
    alerts = set().union(*groups.values())
    assert {
        "HostDown",
        "DiskFilling",
        "BackupTooOld",
        "CertificateExpiring",
        "DnssecSignaturesExpiring",
        "DomainExpiring",
    } <= alerts
    assert all(r["health"] == "ok" for g in answer["data"]["groups"] for r in g["rules"])


def test_ssh_banner_probe(host, agent):
    address, _ = ipv4_of(agent)
    assert "probe_success 1" in probe(host, "ssh_banner", f"{address}:22")
    # Something that is not SSH (the node exporter's port) fails the banner check.
    assert "probe_success 0" in probe(host, "ssh_banner", f"{address}:9100")

    def prometheus_sees_ssh():
        by_instance = {
            json.loads(k)["instance"]: v for k, v in query(host, 'probe_success{job="blackbox_ssh"}').items()
        }
        # The server runs no sshd in this scenario: its probe fails, as it should.
        assert by_instance == {AGENT: "1", SERVER: "0"}

    eventually(prometheus_sees_ssh)


def test_dns_probe_per_zone_and_name_server(host, agent):
    address, _ = ipv4_of(agent)
    assert "probe_success 1" in probe(host, "dns_soa_example_test", f"{address}:53")
    # BIND does not serve missing.test: REFUSED, so the probe fails.
    assert "probe_success 0" in probe(host, "dns_soa_missing_test", f"{address}:53")

    def prometheus_sees_both():
        result = query(host, 'probe_success{job="blackbox_dns"}')
        by_zone = {json.loads(k)["zone"]: v for k, v in result.items()}
        assert by_zone == {"example.test": "1", "missing.test": "0"}

    eventually(prometheus_sees_both)


def test_retired_tenants_are_not_probed(host):
    targets = json.loads(host.file("/etc/prometheus/file_sd/dns.json").content_string)
    assert {g["labels"]["zone"] for g in targets} == {"example.test", "missing.test"}


def test_dnssec_check_measures_the_served_signatures(host):
    host.run_expect([0], "systemctl start psf-dnssec-expiry.service")
    metrics = host.file("/var/lib/prometheus/node-exporter/psf_dnssec.prom").content_string
    now = time.time()
    expiries = {}
    for line in metrics.splitlines():
        if line.startswith("psf_dnssec_rrsig_expiry_timestamp_seconds{"):
            labels, value = line.rsplit(" ", 1)
            expiries[labels] = float(value)
    assert set(expiries) == {
        'psf_dnssec_rrsig_expiry_timestamp_seconds{zone="example.test",nameserver="ns-agent",type="SOA"}',
        'psf_dnssec_rrsig_expiry_timestamp_seconds{zone="example.test",nameserver="ns-agent",type="DNSKEY"}',
    }
    # BIND's default policy signs for 14 days: a fresh signature expires in more than 10.
    assert all(value - now > 10 * 86400 for value in expiries.values())
    assert 'psf_dnssec_check_success{zone="example.test",nameserver="ns-agent"} 1' in metrics
    assert 'psf_dnssec_check_success{zone="missing.test",nameserver="ns-agent"} 0' in metrics
    assert host.service("psf-dnssec-expiry.timer").is_enabled

    def prometheus_has_it():
        assert query(host, 'psf_dnssec_check_success{zone="example.test"}')

    eventually(prometheus_has_it)


def test_alertmanager_routes_opted_in_tenants_to_liaisons_and_staff(host):
    config = "/etc/prometheus/alertmanager.yml"
    routed = host.check_output("amtool config routes test --config.file=%s tenant=example alertname=X", config)
    assert routed.split(",") == ["tenant-example", "staff"]
    assert host.check_output("amtool config routes test --config.file=%s tenant=other alertname=X", config) == "staff"


def test_an_alert_reaches_staff_and_the_liaison_by_mail(host):
    host.run_expect(
        [0],
        "amtool alert add --alertmanager.url=%s MoleculeTest tenant=example instance=mon1 "
        "--annotation=summary=molecule-test-alert",
        ALERTMANAGER,
    )

    def mails_arrived():
        mails = host.run("cat /var/tmp/mail/*.eml").stdout
        assert "X-Envelope-To: liz@example.test" in mails
        assert "X-Envelope-To: staff@python.test" in mails
        assert "quiet@example.test" not in mails
        assert "molecule-test-alert" in mails

    eventually(mails_arrived, timeout=60)


def test_services_listen_on_loopback_only(host):
    for port in (9090, 9093, 9115):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
