"""Behaviour of roles/certificate_deploy in its container: files and modes, nginx serving the
deployed certificate, and a renewed certificate picked up by a reload (not a restart).

Runs after converge, idempotence (a second run changed nothing, so no handler ran: no reload
without a change) and side_effect (a renewed certificate was deployed).
"""

import time

DIR = "/etc/ssl/psf/site"
SERVED_PEM = (
    "python3 -c \"import ssl; print(ssl.get_server_certificate(('127.0.0.1', 443)))\""
)


def pem_body(text):
    """The base64 of the first certificate in a PEM text, whitespace removed."""
    start = text.index("-----BEGIN CERTIFICATE-----") + len("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----")
    return "".join(text[start:end].split())


def served(host, attempts=20):
    result = None
    for _ in range(attempts):
        result = host.run(SERVED_PEM)
        if result.rc == 0 and "BEGIN CERTIFICATE" in result.stdout:
            return result.stdout
        time.sleep(0.5)
    raise AssertionError(f"nginx does not serve TLS on 443: {result.stderr}")


def test_private_key_is_root_ssl_cert_0640(host):
    key = host.file(f"{DIR}/privkey.pem")
    assert key.exists
    assert key.user == "root" and key.group == "ssl-cert"
    assert key.mode == 0o640


def test_certificates_are_public_and_owned_by_root(host):
    for name in ("cert.pem", "chain.pem", "fullchain.pem"):
        certificate = host.file(f"{DIR}/{name}")
        assert certificate.exists, name
        assert certificate.user == "root" and certificate.group == "root"
        assert certificate.mode == 0o644
        assert "BEGIN CERTIFICATE" in certificate.content_string
    assert host.file(DIR).mode == 0o755


def test_fullchain_is_cert_then_chain(host):
    full = host.file(f"{DIR}/fullchain.pem").content_string
    cert = host.file(f"{DIR}/cert.pem").content_string
    assert pem_body(full) == pem_body(cert)


def test_nginx_serves_the_renewed_certificate(host):
    assert pem_body(served(host)) == pem_body(host.file(f"{DIR}/cert.pem").content_string)


def test_the_renewal_reloaded_nginx_instead_of_restarting_it(host):
    before = host.file("/root/nginx-pid-before").content_string.strip()
    now = host.check_output("systemctl show --property=MainPID --value nginx.service")
    assert before == now != "0"


def test_served_chain_verifies_against_the_test_ca(host):
    check = host.run(
        "python3 -c \"import ssl, socket; c = ssl.create_default_context(cafile="
        "'/usr/local/share/certificate-deploy-test-ca.pem'); "
        "s = c.wrap_socket(socket.create_connection(('127.0.0.1', 443)), server_hostname='site.demo.test'); "
        "print(s.version())\""
    )
    assert check.rc == 0, check.stderr
