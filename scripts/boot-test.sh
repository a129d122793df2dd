#!/usr/bin/env bash
# scripts/boot-test.sh IMAGE — boot the Cubby door image under QEMU and check it from outside.
#
# usage: scripts/boot-test.sh target/image/cubby-<version>-rpi4-arm64.img [--out DIR]
#                             [--scenario first-boot|enroll|all]
#
# Boots the image's own Debian kernel and initrd (taken from its FAT partition) on
# `qemu-system-aarch64 -M virt` (software emulation), the image as a virtio disk 1 GiB
# bigger than the image, as a card is (the image file itself is never written),
# virtio-gpu for DRM so the kiosk's linuxkms backend draws, a virtio keyboard and tablet
# for input, and no network (`-nic none`). Two scenarios (default: both):
#
# first-boot — the image as flashed, no setup file. Checks, through the serial console
#   and QMP: cubby.service started (it sends READY once the first screen is up: the
#   boot-to-first-screen time) and multi-user.target reached; a screendump of the
#   provisioning screen, not blank; after a clean power-off, from outside: the root
#   partition and its ext4 grown to the card's end, the kiosk's database in /var/lib/cubby
#   on the root file system, a persistent journal, a machine id made at first boot; no
#   serial getty ran and cmdline.txt has no serial console (the UART is the fingerprint
#   reader's).
#
# enroll — zero-touch setup: a cubby-setup.toml on the FAT partition naming a hub on the
#   door's loopback (`cubby hub --seed demo`, prepared here with the image's own binary
#   under qemu-user and run inside the guest by a test-only unit written into this test's
#   copy of the card, never into the image). The door must enroll by itself and sync the
#   roster (its journal is forwarded to the serial console); then a check-in is typed
#   with QMP tablet events (tap start, PIN 1111 of the demo center's Dana Rivera, OK,
#   check in) and screendumped, with the hub stopped first (through a test-only root shell
#   on a virtio serial port, also only in this copy): the check-in must show in the door's
#   queue (`cubby status`). Then a power cut (QMP `quit`: no shutdown, no sync) and a boot
#   of the same card: the hub starts again and the door's queue must empty. After a clean
#   power-off, read from outside: the hub holds each queued check-in exactly once, the
#   door's outbox is empty, and the FAT partition keeps only cubby-setup.applied.toml,
#   without the code or the PIN.
#
# Every wait under emulation polls, with a limit of minutes; each failure says what it
# waited for and which log to read.
#
# Output (default target/boot-test): serial.log, first-screen.png, var-lib-cubby.txt,
# times.txt (first boot); enroll-serial.log, enroll-reboot-serial.log (after the power
# cut), enroll-*.png, enroll-setup-applied.toml, enroll-hub-events.txt (enroll).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

img="" out="target/boot-test" scenario=all
while [ $# -gt 0 ]; do
    case "$1" in
    --out)
        out="${2:?--out needs a folder}"
        shift 2
        ;;
    --scenario)
        scenario="${2:?--scenario needs first-boot, enroll or all}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,41p' "${BASH_SOURCE[0]}"
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
case "$scenario" in
first-boot | enroll | all) ;;
*) die "--scenario: first-boot, enroll or all (got '$scenario')" ;;
esac

apt_install() { # [-t SUITE] PKG...
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "could not install $* (apt-get)"
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
# QEMU from one suite (scripts/qemu-apt.sh: backports when this machine's qemu-utils is).
# shellcheck source=scripts/qemu-apt.sh
. scripts/qemu-apt.sh
qemu_pkgs=(qemu-system-arm qemu-utils)
if [ "$scenario" != first-boot ]; then qemu_pkgs+=(qemu-user-static); fi
qemu_apt_install "${qemu_pkgs[@]}" || die "could not install ${qemu_pkgs[*]}"
command -v qemu-system-aarch64 >/dev/null || die "no qemu-system-aarch64 after installing qemu-system-arm"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
qemu_pid=""
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The FAT partition starts at 4 MiB (scripts/build-image.sh); the root is partition 2.
fat="$img@@4M"
kernel=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/\(vmlinuz-.*\)|\1|p' | sort | tail -n1)
initrd=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/\(initrd.img-.*\)|\1|p' | sort | tail -n1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
    die "no vmlinuz-*/initrd.img-* in the image's boot partition"
fi
mcopy -i "$fat" "::/$kernel" "$work/vmlinuz"
mcopy -i "$fat" "::/$initrd" "$work/initrd"
log "kernel $kernel, initrd $initrd"
# The "card" is 1 GiB bigger than the image, as a real card is: the first boot must grow
# the root partition and its file system to its end.
card_bytes=$(($(stat -c %s "$img") + 1024 * 1024 * 1024))

# partition N DISK — "START SECTORS" of partition N (1-based).
partition() {
    sfdisk -J "$2" | python3 -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][int(sys.argv[1]) - 1]
print(p["start"], p["size"])' "$1"
}

# The journal on the serial console too (kernel command line, not the card): systemd
# stops printing unit status there once the serial getty owns it, and the kiosk's own
# log lines ("provisioned from the screen", "roster synced") are what the test waits for.
journal_to_console="systemd.journald.forward_to_console=1"

# boot NAME DISK FORMAT [QEMU ARGS...] — start QEMU in the background on DISK.
boot() {
    local name="$1" disk="$2" format="$3"
    shift 3
    serial="$out/$name.log"
    : >"$serial"
    qmp="$work/$name-qmp.sock"
    booted_at=$(date +%s.%N)
    qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
        -kernel "$work/vmlinuz" -initrd "$work/initrd" \
        -append "root=LABEL=cubby-root rw rootwait console=ttyAMA0 systemd.show_status=1 $journal_to_console" \
        -drive if=none,id=disk,file="$disk",format="$format" \
        -device virtio-blk-pci,drive=disk \
        -device virtio-gpu-pci \
        -device virtio-keyboard-pci -device virtio-tablet-pci \
        -device i6300esb \
        -nic none -display none -monitor none \
        -serial "file:$serial" \
        -qmp "unix:$qmp,server=on,wait=off" "$@" &
    qemu_pid=$!
}

# wait_for PATTERN SECS [FILE] — until a line matching PATTERN is in FILE (default: the
# serial console), up to SECS seconds.
wait_for() {
    local what="$1" secs="$2" file="${3:-$serial}" t0
    t0=$(date +%s)
    until grep -qa -- "$what" "$file" 2>/dev/null; do
        kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited before '$what' (see $file)"
        [ $(($(date +%s) - t0)) -lt "$secs" ] || die "no '$what' within $secs s (see $file)"
        sleep 1
    done
}
since_boot() { python3 -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$booted_at"; }

# QMP: commands (JSON, one per argument) in one session; the last answer on stdout.
qmp_cmd() {
    python3 - "$qmp" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # greeting
for cmd in [{"execute": "qmp_capabilities"}] + [json.loads(a) for a in sys.argv[2:]]:
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

# The test-only shell inside the guest (enroll scenario): a virtio serial port on a socket.
ctl_args=(-device virtio-serial-pci
    -chardev "socket,id=ctl,path=$work/ctl.sock,server=on,wait=off"
    -device "virtserialport,chardev=ctl,name=cubby.test")

# guest CMD SECS — run CMD (one line, sh) as root inside the guest through the test-only
# shell; its output on stdout, its exit status as ours (up to SECS seconds for the answer).
guest() {
    python3 - "$work/ctl.sock" "$1" "$2" <<'PY'
import os, re, socket, sys
path, cmd, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
nonce = os.urandom(6).hex()
mark = re.compile(rb"__cubby_test_done_" + nonce.encode() + rb"=(\d+)")
s = socket.socket(socket.AF_UNIX)
s.settimeout(secs)
try:
    s.connect(path)
    s.sendall(f"{cmd}; echo __cubby_test_done_{nonce}=$?\n".encode())
    buf = b""
    while not (m := mark.search(buf)):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"the guest's test shell closed the port before answering '{cmd}'")
        buf += chunk
except socket.timeout:
    sys.exit(f"no answer from the guest's test shell within {secs:.0f} s to '{cmd}'")
except OSError as e:
    sys.exit(f"the guest's test shell is not reachable ({e}) for '{cmd}'")
sys.stdout.write(buf[: m.start()].decode(errors="replace"))
sys.exit(int(m.group(1)))
PY
}

# wait_guest SECS — until the test-only shell in the guest answers (polls every few seconds).
wait_guest() {
    local secs="$1" t0
    t0=$(date +%s)
    until guest "true" 10 >/dev/null 2>&1; do
        kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited before the guest's test shell answered (see $serial)"
        [ $(($(date +%s) - t0)) -lt "$secs" ] ||
            die "the guest's test shell (cubby-test-shell.service on the virtio port cubby.test) did not answer within $secs s (see $serial)"
        sleep 3
    done
}

# queue_depth — the door's outbox depth, from `cubby status --json` inside the guest (as
# the kiosk's user, beside the running kiosk). On a failure, what went wrong on stdout.
queue_depth() {
    local json
    json=$(guest "runuser -u cubby -- cubby status --json" 120 2>&1) || {
        echo "cubby status failed: $json"
        return 1
    }
    python3 -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["queue_depth"])' <<<"$json" 2>/dev/null || {
        echo "unreadable cubby status: $json"
        return 1
    }
}

# screendump NAME — the screen as $out/NAME.png; prints its number of colours.
screen_w=1280 screen_h=800
screendump() {
    qmp_cmd "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"$work/screen.ppm\"}}" >/dev/null
    convert "$work/screen.ppm" "$out/$1.png"
    read -r screen_w screen_h < <(convert "$out/$1.png" -format '%w %h\n' info:)
    convert "$out/$1.png" -format '%k' info:
}

# tap X Y — a tap with the virtio tablet at pixel X,Y of the screen.
tap() {
    local x=$(($1 * 32767 / (screen_w - 1))) y=$(($2 * 32767 / (screen_h - 1)))
    qmp_cmd "{\"execute\": \"input-send-event\", \"arguments\": {\"events\": [
        {\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": $x}},
        {\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": $y}}]}}" \
        "{\"execute\": \"input-send-event\", \"arguments\": {\"events\": [
        {\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"left\"}}]}}" >/dev/null
    sleep 0.15
    qmp_cmd "{\"execute\": \"input-send-event\", \"arguments\": {\"events\": [
        {\"type\": \"btn\", \"data\": {\"down\": false, \"button\": \"left\"}}]}}" >/dev/null
}

# tap_at X Y — a tap at X/1000 of the screen's width, Y/1000 of its height.
tap_at() { tap $((screen_w * $1 / 1000)) $((screen_h * $2 / 1000)); }

# power_off — the power button, then wait for QEMU to end (a hard stop after 180 s).
power_off() {
    qmp_cmd '{"execute": "system_powerdown"}' >/dev/null || true
    for _ in $(seq 1 180); do
        kill -0 "$qemu_pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$qemu_pid" 2>/dev/null; then
        log "no power-off within 180 s: stopping QEMU"
        qmp_cmd '{"execute": "quit"}' >/dev/null || true
    fi
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=""
}

# root_of RAW EXT4 — copy the root partition of the card RAW to EXT4 and check that the
# first boot grew the partition and its file system to the card's end.
root_of() {
    local raw="$1" ext4="$2" start sectors blocks bsize
    read -r start sectors < <(partition 2 "$raw")
    [ $((start + sectors)) -ge $((card_bytes / 512 - 2048)) ] ||
        die "the root partition was not grown to the card ($((start + sectors)) of $((card_bytes / 512)) sectors)"
    dd if="$raw" of="$ext4" bs=512 skip="$start" count="$sectors" conv=sparse status=none
    blocks=$(dumpe2fs -h "$ext4" 2>/dev/null | sed -n 's/^Block count: *//p')
    bsize=$(dumpe2fs -h "$ext4" 2>/dev/null | sed -n 's/^Block size: *//p')
    [ $((blocks * bsize / 512)) -ge $((sectors - 8192)) ] ||
        die "the root file system was not grown ($((blocks * bsize)) bytes in a $((sectors * 512))-byte partition)"
    root_mib=$((blocks * bsize / 1024 / 1024))
    log "root grown: partition and ext4 $root_mib MiB on a $((card_bytes / 1024 / 1024)) MiB card"
}

first_boot() {
    log "== first boot: the image as flashed"
    qemu-img create -q -f qcow2 -b "$(realpath "$img")" -F raw "$work/disk.qcow2" "$card_bytes"
    boot serial "$work/disk.qcow2" qcow2
    log "booting (software emulation: a few minutes)"
    # cubby.service is part of multi-user.target and Type=notify: it is "Started" (READY,
    # the first screen drawn) before the target is reached.
    wait_for "Started.*cubby.service" 900
    first_screen=$(since_boot)
    log "cubby.service ready (first screen up) after ${first_screen} s"
    wait_for "Reached target.*Multi-User System" 300
    multi_user=$(since_boot)
    log "multi-user.target after ${multi_user} s"
    if grep -qa "Failed to start.*cubby" "$serial"; then
        die "a cubby unit failed at some point (see $serial)"
    fi
    # The UART is the fingerprint reader's: the image masks the serial gettys (the console on
    # ttyAMA0 here is this test's command line) and its cmdline.txt has the screen only.
    if grep -qa "Started serial-getty@" "$serial"; then
        die "a serial getty runs on the UART (see $serial): the image must mask serial-getty@"
    fi
    local cmdline
    cmdline=$(mtype -i "$img@@4M" ::/cmdline.txt)
    if grep -Eq 'console=(serial|ttyS|ttyAMA)' <<<"$cmdline"; then
        die "the image's cmdline.txt has a serial console: $cmdline"
    fi

    # The provisioning screen: give the frame a moment to reach the display.
    sleep 5
    colours=$(screendump first-screen)
    size="${screen_w}x${screen_h}"
    log "first screen: $size, $colours colours ($out/first-screen.png)"
    [ "$colours" -ge 8 ] || die "the screen is blank ($colours colours)"
    power_off

    # What the first boot left on the card, read from outside.
    qemu-img convert -O raw "$work/disk.qcow2" "$work/card.raw"
    root_of "$work/card.raw" "$work/root.ext4"
    debugfs -R "ls -l /var/lib/cubby" "$work/root.ext4" 2>/dev/null >"$out/var-lib-cubby.txt"
    grep -q 'kiosk\.sqlite' "$out/var-lib-cubby.txt" ||
        die "no kiosk database in /var/lib/cubby on the root file system (see $out/var-lib-cubby.txt)"
    debugfs -R "ls /var/log/journal" "$work/root.ext4" 2>/dev/null | grep -q '[0-9a-f]\{32\}' ||
        die "no persistent journal in /var/log/journal"
    debugfs -R "cat /etc/machine-id" "$work/root.ext4" 2>/dev/null | grep -q '^[0-9a-f]\{32\}$' ||
        die "the first boot made no machine id"
    rm -f "$work/card.raw" "$work/root.ext4" "$work/disk.qcow2"
    printf 'multi_user_s=%s\nfirst_screen_s=%s\nscreen=%s\ncolours=%s\nroot_grown_mib=%s\n' \
        "$multi_user" "$first_screen" "$size" "$colours" "$root_mib" >"$out/times.txt"
    log "PASS first boot: first screen in ${first_screen} s, multi-user in ${multi_user} s"
}

# hub ARGS... — the image's own `cubby hub` on this machine, under qemu-user.
hub() {
    QEMU_LD_PREFIX="$work/sysroot" "$qemu_user" "$work/sysroot/cubby" hub "$@"
}

enroll() {
    log "== enroll: a setup file and a hub on the door's loopback"
    local card="$work/enroll.raw" root="$work/enroll-root.ext4" start sectors code
    cp --sparse=always "$img" "$card"
    truncate -s "$card_bytes" "$card"
    read -r start sectors < <(partition 2 "$card")
    dd if="$card" of="$root" bs=512 skip="$start" count="$sectors" conv=sparse status=none

    # The hub's database and a one-time code, made here by the image's binary and libraries.
    qemu_user=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
    mkdir -p "$work/sysroot/usr/lib" "$work/sysroot/etc"
    debugfs -R "rdump /usr/lib/aarch64-linux-gnu $work/sysroot/usr/lib" "$root" 2>/dev/null
    debugfs -R "dump /usr/bin/cubby $work/sysroot/cubby" "$root" 2>/dev/null
    debugfs -R "dump /etc/ld.so.cache $work/sysroot/etc/ld.so.cache" "$root" 2>/dev/null
    ln -s usr/lib "$work/sysroot/lib"
    ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$work/sysroot/usr/lib/ld-linux-aarch64.so.1"
    chmod 755 "$work/sysroot/cubby"
    mkdir -p "$work/hub"
    # Not through hub(): a function in the background is a subshell, and the signal must
    # reach the hub itself (it writes its database out on SIGTERM).
    QEMU_LD_PREFIX="$work/sysroot" "$qemu_user" "$work/sysroot/cubby" hub --listen 127.0.0.1:0 \
        --db "$work/hub/hub.sqlite" --seed demo >"$work/hub/out" 2>&1 &
    local hub_pid=$!
    for _ in $(seq 1 60); do
        grep -q listening "$work/hub/out" && break
        sleep 0.5
    done
    kill "$hub_pid" 2>/dev/null || true
    wait "$hub_pid" 2>/dev/null || true
    grep -q listening "$work/hub/out" || die "the demo hub did not start here: $(cat "$work/hub/out")"
    code=$(hub enroll-code --db "$work/hub/hub.sqlite" --valid-min 180 2>/dev/null)
    [ -n "$code" ] || die "no enrollment code from the hub"
    [ ! -e "$work/hub/hub.sqlite-wal" ] || die "the hub's database was left open (hub.sqlite-wal)"
    log "hub seeded (demo center), enrollment code $code"

    cat >"$work/cubby-setup.toml" <<TOML
hostname = "front-door"
timezone = "America/Chicago"

[hub]
url = "http://127.0.0.1:8700"
code = "$code"
door_name = "Front door"

[technician]
pin = "482913"
TOML
    mcopy -i "$card@@4M" "$work/cubby-setup.toml" ::/cubby-setup.toml

    # The test-only units, in this copy of the card only: the hub, and a root shell on a
    # virtio serial port of QEMU's (the test's hand inside the guest: stop the hub, ask
    # `cubby status`). The image has neither: no login on any console.
    cat >"$work/cubby-test-hub.service" <<'UNIT'
# TEST ONLY (scripts/boot-test.sh): the demo hub on loopback. Never part of the image.
[Unit]
Description=TEST ONLY: demo hub on loopback
Before=cubby.service

[Service]
ExecStart=/usr/bin/cubby hub --listen 127.0.0.1:8700 --db /var/lib/cubby-test-hub/hub.sqlite --seed demo

[Install]
WantedBy=multi-user.target
UNIT
    cat >"$work/cubby-test-shell" <<'SH'
#!/bin/sh
# TEST ONLY (scripts/boot-test.sh): runs, as root, each line the test writes to its virtio
# serial port; the output goes back there. Never part of the image.
port=/dev/virtio-ports/cubby.test
until [ -e "$port" ]; do sleep 1; done
exec 3<>"$port"
while :; do
    # While the test is not connected a read gives end-of-file: wait for it.
    if IFS= read -r line <&3; then
        sh -c "$line" >&3 2>&1 </dev/null
    else
        sleep 0.5
    fi
done
SH
    cat >"$work/cubby-test-shell.service" <<'UNIT'
# TEST ONLY (scripts/boot-test.sh): a root shell on the test's virtio serial port. Never
# part of the image.
[Unit]
Description=TEST ONLY: root shell on the boot test's virtio serial port
StartLimitIntervalSec=0

[Service]
ExecStart=/bin/sh /usr/local/lib/cubby-test-shell
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
    chmod 644 "$work/cubby-test-hub.service" "$work/cubby-test-shell.service" "$work/cubby-test-shell"
    local wants=/etc/systemd/system/multi-user.target.wants
    debugfs -w -f - "$root" >/dev/null 2>&1 <<CMDS
mkdir /var/lib/cubby-test-hub
write $work/hub/hub.sqlite /var/lib/cubby-test-hub/hub.sqlite
write $work/cubby-test-hub.service /etc/systemd/system/cubby-test-hub.service
symlink $wants/cubby-test-hub.service /etc/systemd/system/cubby-test-hub.service
mkdir /usr/local/lib
write $work/cubby-test-shell /usr/local/lib/cubby-test-shell
write $work/cubby-test-shell.service /etc/systemd/system/cubby-test-shell.service
symlink $wants/cubby-test-shell.service /etc/systemd/system/cubby-test-shell.service
CMDS
    local listing
    listing=$(debugfs -R "ls -l $wants" "$root" 2>/dev/null)
    grep -q cubby-test-hub <<<"$listing" && grep -q cubby-test-shell <<<"$listing" ||
        die "could not add the test units to the card's copy (debugfs)"
    dd if="$root" of="$card" bs=512 seek="$start" conv=notrunc status=none
    rm -f "$root"

    boot enroll-serial "$card" raw "${ctl_args[@]}"
    wait_for "Started.*cubby.service" 900
    log "cubby.service ready after $(since_boot) s"
    wait_for "provisioned from the screen" 600
    # Only the setup file's enrollment sets its technician PIN (the form has none).
    wait_for "technician PIN from the setup file set" 120
    enrolled=$(since_boot)
    log "enrolled by itself from the setup file after $enrolled s"
    wait_for "roster synced" 600
    log "roster synced after $(since_boot) s"
    wait_guest 600

    # The hub goes away before the check-in: the door must keep it (its outbox) through a
    # power cut. `sync`: the hub's own database (written out as it stops) and everything
    # before the check-in are on the card; of the check-in, only what the door itself made
    # durable is.
    guest "systemctl stop cubby-test-hub.service && sync" 300 >/dev/null ||
        die "could not stop the test hub inside the guest (systemctl stop cubby-test-hub)"
    log "hub stopped inside the guest (the door cannot deliver), after $(since_boot) s"
    local depth0
    depth0=$(queue_depth) || die "no queue depth from the guest before the check-in: $depth0"
    [ "$depth0" -eq 0 ] || log "note: $depth0 event(s) already queued before the check-in"
    sleep 3
    [ "$(screendump enroll-1-home)" -ge 8 ] || die "blank home screen"

    # A check-in by PIN, as a parent would tap it. Positions are fractions of the screen
    # (ui/door.slint: the home button, the PIN keypad, the family screen's "Check in").
    tap_at 500 520 # home: "Tap here to check in or out"
    sleep 3
    screendump enroll-2-pin >/dev/null
    local d col=(327 500 673) row=(329 496 664 831) # keypad columns; rows (4th: ⌫ 0 OK)
    for d in 1 1 1 1; do
        tap_at "${col[$(((d - 1) % 3))]}" "${row[$(((d - 1) / 3))]}"
        sleep 1
    done
    screendump enroll-3-pin-typed >/dev/null
    tap_at "${col[2]}" "${row[3]}" # OK
    sleep 4
    screendump enroll-4-family >/dev/null
    tap_at 820 860 # family: "Check in"
    sleep 1.5
    screendump enroll-5-done >/dev/null
    sleep 1.5
    screendump enroll-6-after >/dev/null

    # The check-in is queued (the hub is down): poll the door's own status.
    local t0 depth=""
    t0=$(date +%s)
    until depth=$(queue_depth) && [ "$depth" -gt "$depth0" ]; do
        kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited while waiting for the check-in in the queue"
        [ $(($(date +%s) - t0)) -lt 180 ] ||
            die "the check-in never showed in the door's queue within 180 s (last: '$depth'; see $out/enroll-*.png)"
        sleep 2
    done
    queued=$((depth - depth0))
    log "check-in queued ($depth waiting, hub down), after $(since_boot) s"

    # The power cut: QEMU quits at once, no shutdown, no sync.
    qmp_cmd '{"execute": "quit"}' >/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=""
    log "power cut (QMP quit, no shutdown) with the check-in queued"

    # Power back: the same card. The test hub starts with the door (enabled, as before).
    boot enroll-reboot-serial "$card" raw "${ctl_args[@]}"
    wait_for "Started.*cubby.service" 900
    rebooted=$(since_boot)
    log "after the power cut: cubby.service ready after $rebooted s"
    wait_guest 600
    if ! guest "systemctl is-active cubby-test-hub.service" 120 >/dev/null; then
        guest "systemctl start cubby-test-hub.service" 300 >/dev/null ||
            die "the test hub does not run after the reboot (systemctl start cubby-test-hub)"
    fi
    t0=$(date +%s)
    until depth=$(queue_depth) && [ "$depth" -eq 0 ]; do
        kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited while waiting for the queue to empty"
        [ $(($(date +%s) - t0)) -lt 600 ] ||
            die "the queued check-in was not delivered within 600 s of the reboot (last: '$depth'; see $out/enroll-reboot-serial.log)"
        sleep 3
    done
    delivered=$(since_boot)
    log "the door's queue is empty after the reboot (delivered), after $delivered s"
    power_off

    # From outside, after a clean power-off: the hub holds that check-in exactly once, the
    # door holds it once with an empty outbox; the card keeps no secret of the setup file.
    read -r start sectors < <(partition 2 "$card")
    dd if="$card" of="$root" bs=512 skip="$start" count="$sectors" conv=sparse status=none
    debugfs -R "dump /var/lib/cubby-test-hub/hub.sqlite $work/hub/after.sqlite" "$root" 2>/dev/null
    chmod 600 "$work/hub/after.sqlite" # the hub refuses a database others can read
    hub events --db "$work/hub/after.sqlite" --json >"$out/enroll-hub-events.txt" 2>&1 || true
    local at_hub
    at_hub=$(grep -c '"check_in".*child_01a\|child_01a.*"check_in"' "$out/enroll-hub-events.txt" || true)
    [ "$at_hub" -ge 1 ] ||
        die "the hub holds no check-in (see $out/enroll-hub-events.txt and the enroll-*.png)"
    [ "$at_hub" -eq 1 ] ||
        die "the hub holds the check-in $at_hub times, not once (see $out/enroll-hub-events.txt)"
    # Dana Rivera checks in her two children: each event of the queue once, none twice.
    local all_at_hub
    all_at_hub=$(grep -c '"check_in"' "$out/enroll-hub-events.txt" || true)
    [ "$all_at_hub" -eq "$queued" ] ||
        die "the hub holds $all_at_hub check-in(s), the door had queued $queued (see $out/enroll-hub-events.txt)"
    mkdir -p "$work/door"
    local f
    for f in kiosk.sqlite kiosk.sqlite-wal; do
        debugfs -R "dump /var/lib/cubby/$f $work/door/$f" "$root" >/dev/null 2>&1 || true
    done
    [ -s "$work/door/kiosk.sqlite" ] || die "no /var/lib/cubby/kiosk.sqlite on the card after the reboot"
    local counts door_outbox door_checkins
    counts=$(python3 - "$work/door/kiosk.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
outbox = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
checkins = db.execute(
    "SELECT COUNT(*) FROM events WHERE json LIKE '%check_in%' AND json LIKE '%child_01a%'"
).fetchone()[0]
print(outbox, checkins)
PY
    ) || die "could not read the door's database from the card ($work/door/kiosk.sqlite)"
    read -r door_outbox door_checkins <<<"$counts"
    [ "$door_outbox" -eq 0 ] || die "the door's outbox holds $door_outbox event(s) after delivery"
    [ "$door_checkins" -eq 1 ] || die "the door's database holds the check-in $door_checkins times, not once"
    rm -f "$root"
    mdir -b -i "$card@@4M" ::/ >"$work/fat.txt"
    grep -q 'cubby-setup.applied.toml' "$work/fat.txt" || die "no cubby-setup.applied.toml on the card"
    ! grep -q '::/cubby-setup.toml$' "$work/fat.txt" || die "cubby-setup.toml is still on the card"
    mcopy -i "$card@@4M" ::/cubby-setup.applied.toml "$out/enroll-setup-applied.toml"
    if grep -q -e "$code" -e 482913 "$out/enroll-setup-applied.toml"; then
        die "the enrollment code or the PIN is still on the card"
    fi
    printf 'enroll_enrolled_s=%s\nenroll_queued=%s\npower_cut_reboot_ready_s=%s\npower_cut_delivered_s=%s\n' \
        "$enrolled" "$queued" "$rebooted" "$delivered" >>"$out/times.txt"
    log "PASS enroll: enrolled by itself in $enrolled s; a check-in made with the hub down survived a power cut and reached the hub once, $delivered s after the reboot"
}

# timed NAME — run the scenario NAME and say how long it took.
timed() {
    local t0
    t0=$(date +%s)
    "$1"
    log "scenario $1: $(($(date +%s) - t0)) s"
}
case "$scenario" in
first-boot) timed first_boot ;;
enroll) timed enroll ;;
all)
    timed first_boot
    timed enroll
    ;;
esac
