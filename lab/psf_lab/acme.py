"""The lab's ACME CA (pebble): its configuration, its own HTTPS certificate, its issuing root."""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import sys
import urllib.request

from psf_lab.config import HOST, PEBBLE_HTTP_PORT, PEBBLE_TLS_PORT, SERVICES, LabPaths
from psf_lab.processes import spawn, write_if_changed
from psf_lab.templates import render_lab


def pebble_config(paths: LabPaths) -> str:
    return render_lab("pebble/pebble-config.json.j2", paths=paths, host=HOST, acme=SERVICES["acme"],
                      http_port=PEBBLE_HTTP_PORT, tls_port=PEBBLE_TLS_PORT)


def ensure_pebble_tls(paths: LabPaths) -> None:
    """A small CA and a certificate for 127.0.0.1/localhost for pebble's own HTTPS (made once)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_pem, cert_pem, key_pem = paths.pebble / "ca.pem", paths.pebble / "cert.pem", paths.pebble / "key.pem"
    if ca_pem.exists() and cert_pem.exists() and key_pem.exists():
        return
    paths.pebble.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psf.infra lab CA for pebble HTTPS")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = {"encoding": pem, "format": serialization.PrivateFormat.PKCS8,
               "encryption_algorithm": serialization.NoEncryption()}
    write_if_changed(paths.pebble / "ca.key", ca_key.private_bytes(**private).decode(), mode=0o600)
    write_if_changed(key_pem, leaf_key.private_bytes(**private).decode(), mode=0o600)
    write_if_changed(cert_pem, leaf.public_bytes(pem).decode())
    write_if_changed(ca_pem, ca_cert.public_bytes(pem).decode())


def https_get(paths: LabPaths, url: str, timeout: float = 3.0) -> bytes:
    """GET over HTTPS verified against the lab CA, never through a proxy (the lab is loopback only)."""
    context = ssl.create_default_context(cafile=str(paths.pebble / "ca.pem"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open(url, timeout=timeout) as response:
        return response.read()


def start_acme(paths: LabPaths) -> None:
    ensure_pebble_tls(paths)
    conf = paths.pebble / "pebble-config.json"
    write_if_changed(conf, pebble_config(paths))
    # Nonce rejection stays at pebble's default on purpose: ACME clients must prove they retry badNonce.
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"}
    env_drop = {k: v for k, v in os.environ.items() if k != "PEBBLE_WFE_NONCEREJECT"}
    spawn(paths, "acme", ["pebble", "-config", str(conf), "-dnsserver", f"{HOST}:{SERVICES['resolver'].port}"],
          env={**env_drop, **env}, cwd=paths.pebble)


def fetch_issuing_root(paths: LabPaths) -> None:
    """The issuing root of this start of pebble (a new one every start). Certificates of the lab's
    store that an earlier root issued verify against nothing any more: they are removed, so the next
    certificates run issues them again (they are not due, so nothing else would)."""
    pem = https_get(paths, f"https://{HOST}:{SERVICES['acme'].control_port}/roots/0")
    had_root = (paths.pebble / "issuing-root.pem").exists()
    if write_if_changed(paths.pebble / "issuing-root.pem", pem.decode()) and had_root:
        store = paths.root / "certificates"
        if store.is_dir():
            shutil.rmtree(store)
            print(f"labctl: pebble has a new issuing root: removed the lab's certificates ({store}); "
                  "the next certificates run issues them again", file=sys.stderr)
