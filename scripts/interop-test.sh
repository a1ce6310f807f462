#!/usr/bin/env bash
# Runs the real wsppclient binary against independent WebSocket servers: the Python
# `websockets` package (PyPI), driven by scripts/interop/server.py, which offers one
# behaviour per path (echo, a required subprotocol, a refusal with a body, a close with
# 1011, a TCP reset, ...) and two listeners that do not speak WebSocket (see its doc);
# Node's `ws` package (npm) with permessage-deflate on, an echo server
# (scripts/interop/ws-server.mjs); and `wsppclient listen` against the Python client.
#
#   scripts/interop-test.sh            every check
#   INTEROP_CHECKS='refus*' scripts/interop-test.sh   only the checks whose name matches
#
# Each check is one function named check_NAME below, run in its own subshell; adding a
# check is adding a function (they run in name order). A check calls `client ARGS...`,
# which runs wsppclient with a time limit and keeps its exit status in $rc, its stdout
# in $out and its stderr in $err, and then the expect_* helpers, which fail the check
# with one line saying what differed.
#
# The venv and `ws` live under .cache/interop/ (gitignored), installed once and reused
# while the pinned versions stay the same; `ws` needs Node.js and npm. Prints one line
# per check and `N passed, N failed`; exit status 1 when a check failed, 2 when the
# run itself broke.
set -uo pipefail

readonly WEBSOCKETS_VERSION=17.4
readonly WS_VERSION=8.23.1
# No single wsppclient run here should take more than a few seconds.
readonly CLIENT_TIMEOUT=30

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache/interop"
venv="$cache/venv"
node_modules="$cache/node/node_modules"

die() { echo "interop: $*" >&2; exit 2; }

setup_venv() {
    if [[ "$("$venv/bin/python" -c 'import websockets; print(websockets.__version__)' 2>/dev/null)" == "$WEBSOCKETS_VERSION" ]]; then
        return
    fi
    echo "interop: installing websockets $WEBSOCKETS_VERSION into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION" ||
        die "pip install websockets==$WEBSOCKETS_VERSION failed"
}

setup_ws() {
    if [[ "$(node -p "require('$node_modules/ws/package.json').version" 2>/dev/null)" == "$WS_VERSION" ]]; then
        return
    fi
    command -v npm >/dev/null || die "npm is missing (Debian: apt-get install npm)"
    echo "interop: installing ws $WS_VERSION into $cache/node" >&2
    mkdir -p "$cache/node"
    npm install --silent --no-audit --no-fund --prefix "$cache/node" "ws@$WS_VERSION" >&2 ||
        die "npm install ws@$WS_VERSION failed"
}

# --- what the checks use -------------------------------------------------------------

# client ARGS...: runs wsppclient; sets $rc, $out and $err.
client() {
    out=$(timeout "$CLIENT_TIMEOUT" "$wsppclient" "$@" 2>"$scratch/stderr")
    rc=$?
    err=$(cat "$scratch/stderr")
}

# The URL of a path on the WebSocket server.
ws_url() { echo "ws://127.0.0.1:$WS_PORT$1"; }
# The URL of a path on the Node `ws` server.
node_url() { echo "ws://127.0.0.1:$NODE_WS_PORT$1"; }

fail() {
    echo "$*"
    echo "    exit status: $rc"
    # shellcheck disable=SC2001 # indent every line
    [[ -n "$out" ]] && sed 's/^/    stdout: /' <<<"$out" | head -n 40
    [[ -n "$err" ]] && sed 's/^/    stderr: /' <<<"$err" | head -n 10
    exit 1
}

expect_rc() { [[ "$rc" == "$1" ]] || fail "exit status $rc, expected $1"; }
# expect_out REGEX / expect_err REGEX: grep -E on stdout / stderr.
expect_out() { grep -Eq -- "$1" <<<"$out" || fail "stdout has no line matching /$1/"; }
expect_err() { grep -Eq -- "$1" <<<"$err" || fail "stderr has no line matching /$1/"; }
expect_no_out() { ! grep -Eq -- "$1" <<<"$out" || fail "stdout has a line matching /$1/"; }
expect_no_err() { ! grep -Eq -- "$1" <<<"$err" || fail "stderr has a line matching /$1/"; }
# stderr is exactly one line (the client's rule for errors).
expect_one_err_line() {
    [[ $(grep -c '' <<<"$err") == 1 ]] || fail "stderr has $(grep -c '' <<<"$err") lines, expected one"
}

# --- the checks ----------------------------------------------------------------------

check_ping_echo() {
    client ping -c 2 -i 0.1 "$(ws_url /echo)"
    expect_rc 0
    expect_out '2 pings sent, 2 pongs received, 0% loss'
}

check_ping_echo_text_messages() {
    client ping --echo -c 3 -i 0.05 "$(ws_url /echo)"
    expect_rc 0
    expect_out '^ECHO ws://.*/echo .*: Text messages of 16 bytes or more, echoed'
    expect_out '[0-9]+ bytes from ws://.*/echo: echo seq=2 rtt=[0-9.]+ ms'
    expect_out 'ws echo statistics ---'
    expect_out '3 messages sent, 3 echoes received, 0% loss'
}

check_ping_echo_binary_messages() {
    client ping --echo --binary -c 3 -i 0.05 --json "$(ws_url /echo)"
    expect_rc 0
    expect_out '"message":"binary"'
    expect_out '"probe":"echo"'
    expect_out '"received":3'
}

check_ping_echo_both_side_by_side() {
    client ping --both -c 3 -i 0.05 "$(ws_url /echo)"
    expect_rc 0
    expect_out ': ping seq=2 rtt='
    expect_out ': echo seq=2 rtt='
    expect_out 'ws ping and echo statistics ---'
    expect_out '^3 pings sent, 3 pongs received, 0% loss'
    expect_out '^3 messages sent, 3 echoes received, 0% loss'
    expect_out '^echo-ping +[-+][0-9.]+ +[-+][0-9.]+'
}

# /greet speaks first (a Text and a Binary message of its own): both counted as
# unrelated, neither taken for an echo.
check_ping_echo_unrelated_messages_counted() {
    client ping --echo -c 2 -i 0.05 "$(ws_url /greet)"
    expect_rc 0
    expect_out '^unrelated message of 29 bytes \(not counted as a reply\)'
    expect_out '^unrelated message of 5 bytes \(not counted as a reply\)'
    expect_out '2 messages sent, 2 echoes received, 0% loss, time [0-9]+ms, 2 unrelated'
}

check_ping_refused_missing_subprotocol() {
    client ping -c 1 "$(ws_url /subprotocol)"
    expect_rc 2
    expect_one_err_line
    expect_err 'refused the upgrade: 400 Bad Request .*missing subprotocol'
}

check_ping_subprotocol_chosen() {
    client --subprotocol chat.v1 --subprotocol chat.v2 ping -c 1 "$(ws_url /subprotocol)"
    expect_rc 0
    # The server picks by its own preference among those offered.
    expect_out '^subprotocol: chat.v2 \(the server.s choice\)$'
    client --subprotocol chat.v1 ping -c 1 --json "$(ws_url /subprotocol)"
    expect_rc 0
    expect_out '"subprotocol":"chat.v1"'
}

check_ping_subprotocol_none_supported() {
    client --subprotocol v9 ping -c 1 "$(ws_url /subprotocol)"
    expect_rc 2
    expect_one_err_line
    expect_err 'refused the upgrade: 400 Bad Request .*no supported subprotocol'
}

check_ping_subprotocol_not_offered() {
    client --subprotocol chat.v1 ping -c 1 "$(ws_url /subprotocol/unoffered)"
    expect_rc 2
    expect_one_err_line
    expect_err 'the server chose a subprotocol that was not offered \(offered: chat.v1\)'
}

check_ping_refused_with_body() {
    client ping -c 1 "$(ws_url /refuse)"
    expect_rc 2
    expect_one_err_line
    expect_err 'refused the upgrade: 403 Forbidden \(no entry: this route refuses'
}

check_ping_close_1011() {
    client ping -c 3 -i 0.1 "$(ws_url /close-1011)"
    expect_rc 2
    expect_err 'closed the connection with 1011 .*"the handler failed on purpose"'
}

check_ping_eof_without_close_frame() {
    client ping -c 3 -i 0.1 "$(ws_url /eof)"
    expect_rc 2
    expect_err 'without a close frame'
}

check_ping_hangup_in_words() {
    client ping -c 1 "ws://127.0.0.1:$HANGUP_PORT/"
    expect_rc 2
    expect_one_err_line
    expect_err 'the server closed the connection before answering the upgrade$'
}

check_ping_nonhttp_in_words() {
    client ping -c 1 "ws://127.0.0.1:$NONHTTP_PORT/"
    expect_rc 2
    expect_one_err_line
    expect_err 'the server does not speak HTTP'
    expect_no_err 'httparse'
}

check_inspect_echo_text_and_binary_with_hex() {
    client inspect "$(ws_url '/echo?a=1&b=2')" --send hello --send-binary '00 01 fe ff' --wait 0.2 --hex
    expect_rc 0
    expect_out '→ GET /echo\?a=1&b=2 HTTP/1.1'
    expect_out '← HTTP/1.1 101 Switching Protocols'
    expect_out 'Server: Python/.* websockets/'
    expect_out '→ Text fin=1 mask=1 len=5 "hello"'
    expect_out '← Text fin=1 mask=0 len=5 "hello"'
    expect_out '← Binary fin=1 mask=0 len=4'
    expect_out '^ +0000  00 01 fe ff {39}\.\.\.\.$'
    expect_out '→ Close fin=1 mask=1 len=[0-9]+ 1000 \(Normal Closure\)'
    expect_out 'the server answered: 1000 \(Normal Closure\)'
    expect_out 'wireshark filter: tcp.port == [0-9]+'
}

# websockets compresses by default: the offer is taken, each frame inflated in the
# transcript, and the echo arrives compressed too.
check_inspect_deflate_shows_compressed_frames_and_their_text() {
    client --deflate inspect "$(ws_url /echo)" --send hello --wait 0.2
    expect_rc 0
    expect_out '^ +sec-websocket-extensions: permessage-deflate; server_no_context_takeover'
    expect_out '→ Text fin=1 mask=1 len=[0-9]+ rsv=100 compressed'
    expect_out '← Text fin=1 mask=0 len=[0-9]+ rsv=100 compressed'
    expect_out '^ +inflated 5 bytes "hello"$'
    expect_out 'the server answered: 1000 \(Normal Closure\)'
}

# Node `ws` with `perMessageDeflate: true` takes the offer; it inflates what the client
# compressed, and compresses only messages of 1024 bytes or more (its default
# threshold), so "hello" comes back plain.
check_inspect_deflate_node_ws() {
    client --deflate inspect "$(node_url /echo)" --send hello --wait 0.2
    expect_rc 0
    expect_out '^ +Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover'
    expect_out '→ Text fin=1 mask=1 len=[0-9]+ rsv=100 compressed'
    expect_out '^ +inflated 5 bytes "hello"$'
    expect_out '← Text fin=1 mask=0 len=5 "hello"$'
    expect_out 'the server answered: 1000 \(Normal Closure\)'
}

# Past ws's threshold its echo comes compressed too, and the client inflates it.
check_inspect_deflate_node_ws_compressed_echo() {
    local long
    long=$(printf 'hello %.0s' $(seq 1 200))
    client --deflate inspect "$(node_url /echo)" --send "$long" --wait 0.2
    expect_rc 0
    expect_out '→ Text fin=1 mask=1 len=[0-9]+ rsv=100 compressed'
    expect_out '← Text fin=1 mask=0 len=[0-9]+ rsv=100 compressed'
    [[ $(grep -Ec '^ +inflated 1200 bytes "hello hello' <<<"$out") == 2 ]] ||
        fail "stdout has not two frames inflated to the 1200 bytes sent"
    expect_out 'the server answered: 1000 \(Normal Closure\)'
}

check_inspect_answers_the_servers_ping() {
    client inspect "$(ws_url /ping)" --wait 5
    expect_rc 0
    expect_out '← Ping fin=1 mask=0 len=14 "are you there\?"'
    expect_out '→ Pong fin=1 mask=1 len=14 "are you there\?"'
    expect_out '← Text fin=1 mask=0 len=13 "pong received"'
    expect_out 'the server closed: 1000 \(Normal Closure\) "done"'
}

check_inspect_refusal_shows_status_headers_and_body() {
    client inspect "$(ws_url /refuse)"
    expect_rc 2
    expect_out '← HTTP/1.1 403 Forbidden'
    expect_out 'Content-Type: text/plain'
    expect_out '← body 53 bytes "no entry: this route refuses every WebSocket upgrade\\n"'
    expect_one_err_line
    expect_err 'refused the upgrade: 403 Forbidden \(no entry'
}

check_inspect_missing_subprotocol_shows_the_400() {
    client inspect "$(ws_url /subprotocol)"
    expect_rc 2
    expect_out '← HTTP/1.1 400 Bad Request'
    expect_out '← body [0-9]+ bytes ".*missing subprotocol'
    expect_one_err_line
}

check_inspect_close_1011() {
    client inspect "$(ws_url /close-1011)" --wait 5
    expect_rc 2
    expect_out '← Close fin=1 mask=0 len=[0-9]+ 1011 \(Internal Error\) "the handler failed on purpose"'
    expect_out '→ Close fin=1 mask=1'
    expect_one_err_line
    expect_err 'closed the connection with 1011 \(Internal Error\)'
}

check_inspect_eof_is_1006() {
    client inspect "$(ws_url /eof)" --wait 5
    expect_rc 2
    expect_out '← Text fin=1 mask=0 len=29 "closing without a close frame"'
    expect_out '1006 \(Abnormal Closure\): the server ended the connection without a close frame; [0-9]+ bytes had arrived'
    expect_one_err_line
    expect_err '\(1006 Abnormal Closure\): the server closed it after [0-9]+ bytes had arrived'
}

check_inspect_reset_is_1006() {
    client inspect "$(ws_url /reset)" --send 'reset me' --wait 5
    expect_rc 2
    expect_one_err_line
    expect_err '\(1006 Abnormal Closure\): the server reset it after [0-9]+ bytes had arrived'
}

check_inspect_nonhttp_in_words() {
    client inspect "ws://127.0.0.1:$NONHTTP_PORT/"
    expect_rc 2
    expect_out '← \?\? not HTTP: [0-9]+ bytes, beginning "SSH-2.0-OpenSSH'
    expect_one_err_line
    expect_err 'the server does not speak HTTP: .*SSH-2.0-OpenSSH'
    expect_no_err 'httparse'
}

check_inspect_hangup_in_words() {
    client inspect "ws://127.0.0.1:$HANGUP_PORT/"
    expect_rc 2
    expect_one_err_line
    expect_err 'the server closed the connection before answering the upgrade$'
}

# listen, the other way round: the Python `websockets` client (offering subprotocol chat
# and, by default, permessage-deflate) connects to `wsppclient listen`, sends text and
# binary, answers its Pings, receives a line typed on listen's stdin and closes 1000.
check_listen_python_client() {
    mkfifo "$scratch/listen.in"
    "$wsppclient" --subprotocol chat listen 0 --ping-interval 0.1 \
        <"$scratch/listen.in" >"$scratch/listen.out" 2>"$scratch/listen.err" &
    local listen_pid=$!
    pids+=("$listen_pid")
    exec 7>"$scratch/listen.in"
    local port=''
    for _ in $(seq 1 200); do
        port=$(grep -o 'listening on ws://127.0.0.1:[0-9]*' "$scratch/listen.err" | grep -o '[0-9]*$') && break
        sleep 0.05
    done
    [[ -n "$port" ]] || { rc='' out='' err=$(cat "$scratch/listen.err"); fail "listen printed no address"; }
    "$venv/bin/python" - "$port" >"$scratch/py.out" 2>&1 <<'PY' &
import sys
from websockets.sync.client import connect
with connect(f"ws://127.0.0.1:{sys.argv[1]}/", subprotocols=["chat"]) as ws:
    assert ws.subprotocol == "chat", ws.subprotocol
    ws.send("hello")
    ws.send(b"\x00\x01\xfe")
    typed = ws.recv(timeout=10)
    assert typed == "typed line", typed
    ws.close(1000, "bye")
print("client done")
PY
    local py_pid=$!
    for _ in $(seq 1 200); do
        grep -q 'pong seq=0' "$scratch/listen.out" && break
        sleep 0.05
    done
    echo "typed line" >&7
    wait "$py_pid"
    rc=$?
    out=$(cat "$scratch/listen.out")
    err=$(cat "$scratch/py.out")
    [[ $rc == 0 ]] || fail "the Python client failed"
    for _ in $(seq 1 200); do
        grep -q 'by the client' "$scratch/listen.out" && break
        sleep 0.05
    done
    kill -INT "$listen_pid"
    wait "$listen_pid"
    rc=$?
    exec 7>&-
    out=$(cat "$scratch/listen.out")
    err=$(cat "$scratch/listen.err")
    expect_rc 0
    expect_err '^listening on ws://127.0.0.1:[0-9]+/ \(any path\)$'
    expect_out '^\[1\] +\+[0-9.]+ms ← GET / HTTP/1.1$'
    expect_out '^\[1\] +Sec-WebSocket-Protocol: chat$'
    expect_out 'answering 101 with subprotocol chat .*extensions offered \(permessage-deflate.*\) declined'
    expect_out '^\[1\] .*← Text fin=1 mask=1 key=[0-9a-f]{8} len=5 "hello"$'
    expect_out '^\[1\] .*← Binary fin=1 mask=1 key=[0-9a-f]{8} len=3 '
    expect_out '^\[1\] .*→ Ping fin=1 mask=0 len=16 seq=0$'
    expect_out '^\[1\] .*← Pong fin=1 mask=1 key=[0-9a-f]{8} len=16 seq=0$'
    expect_out '^\[1\] .*pong seq=0 rtt=[0-9.]+ ms \((kernel|user) clock\)$'
    expect_out '^\[1\] .*→ Text fin=1 mask=0 len=10 "typed line"$'
    expect_out '^\[1\] .*← Close fin=1 mask=1 key=[0-9a-f]{8} len=5 1000 \(Normal Closure\) "bye"$'
    expect_out '^\[1\] .*wireshark filter: tcp.port == [0-9]+$'
    expect_out '^\[1\] 127.0.0.1:[0-9]+: upgraded; 2 messages in, 1 out; .*closed 1000 \(Normal Closure\) "bye" by the client'
}

# --- the run -------------------------------------------------------------------------

setup_venv
command -v node >/dev/null || die "node is needed for the ws server (Debian: apt-get install nodejs npm)"
setup_ws

echo "interop: building wsppclient" >&2
(cd "$root" && cargo build --quiet -p wsppclient --locked) || die "cargo build -p wsppclient failed"
wsppclient="$root/target/debug/wsppclient"

scratch=$(mktemp -d)
# shellcheck source=scripts/children.sh
source "$root/scripts/children.sh"
trap 'stop_children; rm -rf "$scratch"' EXIT

# serve NAME WHAT PATTERN COMMAND...: starts COMMAND as one of `pids`, its stdout in
# $scratch/NAME.out and stderr in $scratch/NAME.err, and waits up to 10 s for a line
# of its stdout matching PATTERN (where it says its ports).
serve() {
    local name=$1 what=$2 pattern=$3 pid
    shift 3
    "$@" >"$scratch/$name.out" 2>"$scratch/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 200); do
        grep -q "$pattern" "$scratch/$name.out" && return
        kill -0 "$pid" 2>/dev/null || { cat "$scratch/$name.err" >&2; die "$what exited before listening"; }
        sleep 0.05
    done
    die "$what printed no ports in 10 s"
}

serve server "the server" '^ports ' "$venv/bin/python" "$root/scripts/interop/server.py"
ports=$(grep '^ports ' "$scratch/server.out")
port_of() { grep -o "$1=[0-9]*" <<<"$ports" | cut -d= -f2; }
WS_PORT=$(port_of ws)
NONHTTP_PORT=$(port_of nonhttp)
HANGUP_PORT=$(port_of hangup)
serve node "the ws server" '^port ' node "$root/scripts/interop/ws-server.mjs" "$node_modules"
NODE_WS_PORT=$(grep -o '^port [0-9]*' "$scratch/node.out" | cut -d' ' -f2)
export WS_PORT NONHTTP_PORT HANGUP_PORT NODE_WS_PORT

passed=0
failed=0
for check in $(declare -F | awk '{print $3}' | grep '^check_'); do
    name=${check#check_}
    # shellcheck disable=SC2053 # the pattern is a glob on purpose
    [[ -n "${INTEROP_CHECKS:-}" && $name != ${INTEROP_CHECKS} ]] && continue
    rc='' out='' err=''
    if report=$("$check" 2>&1); then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $report"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
