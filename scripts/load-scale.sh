#!/usr/bin/env bash
# The scale benchmark of `wsppclient load`: one generator process holding N
# connections (19,000 by default) to a release wsppsrv on this machine, each pinged
# once a second for the duration (60 s), and what that costs each side:
#   - connections opened and failed, probes sent, received and lost (none may fail);
#   - the generator's memory per connection: its peak RSS at N minus its peak RSS with
#     one connection, over N - 1;
#   - CPU per probe, the generator's (its user + system time over the whole run) and
#     the server's (its utime + stime from /proc over the same run), both divided by
#     the probes the generator sent.
#
# Usage: scripts/load-scale.sh [--connections N] [--duration SECS] [--sources LIST]
#
#   --connections N   connections held [19000]
#   --duration SECS   how long they are held once all are open [60]
#   --sources LIST    local addresses the connections bind to in turn
#                     [127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5]: each has its own
#                     ephemeral ports
#
# The server pings its sessions only once an hour (--ping-interval 1h), so that the
# server's CPU is what answering the generator costs, not its own pinging. The soft
# descriptor limit is raised to the hard one here (the server holds N sockets too); a
# hard limit too low for N is said in one line before anything starts.
#
# Exit status: 0 when every connection opened and every probe was answered, 1 when
# not, 2 when the run could not be made. Only processes started here are stopped, by
# PID; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

N=19000
DURATION=60
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5
while (($#)); do
    case $1 in
        --connections) N=${2:-}; shift 2 || true ;;
        --duration) DURATION=${2:-}; shift 2 || true ;;
        --sources) SOURCES=${2:-}; shift 2 || true ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "load-scale: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "load-scale: --connections needs a positive number" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "load-scale: --duration needs whole seconds" >&2; exit 2; }

say() { echo "load-scale: $*"; }
die() {
    echo "load-scale: $*" >&2
    exit 2
}

# shellcheck source=scripts/children.sh
source scripts/children.sh
work_dir

hard=$(ulimit -Hn)
# Each process holds N sockets and a few dozen descriptors of its own.
if [[ $hard != unlimited ]] && ((hard < N + 64)); then
    die "the hard descriptor limit ($hard) allows at most $((hard - 64)) connections, not $N"
fi
ulimit -n "$hard"

start_load_target "$work/wsppsrv.log" "$N" || exit 2

# cpu_ticks PID: the process's user + system time so far, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
ticks_per_s=$(getconf CLK_TCK)

# load NAME ARGS...: one generator run under /usr/bin/time, its JSON summary in
# $work/NAME.json and its peak RSS and CPU in $work/NAME.time.
load() {
    local name=$1
    shift
    # A bounded run: the hard deadline is past the ramp, the hold and the close.
    /usr/bin/time -f "maxrss_kib=%M user_s=%U sys_s=%S wall_s=%e" -o "$work/$name.time" \
        "$bin/wsppclient" --server "127.0.0.1:$port" --no-local-server load \
        --source "$SOURCES" --json -w $((DURATION + 300)) "$@" \
        >"$work/$name.json" 2>"$work/$name.err"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
time_of() { grep -Eo "$2=[0-9.]+" "$work/$1.time" | cut -d= -f2; }

say "one connection for 3 s: the generator's own footprint"
load one --connections 1 --duration 3 || die "the one-connection run failed: $(cat "$work/one.err")"

say "$N connections, pinged once a second, held for $DURATION s (wsppsrv pid $server, port $port)"
server_before=$(cpu_ticks "$server")
status=0
load many --connections "$N" --duration "$DURATION" || status=$?
server_after=$(cpu_ticks "$server")
((status <= 1)) || die "the $N-connection run failed ($status): $(cat "$work/many.err")"

opened=$(field "$work/many.json" connections_opened)
failed=$(field "$work/many.json" connections_failed)
sent=$(field "$work/many.json" sent)
received=$(field "$work/many.json" received)
lost=$(field "$work/many.json" lost)
late=$(field "$work/many.json" late_sends)
p50=$(field "$work/many.json" rtt_p50_ms)
p99=$(field "$work/many.json" rtt_p99_ms)
rss_one=$(time_of one maxrss_kib)
rss_many=$(time_of many maxrss_kib)
gen_s=$(awk -v u="$(time_of many user_s)" -v s="$(time_of many sys_s)" 'BEGIN { print u + s }')
srv_s=$(awk -v a="$server_before" -v b="$server_after" -v t="$ticks_per_s" 'BEGIN { print (b - a) / t }')

echo
say "connections: $opened opened, $failed failed of $N"
say "probes: $sent sent, $received received, $lost lost, $late late; rtt p50 $p50 ms, p99 $p99 ms"
awk -v one="$rss_one" -v many="$rss_many" -v n="$N" 'BEGIN {
    printf "load-scale: generator peak RSS: %d KiB with 1 connection, %d KiB with %d: %.2f KiB a connection\n",
        one, many, n, (many - one) / (n - 1) }'
awk -v g="$gen_s" -v s="$srv_s" -v p="$sent" 'BEGIN {
    if (p == 0) { print "load-scale: no probes sent"; exit }
    printf "load-scale: CPU: generator %.2f s, server %.2f s for %d probes: %.2f us a probe (generator), %.2f us (server)\n",
        g, s, p, g / p * 1e6, s / p * 1e6 }'
if ((failed == 0 && opened == N && lost == 0 && sent == received)); then
    say "ok: none failed, none lost"
else
    say "FAIL: not every connection opened or not every probe answered (see $work/many.err)"
    cat "$work/many.err" >&2
    exit 1
fi
