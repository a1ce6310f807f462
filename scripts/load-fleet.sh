#!/usr/bin/env bash
# docs/load.md's "beyond one machine", run as written on one machine: three wsppsrv,
# three `wsppclient load` generators (one against each, every one with --metrics-addr
# and --hdr-log), and one Prometheus (Debian's package, installed if missing) scraping
# the three generators every second. Prints the fleet's p50 and p99 from Prometheus
# (over the last 10 s while the run lasts, and over the whole run once it ended), the
# whole run's p99 from `wsppclient merge` of the three logs, and checks that the two
# whole-run p99s fall in the same bucket of the histogram Prometheus holds (a quantile
# from buckets is only known to its bucket; merge's is exact to the microsecond).
#
#   scripts/load-fleet.sh [CONNECTIONS_PER_GENERATOR [SECONDS]]   (200 and 20)
#
# Not part of scripts/test.sh: it takes half a minute and measures this machine.
# Free ports only; every wait is bounded; only the processes started here are
# stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${1:-200}
SECONDS_HELD=${2:-20}
readonly GENERATORS=3
readonly WAIT=300 # tenths of a second: a program to start, a figure to appear

# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_package prometheus prometheus
ensure_package curl curl
ensure_package jq jq
# shellcheck source=scripts/children.sh
source scripts/children.sh

say() { echo "load-fleet: $*"; }
die() {
    echo "load-fleet: FAIL: $*" >&2
    exit 1
}

work_dir
build_binaries

# --- three servers, and a metrics port for each generator -----------------------------
servers=()
metrics=()
for ((g = 0; g < GENERATORS; g++)); do
    start_wsppsrv "$work/wsppsrv-$g.log" "$bin/wsppsrv" --max-connections $((CONNECTIONS + 100))
    [[ -n $wsppsrv_port ]] || die "wsppsrv $g did not say where it listens: $(cat "$work/wsppsrv-$g.log")"
    servers+=("$wsppsrv_port")
    port=$(free_port)
    [[ -n $port ]] || die "no free port for generator $g's /metrics"
    metrics+=("$port")
done
say "wsppsrv on ports ${servers[*]}; the generators' /metrics on ${metrics[*]}"

# --- Prometheus -----------------------------------------------------------------------
{
    printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n'
    printf 'scrape_configs:\n  - job_name: load\n    static_configs:\n      - targets: ['
    for ((g = 0; g < GENERATORS; g++)); do
        printf "%s'127.0.0.1:%s'" "$([[ $g -gt 0 ]] && echo ', ')" "${metrics[$g]}"
    done
    printf ']\n'
} >"$work/prometheus.yml"
start_prometheus "$work" || die "Prometheus did not start"
say "Prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{ print $3 }') on 127.0.0.1:$prom_port"

# --- the generators -------------------------------------------------------------------
generators=()
for ((g = 0; g < GENERATORS; g++)); do
    timeout $((SECONDS_HELD + 120)) "$bin/wsppclient" --server "127.0.0.1:${servers[$g]}" \
        --no-local-server load --connections "$CONNECTIONS" --duration "$SECONDS_HELD" \
        --metrics-addr "127.0.0.1:${metrics[$g]}" --hdr-log "$work/gen-$g.hlog" --json \
        >"$work/gen-$g.json" 2>"$work/gen-$g.err" &
    generators+=($!)
    pids+=($!)
done
say "$GENERATORS generators of $CONNECTIONS connections, pinging each once a second for ${SECONDS_HELD}s"

for ((i = 0; i < WAIT; i++)); do
    [[ $(prom_query 'count(up{job="load"} == 1)') == "$GENERATORS" ]] && break
    sleep 0.1
done
[[ $(prom_query 'count(up{job="load"} == 1)') == "$GENERATORS" ]] || die "Prometheus does not see the $GENERATORS generators up"
open=
for ((i = 0; i < WAIT; i++)); do
    open=$(prom_query 'sum(wsppclient_connections_open)')
    [[ $open == $((GENERATORS * CONNECTIONS)) ]] && break
    sleep 0.1
done
say "Prometheus sees the generators up, sum(wsppclient_connections_open) = ${open:-none}"

# While the run lasts: the fleet's percentiles over the last 10 s, as a dashboard shows them.
sleep $((SECONDS_HELD / 2))
live_p50=$(prom_query 'histogram_quantile(0.5, sum by (le) (rate(wsppclient_rtt_seconds_bucket{clock="kernel"}[10s])))')
live_p99=$(prom_query 'histogram_quantile(0.99, sum by (le) (rate(wsppclient_rtt_seconds_bucket{clock="kernel"}[10s])))')
say "during the run, last 10 s: p50 ${live_p50:-none} s, p99 ${live_p99:-none} s"

for ((g = 0; g < GENERATORS; g++)); do
    wait "${generators[$g]}" || true
    jq -r '"load-fleet: generator '"$g"': \(.connections_opened) opened, \(.received) of \(.sent) answered, p50 \(.rtt_p50_ms) ms, p99 \(.rtt_p99_ms) ms, \(.late_sends) late"' \
        "$work/gen-$g.json" 2>/dev/null || die "generator $g: $(cat "$work/gen-$g.err")"
done

# The whole run: each counter's last value (a counter only grows), summed across the
# generators. Prometheus' last scrape of each generator may miss its last second.
whole='sum by (le) (max_over_time(wsppclient_rtt_seconds_bucket{clock="kernel"}[10m]))'
prom_p50=$(prom_query "histogram_quantile(0.5, $whole)")
prom_p99=$(prom_query "histogram_quantile(0.99, $whole)")
prom_count=$(prom_query 'sum(max_over_time(wsppclient_rtt_seconds_count{clock="kernel"}[10m]))')
say "Prometheus, whole run: ${prom_count:-none} round trips, p50 ${prom_p50:-none} s, p99 ${prom_p99:-none} s"

"$bin/wsppclient" merge --json "$work"/gen-*.hlog >"$work/merge.json" || die "merge failed"
merge_p50=$(jq -r '.rtt_p50_ms' "$work/merge.json")
merge_p99=$(jq -r '.rtt_p99_ms' "$work/merge.json")
say "wsppclient merge: $(jq -r '.received' "$work/merge.json") round trips, p50 $merge_p50 ms, p99 $merge_p99 ms"
[[ -n $prom_p99 ]] || die "Prometheus has no p99"

# The bucket that holds merge's p99, from the bounds Prometheus holds.
read -r low high < <(curl -fsS "$prom_api/query" --data-urlencode "query=$whole" |
    jq -r '.data.result[].metric.le' | grep -v Inf | sort -g |
    awk -v v="$(awk -v ms="$merge_p99" 'BEGIN { print ms / 1000 }')" '
        { if ($1 < v) low = $1; if (high == "" && $1 >= v) high = $1 }
        END { print (low == "" ? 0 : low), (high == "" ? "inf" : high) }')
say "merge's p99 lies in the bucket ($low, $high] s"
awk -v p="$prom_p99" -v lo="$low" -v hi="$high" \
    'BEGIN { exit !(p >= lo && (hi == "inf" || p <= hi)) }' ||
    die "Prometheus' p99 $prom_p99 s is outside merge's bucket ($low, $high]"
say "ok: Prometheus' p99 and merge's fall in the same bucket"
