#!/usr/bin/env bash
# End-to-end smoke test of wsppclient's terminal UI, as a user meets it: the real
# binary in a real pseudo-terminal (tmux, 80x24) against a real wsppsrv on a free
# loopback port.
#
#   1. start the UI; see listen and load in the menu; run open-close; see its close 1000 in the transcript;
#      quit with q; the terminal is given back (alternate screen left, cursor
#      shown, icanon and echo on) and the exit status is 0;
#   2. the same after Ctrl-C during a hold (exit status 130);
#   3. the same after SIGTERM from another process (exit status 143).
#
# Installs tmux with apt-get if it is missing. Every wait is a bounded poll.
# Everything started here is stopped by PID on exit. Prints "N passed, M failed"
# and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tmux >/dev/null 2>&1; then
    echo "== installing tmux"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq tmux >/dev/null
fi

echo "== building wsppsrv and wsppclient"
cargo build --locked --quiet -p wsppsrv -p wsppclient
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug"

work="$(mktemp -d)"
server_pid=""
tmux_pid=""
passed=0
failed=0

cleanup() {
    # Our tmux server (its socket is in $work; the pane's shell and client get
    # SIGHUP with it), then wsppsrv.
    if [[ -n "$tmux_pid" ]] && kill -0 "$tmux_pid" 2>/dev/null; then
        kill "$tmux_pid" 2>/dev/null || true
        # Not our child (tmux daemonizes), so poll rather than wait.
        for _ in $(seq 50); do kill -0 "$tmux_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work" || true
}
trap cleanup EXIT

check() { # check NAME COMMAND...: runs COMMAND, counts and reports the result
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
        echo "---- screen ----"
        t capture-pane -p -t smoke 2>/dev/null || true
        echo "----------------"
    fi
}

wait_for() { # wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# -u: the screen holds UTF-8 (box drawing, ★) whatever the locale says.
t() { tmux -u -S "$work/tmux.sock" "$@"; }
screen() { t capture-pane -p -t smoke; }
screen_has() { screen | grep -qE -- "$1"; }
pane_flag() { [[ "$(t display -p -t smoke "#{$1}")" == "$2" ]]; }

# The PID of the pane's foreground child (the client), read from /proc: no pgrep needed.
client_pid() {
    local shell_pid stat rest
    shell_pid="$(t display -p -t smoke '#{pane_pid}')"
    for stat in /proc/[0-9]*/stat; do
        rest="$(cat "$stat" 2>/dev/null)" || continue
        rest="${rest##*) }" # fields after the command name: state ppid ...
        read -r _ ppid _ <<<"$rest"
        if [[ "$ppid" == "$shell_pid" ]]; then
            stat="${stat#/proc/}"
            echo "${stat%/stat}"
            return 0
        fi
    done
    return 1
}

echo "== starting wsppsrv on a free loopback port"
"$bin/wsppsrv" --addr 127.0.0.1:0 --ping-interval 200ms 2>"$work/server.log" &
server_pid=$!
wait_for 20 grep -q 'listening addr=' "$work/server.log"
addr="$(grep -o 'listening addr=[0-9.:]*' "$work/server.log" | head -1 | cut -d= -f2)"
echo "   server at $addr (pid $server_pid)"

echo "== starting tmux (80x24)"
t -f /dev/null new-session -d -s smoke -x 80 -y 24 \
    "env -i PATH=/usr/bin:/bin HOME=$work TERM=xterm-256color XDG_STATE_HOME=$work/state PS1='smoke\$ ' bash --norc --noprofile"
tmux_pid="$(t display -p -t smoke '#{pid}')"
wait_for 10 screen_has 'smoke\$'

# start_ui: runs the client in the pane, printing its exit status when it ends.
start_ui() {
    t send-keys -t smoke "clear; $bin/wsppclient --server $addr; echo \"exit=\$?\"" Enter
    wait_for 20 pane_flag alternate_on 1 && wait_for 20 screen_has 'requests'
}

# given_back STATUS: the client ended with STATUS and the terminal is the shell's again.
given_back() {
    local status="$1"
    wait_for 10 screen_has "^exit=[0-9]+" || return 1
    screen_has "^exit=$status\$" || {
        echo "   expected exit=$status"
        return 1
    }
    pane_flag alternate_on 0 || {
        echo "   still in the alternate screen"
        return 1
    }
    pane_flag cursor_flag 1 || {
        echo "   the cursor is hidden"
        return 1
    }
    rm -f "$work/stty"
    t send-keys -t smoke "stty -a > $work/stty" Enter
    wait_for 10 test -s "$work/stty" || return 1
    grep -qw -- '-icanon' "$work/stty" && { echo "   icanon is off"; return 1; }
    grep -qw -- '-echo' "$work/stty" && { echo "   echo is off"; return 1; }
    grep -qw -- 'icanon' "$work/stty" && grep -qw -- 'echo' "$work/stty"
}

echo "== 1: open-close, then q"
check "the terminal UI starts in the alternate screen" start_ui
check "the menu lists open-close" screen_has 'open-close'
check "the menu lists listen, after the requests, on 80x24" screen_has '│ +listen '
check "the menu lists load, last, on 80x24" screen_has '│ +load '
t send-keys -t smoke 3
check "open-close shows close 1000 in the transcript" \
    wait_for 20 screen_has 'closed: 1000|Close fin=1 mask=[01] len=[0-9]+ 1000'
check "the run ends by itself" wait_for 20 screen_has 'open-close · done in'
t send-keys -t smoke q
check "q quits, exit status 0, terminal restored" given_back 0

echo "== 2: hold, then Ctrl-C"
check "the terminal UI starts again" start_ui
t send-keys -t smoke 4
check "hold shows echo round trips" wait_for 20 screen_has 'echo seq=[0-9]+ rtt='
check "the clients pane shows this client (★)" wait_for 20 screen_has '★'
t send-keys -t smoke C-c
check "Ctrl-C quits, exit status 130, terminal restored" given_back 130

echo "== 3: SIGTERM"
check "the terminal UI starts again" start_ui
if pid="$(client_pid)"; then
    echo "   client pid $pid"
    kill -TERM "$pid"
    check "SIGTERM quits, exit status 143, terminal restored" given_back 143
else
    check "the client's pid is found" false
fi

echo "$passed passed, $failed failed"
((failed == 0))
