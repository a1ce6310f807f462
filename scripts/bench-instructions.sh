#!/usr/bin/env bash
# User-space instructions per ping round trip, for wsppsrv and for wsppclient, counted
# by valgrind's callgrind. Wall-clock RTTs (scripts/bench.sh) drift by ±20% between
# runs on a shared VM, which hides a change of a few percent; callgrind's instruction
# count is the same for the same binary and inputs, so it shows whether a change made
# the ping path cheaper. It says nothing about time spent in the kernel or waiting.
#
# Each program runs twice under callgrind, with SMALL and LARGE pings: the difference of
# the totals over the difference of the counts is the cost of one round trip in steady
# state, with start-up, connection and shutdown cancelled out.
#
#   server  wsppsrv --open-close-pings N under callgrind; one `wsppclient open-close`
#           has it ping N times back to back; SIGINT ends it (it shuts down gracefully)
#   client  wsppclient ping -i 0 -c N --json under callgrind, against a plain wsppsrv
#   answer  the other side of that: a plain wsppsrv under callgrind answering the N Pings
#           of a native `wsppclient ping -i 0` (what a server under load does most)
#   floor   wsppbench floor-server (the raw-TCP echo of the RTT floor) under callgrind,
#           driven from bash: instructions per 2-byte echo, the reference for the server
#
# The program under valgrind runs tens of times slower than its peer, so the peer may
# answer before the program looks for the answer; such a round trip skips the wait
# (epoll_wait) and costs less than natively. The table's `parks` column says how often
# each program waited per round trip: 1.00 is the native path.
#
# Loopback only; every wait is bounded; only processes started here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
Usage: scripts/bench-instructions.sh [--small N] [--large N] [--top] [--no-floor] [--keep DIR] [--bin DIR]

Instructions per ping round trip (callgrind Ir, user space), server and client.

  --small N    pings of the first run of each program [2000]
  --large N    pings of the second run [12000]
  --top        also list the 10 functions that cost most per round trip, by self
               and by inclusive cost (inclusive leaves out the frames that hold
               nearly the whole round trip: the runtime's poll loop)
  --no-floor   skip the raw-TCP floor echo servers
  --bin DIR    measure the wsppsrv, wsppclient and wsppbench in DIR (a copy of an
               earlier release build, for a before/after) instead of building them
  --keep DIR   write the profiles (NAME-COUNT.cg, for callgrind_annotate) and logs to
               DIR and keep them; by default they go to a temporary directory
  -h, --help   this help
EOF
}

die() {
    echo "bench-instructions: $*" >&2
    exit 2
}

small=2000
large=12000
top=0
floor=1
keep=
bin=
while (($#)); do
    case $1 in
        --small) small=${2:-}; shift 2 || die "--small needs a count" ;;
        --large) large=${2:-}; shift 2 || die "--large needs a count" ;;
        --top) top=1; shift ;;
        --no-floor) floor=0; shift ;;
        --keep) keep=${2:-}; shift 2 || die "--keep needs a directory" ;;
        --bin) bin=${2:-}; shift 2 || die "--bin needs a directory" ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$small" =~ ^[0-9]+$ && "$large" =~ ^[0-9]+$ ]] || die "counts must be whole numbers"
((small >= 1 && small < large)) || die "--small must be at least 1 and below --large"
((large <= 1000000)) || die "--large is at most 1000000"

# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_package valgrind valgrind

# Bounds, in tenths of a second: a program under valgrind to start (or to exit after
# its signal, writing its profile), and one whole measured run.
readonly START_WAIT=300
readonly STOP_WAIT=300
readonly RUN_SECS=600

# shellcheck source=scripts/children.sh
source scripts/children.sh
if [[ -n "$keep" ]]; then
    mkdir -p "$keep"
    tmp=$(cd "$keep" && pwd)
else
    tmp=$(mktemp -d)
    trap 'stop_children; rm -rf "$tmp"' EXIT
fi

if [[ -z "$bin" ]]; then
    cargo build --release --locked --quiet -p wsppsrv -p wsppclient -p wsppbench
    bin=${CARGO_TARGET_DIR:-target}/release
fi
for program in wsppsrv wsppclient wsppbench; do
    [[ -x "$bin/$program" ]] || die "no $program in $bin"
done

# The server's log: lifecycle lines only; one line per RTT would be most of its work.
export NO_COLOR=1
readonly SERVER_LOG='warn,wsppsrv::server=info'

# shellcheck source=scripts/callgrind.sh
source scripts/callgrind.sh

# wait_line FILE REGEX PID: sets `line` to the first match of REGEX (grep -o) in FILE,
# polling until it appears (bounded); fails if PID exits first.
wait_line() {
    local file=$1 regex=$2 pid=$3 i
    line=
    for ((i = 0; i < START_WAIT; i++)); do
        line=$(grep -o -m1 -- "$regex" "$file" 2>/dev/null | head -n1) || true
        [[ -n "$line" ]] && return 0
        alive "$pid" || { cat "$file" >&2; die "PID $pid exited before saying '$regex'"; }
        sleep 0.1
    done
    die "PID $pid did not say '$regex' within $((START_WAIT / 10)) s"
}

# Where a wsppsrv started with --addr 127.0.0.1:0 listens: the log line soak.sh reads.
wait_listening() {
    wait_line "$1" 'listening addr=127\.0\.0\.1:[0-9]\+' "$2"
    addr=${line#listening addr=}
}

# wait_exit PID [SIGNAL]: signals PID (if SIGNAL is given), waits (bounded) for it to
# exit and reaps it; fails if it does not exit or exits with an error.
wait_exit() {
    local pid=$1 signal=${2:-} i rc=0
    if [[ -n "$signal" ]]; then
        kill -s "$signal" "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < STOP_WAIT; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && die "PID $pid did not exit within $((STOP_WAIT / 10)) s"
    wait "$pid" || rc=$?
    ((rc == 0)) || die "PID $pid exited with status $rc"
}

# Profiles wsppsrv pinging N times on /openandclosewebsocket.
measure_server() {
    local n=$1
    local out="$tmp/server-$n.cg" pid pinged
    callgrind "$out"
    RUST_LOG=$SERVER_LOG "${cg[@]}" "$bin/wsppsrv" --addr 127.0.0.1:0 --threads 1 \
        --open-close-pings "$n" 2>"$tmp/server-$n.log" &
    pid=$!
    pids+=("$pid")
    wait_listening "$tmp/server-$n.log" "$pid"
    timeout "$RUN_SECS" "$bin/wsppclient" --server "$addr" open-close >"$tmp/open-close-$n.txt" 2>&1 ||
        { tail -n 20 "$tmp/open-close-$n.txt" >&2; die "wsppclient open-close failed"; }
    pinged=$(grep -c '← Ping ' "$tmp/open-close-$n.txt") || true
    ((pinged == n)) || die "the server pinged $pinged times, not $n"
    wait_exit "$pid" INT
    total_ir "$out" >/dev/null
}

# Profiles `wsppclient ping -i 0 -c N` against $plain_addr.
measure_client() {
    local n=$1
    local out="$tmp/client-$n.cg" received
    callgrind "$out"
    timeout "$RUN_SECS" env RUST_LOG=warn "${cg[@]}" "$bin/wsppclient" --server "$plain_addr" \
        ping -i 0 -W 5 --json -c "$n" >"$tmp/client-$n.json" 2>"$tmp/client-$n.err" ||
        { cat "$tmp/client-$n.err" "$tmp/client-$n.json" >&2; die "wsppclient ping failed"; }
    received=$(grep -o '"received":[0-9]*' "$tmp/client-$n.json" | cut -d: -f2)
    [[ "$received" == "$n" ]] || die "wsppclient ping received ${received:-?} pongs, not $n"
    total_ir "$out" >/dev/null
}

# Profiles a plain wsppsrv answering the N Pings of a native `wsppclient ping -i 0`.
measure_answer() {
    local n=$1
    local out="$tmp/answer-$n.cg" pid received
    callgrind "$out"
    # It must not ping the client: only the client's Pings and their Pongs are counted.
    RUST_LOG=$SERVER_LOG "${cg[@]}" "$bin/wsppsrv" --addr 127.0.0.1:0 --threads 1 \
        --ping-interval 1h --first-ping-delay 1h 2>"$tmp/answer-$n.log" &
    pid=$!
    pids+=("$pid")
    wait_listening "$tmp/answer-$n.log" "$pid"
    timeout "$RUN_SECS" env RUST_LOG=warn "$bin/wsppclient" --server "$addr" \
        ping -i 0 -W 30 --json -c "$n" >"$tmp/answer-$n.json" 2>"$tmp/answer-$n.err" ||
        { cat "$tmp/answer-$n.err" "$tmp/answer-$n.json" >&2; die "wsppclient ping failed"; }
    received=$(grep -o '"received":[0-9]*' "$tmp/answer-$n.json" | cut -d: -f2)
    [[ "$received" == "$n" ]] || die "wsppsrv answered ${received:-?} pings, not $n"
    wait_exit "$pid" INT
    total_ir "$out" >/dev/null
}

# Profiles `wsppbench floor-server --kind KIND` echoing N times. bash itself is the
# client: what the echo server does per message does not depend on who sends it, as
# long as it has to wait for each one (see `parks`; bash is not always slow enough).
measure_floor() {
    local kind=$1 n=$2
    local out="$tmp/floor-$kind-$n.cg" pid port fd i reply
    callgrind "$out"
    "${cg[@]}" "$bin/wsppbench" floor-server --kind "$kind" \
        >"$tmp/floor-$kind-$n.port" 2>"$tmp/floor-$kind-$n.err" &
    pid=$!
    pids+=("$pid")
    wait_line "$tmp/floor-$kind-$n.port" '^port [0-9]\+' "$pid"
    port=${line#port }
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    for ((i = 0; i < n; i++)); do
        printf wp >&"$fd"
        IFS= read -r -N 2 -t 10 -u "$fd" reply || die "floor echo $i did not come back"
        [[ "$reply" == wp ]] || die "floor echo $i came back as '$reply'"
    done
    exec {fd}>&-
    # The floor server exits once its one connection is closed.
    wait_exit "$pid"
    total_ir "$out" >/dev/null
}

# per_trip SMALL_COUNT LARGE_COUNT [DECIMALS]: (large - small) / (LARGE - SMALL).
per_trip() {
    awk -v a="$1" -v b="$2" -v n=$((large - small)) -v d="${3:-1}" 'BEGIN { printf "%.*f", d, (b - a) / n }'
}

# How often a profile's program called epoll_wait, i.e. went to wait for the peer.
parks() {
    callgrind_annotate --tree=caller --auto=no --threshold=100 "$1" 2>/dev/null |
        awk '/^ *[0-9,]+ \( *[0-9.]+%\)  < .*\([0-9,]+x\)/ {
                 calls = $0; sub(/.*\(/, "", calls); sub(/x\).*/, "", calls); gsub(",", "", calls)
                 pending += calls; next
             }
             /^ *[0-9,]+ \( *[0-9.]+%\)  \* .*:epoll_wait / { n += pending }
             { pending = 0 }
             END { print n + 0 }'
}

rows=()
# row NAME SMALL_OUT LARGE_OUT
row() {
    local a b
    a=$(total_ir "$2")
    b=$(total_ir "$3")
    rows+=("$(printf '%-34s %14s %14s %12s %8s' "$1" "$a" "$b" "$(per_trip "$a" "$b")" \
        "$(per_trip "$(parks "$2")" "$(parks "$3")" 2)")")
}

# functions OUT INCLUSIVE(yes|no): "cost<TAB>function" per function of a profile, the
# source file and object stripped, parts of one function (inlined from several files)
# summed for self cost; for inclusive cost the largest part stands for the function.
functions() {
    callgrind_annotate --inclusive="$2" --threshold=100 --auto=no "$1" 2>/dev/null |
        awk -v inclusive="$2" '
            /^ *[0-9,]+ \( *[0-9.]+%\)  / && !/PROGRAM TOTALS/ {
                cost = $1; gsub(",", "", cost)
                name = $0
                sub(/^ *[0-9,]+ \( *[0-9.]+%\)  /, "", name)
                sub(/ \[[^]]*\]$/, "", name)
                sub(/^[^:]*:/, "", name)
                if (inclusive == "yes") { if (cost > sum[name]) sum[name] = cost }
                else sum[name] += cost
            }
            END { for (name in sum) printf "%s\t%s\n", sum[name], name }'
}

# top LABEL SMALL_OUT LARGE_OUT: the 10 costliest functions per round trip.
top() {
    local label=$1 small_out=$2 large_out=$3 per mode
    per=$(per_trip "$(total_ir "$small_out")" "$(total_ir "$large_out")")
    for mode in no yes; do
        echo
        if [[ $mode == no ]]; then
            echo "$label: top 10 functions by self cost per round trip (of $per)"
        else
            echo "$label: top 10 functions by inclusive cost per round trip, below the runtime's poll loop"
        fi
        # awk, not head, keeps the first 10: sort killed by a head that has had
        # enough would fail the pipeline, and so the script.
        functions "$small_out" "$mode" >"$tmp/small.fn"
        functions "$large_out" "$mode" >"$tmp/large.fn"
        awk -F'\t' -v n=$((large - small)) -v per="$per" -v inclusive="$mode" '
            NR == FNR { before[$2] = $1; next }
            {
                d = ($1 - before[$2]) / n
                # Inclusive: what holds 90% or more is the runtime around the round trip.
                if (d > 0 && !(inclusive == "yes" && d >= 0.9 * per))
                    printf "%12.1f %6.1f%%  %s\n", d, 100 * d / per, $2
            }' "$tmp/small.fn" "$tmp/large.fn" | sort -rn | awk 'NR <= 10'
    done
}

echo "bench-instructions: $small and $large pings under callgrind (valgrind $(valgrind --version | sed 's/^valgrind-//'))"

measure_server "$small"
measure_server "$large"
row "wsppsrv (/openandclosewebsocket)" "$tmp/server-$small.cg" "$tmp/server-$large.cg"

RUST_LOG=$SERVER_LOG "$bin/wsppsrv" --addr 127.0.0.1:0 --threads 1 \
    --ping-interval 1h --first-ping-delay 1h 2>"$tmp/plain-server.log" &
# The server must not ping the measured client: its pongs would be counted too.
plain_pid=$!
pids+=("$plain_pid")
wait_listening "$tmp/plain-server.log" "$plain_pid"
plain_addr=$addr
measure_client "$small"
measure_client "$large"
row "wsppclient ping -i 0" "$tmp/client-$small.cg" "$tmp/client-$large.cg"
wait_exit "$plain_pid" INT

measure_answer "$small"
measure_answer "$large"
row "wsppsrv answering pings" "$tmp/answer-$small.cg" "$tmp/answer-$large.cg"

if ((floor)); then
    for kind in tokio std; do
        measure_floor "$kind" "$small"
        measure_floor "$kind" "$large"
        row "floor echo server, $kind" "$tmp/floor-$kind-$small.cg" "$tmp/floor-$kind-$large.cg"
    done
fi

echo
printf '%-34s %14s %14s %12s %8s\n' "instructions (Ir)" "$small pings" "$large pings" "per trip" "parks"
printf '%s\n' "${rows[@]}"
echo "(parks: epoll_wait calls per round trip. Natively each end waits once per round trip;"
echo " below 1, the peer's answer was sometimes there already, and those round trips cost less)"

if ((top)); then
    top "wsppsrv" "$tmp/server-$small.cg" "$tmp/server-$large.cg"
    top "wsppclient ping" "$tmp/client-$small.cg" "$tmp/client-$large.cg"
    top "wsppsrv answering pings" "$tmp/answer-$small.cg" "$tmp/answer-$large.cg"
    if ((floor)); then
        top "floor echo server, tokio" "$tmp/floor-tokio-$small.cg" "$tmp/floor-tokio-$large.cg"
    fi
fi
