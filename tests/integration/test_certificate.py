"""psf.infra.certificate against the lab's real pebble, BIND primary/secondary and validating resolver.

The module runs through ansible-playbook (ansible.posix.json callback). Each test module session
creates its own tenant zone on ns1 (labctl.add_zone), delegated from the registry's test. zone the
way a registrar would, and removes both at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

import labctl  # noqa: E402  (tests/conftest.py puts lab/ on sys.path)
from ansible_collections.psf.infra.plugins.module_utils.dns.client import DnsServer, TsigKey  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.dns.model import Change  # noqa: E402

# One pytest-xdist worker runs the tests that converge the lab (SERIAL_LAB_MODULES, tests/conftest.py).
pytestmark = [pytest.mark.lab]

PLAYBOOK_ENV = {
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_LOCALHOST_WARNING": "0",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
}


# ---- helpers --------------------------------------------------------------------------------------


def acme_settings(lab) -> dict:
    """The lab's pebble, or another ACME test server given by PSF_TEST_ACME_* (directory, ca_bundle,
    issuing_root, http_port, management): lets the suite run while the lab's pebble is being repaired."""
    settings = dict(lab.acme)
    for key in ("directory", "ca_bundle", "issuing_root", "http_port", "management"):
        value = os.environ.get(f"PSF_TEST_ACME_{key.upper()}")
        if value:
            settings[key] = int(value) if key == "http_port" else value
    return settings


class Tenant:
    """A tenant zone hosted on ns1 for this test module, with the settings the module needs."""

    def __init__(self, lab, zone: str, workdir: Path) -> None:
        self.lab = lab
        self.acme = acme_settings(lab)
        self.zone = zone  # without the trailing dot
        self.workdir = workdir
        key = lab.key("staff-key")
        self.staff = TsigKey(key["name"], key["algorithm"], key["secret"])
        self.primary = DnsServer("127.0.0.1", lab.port("ns1"), tsig=self.staff)
        self.secondary = DnsServer("127.0.0.1", lab.port("ns2"))
        self.account_key = workdir / "account.key"

    @property
    def names(self) -> list[str]:
        return [self.zone, f"www.{self.zone}", f"*.{self.zone}"]

    def module_args(self, **overrides) -> dict:
        args = {
            "names": self.names,
            "dest": str(self.workdir / "live" / "site"),
            "tenant": "acmetest",
            "acme_directory": self.acme["directory"],
            "acme_ca_bundle": self.acme["ca_bundle"],
            "acme_account_key_path": str(self.account_key),
            "dns_servers": [{"address": "127.0.0.1", "port": self.lab.port("ns1")},
                            {"address": "127.0.0.1", "port": self.lab.port("ns2")}],
            "dns_resolver": {"address": "127.0.0.1", "port": self.lab.port("resolver")},
            "dns_tsig_key_name": self.staff.name,
            "dns_tsig_key_secret": self.staff.secret,
            "acme_zone": f"acme.{labctl.INFRA_ZONE.rstrip('.')}",
            "timeout": 60,
        }
        args.update(overrides)
        return {key: value for key, value in args.items() if value is not None}

    def txt_left(self, owner: str) -> list[str]:
        """TXT values at ``owner`` on ns1 (the authoritative truth)."""
        rrset = self.primary.query(owner, "TXT")
        return rrset.values() if rrset else []

    def update(self, zone: str, changes: list[Change]) -> None:
        self.primary.send_updates(zone, changes)


def run_certificate(args: dict, *, check: bool = False, diff: bool = False,
                    loop: list | None = None) -> tuple[int, dict, dict]:
    """Run psf.infra.certificate in a one-task playbook; returns (rc, task result, stats)."""
    task: dict = {"name": "certificate", "psf.infra.certificate": args}
    if loop is not None:
        task["loop"] = loop
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    with contextlib.ExitStack() as stack:
        import tempfile

        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acme-test-")))
        playbook = directory / "play.yml"
        playbook.write_text(yaml.safe_dump(play))
        command = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,",
                   "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
                   str(playbook)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, **PLAYBOOK_ENV}, timeout=600)
    try:
        output = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook did not print JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.returncode, result, output["stats"]["localhost"]


def openssl_verify(root: str, directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted", str(directory / "chain.pem"),
                           str(directory / "cert.pem")], capture_output=True, text=True)


def certificate_serial(directory: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(directory / "cert.pem")],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].lower()


def free_port(first: int, last: int) -> int:
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {first}-{last}")


def registry_server(lab) -> DnsServer:
    key = lab.key("registry-key")
    return DnsServer("127.0.0.1", lab.port("registry"), tsig=TsigKey(key["name"], key["algorithm"], key["secret"]))


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant(lab, tmp_path_factory) -> Iterator[Tenant]:
    """A fresh tenant zone on ns1 (+ ns2 via the catalog), delegated (insecurely) from test."""
    zone = f"acme-{secrets.token_hex(3)}.test"
    labctl.add_zone(f"{zone}.", "@ A 127.0.0.1\nwww A 127.0.0.1\nweb A 127.0.0.1\n")
    delegation = Change.add_values(f"{zone}.", "NS", 300, labctl.INFRA_NAMESERVERS)
    registry_server(lab).send_updates(labctl.REGISTRY_ZONE, [delegation])
    labctl.flush_resolver(f"{zone}.")
    try:
        yield Tenant(lab, zone, tmp_path_factory.mktemp("acme"))
    finally:
        registry_server(lab).send_updates(labctl.REGISTRY_ZONE, [
            Change.remove_values(f"{zone}.", "NS", labctl.INFRA_NAMESERVERS)])
        labctl.remove_zone(f"{zone}.")


@pytest.fixture(scope="module")
def issued(tenant) -> tuple[int, dict, dict]:
    """The first issuance of apex + www + wildcard (the tests below build on it, in order)."""
    return run_certificate(tenant.module_args())


# ---- the main flow --------------------------------------------------------------------------------


def test_apex_www_and_wildcard_in_one_certificate(tenant, issued):
    rc, result, stats = issued
    assert rc == 0, result.get("msg")
    assert stats["changed"] == 1
    assert result["reason"] == "no certificate yet"
    assert sorted(result["certificate"]["names"]) == sorted(tenant.names)
    assert result["certificate"]["key_type"] == "ecdsa-p256"
    published = {record["name"]: record for record in result["challenges"]}
    assert set(published) == {f"_acme-challenge.{tenant.zone}.", f"_acme-challenge.www.{tenant.zone}."}
    assert len(published[f"_acme-challenge.{tenant.zone}."]["values"]) == 2  # apex + wildcard


def test_chain_verifies_against_pebbles_issuing_root(tenant, issued):
    live = Path(issued[1]["files"]["cert"]).parent
    proc = openssl_verify(tenant.acme["issuing_root"], live)
    assert proc.returncode == 0 and ": OK" in proc.stdout, proc.stdout + proc.stderr


def test_files_have_the_right_modes_and_the_key_matches(issued):
    files = issued[1]["files"]
    assert oct(os.stat(files["key"]).st_mode & 0o777) == "0o600"
    assert oct(os.stat(files["cert"]).st_mode & 0o777) == "0o644"
    key_pub = subprocess.run(["openssl", "pkey", "-in", files["key"], "-pubout"], capture_output=True,
                             text=True, check=True).stdout
    cert_pub = subprocess.run(["openssl", "x509", "-in", files["cert"], "-noout", "-pubkey"],
                              capture_output=True, text=True, check=True).stdout
    assert key_pub == cert_pub
    fullchain = Path(files["fullchain"]).read_text()
    assert fullchain == Path(files["cert"]).read_text() + Path(files["chain"]).read_text()


def test_no_txt_record_left_behind(tenant, issued):
    for owner in (f"_acme-challenge.{tenant.zone}.", f"_acme-challenge.www.{tenant.zone}."):
        assert tenant.txt_left(owner) == []


def test_account_key_file_is_private(tenant, issued):
    assert oct(os.stat(tenant.account_key).st_mode & 0o777) == "0o600"


def test_secrets_never_appear_in_the_output(tenant, issued):
    text = json.dumps(issued[1])
    assert tenant.staff.secret not in text
    assert "PRIVATE KEY" not in text


def test_rerun_is_a_no_op(tenant, issued):
    before = Path(issued[1]["files"]["cert"]).read_bytes()
    rc, result, stats = run_certificate(tenant.module_args())
    assert rc == 0 and stats["changed"] == 0, result.get("msg")
    assert result["reason"].startswith("valid until")
    assert any("renewal information" in note for note in result["notes"])  # pebble 2.4 offers no ARI
    assert Path(result["files"]["cert"]).read_bytes() == before


def test_check_mode_says_it_would_renew_and_why_without_changing_anything(tenant, issued):
    before = Path(issued[1]["files"]["cert"]).read_bytes()
    rc, result, stats = run_certificate(tenant.module_args(renew_before_days=100000), check=True, diff=True)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert "renewal due since" in result["reason"]
    assert result["diff"]["before"]["serial"] == result["certificate"]["serial"]
    assert Path(issued[1]["files"]["cert"]).read_bytes() == before


def test_renewal_within_the_window(tenant, issued):
    live = Path(issued[1]["files"]["cert"]).parent
    serial = certificate_serial(live)
    rc, result, stats = run_certificate(tenant.module_args(renew_before_days=100000))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert "renewal due since" in result["reason"]
    assert certificate_serial(live) != serial
    assert openssl_verify(tenant.acme["issuing_root"], live).returncode == 0


def test_key_type_change_triggers_a_new_certificate_then_settles(tenant, issued):
    rc, result, stats = run_certificate(tenant.module_args(key_type="rsa-2048"))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["reason"] == "key type changed from ecdsa-p256 to rsa-2048"
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", result["files"]["cert"]],
                          capture_output=True, text=True, check=True).stdout
    assert "rsaEncryption" in text and "2048 bit" in text
    rc, result, stats = run_certificate(tenant.module_args(key_type="rsa-2048"))
    assert rc == 0 and stats["changed"] == 0, result.get("msg")


def test_reuse_key_keeps_the_private_key(tenant, issued):
    key_path = Path(issued[1]["files"]["key"])
    rc, result, _ = run_certificate(tenant.module_args(key_type="rsa-2048", force=True, reuse_key=True))
    assert rc == 0, result.get("msg")
    kept = key_path.read_bytes()
    rc, result, _ = run_certificate(tenant.module_args(key_type="rsa-2048", force=True, reuse_key=True))
    assert rc == 0 and result["renewed"]
    assert key_path.read_bytes() == kept
    rc, result, _ = run_certificate(tenant.module_args(key_type="rsa-2048", force=True))
    assert rc == 0, result.get("msg")
    assert key_path.read_bytes() != kept


def test_names_change_triggers_a_new_certificate(tenant, issued):
    rc, result, stats = run_certificate(tenant.module_args(names=[tenant.zone, f"www.{tenant.zone}"],
                                                           dest=str(tenant.workdir / "live" / "names")))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    rc, result, stats = run_certificate(tenant.module_args(names=[tenant.zone],
                                                           dest=str(tenant.workdir / "live" / "names")))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["reason"] == f"names changed (added: none; removed: www.{tenant.zone})"


# ---- robustness -----------------------------------------------------------------------------------


def test_bad_nonces_are_retried_over_many_issuances(tenant):
    """pebble rejects 5 % of good nonces (the lab keeps its default): every issuance still succeeds."""
    dest = tenant.workdir / "nonce"
    entries = [{"names": [f"n{index}.{tenant.zone}"], "dest": str(dest / str(index))} for index in range(12)]
    retries = 0
    for _attempt in range(4):  # until pebble has rejected at least one nonce (P(none) per round < 1 %)
        rc, result, _stats = run_certificate(tenant.module_args(names=None, dest=None, certificates=entries,
                                                               force=True))
        assert rc == 0, result.get("msg")
        assert all(entry["renewed"] for entry in result["certificates"])
        retries += sum(entry["acme_retries"].get("badNonce", 0) for entry in result["certificates"])
        if retries:
            break
    assert retries > 0, "pebble never rejected a nonce: is PEBBLE_WFE_NONCEREJECT=0 set for the lab?"


def test_ca_down_fails_clearly_and_keeps_the_certificate(tenant, issued):
    live = Path(issued[1]["files"]["cert"]).parent
    before = {name: (live / name).read_bytes() for name in ("cert.pem", "privkey.pem", "chain.pem")}
    closed = free_port(5690, 5699)
    rc, result, _ = run_certificate(tenant.module_args(acme_directory=f"https://127.0.0.1:{closed}/dir",
                                                       force=True, key_type="rsa-2048"))
    assert rc != 0
    # One line naming the CA, what was tried and what to check (issue #8: a server that is down is named).
    assert result["msg"].startswith(f"ACME CA https://127.0.0.1:{closed}/dir: reading the ACME directory failed: "
                                    "connection refused; check "), result["msg"]
    assert "\n" not in result["msg"]
    assert {name: (live / name).read_bytes() for name in before} == before


def test_dns_update_refused_fails_clearly_and_leaves_no_txt(tenant, issued):
    live = Path(issued[1]["files"]["cert"]).parent
    before = (live / "cert.pem").read_bytes()
    wrong = TsigKey("staff-key", "hmac-sha256", "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE=")
    rc, result, _ = run_certificate(tenant.module_args(dns_tsig_key_secret=wrong.secret, force=True))
    assert rc != 0
    assert "BADSIG" in result["msg"] or "signature" in result["msg"], result["msg"]
    assert wrong.secret not in result["msg"]
    assert tenant.txt_left(f"_acme-challenge.{tenant.zone}.") == []
    assert tenant.txt_left(f"_acme-challenge.www.{tenant.zone}.") == []
    assert (live / "cert.pem").read_bytes() == before


def test_a_server_that_never_serves_the_records_times_out_and_the_records_are_removed(tenant, issued):
    """The registry server does not host the tenant zone: waiting for it must give up, then clean up."""
    args = tenant.module_args(force=True, timeout=4)
    args["dns_servers"] = [*args["dns_servers"], {"address": "127.0.0.1", "port": tenant.lab.port("registry")}]
    rc, result, _ = run_certificate(args)
    assert rc != 0
    assert "gave up after 4 s" in result["msg"]
    assert f"127.0.0.1:{tenant.lab.port('registry')}" in result["msg"]
    assert tenant.txt_left(f"_acme-challenge.{tenant.zone}.") == []
    assert tenant.txt_left(f"_acme-challenge.www.{tenant.zone}.") == []


# ---- HTTP-01 --------------------------------------------------------------------------------------


@contextlib.contextmanager
def serve_webroot(webroot: Path, port: int) -> Iterator[list[str]]:
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(webroot), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield requests
    finally:
        server.shutdown()
        server.server_close()


def test_http01_through_a_webroot(tenant):
    webroot = tenant.workdir / "webroot"
    webroot.mkdir()
    with serve_webroot(webroot, tenant.acme["http_port"]) as requests:
        rc, result, _stats = run_certificate(tenant.module_args(
            names=[f"web.{tenant.zone}"], dest=str(tenant.workdir / "live" / "web"), challenge="http-01",
            webroot=str(webroot)))
    assert rc == 0, result.get("msg")
    assert result["renewed"]
    assert any(path.startswith("/.well-known/acme-challenge/") for path in requests)
    assert list((webroot / ".well-known" / "acme-challenge").iterdir()) == []
    assert openssl_verify(tenant.acme["issuing_root"], Path(result["files"]["cert"]).parent).returncode == 0


# ---- CAA ------------------------------------------------------------------------------------------


@pytest.fixture
def caa_name(tenant) -> Iterator[str]:
    name = f"caa-{secrets.token_hex(2)}.{tenant.zone}"
    yield name
    tenant.update(f"{tenant.zone}.", [Change.remove_values(f"{name}.", "CAA", [
        '0 issue "otherca.example"', '0 issue "pebble.test"'])])


def test_caa_for_another_ca_stops_us_before_ordering(tenant, caa_name):
    tenant.update(f"{tenant.zone}.", [Change.add_values(f"{caa_name}.", "CAA", 60, ['0 issue "otherca.example"'])])
    rc, result, _ = run_certificate(tenant.module_args(names=[caa_name], dest=str(tenant.workdir / "caa"),
                                                       acme_caa_identities=["pebble.test"]))
    assert rc != 0
    assert "CAA forbids issuance" in result["msg"] and "otherca.example" in result["msg"]
    assert not (tenant.workdir / "caa" / "cert.pem").exists()


def test_caa_naming_our_ca_allows_issuance(tenant, caa_name):
    tenant.update(f"{tenant.zone}.", [Change.add_values(f"{caa_name}.", "CAA", 60, ['0 issue "pebble.test"'])])
    rc, result, _ = run_certificate(tenant.module_args(names=[caa_name], dest=str(tenant.workdir / "caa-ok"),
                                                       acme_caa_identities=["pebble.test"]))
    assert rc == 0, result.get("msg")
    assert any("CAA issue allows pebble.test" in note for note in result["notes"])


def test_pebble_itself_does_not_enforce_caa(tenant, caa_name):
    """Documents the lab CA: pebble 2.4 issues despite a CAA record naming another CA (Let's Encrypt
    would refuse), which is why the module checks CAA itself when acme_caa_identities is set."""
    tenant.update(f"{tenant.zone}.", [Change.add_values(f"{caa_name}.", "CAA", 60, ['0 issue "otherca.example"'])])
    rc, result, _ = run_certificate(tenant.module_args(names=[caa_name], dest=str(tenant.workdir / "caa-pebble")))
    assert rc == 0, result.get("msg")


# ---- a tenant whose DNS is not ours: CNAME delegation ---------------------------------------------


@pytest.fixture(scope="module")
def outside_zone(lab, tmp_path_factory) -> Iterator[tuple[str, DnsServer]]:
    """The tenant's own DNS provider: a separate named on a free port 5670-5689 hosting `<zone>`,
    which the lab's resolver reaches through a forward zone (unbound-control forward_add, marked
    insecure: the provider does not sign). Neither ns1 nor ns2 knows the zone."""
    directory = tmp_path_factory.mktemp("outside-dns")
    zone = f"outside-{secrets.token_hex(3)}.test"
    port = free_port(5670, 5689)
    secret = "b3V0c2lkZS1wcm92aWRlci1rZXktZm9yLXRoZS10ZXN0cw=="
    (directory / "key.conf").write_text(f'key "provider-key" {{ algorithm hmac-sha256; secret "{secret}"; }};\n')
    (directory / "zone.db").write_text(
        f"$ORIGIN {zone}.\n$TTL 60\n@ SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 1\n@ NS ns.{zone}.\n"
        f"ns A 127.0.0.1\n@ A 127.0.0.1\n")
    (directory / "named.conf").write_text(f"""
include "{directory}/key.conf";
options {{ directory "{directory}"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  pid-file "{directory}/named.pid"; recursion no; notify no; }};
zone "{zone}" {{ type primary; file "{directory}/zone.db"; allow-update {{ key provider-key; }}; }};
""")
    proc = subprocess.Popen(["named", "-g", "-c", str(directory / "named.conf"), "-u", "root"],
                            stdout=subprocess.DEVNULL, stderr=(directory / "named.log").open("w"))
    provider = DnsServer("127.0.0.1", port, tsig=TsigKey("provider-key", "hmac-sha256", secret))
    unbound = ["unbound-control", "-c", str(labctl.LabPaths().unbound_conf)]
    try:
        for _ in range(50):
            with contextlib.suppress(Exception):
                provider.soa(zone)
                break
            threading.Event().wait(0.1)
        subprocess.run([*unbound, "forward_add", "+i", f"{zone}.", f"127.0.0.1@{port}"], check=True,
                       capture_output=True)
        labctl.flush_resolver(f"{zone}.")
        yield zone, provider
    finally:
        subprocess.run([*unbound, "forward_remove", "+i", f"{zone}."], capture_output=True, check=False)
        proc.terminate()
        proc.wait(timeout=10)


def test_a_zone_not_ours_fails_with_the_exact_cname_to_create(tenant, outside_zone):
    zone, _provider = outside_zone
    rc, result, _ = run_certificate(tenant.module_args(names=[zone, f"*.{zone}"],
                                                       dest=str(tenant.workdir / "outside")))
    assert rc != 0
    assert len(result["delegation_records"]) == 1  # apex and wildcard share _acme-challenge
    record = result["delegation_records"][0]
    assert record.startswith(f"_acme-challenge.{zone}. CNAME {zone.replace('.', '-')}-")
    assert ".acmetest.acme.infra.test." in record
    assert "does not exist yet" in result["msg"]
    assert not (tenant.workdir / "outside" / "cert.pem").exists()


def test_with_the_cname_in_place_dns01_is_answered_in_our_zone(tenant, outside_zone):
    zone, provider = outside_zone
    args = tenant.module_args(names=[zone, f"*.{zone}"], dest=str(tenant.workdir / "outside"))
    rc, result, _ = run_certificate(args, check=True)
    record = result["delegation_records"][0]
    owner, _cname, target = record.split()
    provider.send_updates(f"{zone}.", [Change.add_values(owner, "CNAME", 60, [target])])
    labctl.flush_resolver(f"{zone}.")
    rc, result, stats = run_certificate(args)
    assert rc == 0, result.get("msg")
    assert stats["changed"] == 1
    assert [record["name"] for record in result["challenges"]] == [target]
    assert result["challenges"][0]["zone"] == labctl.INFRA_ZONE
    assert len(result["challenges"][0]["values"]) == 2
    assert tenant.txt_left(target) == []
    assert provider.query(owner, "TXT") is None  # nothing was ever written at the tenant's provider
    assert openssl_verify(tenant.acme["issuing_root"], Path(result["files"]["cert"]).parent).returncode == 0


# ---- state: revoked (RFC 8555 section 7.6) --------------------------------------------------------


def pebble_status(tenant: Tenant, serial: str) -> dict:
    """What pebble itself records for ``serial`` (hexadecimal, no 0x): its management interface's
    GET /cert-status-by-serial/<serial> (letsencrypt/pebble README.md, "Certificate Status"), JSON with
    Status (Valid or Revoked), Reason and RevokedAt. Verified against the lab CA, never through a proxy."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=tenant.acme["ca_bundle"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(f"{tenant.acme['management']}/cert-status-by-serial/{serial}", timeout=10) as response:
        return json.loads(response.read())


def revocation_args(tenant: Tenant, dest: Path, **overrides) -> dict:
    """Only what a revocation needs: no names, no DNS options."""
    args = {"state": "revoked", "revoke_reason": "cessationOfOperation", "dest": str(dest), "tenant": "acmetest",
            "acme_directory": tenant.acme["directory"], "acme_ca_bundle": tenant.acme["ca_bundle"],
            "acme_account_key_path": str(tenant.account_key), "timeout": 60}
    args.update(overrides)
    return args


@pytest.fixture
def issued_for_revocation(tenant) -> tuple[Path, str]:
    """A certificate of its own (dest, serial), so that revoking it leaves the other tests' one alone."""
    dest = tenant.workdir / "revoke" / secrets.token_hex(3)
    rc, result, _ = run_certificate(tenant.module_args(names=[f"revoke-{dest.name}.{tenant.zone}"], dest=str(dest)))
    assert rc == 0, result.get("msg")
    serial = certificate_serial(dest)
    assert pebble_status(tenant, serial)["Status"] == "Valid"
    return dest, serial


def test_revocation_check_mode_plans_and_sends_nothing(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    rc, result, stats = run_certificate(revocation_args(tenant, dest), check=True, diff=True)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["revoked"]
    assert result["reason"] == "would be revoked at the CA (cessationOfOperation); nothing was sent"
    assert result["diff"]["before"]["serial"] == serial
    assert result["diff"]["after"] == {**result["diff"]["before"], "revoked": "cessationOfOperation"}
    assert pebble_status(tenant, serial)["Status"] == "Valid"  # pebble was sent nothing


def test_revocation_is_recorded_by_pebble_and_a_second_one_changes_nothing(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    rc, result, stats = run_certificate(revocation_args(tenant, dest))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["revoked"] and result["reason"] == "revoked at the CA (cessationOfOperation)"
    status = pebble_status(tenant, serial)
    assert (status["Status"], status["Reason"]) == ("Revoked", 5), status
    assert (dest / "cert.pem").exists() and (dest / "privkey.pem").exists()  # the files are the caller's
    # pebble answers the second request urn:ietf:params:acme:error:alreadyRevoked: no change
    rc, result, stats = run_certificate(revocation_args(tenant, dest), diff=True)
    assert rc == 0 and stats["changed"] == 0, result.get("msg")
    assert not result["revoked"] and result["reason"].startswith("already revoked at the CA")
    assert pebble_status(tenant, serial)["RevokedAt"] == status["RevokedAt"]


def test_revoking_with_another_account_key_fails_naming_the_certificate(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    stranger = tenant.workdir / f"stranger-{dest.name}.key"
    stranger.write_bytes(subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                                         "ec_paramgen_curve:P-256"], capture_output=True, check=True).stdout)
    rc, result, _ = run_certificate(revocation_args(tenant, dest, acme_account_key_path=str(stranger)))
    assert rc != 0
    assert f"the certificate {dest.name} of tenant acmetest ({dest / 'cert.pem'}, serial {serial})" in result["msg"]
    assert "accountDoesNotExist" in result["msg"], result["msg"]
    assert pebble_status(tenant, serial)["Status"] == "Valid"


def test_revoking_a_batch_where_the_files_are_gone_is_no_change(tenant):
    """The second offboarding run: nothing in the store is nothing to revoke, and needs no account key."""
    gone = tenant.workdir / "revoke" / "gone"
    args = revocation_args(tenant, gone, acme_account_key_path=str(tenant.workdir / "no-such.key"),
                           certificates=[{"name": "web", "dest": str(gone)}])
    del args["dest"]
    rc, result, stats = run_certificate(args)
    assert rc == 0 and stats["changed"] == 0, result.get("msg")
    assert result["certificates"][0]["reason"] == f"no certificate in {gone}: nothing to revoke"
    assert not (tenant.workdir / "no-such.key").exists()


# ---- state: revoked, revoke_reason: keyCompromise (signed with the certificate's own key) ---------


def key_compromise_args(tenant: Tenant, dest: Path, **overrides) -> dict:
    """A keyCompromise revocation: no account key at all (the request is signed with the certificate's key)."""
    args = revocation_args(tenant, dest, revoke_reason="keyCompromise", **overrides)
    del args["acme_account_key_path"]
    return args


def public_key_pem(path: Path) -> str:
    """The public key of a private key file or of a certificate (PEM), as openssl prints it."""
    command = ["openssl", "pkey", "-pubout", "-in", str(path)] if path.name == "privkey.pem" else \
        ["openssl", "x509", "-noout", "-pubkey", "-in", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def public_key_sha256(path: Path) -> str:
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public_key_pem(path).encode(),
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def compromised_record(dest: Path) -> list[dict]:
    return json.loads((dest / "key-compromised.json").read_text())["compromised"]


def test_key_compromise_check_mode_checks_the_key_and_sends_nothing(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    rc, result, stats = run_certificate(key_compromise_args(tenant, dest), check=True, diff=True)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["revoked"] and result["revocation_reason"] == "keyCompromise"
    assert result["reason"] == ("would be revoked at the CA (keyCompromise, signed with the certificate's own key); "
                                "nothing was sent")
    assert result["diff"]["before"]["serial"] == serial
    assert result["diff"]["after"] == {**result["diff"]["before"], "revoked": "keyCompromise",
                                       "key": f"compromised (recorded in {dest / 'key-compromised.json'}, "
                                              f"never reused)"}
    assert pebble_status(tenant, serial)["Status"] == "Valid"  # pebble was sent nothing
    assert not (dest / "key-compromised.json").exists()
    assert "PRIVATE KEY" not in json.dumps(result)


def test_key_compromise_is_signed_with_the_certificate_key_recorded_by_pebble_then_no_change(
        tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    key_pem = (dest / "privkey.pem").read_text()
    rc, result, stats = run_certificate(key_compromise_args(tenant, dest), diff=True)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["revoked"]
    assert result["reason"] == ("revoked at the CA (keyCompromise, signed with the certificate's own key); the key is "
                                f"recorded as compromised in {dest / 'key-compromised.json'}")
    status = pebble_status(tenant, serial)
    assert (status["Status"], status["Reason"]) == ("Revoked", 1), status
    record = compromised_record(dest)
    assert [(entry["serial"], entry["reason"], entry["ca"]) for entry in record] == [
        (serial, "keyCompromise", "revoked")]
    assert record[0]["public_key_sha256"] == public_key_sha256(dest / "cert.pem")
    assert oct(os.stat(dest / "key-compromised.json").st_mode & 0o777) == "0o644"
    body = "".join(key_pem.splitlines()[1:-1])
    for text in (json.dumps(result), (dest / "key-compromised.json").read_text()):
        assert "PRIVATE KEY" not in text and body[:40] not in text
    # Again: known from the record, so nothing is sent (a CA that does not even answer is not asked).
    closed = free_port(5690, 5699)
    rc, result, stats = run_certificate(key_compromise_args(tenant, dest,
                                                            acme_directory=f"https://127.0.0.1:{closed}/dir"))
    assert rc == 0 and stats["changed"] == 0, result.get("msg")
    assert not result["revoked"]
    assert result["reason"].startswith(f"already revoked for keyCompromise (serial {serial} revoked for keyCompromise "
                                       f"at "), result["reason"]
    assert pebble_status(tenant, serial)["RevokedAt"] == status["RevokedAt"]
    assert len(compromised_record(dest)) == 1


def test_key_compromise_with_another_key_fails_before_sending_anything(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    own = (dest / "privkey.pem").read_bytes()
    what = f"the certificate {dest.name} of tenant acmetest ({dest / 'cert.pem'}, serial {serial})"
    closed = free_port(5690, 5699)  # a request, had one been sent first, would fail with "connection refused"
    try:
        (dest / "privkey.pem").write_bytes(subprocess.run(
            ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            capture_output=True, check=True).stdout)
        for directory in (f"https://127.0.0.1:{closed}/dir", tenant.acme["directory"]):
            rc, result, _ = run_certificate(key_compromise_args(tenant, dest, acme_directory=directory))
            assert rc != 0
            assert result["msg"] == (f"{what}: the private key {dest / 'privkey.pem'} does not match the certificate "
                                     f"(their public keys differ); keyCompromise is signed with the certificate's own "
                                     f"key; nothing was sent"), result["msg"]
        (dest / "privkey.pem").unlink()
        rc, result, _ = run_certificate(key_compromise_args(tenant, dest))
        assert rc != 0
        assert result["msg"] == (f"{what}: its private key {dest / 'privkey.pem'} does not exist; keyCompromise is "
                                 f"signed with the certificate's own key; nothing was sent"), result["msg"]
        (dest / "privkey.pem").write_text("not a key")
        rc, result, _ = run_certificate(key_compromise_args(tenant, dest))
        assert rc != 0
        assert result["msg"].startswith(f"{what}: its private key {dest / 'privkey.pem'} is not an unencrypted PEM "
                                        f"private key"), result["msg"]
        assert pebble_status(tenant, serial)["Status"] == "Valid"
        assert not (dest / "key-compromised.json").exists()
    finally:
        (dest / "privkey.pem").write_bytes(own)


def test_after_key_compromise_present_orders_a_new_key_and_certificate(tenant, issued_for_revocation):
    dest, serial = issued_for_revocation
    old_key = public_key_pem(dest / "privkey.pem")
    rc, result, _ = run_certificate(key_compromise_args(tenant, dest))
    assert rc == 0 and result["revoked"], result.get("msg")
    # reuse_key asks to keep the key: a compromised one is never kept; the certificate is not due otherwise.
    args = tenant.module_args(names=[f"revoke-{dest.name}.{tenant.zone}"], dest=str(dest), reuse_key=True)
    rc, result, stats = run_certificate(args, check=True, diff=True)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["reason"] == "key compromised: a new key and certificate would be ordered"
    assert result["diff"]["after"]["renewal"] == "key compromised: a new key and certificate would be ordered"
    assert certificate_serial(dest) == serial and public_key_pem(dest / "privkey.pem") == old_key
    rc, result, stats = run_certificate(args)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert result["renewed"] and result["reason"] == "key compromised: a new key and certificate were ordered"
    new_serial = certificate_serial(dest)
    assert new_serial != serial
    assert public_key_pem(dest / "privkey.pem") != old_key
    assert public_key_pem(dest / "cert.pem") == public_key_pem(dest / "privkey.pem")
    assert openssl_verify(tenant.acme["issuing_root"], dest).returncode == 0
    assert pebble_status(tenant, new_serial)["Status"] == "Valid"
    assert pebble_status(tenant, serial)["Status"] == "Revoked"
    # The record keeps the old key; the new certificate is left alone from now on (key reused as asked).
    rc, result, stats = run_certificate(args)
    assert rc == 0 and stats["changed"] == 0, result.get("msg")
    assert [entry["serial"] for entry in compromised_record(dest)] == [serial]


def test_pebble_itself_does_not_block_a_key_revoked_for_key_compromise(tenant, issued_for_revocation):
    """Documents the lab CA: pebble 2.4 issues a new certificate for a key it revoked a certificate of for
    keyCompromise (Let's Encrypt blocks such keys), which is why the module records the key itself. With the
    record removed and reuse_key, the module sends the same key again, and pebble signs it."""
    dest, serial = issued_for_revocation
    old_key = public_key_pem(dest / "privkey.pem")
    rc, result, _ = run_certificate(key_compromise_args(tenant, dest))
    assert rc == 0 and result["revoked"], result.get("msg")
    (dest / "key-compromised.json").unlink()
    rc, result, _ = run_certificate(tenant.module_args(names=[f"revoke-{dest.name}.{tenant.zone}"], dest=str(dest),
                                                       reuse_key=True, force=True))
    assert rc == 0 and result["renewed"], result.get("msg")
    assert certificate_serial(dest) != serial
    assert public_key_pem(dest / "cert.pem") == old_key
    assert pebble_status(tenant, certificate_serial(dest))["Status"] == "Valid"


def test_key_compromise_of_a_certificate_revoked_already_records_the_key(tenant, issued_for_revocation):
    """pebble 2.4 answers alreadyRevoked and keeps the first reason; the key is recorded all the same."""
    dest, serial = issued_for_revocation
    rc, result, _ = run_certificate(revocation_args(tenant, dest))
    assert rc == 0 and result["revoked"], result.get("msg")
    rc, result, stats = run_certificate(key_compromise_args(tenant, dest))
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert not result["revoked"]
    assert result["reason"] == ("already revoked at the CA (it answered alreadyRevoked); the key is now recorded as "
                                f"compromised in {dest / 'key-compromised.json'}")
    assert [(entry["serial"], entry["ca"]) for entry in compromised_record(dest)] == [(serial, "alreadyRevoked")]
    assert pebble_status(tenant, serial)["Reason"] == 5


def test_key_compromise_for_rsa_and_p384_keys_in_one_batch(tenant):
    """RS256 and ES384 JWS (the P-256 case is above), and the batch path (a key session per certificate)."""
    base = tenant.workdir / "revoke" / f"batch-{secrets.token_hex(3)}"
    entries = [{"names": [f"{kind}-{base.name}.{tenant.zone}"], "dest": str(base / kind), "key_type": kind}
               for kind in ("rsa-2048", "ecdsa-p384")]
    rc, result, _ = run_certificate(tenant.module_args(names=None, dest=None, certificates=entries))
    assert rc == 0, result.get("msg")
    serials = {entry["dest"]: certificate_serial(Path(entry["dest"])) for entry in entries}
    args = key_compromise_args(tenant, base, certificates=[{"dest": entry["dest"]} for entry in entries])
    del args["dest"]
    rc, result, stats = run_certificate(args)
    assert rc == 0 and stats["changed"] == 1, result.get("msg")
    assert [entry["revoked"] for entry in result["certificates"]] == [True, True]
    for dest, serial in serials.items():
        status = pebble_status(tenant, serial)
        assert (status["Status"], status["Reason"]) == ("Revoked", 1), (dest, status)


# ---- playbooks/certificates.yml -------------------------------------------------------------------


def run_certificates_playbook(extra_vars: dict, workdir: Path) -> tuple[int, dict]:
    variables = workdir / "vars.json"
    variables.write_text(json.dumps(extra_vars))
    playbook = str(REPO / "playbooks" / "certificates.yml")
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), playbook,
                           "--tags", "renew", "-e", f"@{variables}"],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, **PLAYBOOK_ENV}, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook did not print JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def test_the_daily_playbook_renews_the_registry_then_does_nothing(tenant):
    """playbooks/certificates.yml over a registry (psf_tenants) naming the test zone, run twice."""
    store = tenant.workdir / "store"
    registry_view = {"acmetest": {
        "name": "acmetest", "status": "active",
        "services": {"certificates": [{"name": "web", "names": [tenant.zone, f"*.{tenant.zone}"],
                                       "key_type": "ecdsa-p384"}],
                     "vms": [], "apps": [], "zones": [], "domains": []}}}
    extra = {"psf_tenants": registry_view, "psf_certificate_store": str(store),
             "psf_acme_directory": tenant.acme["directory"], "psf_acme_ca_bundle": tenant.acme["ca_bundle"]}
    rc, output = run_certificates_playbook(extra, tenant.workdir)
    assert rc == 0, json.dumps(output)[-3000:]
    assert output["stats"]["localhost"]["changed"] >= 1
    live = store / "acmetest" / "web"
    assert openssl_verify(tenant.acme["issuing_root"], live).returncode == 0
    assert oct(os.stat(store / "account.key").st_mode & 0o777) == "0o600"
    rc, output = run_certificates_playbook(extra, tenant.workdir)
    assert rc == 0
    assert output["stats"]["localhost"]["changed"] == 0
