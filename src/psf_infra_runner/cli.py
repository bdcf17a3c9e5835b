"""`psf-infra`: run the psf.infra playbooks through ansible-runner, made for cron.

    psf-infra run dns certificates            # playbooks/dns.yml then playbooks/certificates.yml
    psf-infra run site -i inventories/production --vault-password-file /etc/psf-infra/vault-pass
    psf-infra run certificates --cron --timeout 2h --metrics-dir /var/lib/prometheus/node-exporter
    psf-infra validate -i inventories/production
    psf-infra summary

Each run gets a directory of its own under --artifacts (summary.json, one ansible-runner
artifact directory per playbook: its output and events, no_log results censored by Ansible)
and a fresh private data directory, removed at the end; environment files are not written, so
vault passwords and extra variables never reach the disk. The last --keep runs of each playbook
set are kept. Each playbook (and every playbook it imports: site imports them all) has a lock:
`dns` and `certificates` may run at once, two `dns` may not; the second one skips (exit 75).
docs/runner.md has the whole story.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import yaml

from psf_infra_runner import status, summary
from psf_infra_runner.inventory import InventoryError, project_root, read_inventory
from psf_infra_runner.outcome import (
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_INVALID_REGISTRY,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    FAILURES,
    NOTEWORTHY,
    PlaybookResult,
    RunSummary,
    write_summary,
)

EXIT_CODES_HELP = f"""\
exit codes of `psf-infra run` (the worst result of its playbooks):
  {EXIT_OK:<4} success: nothing failed (changes made or none); with --check: no drift
  {EXIT_FAILED:<4} a task failed (or ansible-playbook itself failed)
  {EXIT_USAGE:<4} usage error (unknown playbook, inventory or option)
  {EXIT_INVALID_REGISTRY:<4} the tenant registry is invalid: nothing ran (also `psf-infra validate`)
  {EXIT_UNREACHABLE:<4} a host was unreachable (and no task failed)
  {EXIT_DRIFT:<4} --check found changes to make: drift from the registry
  {EXIT_LOCKED:<4} another run holds a playbook of this set; skipped (EX_TEMPFAIL: try again later)
  {EXIT_TIMEOUT:<4} --timeout expired: ansible-playbook was stopped, the rest not run
"""

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
RUN_DIR = re.compile(r"^\d{8}T\d{6}-(?P<set>.+)-[a-z0-9_]{8}$")


class UsageError(Exception):
    pass


def parse_duration(value: str) -> float:
    """90, 90s, 30m, 2h, 1d -> seconds."""
    match = DURATION.match(value)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"'{value}' is not a duration (examples: 90s, 30m, 2h, 1d)")
    return float(match.group(1)) * UNITS[match.group(2)]


def resolve_playbook(root: Path, name: str) -> Path:
    """`dns`, `dns.yml` and `playbooks/dns.yml` all name playbooks/dns.yml."""
    candidates = [Path(name), root / name, root / "playbooks" / name, root / "playbooks" / f"{name}.yml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = sorted(p.stem for p in (root / "playbooks").glob("*.yml"))
    raise UsageError(f"no playbook '{name}' (known: {', '.join(known)})")


def resolve_inventory(root: Path, name: str) -> str:
    """An inventory path as given, or relative to the checkout (so cron can run from anywhere)."""
    for candidate in (Path(name), root / name):
        if candidate.exists():
            return str(candidate.resolve())
    raise UsageError(f"no inventory '{name}'")


def imported_playbooks(playbook: Path, seen: set[Path] | None = None) -> set[Path]:
    """The playbook and every playbook it imports (import_playbook with a plain file name), recursively."""
    seen = set() if seen is None else seen
    if playbook in seen:
        return seen
    seen.add(playbook)
    try:
        plays = yaml.safe_load(playbook.read_text()) or []
    except (OSError, yaml.YAMLError):
        return seen  # ansible-playbook says what is wrong with it
    for play in plays if isinstance(plays, list) else []:
        if not isinstance(play, dict):
            continue
        target = play.get("ansible.builtin.import_playbook", play.get("import_playbook"))
        if isinstance(target, str) and "{{" not in target:
            path = (playbook.parent / target).resolve()
            if path.is_file():
                imported_playbooks(path, seen)
    return seen


def lock_names(playbooks: list[Path]) -> list[str]:
    names: set[str] = set()
    for playbook in playbooks:
        names |= {path.stem for path in imported_playbooks(playbook)}
    return sorted(names)


class Locked(Exception):
    def __init__(self, name: str, path: Path, holder: str) -> None:
        super().__init__(name)
        self.name, self.path, self.holder = name, path, holder


@contextlib.contextmanager
def playbook_locks(directory: Path, names: list[str]) -> Iterator[None]:
    """One flock per playbook, taken in name order, all or none (raises Locked)."""
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name in names:
            path = directory / f"{name}.lock"
            handle = stack.enter_context(open(path, "a+"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise Locked(name, path, handle.read().strip() or "?") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        yield


def catch_stop_signals() -> tuple[Callable[[], bool], Callable[[], None]]:
    """SIGTERM/SIGINT to psf-infra (systemd stopping the unit, Ctrl-C) stop the playbook cleanly."""
    event = threading.Event()
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda *_: event.set())

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return event.is_set, restore


def rotate(artifacts: Path, set_name: str, keep: int) -> None:
    """Keep the last ``keep`` run directories of this playbook set (others' runs are theirs to rotate)."""
    runs = sorted(path for path in artifacts.iterdir()
                  if path.is_dir() and (m := RUN_DIR.match(path.name)) and m.group("set") == set_name)
    for old in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def secrets_of(args: argparse.Namespace) -> list[str]:
    """Strings that must never be printed, mailed or pinged: the vault password (when it is a file)."""
    path = args.vault_password_file
    if not path or os.access(path, os.X_OK):  # an executable is a script that prints the password
        return []
    try:
        value = Path(path).read_text().strip()
    except OSError:
        return []
    return [value] if len(value) >= 4 else []


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def check_registry(args: argparse.Namespace, root: Path, result: PlaybookResult) -> None:
    """ansible-playbook failed without a recap: ask ansible-inventory whether the registry is why."""
    if result.rc == 0 or result.timed_out or result.stats or result.problems:
        return
    try:
        read_inventory(args.inventory, root, args.vault_password_file)
    except InventoryError as err:
        result.invalid_registry = str(err)


def tenant_problem(args: argparse.Namespace, root: Path, playbooks: list[Path]) -> str | None:
    """What is wrong with --tenant and the playbooks named, before anything runs (None: nothing)."""
    tenant_playbook = (root / "playbooks" / "tenant.yml").resolve()
    names_tenant = [playbook.resolve() == tenant_playbook for playbook in playbooks]
    if not getattr(args, "tenant", None):
        return "playbooks/tenant.yml needs --tenant NAME" if any(names_tenant) else None
    if not all(names_tenant):
        return (f"--tenant {args.tenant} runs playbooks/tenant.yml: name that playbook alone "
                f"(psf-infra run tenant --tenant {args.tenant})")
    try:
        tenants = read_inventory(args.inventory, root, args.vault_password_file).tenants
    except InventoryError:
        return None  # the run reports an invalid registry itself (exit 3)
    if args.tenant not in tenants:
        return (f"--tenant {args.tenant}: no such tenant in {args.inventory} (the tenants are: "
                f"{', '.join(sorted(tenants)) or 'none'})")
    return None


def command_run(args: argparse.Namespace) -> int:
    return run_and_report(args)[0]


def run_and_report(args: argparse.Namespace) -> tuple[int, RunSummary | None]:
    """`psf-infra run`: the playbooks under their locks, the report printed, pinged and mailed."""
    root = project_root()
    args.inventory = resolve_inventory(root, args.inventory)
    playbooks = [resolve_playbook(root, name) for name in args.playbooks]
    problem = tenant_problem(args, root, playbooks)
    if problem:
        print(f"psf-infra: {problem}", file=sys.stderr)
        return EXIT_USAGE, None
    artifacts = Path(args.artifacts or root / ".cache" / "runs").resolve()
    set_name = "+".join(p.stem for p in playbooks)
    secrets = secrets_of(args)
    try:
        with playbook_locks(artifacts / ".locks", lock_names(playbooks)):
            summary_, problems = run_set(args, root, playbooks, artifacts, set_name, secrets)
    except Locked as held:
        print(f"psf-infra: another run (pid {held.holder}) holds the lock of playbook '{held.name}' "
              f"({held.path}); skipping", file=sys.stderr)
        return EXIT_LOCKED, None
    lines = [redact(line, secrets) for line in summary_.report_lines()]
    if not args.cron or summary_.result in NOTEWORTHY:
        for line in lines:
            print(f"psf-infra: {line}")
    for problem in problems:
        print(f"psf-infra: {problem}", file=sys.stderr)
    report = "\n".join(lines) + "\n"
    if args.heartbeat_url:
        from psf_infra_runner import notify

        notify.ping(args.heartbeat_url, "fail" if summary_.result in FAILURES else "success", report)
    if args.mail_to and summary_.result in NOTEWORTHY:
        from psf_infra_runner import notify

        mode = " --check" if args.check else ""
        notify.send_mail(
            smtp=args.smtp, sender=args.mail_from or notify.default_sender(), recipients=args.mail_to,
            subject=f"psf-infra {set_name}{mode}: {summary_.result} on {socket.gethostname()}",
            body=report,
        )
    return summary_.exit_code, summary_


def run_set(args: argparse.Namespace, root: Path, playbooks: list[Path], artifacts: Path, set_name: str,
            secrets: list[str]) -> tuple[RunSummary, list[str]]:
    """Run the playbooks in order (under their locks); stops at the first that did not do its work."""
    from psf_infra_runner import execution, metrics

    started, wall = time.monotonic(), time.time()
    deadline = started + args.timeout if args.timeout else None
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(wall))
    run_dir = Path(tempfile.mkdtemp(prefix=f"{stamp}-{set_name}-", dir=artifacts))
    private_dir = Path(tempfile.mkdtemp(prefix=".private-", dir=run_dir))  # this run's own, removed below
    problems: list[str] = []
    if args.heartbeat_url:
        from psf_infra_runner import notify

        notify.ping(args.heartbeat_url, "start")
    signalled, restore = catch_stop_signals()
    results: list[PlaybookResult] = []
    try:
        for playbook in playbooks:
            if signalled():
                break
            run = execution.PlaybookRun(
                root=root, inventory=args.inventory, run_dir=run_dir, private_dir=private_dir,
                check=args.check, diff=args.diff, limit=args.limit, tags=args.tags,
                vault_password_file=args.vault_password_file, quiet=args.quiet or args.cron, deadline=deadline,
                collect_changes=getattr(args, "collect_changes", False), tenant=getattr(args, "tenant", None),
            )
            result = execution.run_playbook(playbook, run, signalled)
            check_registry(args, root, result)
            for problem in result.problems.values():
                problem.message = redact(problem.message, secrets)
            results.append(result)
            if args.metrics_dir:
                try:
                    metrics.write(Path(args.metrics_dir), result, args.stale_after)
                except OSError as err:
                    problems.append(f"metrics not written to {args.metrics_dir}: {err}")
            if result.result in FAILURES or result.status == "canceled":
                break
        interrupted = signalled()
    finally:
        restore()
        shutil.rmtree(private_dir, ignore_errors=True)
    done = {r.playbook for r in results}
    not_run = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in playbooks]
    not_run = [name for name in not_run if name not in done]
    summary_ = RunSummary.build(
        run_id=run_dir.name, playbooks=list(args.playbooks), started=wall, seconds=time.monotonic() - started,
        check=args.check, run_dir=str(run_dir), results=results, not_run=not_run, timeout_seconds=args.timeout,
        interrupted=interrupted,
    )
    write_summary(summary_, run_dir, artifacts)
    rotate(artifacts, set_name, max(args.keep, 1))  # never the run just written
    return summary_, problems


def command_drift(args: argparse.Namespace) -> int:
    """The playbooks (default: site) in check + diff mode, then the report per tenant (docs/runner.md)."""
    from psf_infra_runner import drift

    root = project_root()
    args.check = args.diff = args.collect_changes = True
    args.playbooks = args.playbooks or ["site"]
    code, summary_ = run_and_report(args)
    if summary_ is None:
        return code
    try:
        inventory = read_inventory(args.inventory, root, args.vault_password_file)
    except InventoryError as err:
        print(f"psf-infra: {err}", file=sys.stderr)
        return EXIT_INVALID_REGISTRY
    report = drift.DriftReport.build(
        inventory=os.path.relpath(args.inventory, root), run_id=summary_.run_id, result=summary_.result,
        changes=[change for result in summary_.results for change in result.changes],
        owners=drift.Owners(inventory.hostvars, inventory.tenants),
    )
    output = Path(args.output or root / ".cache" / "status" / "drift").resolve()
    drift.write_reports(report, output)
    secrets = secrets_of(args)
    if not args.cron or report.drifted or summary_.result in NOTEWORTHY:
        for line in report.lines():
            print(f"psf-infra: drift: {redact(line, secrets)}")
        print(f"psf-infra: drift report: {output}/index.html (and index.md, drift.json)")
    return code


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options `run` and `drift` share."""
    parser.add_argument("-i", "--inventory", default="inventories/lab")
    parser.add_argument("-l", "--limit")
    parser.add_argument("-t", "--tags")
    parser.add_argument("--tenant", metavar="NAME",
                        help="one tenant end to end: runs playbooks/tenant.yml -e tenant=NAME (name the playbook "
                             "`tenant`); the others' zones, keys and targets are left as they are")
    parser.add_argument("--vault-password-file")
    parser.add_argument("--timeout", type=parse_duration, metavar="DURATION",
                        help="stop the run after this long (90s, 30m, 2h): ansible-playbook is interrupted, "
                             "its workers with it, the run reported as timed out (exit 124)")
    parser.add_argument("--artifacts", help="where runs are kept (default .cache/runs)")
    parser.add_argument("--keep", type=int, default=30, help="how many runs of this playbook set to keep")
    parser.add_argument("-q", "--quiet", action="store_true", help="no playbook output, only the report")
    parser.add_argument("--cron", action="store_true",
                        help="quiet; print the report only when something changed, drifted or failed")
    parser.add_argument("--metrics-dir", default=os.environ.get("PSF_INFRA_METRICS_DIR"), metavar="DIR",
                        help="write Prometheus textfile metrics of each playbook's last run here "
                             "(the node exporter's textfile directory; env PSF_INFRA_METRICS_DIR)")
    parser.add_argument("--stale-after", type=parse_duration, default=parse_duration("26h"), metavar="DURATION",
                        help="the cron job's interval plus slack: PsfInfraRunMissing fires when no run has started "
                             "for this long (default 26h; e.g. 2h for a job every 30 minutes)")
    parser.add_argument("--heartbeat-url", metavar="URL",
                        help="healthchecks-style pings: URL/start, then URL (success) or URL/fail with the report")
    parser.add_argument("--mail-to", action="append", metavar="ADDRESS",
                        help="mail the report here when something changed, drifted or failed (repeatable)")
    parser.add_argument("--mail-from", metavar="ADDRESS", help="sender of the report mail (default psf-infra@<fqdn>)")
    parser.add_argument("--smtp", default="localhost:25", metavar="HOST:PORT",
                        help="mail relay (default localhost:25)")


def command_validate(args: argparse.Namespace) -> int:
    """Loads the registry exactly as the inventory plugin does; prints every problem at once."""
    root = project_root()
    args.inventory = resolve_inventory(root, args.inventory)
    try:
        inventory = read_inventory(args.inventory, root, args.vault_password_file)
    except InventoryError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_REGISTRY
    print(f"psf-infra: {args.inventory}: {len(inventory.tenants)} tenants valid, {len(inventory.hostvars)} hosts")
    return EXIT_OK


def vault_option(args: argparse.Namespace) -> list[str]:
    return ["--vault-password-file", args.vault_password_file] if args.vault_password_file else []


def command_summary(args: argparse.Namespace) -> int:
    return summary.main(["--inventory", args.inventory, *vault_option(args)])


def command_status(args: argparse.Namespace) -> int:
    return status.main(["--inventory", args.inventory, *vault_option(args),
                        *(["--output", args.output] if args.output else []),
                        *(["--metrics-dir", args.metrics_dir] if args.metrics_dir else []),
                        "--stale-after", str(args.stale_after), "--monitoring", args.monitoring])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psf-infra", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run", help="run playbooks through ansible-runner", epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run playbooks in order through ansible-runner; stops at the first that fails.",
    )
    run.add_argument("playbooks", nargs="+", help="playbook names (dns, certificates, site, ...)")
    add_run_options(run)
    run.add_argument("-C", "--check", action="store_true", help="plan only (check mode); changes found exit 5")
    run.add_argument("-D", "--diff", action="store_true", help="show what changes")
    run.set_defaults(func=command_run)

    drift = sub.add_parser(
        "drift", help="the site in check + diff mode; a report per tenant of what differs (exit 5: drift)",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the playbooks (default: site) with --check --diff, then write a report per tenant "
                    "(Markdown, HTML, JSON) of every change the run would make.",
    )
    drift.add_argument("playbooks", nargs="*", help="playbook names (default: site)")
    add_run_options(drift)
    drift.add_argument("-o", "--output", metavar="DIR",
                       help="where the report goes (default .cache/status/drift; index.html, <tenant>.html, ...)")
    drift.set_defaults(func=command_drift)

    validate = sub.add_parser("validate", help="validate the tenant registry of an inventory (exit 3 when invalid)")
    validate.add_argument("-i", "--inventory", default="inventories/lab")
    validate.add_argument("--vault-password-file", help="the inventory's vault password (production)")
    validate.set_defaults(func=command_validate)

    summary = sub.add_parser("summary", help="per-tenant summary of what exists")
    summary.add_argument("-i", "--inventory", default="inventories/lab")
    summary.add_argument("--vault-password-file", help="the inventory's vault password (production)")
    summary.set_defaults(func=command_summary)

    page = sub.add_parser("status", help="the tenant status page: HTML per tenant and status.json (docs/status.md)")
    page.add_argument("-i", "--inventory", default="inventories/lab")
    page.add_argument("-o", "--output", metavar="DIR", help="where the page goes (default .cache/status)")
    page.add_argument("--vault-password-file", help="the inventory's vault password (production)")
    page.add_argument("--metrics-dir", default=os.environ.get("PSF_INFRA_METRICS_DIR"), metavar="DIR",
                      help="write psf_infra_run_status.prom there (the timer's PsfInfraRunMissing/Failing alerts)")
    page.add_argument("--stale-after", type=parse_duration, default=parse_duration("1h"), metavar="DURATION",
                      help="the timer's promise: a new page within this long (default 1h)")
    page.add_argument("--monitoring", choices=["auto", "always", "never"], default="auto",
                      help="read the VMs' backups and the apps' probes from Prometheus on the monitoring server "
                           "(playbooks/status-facts.yml); auto: when the inventory has one and is not the lab")
    page.set_defaults(func=command_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"psf-infra: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
