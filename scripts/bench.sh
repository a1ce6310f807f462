#!/usr/bin/env bash
# The wspp benchmark suite: builds in release mode and runs wsppbench, which
# prints a table and, in a full run, rewrites the generated part of docs/benchmarks.md
# and img/rtt-percentiles.svg.
#
#   scripts/bench.sh            full run (about a minute; quiet machine please)
#   scripts/bench.sh --quick    smoke run for CI: seconds, writes nothing, ends with
#                               "bench-smoke: N passed, N failed" and fails if any failed
#   scripts/bench.sh --help     every knob
#
# Only loopback addresses are used; every loop is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."

# One descriptor per held connection: the memory section holds as many connections as
# the hard limit allows, in one server process.
ulimit -n "$(ulimit -Hn)"

cargo build --release --locked --quiet -p wsppsrv -p wsppclient -p wsppbench
export WSPPBENCH_COMMAND="scripts/bench.sh${*:+ $*}"
exec target/release/wsppbench "$@"
