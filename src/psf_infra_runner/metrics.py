"""Prometheus textfile metrics of the last run of each playbook, for the node exporter's textfile
collector on the control node (`psf-infra run --metrics-dir DIR`).

One file per playbook and mode, ``psf_infra_run_<playbook>[_check].prom``, replaced atomically
after each run of that playbook, so concurrent runs of other playbooks never clobber it. The
alert rules of roles/monitoring_server (group psf-runner) read:

- ``psf_infra_run_last_start_timestamp_seconds`` and ``psf_infra_run_stale_after_seconds``: the
  cron job silently stopped running (PsfInfraRunMissing);
- ``psf_infra_run_consecutive_failures``: it keeps failing (PsfInfraRunFailing).

A run that skipped because of the lock, or never reached a playbook, writes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from psf_infra_runner.outcome import EXIT_CODES, FAILURES, RESULTS, PlaybookResult, write_atomically

PREFIX = "psf_infra_run_"

HELP = {
    "last_start_timestamp_seconds": ("gauge", "Unix time the last run of the playbook started."),
    "last_duration_seconds": ("gauge", "Wall time of the last run of the playbook."),
    "last_result": ("gauge", "1 for the result of the last run of the playbook, 0 for the others."),
    "last_exit_code": ("gauge", "Exit code psf-infra gives for the last run's result."),
    "last_changed": ("gauge", "Tasks changed (check mode: that would change) in the last run."),
    "last_failed_hosts": ("gauge", "Hosts with a failed task or unreachable in the last run."),
    "last_success_timestamp_seconds": ("gauge", "Unix time the last run that did its work started (0: never)."),
    "consecutive_failures": ("gauge", "Runs in a row that failed (task failed, unreachable, timeout, bad registry)."),
    "stale_after_seconds": ("gauge", "The cron job's promise: a new run starts within this many seconds."),
}


def metrics_file(directory: Path, playbook: str, check: bool) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", playbook)
    return directory / f"{PREFIX}{safe}{'_check' if check else ''}.prom"


SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def read_samples(path: Path) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus textfile: (name, labels, value); nothing when the file is not
    there, comments and values that are not numbers left out."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    samples = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = {key: raw.replace('\\"', '"').replace("\\\\", "\\")
                  for key, raw in LABEL.findall(match["labels"] or "")}
        samples.append((match["name"], labels, value))
    return samples


def read_previous(path: Path) -> dict[str, float]:
    """The values of our own earlier file (metric name -> value; last_result left out)."""
    return {name[len(PREFIX):]: value for name, _labels, value in read_samples(path)
            if name.startswith(PREFIX) and name != f"{PREFIX}last_result"}


def render(result: PlaybookResult, stale_after: float, previous: dict[str, float]) -> str:
    outcome = result.result
    failed = outcome in FAILURES
    consecutive = int(previous.get("consecutive_failures", 0)) + 1 if failed else 0
    last_success = previous.get("last_success_timestamp_seconds", 0.0) if failed else result.started
    labels = f'playbook="{result.name}",mode="{"check" if result.check else "apply"}"'
    hosts = result.hosts()
    values = {
        "last_start_timestamp_seconds": f"{result.started:.3f}",
        "last_duration_seconds": f"{result.seconds:.3f}",
        "last_exit_code": str(EXIT_CODES[outcome]),
        "last_changed": str(result.totals()["changed"]),
        "last_failed_hosts": str(sum(1 for counts in hosts.values() if counts["failed"] or counts["unreachable"])),
        "last_success_timestamp_seconds": f"{last_success:.3f}",
        "consecutive_failures": str(consecutive),
        "stale_after_seconds": f"{stale_after:g}",
    }
    lines = []
    for metric, (kind, text) in HELP.items():
        lines += [f"# HELP {PREFIX}{metric} {text}", f"# TYPE {PREFIX}{metric} {kind}"]
        if metric == "last_result":
            lines += [f'{PREFIX}{metric}{{{labels},result="{name}"}} {int(name == outcome)}' for name in RESULTS]
        else:
            lines.append(f"{PREFIX}{metric}{{{labels}}} {values[metric]}")
    return "\n".join(lines) + "\n"


def write(directory: Path, result: PlaybookResult, stale_after: float) -> Path:
    path = metrics_file(directory, result.name, result.check)
    write_atomically(path, render(result, stale_after, read_previous(path)))
    return path
