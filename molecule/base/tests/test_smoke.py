def test_sshd(host):
    assert host.service("ssh").is_running
