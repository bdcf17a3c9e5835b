# shellcheck shell=bash
# Sourced by lab/build-image.sh (the podman image) and lab/build-vm-image.sh (the VM image): the
# Debian archive a root file system is made from, and its apt sources. Changing this file changes
# the VM image's recipe (build-vm-image.sh hashes it); bump build-image.sh's recipe_version when a
# change here must rebuild the podman image.

# The first Debian (not -security) archive apt is configured with here, deb822 or one-line.
debian_mirror() {
    local uri
    uri=$(grep -hE '^\s*(URIs:|deb\s)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -oE '(https?|ftp)://[^ ]+/debian/?(\s|$)' | head -n1 | tr -d '[:space:]' || true)
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# Sets mirror (PSF_DEBIAN_MIRROR, else the machine's own, without a final slash) and security_mirror.
# shellcheck disable=SC2034  # both are the callers'
debian_mirrors() {
    mirror=${PSF_DEBIAN_MIRROR:-$(debian_mirror)}
    mirror=${mirror%/}
    security_mirror=${mirror%/debian}/debian-security
}

# write_debian_sources ROOTFS SUITE: the suite, its -updates and -security from those mirrors, signed
# by Debian's archive keyring, as the only apt sources of the root file system.
write_debian_sources() {
    local rootfs=$1 suite=$2
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
}

# On exit (trap rootfs_cleanup EXIT): the file systems mounted in $rootfs unmounted, then the build's
# work directory $work removed, on the same file system only.
# shellcheck disable=SC2154  # rootfs and work are the callers'
rootfs_cleanup() {
    for mount_point in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts"; do
        mountpoint -q "$mount_point" 2>/dev/null && umount -l "$mount_point"
    done
    rm -rf --one-file-system "$work"
}
