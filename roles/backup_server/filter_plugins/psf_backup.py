"""Pure functions of the backup_server role: which VMs may reach this server, and what to do with the others.

The role's defaults and tasks call these as filters; tests/unit/test_backup_decisions.py calls
them directly. Nothing here talks to the network or imports Ansible. The borg policy itself (key
lines, retirement markers, retention) is ``files/psf_borg_policy.py``, the file the role installs
beside ``psf-borg-maintain`` on the server: both apply the same rules.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def _load_policy():
    name = "psf_borg_policy"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "files" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


policy = _load_policy()


def clients(hosts: Iterable[str], hostvars: Mapping[str, Any], server: str, default_server: str = "") -> list[str]:
    """Repository names of the backup clients that use `server`, sorted.

    A client's repository is its backup_client_repository_name (default: its inventory name) and
    its server its backup_client_server_host (default: the first host of backup_servers, given as
    `default_server`), as the backup_client role computes them. Both must therefore be set in the
    inventory (host or group vars), not as role parameters, for the server to see them.
    """
    names = set()
    for host in hosts:
        variables = hostvars.get(host, {})
        if str(variables.get("backup_client_server_host") or default_server) != server:
            continue
        names.add(str(variables.get("backup_client_repository_name") or host))
    return sorted(names)


def key_names(authorized_keys: str) -> list[str]:
    """Repository names of the psf-backup lines of an authorized_keys file (commented-out lines too)."""
    return sorted(policy.key_names(authorized_keys))


def plan(
    wanted: Iterable[str],
    keys: Iterable[str],
    repositories: Iterable[str] = (),
    passphrases: Iterable[str] = (),
    markers: Iterable[str] = (),
) -> dict[str, list[str]]:
    """What this run does for the VMs that are not (or again) clients.

    revoke: names with a key line but not wanted (their line goes: no more access);
    retire: names the server holds anything of (line, repository, passphrase) that are not wanted
            and have no retirement marker yet (the marker records the date: the retention clock);
    returned: names with a marker that are wanted again (the marker goes);
    retired: every name that is retired after this run (markers kept or written).
    Repositories and passphrases are never in any deletion list: they stay for the retention period.
    """

    def valid(names: Iterable[str]) -> set[str]:
        # Anything else in those directories (lost+found of a mount point) is not a repository.
        return {str(name) for name in names if policy.is_repository_name(name)}

    wanted_set = valid(wanted)
    keys_set = valid(keys)
    held = keys_set | valid(repositories) | valid(passphrases)
    markers_set = valid(markers)
    departed = held - wanted_set
    return {
        "revoke": sorted(keys_set - wanted_set),
        "retire": sorted(departed - markers_set),
        "returned": sorted(markers_set & wanted_set),
        "retired": sorted((departed | markers_set) - wanted_set),
    }


def marker_names(paths: Iterable[str]) -> list[str]:
    """Repository names from the paths of retirement markers (<state_dir>/<name>.retired)."""
    return sorted(name for path in paths if (name := policy.marker_repository(str(path))) is not None)


def expired(markers: Iterable[Mapping[str, Any]], now: float, retention_days: int) -> list[dict[str, Any]]:
    """The retirement markers older than the retention, each {repository, retired_at, days}, oldest first."""
    found = [{"repository": marker.get("repository"), "retired_at": marker.get("retired_at"),
              "days": policy.retired_days(marker, now)}
             for marker in markers if policy.retention_expired(marker, now, retention_days)]
    return sorted(found, key=lambda item: -item["days"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "psf_backup_clients": clients,
            "psf_backup_key_names": key_names,
            "psf_backup_plan": plan,
            "psf_backup_marker_names": marker_names,
            "psf_backup_expired": expired,
        }
