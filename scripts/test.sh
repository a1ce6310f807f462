#!/usr/bin/env bash
# The project's one test command: the Rust test suite, then the checks that need
# outside tools. Each script installs what it needs (Debian packages, npm or PyPI
# packages into project-local folders) only when it is missing, so a second run
# installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test"
cargo test --workspace --locked

# Every parser of a peer's bytes fuzzed for about 20 s a target (cargo-fuzz; installs a
# nightly toolchain and cargo-fuzz on first use): a smoke run that fails on any crash,
# early because the targets are cheap next to the network steps below. Long runs:
# scripts/fuzz.sh SECONDS.
echo "== fuzz smoke run"
bash scripts/fuzz.sh 20

# wsppclient's real binary against an independent server (Python websockets, installed
# into .cache/interop/venv on first use).
echo "== interop (wsppclient against Python websockets)"
bash scripts/interop-test.sh

# `load --hdr-log` read back by an independent reader (Python's hdrhistogram, installed
# into .cache/load/venv on first use): its count equals the probes received.
echo "== load interval log (Python hdrhistogram)"
bash scripts/load-test.sh

# `load` against a path that goes silent: wsppsrv in a network namespace made for the
# test, its packets dropped by an nftables rule (installs nftables if missing) for a
# few seconds; probes count as lost, nothing hangs, connections recover or are counted
# dropped. Says "skipped" in one line where namespaces or nft are not allowed.
echo "== load through a silent path (network namespace, nftables)"
bash scripts/silent-path-test.sh

# wsppsrv behind nginx with the snippet of docs/operations.md (installs nginx if
# missing): the real client's address on the page and in /clients.json.
echo "== behind nginx"
bash scripts/nginx-test.sh

# WebSockets over HTTP/2 against an independent client: Node's built-in http2 module,
# over TLS (ALPN h2) and h2c.
echo "== http/2 (wsppsrv against Node's http2 client)"
bash scripts/h2-test.sh

# The README's example outputs against fresh runs: the same lines and words (the
# numbers may differ). Seconds: the debug binaries and the interop venv exist by now.
echo "== README examples"
bash scripts/readme-examples.sh --check

# Protocol conformance: the Autobahn|Testsuite case files through kosoku (installed
# into .cache/autobahn/venv on first use).
echo "== autobahn (wsppsrv and wsppclient)"
bash scripts/autobahn.sh all

# The terminal UI in a real pseudo-terminal (installs tmux if missing).
echo "== terminal UI smoke test"
bash scripts/tui-smoke.sh

# Verified captures: tshark on the loopback (installs tshark; capturing needs root).
echo "== capture test"
bash scripts/capture-test.sh

# RTT fidelity: what wsppclient and wsppsrv print against tshark's wire times, on
# the kernel's clock and the user's (tshark again; capturing needs root).
echo "== rtt fidelity"
bash scripts/fidelity.sh

# The clients page in headless Chromium (installs chromium and playwright-core).
echo "== browser test"
bash scripts/browser-test.sh

# wsppsrv scraped by a real Prometheus (installs Debian's prometheus if missing).
echo "== prometheus test"
bash scripts/prometheus-test.sh
