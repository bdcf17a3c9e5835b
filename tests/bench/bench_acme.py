"""Benchmark: 50 certificates for 50 tenant zones against the lab's pebble.

Run by ``make bench`` (the lab must be up; the Makefile brings it up). Not a test: it prints a table.
Every tool does the same work, each for its own 50 fresh zones (``<zone>`` and ``*.<zone>``, so two
DNS-01 challenges per certificate): account key ready, a new key and CSR per certificate, order,
TXT records published with RFC 2136 (TSIG) on ns1, validation, finalization, download, records
removed. All through ansible-playbook, measured as the wall time of the whole process.

- ``psf.infra.certificate (one task)``: the module's ``certificates`` list, as playbooks/certificates.yml
  runs it: one account, orders in parallel, one UPDATE per zone, ns1 and ns2 polled concurrently
  until both serve the records.
- ``psf.infra.certificate (loop)``: the same module, one task per certificate (``loop``).
- ``community.crypto two-step``: openssl_privatekey + openssl_csr_pipe, acme_certificate (step 1),
  community.general.nsupdate per TXT record, a dig loop until the secondary serves the values (without
  it the flow fails now and then: pebble's resolver may ask ns2 first), acme_certificate (step 2),
  nsupdate absent, per certificate (the documented flow).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / "collections"))
import labctl  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change  # noqa: E402

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def registry(state: dict) -> DnsServer:
    key = state["keys"]["registry-key"]
    return DnsServer("127.0.0.1", state["services"]["registry"]["port"],
                     tsig=TsigKey(key["name"], key["algorithm"], key["secret"]))


def make_zones(state: dict, count: int, prefix: str) -> list[str]:
    """``count`` unsigned tenant zones on ns1 (+ ns2 via the catalog), delegated from test."""
    zones = [f"{prefix}-{index:02d}.test" for index in range(count)]
    for zone in zones:
        labctl.add_zone(f"{zone}.", "@ A 127.0.0.1\n", signed=False)
    registry(state).send_updates(labctl.REGISTRY_ZONE, [
        Change.add_values(f"{zone}.", "NS", 300, labctl.INFRA_NAMESERVERS) for zone in zones])
    for zone in zones:
        labctl.flush_resolver(f"{zone}.")
    # Not timed: tenant zones exist long before their certificates; wait until ns2 has loaded them.
    secondary = DnsServer("127.0.0.1", state["services"]["ns2"]["port"], timeout=2)
    deadline = time.monotonic() + 120
    for zone in zones:
        while True:
            try:
                secondary.soa(zone)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return zones


def drop_zones(state: dict, zones: list[str]) -> None:
    registry(state).send_updates(labctl.REGISTRY_ZONE, [
        Change.remove_values(f"{zone}.", "NS", labctl.INFRA_NAMESERVERS) for zone in zones])
    for zone in zones:
        labctl.remove_zone(f"{zone}.")


def run_playbook(workdir: Path, name: str, play: list, extra_env: dict | None = None) -> float:
    path = workdir / f"{name}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_NOCOLOR="1", **(extra_env or {}))
    started = time.perf_counter()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-e", "ansible_connection=local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(path)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def common_args(state: dict, account_key: Path) -> dict:
    key = state["keys"]["staff-key"]
    services = state["services"]
    return {
        "acme_directory": state["acme"]["directory"], "acme_ca_bundle": state["acme"]["ca_bundle"],
        "acme_account_key_path": str(account_key),
        "dns_servers": [{"address": "127.0.0.1", "port": services["ns1"]["port"]},
                        {"address": "127.0.0.1", "port": services["ns2"]["port"]}],
        "dns_resolver": {"address": "127.0.0.1", "port": services["resolver"]["port"]},
        "dns_tsig_key_name": key["name"], "dns_tsig_key_secret": key["secret"], "timeout": 600,
    }


def ours_one_task(state: dict, zones: list[str], workdir: Path, account_key: Path) -> list:
    entries = [{"names": [zone, f"*.{zone}"], "dest": str(workdir / "ours-batch" / zone)} for zone in zones]
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "All certificates", "psf.infra.certificate": {
            **common_args(state, account_key), "certificates": entries, "parallel": 8}}]}]


def ours_loop(state: dict, zones: list[str], workdir: Path, account_key: Path) -> list:
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "One certificate", "loop": zones, "psf.infra.certificate": {
            **common_args(state, account_key), "names": ["{{ item }}", "*.{{ item }}"],
            "dest": str(workdir / "ours-loop") + "/{{ item }}"}}]}]


def community_crypto(state: dict, zones: list[str], workdir: Path, account_key: Path) -> list:
    key = state["keys"]["staff-key"]
    ns1 = state["services"]["ns1"]["port"]
    ns2 = state["services"]["ns2"]["port"]
    out = str(workdir / "community") + "/{{ zone }}"
    acme = {"account_key_src": str(account_key), "acme_directory": state["acme"]["directory"],
            "acme_version": 2, "terms_agreed": True, "challenge": "dns-01",
            "csr_content": "{{ csr.csr }}", "dest": out + "/cert.pem", "fullchain_dest": out + "/fullchain.pem",
            "chain_dest": out + "/chain.pem", "select_crypto_backend": "cryptography"}
    nsupdate = {"server": "127.0.0.1", "port": ns1, "key_name": key["name"], "key_secret": key["secret"],
                "key_algorithm": key["algorithm"], "zone": "{{ zone }}", "record": "{{ record.key }}.",
                "type": "TXT", "ttl": 0}
    per_certificate = [
        {"name": "Directory", "ansible.builtin.file": {"path": out, "state": "directory", "mode": "0755"}},
        {"name": "Key", "community.crypto.openssl_privatekey": {"path": out + "/privkey.pem", "type": "ECC",
                                                                "curve": "secp256r1", "mode": "0600"}},
        {"name": "CSR", "community.crypto.openssl_csr_pipe": {
            "privatekey_path": out + "/privkey.pem", "common_name": "{{ zone }}",
            "subject_alt_name": ["DNS:{{ zone }}", "DNS:*.{{ zone }}"]}, "register": "csr"},
        {"name": "Order (step 1)", "community.crypto.acme_certificate": acme, "register": "challenge"},
        {"name": "Publish TXT", "community.general.nsupdate": {**nsupdate, "value": "{{ record.value }}"},
         "loop": "{{ challenge.challenge_data_dns | dict2items }}", "loop_control": {"loop_var": "record"}},
        # Without this wait the flow fails now and then (measured: 1 run in 50 certificates):
        # pebble asks the resolver, which may ask ns2 before NOTIFY + IXFR brought it the record.
        {"name": "Wait until the secondary serves the TXT values", "ansible.builtin.command": {
            "argv": ["dig", "+short", "-p", str(ns2), "@127.0.0.1", "{{ record.key }}", "TXT"]},
         "register": "served", "changed_when": False,
         "until": "record.value | difference(served.stdout_lines | map('replace', '\"', '')) | length == 0",
         "retries": 60, "delay": 1,
         "loop": "{{ challenge.challenge_data_dns | dict2items }}", "loop_control": {"loop_var": "record"}},
        {"name": "Validate and finalize (step 2)", "community.crypto.acme_certificate": {
            **acme, "data": "{{ challenge }}"}},
        {"name": "Remove TXT", "community.general.nsupdate": {**nsupdate, "state": "absent"},
         "loop": "{{ challenge.challenge_data_dns | dict2items }}", "loop_control": {"loop_var": "record"}},
    ]
    (workdir / "community-per-certificate.yml").write_text(yaml.safe_dump(per_certificate, sort_keys=False))
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Each certificate", "ansible.builtin.include_tasks": str(workdir / "community-per-certificate.yml"),
         "loop": zones, "loop_control": {"loop_var": "zone"}}]}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=50)
    parser.add_argument("--skip-loop", action="store_true", help="skip the one-task-per-certificate variant")
    parser.add_argument("--only", choices=["ours", "community"], help="run only these variants")
    parser.add_argument("--acme-directory", help="another ACME CA than the lab's (e.g. a private pebble)")
    parser.add_argument("--acme-ca-bundle", help="the CA of that ACME server's HTTPS")
    options = parser.parse_args()
    state = labctl.load_state()
    if options.acme_directory:
        state["acme"] = {"directory": options.acme_directory, "ca_bundle": options.acme_ca_bundle}
    count = options.certificates
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-acme-") as temporary:
        workdir = Path(temporary)
        account_key = workdir / "account.key"
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", str(account_key)], check=True, capture_output=True)
        os.chmod(account_key, 0o600)
        variants = []
        if options.only != "community":
            variants.append(("psf.infra.certificate (one task)", ours_one_task, {}))
            if not options.skip_loop:
                variants.append(("psf.infra.certificate (loop)", ours_loop, {}))
        if options.only != "ours":
            # community.crypto's fetch_url trusts the default CA file: point it at pebble's HTTPS CA.
            variants.append(("community.crypto two-step", community_crypto,
                             {"SSL_CERT_FILE": state["acme"]["ca_bundle"]}))
        for label, build, env in variants:
            zones = make_zones(state, count, f"bench-{secrets.token_hex(2)}")
            try:
                seconds = run_playbook(workdir, build.__name__, build(state, zones, workdir, account_key), env)
            finally:
                drop_zones(state, zones)
            rows.append((label, seconds))
            print(f"  {label}: {seconds:.1f} s", file=sys.stderr, flush=True)
    baseline = dict(rows).get("community.crypto two-step")
    print(f"\n{count} certificates (apex + wildcard each, DNS-01 via RFC 2136) against pebble")
    print(f"{'tool':<36} {'seconds':>9} {'per cert':>9} {'speed-up':>9}")
    for label, seconds in rows:
        ratio = f"{baseline / seconds:>8.1f}x" if baseline else f"{'-':>9}"
        print(f"{label:<36} {seconds:>9.1f} {seconds / count:>9.2f} {ratio}")
    print(json.dumps({"certificates": count, "seconds": dict(rows)}))


if __name__ == "__main__":
    main()
