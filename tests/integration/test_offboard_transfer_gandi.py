"""playbooks/offboard.yml for a tenant whose domain leaves to another registrar (offboarding.domains:
transfer), with the domain at the fake Gandi API (tests/fakes/gandi_api.py) and the summary sent to
an SMTP server on loopback: the real ansible-playbook on a copy of inventories/lab that has no VM,
zone, certificate, name server, monitoring or backup server for the tenant, so that nothing but the
control node, the fake and the SMTP server is reached (no lab needed).

Check mode lists the unlock and the code mailed to the liaisons, prints the summary with a
placeholder and changes nothing at the fake; the real run unlocks the domain (PATCH .../status) and
mails its transfer code to the liaison, Cc staff; the code is in no output of any run (at -v as
well), nor in the state file; a second run changes nothing."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import BIN, REPO, ansible_env, copy_inventory
from smtp_support import relay

sys.path.insert(0, str(REPO / "tests" / "fakes"))

from gandi_api import TEST_TOKEN, FakeGandi

TENANT = "leaving"
DOMAIN = "leaving.test"
CODE = "Xfer-c0de-7sEcReT"
STAFF = "infra-staff@python.org"


@pytest.fixture
def sink():
    class Collect:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=email.policy.default)))
            return "250 OK"

    handler = Collect()
    with relay(handler) as port:
        yield port, handler.messages


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = copy_inventory(REPO / "inventories" / "lab", tmp_path / "lab")
    machines = yaml.safe_load((target / "machines.yml").read_text())
    machines["all"]["children"]["backup_servers"] = {}
    machines["all"]["children"]["monitoring_servers"] = {}
    (target / "machines.yml").write_text(yaml.safe_dump(machines, sort_keys=False))
    (target / "nameservers.yml").write_text("---\nall:\n  children:\n    nameservers: {}\n")
    document = {
        "name": TENANT, "display_name": "Leaving WG", "kind": "working-group",
        "approval": {"body": "psf-membership", "date": "2026-01-10"}, "status": "suspended",
        "offboarding": {"started_on": "2026-12-01", "domains": "transfer"},
        "members": [{"name": "Liaison One", "email": "one@leaving.example"},
                    {"name": "Quiet Member", "email": "quiet@leaving.example", "notify": False}],
        "services": {"domains": [{"name": DOMAIN, "registrar": "psf"}]},
    }
    (target / "tenants" / f"{TENANT}.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def offboard(inventory: Path, api: FakeGandi, port: int, state_file: Path, *args: str) -> tuple[int, str]:
    extra = {"psf_registrar_provider": "gandi",
             "psf_registrar_gandi": {"token": TEST_TOKEN, "url": api.url, "max_retries": 1},
             # no parent to ask (a closed port): the registrar's keys are read
             "psf_registrar_parent_servers": [{"server": "127.0.0.1", "port": 9}],
             "psf_smtp": {"host": "127.0.0.1", "port": port, "starttls": False},
             "psf_announce_state_file": str(state_file)}
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "offboard.yml")]
    command += ["-e", f"tenant={TENANT}", "-e", f"confirm={TENANT}", "-e", json.dumps(extra), *args]
    result = subprocess.run(command,
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                            env={**ansible_env(), "PSF_INFRA_REGISTRY_CACHE": "false"})
    return result.returncode, result.stdout + result.stderr


def test_a_transfer_unlocks_and_mails_the_code_to_the_liaisons_and_never_shows_it(inventory, sink, tmp_path):
    port, messages = sink
    state_file = tmp_path / "announcements.json"
    with FakeGandi(TEST_TOKEN) as api:
        api.add_domain(DOMAIN, authinfo=CODE)

        rc, output = offboard(inventory, api, port, state_file, "--check")
        assert rc == 0, output[-4000:]
        flat = " ".join(output.split())
        assert (f"4. domains: {DOMAIN} at the Infra-WG registrar: DS withdrawn, transfer lock removed (unlocked) and "
                "its transfer code mailed to the liaisons in the summary (step 6)") in flat
        assert "<the transfer code: in the mail to the liaisons only>" in flat
        assert CODE not in output
        assert api.writes() == [] and messages == []

        rc, output = offboard(inventory, api, port, state_file, "-v")
        assert rc == 0, output[-4000:]
        assert CODE not in output, "the transfer code was shown"
        assert [(w["method"], w["path"]) for w in api.writes()] == [("PATCH", f"/domain/domains/{DOMAIN}/status")]
        assert api.snapshot()[DOMAIN]["status"] == []
        assert f"{DOMAIN}: remove the transfer lock of {DOMAIN} (clientTransferProhibited)" in output
        assert len(messages) == 1
        recipients, message = messages[0]
        assert sorted(recipients) == sorted(["one@leaving.example", STAFF])
        assert message["Cc"] == STAFF
        text = " ".join(message.get_body(preferencelist=("plain",)).get_content().split())
        assert f"its transfer (authorisation) code is: {CODE} ." in text
        assert "its transfer lock is removed" in text
        assert CODE not in state_file.read_text()

        rc, output = offboard(inventory, api, port, state_file)
        assert rc == 0, output[-4000:]
        assert CODE not in output
        assert "changed=0" in output.split("PLAY RECAP")[-1]
        assert len(api.writes()) == 1 and len(messages) == 1


def test_the_code_reaches_no_ansible_runner_artifact(inventory, sink, tmp_path):
    """The same run through ansible-runner (as psf-infra and AWX run playbooks): its job events, stdout
    and every other artifact are grepped for the code."""
    import ansible_runner

    port, messages = sink
    with FakeGandi(TEST_TOKEN) as api:
        api.add_domain(DOMAIN, authinfo=CODE)
        extravars = {"tenant": TENANT, "confirm": TENANT, "psf_registrar_provider": "gandi",
                     "psf_registrar_gandi": {"token": TEST_TOKEN, "url": api.url, "max_retries": 1},
                     "psf_registrar_parent_servers": [{"server": "127.0.0.1", "port": 9}],
                     "psf_smtp": {"host": "127.0.0.1", "port": port, "starttls": False},
                     "psf_announce_state_file": str(tmp_path / "announcements.json")}
        env = {key: value for key, value in ansible_env().items() if key.startswith(("ANSIBLE_", "PATH"))}
        (tmp_path / "runner").mkdir()
        run = ansible_runner.run(private_data_dir=str(tmp_path / "runner"),
                                 playbook=str(REPO / "playbooks" / "offboard.yml"),
                                 inventory=str(inventory), extravars=extravars, quiet=True, verbosity=1,
                                 envvars={**env, "PSF_INFRA_REGISTRY_CACHE": "false"}, project_dir=str(REPO))
        assert run.rc == 0, run.stdout.read()[-4000:]
        assert api.snapshot()[DOMAIN]["status"] == [] and len(messages) == 1
    assert CODE in messages[0][1].get_body(preferencelist=("plain",)).get_content()
    artifacts = [path for path in (tmp_path / "runner").rglob("*") if path.is_file()]
    assert any(path.parent.name == "job_events" for path in artifacts)
    leaked = [str(path) for path in artifacts if CODE in path.read_text(errors="replace")]
    assert leaked == [], "the transfer code is in ansible-runner's artifacts"
