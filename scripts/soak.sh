#!/usr/bin/env bash
# Soak test of wsppsrv: several processes churn WebSocket sessions against one server on
# 127.0.0.1 for a bounded time, then the server must be back where it started: no client
# listed, resident memory within a small margin of the warmed-up baseline, the same
# descriptors, and no task left when it shuts down.
#
#   scripts/soak.sh
#
# Environment (all bounded; defaults in brackets):
#   SOAK_PROCESSES    load processes at once [4]
#   SOAK_CONCURRENCY  sessions at once per process [64]
#   SOAK_SECONDS      length of the soak [120]
#   SOAK_WARMUP       length of the warm-up (same load) that sets the memory baseline [15]
#   SOAK_SESSIONS     most sessions per process, whatever the time [200000]
#   SOAK_PROFILE      release or debug [release: memory figures of the real build]
#
# The load is crates/wsppsrv/examples/soak_load.rs; see its module doc for the mix.
# Exit status: 0 when every check holds, 1 when one does not, 2 when the run broke.
set -euo pipefail

processes=${SOAK_PROCESSES:-4}
concurrency=${SOAK_CONCURRENCY:-64}
seconds=${SOAK_SECONDS:-120}
warmup=${SOAK_WARMUP:-15}
sessions=${SOAK_SESSIONS:-200000}
profile=${SOAK_PROFILE:-release}
# Memory may end this much above the warmed-up baseline: allocator caches and the
# registry's map keep some capacity after a peak, and that is not a leak.
readonly RSS_MARGIN_KIB=4096
readonly RSS_MARGIN_PERCENT=20

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="$root/.cache/soak"
mkdir -p "$work"

die() { echo "soak: $*" >&2; exit 2; }
for n in "$processes" "$concurrency" "$seconds" "$warmup" "$sessions"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "SOAK_* values must be whole numbers"
done
((seconds <= 600)) || die "SOAK_SECONDS is at most 600: a soak here is minutes, not hours"

# Every session is two descriptors in this machine's processes (client and server).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((concurrency * 2 + 256))
(($(ulimit -n) >= need)) || die "ulimit -n is $(ulimit -n); the load needs $need"

# shellcheck source=scripts/children.sh
source "$root/scripts/children.sh"

flags=()
[[ "$profile" == release ]] && flags+=(--release)
(cd "$root" && cargo build --quiet "${flags[@]}" -p wsppsrv --bin wsppsrv --example soak_load) ||
    die "cargo build failed"
server="$root/target/$profile/wsppsrv"
load="$root/target/$profile/examples/soak_load"

log="$work/wsppsrv.log"
# Pings every 100 ms so that every session sees several; warnings (protocol breaches
# by the load, on purpose) and the server's lifecycle lines go to the log.
RUST_LOG=${RUST_LOG:-warn,wsppsrv::server=info} NO_COLOR=1 "$server" \
    --addr 127.0.0.1:0 --ping-interval 100ms --ping-timeout 2s >"$log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
addr=
for _ in $(seq 1 200); do
    addr=$(grep -o 'listening addr=127\.0\.0\.1:[0-9]\+' "$log" | head -n1 | cut -d= -f2) || true
    [[ -n "$addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "wsppsrv exited"; }
    sleep 0.05
done
[[ -n "$addr" ]] || die "wsppsrv did not say where it listens"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status"; }
fds() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# Waits (bounded) until the server's descriptors are back to $1; prints the count.
settle_fds() {
    local want=$1 now i
    for i in $(seq 1 200); do
        now=$(fds)
        ((now <= want)) && break
        sleep 0.05
    done
    echo "$now"
}

# Runs the load from $1 processes for $2 seconds; prints the load lines to $3.
run_load() {
    local count=$1 secs=$2 out=$3 i failed=0 load_pids=()
    : >"$out"
    for i in $(seq 1 "$count"); do
        "$load" load "$addr" --seconds "$secs" --sessions "$sessions" \
            --concurrency "$concurrency" --seed "$i$secs" >>"$out" 2>&1 &
        load_pids+=($!)
        pids+=($!)
    done
    for pid in "${load_pids[@]}"; do
        wait "$pid" || failed=1
    done
    return "$failed"
}

echo "soak: wsppsrv ($profile) at $addr, pid $server_pid; $processes processes x $concurrency sessions, ${seconds}s after a ${warmup}s warm-up"
start_rss=$(rss_kib)
start_fds=$(fds)

run_load "$processes" "$warmup" "$work/warmup.txt" || { cat "$work/warmup.txt" >&2; die "warm-up load failed"; }
"$load" wait-empty "$addr" --seconds 30 || die "registry not empty after the warm-up"
base_fds=$(settle_fds "$start_fds")
base_rss=$(rss_kib)

started=$SECONDS
status=0
run_load "$processes" "$seconds" "$work/load.txt" || status=1
took=$((SECONDS - started))
cat "$work/load.txt"
peak_rss=$(hwm_kib)

empty=ok
"$load" wait-empty "$addr" --seconds 30 || { empty=FAILED; status=1; }
end_fds=$(settle_fds "$base_fds")
end_rss=$(rss_kib)

kill -TERM "$server_pid"
for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
server_exit=0
wait "$server_pid" || server_exit=$?
tasks=$(grep -o 'shutting down tasks=[0-9]\+' "$log" | cut -d= -f2 || echo '?')

sum() { grep -o "$1=[0-9]\+" "$work/load.txt" | cut -d= -f2 | paste -sd+ | bc; }
total=$(($(sum echo_sessions) + $(sum open_close) + $(sum http) + $(sum abandoned) + $(sum violations)))
allowed=$((base_rss + RSS_MARGIN_KIB > base_rss * (100 + RSS_MARGIN_PERCENT) / 100 ? base_rss + RSS_MARGIN_KIB : base_rss * (100 + RSS_MARGIN_PERCENT) / 100))

check() { # name, ok?, detail
    printf '  %-28s %-6s %s\n' "$1" "$([[ "$2" == 1 ]] && echo ok || echo FAILED)" "$3"
    [[ "$2" == 1 ]] || status=1
}
echo "soak: ${took}s, $total connections ($((total / (took > 0 ? took : 1)))/s), $(sum echoes) echoes, $(sum server_pings) server pings answered, $(sum resets) resets, $(sum hang_ups) hang-ups, $(sum errors) load errors"
check "load errors" "$(($(sum errors) == 0))" "$(sum errors)"
check "registry empty" "$([[ $empty == ok ]] && echo 1 || echo 0)" "GET /clients.json: clients_now 0"
check "rss back" "$((end_rss <= allowed))" "start ${start_rss} KiB, warm ${base_rss} KiB, peak ${peak_rss} KiB, end ${end_rss} KiB (allowed ${allowed})"
check "descriptors back" "$((end_fds <= base_fds))" "start ${start_fds}, warm ${base_fds}, end ${end_fds}"
check "no task left" "$([[ $tasks == 0 ]] && echo 1 || echo 0)" "tasks at shutdown: $tasks"
check "clean exit on SIGTERM" "$((server_exit == 0))" "exit status $server_exit"
exit "$status"
