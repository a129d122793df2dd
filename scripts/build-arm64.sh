#!/usr/bin/env bash
# scripts/build-arm64.sh — Docker-free cross build of `cubby` for the Raspberry Pi 4/5
# (64-bit Raspberry Pi OS = aarch64-unknown-linux-gnu), on a plain Debian/Ubuntu x86_64 host.
#
# usage: scripts/build-arm64.sh [--profile release|dev|NAME] [--setup-only] [--no-setup]
#                               [-- EXTRA CARGO BUILD ARGS]
#   default profile: release. Output: $CARGO_TARGET_DIR (or target/)/aarch64-unknown-linux-gnu/
#   <release|debug|NAME>/cubby
#
# What it does, each step idempotent (a second run installs nothing):
#   1. apt: the cross gcc + arm64 glibc headers + qemu user-mode emulation (HOST_PACKAGES),
#      and the arm64 multiarch -dev libraries the crate links (ARM64_DEV_PACKAGES, below);
#   2. rustup: the aarch64-unknown-linux-gnu standard library;
#   3. exports CC_/CXX_/AR_ for the cc crate (ring, bundled SQLite) and pkg-config cross
#      settings for -sys crates;
#   4. cargo build --target aarch64-unknown-linux-gnu --profile …, then checks the ELF and
#      the glibc versions it needs (64-bit Raspberry Pi OS bookworm ships glibc 2.36).
#
# The linker and the qemu runner live in .cargo/config.toml. Needs root or sudo for apt.
# `. scripts/build-arm64.sh` (sourcing) only defines the functions: scripts/ci-arm64.sh
# uses arm64_setup and arm64_env from here, so there is one list of packages.
#
# cross-rs users: `CROSS_CONFIG=cross.toml cross build --target aarch64-unknown-linux-gnu`.

ARM64_TARGET=aarch64-unknown-linux-gnu
ARM64_SYSROOT=/usr/aarch64-linux-gnu # glibc, crt files and ld-linux-aarch64.so.1 for arm64
ARM64_MULTIARCH_LIBDIR=/usr/lib/aarch64-linux-gnu
# Highest glibc symbol version the binary may need: Raspberry Pi OS (bookworm) has 2.36.
ARM64_MAX_GLIBC=2.36

# Host tools (amd64 packages).
HOST_PACKAGES=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
    binutils-aarch64-linux-gnu qemu-user-static pkg-config)

# -dev packages the crate links against, one list for both builds. All come from the
# Slint touch UI (`ui` feature, on by default); `--no-default-features` needs none of them:
#   libudev-dev       libudev-sys (pkg-config `libudev`): linuxkms device discovery
#   libinput-dev      input-sys links `-linput`: touch screen / keys under linuxkms
#   libxkbcommon-dev  xkbcommon links `-lxkbcommon`: keymaps under linuxkms
#   libfontconfig-dev yeslogic-fontconfig-sys (pkg-config `fontconfig`): fontique's system
#                     fonts (winit-x11 + the software renderer need nothing at link time:
#                     x11rb/x11-dl/xkbcommon-dl are pure Rust or dlopen)
# Found by building on a bare Debian 12 (build errors, then `readelf -d` of the binary:
# NEEDED libudev.so.1 libinput.so.10 libxkbcommon.so.0 libfontconfig.so.1); the .deb's
# `$auto` depends follow from those. Native build: installed as NAME (.ci/run,
# `native_dev_setup`); cross build: as NAME:arm64 (multiarch), below. Keep cross.toml's
# pre-build list the same.
UI_DEV_PACKAGES=(libudev-dev libinput-dev libxkbcommon-dev libfontconfig-dev)
ARM64_DEV_PACKAGES=("${UI_DEV_PACKAGES[@]}")

arm64_log() { printf '[build-arm64] %s\n' "$*" >&2; }

arm64_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        arm64_log "need root (or sudo) to run: $*"
        return 1
    fi
}

arm64_installed() { # PKG — true when dpkg has it installed
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ARM64_APT_UPDATED=0
arm64_apt_install() { # PKG... — installs only the missing ones
    local missing=() p
    for p in "$@"; do
        arm64_installed "$p" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    arm64_log "apt: installing ${missing[*]}"
    if [ "$ARM64_APT_UPDATED" -eq 0 ]; then
        arm64_as_root apt-get update -qq
        ARM64_APT_UPDATED=1
    fi
    arm64_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Installs the -dev packages a native (host architecture) build with the UI needs.
native_dev_setup() {
    command -v apt-get >/dev/null 2>&1 || {
        arm64_log "no apt-get: install the development files of: ${UI_DEV_PACKAGES[*]}"
        return 1
    }
    local arch
    arch=$(dpkg --print-architecture) # explicit: NAME alone may match an :arm64 copy
    arm64_apt_install pkg-config "${UI_DEV_PACKAGES[@]/%/:$arch}"
}

# Installs everything the cross build and the qemu test run need. Idempotent.
arm64_setup() {
    command -v apt-get >/dev/null 2>&1 || {
        arm64_log "no apt-get: install an aarch64-linux-gnu gcc and qemu-aarch64 by hand"
        return 1
    }
    arm64_apt_install "${HOST_PACKAGES[@]}"

    if [ "${#ARM64_DEV_PACKAGES[@]}" -gt 0 ]; then
        if ! dpkg --print-foreign-architectures | grep -qx arm64; then
            arm64_log "dpkg: adding the arm64 architecture (multiarch)"
            arm64_as_root dpkg --add-architecture arm64
            ARM64_APT_UPDATED=0 # the arm64 package lists must be fetched
        fi
        arm64_apt_install "${ARM64_DEV_PACKAGES[@]/%/:arm64}"
    fi

    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed | grep -qx "$ARM64_TARGET"; then
            arm64_log "rustup: adding $ARM64_TARGET"
            rustup target add "$ARM64_TARGET"
        fi
    elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$ARM64_TARGET" ]; then
        arm64_log "no rustup and no $ARM64_TARGET standard library in $(rustc --print sysroot)"
        return 1
    fi
}

# Environment for building and running arm64 code from this host.
arm64_env() {
    # cc crate (ring, rusqlite's bundled SQLite): target-specific compiler and archiver.
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # Same linker as .cargo/config.toml, so the script also works from another directory.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    # pkg-config (pkg-config crate): look only at arm64 .pc files when building for arm64;
    # host build scripts keep the host's pkg-config settings (target-suffixed variables).
    export PKG_CONFIG_ALLOW_CROSS=1
    export PKG_CONFIG_PATH_aarch64_unknown_linux_gnu=
    export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu="$ARM64_MULTIARCH_LIBDIR/pkgconfig:/usr/share/pkgconfig"
    export PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu=/
    # qemu-user: where the arm64 loader and libc are (also given by the runner's -L).
    export QEMU_LD_PREFIX="$ARM64_SYSROOT"
    if [ "${#ARM64_DEV_PACKAGES[@]}" -gt 0 ]; then
        # multiarch libraries are outside the -L prefix: tell the arm64 loader where.
        # The cross glibc first, so the loader (from -L) and libc.so.6 always match (the
        # multiarch libc6:arm64 pulled in by the -dev packages may be another build).
        export QEMU_SET_ENV="LD_LIBRARY_PATH=$ARM64_SYSROOT/lib:$ARM64_MULTIARCH_LIBDIR"
    fi
}

# ARM64_PROFILE_DIR PROFILE — the directory name cargo uses for a profile.
arm64_profile_dir() {
    case "$1" in
    dev | test) echo debug ;;
    bench) echo release ;;
    *) echo "$1" ;;
    esac
}

# arm64_check_binary PATH — is it an aarch64 ELF that runs on Raspberry Pi OS bookworm?
arm64_check_binary() {
    local bin="$1" need
    aarch64-linux-gnu-readelf -h "$bin" | grep -q 'Machine:.*AArch64' || {
        arm64_log "$bin is not an AArch64 ELF"
        return 1
    }
    need=$(aarch64-linux-gnu-objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' |
        sort -uV | tail -n1)
    if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$ARM64_MAX_GLIBC" | sort -V | tail -n1)" != "$ARM64_MAX_GLIBC" ]; then
        arm64_log "$bin needs glibc $need > $ARM64_MAX_GLIBC (Raspberry Pi OS bookworm):" \
            "build on Debian 12 or older"
        return 1
    fi
    arm64_log "ok: $bin (AArch64, needs glibc ${need:-?} <= $ARM64_MAX_GLIBC)"
}

arm64_main() {
    set -euo pipefail
    local profile=release setup=1 only_setup=0
    while [ $# -gt 0 ]; do
        case "$1" in
        --profile)
            profile="${2:?--profile needs a name}"
            shift 2
            ;;
        --release)
            profile=release
            shift
            ;;
        --setup-only)
            only_setup=1
            shift
            ;;
        --no-setup)
            setup=0
            shift
            ;;
        --)
            shift
            break
            ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}"
            return 0
            ;;
        *)
            arm64_log "unknown argument: $1 (try --help)"
            return 2
            ;;
        esac
    done

    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    [ "$setup" -eq 1 ] && arm64_setup
    [ "$only_setup" -eq 1 ] && return 0
    arm64_env

    arm64_log "cargo build --target $ARM64_TARGET --profile $profile --bin cubby $*"
    cargo build --target "$ARM64_TARGET" --profile "$profile" --bin cubby "$@"

    local bin profile_dir
    profile_dir=$(arm64_profile_dir "$profile")
    bin="${CARGO_TARGET_DIR:-target}/$ARM64_TARGET/$profile_dir/cubby"
    arm64_check_binary "$bin"
    echo "$bin"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    arm64_main "$@"
fi
