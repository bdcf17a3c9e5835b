#!/usr/bin/env bash
# Write the containers.conf that podman needs on the project's machines and print the
# line that points podman at it:
#
#   eval "$(lab/podman-env.sh)"
#
# Why each setting (measured, see LAB-FACTS.md): crun fails on this cgroups-v1 hybrid host,
# so runc + cgroupfs; there is no journald, so the file events logger; and podman's built-in
# default ulimits exceed the hard limits here, so they are set explicitly from the limits of
# the calling shell. The file is rewritten only when its content would change.
set -euo pipefail

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd -P)
conf_dir="$repo_root/.cache/podman"
conf_file="$conf_dir/containers.conf"

nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo "$nproc")
if [ "$nproc" = unlimited ] || { [ "$pid_max" != unlimited ] && [ "$pid_max" -lt "$nproc" ]; }; then
    nproc=$pid_max
fi
if [ "$nofile" = unlimited ]; then
    nofile=1048576
fi

content=$(cat <<CONF
# Written by lab/podman-env.sh -- do not edit; rerun the script instead.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)

if [ ! -f "$conf_file" ] || [ "$(cat "$conf_file")" != "$content" ]; then
    mkdir -p "$conf_dir"
    tmp="$conf_file.tmp.$$"
    printf '%s\n' "$content" >"$tmp"
    mv -f "$tmp" "$conf_file"
fi

printf 'export CONTAINERS_CONF=%s\n' "$conf_file"
