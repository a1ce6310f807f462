#!/usr/bin/env bash
# What a WebSocket over HTTP/2 costs against one over HTTP/1.1, in one run on one
# machine: the figures of docs/benchmarks.md, section 16.
#
# 1. Ping RTT, user to user (over HTTP/2 there is no other clock), over ws:// HTTP/1.1,
#    h2c, wss:// HTTP/1.1 and wss:// h2, against one wsppsrv pinned to one core and the
#    client on the other, each as a ratio to the raw TCP round trip measured by
#    `wsppbench floor-client` in the same run; and the server's CPU time (utime +
#    stime, /proc/PID/stat) per round trip. ROUNDS rounds of PINGS pings each, every
#    round taking the four in turn after a warm-up of each; medians over the rounds.
# 2. Server memory per idle WebSocket: a fresh wsppsrv per case, its resident set
#    before and with IDLE idle WebSockets opened by `wsppclient load` (HTTP/1.1; HTTP/2
#    one per connection; HTTP/2 STREAMS per connection), probing once an hour.
#
#   scripts/h2-bench.sh            PINGS=20000 ROUNDS=3 IDLE=2000 STREAMS=100
#
# Builds the release binaries first (a no-op when they are current). Loopback only;
# every process started here is stopped by its PID.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/children.sh
source scripts/children.sh

PINGS=${PINGS:-20000}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-2000}
STREAMS=${STREAMS:-100}
readonly SERVER_CPU=0 CLIENT_CPU=1 WAIT=600

die() {
    echo "h2-bench: $*" >&2
    exit 2
}
command -v taskset >/dev/null || die "taskset is needed (util-linux)"
cargo build --release --locked --quiet -p wsppsrv -p wsppclient -p wsppbench ||
    die "cargo build --release failed"
bin=${CARGO_TARGET_DIR:-target}/release
work_dir

ticks=$(getconf CLK_TCK)
# cpu_ticks PID: the process's user and system time so far, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# server ARGS...: a wsppsrv pinned to SERVER_CPU, with TLS beside plain HTTP; sets
# `server_pid`, `plain` and `tls` (ports).
servers=0
server() {
    # A log of its own: the last server's would still name its port.
    local log="$work/server-$((++servers)).log"
    start_wsppsrv "$log" taskset -c "$SERVER_CPU" "$bin/wsppsrv" \
        --tls-self-signed --tls-addr 127.0.0.1:0 --tls-self-signed-cert "$work/cert.pem" \
        --ping-interval 1h --ping-timeout 1h "$@"
    [[ -n $wsppsrv_port ]] || die "wsppsrv did not start: $(cat "$log")"
    server_pid=${pids[-1]} plain=$wsppsrv_port tls=
    local i
    for ((i = 0; i < WAIT; i++)); do
        tls=$(grep -Eo 'listening \(tls\) addr=127\.0\.0\.1:[0-9]+' "$log" | cut -d: -f2)
        [[ -n $tls ]] && break
        sleep 0.1
    done
    [[ -n $tls ]] || die "wsppsrv did not say where TLS listens"
}

stop_server() {
    stop_child "$server_pid" TERM
}

# The four ways, as wsppclient's arguments.
case_args() {
    case $1 in
        h1) echo "ws://127.0.0.1:$plain/pingpong" ;;
        h2c) echo "--http2 ws://127.0.0.1:$plain/pingpong" ;;
        wss-h1) echo "--ca $work/cert.pem wss://localhost:$tls/pingpong" ;;
        wss-h2) echo "--http2 --ca $work/cert.pem wss://localhost:$tls/pingpong" ;;
    esac
}
readonly CASES="h1 h2c wss-h1 wss-h2"

echo "== RTT: $ROUNDS rounds of $PINGS pings, server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
server
: >"$work/rtt.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    floor=$(taskset -c "$CLIENT_CPU" "$bin/wsppbench" floor-client --server-cpu "$SERVER_CPU" \
        --count "$PINGS") || die "the floor did not run"
    echo -e "$round\tfloor\t$floor\t0" >>"$work/rtt.tsv"
    for case in $CASES; do
        # shellcheck disable=SC2046 # the arguments split on purpose
        taskset -c "$CLIENT_CPU" "$bin/wsppclient" --no-local-server ping -q -c 1000 -i 0 \
            $(case_args "$case") >/dev/null || die "$case: the warm-up failed"
        before=$(cpu_ticks "$server_pid")
        # shellcheck disable=SC2046
        json=$(taskset -c "$CLIENT_CPU" "$bin/wsppclient" --no-local-server ping -U --json \
            -c "$PINGS" -i 0 $(case_args "$case")) || die "$case: the run failed: $json"
        after=$(cpu_ticks "$server_pid")
        figures=$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
def f(name):
    v = s.get("user_rtt_" + name + "_ms")
    return (v if v is not None else s["rtt_" + name + "_ms"]) * 1000
print(" ".join(str(f(name)) for name in ["p50", "p90", "p99", "p999", "max"]))
' "$json")
        echo -e "$round\t$case\t$figures\t$((after - before))" >>"$work/rtt.tsv"
    done
    echo "round $round of $ROUNDS done"
done
stop_server

python3 - "$work/rtt.tsv" "$PINGS" "$ticks" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
pings, ticks = int(sys.argv[2]), int(sys.argv[3])
by = {}
for rnd, case, figures, cpu in rows:
    p50, p90, p99, p999, mx = map(float, figures.split())
    by.setdefault(case, []).append((int(rnd), p50, p99, p999, int(cpu)))
floor = {r: (p50, p99, p999) for r, p50, p99, p999, _ in by["floor"]}
names = {"floor": "raw TCP (floor)", "h1": "ws:// HTTP/1.1", "h2c": "h2c",
         "wss-h1": "wss:// HTTP/1.1", "wss-h2": "wss:// h2"}
print("| ping RTT, user to user | p50 | p99 | p99.9 | p50 / floor | p99 / floor | p99.9 / floor | server CPU per round trip |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for case in ["floor", "h1", "h2c", "wss-h1", "wss-h2"]:
    runs = by[case]
    med = lambda i: statistics.median(r[i] for r in runs)
    ratio = lambda i: statistics.median(r[i] / floor[r[0]][i - 1] for r in runs)
    cpu = "" if case == "floor" else f"{statistics.median(r[4] for r in runs) / ticks / pings * 1e6:.1f} µs"
    print(f"| {names[case]} | {med(1):.1f} µs | {med(2):.1f} µs | {med(3):.1f} µs | "
          f"{ratio(1):.2f} | {ratio(2):.2f} | {ratio(3):.2f} | {cpu} |")
EOF

echo "== memory: $IDLE idle WebSockets per case, a fresh server each"
# memory LABEL GLOBAL LOAD: the server's RSS per WebSocket with IDLE of them opened by
# `wsppclient GLOBAL load LOAD` (each a space-separated list of options, maybe empty).
memory() {
    local label=$1 global=$2 options=$3 i open= before after load_pid listed
    server --max-connections $((IDLE + 64))
    # Warm: what is allocated once (the first connection, the first list) is in the
    # baseline.
    # shellcheck disable=SC2086 # the options split on purpose
    "$bin/wsppclient" --no-local-server $global ping -q -c 1 "ws://127.0.0.1:$plain/pingpong" \
        >/dev/null || die "$label: the warm-up failed"
    clients_json >/dev/null
    before=$(rss_kib "$server_pid")
    # shellcheck disable=SC2086
    taskset -c "$CLIENT_CPU" "$bin/wsppclient" --no-local-server $global load $options \
        --ndjson --connections "$IDLE" -i 3600 --duration 1h "ws://127.0.0.1:$plain/pingpong" \
        >"$work/load.ndjson" 2>"$work/load.err" &
    load_pid=$!
    pids+=("$load_pid")
    for ((i = 0; i < WAIT; i++)); do
        open=$(tail -n 1 "$work/load.ndjson" 2>/dev/null | python3 -c '
import json, sys
line = sys.stdin.read().strip()
print(json.loads(line)["connections"] if line else 0)' 2>/dev/null)
        [[ $open == "$IDLE" ]] && break
        sleep 0.1
    done
    [[ $open == "$IDLE" ]] || die "$label: $open of $IDLE WebSockets open: $(cat "$work/load.err")"
    # As wsppbench's memory section: one second for the last ones to settle.
    sleep 1
    after=$(rss_kib "$server_pid")
    listed=$(clients_json | python3 -c '
import json, sys
clients = json.load(sys.stdin)["clients"]
versions = ", ".join(sorted({str(c.get("http_version")) for c in clients}))
ports = len({c["peer"] for c in clients})
print(f"{len(clients)} listed, {ports} peer ports, HTTP {versions}")')
    stop_child "$load_pid" INT
    stop_server
    python3 -c "print(f'| $label | $before KiB | $after KiB | {($after - $before) / $IDLE:.2f} KiB | $listed |')"
}
# clients_json: the server's list, every client on one page.
clients_json() {
    python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
        "http://127.0.0.1:$plain/clients.json?limit=$((IDLE + 64))"
}
echo "| $IDLE idle WebSockets | server RSS before | with them | per WebSocket | /clients.json |"
echo "| --- | ---: | ---: | ---: | --- |"
memory "HTTP/1.1" "" ""
memory "h2c, 1 per connection" --http2 ""
memory "h2c, $STREAMS per connection" --http2 "--streams $STREAMS"
