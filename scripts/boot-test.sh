#!/usr/bin/env bash
# scripts/boot-test.sh IMAGE — boot the Cubby door image under QEMU and check it from outside.
#
# usage: scripts/boot-test.sh target/image/cubby-<version>-rpi4-arm64.img [--out DIR]
#
# Boots the image's own Debian kernel and initrd (taken from its FAT partition) on
# `qemu-system-aarch64 -M virt` (software emulation), the image as a virtio disk behind a
# throw-away qcow2 overlay (the image file is never written), virtio-gpu for DRM so the
# kiosk's linuxkms backend draws, a virtio keyboard and tablet for input, and no network
# (`-nic none`). Checks, through the serial console and QMP:
#   - multi-user.target is reached and cubby.service started (it sends READY once the
#     first screen is up): the boot-to-first-screen time is printed;
#   - a QMP screendump shows the provisioning screen (no setup file): saved as PNG in the
#     output folder and checked not blank.
# Output (default target/boot-test): serial.log, first-screen.png, times.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

img="" out="target/boot-test"
while [ $# -gt 0 ]; do
    case "$1" in
    --out)
        out="${2:?--out needs a folder}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,16p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*)
        echo "[boot-test] unknown argument: $1 (try --help)" >&2
        exit 2
        ;;
    *)
        img="$1"
        shift
        ;;
    esac
done
log() { printf '[boot-test] %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}
[ -f "$img" ] || die "usage: scripts/boot-test.sh IMAGE (no image at '$img')"

apt_install() { # [-t SUITE] PKG...
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
need=()
command -v mcopy >/dev/null || need+=(mtools)
command -v convert >/dev/null || need+=(imagemagick)
command -v python3 >/dev/null || need+=(python3)
command -v debugfs >/dev/null || need+=(e2fsprogs)
command -v sfdisk >/dev/null || need+=(fdisk)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt_install "${need[@]}"
fi
qemu=()
command -v qemu-system-aarch64 >/dev/null || qemu+=(qemu-system-arm)
command -v qemu-img >/dev/null || qemu+=(qemu-utils)
if [ ${#qemu[@]} -gt 0 ]; then
    # QEMU's packages must come from one suite: a newer qemu-utils (bookworm-backports, as
    # some build machines have) breaks bookworm's qemu-system-common.
    suite=()
    case "$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)" in
    *~bpo*)
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        list=/etc/apt/sources.list.d/$codename-backports.list
        if ! grep -rqs -- "$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "qemu-utils is from $codename-backports: adding $list for qemu-system-arm"
            echo "deb http://deb.debian.org/debian $codename-backports main" >"$list"
        fi
        suite=(-t "$codename-backports")
        ;;
    esac
    log "installing ${qemu[*]} ${suite[*]}"
    apt_install "${suite[@]}" "${qemu[@]}"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
qemu_pid=""
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The FAT partition starts at 4 MiB (scripts/build-image.sh).
fat="$img@@4M"
kernel=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/\(vmlinuz-.*\)|\1|p' | sort | tail -n1)
initrd=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/\(initrd.img-.*\)|\1|p' | sort | tail -n1)
[ -n "$kernel" ] && [ -n "$initrd" ] || die "no vmlinuz-*/initrd.img-* in the image's boot partition"
mcopy -i "$fat" "::/$kernel" "$work/vmlinuz"
mcopy -i "$fat" "::/$initrd" "$work/initrd"
log "kernel $kernel, initrd $initrd"
qemu-img create -q -f qcow2 -b "$(realpath "$img")" -F raw "$work/disk.qcow2"

serial="$out/serial.log"
: >"$serial"
qmp="$work/qmp.sock"
booted_at=$(date +%s.%N)
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
    -kernel "$work/vmlinuz" -initrd "$work/initrd" \
    -append "root=LABEL=cubby-root rw rootwait console=ttyAMA0 systemd.show_status=1" \
    -drive if=none,id=disk,file="$work/disk.qcow2",format=qcow2 \
    -device virtio-blk-pci,drive=disk \
    -device virtio-gpu-pci \
    -device virtio-keyboard-pci -device virtio-tablet-pci \
    -nic none -display none -monitor none \
    -serial "file:$serial" \
    -qmp "unix:$qmp,server=on,wait=off" &
qemu_pid=$!

# Wait until a line matching $1 is on the serial console, up to $2 seconds.
wait_serial() {
    local what="$1" secs="$2" t0
    t0=$(date +%s)
    until grep -qa -- "$what" "$serial"; do
        kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited before '$what' (see $serial)"
        [ $(($(date +%s) - t0)) -lt "$secs" ] || die "no '$what' within $secs s (see $serial)"
        sleep 1
    done
}
since_boot() { python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$booted_at"; }

# QMP: one command, its answer on stdout.
qmp_cmd() {
    python3 - "$qmp" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # greeting
for cmd in ({"execute": "qmp_capabilities"}, json.loads(sys.argv[2])):
    f.write(json.dumps(cmd) + "\n"); f.flush()
    while True:
        msg = json.loads(f.readline())
        if "return" in msg or "error" in msg:
            break
if "error" in msg:
    sys.exit(f"QMP error: {msg['error']}")
print(json.dumps(msg["return"]))
PY
}

log "booting (software emulation: about a minute or two)"
wait_serial "Reached target.*Multi-User System" 600
multi_user=$(since_boot)
log "multi-user.target after ${multi_user} s"
wait_serial "Started.*cubby.service" 300
first_screen=$(since_boot)
log "cubby.service ready (first screen up) after ${first_screen} s"
grep -qa "Failed to start.*cubby" "$serial" && die "cubby.service failed at some point (see $serial)"

# The provisioning screen: give the frame a moment to reach the display, then screendump.
sleep 5
qmp_cmd "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"$work/screen.ppm\"}}" >/dev/null
convert "$work/screen.ppm" "$out/first-screen.png"
colours=$(convert "$out/first-screen.png" -format '%k' info:)
size=$(convert "$out/first-screen.png" -format '%wx%h' info:)
log "first screen: $size, $colours colours ($out/first-screen.png)"
[ "$colours" -ge 8 ] || die "the screen is blank ($colours colours)"

printf 'multi_user_s=%s\nfirst_screen_s=%s\nscreen=%s\ncolours=%s\n' \
    "$multi_user" "$first_screen" "$size" "$colours" >"$out/times.txt"
qmp_cmd '{"execute": "quit"}' >/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
log "PASS: booted to multi-user in ${multi_user} s, first screen in ${first_screen} s"
