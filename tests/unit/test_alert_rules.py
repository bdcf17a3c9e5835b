"""The alert rules of roles/monitoring_server, rendered with the role defaults, checked and
unit-tested by the real `promtool` (Debian package `prometheus`, see lab/apt-packages.txt).

Every file in roles/monitoring_server/files/tests/ is a `promtool test rules` suite; each runs
on its own so a failure names the suite.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring_server"
RULES_TEMPLATE = ROLE / "templates" / "psf-infra.rules.yml.j2"
RULES_NAME = "psf-infra.rules.yml"
SUITES = sorted((ROLE / "files" / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")


def render_rules(overrides: dict[str, object] | None = None) -> str:
    """Render the rule template as Ansible does: the `#jinja2:` header sets the delimiters."""
    header, _, body = RULES_TEMPLATE.read_text().partition("\n")
    assert header.startswith("#jinja2:"), "the rule template must keep its delimiter header"
    settings = dict(
        (key.strip(), value.strip().strip("'\""))
        for key, value in (item.split(":", 1) for item in header.removeprefix("#jinja2:").split(","))
    )
    # YAML, not HTML: nothing to escape.
    environment = jinja2.Environment(  # noqa: S701
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, **settings
    )
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    thresholds = {k: v for k, v in defaults.items() if k.startswith("monitoring_server_alert_")}
    return environment.from_string(body).render({**thresholds, **(overrides or {})})


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / RULES_NAME).write_text(render_rules())
    for suite in SUITES:
        shutil.copy(suite, tmp_path / suite.name)
    return tmp_path


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Not a skip: untested alert rules must not pass silently.
    assert PROMTOOL is not None, "promtool not found: install lab/apt-packages.txt (Debian package prometheus)"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_every_alert_of_the_issue_is_defined() -> None:
    rules = yaml.safe_load(render_rules())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "HostDown",
        "DiskFilling",
        "BackupTooOld",
        "CertificateExpiring",
        "DnssecSignaturesExpiring",
        "DomainExpiring",
        "ProbeFailing",
    } <= alerts


def test_every_alert_has_a_suite() -> None:
    rules = yaml.safe_load(render_rules())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {
        case["alertname"]
        for suite in SUITES
        for test in yaml.safe_load(suite.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert alerts - tested == set()


def test_rules_pass_promtool_check(rules_dir: Path) -> None:
    result = run_promtool("check", "rules", RULES_NAME, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.stem)
def test_rules_suite(rules_dir: Path, suite: Path) -> None:
    result = run_promtool("test", "rules", suite.name, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_threshold_changes_the_outcome(tmp_path: Path) -> None:
    """The suites are written for the defaults: a backup limit of 30 h must make them fail."""
    (tmp_path / RULES_NAME).write_text(render_rules({"monitoring_server_alert_backup_max_age_hours": 30}))
    shutil.copy(ROLE / "files" / "tests" / "backups.yml", tmp_path / "backups.yml")
    result = run_promtool("test", "rules", "backups.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "BackupTooOld" in result.stdout + result.stderr
