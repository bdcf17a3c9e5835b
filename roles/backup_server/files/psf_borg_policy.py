"""The borg policy of psf.infra, in one place: retention and prune rules, which authorized_keys
lines belong to backup clients, how a retired VM is marked, and when its repository may go.

Two programs use it:

- ``psf-borg-maintain`` on the backup server (the backup_server role installs this file beside
  it, in /usr/local/sbin, where the server has no collection and no Ansible);
- the role's filters on the controller (``filter_plugins/psf_backup.py`` loads it from the role's
  ``files/``).

Pure functions of the standard library only: nothing here reads files, runs borg or imports Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: borg prune's ``--keep-<rule>`` rules, in borg's order.
RETENTION_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
#: The comment the backup_client role puts at the end of each VM's authorized_keys line.
KEY_COMMENT = re.compile(r"\spsf-backup:([A-Za-z0-9][A-Za-z0-9._-]*)\s*$")
#: A repository name (the VM's inventory name); anything else in those directories is not one.
REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: <state_dir>/<repository>.retired records when a VM left (the retention clock of its repository).
MARKER_SUFFIX = ".retired"
SECONDS_PER_DAY = 86400


class MaintenanceError(Exception):
    """A repository could not be maintained; the message says why and what to do."""


# ---- retention and prune ------------------------------------------------------------------------


def retention_for(retention: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]],
                  repo: str) -> dict[str, int]:
    """The keep rules of ``repo``: the defaults, with the rules its override names replaced."""
    override = overrides.get(repo, {})
    return {rule: int(override.get(rule, retention.get(rule, 0))) for rule in RETENTION_RULES}


def prune_arguments(retention: Mapping[str, int]) -> list[str]:
    """``borg prune``'s keep arguments; refused when no rule is above 0 (that prune deletes everything)."""
    arguments = [f"--keep-{rule}={count}" for rule, count in retention.items() if count > 0]
    if not arguments:
        raise MaintenanceError("no retention rule above 0: a prune would delete every archive")
    return arguments


# ---- clients and retired VMs --------------------------------------------------------------------


def is_repository_name(name: object) -> bool:
    return bool(REPOSITORY_NAME.match(str(name)))


def key_names(authorized_keys: str) -> set[str]:
    """Repository names of the psf-backup lines of an authorized_keys file (commented-out lines too)."""
    return {match.group(1) for line in authorized_keys.splitlines() if (match := KEY_COMMENT.search(line))}


def marker_file_name(repo: str) -> str:
    return f"{repo}{MARKER_SUFFIX}"


def marker_repository(path: str) -> str | None:
    """The repository a retirement marker's path (or file name) is about, or None for another file."""
    base = str(path).rsplit("/", 1)[-1]
    return base[: -len(MARKER_SUFFIX)] if base.endswith(MARKER_SUFFIX) else None


def retired_days(marker: Mapping[str, Any], now: float) -> int:
    """Whole days since the VM left (the marker's retired_epoch)."""
    return int((float(now) - float(marker.get("retired_epoch", now))) // SECONDS_PER_DAY)


def retention_expired(marker: Mapping[str, Any], now: float, retention_days: int) -> bool:
    """Whether a retired VM's repository has been kept for its whole retention."""
    return retired_days(marker, now) >= int(retention_days)


def purge_refusal(
    repo: str, marker: Mapping[str, Any] | None, has_key: bool, now: float, retention_days: int, force: bool = False
) -> str | None:
    """Why the repository of `repo` may not be deleted now, or None when it may.

    Only a retired VM (marker written by the backup_server role when it left the inventory) whose
    key line is gone; before the end of its retention only with force.
    """
    if marker is None:
        return (
            f"{repo} is not retired (no marker): only the repository of a VM that left the inventory can be "
            f"purged; the backup_server role writes the marker when it revokes the VM's key"
        )
    if has_key:
        return f"{repo} still has a key line in authorized_keys: it is a backup client again, not retired"
    days = retired_days(marker, now)
    if days < retention_days and not force:
        return (
            f"{repo} left on {marker.get('retired_at', '?')}, {days} days ago: its repository is kept for "
            f"{retention_days} days (retired_retention_days); --force deletes it before"
        )
    return None
