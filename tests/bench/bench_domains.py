"""Time the no-op domain run: N domains at the registrar (the Gandi API fake) already as declared,
kept by psf.infra.domain and then checked by psf.infra.domain_info in one ansible-playbook run, as
playbooks/domains.yml does: each module's list form, one task for every domain (``--workers``
threads in one module process). The parent zone ``test.`` (NS and DS of every domain) is served on
127.0.0.1 by a small authoritative server in this process: it is the witness of the registrar's keys.

    .venv/bin/python tests/bench/bench_domains.py [--domains 300] [--signed-every 3]

Prints the wall time of the playbook, the API requests per domain (the issue's target: at most one
per domain on a no-op) by endpoint, and, for comparison, the time of the same reads made directly
with one HTTP client in one process (the floor a hand-written script would reach). A benchmark, not a
test: it asserts nothing about timings; it fails only when the run changed something or failed.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dns.dnssec
import dns.rdata

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fakes"))

from authoritative import Server, make_zone  # noqa: E402
from gandi_api import TEST_TOKEN, FakeGandi  # noqa: E402

NAMESERVERS = ["ns1.infra.test", "ns2.infra.test"]


def public_key(number: int) -> str:
    """A 64-byte ECDSA P-256 key blob (the DS digest needs only the bytes)."""
    return base64.b64encode(hashlib.sha512(f"bench-key-{number}".encode()).digest()).decode()


def build(api: FakeGandi, count: int, signed_every: int) -> list[dict]:
    domains = []
    for number in range(count):
        name = f"tenant{number:04d}.test"
        signed = signed_every > 0 and number % signed_every == 0
        keys = [{"flags": 257, "algorithm": 13, "public_key": public_key(number)}] if signed else []
        api.add_domain(name, days_left=200, autorenew=True, nameservers=NAMESERVERS, keys=keys)
        domains.append({"name": name, "tenant": f"tenant{number:04d}",
                        "dnskeys": [f"257 3 13 {public_key(number)}"] if signed else []})
    return domains


def parent_zone(domains: list[dict]):
    """``test.`` as the registry serves it: every domain delegated, with the DS of its key."""
    lines = []
    for domain in domains:
        label = domain["name"].removesuffix(".test")
        lines += [f"{label} 300 IN NS {ns}." for ns in NAMESERVERS]
        for key in domain["dnskeys"]:
            flags, _protocol, algorithm, blob = key.split(" ", 3)
            rdata = dns.rdata.from_text("IN", "DNSKEY", f"{flags} 3 {algorithm} {blob}")
            lines.append(f"{label} 300 IN DS {dns.dnssec.make_ds(domain['name'] + '.', rdata, 'SHA256').to_text()}")
    return make_zone("test.", "\n".join(lines) + "\n", None)


def playbook(directory: Path, api: FakeGandi, domains: list[dict], parent: Server, workers: int) -> Path:
    (directory / "domains.json").write_text(json.dumps(domains))
    path = directory / "bench.yml"
    path.write_text(f"""\
- name: Keep every domain at its registrar (no-op)
  hosts: localhost
  gather_facts: false
  vars:
    bench_domains: "{{{{ lookup('ansible.builtin.file', '{directory}/domains.json') | from_json }}}}"
  tasks:
    # The list forms, as playbooks/domains.yml runs them: one task (one module process) for every
    # domain, the domains in threads.
    - name: Keep every domain
      psf.infra.domain:
        provider: gandi
        gandi: {{token: "{{{{ registrar_token }}}}", url: "{api.url}"}}
        renew_within_days: 30
        domains: >-
          {{%- set requests = [] -%}}
          {{%- for domain in bench_domains -%}}
          {{%-   set _ = requests.append({{'name': domain.name, 'tenant': domain.tenant, 'auto_renew': true,
                                          'nameservers': {json.dumps(NAMESERVERS)}, 'dnskeys': domain.dnskeys}}) -%}}
          {{%- endfor -%}}
          {{{{ requests }}}}
        parent_servers: [{{server: 127.0.0.1, port: {parent.port}}}]
        workers: {workers}
      register: bench_result

    - name: Ask the parent how each domain is delegated
      psf.infra.domain_info:
        provider: gandi
        gandi: {{token: "{{{{ registrar_token }}}}", url: "{api.url}"}}
        domains: >-
          {{%- set infos = [] -%}}
          {{%- for domain, kept in bench_domains | zip(bench_result.domains) -%}}
          {{%-   set info = {{'name': domain.name, 'dnskeys': domain.dnskeys}} -%}}
          {{%-   if not kept.changed -%}}
          {{%-     set _ = info.update({{'registrar': kept.registrar}}) -%}}
          {{%-   endif -%}}
          {{%-   set _ = infos.append(info) -%}}
          {{%- endfor -%}}
          {{{{ infos }}}}
        parent_servers: [{{server: 127.0.0.1, port: {parent.port}}}]
        nameservers: {json.dumps(NAMESERVERS)}
        workers: {workers}
      register: bench_info

    - name: Count what changed
      ansible.builtin.debug:
        msg: >-
          changed={{{{ bench_result.domains | selectattr('changed') | list | length }}}}
          ds_match={{{{ bench_info.domains | selectattr('ds_match') | list | length }}}}
""")
    return path


def direct_reads(api: FakeGandi, domains: list[dict]) -> float:
    """The same GETs from one Python process with urllib (what a small script would do)."""
    started = time.perf_counter()
    for domain in domains:
        for suffix in ("", "/dnskeys") if domain["dnskeys"] else ("",):
            request = urllib.request.Request(f"{api.url}/domain/domains/{domain['name']}{suffix}",  # noqa: S310
                                             headers={"Authorization": f"Bearer {TEST_TOKEN}"})
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the loopback fake)
                answer.read()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=300)
    parser.add_argument("--signed-every", type=int, default=3, help="every n-th domain has a DS (0: none)")
    parser.add_argument("--workers", type=int, default=8, help="threads of the list forms (their workers option)")
    args = parser.parse_args()
    with FakeGandi(TEST_TOKEN) as api, tempfile.TemporaryDirectory(prefix="psf-bench-domains-") as tmp:
        domains = build(api, args.domains, args.signed_every)
        parent = Server(parent_zone(domains))
        path = playbook(Path(tmp), api, domains, parent, args.workers)
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        started = time.perf_counter()
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"registrar_token={TEST_TOKEN}", "-e", f"ansible_python_interpreter={sys.executable}", str(path)],
            capture_output=True, text=True, env=env, cwd=REPO, check=False,
        )
        wall = time.perf_counter() - started
        parent.stop()
        if proc.returncode != 0 or f"changed=0 ds_match={args.domains}" not in proc.stdout:
            print(proc.stdout[-3000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
            print("bench_domains: the no-op run failed or changed something", file=sys.stderr)
            return 1
        calls = collections.Counter(
            f"{r['method']} /domain/domains/{{fqdn}}" + ("/dnskeys" if r["path"].endswith("/dnskeys") else "")
            for r in api.requests)
        total = sum(calls.values())
        api.requests.clear()
        floor = direct_reads(api, domains)
    signed = sum(1 for d in domains if d["dnskeys"])
    print(f"no-op domain run: {args.domains} domains ({signed} with DS) at the Gandi API fake, one ansible-playbook "
          f"(psf.infra.domain, then psf.infra.domain_info, each one task over the list, {args.workers} threads; "
          "the parent zone served on 127.0.0.1)")
    print(f"  wall {wall:.2f} s ({wall / args.domains * 1000:.1f} ms per domain)")
    print(f"  API requests {total} ({total / args.domains:.2f} per domain; writes: "
          f"{sum(v for k, v in calls.items() if not k.startswith('GET'))})")
    for endpoint, count in sorted(calls.items()):
        print(f"    {count:5d}  {endpoint}")
    print(f"  the same reads from one Python process with urllib: {floor:.2f} s "
          f"(ansible-playbook / direct: {wall / floor:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
