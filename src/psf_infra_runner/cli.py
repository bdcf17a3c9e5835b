"""`psf-infra`: run the psf.infra playbooks through ansible-runner, made for cron.

    psf-infra run dns certificates            # playbooks/dns.yml then playbooks/certificates.yml
    psf-infra run site -i inventories/production --vault-password-file /etc/psf-infra/vault-pass
    psf-infra run certificates --cron         # silent unless something changed or failed
    psf-infra validate -i inventories/production
    psf-infra summary

Each run gets its own ansible-runner artifact directory (kept: the last --keep runs) holding the
playbook output and its events (no_log results censored by Ansible); environment files are not written, so vault
passwords and extra variables never reach the disk. A lock makes overlapping cron runs skip
instead of racing. Exit codes: 0 success, 1 a playbook failed, 2 usage, 3 the registry is
invalid, 75 another run holds the lock (EX_TEMPFAIL: cron may simply try again later).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from psf_infra_runner import summary
from psf_infra_runner.inventory import InventoryError, project_root, read_inventory

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INVALID_REGISTRY = 3
EXIT_LOCKED = 75


def resolve_playbook(root: Path, name: str) -> Path:
    """`dns`, `dns.yml` and `playbooks/dns.yml` all name playbooks/dns.yml."""
    candidates = [Path(name), root / name, root / "playbooks" / name, root / "playbooks" / f"{name}.yml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = sorted(p.stem for p in (root / "playbooks").glob("*.yml"))
    raise UsageError(f"no playbook '{name}' (known: {', '.join(known)})")


class UsageError(Exception):
    pass


@dataclass
class RunResult:
    playbook: str
    status: str
    rc: int
    seconds: float
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    artifact_dir: str = ""

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for counter, per_host in self.stats.items():
            if isinstance(per_host, dict):
                totals[counter] = sum(per_host.values())
        return totals

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def line(self) -> str:
        totals = self.totals()
        counts = " ".join(
            f"{name}={totals.get(name, 0)}" for name in ("ok", "changed", "failures", "dark", "skipped")
        ).replace("failures=", "failed=").replace("dark=", "unreachable=")
        return f"{self.playbook}: {self.status} ({counts}) in {self.seconds:.1f}s, artifacts {self.artifact_dir}"


@contextmanager
def run_lock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_playbook(root: Path, playbook: Path, args: argparse.Namespace, artifacts: Path) -> RunResult:
    import ansible_runner  # imported here: `psf-infra --help` stays fast

    cmdline: list[str] = []
    if args.check:
        cmdline.append("--check")
    if args.diff:
        cmdline.append("--diff")
    if args.vault_password_file:
        cmdline += ["--vault-password-file", str(Path(args.vault_password_file).resolve())]
    # cron's PATH does not have the virtualenv: run the ansible-playbook installed beside us.
    bin_dir = str(Path(sys.executable).parent)
    search_path = os.environ.get("PATH", "/usr/bin:/bin")
    if bin_dir not in search_path.split(os.pathsep):
        os.environ["PATH"] = search_path = os.pathsep.join([bin_dir, search_path])
    envvars = {
        "PATH": search_path,
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    private = artifacts / "private"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(root),
        artifact_dir=str(artifacts),
        playbook=str(playbook),
        inventory=args.inventory,
        limit=args.limit,
        tags=args.tags,
        cmdline=" ".join(cmdline) or None,
        envvars=envvars,
        quiet=args.quiet or args.cron,
        rotate_artifacts=args.keep,
        suppress_env_files=True,
        ident=f"{time.strftime('%Y%m%dT%H%M%S')}-{playbook.stem}",
    )
    return RunResult(
        playbook=str(playbook.relative_to(root)) if playbook.is_relative_to(root) else str(playbook),
        status=runner.status,
        rc=runner.rc,
        seconds=time.monotonic() - started,
        stats=runner.stats or {},
        artifact_dir=str(runner.config.artifact_dir),
    )


def resolve_inventory(root: Path, name: str) -> str:
    """An inventory path as given, or relative to the checkout (so cron can run from anywhere)."""
    for candidate in (Path(name), root / name):
        if candidate.exists():
            return str(candidate.resolve())
    raise UsageError(f"no inventory '{name}'")


def command_run(args: argparse.Namespace) -> int:
    root = project_root()
    args.inventory = resolve_inventory(root, args.inventory)
    playbooks = [resolve_playbook(root, name) for name in args.playbooks]
    artifacts = Path(args.artifacts or root / ".cache" / "runs").resolve()
    with run_lock(artifacts / ".lock") as acquired:
        if not acquired:
            print(f"psf-infra: another run holds {artifacts / '.lock'}; skipping", file=sys.stderr)
            return EXIT_LOCKED
        results: list[RunResult] = []
        for playbook in playbooks:
            result = run_playbook(root, playbook, args, artifacts)
            results.append(result)
            if not result.ok:
                break
    failed = any(not r.ok for r in results)
    changed = any(r.totals().get("changed", 0) for r in results)
    report = artifacts / "last-run.json"
    report.write_text(json.dumps([r.__dict__ for r in results], indent=2, default=str) + "\n")
    if not args.cron or failed or changed:
        for result in results:
            print(f"psf-infra: {result.line()}")
    return EXIT_FAILED if failed else EXIT_OK


def command_validate(args: argparse.Namespace) -> int:
    """Loads the registry exactly as the inventory plugin does; prints every problem at once."""
    root = project_root()
    args.inventory = resolve_inventory(root, args.inventory)
    try:
        inventory = read_inventory(args.inventory, root)
    except InventoryError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_REGISTRY
    print(f"psf-infra: {args.inventory}: {len(inventory.tenants)} tenants valid, {len(inventory.hostvars)} hosts")
    return EXIT_OK


def command_summary(args: argparse.Namespace) -> int:
    return summary.main(["--inventory", args.inventory])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psf-infra", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run playbooks through ansible-runner")
    run.add_argument("playbooks", nargs="+", help="playbook names (dns, certificates, site, ...)")
    run.add_argument("-i", "--inventory", default="inventories/lab")
    run.add_argument("-l", "--limit")
    run.add_argument("-t", "--tags")
    run.add_argument("-C", "--check", action="store_true", help="plan only (check mode)")
    run.add_argument("-D", "--diff", action="store_true", help="show what changes")
    run.add_argument("--vault-password-file")
    run.add_argument("--artifacts", help="where runs are kept (default .cache/runs)")
    run.add_argument("--keep", type=int, default=30, help="how many runs' artifacts to keep")
    run.add_argument("-q", "--quiet", action="store_true", help="no playbook output")
    run.add_argument("--cron", action="store_true",
                     help="quiet; print the recap only when something changed or failed")
    run.set_defaults(func=command_run)

    validate = sub.add_parser("validate", help="validate the tenant registry of an inventory")
    validate.add_argument("-i", "--inventory", default="inventories/lab")
    validate.set_defaults(func=command_validate)

    summary = sub.add_parser("summary", help="per-tenant summary of what exists")
    summary.add_argument("-i", "--inventory", default="inventories/lab")
    summary.set_defaults(func=command_summary)
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
