"""`psf-infra run` with the real playbooks against the lab: DNS and certificate renewal converge,
check mode then finds no drift, and no secret of the lab (TSIG keys, the ACME account key, the
vault password) is in the artifacts, the summaries, the metrics or the output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PSF_INFRA = [sys.executable, "-m", "psf_infra_runner.cli"]

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def psf_infra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PSF_INFRA, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=900)


def account_key_body(lab_dir: Path) -> list[str]:
    """The base64 lines of the lab's ACME account key (the PEM armour is not secret)."""
    path = lab_dir / "certificates" / "account.key"
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def test_dns_and_renewal_through_psf_infra_leave_no_secret_behind(lab, tmp_path):
    artifacts, metrics = tmp_path / "runs", tmp_path / "metrics"
    vault = tmp_path / "vault-pass"
    vault.write_text("lab-vault-password-never-printed\n")
    common = ("-i", "inventories/lab", "--artifacts", str(artifacts), "--metrics-dir", str(metrics),
              "--vault-password-file", str(vault), "--quiet", "--timeout", "10m")
    converge = psf_infra("run", "dns", "certificates", "-t", "renew", "--diff", *common)
    assert converge.returncode == 0, converge.stdout + converge.stderr
    summary = json.loads((artifacts / "last-run.json").read_text())
    assert [r["name"] for r in summary["results"]] == ["dns", "certificates"]
    assert {"localhost", "lab-ns1", "lab-ns2"} <= set(summary["hosts"]), summary["hosts"]

    plan = psf_infra("run", "dns", "--check", "--diff", *common)
    assert plan.returncode == 0, f"check mode after a run found drift:\n{plan.stdout}{plan.stderr}"
    assert "result: ok (exit 0)" in plan.stdout
    assert sorted(p.name for p in metrics.iterdir()) == ["psf_infra_run_certificates.prom", "psf_infra_run_dns.prom",
                                                        "psf_infra_run_dns_check.prom"]

    secrets = {name: lab.key(name)["secret"] for name in ("registry-key", "staff-key", "transfer-key")}
    secrets["vault password"] = "lab-vault-password-never-printed"
    secrets |= {f"account key line {i}": line for i, line in enumerate(account_key_body(lab.dir)) if len(line) > 20}
    assert len(secrets) > 4, "no ACME account key in the lab: certificates did not run"
    files = [p for p in [*artifacts.rglob("*"), *metrics.rglob("*")] if p.is_file()]
    assert any(p.parent.name == "job_events" for p in files)
    outputs = converge.stdout + converge.stderr + plan.stdout + plan.stderr
    leaks = {name: [str(p) for p in files if secret in p.read_text(errors="replace")]
             for name, secret in secrets.items()}
    leaks = {name: where for name, where in leaks.items() if where}
    assert leaks == {}
    assert [name for name, secret in secrets.items() if secret in outputs] == []
