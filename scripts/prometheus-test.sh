#!/usr/bin/env bash
# wsppsrv scraped by a real Prometheus, on loopback. Starts wsppsrv (pinging every
# 200 ms), three `wsppclient hold` clients and Prometheus (Debian's package, installed
# if missing) scraping wsppsrv every second with a configuration and storage of its own
# in a temporary directory; then checks, through Prometheus' HTTP API, that
#   - Prometheus sees the target up and the three clients connected,
#   - wspp_rtt_seconds_count grows from one scrape to a later one,
#   - histogram_quantile(0.5, ...) over the scraped buckets lies within the RTTs wsppsrv
#     printed in its log, to the bucket (a quantile read from a histogram is only known
#     to the bucket it falls in: it must lie between the bucket bound at or below the
#     smallest printed RTT and the bound at or above the largest),
# and, on /metrics itself, that `promtool check metrics` passes and that the page's
# figures (/clients.json) and /metrics' agree for the same clients.
#
# Free ports only (wsppsrv binds port 0; Prometheus' port is probed first); every wait
# is bounded; only the processes started here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_package prometheus prometheus
ensure_package promtool prometheus
ensure_package curl curl
ensure_package jq jq
# shellcheck source=scripts/children.sh
source scripts/children.sh

readonly WAIT=300 # tenths of a second: a program to start, a figure to appear
CLIENTS=3

say() { echo "prometheus-test: $*"; }
die() {
    echo "prometheus-test: FAIL: $*" >&2
    exit 1
}

work_dir
build_binaries

# --- wsppsrv and its clients --------------------------------------------------------
start_wsppsrv "$work/wsppsrv.log" "$bin/wsppsrv" --ping-interval 200ms
port=$wsppsrv_port
[[ -n $port ]] || die "wsppsrv did not say where it listens: $(cat "$work/wsppsrv.log")"
say "wsppsrv on 127.0.0.1:$port"
for ((c = 0; c < CLIENTS; c++)); do
    "$bin/wsppclient" --server "127.0.0.1:$port" --no-local-server --plain \
        --user-agent "prometheus-test/$c" hold >"$work/client-$c.log" 2>&1 &
    pids+=($!)
done

# --- Prometheus -----------------------------------------------------------------------
# A port nothing listens on; should another program take it before Prometheus binds,
# Prometheus exits and the wait below says so.
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: wsppsrv
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
start_prometheus "$work" || die "Prometheus did not start"
say "Prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{ print $3 }') on 127.0.0.1:$prom_port, scraping every 1s"

# wait_for PROMQL CONDITION: polls until the query's value satisfies the awk CONDITION
# on `v`, and prints it.
wait_for() {
    local v
    for ((i = 0; i < WAIT; i++)); do
        v=$(prom_query "$1")
        if [[ -n $v ]] && awk -v v="$v" "BEGIN { exit !($2) }"; then
            echo "$v"
            return 0
        fi
        sleep 0.1
    done
    die "$1: wanted $2, last value ${v:-none}"
}

# --- through Prometheus ---------------------------------------------------------------
wait_for 'up{job="wsppsrv"}' 'v == 1' >/dev/null
say "target up"
connected=$(wait_for 'sum(wspp_clients_connected)' "v == $CLIENTS")
say "sum(wspp_clients_connected) = $connected"
first=$(wait_for 'sum(wspp_rtt_seconds_count)' 'v > 0')
later=$(wait_for 'sum(wspp_rtt_seconds_count)' "v > $first")
say "sum(wspp_rtt_seconds_count) grew from $first to $later"
# Two more scrapes, so that the rate below has samples to work on.
wait_for 'sum(wspp_rtt_seconds_count)' "v > $later" >/dev/null
wait_for 'sum(wspp_rtt_seconds_count)' "v > $later + 1" >/dev/null
p50_all=$(wait_for 'histogram_quantile(0.5, sum by (le) (wspp_rtt_seconds_bucket))' 'v > 0')
p50_rate=$(wait_for 'histogram_quantile(0.5, sum by (le) (rate(wspp_rtt_seconds_bucket[30s])))' 'v > 0')
p99_rate=$(wait_for 'histogram_quantile(0.99, sum by (le) (rate(wspp_rtt_seconds_bucket[30s])))' 'v > 0')

# The RTTs wsppsrv printed, read after the queries: every RTT a scrape saw was printed
# before it.
mapfile -t rtts < <(grep -Eo 'rtt_us=[0-9.]+' "$work/wsppsrv.log" | cut -d= -f2)
((${#rtts[@]} > 0)) || die "wsppsrv printed no rtt line"
read -r min max < <(printf '%s\n' "${rtts[@]}" | awk 'NR == 1 { lo = $1; hi = $1 }
    { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { print lo / 1e6, hi / 1e6 }')
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
# The bucket bounds, as /metrics writes them.
read -r low high < <(grep -Eo 'wspp_rtt_seconds_bucket\{route="/pingpong",le="[^"+]+"' <<<"$metrics" |
    sed -E 's/.*le="([^"]+)"/\1/' | sort -g |
    awk -v min="$min" -v max="$max" '
        { if ($1 <= min) low = $1; if (high == "" && $1 >= max) high = $1 }
        END { print (low == "" ? 0 : low), (high == "" ? "inf" : high) }')
say "wsppsrv printed ${#rtts[@]} RTTs from $min s to $max s; bucket bounds around them: [$low, $high] s"
for named in "p50 (all time):$p50_all" "p50 (rate 30s):$p50_rate"; do
    value=${named##*:}
    awk -v v="$value" -v lo="$low" -v hi="$high" 'BEGIN { exit !(v >= lo && (hi == "inf" || v <= hi)) }' ||
        die "histogram_quantile ${named%%:*} = $value s, outside [$low, $high] s"
    say "histogram_quantile(0.5) ${named%%:*} = $value s: within the printed RTTs' buckets"
done
say "histogram_quantile(0.99) (rate 30s) = $p99_rate s"

# --- /metrics itself ------------------------------------------------------------------
promtool check metrics <<<"$metrics" || die "promtool check metrics failed"
say "promtool check metrics: no problems"

# The page and /metrics for the same clients: /clients.json before and after one
# /metrics, so /metrics' totals must lie between the two pages' (no client comes or goes
# meanwhile).
page_totals() {
    curl -fsS "http://127.0.0.1:$port/clients.json" |
        jq -r '[.server.clients_now, ([.clients[].pings_sent] | add), ([.clients[].pongs_received] | add)] | @tsv'
}
metric() { awk -v s="$1" '$1 ~ "^" s "(\\{|$)" { t += $2 } END { print t + 0 }' <<<"$2"; }
read -r now1 pings1 pongs1 < <(page_totals)
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
read -r now2 pings2 pongs2 < <(page_totals)
m_now=$(metric wspp_clients_connected "$metrics")
m_pings=$(metric wspp_pings_sent_total "$metrics")
m_pongs=$(metric wspp_pongs_received_total "$metrics")
m_rtts=$(metric wspp_rtt_seconds_count "$metrics")
((now1 == CLIENTS && now2 == CLIENTS && m_now == CLIENTS)) ||
    die "clients: page $now1 then $now2, /metrics $m_now, started $CLIENTS"
((pings1 <= m_pings && m_pings <= pings2)) || die "pings: page $pings1..$pings2, /metrics $m_pings"
((pongs1 <= m_pongs && m_pongs <= pongs2)) || die "pongs: page $pongs1..$pongs2, /metrics $m_pongs"
((m_rtts == m_pongs)) || die "/metrics: $m_rtts RTTs for $m_pongs pongs"
say "page and /metrics agree: $m_now clients, pings $pings1 <= $m_pings <= $pings2, pongs $pongs1 <= $m_pongs <= $pongs2"
say "ok"
