"""psf.infra.dns_zone against the lab's real BIND (ns1), through ansible-playbook and module_utils.

Every test makes its own zone on ns1 (rndc addzone through lab/labctl.py) and deletes it afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.dns.client import (
    DnsError,
    DnsServer,
    TsigKey,
    ZoneChangedError,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.diff import (
    SafetyPolicy,
    UnsafeChangeError,
)
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change
from ansible_collections.psf.infra.plugins.module_utils.dns.validate import parse_records
from ansible_collections.psf.infra.plugins.module_utils.dns.zone import (
    Hooks,
    Secondary,
    ZoneRequest,
    sync_zone,
)
from dns_support import (
    fresh_zone,
    primary,
    relative_records,
    run_playbook,
    server_vars,
    staff_key,
    task_results,
    unique_zone,
)

pytestmark = pytest.mark.lab

NS = {"name": "@", "type": "NS", "ttl": 300, "values": ["ns1.infra.test.", "ns2.infra.test."]}
RECORDS = [
    NS,
    {"name": "@", "type": "A", "ttl": 300, "values": ["192.0.2.10"]},
    {"name": "@", "type": "MX", "values": ["10 mail"]},
    {"name": "mail", "type": "A", "values": ["192.0.2.25"]},
    {"name": "www", "type": "CNAME", "values": ["@"]},
    {"name": "@", "type": "TXT", "values": ["v=spf1 mx -all", "dkim=" + "k" * 400]},
    {"name": "_sip._tcp", "type": "SRV", "values": ["10 60 5060 sip.other.test."]},
    {"name": "@", "type": "CAA", "values": ['0 issue "letsencrypt.org"']},
    {"name": "v6", "type": "AAAA", "values": ["2001:db8::1", "2001:db8::2"]},
    {"name": "1.2", "type": "PTR", "values": ["host.other.test."]},
    {"name": "child", "type": "NS", "values": ["ns.other.test."]},
    {"name": "child", "type": "DS", "values": ["12345 13 2 " + "ab" * 32]},
    {"name": "_443._tcp.www", "type": "TLSA", "values": ["3 1 1 " + "cd" * 32]},
    {"name": "host", "type": "SSHFP", "values": ["4 2 " + "ef" * 32]},
    {"name": "svc", "type": "HTTPS", "values": ['1 . alpn="h2,h3"']},
    {"name": "_dns", "type": "SVCB", "values": ["1 dns.other.test. alpn=dot"]},
]


def zone_task(lab, zone: str, records: list[dict], **options) -> dict:
    return {"name": "zone", "psf.infra.dns_zone": {**server_vars(lab), "zone": zone, "records": records,
                                                      **options}, "register": "result"}


def test_create_from_empty_then_rerun_is_a_noop(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-create") as zone:
        first = task_results(run_playbook(tmp_path, [zone_task(lab, zone, RECORDS)], diff=True))[0]
        assert first["changed"] is True, first
        assert first["counts"] == {"added": len(RECORDS) - 1, "changed": 0, "deleted": 0}
        assert first["messages_sent"] == 1
        plan = first["diff"][0]["prepared"] if isinstance(first["diff"], list) else first["diff"]["prepared"]
        assert f"* {zone} (127.0.0.1:{lab.port('ns1')})" in plan
        assert "*   Create www CNAME 3600 ['" + zone + "']" in plan
        assert "Summary: Creates=15, Updates=0, Deletes=0" in plan
        live = relative_records(server, zone)
        assert live[("www", "CNAME")] == (3600, [zone])
        assert live[("mail", "A")] == (3600, ["192.0.2.25"])
        txt_strings = live[("@", "TXT")][1][0]
        assert txt_strings.count('"') == 4  # 405 bytes of text: two strings (255 + 150)
        assert first["serial"] == server.soa_serial(zone) == first["serial_before"] + 1

        serial = server.soa_serial(zone)
        second = task_results(run_playbook(tmp_path, [zone_task(lab, zone, RECORDS)], diff=True))[0]
        assert second["changed"] is False
        assert second["messages_sent"] == 0
        assert "diff" not in second or not second["diff"]
        assert server.soa_serial(zone) == serial


def test_check_mode_shows_the_plan_and_sends_nothing(lab, tmp_path):
    server = primary(lab)
    records = "www A 192.0.2.1\nold TXT \"gone\"\nftp A 192.0.2.3\n"
    with fresh_zone(lab, "dnsz-check", records) as zone:
        serial = server.soa_serial(zone)
        before = relative_records(server, zone)
        wanted = [NS, {"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.2"]},
                  {"name": "ftp", "type": "A", "ttl": 300, "values": ["192.0.2.3"]},
                  {"name": "new", "type": "AAAA", "values": ["2001:db8::5"]}]
        output = run_playbook(tmp_path, [zone_task(lab, zone, wanted, prune=True)], check=True, diff=True)
        result = task_results(output)[0]
        assert result["changed"] is True
        assert result["messages_sent"] == 0
        plan = result["diff"][0]["prepared"] if isinstance(result["diff"], list) else result["diff"]["prepared"]
        assert "*   Create new AAAA 3600 ['2001:db8::5']" in plan
        assert "*   Update www A\n*     - 300 ['192.0.2.1']\n*     + 300 ['192.0.2.2']" in plan
        assert "*   Delete old TXT 300 ['\"gone\"']" in plan
        assert "Summary: Creates=1, Updates=1, Deletes=1, Existing Records=4" in plan
        assert server.soa_serial(zone) == serial
        assert relative_records(server, zone) == before


def test_prune_keeps_dnssec_acme_and_ignored_records(lab):
    server = primary(lab)
    records = ('_acme-challenge TXT "token-apex"\n_acme-challenge.www TXT "token-www"\n'
               "legacy A 192.0.2.7\ndoomed A 192.0.2.8\nwww A 192.0.2.1\n")
    with fresh_zone(lab, "dnsz-prune", records, signed=True) as zone:
        _, before = server.axfr(zone)
        dnssec_before = {key for key in before if key[1] in (dns.rdatatype.DNSKEY, dns.rdatatype.RRSIG,
                                                              dns.rdatatype.NSEC, 65534)}
        assert any(key[1] == dns.rdatatype.DNSKEY for key in dnssec_before)
        desired = parse_records([NS, {"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}], zone)
        result = sync_zone(server, ZoneRequest(zone, desired, prune=True, ignore=["legacy"]))
        assert result["changes"]["deleted"] == [{"name": "doomed", "type": "A", "ttl": 300,
                                                 "values": ["192.0.2.8"]}]
        assert result["counts"] == {"added": 0, "changed": 0, "deleted": 1}
        kept = {(each["name"], each["type"]) for each in result["protected"]}
        assert kept == {("_acme-challenge", "TXT"), ("_acme-challenge.www", "TXT"), ("legacy", "A")}
        _, after = server.axfr(zone)
        origin = dns.name.from_text(zone)
        assert (dns.name.from_text("doomed", origin), dns.rdatatype.A) not in after
        for name in ("_acme-challenge", "_acme-challenge.www", "legacy"):
            assert any(key[0] == dns.name.from_text(name, origin) for key in after), name
        assert (origin, dns.rdatatype.DNSKEY) in after
        assert (origin, dns.rdatatype.NSEC) in after
        assert (origin, dns.rdatatype.RRSIG) in after


def test_thresholds_refuse_and_force_passes(lab, tmp_path):
    server = primary(lab)
    hosts = "".join(f"h{index} A 192.0.2.{index + 1}\n" for index in range(20))
    with fresh_zone(lab, "dnsz-safety", hosts) as zone:
        serial = server.soa_serial(zone)
        moved = [NS] + [{"name": f"h{index}", "type": "A", "ttl": 300,
                         "values": [f"198.51.100.{index + 1}" if index < 10 else f"192.0.2.{index + 1}"]}
                        for index in range(20)]
        refused = task_results(run_playbook(tmp_path, [zone_task(lab, zone, moved)]))[0]
        assert refused.get("failed") is True
        assert "update 10 of 21 rrsets (48%" in refused["msg"]
        assert "force: true" in refused["msg"]
        assert server.soa_serial(zone) == serial

        ns_moved = [{**NS, "values": ["ns1.elsewhere.test."]}]
        with pytest.raises(UnsafeChangeError, match="apex NS set"):
            sync_zone(server, ZoneRequest(zone, parse_records(ns_moved, zone)))
        assert server.soa_serial(zone) == serial

        forced = task_results(run_playbook(tmp_path, [zone_task(lab, zone, moved, force=True)]))[0]
        assert forced["changed"] is True
        assert forced["counts"]["changed"] == 10
        assert relative_records(server, zone)[("h0", "A")] == (300, ["198.51.100.1"])

        relaxed = [NS] + [{"name": f"h{index}", "type": "A", "ttl": 300, "values": ["203.0.113.1"]}
                          for index in range(10)]
        result = sync_zone(server, ZoneRequest(zone, parse_records(relaxed, zone),
                                               policy=SafetyPolicy(max_update_fraction=0.6)))
        assert result["counts"]["changed"] == 10


def _concurrent_writer(lab, zone: str, name: str):
    other = DnsServer("127.0.0.1", lab.port("ns1"), staff_key(lab))

    def write(*_args) -> None:
        other.send_updates(zone, [Change.add_values(name, "TXT", 60, ['"somebody else"'], zone)])

    return write


@pytest.mark.parametrize("window", ["after_read", "before_first_message"])
def test_concurrent_change_before_the_update_is_detected_and_kept(lab, window):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-race", "www A 192.0.2.1\n") as zone:
        desired = parse_records([NS, {"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.2"]}], zone)
        hooks = Hooks(**{window: _concurrent_writer(lab, zone, "intruder")})
        with pytest.raises(ZoneChangedError) as caught:
            sync_zone(server, ZoneRequest(zone, desired, prune=True), hooks=hooks)
        assert caught.value.messages_applied == 0
        assert "changed" in str(caught.value)
        live = relative_records(server, zone)
        assert live[("intruder", "TXT")] == (60, ['"somebody else"'])  # not pruned, not overwritten
        assert live[("www", "A")] == (300, ["192.0.2.1"])  # nothing of ours was applied
        rerun = sync_zone(server, ZoneRequest(zone, desired, prune=True))  # reads again and converges
        assert rerun["counts"] == {"added": 0, "changed": 1, "deleted": 1}
        assert ("intruder", "TXT") not in relative_records(server, zone)


def test_concurrent_change_between_update_messages_is_detected(lab):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-race-multi") as zone:
        desired = parse_records([NS] + [{"name": f"host-{index:05d}", "type": "A", "values": ["192.0.2.1"]}
                                        for index in range(6000)], zone)
        hooks = Hooks(after_message=_concurrent_writer(lab, zone, "intruder"))
        with pytest.raises(ZoneChangedError) as caught:
            sync_zone(server, ZoneRequest(zone, desired), hooks=hooks)
        assert caught.value.messages_applied == 1
        assert "UPDATE message 2 of 3" in str(caught.value)
        live = relative_records(server, zone)
        assert live[("intruder", "TXT")] == (60, ['"somebody else"'])
        assert 1000 < sum(1 for key in live if key[0].startswith("host-")) < 6000
        rerun = sync_zone(server, ZoneRequest(zone, desired))
        assert rerun["changed"] is True
        assert sum(1 for key in relative_records(server, zone) if key[0].startswith("host-")) == 6000


def test_multi_message_update_on_a_signed_zone_keeps_the_serial_chain(lab):
    """BIND bumps the serial once per UPDATE on a dnssec-policy zone too: no false conflict."""
    server = primary(lab)
    with fresh_zone(lab, "dnsz-signed-bulk", signed=True) as zone:
        desired = parse_records([NS] + [{"name": f"host-{index:05d}", "type": "A", "values": ["192.0.2.1"]}
                                        for index in range(6000)], zone)
        result = sync_zone(server, ZoneRequest(zone, desired))
        assert result["messages_sent"] == 3
        assert result["serial"] >= result["serial_before"] + 3
        assert sync_zone(server, ZoneRequest(zone, desired))["changed"] is False


def test_check_mode_plans_a_zone_not_served_yet_from_empty_and_only_check_mode(lab, tmp_path):
    """A tenant not served yet: its plan is every record it would get, not a failed transfer."""
    zone = unique_zone("dnsz-new")  # never added to ns1
    wanted = [NS, {"name": "www", "type": "A", "values": ["192.0.2.7"]}]
    planned = task_results(run_playbook(tmp_path, [zone_task(lab, zone, wanted)], check=True, diff=True))[0]
    assert not planned.get("failed"), planned
    assert planned["changed"] is True and planned["served"] is False and planned["serial_before"] is None
    assert planned["counts"] == {"added": 2, "changed": 0, "deleted": 0}, planned
    assert planned["plan"].startswith(f"{zone} is not served by 127.0.0.1:{lab.port('ns1')} yet"), planned["plan"]
    assert "*   Create www A 3600 ['192.0.2.7']" in planned["plan"]
    applied = task_results(run_playbook(tmp_path, [zone_task(lab, zone, wanted)]))[0]
    assert applied.get("failed") is True and "NOTAUTH" in applied["msg"], applied
    # A zone that is served but refused to this key is the error it was, in check mode too.
    wrong_secret = "c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2VjcmV0LXRoYXQtaXM="
    with fresh_zone(lab, "dnsz-served") as served:
        task = {"name": "zone", "psf.infra.dns_zone": {**server_vars(lab, secret=wrong_secret), "zone": served,
                                                        "records": [NS]}}
        refused = task_results(run_playbook(tmp_path, [task], check=True))[0]
        assert refused.get("failed") is True and "BADSIG" in refused["msg"], refused


def test_wrong_tsig_key_fails_clearly_and_never_shows_the_secret(lab, tmp_path):
    wrong_secret = "c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2VjcmV0LXRoYXQtaXM="
    with fresh_zone(lab, "dnsz-tsig") as zone:
        task = {"name": "zone", "psf.infra.dns_zone": {**server_vars(lab, secret=wrong_secret), "zone": zone,
                                                        "records": [NS]}}
        output = run_playbook(tmp_path, [task])
        result = task_results(output)[0]
        assert result.get("failed") is True
        assert "BADSIG" in result["msg"]
        assert "secret differs" in result["msg"]
        assert wrong_secret not in output["stdout"] + output["stderr"]
        unknown = DnsServer("127.0.0.1", lab.port("ns1"), TsigKey("nobody-key", "hmac-sha256", wrong_secret))
        with pytest.raises(DnsError, match="does not know TSIG key 'nobody-key' \\(BADKEY\\)"):
            sync_zone(unknown, ZoneRequest(zone, {}))
        closed = DnsServer("127.0.0.1", 5699, staff_key(lab), timeout=2)
        with pytest.raises(DnsError, match="connection refused"):
            closed.axfr(zone)


def test_zone_file_gives_the_same_zone_as_inline_records(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-inline") as inline_zone, fresh_zone(lab, "dnsz-file") as file_zone:
        zone_file = tmp_path / "tenant.zone"
        zone_file.write_text(f"""$ORIGIN {file_zone}
$TTL 3600
@ SOA ns1.infra.test. hostmaster.infra.test. 99 300 30 1209600 60
@ 300 NS ns1.infra.test.
@ 300 NS ns2.infra.test.
@ 300 A 192.0.2.10
@ MX 10 mail
mail A 192.0.2.25
www CNAME @
@ TXT "v=spf1 mx -all" ; a comment
@ CAA 0 issue "letsencrypt.org"
v6 AAAA 2001:db8::1
v6 AAAA 2001:db8::2
""")
        inline = [NS, {"name": "@", "type": "A", "ttl": 300, "values": ["192.0.2.10"]},
                  {"name": "@", "type": "MX", "values": ["10 mail"]},
                  {"name": "mail", "type": "A", "values": ["192.0.2.25"]},
                  {"name": "www", "type": "CNAME", "values": ["@"]},
                  {"name": "@", "type": "TXT", "values": ["v=spf1 mx -all"]},
                  {"name": "@", "type": "CAA", "values": ['0 issue "letsencrypt.org"']},
                  {"name": "v6", "type": "AAAA", "values": ["2001:db8::1", "2001:db8::2"]}]
        tasks = [zone_task(lab, inline_zone, inline),
                 {"name": "file", "psf.infra.dns_zone": {**server_vars(lab), "zone": file_zone,
                                                         "zone_file": str(zone_file)}}]
        results = task_results(run_playbook(tmp_path, tasks))
        assert [result["changed"] for result in results] == [True, True]
        assert results[0]["counts"] == results[1]["counts"]

        def normalised(zone: str) -> dict:
            return {key: (ttl, [value.replace(zone, "ORIGIN.") for value in values])
                    for key, (ttl, values) in relative_records(server, zone).items()}

        assert normalised(inline_zone) == normalised(file_zone)
        assert task_results(run_playbook(tmp_path, tasks))[1]["changed"] is False


def test_invalid_record_fails_before_anything_is_sent(lab, tmp_path):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-invalid") as zone:
        serial = server.soa_serial(zone)
        bad = [NS, {"name": "www", "type": "A", "values": ["192.0.2.1"]},
               {"name": "api", "type": "A", "values": ["192.0.2.300"]}]
        task = zone_task(lab, zone, bad, tenant="packaging", source_file="inventories/lab/tenants/packaging.yml")
        result = task_results(run_playbook(tmp_path, [task]))[0]
        assert result.get("failed") is True
        assert result["msg"].startswith("inventories/lab/tenants/packaging.yml: tenant 'packaging': "
                                        "records[2].values[0]: '192.0.2.300' is not an IPv4 address")
        assert server.soa_serial(zone) == serial


def test_secondaries_report_the_new_serial(lab):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-secondary") as zone:
        desired = parse_records([NS, {"name": "www", "type": "A", "values": ["192.0.2.1"]}], zone)
        result = sync_zone(server, ZoneRequest(zone, desired), secondaries=[Secondary("127.0.0.1",
                                                                                       lab.port("ns2"))],
                           wait_for_secondaries=30)
        assert result["secondaries"][0]["in_sync"] is True, result["secondaries"]
        assert result["secondaries"][0]["serial"] == result["serial"]


def test_a_cname_and_an_address_replace_each_other_in_one_run(lab):
    server = primary(lab)
    with fresh_zone(lab, "dnsz-cname", "www CNAME elsewhere.other.test.\napi A 192.0.2.5\n") as zone:
        swap = [NS, {"name": "www", "type": "A", "ttl": 300, "values": ["192.0.2.1"]},
                {"name": "api", "type": "CNAME", "ttl": 300, "values": ["www"]}]
        result = sync_zone(server, ZoneRequest(zone, parse_records(swap, zone), prune=True))
        assert result["messages_sent"] == 1
        live = relative_records(server, zone)
        assert live[("www", "A")] == (300, ["192.0.2.1"])
        assert live[("api", "CNAME")] == (300, [f"www.{zone}"])
        assert ("www", "CNAME") not in live and ("api", "A") not in live
        assert sync_zone(server, ZoneRequest(zone, parse_records(swap, zone), prune=True))["changed"] is False


def test_the_shipped_module_and_the_in_process_action_agree(lab, tmp_path):
    """On the controller the action plugin runs the module's code in ansible-playbook's process; with
    ``psf_dns_in_process: false`` (or on any other host) the module is shipped as usual. Each path
    must see the other's work as done, return the same fields, and keep the secret out of the output."""
    server = primary(lab)

    def task(records: list[dict], in_process: bool) -> dict:
        return {**zone_task(lab, zone, records), "vars": {"psf_dns_in_process": in_process}}

    changed = [dict(record, values=["192.0.2.99"]) if record["name"] == "mail" else record for record in RECORDS]
    with fresh_zone(lab, "dnsz-paths") as zone:
        output = run_playbook(tmp_path, [task(RECORDS, False), task(RECORDS, True), task(changed, True),
                                         task(changed, False)], diff=True)
        shipped, in_process, change, shipped_again = task_results(output)
        assert shipped["changed"] is True and shipped["counts"]["added"] == len(RECORDS) - 1
        assert in_process["changed"] is False and in_process["messages_sent"] == 0
        assert change["changed"] is True and change["counts"] == {"added": 0, "changed": 1, "deleted": 0}
        assert shipped_again["changed"] is False
        assert set(shipped) - {"diff"} == set(in_process) - {"diff"}
        assert shipped["invocation"]["module_args"]["tsig_key_secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert in_process["invocation"]["module_args"]["tsig_key_secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert lab.key("staff-key")["secret"] not in output["stdout"] + output["stderr"]
        assert relative_records(server, zone)[("mail", "A")] == (3600, ["192.0.2.99"])


def test_names_in_any_case_are_the_same_names(lab, tmp_path):
    """DNS names ignore case (RFC 4343): the zone, a record's owner and a zone file's $ORIGIN may be
    written in upper or mixed case, and BIND keeps the case a name was first written in. Creating,
    pruning and comparing must all treat ``Mixed.EXAMPLE.`` and ``mixed.example.`` as one name."""
    server = primary(lab)
    with fresh_zone(lab, "dnsz-case", "old A 192.0.2.7\n") as zone:
        upper = zone.upper()  # absolute, as every zone of the lab: "dnsz-case-<id>.test."
        mixed = [NS, {"name": "Mixed", "type": "A", "values": ["192.0.2.1"]},
                 {"name": f"ABS.{upper}", "type": "A", "values": ["192.0.2.2"]}]
        lower = [NS, {"name": "mixed", "type": "A", "values": ["192.0.2.1"]},
                 {"name": f"abs.{zone}", "type": "A", "values": ["192.0.2.2"]}]
        zone_file = tmp_path / "case.zone"
        zone_file.write_text(f"$ORIGIN {upper}\n$TTL 3600\n@ 300 NS ns1.infra.test.\n@ 300 NS ns2.infra.test.\n"
                             "MIXED A 192.0.2.1\nabs A 192.0.2.2\n")
        file_task = {"name": "zone", "psf.infra.dns_zone": {**server_vars(lab), "zone": zone,
                                                             "zone_file": str(zone_file), "prune": True}}
        output = run_playbook(tmp_path, [zone_task(lab, upper, mixed, prune=True),
                                         zone_task(lab, zone, lower, prune=True), file_task])
        assert output["returncode"] == 0, [result.get("msg") for result in task_results(output)]
        created, same_in_lower_case, same_from_file = task_results(output)
        assert created["changed"] is True and created["counts"]["added"] == 2 and created["counts"]["deleted"] == 1
        assert same_in_lower_case["changed"] is False, same_in_lower_case.get("plan")
        assert same_from_file["changed"] is False, same_from_file.get("plan")
        live = {(name.lower(), rdtype): value for (name, rdtype), value in relative_records(server, zone).items()}
        assert live[("mixed", "A")] == (3600, ["192.0.2.1"]) and live[("abs", "A")] == (3600, ["192.0.2.2"])
        assert ("old", "A") not in live


def test_async_tasks_are_shipped_and_run_in_the_background(lab, tmp_path):
    """``async`` cannot run in ansible-playbook's process: such a task is shipped to async_wrapper,
    whether polled by Ansible or fired and collected with ``async_status``."""
    server = primary(lab)
    with fresh_zone(lab, "dnsz-async") as zone:
        fired = {**zone_task(lab, zone, RECORDS), "async": 120, "poll": 0, "register": "job"}
        collect = {"name": "collect", "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
                   "register": "done", "until": "done.finished", "retries": 120, "delay": 1}
        polled = {**zone_task(lab, zone, RECORDS), "async": 120, "poll": 1}
        output = run_playbook(tmp_path, [fired, collect, polled, zone_task(lab, zone, RECORDS)])
        assert output["returncode"] == 0, [result.get("msg") for result in task_results(output)]
        started, collected, polled_result, in_process = task_results(output)
        assert started["started"] == 1 and started["ansible_job_id"]
        assert collected["finished"] == 1 and collected["changed"] is True, collected.get("msg")
        assert collected["counts"]["added"] == len(RECORDS) - 1
        assert polled_result["changed"] is False and polled_result["messages_sent"] == 0, polled_result.get("msg")
        assert in_process["changed"] is False
        assert relative_records(server, zone)[("mail", "A")] == (3600, ["192.0.2.25"])
        secret = lab.key("staff-key")["secret"]
        assert secret not in output["stdout"] + output["stderr"]
        job_file = Path.home() / ".ansible_async" / started["ansible_job_id"]  # async_wrapper's result file
        assert job_file.is_file() and secret not in job_file.read_text()


def test_bad_arguments_are_refused_the_same_way_in_process(lab, tmp_path):
    with fresh_zone(lab, "dnsz-args") as zone:
        serial = primary(lab).soa_serial(zone)
        both = {**server_vars(lab), "zone": zone, "records": [NS], "zone_file": str(tmp_path / "zone.db")}
        wrong_type = {**server_vars(lab), "zone": zone, "records": [NS], "prune": "perhaps"}
        not_a_list = {**server_vars(lab), "zone": zone, "records": "www A 192.0.2.1"}
        output = run_playbook(tmp_path, [{"name": name, "psf.infra.dns_zone": args, "ignore_errors": True}
                                         for name, args in (("both", both), ("type", wrong_type),
                                                            ("list", not_a_list))])
        both_result, type_result, list_result = task_results(output)
        assert both_result["failed"] and "mutually exclusive: records|zone_file" in both_result["msg"]
        assert type_result["failed"] and "prune" in type_result["msg"]
        assert list_result["failed"] and list_result["field"] == "records"
        assert lab.key("staff-key")["secret"] not in output["stdout"] + output["stderr"]
        assert primary(lab).soa_serial(zone) == serial  # nothing was sent


def test_records_from_a_variable_are_templated_only_where_they_hold_templates(lab, tmp_path):
    """The action plugin takes ``records: "{{ var }}"`` as it is when no record holds a template (the
    fast path), and templates it the usual way when one does: both must reach the zone."""
    server = primary(lab)
    plain = [NS, {"name": "www", "type": "A", "values": ["192.0.2.10"]}]
    templated = [NS, {"name": "www", "type": "A", "values": ["{{ web_ip }}"]},
                 {"name": "{{ mail_name }}", "type": "A", "ttl": "{{ 60 * 5 }}", "values": ["192.0.2.25"]}]
    with fresh_zone(lab, "dnsz-vars") as zone:
        def task(variable: str) -> dict:
            return {"name": variable, "psf.infra.dns_zone": {**server_vars(lab), "zone": zone,
                                                            "records": "{{ " + variable + " }}"},
                    "vars": {"plain_records": plain, "templated_records": templated,
                             "web_ip": "192.0.2.11", "mail_name": "mail"}}

        first, second = task_results(run_playbook(tmp_path, [task("plain_records"), task("templated_records")]))
        assert first["changed"] is True and first["counts"]["added"] == 1, first
        assert second["changed"] is True and second["counts"] == {"added": 1, "changed": 1, "deleted": 0}, second
        live = relative_records(server, zone)
        assert live[("www", "A")] == (3600, ["192.0.2.11"])
        assert live[("mail", "A")] == (300, ["192.0.2.25"])
