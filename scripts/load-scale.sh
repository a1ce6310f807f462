#!/usr/bin/env bash
# The scale benchmark of `wsppclient load`: one generator process holding N
# connections (19,000 by default) to a release wsppsrv on this machine, each pinged
# once a second for the duration (60 s), and what that costs each side:
#   - connections opened and failed, probes sent, received and lost (none may fail);
#   - the generator's memory per connection: its peak RSS at N minus its peak RSS with
#     one connection, over N - 1;
#   - CPU per probe, the generator's and the server's (utime + stime), each divided by
#     the probes the generator sent, twice: over the whole run (opening included), and
#     over the steady state alone, from the second whose record (--ndjson) shows every
#     connection open to the last second of the hold, both processes' /proc/PID/stat
#     read as each of those records arrives. Opening costs a client more than a
#     server, so only the steady state compares what a probe costs each end.
#
# With --instructions, instead: instructions per probe (callgrind, user space) for
# each end, which a machine busy with other work does not change. A small run
# (--connections 200, --interval 0.2, twice: for 2 s and for --duration, 6 s by
# default) against a release wsppsrv; the difference of the two runs' totals over the
# difference of their probes is a probe's cost in steady state, the opening and the
# start-up cancelled out. First the generator under callgrind against a native server,
# then the server under callgrind against a native generator.
#
# Usage: scripts/load-scale.sh [--connections N] [--duration SECS] [--sources LIST]
#                              [--instructions] [--bin DIR]
#
#   --connections N   connections held [19000; 200 with --instructions]
#   --duration SECS   how long they are held once all are open [60; 6 with
#                     --instructions]
#   --sources LIST    local addresses the connections bind to in turn
#                     [127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5]: each has its own
#                     ephemeral ports
#   --instructions    count instructions per probe under callgrind instead
#   --bin DIR         measure the wsppsrv and wsppclient saved in DIR instead of
#                     building: runs of two builds, interleaved, compare them on a
#                     machine whose load moves between runs
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

N=
DURATION=
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5
instructions=0
saved_bin=
while (($#)); do
    case $1 in
        --instructions) instructions=1; shift ;;
        --connections) N=${2:-}; shift 2 || true ;;
        --duration) DURATION=${2:-}; shift 2 || true ;;
        --sources) SOURCES=${2:-}; shift 2 || true ;;
        --bin)
            saved_bin=${2:-}
            [[ -n $saved_bin ]] || { echo "load-scale: --bin needs a directory" >&2; exit 2; }
            # Named from where the script was started, before it moved to the repository.
            [[ $saved_bin == /* ]] || saved_bin=$OLDPWD/$saved_bin
            shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "load-scale: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ((instructions)); then
    N=${N:-200}
    DURATION=${DURATION:-6}
else
    N=${N:-19000}
    DURATION=${DURATION:-60}
fi
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

start_load_target "$work/wsppsrv.log" "$N" "$saved_bin" || exit 2

# cpu_ticks PID: the process's user + system time so far, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
ticks_per_s=$(getconf CLK_TCK)

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

if ((instructions)); then
    ((DURATION > 2)) || die "--instructions needs a --duration above 2 (the short run's)"
    # shellcheck source=scripts/packages.sh
    source scripts/packages.sh
    ensure_package valgrind valgrind
    # shellcheck source=scripts/callgrind.sh
    source scripts/callgrind.sh

    # small_load OUT PORT SECS [WRAPPER...]: a bounded run of N connections probed five
    # times a second for SECS against 127.0.0.1:PORT, under WRAPPER; its JSON summary
    # in OUT.json. Every probe must be answered; sets `sent`.
    small_load() {
        local out=$1 to=$2 secs=$3
        shift 3
        timeout $((secs + 600)) "$@" "$bin/wsppclient" --server "127.0.0.1:$to" --no-local-server \
            load --connections "$N" --interval 200ms --duration "$secs" --json -w $((secs + 300)) \
            >"$out.json" 2>"$out.err" || die "the ${secs} s run failed: $(tail -n 3 "$out.err")"
        sent=$(field "$out.json" sent)
        [[ $(field "$out.json" received) == "$sent" ]] || die "the ${secs} s run lost probes"
    }
    # per_probe IR1 SENT1 IR2 SENT2: the cost of one probe between the two runs.
    per_probe() {
        awk -v a="$1" -v p="$2" -v b="$3" -v q="$4" 'BEGIN { if (q <= p) exit 1; printf "%.0f", (b - a) / (q - p) }' ||
            die "the longer run sent no more probes than the shorter"
    }

    say "instructions per probe: $N connections, 5 probes a second each, for 2 s and for $DURATION s"
    gen=()
    for secs in 2 "$DURATION"; do
        callgrind "$work/gen-$secs.cg"
        small_load "$work/gen-$secs" "$port" "$secs" "${cg[@]}"
        gen+=("$(total_ir "$work/gen-$secs.cg")" "$sent")
    done
    stop_child "$server" INT
    srv=()
    for secs in 2 "$DURATION"; do
        callgrind "$work/srv-$secs.cg"
        : >"$work/srv-$secs.log"
        # Lifecycle lines only: one line per session would be most of the server's work.
        start_wsppsrv "$work/srv-$secs.log" env RUST_LOG='warn,wsppsrv::server=info' "${cg[@]}" \
            "$bin/wsppsrv" --ping-interval 1h --max-connections $((N + 100))
        [[ -n $wsppsrv_port ]] || die "wsppsrv under callgrind did not listen: $(tail -n 3 "$work/srv-$secs.log")"
        small_load "$work/srv-$secs-load" "$wsppsrv_port" "$secs"
        # SIGINT: it shuts down gracefully, and callgrind writes the profile.
        stop_child "${pids[-1]}" INT
        srv+=("$(total_ir "$work/srv-$secs.cg")" "$sent")
    done
    g=$(per_probe "${gen[@]}")
    v=$(per_probe "${srv[@]}")
    say "generator (under callgrind): ${gen[0]} Ir for ${gen[1]} probes, ${gen[2]} Ir for ${gen[3]}"
    say "server (under callgrind):    ${srv[0]} Ir for ${srv[1]} probes, ${srv[2]} Ir for ${srv[3]}"
    awk -v g="$g" -v v="$v" 'BEGIN {
        printf "load-scale: instructions a probe (user space): generator %d, server %d (generator/server %.2f)\n",
            g, v, g / v }'
    exit 0
fi

# load NAME ARGS...: the command of one generator run under /usr/bin/time, its output
# to $work/NAME.json and its peak RSS and CPU to $work/NAME.time, in `run`. A bounded
# run: the hard deadline is past the ramp, the hold and the close.
load() {
    local name=$1
    shift
    run=(/usr/bin/time -f "maxrss_kib=%M user_s=%U sys_s=%S wall_s=%e" -o "$work/$name.time"
        "$bin/wsppclient" --server "127.0.0.1:$port" --no-local-server load
        --source "$SOURCES" -w $((DURATION + 300)) "$@")
}
time_of() { grep -Eo "$2=[0-9.]+" "$work/$1.time" | cut -d= -f2; }

say "one connection for 3 s: the generator's own footprint"
load one --json --connections 1 --duration 3
"${run[@]}" >"$work/one.json" 2>"$work/one.err" || die "the one-connection run failed: $(cat "$work/one.err")"

say "$N connections, pinged once a second, held for $DURATION s (wsppsrv pid $server, port $port)"
server_before=$(cpu_ticks "$server")
load many --ndjson --connections "$N" --duration "$DURATION"
# In the background, not through a function, so that `$!` is /usr/bin/time's PID and
# the generator its child.
"${run[@]}" >"$work/many.json" 2>"$work/many.err" &
timer=$!
pids+=("$timer")
generator=
for ((i = 0; i < 100 && ${#generator} == 0; i++)); do
    generator=$(pgrep -P "$timer" || true)
    [[ -n $generator ]] || sleep 0.05
done
[[ -n $generator ]] || die "the generator did not start: $(cat "$work/many.err")"

# The steady state, read off the records as they come: from the first second with all
# N open (both CPUs sampled then) to the last second within the hold, DURATION s later
# (sampled again at each record until then), with the probes sent in between.
seen=0
open_at=
steady_sent=0
# Bounded: the generator's own hard deadline is DURATION + 300 s from its start.
for ((i = 0; i < (DURATION + 400) * 10; i++)); do
    alive "$generator" || break
    lines=$(wc -l <"$work/many.json")
    while ((seen < lines)); do
        seen=$((seen + 1))
        read -r t open sent_now < <(sed -n "${seen}p" "$work/many.json" |
            jq -r '[(.t_s // "summary"), .connections, .sent] | @tsv')
        [[ $t == summary ]] && continue
        if [[ -z $open_at ]]; then
            if ((open == N)); then
                open_at=$t
                steady_server=("$(cpu_ticks "$server")")
                steady_generator=("$(cpu_ticks "$generator")")
                steady_span=("$t")
            fi
        elif awk -v t="$t" -v o="$open_at" -v d="$DURATION" 'BEGIN { exit !(t <= o + d) }'; then
            steady_sent=$((steady_sent + sent_now))
            steady_server[1]=$(cpu_ticks "$server")
            steady_generator[1]=$(cpu_ticks "$generator" 2>/dev/null || echo "${steady_generator[1]:-0}")
            steady_span[1]=$t
        fi
    done
    sleep 0.1
done
status=0
wait "$timer" || status=$?
server_after=$(cpu_ticks "$server")
((status <= 1)) || die "the $N-connection run failed ($status): $(cat "$work/many.err")"
tail -n 1 "$work/many.json" >"$work/many-summary.json"

opened=$(field "$work/many-summary.json" connections_opened)
failed=$(field "$work/many-summary.json" connections_failed)
sent=$(field "$work/many-summary.json" sent)
received=$(field "$work/many-summary.json" received)
lost=$(field "$work/many-summary.json" lost)
late=$(field "$work/many-summary.json" late_sends)
p50=$(field "$work/many-summary.json" rtt_p50_ms)
p99=$(field "$work/many-summary.json" rtt_p99_ms)
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
    printf "load-scale: CPU, whole run: generator %.2f s, server %.2f s for %d probes: %.2f us a probe (generator), %.2f us (server)\n",
        g, s, p, g / p * 1e6, s / p * 1e6 }'
if [[ -n ${steady_span[1]:-} ]]; then
    awk -v g0="${steady_generator[0]}" -v g1="${steady_generator[1]}" -v s0="${steady_server[0]}" \
        -v s1="${steady_server[1]}" -v t0="${steady_span[0]}" -v t1="${steady_span[1]}" \
        -v p="$steady_sent" -v hz="$ticks_per_s" 'BEGIN {
        g = (g1 - g0) / hz; s = (s1 - s0) / hz
        printf "load-scale: CPU, steady state (all open, seconds %.0f to %.0f): generator %.2f s, server %.2f s for %d probes: %.2f us a probe (generator), %.2f us (server)\n",
            t0, t1, g, s, p, g / p * 1e6, s / p * 1e6 }'
else
    say "no steady state: not every connection was open at once within the run"
fi
if ((failed == 0 && opened == N && lost == 0 && sent == received)); then
    say "ok: none failed, none lost"
else
    say "FAIL: not every connection opened or not every probe answered (see $work/many.err)"
    cat "$work/many.err" >&2
    exit 1
fi
