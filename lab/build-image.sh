#!/usr/bin/env bash
# Build the container image that every Molecule scenario runs: Debian bookworm with systemd as
# PID 1, made with debootstrap (no container registry is reachable from the project's machines).
#
#   lab/build-image.sh            # builds when missing or outdated, otherwise returns at once
#   lab/build-image.sh --force    # rebuilds
#
# Molecule containers run without a network, so the image also carries a small local apt
# repository (/var/lib/psf-molecule-apt) holding the packages listed in
# lab/podman/molecule-packages.txt and their dependencies: roles install their own packages with
# apt as on a real VM, from that repository, offline. The image is labelled with a hash of its
# recipe (recipe_version below, the suite, the package lists); when it changes the image is rebuilt.
#
# Settings (environment): PSF_DEBIAN_MIRROR (default: the Debian mirror apt uses on this
# machine), PSF_MOLECULE_IMAGE (default localhost/psf-infra/debian-systemd:bookworm).
# Everything temporary lives in <repo>/.cache/podman/ and is removed on exit.
set -euo pipefail

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd -P)
image=${PSF_MOLECULE_IMAGE:-localhost/psf-infra/debian-systemd:bookworm}
suite=bookworm
packages_file="$repo_root/lab/podman/molecule-packages.txt"
repo_in_image=/var/lib/psf-molecule-apt
# Generic tools only: the roles under test install what they need themselves.
base_packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,less

die() { printf 'build-image: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'build-image: %s\n' "$*" >&2; }

eval "$("$repo_root/lab/podman-env.sh")"

command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"
[ -r "$packages_file" ] || die "cannot read $packages_file"

# What goes into the image; bump recipe_version when changing how the image is made.
recipe_version=2
mapfile -t role_packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$packages_file" | grep -v '^$' | sort -u)
recipe=$(printf '%s\n' "$recipe_version" "$suite" "$base_packages" "${role_packages[@]}" | sha256sum | cut -c1-16)
force=false
[ "${1:-}" = --force ] && force=true

image_is_current() {
    local current
    current=$(podman image inspect --format '{{ index .Labels "psf.infra.recipe" }}' "$image" 2>/dev/null || true)
    [ "$current" = "$recipe" ]
}

if ! $force && image_is_current; then
    note "$image is up to date (recipe $recipe)"
    exit 0
fi

# One build at a time (several test sessions may ask at once); the others wait, then find it built.
mkdir -p "$repo_root/.cache/podman"
exec 9>"$repo_root/.cache/podman/build.lock"
flock 9
if ! $force && image_is_current; then
    note "$image was built meanwhile (recipe $recipe)"
    exit 0
fi
if podman image exists "$image"; then
    note "$image is outdated (wanted recipe $recipe): rebuilding"
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap and chroot need root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v dpkg-scanpackages >/dev/null || die "dpkg-scanpackages is not installed (apt-get install dpkg-dev)"

# shellcheck source=lab/debian-rootfs.sh
. "$(dirname "$0")/debian-rootfs.sh"
debian_mirrors

started=$SECONDS
previous_image_id=$(podman image inspect --format '{{ .Id }}' "$image" 2>/dev/null || true)
work=$(mktemp -d "$repo_root/.cache/podman/build.XXXXXX")
rootfs="$work/rootfs"
trap rootfs_cleanup EXIT

in_rootfs() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$rootfs" "$@"; }

note "debootstrap $suite from $mirror (about a minute)"
debootstrap --variant=minbase --include="$base_packages" "$suite" "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

mount -t proc proc "$rootfs/proc"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
write_debian_sources "$rootfs" "$suite"

note "bringing the base system up to date and downloading the packages for roles under test"
{
    in_rootfs apt-get update
    in_rootfs apt-get -y dist-upgrade
    in_rootfs apt-get clean
    if [ "${#role_packages[@]}" -gt 0 ]; then
        in_rootfs apt-get -y --download-only install "${role_packages[@]}"
    fi
} >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt in the image failed (log above)"; }

# A flat repository (Packages + Release) that apt reads offline through a file: URI.
repo="$rootfs$repo_in_image"
mkdir -p "$repo"
find "$rootfs/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec mv -t "$repo" {} +
(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages)
{
    printf 'Origin: psf-infra-molecule\nLabel: psf-infra-molecule\nSuite: molecule\n'
    printf 'Date: %s\nSHA256:\n' "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
    printf ' %s %s Packages\n' "$(sha256sum <"$repo/Packages" | cut -d' ' -f1)" "$(stat -c %s "$repo/Packages")"
} >"$repo/Release"
chmod -R a+rX "$repo"

# The image knows only the local repository: containers have no network, and apt must not try.
rm -f "$rootfs/etc/apt/sources.list.d/debian.sources"
cat >"$rootfs/etc/apt/sources.list.d/psf-molecule.sources" <<SOURCES
# Molecule test image: packages come from a repository inside the image (no network).
Types: deb
URIs: file:$repo_in_image
Suites: ./
Trusted: yes
SOURCES
in_rootfs apt-get update >>"$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log" >&2; die "apt-get update against the local repository failed"; }

# Per-container identity is created at first boot; podman provides resolv.conf and hostname.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/var/tmp/*
umount "$rootfs/proc"

note "importing into podman as $image"
tar --numeric-owner --xattrs -C "$rootfs" -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENV container=podman' \
    --change "LABEL psf.infra.recipe=$recipe" \
    --quiet --message "psf.infra Molecule image, recipe $recipe" \
    - "$image" >/dev/null || die "podman import failed"

# Earlier builds left untagged by this one; podman refuses (and keeps) those a container still uses.
mapfile -t stale_images < <(podman images --quiet --filter dangling=true --filter label=psf.infra.recipe)
for stale_image in "${previous_image_id:-}" "${stale_images[@]}"; do
    [ -n "$stale_image" ] && { podman rmi "$stale_image" >/dev/null 2>&1 || true; }
done
note "built $image in $((SECONDS - started)) s ($(du -sh --apparent-size "$rootfs" | cut -f1) unpacked)"
