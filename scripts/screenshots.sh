#!/usr/bin/env bash
# Screenshots of every kiosk screen: starts `cubby demo` under Xvfb at 800x480 and
# 1280x800, drives it through the screens with headless-protocol lines on stdin
# (--drive-stdin), and writes PNGs to target/screenshots/<size>/NN-<screen>.png.
#
# Needs: xvfb, x11-apps (xwd), imagemagick (convert). `.ci/run` installs them.
# Usage: scripts/screenshots.sh [path/to/cubby]   (default: builds target/debug/cubby)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-}"
if [[ -z "$BIN" ]]; then
    cargo build --quiet
    BIN=target/debug/cubby
fi
for tool in Xvfb xwd convert; do
    command -v "$tool" >/dev/null || { echo "screenshots.sh: $tool is missing (apt-get install xvfb x11-apps imagemagick)" >&2; exit 1; }
done

OUT=target/screenshots
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

shoot() { # display file
    sleep "${SETTLE:-0.8}"
    xwd -root -silent -display "$1" | convert xwd:- "$2"
    # A window that never opened leaves a blank root: fail instead of writing blank PNGs.
    local colours
    colours=$(convert "$2" -format %k info:)
    if (( colours < 16 )); then
        echo "screenshots.sh: $2 is blank ($colours colours): did the window open? see $WORK/*.log" >&2
        cat "$WORK"/demo-*.log >&2 || true
        exit 1
    fi
    echo "  $2"
}

run_size() { # WxH display-number
    local size=$1 num=$2 w=${1%x*} h=${1#*x}
    local dir="$OUT/$size" disp=":$num"
    mkdir -p "$dir"
    Xvfb "$disp" -screen 0 "${w}x${h}x24" -nolisten tcp &
    PIDS+=("$!")
    for _ in $(seq 50); do xwd -root -silent -display "$disp" >/dev/null 2>&1 && break; sleep 0.1; done

    local fifo="$WORK/in-$num"
    mkfifo "$fifo"
    DISPLAY="$disp" SLINT_BACKEND=winit-software "$BIN" demo --dir "$WORK/demo-$num" \
        --size "$size" --drive-stdin <"$fifo" >"$WORK/demo-$num.log" 2>&1 &
    local demo=$!
    PIDS+=("$demo")
    exec 3>"$fifo"
    # wait for the demo hub, provisioning and first sync
    for _ in $(seq 100); do grep -q "PINs:" "$WORK/demo-$num.log" 2>/dev/null && break; sleep 0.2; done
    SETTLE=2 shoot "$disp" "$dir/01-home.png"
    say() { echo "$1" >&3; }
    say '{"tap":"start"}';            say '{"tap":"digit_1"}'; say '{"tap":"digit_1"}'
    shoot "$disp" "$dir/02-pin.png"
    say '{"tap":"digit_1"}';          say '{"tap":"digit_1"}'; say '{"tap":"ok"}'
    shoot "$disp" "$dir/03-family.png"
    say '{"tap":"child:child_01a"}'
    shoot "$disp" "$dir/04-family-selected.png"
    say '{"tap":"check_in"}'
    shoot "$disp" "$dir/05-done.png"
    say '{"tap":"home"}'
    say '{"pin":"3333"}'
    shoot "$disp" "$dir/06-family-refused.png"
    say '{"tap":"cancel"}'
    say '{"pin":"4444"}'
    shoot "$disp" "$dir/07-pin-wrong.png"
    say '{"tap":"back"}'
    say '{"tap":"lang:es"}'
    shoot "$disp" "$dir/08-home-es.png"
    say '{"tap":"lang:en"}'
    say '{"pin":"9001"}'
    shoot "$disp" "$dir/09-staff.png"
    say '{"tap":"room:room_toddlers"}'
    say '{"tap":"select_all"}'
    shoot "$disp" "$dir/10-staff-room.png"
    say '{"tap":"back"}'
    say '{"tap":"roll_call"}'
    say '{"tap":"account:child_02a"}'
    shoot "$disp" "$dir/11-roll-call.png"
    say '{"tap":"finish_roll_call"}'
    shoot "$disp" "$dir/12-roll-call-summary.png"
    say '{"tap":"done"}'
    say '{"tap":"sync_errors"}'
    shoot "$disp" "$dir/13-sync.png"
    say '{"tap":"back"}'
    say '{"tap":"exit"}'
    say '{"pin":"9000"}'
    say '{"tap":"device"}'
    say '{"tap":"letter:R"}'
    say '{"tap":"person:per_01a"}'
    say '{"tap":"consent"}'
    shoot "$disp" "$dir/14-device.png"
    say '{"tap":"back"}'
    say '{"tap":"exit"}'
    say '{"qr":"CUBBY1.not-a-real-code"}'
    shoot "$disp" "$dir/15-qr-refused.png"
    kill -0 "$demo" 2>/dev/null || { echo "screenshots.sh: the demo exited early" >&2; cat "$WORK/demo-$num.log" >&2; exit 1; }
    exec 3>&-
}

run_size 800x480 91
run_size 1280x800 92
echo "screenshots in $OUT"
