#!/usr/bin/env bash
# Build the standard VM image: a bootable Debian bookworm qcow2 (kernel, cloud-init, SSH, the Python
# Ansible needs, and the packages the tenant VM roles install), from Debian's repositories with
# debootstrap, without mounting anything and without loop devices (docs/vms.md, "The standard image").
#
#   lab/build-vm-image.sh            # builds when missing or outdated, otherwise returns at once
#   lab/build-vm-image.sh --force    # rebuilds
#   lab/build-vm-image.sh --path     # prints the image's path (built or not) and exits
#   lab/build-vm-image.sh --recipe   # prints the recipe hash of this script and its package list
#
# The disk (IMAGE_MIB, MBR):
#   partition 1, 128 MiB FAT16, bootable: syslinux, its configuration, vmlinuz and initrd.img
#                (mounted at /boot/firmware in the guest; kernel hooks copy new kernels there)
#   partition 2, the rest, ext4: the root file system, the last partition so growpart can grow it
# sfdisk writes the partition table into the file, mkfs.fat and mkfs.ext4 make the file systems at
# their offsets (mkfs.ext4 -d copies the debootstrap tree in), mtools copies the kernel onto the FAT,
# syslinux installs its boot sector there and its MBR code goes in the first 440 bytes; then
# qemu-img converts the raw disk to qcow2.
#
# The image is cached in <repo>/.cache/vm-image/: psf-debian-12.qcow2 and psf-debian-12.recipe (the
# recipe hash: this script, lab/debian-rootfs.sh, lab/vm-image-packages.txt, the suite). It is rebuilt only when the
# recipe changes (or with --force); a newer package in the mirror alone does not rebuild it.
#
# Settings (environment): PSF_DEBIAN_MIRROR (default: the Debian mirror apt uses on this machine),
# PSF_VM_IMAGE_DIR (default <repo>/.cache/vm-image).
set -euo pipefail

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd -P)
out_dir=${PSF_VM_IMAGE_DIR:-$repo_root/.cache/vm-image}
image="$out_dir/psf-debian-12.qcow2"
stamp="$out_dir/psf-debian-12.recipe"
packages_file="$repo_root/lab/vm-image-packages.txt"
suite=bookworm
image_mib=2048
boot_mib=128

die() { printf 'build-vm-image: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'build-vm-image: %s\n' "$*" >&2; }

[ -r "$packages_file" ] || die "cannot read $packages_file"
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$packages_file" | grep -v '^$')
recipe=$({ cat "$0" "$(dirname "$0")/debian-rootfs.sh" "$packages_file"; printf '%s\n' "$suite"; } \
    | sha256sum | cut -c1-16)

case "${1:-}" in
    --path) printf '%s\n' "$image"; exit 0 ;;
    --recipe) printf '%s\n' "$recipe"; exit 0 ;;
    --force) force=true ;;
    '') force=false ;;
    *) die "unknown argument ${1} (--force, --path, --recipe)" ;;
esac

image_is_current() { [ -f "$image" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$recipe" ]; }

if ! $force && image_is_current; then
    note "$image is up to date (recipe $recipe)"
    exit 0
fi

# One build at a time (several test sessions may ask at once); the others wait, then find it built.
mkdir -p "$out_dir"
exec 9>"$out_dir/build.lock"
flock 9
if ! $force && image_is_current; then
    note "$image was built meanwhile (recipe $recipe)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap and chroot need root"
for tool in debootstrap sfdisk mkfs.fat mkfs.ext4 mcopy syslinux qemu-img; do
    command -v "$tool" >/dev/null \
        || die "$tool is not installed (the packages of lab/apt-packages.txt: make deps)"
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$mbr" ] || die "$mbr is missing (apt-get install syslinux-common)"

# shellcheck source=lab/debian-rootfs.sh
. "$(dirname "$0")/debian-rootfs.sh"
debian_mirrors

started=$SECONDS
work=$(mktemp -d "$out_dir/build.XXXXXX")
rootfs="$work/rootfs"
log="$out_dir/build.log"
: >"$log"
trap rootfs_cleanup EXIT
failed() { tail -n 40 "$log" >&2; die "$1 failed (log above, whole: $log)"; }

in_rootfs() { LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$rootfs" "$@"; }
# A step whose output goes to the log; its failure ends the build, naming it.
run() { "$@" >>"$log" 2>&1 || failed "${*:1:4}"; }

note "debootstrap $suite (minbase) from $mirror"
run debootstrap --variant=minbase "$suite" "$rootfs" "$mirror"

mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
rm -f "$rootfs/etc/resolv.conf"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# no service starts inside the chroot
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
write_debian_sources "$rootfs" "$suite"

# The boot partition's file system: its kernel hooks (below) copy every new kernel there.
boot_uuid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n' | tr a-f A-F)
root_uuid=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$rootfs/boot/firmware"
cat >"$rootfs/etc/fstab" <<FSTAB
# the standard image (psf.infra lab/build-vm-image.sh)
UUID=$root_uuid / ext4 errors=remount-ro 0 1
UUID=${boot_uuid:0:4}-${boot_uuid:4:4} /boot/firmware vfat umask=0077,nofail 0 2
FSTAB
mkdir -p "$rootfs/etc/kernel/postinst.d" "$rootfs/etc/initramfs/post-update.d"
cat >"$rootfs/usr/local/sbin/psf-boot-firmware" <<'HOOK'
#!/bin/sh
# Copies the newest kernel and its initrd to the boot partition (/boot/firmware), where syslinux
# loads them as vmlinuz and initrd.img (psf.infra's standard image; as Debian's Raspberry Pi images).
set -e
mountpoint -q /boot/firmware || exit 0
version=$(linux-version list | linux-version sort | tail -n 1)
[ -n "$version" ] && [ -e "/boot/initrd.img-$version" ] || exit 0
cp "/boot/vmlinuz-$version" /boot/firmware/vmlinuz.new && mv /boot/firmware/vmlinuz.new /boot/firmware/vmlinuz
cp "/boot/initrd.img-$version" /boot/firmware/initrd.new && mv /boot/firmware/initrd.new /boot/firmware/initrd.img
HOOK
chmod 0755 "$rootfs/usr/local/sbin/psf-boot-firmware"
ln -s /usr/local/sbin/psf-boot-firmware "$rootfs/etc/kernel/postinst.d/zz-psf-boot-firmware"
ln -s /usr/local/sbin/psf-boot-firmware "$rootfs/etc/initramfs/post-update.d/psf-boot-firmware"

note "installing ${#packages[@]} packages (and their dependencies)"
run in_rootfs apt-get update
run in_rootfs apt-get -y dist-upgrade
run in_rootfs apt-get -y --no-install-recommends install "${packages[@]}"
run in_rootfs apt-get clean

kernel_version=$(in_rootfs linux-version list | in_rootfs linux-version sort | tail -n 1)
[ -n "$kernel_version" ] && [ -e "$rootfs/boot/initrd.img-$kernel_version" ] \
    || failed "the kernel's installation (no /boot/initrd.img-*)"

# cloud-init: only the NoCloud seed (no probing of other clouds at every boot), the first boot's
# host keys made by cloud-init, no default user's password.
cat >"$rootfs/etc/cloud/cloud.cfg.d/90-psf-infra.cfg" <<'CLOUD'
# psf.infra standard image: the seed is psf.infra.vm's NoCloud CD-ROM (label cidata)
datasource_list: [NoCloud, None]
# /etc/hosts names the FQDN of the seed (hostname -f, Ansible's facts, sudo without DNS)
manage_etc_hosts: true
# C.UTF-8 needs no locale-gen (minutes under TCG for en_US.UTF-8)
locale: C.UTF-8
CLOUD
# Per-machine identity is made at first boot: machine ID, SSH host keys, host name.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/hostname" "$rootfs"/etc/ssh/ssh_host_*
run in_rootfs systemctl enable systemd-networkd.service systemd-resolved.service
# nginx is there for the app role (no mirror is needed to make an app VM); a VM without an app
# runs no web server: the role enables it where it publishes an app
run in_rootfs systemctl disable nginx.service
rm -f "$rootfs/etc/resolv.conf" "$rootfs/usr/sbin/policy-rc.d"
ln -s ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/*
umount "$rootfs/sys" "$rootfs/proc"

note "making the disk (${image_mib} MiB: ${boot_mib} MiB FAT boot partition, ext4 root)"
disk="$work/disk.raw"
boot_start=2048                                 # sectors of 512 bytes: 1 MiB
boot_sectors=$((boot_mib * 2048))
root_start=$((boot_start + boot_sectors))
root_sectors=$((image_mib * 2048 - root_start))
truncate -s "${image_mib}M" "$disk"
printf 'label: dos\nstart=%s, size=%s, type=e, bootable\nstart=%s, size=%s, type=83\n' \
    "$boot_start" "$boot_sectors" "$root_start" "$root_sectors" >"$work/partitions"
run sfdisk --quiet "$disk" <"$work/partitions"
run dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none
run mkfs.fat -F 16 -n PSFBOOT -i "$boot_uuid" --offset "$boot_start" "$disk" $((boot_sectors / 2))
cat >"$work/syslinux.cfg" <<SYSLINUX
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8
SYSLINUX
cp "$rootfs/boot/vmlinuz-$kernel_version" "$work/vmlinuz"
cp "$rootfs/boot/initrd.img-$kernel_version" "$work/initrd.img"
MTOOLS_SKIP_CHECK=1 run mcopy -i "$disk@@$((boot_start * 512))" \
    "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.img" ::/
run syslinux --offset $((boot_start * 512)) --install "$disk"
run mkfs.ext4 -q -F -L psf-root -U "$root_uuid" -E offset=$((root_start * 512)) -d "$rootfs" \
    "$disk" $((root_sectors / 2))k

note "converting to qcow2"
run qemu-img convert -f raw -O qcow2 -c "$disk" "$work/image.qcow2"
chmod 0644 "$work/image.qcow2"
mv -f "$work/image.qcow2" "$image"
printf '%s\n' "$recipe" >"$stamp"
note "built $image in $((SECONDS - started)) s (recipe $recipe, kernel $kernel_version," \
     "$(du -h "$image" | cut -f1) on disk)"
