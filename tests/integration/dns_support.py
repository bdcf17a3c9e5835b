"""Helpers for the DNS integration tests: fresh zones on the lab's ns1 and real ansible-playbook runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTIONS = REPO / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(REPO / "lab"))

import labctl  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey  # noqa: E402


def staff_key(lab: Any) -> TsigKey:
    key = lab.key("staff-key")
    return TsigKey(key["name"], key["algorithm"], key["secret"])


def primary(lab: Any) -> DnsServer:
    return DnsServer("127.0.0.1", lab.port("ns1"), staff_key(lab), timeout=10)


def unique_zone(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.test."


def wait_until_stable(server: DnsServer, zone: str, *, signed: bool, timeout: float = 120) -> int:
    """Wait until the zone answers (and, when signed, has its DNSKEY and a serial that stopped moving:
    BIND signs a new zone in the background, which bumps the serial).

    The wait is long because BIND generates keys and signs in the background while the other test
    workers keep it busy (CI: 2 cores); the error says what was seen, to tell a slow server from a
    broken zone."""
    deadline = time.monotonic() + timeout
    last = None
    steady_since = time.monotonic()
    serials: list[int] = []
    has_key = False
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            serial, rrsets = server.axfr(zone)
        except Exception as err:  # not loaded yet, or busy: asked again until the deadline
            error = err
            time.sleep(0.2)
            continue
        error = None
        has_key = any(rdtype == 48 for _, rdtype in rrsets)
        if serial != last:
            last, steady_since = serial, time.monotonic()
            serials.append(serial)
        if (not signed or has_key) and time.monotonic() - steady_since >= (1.5 if signed else 0):
            return serial
        time.sleep(0.2)
    seen = (f"the last transfer failed: {error}" if error is not None else
            f"serials seen {serials[-8:]}, DNSKEY {'present' if has_key else 'absent'}")
    raise AssertionError(f"zone {zone} did not settle within {timeout} s: {seen}")


@contextmanager
def fresh_zone(lab: Any, prefix: str, records: str = "", *, signed: bool = False) -> Iterator[str]:
    """A new zone on ns1 (rndc addzone through the lab), deleted afterwards."""
    zone = unique_zone(prefix)
    labctl.add_zone(zone, records=records, signed=signed)
    try:
        wait_until_stable(primary(lab), zone, signed=signed)
        yield zone
    finally:
        labctl.remove_zone(zone)


def server_vars(lab: Any, secret: str | None = None) -> dict[str, Any]:
    key = lab.key("staff-key")
    return {"server": "127.0.0.1", "port": lab.port("ns1"), "tsig_key_name": key["name"],
            "tsig_key_algorithm": key["algorithm"], "tsig_key_secret": secret or key["secret"]}


def run_playbook(tmp_path: Path, tasks: list[dict], *, check: bool = False, diff: bool = False,
                 extra_vars: dict | None = None) -> dict[str, Any]:
    """Run the tasks on localhost with the real ansible-playbook; return the JSON callback's output,
    plus ``returncode``, ``stdout`` and ``stderr`` (to check that no secret was printed)."""
    playbook = [{"name": "dns test", "hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                 "tasks": tasks}]
    path = tmp_path / f"playbook-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    command = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if extra_vars:
        vars_file = tmp_path / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        command += ["-e", f"@{vars_file}"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                               check=False)
    try:
        output = json.loads(completed.stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(f"ansible-playbook printed no JSON:\n{completed.stdout}\n{completed.stderr}") from err
    output["returncode"] = completed.returncode
    output["stdout"] = completed.stdout
    output["stderr"] = completed.stderr
    return output


def task_results(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The localhost result of every task, in order."""
    return [task["hosts"]["localhost"] for play in output["plays"] for task in play["tasks"]]


def relative_records(server: DnsServer, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """The zone's rrsets without SOA and DNSSEC records, as comparable plain data."""
    from ansible_collections.psf.infra.plugins.module_utils.dns.diff import manageable
    from ansible_collections.psf.infra.plugins.module_utils.dns.model import relative_text, to_name

    _, rrsets = server.axfr(zone)
    origin = to_name(zone)
    return {(relative_text(key[0], origin), each.type_text): (each.ttl, each.values())
            for key, each in rrsets.items() if manageable(key)}
