#!/usr/bin/env bash
# scripts/build-image.sh — the Cubby door image for a Raspberry Pi 4 (arm64, Debian bookworm).
#
# usage: scripts/build-image.sh [--deb PATH] [--output DIR] [--keep-work]
#   --deb     the cubby arm64 .deb to install (default: build one with scripts/build-deb.sh
#             --target aarch64-unknown-linux-gnu, release profile)
#   --output  where the image goes (default target/image)
#   --keep-work  keep the root file system folder and partition images (for debugging)
#
# Makes, in the output folder:
#   cubby-<version>-rpi4-arm64.img        the raw image (what scripts/boot-test.sh boots)
#   cubby-<version>-rpi4-arm64.img.xz     what technicians flash, with .sha256
#   cubby-<version>-rpi4-arm64.img.bmap   when bmaptool is installed
#
# From Debian packages only, without a Pi and without Docker: mmdebstrap builds the arm64
# root file system through qemu-user-static (binfmt_misc is mounted when absent), then the
# FAT boot partition (firmware, kernel, initrd, config.txt, cmdline.txt) and the ext4 root
# are made from folders (mkfs.vfat + mcopy, mkfs.ext4 -d): no loop device, no mount.
# The initrd is made once, after every package is in (mkinitramfs is the slow part under
# emulation: each package that touches it would otherwise make it again).
# What the image adds to the packages is in image/ (see image/README.md). No secret, token
# or enrollment is in the image: every card enrolls as its own door at first boot.
#
# Needs root (mmdebstrap's root mode and files owned by root in the image) and apt-get to
# install the tools it uses. Time on 2 cores: see the per-step seconds it prints.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MIRROR="${CUBBY_IMAGE_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${CUBBY_IMAGE_SECURITY:-http://deb.debian.org/debian-security}"
SUITE=bookworm
BOOT_MB=256
# Packages of the image beside cubby's own dependencies (the .deb brings those) and
# systemd-resolved (DNS from DHCP for systemd-networkd), installed with the .deb in the
# customize step: it turns /etc/resolv.conf into its stub link, after which apt inside
# the chroot can no longer resolve the mirror.
PACKAGES=(
    linux-image-arm64 raspi-firmware initramfs-tools zstd
    systemd systemd-sysv systemd-timesyncd udev kmod dbus tzdata
    iproute2 wpasupplicant wireless-regdb ca-certificates
    openssh-server
    e2fsprogs cloud-guest-utils dosfstools fdisk
    fonts-dejavu-core
    firmware-brcm80211
)

deb="" output="target/image" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --deb)
        deb="${2:?--deb needs a path}"
        shift 2
        ;;
    --output)
        output="${2:?--output needs a folder}"
        shift 2
        ;;
    --keep-work)
        keep=1
        shift
        ;;
    -h | --help)
        sed -n '2,24p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "[build-image] unknown argument: $1 (try --help)" >&2
        exit 2
        ;;
    esac
done

log() { printf '[build-image] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
start=$(date +%s)
current="start"
step() {
    current="$*"
    log "== $* ($(($(date +%s) - start)) s)"
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo): the image's files must belong to root"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "no version in Cargo.toml"
name="cubby-${version}-rpi4-arm64"

step "tools: mmdebstrap, qemu-user-static, binfmt, mkfs, mtools, xz"
tools=(mmdebstrap binfmt-support dosfstools mtools fdisk e2fsprogs xz-utils arch-test)
missing=()
for p in "${tools[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        die "could not install ${missing[*]} (apt-get)"
fi
# shellcheck source=scripts/qemu-apt.sh
. scripts/qemu-apt.sh
qemu_apt_install qemu-user-static || die "could not install qemu-user-static"
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
        die "cannot mount binfmt_misc: arm64 programs cannot run here"
fi
# Register qemu-aarch64: binfmt-support's database (bookworm's qemu-user-static) or the
# systemd binfmt.d file (qemu-user-binfmt, newer QEMU), which needs systemd-binfmt when
# systemd is not this machine's init (a container).
if ! arch-test arm64 >/dev/null 2>&1; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
if ! arch-test arm64 >/dev/null 2>&1; then
    for conf in /usr/lib/binfmt.d/qemu-aarch64.conf /etc/binfmt.d/qemu-aarch64.conf; do
        [ -f "$conf" ] && /lib/systemd/systemd-binfmt "$conf" 2>/dev/null && break
    done
fi
arch-test arm64 >/dev/null || die "arm64 binaries do not run here (qemu-user-static + binfmt_misc)"

if [ -z "$deb" ]; then
    step "cubby .deb for arm64 (release)"
    deb=$(bash scripts/build-deb.sh --target aarch64-unknown-linux-gnu --profile release | tail -n1)
fi
[ -f "$deb" ] || die "no .deb at $deb"
[ "$(dpkg-deb --field "$deb" Architecture)" = arm64 ] || die "$deb is not an arm64 package"
log "package: $deb"

mkdir -p "$output"
work=$(mktemp -d "$output/work.XXXXXX")
work=$(cd "$work" && pwd)
# On any exit: nothing left mounted under the work folder (mmdebstrap mounts /proc, /sys
# and /dev in the tree and unmounts them itself unless it is killed), the folder removed
# (never across a mount), and on a failure the step it failed in.
cleanup() {
    local rc=$? m
    for m in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
            log "warning: could not unmount $m"
    done
    if [ "$keep" -eq 0 ]; then
        rm -rf --one-file-system "$work"
    else
        log "work folder kept: $work"
    fi
    if [ "$rc" -ne 0 ]; then
        if [ "$writing" -eq 1 ]; then
            rm -f "$img" "$img.xz" "$img.xz.sha256" "$img.bmap"
        fi
        log "FAILED (exit $rc) in step: $current; nothing left mounted, no image from this run in $output"
    fi
}
img="$output/$name.img" writing=0
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
rootfs="$work/rootfs"
cp "$deb" "$work/cubby.deb"
# The corresponding source of this build (the binary links Slint under GPL-3.0).
if git rev-parse --git-dir >/dev/null 2>&1; then
    git archive --format=tar.gz --prefix="cubby-${version}/" -o "$work/source.tar.gz" HEAD
    git rev-parse HEAD >"$work/source-commit"
else
    die "not a git checkout: the image must carry the source of its build (git archive)"
fi

step "root file system (mmdebstrap, arm64 under qemu-user)"
includes=$(
    IFS=,
    echo "${PACKAGES[*]}"
)
# Step marks from inside mmdebstrap (its hooks), with the seconds since the start.
printf '#!/bin/sh\necho "[build-image] == $* ($(($(date +%%s) - %s)) s)" >&2\n' "$start" >"$work/mark"
# force-confold: the essential hooks write /etc/default/raspi-firmware before the package
# brings its own, and dpkg must keep ours without asking.
mmdebstrap --mode=root --arch=arm64 --variant=apt --format=directory \
    --components="main non-free-firmware" \
    --dpkgopt=force-confdef --dpkgopt=force-confold \
    --include="$includes" \
    --essential-hook="sh $work/mark 'essential packages in; the others'" \
    --essential-hook='mkdir -p "$1/boot/firmware" "$1/etc/initramfs-tools/conf.d" "$1/etc/default"' \
    --essential-hook='printf "%s\n" "COMPRESS=zstd" "MODULES=most" "FSTYPE=ext4" >"$1/etc/initramfs-tools/conf.d/cubby.conf"' \
    --essential-hook='printf "%s\n" "ROOTPART=LABEL=cubby-root" "CONSOLES=tty1" >"$1/etc/default/raspi-firmware"' \
    --essential-hook="cp image/config.txt \"\$1/etc/default/raspi-firmware-custom\"" \
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
    --essential-hook='ln -s /bin/true "$1/usr/sbin/update-initramfs"' \
    --customize-hook="sh $work/mark 'all packages in; image/overlay, the cubby .deb'" \
    --customize-hook="cp -r image/overlay/. \"\$1/\"" \
    --customize-hook="cp \"$work/cubby.deb\" \"\$1/tmp/cubby.deb\"" \
    --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/cubby.deb systemd-resolved' \
    --customize-hook='rm -f "$1/tmp/cubby.deb"' \
    --customize-hook='rm "$1/usr/sbin/update-initramfs"' \
    --customize-hook='chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
    --customize-hook="sh $work/mark 'initrd (mkinitramfs under qemu-user: the slow part)'" \
    --customize-hook='chroot "$1" update-initramfs -c -k all' \
    --customize-hook="sh $work/mark 'image/customize.sh'" \
    --customize-hook="bash image/customize.sh \"\$1\" \"$work\" \"$version\"" \
    "$SUITE" "$rootfs" \
    "deb $MIRROR $SUITE main non-free-firmware" \
    "deb $MIRROR $SUITE-updates main non-free-firmware" \
    "deb $SECURITY $SUITE-security main non-free-firmware"

[ -f "$rootfs/boot/firmware/config.txt" ] || die "raspi-firmware wrote no config.txt"
ls "$rootfs"/boot/firmware/initrd.img* >/dev/null 2>&1 || die "no initrd in /boot/firmware"
# The GPIO UART is the fingerprint reader's: no kernel console on it (only the screen, tty1).
if grep -Eq 'console=(serial|ttyS|ttyAMA)' "$rootfs/boot/firmware/cmdline.txt"; then
    die "cmdline.txt puts a console on the UART: $(cat "$rootfs/boot/firmware/cmdline.txt")"
fi

step "boot partition (FAT32, ${BOOT_MB} MiB)"
boot="$work/boot.vfat"
rm -f "$boot"
mkfs.vfat -F 32 -n CUBBYBOOT -C "$boot" $((BOOT_MB * 1024)) >/dev/null
mcopy -s -p -m -i "$boot" "$rootfs"/boot/firmware/* ::/
find "$rootfs/boot/firmware" -mindepth 1 -delete

step "root partition (ext4 from the folder)"
used_mb=$(du -sm --apparent-size "$rootfs" | cut -f1)
root_mb=$((used_mb * 5 / 4 + 384))
root="$work/root.ext4"
rm -f "$root"
mkfs.ext4 -q -L cubby-root -d "$rootfs" -E lazy_itable_init=0 "$root" "${root_mb}M"

step "disk image (MBR: boot + root)"
writing=1
start_mb=4
total_mb=$((start_mb + BOOT_MB + root_mb + 1))
rm -f "$img" "$img.xz" "$img.xz.sha256" "$img.bmap"
truncate -s "${total_mb}M" "$img"
sfdisk --quiet "$img" <<EOF
label: dos
unit: sectors
start=$((start_mb * 2048)), size=$((BOOT_MB * 2048)), type=c, bootable
start=$(((start_mb + BOOT_MB) * 2048)), size=$((root_mb * 2048)), type=83
EOF
dd if="$boot" of="$img" bs=1M seek="$start_mb" conv=notrunc,sparse status=none
dd if="$root" of="$img" bs=1M seek=$((start_mb + BOOT_MB)) conv=notrunc,sparse status=none

step "compress (xz), checksum, block map"
if command -v bmaptool >/dev/null 2>&1; then
    bmaptool create -o "$img.bmap" "$img"
fi
xz -T0 -3 -k -f "$img"
(cd "$output" && sha256sum "$name.img.xz" >"$name.img.xz.sha256")
step "done: $img.xz ($(du -h "$img.xz" | cut -f1); raw $(du -h --apparent-size "$img" | cut -f1))"
echo "$img"
