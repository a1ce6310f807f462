#!/usr/bin/env bash
# Load generators side by side: `wsppclient load`, Artillery (its ws engine) and Locust
# (a WebSocket user on websocket-client), one after the other against the same release
# wsppsrv on loopback, each holding CONNECTIONS connections that send one probe a
# second for about SECONDS seconds. Every probe is a Text message the server echoes
# (`wsppclient load --echo`), so the three put the same frames on the wire.
#
# For each generator it prints:
#   connections per GB   connections held / peak RSS of the generator's processes
#                        (summed over its process tree, sampled from /proc every 0.2 s)
#   CPU per probe        utime + stime of those processes over the run (from /proc),
#                        divided by the probes answered on the wire
#   reported latency     what the tool itself says about round trips
#   wire latency         tshark's capture of the run: each Text message a client sent
#                        paired with the next one the server sent back on that
#                        connection, p50 and p99 of the time between the two frames
#
# The server does not ping (--ping-interval 1h), so the captured frames are the
# generators' probes and their echoes alone.
#
#   scripts/compare-load-tools.sh [--connections N] [--seconds S] [--bin DIR]   (as root)
#
# --bin DIR measures the wsppsrv and wsppclient in DIR instead of building them.
#
# Installs, once, under .cache/load-tools/: Artillery from npm and Locust with
# websocket-client from PyPI (a venv); tshark from Debian if missing. Builds release
# wsppsrv and wsppclient (minutes the first time). Loopback only; every run is bounded
# by `timeout`; only processes started here are stopped, by PID.
set -uo pipefail
cd "$(dirname "$0")/.."

ARTILLERY_VERSION=2.0.34
LOCUST_VERSION=2.47.0
WEBSOCKET_CLIENT_VERSION=1.9.2

CONNECTIONS=1000
SECONDS_HELD=60
bin=
while (($#)); do
    case $1 in
        --connections) CONNECTIONS=${2:-}; shift 2 || true ;;
        --seconds) SECONDS_HELD=${2:-}; shift 2 || true ;;
        --bin) bin=${2:-}; shift 2 || true ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare-load-tools: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ && $SECONDS_HELD =~ ^[1-9][0-9]*$ ]] ||
    { echo "compare-load-tools: --connections and --seconds take positive whole numbers" >&2; exit 2; }
# Connections are opened over the first tenth of the run (at least a second).
RAMP=$(((SECONDS_HELD + 9) / 10))

die() {
    echo "compare-load-tools: $*" >&2
    exit 2
}

# Each generator holds a descriptor per connection; the server, the same again.
ulimit -n "$(ulimit -Hn)" || die "cannot raise the descriptor limit"
(($(ulimit -n) > CONNECTIONS + 256)) || die "the descriptor limit ($(ulimit -n)) is too low for $CONNECTIONS connections"

# shellcheck source=scripts/children.sh
source scripts/children.sh
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
work_dir

cache=$PWD/.cache/load-tools
mkdir -p "$cache"

# --- the tools ---------------------------------------------------------------------

ARTILLERY=$cache/npm/node_modules/.bin/artillery
if [[ ! -x $ARTILLERY ]]; then
    command -v npm >/dev/null || die "npm is missing (Debian: apt-get install npm)"
    echo "compare-load-tools: installing Artillery $ARTILLERY_VERSION" >&2
    # --ignore-scripts: the browser engine's packages would fetch browsers otherwise.
    npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$cache/npm" \
        "artillery@$ARTILLERY_VERSION" >&2 || die "npm install artillery failed"
fi
PY=$cache/venv/bin/python
if ! "$PY" -c 'import locust, websocket' 2>/dev/null; then
    echo "compare-load-tools: installing Locust $LOCUST_VERSION and websocket-client" >&2
    rm -rf "$cache/venv"
    python3 -m venv "$cache/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$cache/venv/bin/pip" install --quiet --disable-pip-version-check \
        "locust==$LOCUST_VERSION" "websocket-client==$WEBSOCKET_CLIENT_VERSION" >&2 ||
        die "pip install locust failed"
fi
command -v tshark >/dev/null || ensure_package tshark tshark
# Artillery reports usage to its makers unless told not to; this is a loopback run.
export ARTILLERY_DISABLE_TELEMETRY=true
if [[ -z $bin ]]; then
    echo "compare-load-tools: building release wsppsrv and wsppclient" >&2
    # The set bench.sh and bench-instructions.sh build: the same features, the same artifacts.
    cargo build --release --locked --quiet -p wsppsrv -p wsppclient -p wsppbench >&2 || die "cargo build failed"
    bin=${CARGO_TARGET_DIR:-target}/release
fi
[[ -x $bin/wsppsrv && -x $bin/wsppclient ]] || die "no wsppsrv and wsppclient in $bin"

# --- measuring ---------------------------------------------------------------------

# sample ROOT_PID OUT: until ROOT_PID exits, every 0.2 s, the RSS of ROOT_PID and its
# descendants summed (the peak kept) and each one's utime + stime (its last reading
# kept); then writes "peak_rss_bytes cpu_seconds" to OUT.
sample() {
    "$PY" - "$1" "$2" <<'PY'
import os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")

def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the name: state ppid ... utime (14th field) stime (15th) ... rss (24th)
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]) * page

cpu, peak = {}, 0
while os.path.exists(f"/proc/{root}"):
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                table[int(name)] = stat(name)
            except (OSError, IndexError, ValueError):
                pass
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            tree.append(pid)
            todo.extend(children.get(pid, []))
    if root in table and table[root][2] == 0:
        break  # a zombie: it has exited
    peak = max(peak, sum(table[pid][2] for pid in tree))
    for pid in tree:
        cpu[pid] = table[pid][1]
    time.sleep(0.2)
with open(out, "w") as f:
    f.write(f"{peak} {sum(cpu.values()) / tick}\n")
PY
}

# wire PCAP: "pairs p50_ms p99_ms" of the capture's request/echo pairs (see the top).
wire() {
    timeout 600 tshark -r "$1" -d "tcp.port==$port,http" -Y 'websocket.opcode == 1' \
        -T fields -E separator=/t -e frame.time_epoch -e tcp.stream -e tcp.dstport 2>/dev/null |
        "$PY" -c '
import sys
port, waiting, rtts = sys.argv[1], {}, []
for line in sys.stdin:
    at, stream, dst = line.split("\t")
    at = float(at)
    if dst.strip() == port:
        waiting.setdefault(stream, []).append(at)
    elif waiting.get(stream):
        rtts.append(at - waiting[stream].pop(0))
rtts.sort()
pick = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))] * 1e3 if rtts else float("nan")
print(len(rtts), "%.3f" % pick(0.5), "%.3f" % pick(0.99))
' "$port"
}

# capture NAME: starts tshark on the server's port into $work/NAME.pcap.
capture() {
    local i
    # Whole packets: the dissector needs the upgrade's request and response to know
    # that what follows is WebSocket.
    tshark -i lo -f "tcp port $port" -w "$work/$1.pcap" >"$work/$1.tshark.log" 2>&1 &
    tshark_pid=$!
    pids+=("$tshark_pid")
    for ((i = 0; i < 100; i++)); do
        grep -qs '^Capturing on' "$work/$1.tshark.log" && return 0
        sleep 0.1
    done
    die "tshark cannot capture on lo (needs root): $(tr '\n' ' ' <"$work/$1.tshark.log")"
}

# run NAME CMD...: runs CMD (bounded) under capture and sampling; its output in
# $work/NAME.out.
run() {
    local name=$1
    shift
    echo "compare-load-tools: $name: $CONNECTIONS connections, one probe a second, ${SECONDS_HELD}s" >&2
    capture "$name"
    timeout -k 5 $((SECONDS_HELD * 2 + 60)) "$@" >"$work/$name.out" 2>&1 &
    local pid=$!
    pids+=("$pid")
    sample "$pid" "$work/$name.usage"
    wait "$pid"
    echo "compare-load-tools: $name exited with status $?" >&2
    sleep 0.6 # dumpcap hands packets over every quarter of a second at most
    stop_child "$tshark_pid" INT
}

start_wsppsrv "$work/wsppsrv.log" "$bin/wsppsrv" --ping-interval 1h --first-ping-delay 1h \
    --max-connections $((CONNECTIONS + 100))
[[ -n $wsppsrv_port ]] || die "wsppsrv did not start: $(tail -n 3 "$work/wsppsrv.log")"
port=$wsppsrv_port
url=ws://127.0.0.1:$port/pingpong

# --- the runs ----------------------------------------------------------------------

run wsppclient "$bin/wsppclient" --no-local-server load "$url" --echo \
    --connections "$CONNECTIONS" --open-rate $((CONNECTIONS / RAMP)) --duration "$SECONDS_HELD" --json

# Artillery: CONNECTIONS virtual users arrive over the ramp; each opens its
# connection and sends a message every second (the ws engine's `send` does not wait
# for the echo), SECONDS times.
cat >"$work/artillery.yml" <<EOF
config:
  target: "$url"
  phases:
    - duration: $RAMP
      arrivalCount: $CONNECTIONS
scenarios:
  - engine: ws
    flow:
      - loop:
          - send: "wspp-probe"
          - think: 1
        count: $SECONDS_HELD
EOF
run artillery "$ARTILLERY" run --quiet \
    --output "$work/artillery.json" "$work/artillery.yml"

# Locust: CONNECTIONS users started over the ramp; each opens its connection, then
# once a second (constant pacing) sends a message and waits for the echo, timed from
# before the send to after the receive.
cat >"$work/locustfile.py" <<'EOF'
import time

import websocket
from locust import User, constant_pacing, task


class EchoUser(User):
    wait_time = constant_pacing(1)

    def on_start(self):
        self.ws = websocket.create_connection(self.host)

    @task
    def echo(self):
        start = time.perf_counter()
        error = None
        try:
            self.ws.send("wspp-probe")
            self.ws.recv()
        except Exception as e:
            error = e
        self.environment.events.request.fire(
            request_type="WS", name="echo", context={}, exception=error,
            response_time=(time.perf_counter() - start) * 1000, response_length=10)

    def on_stop(self):
        self.ws.close()
EOF
run locust "$cache/venv/bin/locust" -f "$work/locustfile.py" --headless --only-summary \
    --host "$url" -u "$CONNECTIONS" -r $((CONNECTIONS / RAMP)) --run-time $((SECONDS_HELD + RAMP))s \
    --stop-timeout 5 --csv "$work/locust" --loglevel WARNING

# --- the table ---------------------------------------------------------------------

# What each tool says about the round trips it timed.
reported() {
    case $1 in
        wsppclient)
            # Its stderr (a line a second) is in the file too: the summary is the JSON line.
            grep '^{' "$work/wsppclient.out" | tail -n 1 |
                jq -r '"p50 \(.rtt_p50_ms) ms, p99 \(.rtt_p99_ms) ms (\(.clock) clock), \(.received) answered"' \
                    2>/dev/null || echo "no summary: $(tail -n 1 "$work/wsppclient.out")"
            ;;
        artillery)
            jq -r '"none: counters only (\(.aggregate.counters["websocket.messages_sent"] // 0) messages sent)"' \
                "$work/artillery.json" 2>/dev/null || echo "no report: $(tail -n 1 "$work/artillery.out")"
            ;;
        locust)
            # Locust keeps response times above 100 ms to two digits and below it to
            # whole milliseconds; the mean is exact.
            "$PY" - "$work/locust_stats.csv" <<'PY' 2>/dev/null || echo "no stats: $(tail -n 1 "$work/locust.out")"
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["Name"] == "echo":
        print(f"p50 {row['50%']} ms, p99 {row['99%']} ms, mean {float(row['Average Response Time']):.3f} ms, "
              f"min {float(row['Min Response Time']):.3f} ms, {row['Request Count']} answered")
PY
            ;;
    esac
}

version() {
    case $1 in
        wsppclient) echo "wsppclient load (release)" ;;
        artillery) echo "Artillery $ARTILLERY_VERSION (ws engine)" ;;
        locust) echo "Locust $LOCUST_VERSION + websocket-client $WEBSOCKET_CLIENT_VERSION" ;;
    esac
}

echo
echo "$CONNECTIONS connections x 1 probe/s (Text echo) for ${SECONDS_HELD}s each, one after the other, against one release wsppsrv; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| generator | connections per GB of RSS | CPU per probe | what it reports as latency | on the wire (tshark): p50 / p99 |"
echo "| --- | ---: | ---: | --- | --- |"
for name in wsppclient artillery locust; do
    read -r rss cpu <"$work/$name.usage" || { rss=0; cpu=0; }
    read -r pairs p50 p99 < <(wire "$work/$name.pcap")
    awk -v name="$(version "$name")" -v n="$CONNECTIONS" -v rss="$rss" -v cpu="$cpu" -v pairs="$pairs" \
        -v said="$(reported "$name")" -v p50="$p50" -v p99="$p99" 'BEGIN {
            per_gb = rss > 0 ? sprintf("%d (peak %.1f MiB)", n / (rss / 1e9), rss / 1048576) : "?"
            per_probe = pairs > 0 ? sprintf("%.1f µs (%.2f s / %d)", cpu / pairs * 1e6, cpu, pairs) : "?"
            printf "| %s | %s | %s | %s | %s / %s ms (%d pairs) |\n", name, per_gb, per_probe, said, p50, p99, pairs
        }'
done
