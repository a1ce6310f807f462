#!/usr/bin/env bash
# Fuzzes every parser of a peer's bytes for a bounded time: each cargo-fuzz target in
# fuzz/ (fuzz/fuzz_targets/*.rs) in turn, SECONDS each (default 20).
#
#   scripts/fuzz.sh            20 s a target (the test command's smoke run)
#   scripts/fuzz.sh 600        ten minutes a target
#   FUZZ_TARGETS='deflate_read' scripts/fuzz.sh 60     only these targets
#
# It needs a nightly toolchain and cargo-fuzz, and installs both the first time
# (rustup's minimal profile, and `cargo install --locked` from crates.io); a second run
# installs nothing. The corpus of each target is fuzz/corpus/TARGET: small seeds are
# committed, and what a run adds stays beside them (gitignored) for the next run. A
# crash fails its target and the script: its input is in fuzz/artifacts/TARGET/, to be
# fixed and kept as a regression test in the crate it broke.
#
# Exit status: 0 when no target crashed, 1 when one did, 2 when the run itself broke
# (no toolchain, or a target that does not build).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-20}
die() { echo "fuzz: $*" >&2; exit 2; }

[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || die "SECONDS must be a positive whole number, not '$seconds'"
command -v rustup >/dev/null || die "rustup is needed to install a nightly toolchain (https://rustup.rs)"
rustup toolchain list | grep -q '^nightly' ||
    rustup toolchain install nightly --profile minimal || die "cannot install a nightly toolchain"
cargo +nightly fuzz --version >/dev/null 2>&1 ||
    cargo install --locked cargo-fuzz || die "cannot install cargo-fuzz"

cd "$root/fuzz" || die "no fuzz/ folder"
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)} || die "cannot list the fuzz targets"
[[ -n "$targets" ]] || die "no fuzz targets"
# Built before any runs, so that a target that does not build is a broken run (2), not
# a crash (1), and no run's time is spent compiling.
for target in $targets; do
    cargo +nightly fuzz build "$target" >"$root/fuzz/$target.log" 2>&1 ||
        { cat "$root/fuzz/$target.log" >&2; die "$target does not build"; }
done
crashed=0
for target in $targets; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    # -rss_limit_mb: a parser that holds a peer's bytes must hold few of them.
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1 \
        >"$root/fuzz/$target.log" 2>&1; then
        echo "fuzz: $target CRASHED; see fuzz/$target.log and fuzz/artifacts/$target/"
        crashed=1
        continue
    fi
    grep -E '^stat::number_of_executed_units|^Done' "$root/fuzz/$target.log" | sed "s/^/fuzz: $target: /"
done
exit "$crashed"
