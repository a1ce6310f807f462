#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) against an independent client: Node's built-in
# `http2` module (scripts/h2/client.mjs, no npm package), which opens /pingpong on
# wsppsrv with an extended CONNECT, over TLS (ALPN h2, trusting a self-signed
# certificate) and over h2c (prior knowledge on the plain port), sends a masked Text
# frame and reads it echoed, answers the server's Ping, finds itself in /clients.json
# as HTTP/2 and closes with 1000. A wrong sec-websocket-version must get 400.
#
# Then the other way round: Node's `http2` module as the server (scripts/h2/server.mjs),
# over h2c and over TLS (a self-signed certificate made here with openssl), answering
# an extended CONNECT with 200 and the Pings inside it with Pongs. `wsppclient ping
# --http2` must get its RTTs from it; from the same server without
# SETTINGS_ENABLE_CONNECT_PROTOCOL, one line that says so and exit status 2.
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
command -v openssl >/dev/null || die "openssl is needed (Debian: apt-get install openssl)"

work=$(mktemp -d)
cleanup() {
    stop_children
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --locked --quiet -p wsppsrv -p wsppclient || die "cargo build failed"
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

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/node-key.pem" -out "$work/node-cert.pem" 2>"$work/openssl.log" ||
    die "openssl could not make a certificate: $(cat "$work/openssl.log")"

# start_node NAME ARGS...: starts scripts/h2/server.mjs with ARGS, as one of `pids`;
# sets `node_port` once it says where it listens.
start_node() {
    local name=$1 i
    shift
    node scripts/h2/server.mjs "$@" >"$work/$name.out" 2>&1 &
    pids+=($!)
    node_port=
    for ((i = 0; i < WAIT; i++)); do
        node_port=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/$name.out")
        [[ -n $node_port ]] && return
        sleep 0.1
    done
    die "the Node server ($name) did not say where it listens: $(cat "$work/$name.out")"
}

check() {
    if [[ $2 == ok ]]; then
        echo "ok $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1: $2"
        failed=$((failed + 1))
    fi
}

# ping_node NAME URL ARGS...: `wsppclient ping --http2 -c 5` must exit 0 with five
# answers.
ping_node() {
    local name=$1 url=$2 status
    shift 2
    timeout "$CLIENT_TIMEOUT" "$bin/wsppclient" ping --http2 -c 5 -i 0.05 "$@" "$url" \
        >"$work/$name.ping" 2>&1
    status=$?
    if ((status == 0)) && grep -q '^5 pings sent, 5 pongs received' "$work/$name.ping" &&
        (($(grep -c 'seq=[0-9]* rtt=' "$work/$name.ping") == 5)); then
        check "wsppclient ping --http2 against Node ($name): 5 RTTs" ok
    else
        check "wsppclient ping --http2 against Node ($name): 5 RTTs" \
            "exit $status: $(tr '\n' ' ' <"$work/$name.ping")"
    fi
}

start_node h2c h2c
ping_node h2c "ws://127.0.0.1:$node_port/pingpong"
start_node tls tls "$work/node-key.pem" "$work/node-cert.pem"
ping_node tls "wss://localhost:$node_port/pingpong" --ca "$work/node-cert.pem"

start_node plain h2c --no-connect-protocol
timeout "$CLIENT_TIMEOUT" "$bin/wsppclient" ping --http2 -c 5 "ws://127.0.0.1:$node_port/pingpong" \
    >"$work/refused.out" 2>"$work/refused.err"
status=$?
expected="wsppclient: ws://127.0.0.1:$node_port/pingpong: the server does not accept WebSockets over HTTP/2: it did not send SETTINGS_ENABLE_CONNECT_PROTOCOL"
if ((status == 2)) && [[ $(cat "$work/refused.err") == "$expected" ]]; then
    check "without SETTINGS_ENABLE_CONNECT_PROTOCOL: one line, exit 2" ok
else
    check "without SETTINGS_ENABLE_CONNECT_PROTOCOL: one line, exit 2" \
        "exit $status: $(tr '\n' ' ' <"$work/refused.err")"
fi

echo "$passed passed, $failed failed"
((failed == 0 && passed > 0)) || exit 1
