"""A CSK rollover on the lab's ns1 that never breaks the chain of trust (issue 10, "Signing and rollover").

A throwaway zone of its own under `test.` is signed with the lab's test-only policy `lab-rollover`
(the psf policy's CSK on a timetable of seconds, lab/psf_lab/config.py ROLLOVER_TIMINGS) and asks the
lab's validating resolver for its DS (`parental-agents`, as the nameserver role sets it). The DS at
the parent is driven the way production drives it: the two tasks of playbooks/domains.yml that read
the zone and pick the keys from its CDNSKEY set, read from that file, then psf.infra.domain with the
rfc2136 provider against the lab registry. `rndc dnssec -rollover` starts the roll; whenever the
CDNSKEY set no longer matches the DS at the parent, the DS step runs again and `rndc loadkeys` makes
BIND ask its parental agent at once (BIND asks again by itself at its next key event, at the latest
after an hour: a production wait a test cannot compress). All the while `delv` (BIND's own validator,
from the lab root's trust anchor, through the lab resolver) asks for a name in the zone and for its
DNSKEY set every two seconds: every single answer must be "fully validated". The roll must complete:
the old key gone from ns1 and ns2, the parent holding only the new key's DS, BIND saying so.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdatatype
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl
from dns_support import REPO, run_playbook, task_results, unique_zone
from psf_lab import bind, dnsclient
from psf_lab.config import (
    CATALOG_ZONE,
    HOST,
    INFRA_NAMESERVERS,
    REGISTRY_NEGATIVE_TTL,
    ROLLOVER_POLICY,
    ROLLOVER_TIMINGS,
    SERVICES,
    LabPaths,
)
from psf_lab.keys import lab_key
from psf_lab.resolver import flush_resolver, sync_resolver
from psf_lab.templates import render_lab
from psf_lab.zones import wait_signed

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]
SAMPLE_EVERY = 2.0
ROLL_TIMEOUT = 240.0
TTL = ROLLOVER_TIMINGS["max-zone-ttl"]


# --------------------------------------------------------------------------- the zone


def ensure_rollover_policy(paths: LabPaths) -> None:
    """ns1 started before the policy existed: write its configuration as `labctl.py up` does and let
    named read it again (rndc reconfig, not a restart)."""
    if f'dnssec-policy "{ROLLOVER_POLICY}"' not in (paths.server_dir("ns1") / "named.conf").read_text():
        bind.write_named_config(paths, "ns1")
        bind.run_rndc(paths, "ns1", "reconfig")


def add_rollover_zone(paths: LabPaths, zone: str, parental_agents: list[dict]) -> None:
    """The zone on ns1 (rndc addzone, policy lab-rollover), in the catalog (so on ns2), in the resolver's stubs."""
    path = paths.ns1_zone_dir / f"{zone}db"
    path.write_text(bind.zone_file(zone, INFRA_NAMESERVERS[0], INFRA_NAMESERVERS, f"www {TTL} A 192.0.2.80\n",
                                   negative_ttl=REGISTRY_NEGATIVE_TTL, ttl=TTL))
    statement = render_lab("named/addzone.j2", zone_file=path, signed=True, dnssec_policy=ROLLOVER_POLICY,
                           parental_agents=parental_agents, update_policy=bind.UPDATE_POLICY).strip()
    bind.run_rndc(paths, "ns1", "addzone", zone, statement)
    wait_signed(zone, paths)
    from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change, RRset

    member = RRset.from_text(f"{bind.catalog_member_label(zone)}.zones.{CATALOG_ZONE}", "PTR", bind.CATALOG_TTL, [zone])
    dnsclient.send_update(SERVICES["ns1"].port, CATALOG_ZONE, lab_key("staff-key", paths), [Change(None, member)])
    sync_resolver(paths)


# --------------------------------------------------------------------------- what the servers say


def apex(port: int, zone: str, rdtype: str) -> list[dns.rdata.Rdata]:
    response = dnsclient.dns_query(port, zone, rdtype)
    return [rdata for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype) for rdata in rrset]


def keytags(rdatas: list[dns.rdata.Rdata]) -> set[int]:
    return {dns.dnssec.key_id(rdata) for rdata in rdatas}


def ds_text(zone: str, keys: list[dns.rdata.Rdata]) -> set[str]:
    return {dns.dnssec.make_ds(dns.name.from_text(zone), key, "SHA256").to_text().upper() for key in keys}


def parent_ds(lab, zone: str) -> set[str]:
    return {text.upper() for text in labctl._parent_delegation(lab.port("registry"), zone)[1]}


def key_states(paths: LabPaths, zone: str) -> dict[int, dict[str, str]]:
    """`rndc dnssec -status`: {key id: {"goal": ..., "dnskey": ..., "ds": ..., ...}}."""
    text = bind.run_rndc(paths, "ns1", "dnssec", "-status", zone).stdout
    states: dict[int, dict[str, str]] = {}
    for block in re.split(r"^key: ", text, flags=re.M)[1:]:
        key = int(block.split()[0])
        states[key] = dict(re.findall(r"^\s*- ([a-z ]+):\s+(\S+)", block, flags=re.M))
    return states


# --------------------------------------------------------------------------- the DS step, as production


def production_key_tasks() -> list[dict]:
    """playbooks/domains.yml's tasks that read each zone and note the keys whose DS belongs at the parent."""
    play = yaml.safe_load((REPO / "playbooks" / "domains.yml").read_text())[0]
    read = next(task for task in play["tasks"] if "psf.infra.dns_zone_info" in task)
    note = next(task for task in play["tasks"] if "domains_keys" in task.get("ansible.builtin.set_fact", {}))
    return [read, note]


def ds_step(lab, tmp_path: Path, zone: str) -> dict:
    domain = zone.rstrip(".")
    staff, registry = lab.key("staff-key"), lab.key("registry-key")
    extra = {
        "domains_list": [{"name": domain, "tenant": "lab-test"}], "domains_hosted": [domain],
        "psf_dns_primary": {"address": HOST, "port": lab.port("ns1")},
        "psf_dns_staff_key": {"name": staff["name"], "algorithm": staff["algorithm"], "secret": staff["secret"]},
        "psf_registrar_rfc2136": {"server": HOST, "port": lab.port("registry"), "zone": "test.",
                                  "tsig_key_name": registry["name"], "tsig_key_algorithm": registry["algorithm"],
                                  "tsig_key_secret": registry["secret"], "ttl": ROLLOVER_TIMINGS["parent-ds-ttl"]},
    }
    domain_task = {"name": "domain", "psf.infra.domain": {
        "name": domain, "provider": "rfc2136", "rfc2136": "{{ psf_registrar_rfc2136 }}", "nameservers": NAMESERVERS,
        "auto_renew": True, "tenant": "lab-test", "source_file": "tests/integration/test_dnssec_rollover.py",
        "dnskeys": "{{ (domains_keys | default({}))['" + domain + "'] | default(none, true) or omit }}"}}
    output = run_playbook(tmp_path, [*production_key_tasks(), domain_task], extra_vars=extra)
    assert output["returncode"] == 0, output["stdout"][-3000:]
    assert staff["secret"] not in output["stdout"] + output["stderr"]
    assert registry["secret"] not in output["stdout"] + output["stderr"]
    return task_results(output)[-1]


# --------------------------------------------------------------------------- delv, all the time


class Sampler(threading.Thread):
    """`delv` every SAMPLE_EVERY seconds until stopped: (time, query, validated, output) per answer."""

    def __init__(self, lab, zone: str) -> None:
        super().__init__(daemon=True)
        self.command = ["delv", "-a", lab.trust_anchor["anchor_conf"], f"@{HOST}", "-p", str(lab.port("resolver")),
                        "+nocrypto"]
        self.queries = [(f"www.{zone}", "A"), (zone, "DNSKEY")]
        self.samples: list[tuple[float, str, bool, str]] = []
        self.stopped = threading.Event()

    def sample(self) -> list[tuple[float, str, bool, str]]:
        results = []
        for name, rdtype in self.queries:
            done = subprocess.run([*self.command, name, rdtype], capture_output=True, text=True, timeout=20,
                                  check=False)
            text = done.stdout + done.stderr
            results.append((time.monotonic(), f"{name} {rdtype}", "; fully validated" in text, text.strip()))
        return results

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples += self.sample()
            self.stopped.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


def wait_for(what: str, check, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------- the test


def test_a_csk_rollover_never_breaks_the_chain_and_completes(lab, tmp_path):
    paths = LabPaths(lab.dir)
    ensure_rollover_policy(paths)
    zone = unique_zone("roll")
    ns1, ns2 = lab.port("ns1"), lab.port("ns2")
    # The nameserver role's default parental agent: the validating resolver (psf_dns_resolver).
    agents = [{"address": HOST, "port": lab.port("resolver")}]
    started = time.monotonic()
    sampler = None
    add_rollover_zone(paths, zone, agents)
    try:
        # 1. The zone's first key: BIND publishes its CDNSKEY once it may go to the parent.
        first = wait_for(f"{zone} to publish its first CDNSKEY", lambda: apex(ns1, zone, "CDNSKEY"), 60)
        old = keytags(first)
        assert len(old) == 1
        (old_id,) = old
        result = ds_step(lab, tmp_path, zone)
        assert [a["action"] for a in result["actions"]] == ["nameservers", "ds"], result
        assert parent_ds(lab, zone) == ds_text(zone, first)
        flush_resolver(zone, paths)  # the resolver may remember the zone as not yet delegated
        bind.run_rndc(paths, "ns1", "loadkeys", zone)
        wait_for("BIND to see the first DS at the parent (checkds)",
                 lambda: key_states(paths, zone).get(old_id, {}).get("ds") == "omnipresent", 60)
        wait_for(f"delv to validate www.{zone}", lambda: all(s[2] for s in Sampler(lab, zone).sample()), 30, 1)

        # 2. The rollover, with delv sampling all along.
        sampler = Sampler(lab, zone)
        sampler.start()
        roll_started = time.monotonic()
        bind.run_rndc(paths, "ns1", "dnssec", "-rollover", "-key", str(old_id), zone)
        seen_dnskeys: set[frozenset[int]] = set()
        parent_history = [frozenset(parent_ds(lab, zone))]
        ds_steps = 0
        new_id = None
        old_ds = ds_text(zone, first)
        # BIND's view must never run ahead of the parent: the old DS is withdrawn before the old
        # key leaves the zone (RFC 7583), and BIND counts it withdrawn only when it really is.
        violations: list[str] = []

        def check_order(states: dict[int, dict[str, str]]) -> None:
            at_parent = parent_ds(lab, zone) & old_ds
            if at_parent and old_id not in keytags(apex(ns1, zone, "DNSKEY")):
                violations.append(f"{time.monotonic() - roll_started:.0f} s: old key {old_id} gone from the zone, "
                                  "its DS still at the parent")
            if at_parent and states.get(old_id, {}).get("ds") == "hidden":
                violations.append(f"{time.monotonic() - roll_started:.0f} s: BIND counts the DS of {old_id} "
                                  "withdrawn, the parent still serves it")

        def finished() -> bool:
            nonlocal ds_steps, new_id
            check_order(key_states(paths, zone))
            keys = apex(ns1, zone, "DNSKEY")
            seen_dnskeys.add(frozenset(keytags(keys)))
            cdnskey = apex(ns1, zone, "CDNSKEY")
            if cdnskey and ds_text(zone, cdnskey) != parent_ds(lab, zone):
                ds_step(lab, tmp_path, zone)
                ds_steps += 1
                parent_history.append(frozenset(parent_ds(lab, zone)))
                bind.run_rndc(paths, "ns1", "loadkeys", zone)
            states = key_states(paths, zone)
            check_order(states)
            successors = [key for key in states if key != old_id]
            if len(successors) != 1:
                return False
            new_id = successors[0]
            return (keytags(apex(ns1, zone, "DNSKEY")) == {new_id} == keytags(apex(ns2, zone, "DNSKEY"))
                    and parent_ds(lab, zone) == ds_text(zone, apex(ns1, zone, "DNSKEY"))
                    and states[new_id].get("ds") == "omnipresent"
                    and states[old_id].get("dnskey") == "hidden" and states[old_id].get("ds") == "hidden")

        wait_for(f"the rollover of {zone} to complete", finished, ROLL_TIMEOUT, 1)
        roll_seconds = time.monotonic() - roll_started
        sampler.stop()
        samples = sampler.samples
        # A few more seconds of samples after the end: the zone validates with the new key alone.
        samples += Sampler(lab, zone).sample()

        assert not violations, violations
        bad = [s for s in samples if not s[2]]
        assert not bad, (f"{len(bad)} of {len(samples)} delv answers were not fully validated, the first at "
                         f"{bad[0][0] - roll_started:.1f} s into the roll ({bad[0][1]}):\n{bad[0][3]}")
        assert len(samples) >= 2 * roll_seconds / (SAMPLE_EVERY + 2), (len(samples), roll_seconds)
        # The roll really happened: both keys published side by side, the DS swapped once at the
        # parent from the old key's to the new key's, never an empty DS set.
        assert frozenset({old_id, new_id}) in seen_dnskeys
        assert ds_steps >= 1
        assert all(history for history in parent_history)
        assert parent_history[0] == frozenset(ds_text(zone, first))
        assert parent_ds(lab, zone) == ds_text(zone, apex(ns1, zone, "DNSKEY")) != parent_history[0]
        print(f"\n{zone}: rollover {old_id} -> {new_id} completed in {roll_seconds:.0f} s; {len(samples)} delv "
              f"answers, all fully validated; {ds_steps} DS step(s); whole test {time.monotonic() - started:.0f} s")
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        labctl.undelegate_zone(zone)
        labctl.remove_zone(zone)
