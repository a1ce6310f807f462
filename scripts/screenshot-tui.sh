#!/usr/bin/env bash
# Makes img/tui.png: a real screenshot of wsppclient's terminal UI in xterm.
#
# The scene: wsppsrv on a free loopback port, two background `wsppclient hold`
# sessions (so the clients pane lists others too), and the terminal UI running a
# ping session long enough for the sparkline and the histogram to fill.
#
# xterm runs on a virtual X display (Xvfb) and ImageMagick's `import` captures its
# window. Keys reach the UI through tmux inside the xterm (status line off), since
# xterm ignores synthetic X key events. Debian packages are installed if missing.
# Everything started here is stopped by PID on exit. Not part of CI.
#
# Usage: scripts/screenshot-tui.sh [OUTPUT.png]   (default img/tui.png)
#        PING_SECONDS=40 scripts/screenshot-tui.sh  (how long the ping runs first)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-img/tui.png}"
ping_seconds="${PING_SECONDS:-40}"

# command:package pairs this script needs.
needed=(Xvfb:xvfb xterm:xterm import:imagemagick xwininfo:x11-utils tmux:tmux)
missing=()
for pair in "${needed[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if ((${#missing[@]})); then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== building wsppsrv and wsppclient (release: the RTTs shown are the network's)"
cargo build --release --locked --quiet -p wsppsrv -p wsppclient
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"

work="$(mktemp -d)"
pids=()
tmux_pid=""
cleanup() {
    if [[ -n "$tmux_pid" ]] && kill -0 "$tmux_pid" 2>/dev/null; then
        kill "$tmux_pid" 2>/dev/null || true
        # Not our child (tmux daemonizes), so poll rather than wait.
        for _ in $(seq 50); do kill -0 "$tmux_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    # Newest first: xterm before Xvfb, the holds (Ctrl-C closes politely) before the server.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -INT "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    rm -rf "$work" || true
}
trap cleanup EXIT

wait_for() { # wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || { echo "timed out waiting for: $*" >&2; return 1; }
        sleep 0.1
    done
}

echo "== starting wsppsrv"
"$bin/wsppsrv" --addr 127.0.0.1:0 --ping-interval 500ms 2>"$work/server.log" &
pids+=($!)
wait_for 20 grep -q 'listening addr=' "$work/server.log"
addr="$(grep -o 'listening addr=[0-9.:]*' "$work/server.log" | head -1 | cut -d= -f2)"

echo "== two background hold sessions"
for agent in "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" "websocat/1.13"; do
    "$bin/wsppclient" --server "$addr" --user-agent "$agent" hold --interval 500ms \
        >/dev/null 2>&1 </dev/null &
    pids+=($!)
done

echo "== starting Xvfb"
display=""
for n in $(seq 90 140); do
    if [[ ! -e "/tmp/.X$n-lock" && ! -e "/tmp/.X11-unix/X$n" ]]; then
        display=":$n"
        break
    fi
done
[[ -n "$display" ]] || { echo "no free X display" >&2; exit 1; }
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
wait_for 20 test -e "/tmp/.X11-unix/X${display#:}"

echo "== starting xterm with the UI"
t() { tmux -u -S "$work/tmux.sock" "$@"; }
# tmux inside xterm so that send-keys can type; its status line off, so only the UI shows.
cat >"$work/tmux.conf" <<'EOF'
set -g status off
set -g default-terminal "xterm-256color"
EOF
DISPLAY="$display" LANG=C.UTF-8 xterm -title wspp-tui -geometry 120x36+0+0 \
    -fa 'DejaVu Sans Mono' -fs 11 -fbx -bg '#1c1c1c' -fg '#d0d0d0' -u8 \
    -e tmux -u -S "$work/tmux.sock" -f "$work/tmux.conf" new-session -s shot \
    "env XDG_STATE_HOME=$work/state $bin/wsppclient --server $addr" &
pids+=($!)
screen_has() { t capture-pane -p -t shot 2>/dev/null | grep -q -- "$1"; }
wait_for 20 screen_has 'requests'
tmux_pid="$(t display -p -t shot '#{pid}')"

echo "== pinging for ${ping_seconds}s"
t send-keys -t shot 5
wait_for 20 screen_has 'latency · ping'
sleep "$ping_seconds"
# The clients pane has found our own session by now (it refreshes every 2 s).
wait_for 20 screen_has '★'

echo "== capturing"
# A full redraw first: xterm leaves a pixel of a wide glyph behind in a cell that was
# not redrawn since, which shows as thin lines where the sparkline's bars used to be.
t refresh-client -t "$(t list-clients -F '#{client_name}' | head -1)"
sleep 0.5
window="$(DISPLAY="$display" xwininfo -name wspp-tui | awk '/Window id:/ {print $4}')"
mkdir -p "$(dirname "$out")"
DISPLAY="$display" import -window "$window" "$out"
echo "wrote $out ($(identify -format '%wx%h' "$out"))"
