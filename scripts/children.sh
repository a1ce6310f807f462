# shellcheck shell=bash
# Sourced by the scripts that start background processes: each one's PID goes into
# `pids` (pids+=($!)), and on exit, however the script ends, every one still running is
# stopped and reaped. Only these PIDs are ever signalled, and every wait is bounded.
pids=()

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# stop_child PID SIGNAL: signals PID, waits up to 15 s for it, kills it if it stays,
# and reaps it.
stop_child() {
    local pid=$1 i
    alive "$pid" && kill -s "$2" "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && kill -s KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
stop_children() {
    local pid
    for pid in "${pids[@]}"; do
        stop_child "$pid" TERM
    done
}
trap stop_children EXIT

# free_port: prints a loopback port nothing listens on now, or nothing after 50 tries.
# Another program may take it before the caller binds it: the caller's wait for its
# server then says so.
free_port() {
    local i candidate
    for ((i = 0; i < 50; i++)); do
        candidate=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}

# start_wsppsrv LOG WSPPSRV ARGS...: starts the WSPPSRV binary on 127.0.0.1:0 with ARGS,
# logging at info to LOG, as one of `pids`; sets `wsppsrv_port` once it says where it
# listens (empty if it does not within 30 s).
start_wsppsrv() {
    local log=$1 i
    shift
    RUST_LOG=info NO_COLOR=1 "$@" --addr 127.0.0.1:0 2>"$log" &
    pids+=($!)
    wsppsrv_port=
    for ((i = 0; i < 300; i++)); do
        wsppsrv_port=$(grep -Eo 'listening addr=127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | cut -d: -f2 || true)
        [[ -n $wsppsrv_port ]] && return
        sleep 0.1
    done
}
