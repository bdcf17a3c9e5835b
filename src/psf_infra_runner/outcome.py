"""What a `psf-infra run` did: per playbook, per host and for the whole run, with its exit code.

Pure data: nothing here runs a process or touches the network (execution.py fills a
PlaybookResult from ansible-runner; cli.py decides, prints and writes the JSON summary).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Exit codes of `psf-infra run` (also printed by `psf-infra --help`, listed in docs/runner.md).
EXIT_OK = 0  # success: nothing failed (changes made, or none); check mode: no drift
EXIT_FAILED = 1  # a task failed (or ansible-playbook itself failed)
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_INVALID_REGISTRY = 3  # the tenant registry (or another inventory source) is invalid: nothing ran
EXIT_UNREACHABLE = 4  # a host was unreachable (and no task failed)
EXIT_DRIFT = 5  # check mode found changes to make: the site drifted from the registry
EXIT_LOCKED = 75  # another run holds a playbook of this set (EX_TEMPFAIL: cron simply tries again later)
EXIT_TIMEOUT = 124  # --timeout expired: ansible-playbook was stopped (as GNU timeout(1) reports)

# Results, worst first: a run's result is the worst of its playbooks'.
RESULTS = ("timeout", "invalid_registry", "failed", "unreachable", "drift", "changed", "ok")
EXIT_CODES = {
    "timeout": EXIT_TIMEOUT,
    "invalid_registry": EXIT_INVALID_REGISTRY,
    "failed": EXIT_FAILED,
    "unreachable": EXIT_UNREACHABLE,
    "drift": EXIT_DRIFT,
    "changed": EXIT_OK,
    "ok": EXIT_OK,
}
# A job that ends like this did not do its work: heartbeat "fail", counted by the failure alert.
FAILURES = frozenset({"timeout", "invalid_registry", "failed", "unreachable"})
# What makes --cron speak and the report mail go out.
NOTEWORTHY = FAILURES | {"drift", "changed"}

# ansible-playbook's recap counters, in its order, and how `psf-infra` names them.
COUNTERS = (("ok", "ok"), ("changed", "changed"), ("dark", "unreachable"), ("failures", "failed"),
            ("skipped", "skipped"), ("rescued", "rescued"), ("ignored", "ignored"))


@dataclass
class HostProblem:
    """The first failed (or unreachable) task of a host: what staff read first."""

    playbook: str
    task: str
    message: str
    unreachable: bool = False
    stopped: bool = False  # the task was running when --timeout (or a signal) stopped the run


@dataclass
class PlaybookResult:
    playbook: str  # as named relative to the checkout (playbooks/dns.yml)
    status: str  # ansible-runner's status (successful, failed, timeout, canceled)
    rc: int  # ansible-playbook's exit code
    seconds: float
    started: float  # Unix time
    check: bool = False
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # recap counter -> host -> count
    problems: dict[str, HostProblem] = field(default_factory=dict)  # host -> its first failure
    artifact_dir: str = ""
    timed_out: bool = False
    invalid_registry: str = ""  # ansible-inventory's message when the registry was refused
    changes: list[Any] = field(default_factory=list)  # drift.Change of each changed result (psf-infra drift)

    @property
    def name(self) -> str:
        """The playbook's short name (dns for playbooks/dns.yml): the metric label and the lock name."""
        return Path(self.playbook).stem

    def totals(self) -> dict[str, int]:
        return {counter: sum((self.stats.get(counter) or {}).values()) for counter, _ in COUNTERS}

    def hosts(self) -> dict[str, dict[str, int]]:
        """Host -> {ok, changed, unreachable, failed, ...} from the recap (named as psf-infra prints them)."""
        found: dict[str, dict[str, int]] = {}
        for counter, label in COUNTERS:
            for host, count in (self.stats.get(counter) or {}).items():
                found.setdefault(host, {label: 0 for _, label in COUNTERS})[label] = count
        for host, problem in self.problems.items():  # a timed-out play has no recap: its events still count
            counts = found.setdefault(host, {label: 0 for _, label in COUNTERS})
            key = "unreachable" if problem.unreachable else "failed"
            counts[key] = max(counts[key], 1)
        return found

    @property
    def result(self) -> str:
        if self.timed_out:
            return "timeout"
        if self.invalid_registry:
            return "invalid_registry"
        totals = self.totals()
        if totals["failures"] or self.status == "canceled":
            return "failed"
        if totals["dark"]:
            return "unreachable"
        if self.rc != 0 or self.status != "successful":
            return "failed"  # ansible-playbook failed before or outside any task (syntax error, ...)
        if totals["changed"]:
            return "drift" if self.check else "changed"
        return "ok"

    def line(self) -> str:
        totals = self.totals()
        counts = " ".join(f"{label}={totals[counter]}" for counter, label in COUNTERS[:5])
        why = ""
        if self.result == "failed" and not totals["failures"] and self.rc != 0:
            why = f", ansible-playbook exited {self.rc}"
        return f"{self.playbook}: {self.result} ({counts}{why}) in {self.seconds:.1f}s"


def worst(results: list[str]) -> str:
    return min(results, key=RESULTS.index) if results else "ok"


@dataclass
class RunSummary:
    """One `psf-infra run`: the JSON summary (summary.json in the run's directory, last-run.json)."""

    run_id: str
    playbooks: list[str]  # as asked for
    started: float
    seconds: float
    check: bool
    result: str
    exit_code: int
    run_dir: str
    results: list[PlaybookResult]
    not_run: list[str] = field(default_factory=list)  # playbooks skipped because an earlier one did not succeed
    timeout_seconds: float | None = None

    @classmethod
    def build(cls, *, run_id: str, playbooks: list[str], started: float, seconds: float, check: bool,
              run_dir: str, results: list[PlaybookResult], not_run: list[str],
              timeout_seconds: float | None, interrupted: bool = False) -> RunSummary:
        # interrupted: psf-infra was told to stop (SIGTERM/SIGINT); whatever ran, the run did not finish
        result = worst([r.result for r in results] + (["failed"] if interrupted else []))
        return cls(run_id=run_id, playbooks=playbooks, started=started, seconds=seconds, check=check,
                   result=result, exit_code=EXIT_CODES[result], run_dir=run_dir, results=results,
                   not_run=not_run, timeout_seconds=timeout_seconds)

    def hosts(self) -> dict[str, dict[str, int]]:
        """Every host of the run, its counters summed over the playbooks."""
        merged: dict[str, dict[str, int]] = {}
        for result in self.results:
            for host, counts in result.hosts().items():
                target = merged.setdefault(host, dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    target[key] = target.get(key, 0) + value
        return dict(sorted(merged.items()))

    def problems(self) -> dict[str, HostProblem]:
        found: dict[str, HostProblem] = {}
        for result in self.results:
            for host, problem in result.problems.items():
                found.setdefault(host, problem)
        return found

    def host_lines(self) -> list[str]:
        """One line per host: its state, its counters, and the first failed task with its message."""
        problems = self.problems()
        lines = []
        for host, counts in self.hosts().items():
            problem = problems.get(host)
            if problem is not None and problem.stopped:
                state = "STOPPED"
            elif counts["unreachable"]:
                state = "UNREACHABLE"
            elif counts["failed"]:
                state = "FAILED"
            elif counts["changed"]:
                state = "drift" if self.check else "changed"
            else:
                state = "ok"
            numbers = " ".join(f"{key}={counts[key]}" for key in ("ok", "changed", "unreachable", "failed", "skipped"))
            line = f"{host}: {state} {numbers}"
            if problem is not None and state in {"STOPPED", "UNREACHABLE", "FAILED"}:
                line += f" -- {problem.task}: {problem.message}"
            lines.append(line)
        return lines

    def report_lines(self) -> list[str]:
        """What --cron prints, the mail says and the heartbeat carries."""
        lines = [result.line() for result in self.results]
        for result in self.results:
            if result.invalid_registry:
                lines.append(result.invalid_registry)
            if result.timed_out:
                lines.append(f"{result.playbook}: stopped after the --timeout of {self.timeout_seconds:g}s")
        lines += [f"  {line}" for line in self.host_lines()]
        if self.not_run:
            lines.append(f"not run: {', '.join(self.not_run)}")
        lines.append(f"result: {self.result} (exit {self.exit_code}) in {self.seconds:.1f}s; "
                     f"summary {self.run_dir}/summary.json")
        return lines

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts"] = self.hosts()
        for entry, result in zip(data["results"], self.results, strict=True):
            entry["result"] = result.result
            entry["name"] = result.name
            entry.pop("changes", None)  # the drift report's; summary.json stays one line per playbook
        return data


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Readers (cron's next run, the node exporter, staff) see the old file or the new one, never half:
    the collection's writer (module_utils/textfile.py), the one psf.infra.textfile_metrics uses."""
    from psf_infra_runner.inventory import project_root
    from psf_infra_runner.summary import use_collection

    use_collection(project_root())
    from ansible_collections.psf.infra.plugins.module_utils.textfile import write_atomically as write

    write(path, text, mode)


def write_summary(summary: RunSummary, run_dir: Path, artifacts: Path) -> Path:
    text = json.dumps(summary.to_json(), indent=2, sort_keys=False) + "\n"
    target = run_dir / "summary.json"
    write_atomically(target, text, 0o600)
    write_atomically(artifacts / "last-run.json", text, 0o600)
    return target
