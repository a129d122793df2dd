#!/usr/bin/env bash
# scripts/build-deb.sh — builds the Cubby Debian package with cargo-deb.
#
# usage: scripts/build-deb.sh [--target aarch64-unknown-linux-gnu] [--profile release|dev]
#                             [--no-build] [--output DIR]
#   --target   cross-build for the Raspberry Pi (sets up the toolchain via build-arm64.sh);
#              default: this machine's architecture.
#   --profile  cargo profile of the packaged binary (default release; CI uses dev to
#              reuse the binary scripts/ci-arm64.sh just built: the package layout is the
#              same, only the binary is slower and bigger).
#   --no-build package the binary already built for that target/profile.
#   --output   directory for the .deb (default: target/debian, or under CARGO_TARGET_DIR).
# Prints the path of the .deb on its last line.
#
# What goes in the package is [package.metadata.deb] in Cargo.toml and debian/ (maintainer
# scripts); tests/it/packaging.rs checks the result (CUBBY_DEB=path cargo test --test it packaging).
# Installs cargo-deb from crates.io (`cargo install cargo-deb --locked`) if it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_DEB_VERSION="3.8.0" # pinned: reproducible packages; bump deliberately

target="" profile=release build=1 output=""
while [ $# -gt 0 ]; do
    case "$1" in
    --target)
        target="${2:?--target needs a triple}"
        shift 2
        ;;
    --profile)
        profile="${2:?--profile needs a name}"
        shift 2
        ;;
    --release)
        profile=release
        shift
        ;;
    --no-build)
        build=0
        shift
        ;;
    --output)
        output="${2:?--output needs a directory}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,14p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "[build-deb] unknown argument: $1 (try --help)" >&2
        exit 2
        ;;
    esac
done

if ! cargo deb --version >/dev/null 2>&1; then
    echo "[build-deb] cargo-deb missing: cargo install cargo-deb --locked --version $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

args=(--profile "$profile")
if [ -n "$target" ]; then
    args+=(--target "$target")
    if [ "$target" = aarch64-unknown-linux-gnu ]; then
        # shellcheck source=scripts/build-arm64.sh
        . scripts/build-arm64.sh
        arm64_setup
        arm64_env
        # cargo-deb strips with the target's binutils.
        export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_STRIP=aarch64-linux-gnu-strip
        export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_OBJCOPY=aarch64-linux-gnu-objcopy
    fi
fi
[ "$build" -eq 0 ] && args+=(--no-build)
if [ -n "$output" ]; then
    mkdir -p "$output"
    args+=(--output "$output")
fi

echo "[build-deb] cargo deb ${args[*]}" >&2
deb=$(cargo deb "${args[@]}" | tail -n1)
[ -f "$deb" ] || {
    echo "[build-deb] cargo deb did not report a package file (got '$deb')" >&2
    exit 1
}
dpkg-deb --field "$deb" Package Version Architecture Depends >&2
echo "$deb"
