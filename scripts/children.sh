# shellcheck shell=bash
# Sourced by the scripts that start background processes: each one's PID goes into
# `pids` (pids+=($!)), and on exit, however the script ends, every one still running is
# stopped and reaped. Only these PIDs are ever signalled.
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
stop_children() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}
trap stop_children EXIT
