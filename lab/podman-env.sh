#!/usr/bin/env bash
# Write the containers.conf that podman needs on the project's machines and print the
# line that points podman at it:
#
#   eval "$(lab/podman-env.sh)"
#
# Why each setting (measured, see docs/lab.md "Facts measured on these machines"): crun fails on this
# cgroups-v1 hybrid host, so runc + cgroupfs; there is no journald, so the file events logger;
# podman's built-in default ulimits exceed the hard limits here, so they are set explicitly from
# the limits of the calling shell; and only the netavark network backend (with aardvark-dns) gives
# an `internal` network DNS, which the lab's machines and the multi-host Molecule scenarios need
# to find each other by name (podman 4.3 falls back to CNI, without DNS on internal networks,
# whenever netavark is not installed or CNI networks already exist). The file is rewritten only
# when its content would change.
#
# A machine that ran the lab or Molecule under CNI before has the project's networks (psf-lab-*,
# psf-molecule-*) in /etc/cni/net.d and containers attached to them, which netavark cannot start.
# Those are the project's own throw-away machines: they are removed here (the next site run or
# Molecule scenario makes them again, on netavark), and said so. Nothing else of podman's is
# touched.
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

[network]
network_backend = "netavark"
CONF
)

if [ ! -f "$conf_file" ] || [ "$(cat "$conf_file")" != "$content" ]; then
    mkdir -p "$conf_dir"
    tmp="$conf_file.tmp.$$"
    printf '%s\n' "$content" >"$tmp"
    mv -f "$tmp" "$conf_file"
fi

note() { printf 'podman-env: %s\n' "$*" >&2; }

# netavark and aardvark-dns come from lab/apt-packages.txt; without them podman would fail later
# with a message that does not say what to install.
if command -v podman >/dev/null; then
    for helper in netavark aardvark-dns; do
        if [ ! -x "/usr/lib/podman/$helper" ] && ! command -v "$helper" >/dev/null; then
            note "error: podman's $helper is not installed: apt-get install netavark aardvark-dns (both are in lab/apt-packages.txt; 'make deps' installs them)"
            exit 1
        fi
    done
    # netavark runs iptables for every network without depending on it (measured: a fresh machine
    # without it fails every container start with "netavark: No such file or directory").
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v iptables >/dev/null; then
        note "error: iptables is not installed, and podman's netavark needs it: apt-get install iptables (in lab/apt-packages.txt; 'make deps' installs it)"
        exit 1
    fi
fi

# The project's networks left by the CNI backend, and the containers attached to them.
cni_dir=${PSF_CNI_CONFIG_DIR:-/etc/cni/net.d}
shopt -s nullglob
cni_leftovers=("$cni_dir"/psf-lab-*.conflist "$cni_dir"/psf-molecule-*.conflist)
shopt -u nullglob
if [ "${#cni_leftovers[@]}" -gt 0 ] && command -v podman >/dev/null; then
    # Removed through the CNI backend that made them, so their network namespaces are torn down.
    cni_conf="$conf_dir/containers.cni.conf"
    printf '%s\n' "${content/network_backend = \"netavark\"/network_backend = \"cni\"}" >"$cni_conf"
    for conflist in "${cni_leftovers[@]}"; do
        network=$(basename "$conflist" .conflist)
        mapfile -t attached < <(CONTAINERS_CONF=$cni_conf podman ps --all --filter "network=$network" --format '{{.Names}}')
        note "switching podman to netavark: removing the CNI network $network${attached[*]:+ and its containers ${attached[*]}} (made again on the next run)"
        [ "${#attached[@]}" -eq 0 ] || CONTAINERS_CONF=$cni_conf podman rm --force --time 10 "${attached[@]}" >/dev/null
        CONTAINERS_CONF=$cni_conf podman network rm --force "$network" >/dev/null || rm -f -- "$conflist"
    done
    rm -f -- "$cni_conf"
fi

printf 'export CONTAINERS_CONF=%s\n' "$conf_file"
