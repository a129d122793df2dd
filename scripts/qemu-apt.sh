# shellcheck shell=bash
# scripts/qemu-apt.sh — sourced by scripts/build-image.sh and scripts/boot-test.sh: installs
# QEMU packages from ONE Debian suite.
#
# Some build machines come with a newer qemu-utils from bookworm-backports (and no
# backports source list). Its qemu-utils breaks bookworm's qemu-system-common, so then every
# QEMU package (qemu-system-arm, qemu-user-static) comes from bookworm-backports too; the
# source list is added when missing. Otherwise they come from the machine's own suite.
#
# qemu_apt_install PKG... — installs each PKG that is missing or from the other suite.

qemu_apt_log() { printf '[qemu-apt] %s\n' "$*" >&2; }

qemu_is_backports() { # PKG — true when the installed PKG is a backports version
    case "$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)" in
    *~bpo*) return 0 ;;
    *) return 1 ;;
    esac
}

qemu_apt_install() {
    local codename backports=0 p todo=() suite=() list
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    if qemu_is_backports qemu-utils || qemu_is_backports qemu-system-common; then
        backports=1
    fi
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            todo+=("$p")
        elif [ "$backports" -eq 1 ] && ! qemu_is_backports "$p"; then
            todo+=("$p") # e.g. bookworm's qemu-user-static beside backports' qemu-utils
        fi
    done
    [ "${#todo[@]}" -eq 0 ] && return 0
    if [ "$backports" -eq 1 ]; then
        [ -n "$codename" ] || {
            qemu_apt_log "error: no VERSION_CODENAME in /etc/os-release: cannot pick $codename-backports"
            return 1
        }
        list=/etc/apt/sources.list.d/$codename-backports.list
        if ! grep -rqs -- "$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            qemu_apt_log "qemu-utils is from $codename-backports: adding $list"
            echo "deb http://deb.debian.org/debian $codename-backports main" >"$list"
        fi
        suite=(-t "$codename-backports")
    fi
    qemu_apt_log "installing ${todo[*]} ${suite[*]}"
    apt-get update -qq || {
        qemu_apt_log "error: apt-get update failed"
        return 1
    }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${suite[@]}" "${todo[@]}" >/dev/null || {
        qemu_apt_log "error: could not install ${todo[*]} ${suite[*]}"
        return 1
    }
}
