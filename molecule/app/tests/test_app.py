"""Behaviour of roles/app in its container: HTTPS through nginx, own user, restart on change.

Runs after converge, idempotence and side_effect (which changed APP_GREETING).
"""

import time

CA = "/usr/local/share/molecule-test-ca.pem"
NAME = "app.example.test"
UNIT = "psf-app-demo.service"


def curl(host, path):
    return host.run(
        "curl --silent --show-error --max-time 5 --cacert %s --resolve %s:443:127.0.0.1 https://%s%s",
        CA,
        NAME,
        NAME,
        path,
    )


def wait_for_https(host, path, expected, attempts=20):
    result = None
    for _ in range(attempts):
        result = curl(host, path)
        if result.rc == 0 and expected in result.stdout:
            return result
        time.sleep(0.5)
    return result


def main_pid(host):
    return int(host.check_output("systemctl show --property=MainPID --value %s", UNIT))


def test_app_answers_over_https_with_the_changed_environment(host):
    result = wait_for_https(host, "/", "hello after the change")
    assert result.rc == 0, result.stderr
    assert "hello after the change" in result.stdout


def test_health_url_answers_ok(host):
    result = host.run(
        "curl --silent --output /dev/null --write-out '%%{http_code}' --cacert %s --resolve %s:443:127.0.0.1 https://%s/healthz",
        CA,
        NAME,
        NAME,
    )
    assert result.stdout == "200"


def test_certificate_is_verified_against_the_test_ca(host):
    # Without the CA, curl must refuse the certificate: nginx really serves the deployed one.
    result = host.run("curl --silent --max-time 5 --resolve %s:443:127.0.0.1 https://%s/", NAME, NAME)
    assert result.rc == 60  # CURLE_PEER_FAILED_VERIFICATION


def test_plain_http_redirects_to_https(host):
    result = host.run(
        "curl --silent --output /dev/null --write-out '%%{http_code} %%{redirect_url}' "
        "--resolve %s:80:127.0.0.1 http://%s/path",
        NAME,
        NAME,
    )
    assert result.stdout == f"301 https://{NAME}/path"


def test_service_runs_as_its_own_user(host):
    assert host.service(UNIT).is_running
    assert host.service(UNIT).is_enabled
    pid = main_pid(host)
    assert host.check_output("ps -o user= -p %s", str(pid)).strip() == "app-demo"
    user = host.user("app-demo")
    assert user.shell == "/usr/sbin/nologin"
    assert "app-demo" in curl(host, "/").stdout


def test_app_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:8081").is_listening
    assert not host.socket("tcp://0.0.0.0:8081").is_listening


def test_changed_environment_restarted_the_service(host):
    before = int(host.file("/root/app-pid-before").content_string.strip())
    assert before > 0
    assert main_pid(host) != before


def test_environment_file_is_root_only(host):
    env = host.file("/etc/psf-apps/demo.env")
    assert env.user == "root"
    assert env.mode == 0o600
    assert 'APP_GREETING="hello after the change"' in env.content_string
    # The app's own user cannot read its secrets back from disk.
    assert host.run("runuser -u app-demo -- cat /etc/psf-apps/demo.env").rc != 0


def test_app_cannot_write_its_code(host):
    result = host.run("runuser -u app-demo -- touch /srv/apps/demo/app.py")
    assert result.rc != 0


def test_firewall_opens_http_and_https(host):
    rules = host.check_output("nft list chain inet psf_filter input")
    assert "policy drop" in rules
    assert "tcp dport { 80, 443 } accept" in rules
