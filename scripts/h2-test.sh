#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) against an independent client: Node's built-in
# `http2` module (scripts/h2/client.mjs, no npm package), which opens /pingpong on
# wsppsrv with an extended CONNECT, over TLS (ALPN h2, trusting a self-signed
# certificate) and over h2c (prior knowledge on the plain port), sends a masked Text
# frame and reads it echoed, answers the server's Ping, finds itself in /clients.json
# as HTTP/2 and closes with 1000. A wrong sec-websocket-version must get 400.
#
# Free ports only (wsppsrv binds port 0 for both listeners); every wait is bounded;
# only the processes started here are stopped, by PID. Prints one line per check and
# `N passed, N failed`; exit status 1 when a check failed, 2 when the run broke.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/children.sh
source scripts/children.sh

readonly WAIT=300 # tenths of a second for wsppsrv to say where it listens
readonly CLIENT_TIMEOUT=30

die() {
    echo "h2-test: $*" >&2
    exit 2
}
command -v node >/dev/null || die "node is needed (Debian: apt-get install nodejs)"

work=$(mktemp -d)
cleanup() {
    stop_children
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --locked --quiet -p wsppsrv || die "cargo build failed"
bin=${CARGO_TARGET_DIR:-target}/debug

RUST_LOG=info NO_COLOR=1 "$bin/wsppsrv" --addr 127.0.0.1:0 --tls-self-signed \
    --tls-addr 127.0.0.1:0 --tls-self-signed-cert "$work/cert.pem" 2>"$work/wsppsrv.log" &
pids+=($!)
plain= tls=
for ((i = 0; i < WAIT; i++)); do
    plain=$(grep -Eo 'listening addr=127\.0\.0\.1:[0-9]+' "$work/wsppsrv.log" | head -n 1 | cut -d: -f2 || true)
    tls=$(grep -Eo 'listening \(tls\) addr=127\.0\.0\.1:[0-9]+' "$work/wsppsrv.log" | head -n 1 | cut -d: -f2 || true)
    [[ -n $plain && -n $tls ]] && break
    sleep 0.1
done
[[ -n $plain && -n $tls ]] || die "wsppsrv did not say where it listens: $(cat "$work/wsppsrv.log")"

passed=0 failed=0
run_client() {
    local line
    while IFS= read -r line; do
        echo "$line"
        case $line in
            ok\ *) passed=$((passed + 1)) ;;
            *) failed=$((failed + 1)) ;;
        esac
    done < <(timeout "$CLIENT_TIMEOUT" node scripts/h2/client.mjs "$@" 2>&1 || echo "FAIL $1: the client exited with status $?")
}
run_client "http://127.0.0.1:$plain"
run_client "https://localhost:$tls" "$work/cert.pem"

echo "$passed passed, $failed failed"
((failed == 0 && passed > 0)) || exit 1
