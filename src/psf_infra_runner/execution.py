"""One playbook through ansible-runner: a fresh private data directory, events read as they come,
and a clean stop when the job's deadline passes (or psf-infra itself is told to stop).

Why not ansible-runner's own ``timeout``: it SIGKILLs the process group of ansible-playbook, but
Ansible's worker processes call setsid() and live in process groups of their own, so the task
that was running (an ssh session, a module, a `sleep`) survives as an orphan. Here the deadline
sends SIGINT to ansible-playbook, which forwards it to every worker's group, stops the play and
exits; only if it has not exited after STOP_GRACE seconds is the whole tree killed, each process
group of it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psf_infra_runner.drift import Change, with_hidden
from psf_infra_runner.outcome import HostProblem, PlaybookResult, write_atomically

# The environment values the `command` artifact keeps; every other variable keeps its name only.
# ansible-runner writes psf-infra's whole environment there (tokens a cron job exports included).
SHOWN_ENV = frozenset({
    "PATH", "HOME", "LANG", "LC_ALL", "PWD", "USER", "LOGNAME", "SHELL", "TERM",
    "ANSIBLE_CONFIG", "ANSIBLE_FORCE_COLOR", "ANSIBLE_NOCOLOR", "ANSIBLE_DISPLAY_ARGS_TO_STDOUT",
    "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_RETRY_FILES_ENABLED",
    "ANSIBLE_HOST_KEY_CHECKING", "AWX_ISOLATED_DATA_DIR", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS",
})
HIDDEN = "********"
STOP_GRACE = 30.0  # seconds ansible-playbook gets to stop after SIGINT before it is killed
MESSAGE_LIMIT = 300  # characters of a failed task's message kept in the report


@dataclass
class PlaybookRun:
    """What run_playbook needs to know besides the playbook."""

    root: Path  # the checkout (project directory: ansible.cfg, roles, collections)
    inventory: str
    run_dir: Path  # this run's directory: ansible-runner's artifact_dir
    private_dir: Path  # this run's own private data directory
    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: str | None = None
    vault_password_file: str | None = None
    quiet: bool = False
    deadline: float | None = None  # time.monotonic() value; None: no timeout
    collect_changes: bool = False  # keep every changed result (psf-infra drift)
    tenant: str | None = None  # playbooks/tenant.yml's -e tenant=<name> (psf-infra run tenant --tenant <name>)
    stop_grace: float = STOP_GRACE


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc; Linux, as the control node is)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop(0)
        if current in tree:
            continue
        tree.append(current)
        pending += children_of(current)
    return tree


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def kill_tree(pid: int) -> None:
    """SIGKILL every process group of the tree under ``pid`` (workers are group leaders of their own)."""
    groups = set()
    for member in process_tree(pid):
        try:
            groups.add(os.getpgid(member))
        except ProcessLookupError:
            continue
    for group in groups:
        if group in {os.getpgid(0), 0, 1}:
            continue
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            continue


def ansible_playbook_pid() -> int | None:
    """The ansible-playbook process ansible-runner started for us (our child through pexpect)."""
    for child in children_of(os.getpid()):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"ansible-playbook") for part in command[:2]):
            return child
    return None


class Stopper:
    """ansible-runner's cancel_callback: False while the job may go on; at the deadline (or on
    SIGTERM/SIGINT to psf-infra) SIGINT to ansible-playbook, then after the grace time kill what is left."""

    def __init__(self, deadline: float | None, grace: float, signalled: Callable[[], bool] | None) -> None:
        self.deadline = deadline
        self.grace = grace
        self.signalled = signalled
        self.stopping_since: float | None = None
        self.timed_out = False
        self.reason = ""
        self.pid: int | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.stopping_since is None:
            if self.deadline is not None and now >= self.deadline:
                self.timed_out, self.reason = True, "timeout"
            elif self.signalled is not None and self.signalled():
                self.reason = "signal"
            else:
                return False
            self.stopping_since = now
            pid = ansible_playbook_pid()
            if pid is None:
                return True  # not started yet, or already gone: ansible-runner ends it
            self.pid = pid
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                return True
            return False
        pid = self.pid
        if pid is not None and _alive(pid) and now - self.stopping_since < self.grace:
            return False
        if pid is not None and _alive(pid):
            kill_tree(pid)
        return True


class EventReader:
    """ansible-runner's event_handler: keeps each host's first failure (and, for `psf-infra drift`, every
    result that would change); every event is still written."""

    def __init__(self, playbook: str, collect_changes: bool = False) -> None:
        self.playbook = playbook
        self.collect_changes = collect_changes
        self.changes: list[Change] = []
        self.hidden: list[Change] = []  # censored results (no_log): changed or not, they do not say
        self.problems: dict[str, HostProblem] = {}
        self.stats: dict[str, dict[str, int]] = {}
        self.running: dict[str, str] = {}  # host -> the task it started and has not finished

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        if kind == "runner_on_start" and host:
            self.running[host] = str(data.get("task") or "?")
        elif kind.startswith("runner_on_") and host:
            self.running.pop(host, None)
        if kind in {"runner_on_failed", "runner_on_unreachable"} and not data.get("ignore_errors"):
            host = host or "?"
            if host not in self.problems:
                self.problems[host] = HostProblem(
                    playbook=self.playbook,
                    task=str(data.get("task") or "?"),
                    message=_message(data.get("res") or {}),
                    unreachable=kind == "runner_on_unreachable",
                )
        elif self.collect_changes and kind in {"runner_on_ok", "runner_item_on_ok"}:
            res = data.get("res") or {}
            # a loop's own result repeats its items' (each came as runner_item_on_ok)
            if Change.censored(res):
                self.hidden.append(Change.from_result(self.playbook, data, res))
            elif res.get("changed") and not (kind == "runner_on_ok" and isinstance(res.get("results"), list)):
                self.changes.append(Change.from_result(self.playbook, data, res))
        elif kind == "playbook_on_stats":
            self.stats = {key: value for key, value in data.items() if isinstance(value, dict)}
        return True


def _message(res: dict[str, Any]) -> str:
    """The first line of a failed result's message (Ansible has censored no_log results already)."""
    if res.get("_ansible_no_log") or res.get("censored"):
        return "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
    message = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    if isinstance(message, list):
        message = " ".join(map(str, message))
    first = str(message).strip().splitlines()[0] if str(message).strip() else "no message"
    return first if len(first) <= MESSAGE_LIMIT else first[: MESSAGE_LIMIT - 1] + "…"


def hide_environment(artifact_dir: str) -> None:
    """Rewrite ansible-runner's `command` artifact with the environment's values hidden (SHOWN_ENV aside)."""
    path = Path(artifact_dir) / "command"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    env = recorded.get("env") or {}
    recorded["env"] = {name: value if name in SHOWN_ENV else HIDDEN for name, value in env.items()}
    write_atomically(path, json.dumps(recorded, ensure_ascii=False), 0o600)


def _status_handler(status: dict[str, Any], runner_config: Any) -> None:
    # 'running' comes after ansible-runner wrote `command` and before it starts ansible-playbook.
    if status.get("status") == "running":
        hide_environment(str(runner_config.artifact_dir))


def run_playbook(playbook: Path, run: PlaybookRun, signalled: Callable[[], bool] | None = None) -> PlaybookResult:
    import ansible_runner  # imported here: `psf-infra --help` stays fast

    name = str(playbook.relative_to(run.root)) if playbook.is_relative_to(run.root) else str(playbook)
    cmdline: list[str] = []
    if run.check:
        cmdline.append("--check")
    if run.diff:
        cmdline.append("--diff")
    if run.vault_password_file:
        cmdline += ["--vault-password-file", str(Path(run.vault_password_file).resolve())]
    if run.tenant:
        # JSON, so that the name stays one string whatever it holds; on the command line, not in env/
        cmdline += ["-e", json.dumps({"tenant": run.tenant})]
    # cron's PATH does not have the virtualenv: run the ansible-playbook installed beside us.
    bin_dir = str(Path(sys.executable).parent)
    search_path = os.environ.get("PATH", "/usr/bin:/bin")
    if bin_dir not in search_path.split(os.pathsep):
        os.environ["PATH"] = search_path = os.pathsep.join([bin_dir, search_path])
    envvars = {
        "PATH": search_path,
        "ANSIBLE_CONFIG": str(run.root / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        # task arguments stay out of the events even when the caller's environment asks otherwise
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "False",
    }
    events = EventReader(name, run.collect_changes)
    remaining = None if run.deadline is None else run.deadline - time.monotonic()
    stopper = Stopper(run.deadline, run.stop_grace, signalled)
    # How often ansible-runner asks the stopper (seconds). ansible-runner reads its settings from this
    # file only (a settings= argument is dropped when the file is missing); nothing secret in it.
    settings = run.private_dir / "env" / "settings"
    settings.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.write_text(json.dumps({"pexpect_timeout": 1}) + "\n")
    started, wall = time.monotonic(), time.time()
    if remaining is not None and remaining <= 0:
        stopper.timed_out = True
        return PlaybookResult(playbook=name, status="timeout", rc=-1, seconds=0.0, started=wall,
                              check=run.check, timed_out=True)
    runner = ansible_runner.run(
        private_data_dir=str(run.private_dir),
        project_dir=str(run.root),
        artifact_dir=str(run.run_dir),
        ident=playbook.stem,
        playbook=str(playbook),
        inventory=run.inventory,
        limit=run.limit,
        tags=run.tags,
        cmdline=" ".join(cmdline) or None,
        envvars=envvars,
        quiet=run.quiet,
        suppress_env_files=True,  # no env/ files: passwords, extra vars, ssh keys never reach the disk
        fact_cache_type="memory",  # no fact_cache/ directory of every host's facts in the artifacts
        event_handler=events,
        cancel_callback=stopper,
        status_handler=_status_handler,
    )
    if stopper.reason:
        why = "stopped by the --timeout" if stopper.timed_out else "stopped by a signal to psf-infra"
        for host, task in events.running.items():
            events.problems.setdefault(host, HostProblem(playbook=name, task=task, message=why, stopped=True))
    stats = events.stats or {k: v for k, v in (runner.stats or {}).items() if isinstance(v, dict)}
    return PlaybookResult(
        playbook=name,
        status=runner.status,
        rc=runner.rc,
        seconds=time.monotonic() - started,
        started=wall,
        check=run.check,
        stats=stats,
        problems=events.problems,
        artifact_dir=str(runner.config.artifact_dir),
        timed_out=stopper.timed_out,
        changes=with_hidden(events.changes, events.hidden, stats.get("changed") or {}),
    )
