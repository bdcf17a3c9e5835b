"""psf.infra.dns_catalog against a real BIND: a named of this module on 127.0.0.1 with a catalog zone
shaped as the nameserver role writes it on a primary (``update-policy local``, transfers allowed to
named's session key), run through the real ansible-playbook with that session key.

No lab needed: the named is this module's own (a free port, a temporary directory), stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
from ansible_collections.psf.infra.plugins.module_utils.dns import catalog
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey
from dns_support import run_playbook, task_results

CATALOG = "catalog.example.test"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("named") is None, reason="BIND (named) is not installed")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A named serving the catalog; yields {port, key_file, directory}."""
    directory = tmp_path_factory.mktemp("catalog-named")
    port = free_port()
    (directory / "catalog.db").write_text(
        f"$ORIGIN {CATALOG}.\n$TTL 60\n@ SOA invalid. invalid. 1 300 60 1209600 60\n@ NS invalid.\n"
        'version TXT "2"\n'
        # a member somebody else added, under a label of their own: never touched
        "theirs.zones PTR other.test.\n")
    (directory / "named.conf").write_text(f"""
options {{
	directory "{directory}";
	listen-on port {port} {{ 127.0.0.1; }};
	listen-on-v6 {{ none; }};
	pid-file none;
	session-keyfile "{directory}/session.key";
	recursion no;
}};
zone "{CATALOG}" {{
	type primary;
	file "{directory}/catalog.db";
	update-policy local;
	allow-transfer {{ key "local-ddns"; }};
}};
""")
    log = (directory / "named.log").open("w")
    process = subprocess.Popen(["named", "-g", "-c", str(directory / "named.conf"), "-u", "root"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not (directory / "session.key").exists() or not _answers(port):
            assert process.poll() is None and time.monotonic() < deadline, (directory / "named.log").read_text()
            time.sleep(0.1)
        yield {"port": port, "key_file": str(directory / "session.key"), "directory": directory}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _answers(port: int) -> bool:
    try:
        DnsServer("127.0.0.1", port, timeout=1).soa_serial(CATALOG)
    except Exception:
        return False
    return True


def members(primary: dict) -> dict[str, str]:
    server = DnsServer("127.0.0.1", primary["port"], TsigKey.from_file(primary["key_file"]))
    return catalog.members_of(catalog.records_of(server.axfr(CATALOG)[1]), CATALOG)


def catalog_task(primary: dict, **options) -> dict:
    return {"name": "catalog", "psf.infra.dns_catalog": {
        "server": "127.0.0.1", "port": primary["port"], "tsig_key_file": primary["key_file"],
        "zone": f"{CATALOG.upper()}.", **options}}


def test_members_are_added_and_removed_with_check_diff_and_idempotence(primary, tmp_path: Path) -> None:
    task = catalog_task(primary, members=["alpha.test", "Beta.Test."], absent=["gamma.test"])
    planned = task_results(run_playbook(tmp_path, [task], check=True, diff=True))[0]
    assert planned["changed"] and planned["added"] == ["alpha.test", "beta.test"], planned
    alpha, beta = catalog.member_label("alpha.test"), catalog.member_label("beta.test")
    assert planned["diff"]["after"] == f"alpha.test ({alpha})\nbeta.test ({beta})\nother.test (theirs)\n"
    assert members(primary) == {"other.test": "theirs"}, "check mode changed the catalog"

    applied = task_results(run_playbook(tmp_path, [task]))[0]
    assert applied["changed"] and applied["messages_sent"] == 1, applied
    assert members(primary) == {"alpha.test": catalog.member_label("alpha.test"),
                                "beta.test": catalog.member_label("beta.test"), "other.test": "theirs"}

    again = task_results(run_playbook(tmp_path, [task]))[0]
    assert not again["changed"] and again["messages_sent"] == 0, again

    retire = catalog_task(primary, members=["alpha.test"], absent=["beta.test", "gamma.test"])
    retired = task_results(run_playbook(tmp_path, [retire]))[0]
    assert retired["changed"] and retired["removed"] == ["beta.test"], retired
    assert members(primary) == {"alpha.test": catalog.member_label("alpha.test"), "other.test": "theirs"}
    assert not task_results(run_playbook(tmp_path, [retire]))[0]["changed"]


def test_a_member_under_a_foreign_label_is_removed_under_that_label(primary, tmp_path: Path) -> None:
    task = catalog_task(primary, absent=["other.test"])
    result = task_results(run_playbook(tmp_path, [task]))[0]
    assert result["removed"] == ["other.test"], result
    assert "other.test" not in members(primary)


def test_a_host_name_is_refused_before_anything_is_sent(primary, tmp_path: Path) -> None:
    output = run_playbook(tmp_path, [{**catalog_task(primary, members=["x.test"]),
                                      "psf.infra.dns_catalog": {**catalog_task(primary)["psf.infra.dns_catalog"],
                                                                "server": "localhost", "members": ["x.test"]}}])
    result = task_results(output)[0]
    assert result["failed"] and result["field"] == "server", result
    assert "'localhost' is not an IP address" in result["msg"]
    assert "x.test" not in members(primary)


def test_a_key_the_server_does_not_know_is_named_in_one_line(primary, tmp_path: Path) -> None:
    other_key = tmp_path / "other.key"
    other_key.write_text('key "local-ddns" {\n\talgorithm hmac-sha256;\n'
                         '\tsecret "KMGJXKq7XZEugvgpsn3fN/W+GjXDp/TBQ6qQtg7W4ls=";\n};\n')
    task = catalog_task(primary, members=["y.test"])
    task["psf.infra.dns_catalog"]["tsig_key_file"] = str(other_key)
    output = run_playbook(tmp_path, [task])
    result = task_results(output)[0]
    assert result["failed"], result
    assert result["msg"].startswith(f"primary name server 127.0.0.1:{primary['port']}: zone transfer (AXFR) of "
                                    f"{CATALOG}. failed: "), result["msg"]
    assert "KMGJXKq7XZEugvgpsn3fN" not in output["stdout"] + output["stderr"]
    assert "y.test" not in members(primary)
