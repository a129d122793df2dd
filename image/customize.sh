#!/usr/bin/env bash
# image/customize.sh ROOTFS WORK VERSION — the last touches to the door image's root file
# system, run by scripts/build-image.sh (as mmdebstrap's customize hook) on the build host.
# Everything per-door is left out: each card makes its own at first boot.
set -euo pipefail
root="$1" work="$2" version="$3"
in_root() { chroot "$root" "$@"; }

# Units: network by systemd-networkd, time by systemd-timesyncd, the root grows at first
# boot. SSH is installed but off: a setup file with a key turns it on.
in_root systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service cubby-grow-root.service cubby-setup.service >/dev/null
in_root systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
# Wi-Fi is configured per door (wpa_supplicant@wlan0) by the setup file.

# The GPIO UART is the fingerprint reader's: no login prompt on any of the Pi's UARTs, even
# if a console= for one is added to cmdline.txt (systemd's getty generator would start one).
# The console is the screen (tty1), which the kiosk owns once it runs.
for tty in ttyS0 ttyS1 ttyAMA0 ttyAMA1 serial0; do
    in_root systemctl mask "serial-getty@$tty.service" >/dev/null
done
enabled=$(find "$root/etc/systemd/system" -name 'serial-getty@*' ! -lname /dev/null)
if [ -n "$enabled" ]; then
    echo "image/customize.sh: a serial getty is enabled in the image: $enabled" >&2
    exit 1
fi

echo cubby-door >"$root/etc/hostname"
# DNS from DHCP through systemd-resolved, never the build machine's resolver (mmdebstrap
# copies the host's /etc/resolv.conf into the tree).
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.1.1 cubby-door
::1 localhost ip6-localhost ip6-loopback
HOSTS

# Per-door identity is made at first boot: machine id, SSH host keys, the random seed
# (the build's seed would otherwise be the same on every card).
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_* "$root/var/lib/systemd/random-seed"
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/host-keys.conf" <<'UNIT'
# The image carries no host keys: each door makes its own the first time SSH starts.
# Before the package's config test (`sshd -t`), which fails without host keys: a drop-in's
# ExecStartPre= would otherwise come after it.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT

# Nothing provisioned: no database, no device token (the .deb only made the folder).
if [ -n "$(ls -A "$root/var/lib/cubby" 2>/dev/null)" ]; then
    echo "image/customize.sh: /var/lib/cubby is not empty in the image" >&2
    exit 1
fi

# The licence of the kiosk binary and the corresponding source of this build.
doc="$root/usr/share/doc/cubby"
mkdir -p "$doc/source"
cp "$work/source.tar.gz" "$doc/source/cubby-$version.tar.gz"
cp "$work/source-commit" "$doc/source/COMMIT"
cat >"$root/etc/cubby/IMAGE" <<INFO
Cubby door image $version for the Raspberry Pi 4 (Debian bookworm arm64).
Built from commit $(cat "$work/source-commit"); source in /usr/share/doc/cubby/source/.
INFO

# The build's dpkg options (mmdebstrap --dpkgopt) are not the door's.
rm -f "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# Smaller and quieter on an SD card.
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
