#!/usr/bin/env bash
# `wsppclient load --hdr-log` read back by an independent reader: Python's
# `hdrhistogram` package (PyPI, installed into .cache/load/venv on first use and
# reused while the pinned version stays the same). Starts wsppsrv on a free loopback
# port, runs a short load against it with an interval log, and checks with that
# package's own log reader that
#   - every interval line decodes (V2, deflated, base64) into a histogram,
#   - the histograms' total count equals the probes the run's JSON says were received,
#   - their largest value equals the run's `rtt_max_ms`, to the histogram's resolution
#     (0.1%, and the log's microsecond unit).
#
# Bounded: the run lasts a few seconds under `timeout`; only the processes started
# here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly HDRHISTOGRAM_VERSION=0.10.8

# shellcheck source=scripts/children.sh
source scripts/children.sh

say() { echo "load-test: $*"; }
die() {
    echo "load-test: FAIL: $*" >&2
    exit 1
}

venv=.cache/load/venv
if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("hdrhistogram"))' 2>/dev/null)" != "$HDRHISTOGRAM_VERSION" ]]; then
    say "installing hdrhistogram $HDRHISTOGRAM_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "hdrhistogram==$HDRHISTOGRAM_VERSION" ||
        die "pip install hdrhistogram==$HDRHISTOGRAM_VERSION failed"
fi

work_dir
build_binaries

start_wsppsrv "$work/wsppsrv.log" "$bin/wsppsrv"
port=$wsppsrv_port
[[ -n $port ]] || die "wsppsrv did not say where it listens: $(cat "$work/wsppsrv.log")"
say "wsppsrv on 127.0.0.1:$port"

timeout 60 "$bin/wsppclient" --server "127.0.0.1:$port" --no-local-server load \
    --connections 50 --duration 3 -i 0.2 --hdr-log "$work/run.hlog" --json \
    >"$work/summary.json" 2>"$work/load.err" ||
    die "the load run failed: $(cat "$work/load.err" "$work/summary.json")"
received=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["received"])' <"$work/summary.json")
max_ms=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["rtt_max_ms"])' <"$work/summary.json")
say "the run received $received probes, the longest ${max_ms} ms"

"$venv/bin/python" - "$work/run.hlog" "$received" "$max_ms" <<'PY' || die "the Python reader disagrees"
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

path, received, max_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# The reference histogram only sets the bounds decoded histograms are made with:
# wsppclient's own, 1 µs to an hour at 3 digits.
reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000, 3))
total = HdrHistogram(1, 3_600_000_000, 3)
intervals = 0
while True:
    interval = reader.get_next_interval_histogram()
    if interval is None:
        break
    intervals += 1
    total.add(interval)
reader.close()
count = total.get_total_count()
largest_us = total.get_max_value()
print(f"load-test: python hdrhistogram read {intervals} intervals, {count} round trips, "
      f"the longest {largest_us} us")
if intervals == 0 or count != received:
    sys.exit(f"count {count} in {intervals} intervals, the run received {received}")
# Both sides hold the same microsecond histograms: the largest value agrees to the
# histogram's resolution (0.1%), and to the microsecond the log rounds to.
if abs(largest_us - max_ms * 1000) > max(2.0, max_ms * 1000 * 0.002):
    sys.exit(f"largest {largest_us} us, the run's rtt_max_ms {max_ms}")
PY
say "ok"
