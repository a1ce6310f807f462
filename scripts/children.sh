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
