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

# capture_started PID LOG PCAP [TENTHS]: waits (150 tenths of a second unless told)
# until the tshark at PID, its output in LOG, is capturing into PCAP; fails once it
# has died or the wait is over. LOG may not exist yet: the redirection that makes it
# happens in the child.
capture_started() {
    local pid=$1 log=$2 pcap=$3 tenths=${4:-150} i
    for ((i = 0; i < tenths; i++)); do
        grep -qs '^Capturing on' "$log" && [[ -s $pcap ]] && alive "$pid" && return 0
        alive "$pid" || return 1
        sleep 0.1
    done
    return 1
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

# work_dir: makes a temporary directory, `$work`, removed on exit once the children
# are stopped.
work_dir() {
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # $work is fixed now
    trap "stop_children; rm -rf '$work'" EXIT
}

# build_binaries: builds wsppsrv and wsppclient (debug) and sets `bin`, their folder.
build_binaries() {
    echo "== building wsppsrv and wsppclient"
    cargo build --locked --quiet -p wsppsrv -p wsppclient || return 1
    bin=${CARGO_TARGET_DIR:-target}/debug
}

# start_prometheus DIR: starts Prometheus on a free loopback port with
# DIR/prometheus.yml and its storage in DIR/data (log: DIR/prometheus.log), as one of
# `pids`, and waits up to 30 s until it is ready; sets `prom_port` and `prom_api`. A
# port taken between the probe and Prometheus' bind is tried again with another, up to
# three times. Returns 1 with one line on stderr if it exits or is not ready in time.
start_prometheus() {
    local dir=$1 i try pid
    for ((try = 0; try < 3; try++)); do
        prom_port=$(free_port)
        [[ -n $prom_port ]] || { echo "no free port for Prometheus" >&2; return 1; }
        prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
            --web.listen-address="127.0.0.1:$prom_port" >"$dir/prometheus.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        prom_api="http://127.0.0.1:$prom_port/api/v1"
        for ((i = 0; i < 300; i++)); do
            curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && return 0
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "Prometheus not ready after 30 s: $(tail -n 5 "$dir/prometheus.log")" >&2
            return 1
        fi
        grep -q 'address already in use' "$dir/prometheus.log" || break
    done
    echo "Prometheus exited: $(tail -n 5 "$dir/prometheus.log")" >&2
    return 1
}

# prom_query PROMQL: the value of the query's first sample from the Prometheus that
# start_prometheus started, or nothing if it has none.
prom_query() {
    curl -fsS "$prom_api/query" --data-urlencode "query=$1" |
        jq -r 'if .status == "success" and (.data.result | length) > 0
               then .data.result[0].value[1] else empty end'
}

# start_load_target LOG CONNECTIONS [DIR]: for a load benchmark of CONNECTIONS
# connections, builds the release binaries (or takes those saved in DIR, to measure a
# build against another in one session) and starts wsppsrv on a free loopback port,
# as one of `pids`, and waits up to 30 s until it accepts connections. It logs
# warnings only, to LOG (a line per session would cost it more than the load), and
# pings its sessions once an hour, so that the Pings on the wire and the server's CPU
# are the generator's. Sets `bin`, `port` and `server` (its PID); returns 1 with one
# line on stderr when it cannot.
start_load_target() {
    local log=$1 connections=$2 saved=${3:-} i
    if [[ -n $saved ]]; then
        bin=$saved
        [[ -x $bin/wsppsrv && -x $bin/wsppclient ]] ||
            { echo "no wsppsrv and wsppclient in $bin" >&2; return 1; }
    else
        echo "== building release binaries"
        cargo build --locked --quiet --release -p wsppsrv -p wsppclient ||
            { echo "the release build failed" >&2; return 1; }
        bin=${CARGO_TARGET_DIR:-target}/release
    fi
    port=$(free_port)
    [[ -n $port ]] || { echo "no free loopback port" >&2; return 1; }
    RUST_LOG=warn "$bin/wsppsrv" --addr "127.0.0.1:$port" --max-connections $((connections + 100)) \
        --ping-interval 1h 2>"$log" &
    server=$!
    pids+=("$server")
    for ((i = 0; i < 300; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        alive "$server" || { echo "wsppsrv exited: $(tr '\n' ' ' <"$log")" >&2; return 1; }
        sleep 0.1
    done
    echo "wsppsrv did not listen on 127.0.0.1:$port within 30 s" >&2
    return 1
}
