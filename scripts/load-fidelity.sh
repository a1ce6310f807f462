#!/usr/bin/env bash
# Fidelity under load: the RTT percentiles `wsppclient load` reports against the
# wire's, in the same run. tshark captures the loopback while one generator holds N
# connections (5,000 by default) to a release wsppsrv, each pinged once a second for
# the duration (30 s). Each Ping the generator sent is paired with the Pong that
# carries its payload back on the same connection, from tshark's own dissection (as
# scripts/fidelity.sh pairs them); the wire's RTT is the time between the two frames.
# The script prints the wire's p50 and p99 beside the generator's (its --json
# summary, kernel clock, timed from each probe's real send: `uncorrected_rtt_*`) and
# checks that they agree: p50 within MAX_P50_US (10 us), p99 within MAX_P99_US (50 us).
#
# Usage: scripts/load-fidelity.sh [--connections N] [--duration SECS]   (as root)
#
# The server pings its sessions only once an hour (--ping-interval 1h): the Pings on
# the wire are the generator's. A probe the generator sent late counts its lateness in
# its `rtt_*` figures (coordinated omission) where the wire does not: those are
# printed too, and on a busy machine their p99 lies above the wire's by the lateness
# (the summary's late_sends says how many).
#
# Exit status: 0 when both agree, 1 when not, 2 when nothing could be measured. Only
# processes started here are stopped, by PID; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

N=5000
DURATION=30
MAX_P50_US=${MAX_P50_US:-10}
MAX_P99_US=${MAX_P99_US:-50}
while (($#)); do
    case $1 in
        --connections) N=${2:-}; shift 2 || true ;;
        --duration) DURATION=${2:-}; shift 2 || true ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "load-fidelity: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "load-fidelity: --connections needs a positive number" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "load-fidelity: --duration needs whole seconds" >&2; exit 2; }

say() { echo "load-fidelity: $*"; }
die() {
    echo "load-fidelity: $*" >&2
    exit 2
}

# shellcheck source=scripts/children.sh
source scripts/children.sh
# shellcheck source=scripts/packages.sh
source scripts/packages.sh
work_dir
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(uname -s) == Linux ]] || die "kernel timestamps and this capture are Linux's"
if ! command -v tshark >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    fi
    ensure_package tshark tshark
fi
ulimit -n "$(ulimit -Hn)"

start_load_target "$work/wsppsrv.log" "$N" || exit 2

pcap=$work/load.pcapng
# A large capture buffer: 2N frames a second arrive in bursts of the scheduler's.
tshark -i lo -B 64 -f "tcp port $port" -w "$pcap" >"$work/tshark.log" 2>&1 &
capture=$!
pids+=("$capture")
capture_started "$capture" "$work/tshark.log" "$pcap" ||
    die "cannot capture on lo (needs root); tshark said: $(tr '\n' ' ' <"$work/tshark.log")"

say "$N connections, pinged once a second, held for $DURATION s, captured"
status=0
"$bin/wsppclient" --server "127.0.0.1:$port" --no-local-server load --connections "$N" \
    --duration "$DURATION" -w $((DURATION + 300)) --json >"$work/load.json" 2>"$work/load.err" ||
    status=$?
((status <= 1)) || die "the load run failed ($status): $(tail -n 3 "$work/load.err")"
sleep 0.6 # dumpcap hands packets over every quarter of a second at most
stop_child "$capture" INT
dropped=$(grep -Eo '[0-9]+ packets? dropped' "$work/tshark.log" | head -n 1 || true)

say "pairing the wire's Pings and Pongs"
# pinger_port payload_hex wire_us for each Ping the generator sent (to the server's
# port) and the first Pong back on its connection that echoes its payload.
timeout 600 tshark -r "$pcap" -d "tcp.port==$port,http" \
    -Y 'websocket.opcode == 9 || websocket.opcode == 10' -T fields -E separator=/t -E aggregator=, \
    -e frame.time_relative -e tcp.srcport -e tcp.dstport -e websocket.payload.ping -e websocket.payload.pong \
    2>"$work/tshark-read.log" | tr -d ':' | awk -F'\t' -v server="$port" '
    {
      n = split($4, a, ","); for (i = 1; i <= n; i++) if (a[i] != "" && $3 == server) sent[$2 " " a[i]] = $1
      n = split($5, a, ","); for (i = 1; i <= n; i++) if (a[i] != "" && $2 == server) {
        key = $3 " " a[i]
        if (key in sent) { printf "%.3f\n", ($1 - sent[key]) * 1e6; delete sent[key] }
      }
    }' >"$work/wire_us.txt"

python3 - "$work/load.json" "$work/wire_us.txt" "$MAX_P50_US" "$MAX_P99_US" "${dropped:-0 packets dropped}" <<'PY'
import json, math, sys

summary_path, wire_path, max_p50, max_p99, dropped = sys.argv[1:]
summary = json.load(open(summary_path))
wire = sorted(float(line) for line in open(wire_path) if line.strip())
if not wire:
    sys.exit("load-fidelity: no Ping/Pong pairs in the capture")

def rank(values, q):
    """Nearest-rank percentile."""
    return values[max(0, math.ceil(q * len(values)) - 1)]

w50, w99 = rank(wire, 0.50), rank(wire, 0.99)
# The wire sees when each Ping really left: compare the generator's figures timed
# from there, and show beside them the ones that carry late probes' lateness.
g50, g99 = summary["uncorrected_rtt_p50_ms"] * 1e3, summary["uncorrected_rtt_p99_ms"] * 1e3
c50, c99 = summary["rtt_p50_ms"] * 1e3, summary["rtt_p99_ms"] * 1e3
print(f"load-fidelity: generator: {summary['connections_opened']} connections, "
      f"{summary['sent']} probes sent, {summary['received']} received, {summary['lost']} lost, "
      f"{summary['late_sends']} late; clock {summary['clock']}")
print(f"load-fidelity: wire: {len(wire)} Ping/Pong pairs ({dropped} by the capture)")
print(f"load-fidelity:             p50 us    p99 us")
print(f"load-fidelity: wire      {w50:8.1f}  {w99:8.1f}")
print(f"load-fidelity: generator {g50:8.1f}  {g99:8.1f}  (from each probe's real send)")
print(f"load-fidelity: corrected {c50:8.1f}  {c99:8.1f}  (late probes from their intended time)")
d50, d99 = g50 - w50, g99 - w99
print(f"load-fidelity: difference {d50:+7.1f}  {d99:+8.1f}  (bounds {max_p50} and {max_p99})")
ok = abs(d50) <= float(max_p50) and abs(d99) <= float(max_p99)
print("load-fidelity: " + ("ok" if ok else "FAIL: the generator's percentiles are not the wire's"))
sys.exit(0 if ok else 1)
PY
