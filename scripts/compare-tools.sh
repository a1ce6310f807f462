#!/usr/bin/env bash
# What wsppclient does that websocat, wscat and wsstat do not, from runs: each tool is
# run against a wsppsrv on loopback (and, for two rows, a small subprotocol server and
# an HTTP CONNECT proxy that this script starts), once per feature, and each run's
# output is checked for what the feature would show. Prints a Markdown table and, for
# each cell, the command and what its output showed; with --write, puts them into the
# generated part of docs/comparison.md.
#
#   scripts/compare-tools.sh            install what is missing, run, print
#   scripts/compare-tools.sh --write    the same, and rewrite docs/comparison.md's table
#
# WSPPCLIENT, WSPPSRV and WEBSOCAT name other binaries than the ones it builds;
# WEBSOCAT=none leaves websocat out (its cells say "not run").
#
# Installs, once, under .cache/: wscat from npm, wsstat from PyPI (it needs Python
# 3.8 or 3.9 and websockets 8.1: it is 2019 code), websocat with `cargo install`, and
# a venv with Python `websockets` for the helper servers. Not part of the test
# command: it builds a third-party tool from source and takes minutes the first time.
# Only loopback addresses are used; every run is bounded by `timeout`.
set -uo pipefail
cd "$(dirname "$0")/.."

WSCAT_VERSION=6.1.0
WSSTAT_VERSION=1.4.0
WEBSOCAT_VERSION=1.14.1
WEBSOCKETS_VERSION=15.0.1

write=false
case "${1:-}" in
--write) write=true ;;
"") ;;
*)
    echo "usage: scripts/compare-tools.sh [--write]" >&2
    exit 2
    ;;
esac

die() {
    echo "compare-tools: $*" >&2
    exit 2
}

root=$PWD
cache=$root/.cache/compare
tools=$root/.cache/tools
mkdir -p "$cache" "$tools"
runs=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    rm -rf "$runs"
}
trap cleanup EXIT

# --- the tools ---------------------------------------------------------------------

install_tools() {
    if [[ ! -x $cache/npm/node_modules/.bin/wscat ]]; then
        command -v npm >/dev/null || die "npm is missing (Debian: apt-get install npm)"
        echo "compare-tools: installing wscat $WSCAT_VERSION" >&2
        npm install --silent --no-audit --no-fund --prefix "$cache/npm" "wscat@$WSCAT_VERSION" >&2 ||
            die "npm install wscat failed"
    fi
    if [[ ! -x $cache/wsstat-venv/bin/wsstat ]]; then
        # wsstat 1.4.0 uses asyncio.coroutine and websockets.handshake: gone in Python
        # 3.10+ and websockets 9+.
        local old_python=""
        for candidate in python3.9 python3.8 "$(pyenv root 2>/dev/null)/versions/"3.[89]*/bin/python3; do
            if "$candidate" -c 'import sys; assert sys.version_info[:2] in ((3, 8), (3, 9))' 2>/dev/null; then
                old_python=$candidate
                break
            fi
        done
        [[ -n $old_python ]] || die "wsstat needs Python 3.8 or 3.9 (none found)"
        echo "compare-tools: installing wsstat $WSSTAT_VERSION with $old_python" >&2
        rm -rf "$cache/wsstat-venv"
        "$old_python" -m venv "$cache/wsstat-venv" || die "venv for wsstat failed"
        "$cache/wsstat-venv/bin/pip" install --quiet --disable-pip-version-check \
            "wsstat==$WSSTAT_VERSION" "websockets==8.1" "urwid==2.1.2" >&2 ||
            die "pip install wsstat failed"
    fi
    if [[ ! -x $cache/venv/bin/python ]] ||
        ! "$cache/venv/bin/python" -c "import websockets" 2>/dev/null; then
        echo "compare-tools: installing websockets $WEBSOCKETS_VERSION for the helper servers" >&2
        rm -rf "$cache/venv"
        python3 -m venv "$cache/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
        "$cache/venv/bin/pip" install --quiet --disable-pip-version-check \
            "websockets==$WEBSOCKETS_VERSION" >&2 || die "pip install websockets failed"
    fi
    # WEBSOCAT=none runs without it (its cells say "not run"): its first build takes
    # long on a small machine.
    if [[ -z ${WEBSOCAT:-} && ! -x $tools/bin/websocat ]]; then
        echo "compare-tools: building websocat $WEBSOCAT_VERSION (cargo install; minutes)" >&2
        cargo install --quiet --locked --root "$tools" --version "$WEBSOCAT_VERSION" websocat >&2 ||
            die "cargo install websocat failed"
    fi
    echo "compare-tools: building wsppclient and wsppsrv" >&2
    cargo build --quiet --locked -p wsppclient -p wsppsrv >&2 || die "cargo build failed"
}

install_tools
WSPP=${WSPPCLIENT:-$root/target/debug/wsppclient}
SRV=${WSPPSRV:-$root/target/debug/wsppsrv}
WEBSOCAT=${WEBSOCAT:-$tools/bin/websocat}
WSCAT=$cache/npm/node_modules/.bin/wscat
WSSTAT=$cache/wsstat-venv/bin/wsstat
PY=$cache/venv/bin/python

# --- the servers -------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$port"
}

port=$(free_port)
tls_port=$(free_port)
RUST_LOG=warn "$SRV" --addr "127.0.0.1:$port" --tls-self-signed --tls-addr "127.0.0.1:$tls_port" \
    >"$runs/wsppsrv.log" 2>&1 &
pids+=($!)
wait_port "$port"
wait_port "$tls_port"
URL=ws://127.0.0.1:$port/pingpong
TLS_URL=wss://127.0.0.1:$tls_port/pingpong

# A server that requires the subprotocol `wspp.test`, logs what each client offered
# and what it chose, and echoes.
sub_port=$(free_port)
"$PY" - "$sub_port" >"$runs/subprotocol.log" 2>&1 <<'PY' &
import asyncio, sys
from websockets.asyncio.server import serve
from websockets.http11 import Response
from websockets.datastructures import Headers

def check(connection, request):
    offered = request.headers.get("Sec-WebSocket-Protocol")
    print(f"offered={offered}", flush=True)
    if not offered or "wspp.test" not in offered:
        return Response(400, "Bad Request", Headers(), b"subprotocol wspp.test required\n")

async def echo(ws):
    print(f"chosen={ws.subprotocol}", flush=True)
    await ws.send(f"subprotocol={ws.subprotocol}")
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), subprotocols=["wspp.test"],
                     process_request=check):
        await asyncio.Future()

asyncio.run(main())
PY
pids+=($!)
wait_port "$sub_port"
SUB_URL=ws://127.0.0.1:$sub_port/

# An HTTP CONNECT proxy that logs each CONNECT it tunnels.
proxy_port=$(free_port)
python3 - "$proxy_port" >"$runs/proxy.log" 2>&1 <<'PY' &
import asyncio, sys

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()

async def handle(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
    if method != "CONNECT":
        print(f"refused {method} {target}", flush=True)
        writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        return
    print(f"CONNECT {target}", flush=True)
    host, port = target.rsplit(":", 1)
    up_reader, up_writer = await asyncio.open_connection(host, int(port))
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
pids+=($!)
wait_port "$proxy_port"
PROXY=http://127.0.0.1:$proxy_port

# --- running and judging -------------------------------------------------------------

# The cells, in order: row, tool, verdict, command and what the output showed, joined
# by the unit separator (commands hold pipes).
US=$'\x1f'
cells=()
n=0

# run SECONDS CMD...: runs CMD with stdin open (for tools that quit at its end) for at
# most SECONDS; stdout and stderr together in $out.
run() {
    local secs=$1
    shift
    n=$((n + 1))
    out=$runs/$n.out
    sleep "$secs" | timeout -k 1 "$secs" "$@" >"$out" 2>&1
}

# run_tty SECONDS CMD...: the same in a pseudo-terminal (wsstat is a full-screen UI),
# its screen text in $out with the escape sequences taken out.
run_tty() {
    local secs=$1
    shift
    n=$((n + 1))
    out=$runs/$n.out
    python3 - "$secs" "$@" >"$out" 2>&1 <<'PY'
import fcntl, os, pty, re, select, signal, struct, sys, termios, time
secs, cmd = float(sys.argv[1]), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execvp(cmd[0], cmd)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
screen, end = b"", time.time() + secs
while time.time() < end:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            screen += os.read(fd, 65536)
        except OSError:
            break
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", " ", screen.decode(errors="replace"))
print(re.sub(r"[ \t]+", " ", text))
PY
}

# The first line of $out matching a pattern, printable and shortened, for the evidence.
shows() {
    grep -a -m1 -E "$1" "$out" | tr -cd '[:print:]' | tr -s ' ' | cut -c1-110
}

# cell ROW TOOL VERDICT COMMAND EVIDENCE
cell() {
    if [[ $2 == websocat && ! -x $WEBSOCAT ]]; then
        cells+=("$1$US$2${US}not run$US$4${US}websocat is not built ($WEBSOCAT)")
        return
    fi
    cells+=("$1$US$2$US$3$US$4$US$5")
    echo "compare-tools: $1 / $2: $3" >&2
}

# yes_if PATTERN ROW TOOL COMMAND NO-EVIDENCE: yes when $out matches PATTERN.
yes_if() {
    local pattern=$1 row=$2 tool=$3 command=$4 otherwise=$5
    if grep -aqE -- "$pattern" "$out"; then
        cell "$row" "$tool" yes "$command" "$(shows "$pattern")"
    else
        cell "$row" "$tool" no "$command" "$otherwise"
    fi
}

# The first line of $out, for a run that failed.
first_line() {
    grep -a -m1 -v '^\s*$' "$out" | tr -cd '[:print:]' | tr -s ' ' | cut -c1-110
}

wspp_has() {
    "$WSPP" "$@" --help 2>/dev/null
}

# 1. Ping RTT: a WebSocket Ping per probe, timed.
row="RTT of WebSocket Ping/Pong, per probe"
run 5 "$WSPP" ping -c 3 -i 0.2 "$URL"
yes_if 'seq=2 rtt=[0-9.]+ ms' "$row" wsppclient "wsppclient ping -c 3 -i 0.2 $URL" "$(first_line)"
run 4 "$WEBSOCAT" --ping-interval 1 --print-ping-rtts "$URL"
yes_if '[Rr][Tt][Tt].*[0-9]' "$row" websocat "websocat --ping-interval 1 --print-ping-rtts $URL" "$(first_line)"
n=$((n + 1))
out=$runs/$n.out
{
    sleep 1
    echo /ping
    sleep 5
} | timeout -k 1 8 "$WSCAT" -P --slash -c "$URL" >"$out" 2>&1
if grep -aqiE 'pong.*[0-9.]+ ?(ms|µs|s)\b' "$out"; then
    cell "$row" wscat yes "(sleep 1; echo /ping) | wscat -P --slash -c $URL" "$(shows 'pong')"
else
    cell "$row" wscat no "(sleep 1; echo /ping) | wscat -P --slash -c $URL" \
        "no time: $(shows '[Pp]ing|[Pp]ong')"
fi
run_tty 8 "$WSSTAT" -n 1 "$URL"
if grep -aqiE 'rtt|round.?trip|latency' "$out"; then
    cell "$row" wsstat yes "wsstat -n 1 $URL" "$(shows 'rtt|round|latency')"
else
    cell "$row" wsstat no "wsstat -n 1 $URL (in a terminal)" \
        "no ping: the screen shows $(grep -a -o -m1 -E 'Connected in [0-9.]+ ms' "$out") and messages per second"
fi

# 2. Summary statistics and machine-readable output.
row="RTT summary (min/avg/max, percentiles) and JSON"
run 5 "$WSPP" ping -c 5 -i 0.1 --json "$URL"
yes_if '"rtt_p99_ms":[0-9.]+' "$row" wsppclient "wsppclient ping -c 5 -i 0.1 --json $URL" "$(first_line)"
run 4 "$WEBSOCAT" --ping-interval 1 --print-ping-rtts "$URL"
yes_if 'avg|p50|p99|min|max|\{' "$row" websocat "websocat --ping-interval 1 --print-ping-rtts $URL" \
    "one line per pong, no summary: $(shows '[Rr][Tt][Tt]')"
run 8 "$WSCAT" -c "$URL" -x hello -w 1
yes_if 'avg|p50|p99|min|max|rtt' "$row" wscat "wscat -c $URL -x hello -w 1" "no figure: $(first_line)"
run_tty 8 "$WSSTAT" -n 2 "$URL"
yes_if 'avg|p50|p99|percentile|\{' "$row" wsstat "wsstat -n 2 $URL (in a terminal)" \
    "a screen, not a summary: $(shows 'Connections:')"

# 3. Echo RTT: an application message and its echo, timed.
row="RTT of an echoed message, per probe"
if wspp_has ping | grep -q -- '--echo'; then
    run 5 "$WSPP" ping --echo -c 3 -i 0.2 "$URL"
    yes_if 'seq=2 rtt=[0-9.]+ ms' "$row" wsppclient "wsppclient ping --echo -c 3 -i 0.2 $URL" "$(first_line)"
else
    cell "$row" wsppclient no "wsppclient ping --help" "no --echo"
fi
n=$((n + 1))
out=$runs/$n.out
{
    echo hello
    sleep 1
} | timeout -k 1 3 "$WEBSOCAT" "$URL" >"$out" 2>&1
yes_if '[0-9.]+ ?(ms|µs)' "$row" websocat "(echo hello; sleep 1) | websocat $URL" \
    "the echo, untimed: $(first_line)"
run 8 "$WSCAT" -c "$URL" -x hello -w 1
yes_if '[0-9.]+ ?(ms|µs)' "$row" wscat "wscat -c $URL -x hello -w 1" "the echo, untimed: $(shows hello)"
cell "$row" wsstat no "wsstat --help" "no way to send a message; it counts what the server sends"

# 4. Hex dump of payloads.
row="Hex dump of payloads"
if wspp_has inspect | grep -q -- '--hex'; then
    run 5 "$WSPP" inspect --send hello --wait 300ms --hex "$URL"
    yes_if '68 65 6c 6c 6f' "$row" wsppclient "wsppclient inspect --send hello --wait 300ms --hex $URL" "$(first_line)"
else
    cell "$row" wsppclient no "wsppclient inspect --help" "no --hex"
fi
run 3 "$WEBSOCAT" --help=long
if grep -aqi 'hex' "$out"; then
    cell "$row" websocat yes "websocat --help=long" "$(shows '[Hh][Ee][Xx]')"
else
    cell "$row" websocat no "websocat --help=long" "no option mentions hex (base64 and text/binary prefixes only)"
fi
run 8 "$WSCAT" --hex -c "$URL"
yes_if '68 65|^[0-9a-f]{8}' "$row" wscat "wscat --hex -c $URL" "$(first_line)"
run 8 "$WSSTAT" --hex "$URL"
yes_if '68 65|^[0-9a-f]{8}' "$row" wsstat "wsstat --hex $URL" "$(shows error)"

# 5. The handshake on the wire: request and response heads.
row="Handshake transcript (request and response heads)"
if wspp_has inspect >/dev/null; then
    run 5 "$WSPP" inspect --wait 200ms "$URL"
    yes_if 'HTTP/1.1 101' "$row" wsppclient "wsppclient inspect --wait 200ms $URL" "$(first_line)"
else
    cell "$row" wsppclient no "wsppclient --help" "no inspect"
fi
run 3 "$WEBSOCAT" -v -v "$URL"
yes_if 'HTTP/1.1 101|[Ss]ec-[Ww]eb[Ss]ocket-[Aa]ccept' "$row" websocat "websocat -v -v $URL" \
    "log lines, no heads: $(first_line)"
run 8 "$WSCAT" -c "$URL" -w 1
yes_if 'HTTP/1.1 101|[Ss]ec-[Ww]eb[Ss]ocket-[Aa]ccept' "$row" wscat "wscat -c $URL -w 1" \
    "nothing about the handshake: $(first_line)"
run_tty 8 "$WSSTAT" -n 1 "$URL"
yes_if 'HTTP/1.1 101|Sec-WebSocket-Accept' "$row" wsstat "wsstat -n 1 $URL (in a terminal)" \
    "only $(grep -ao -m1 -E 'Connected in [0-9.]+ ms' "$out")"

# 6. Subprotocol: offered by name, chosen by the server.
row="Subprotocol (offer one, see which the server chose)"
subprotocol_cell() {
    local tool=$1 command=$2 before=$3
    local after
    after=$(grep -c '^chosen=wspp.test' "$runs/subprotocol.log")
    if ((after > before)) && grep -aq 'wspp.test' "$out"; then
        cell "$row" "$tool" yes "$command" "$(shows 'wspp.test')"
    elif ((after > before)); then
        cell "$row" "$tool" "offers only" "$command" "the server chose wspp.test; the tool does not say so"
    else
        cell "$row" "$tool" no "$command" "$(first_line)"
    fi
}
chosen() { grep -c '^chosen=wspp.test' "$runs/subprotocol.log"; }
before=$(chosen)
if wspp_has inspect | grep -q -- '--subprotocol'; then
    run 5 "$WSPP" inspect --subprotocol wspp.test --wait 300ms "$SUB_URL"
    subprotocol_cell wsppclient "wsppclient inspect --subprotocol wspp.test --wait 300ms $SUB_URL" "$before"
else
    run 5 "$WSPP" -H 'Sec-WebSocket-Protocol: wspp.test' inspect --wait 300ms "$SUB_URL"
    subprotocol_cell wsppclient "wsppclient -H 'Sec-WebSocket-Protocol: wspp.test' inspect --wait 300ms $SUB_URL" "$before"
fi
before=$(chosen)
run 3 "$WEBSOCAT" --protocol wspp.test "$SUB_URL"
subprotocol_cell websocat "websocat --protocol wspp.test $SUB_URL" "$before"
before=$(chosen)
run 8 "$WSCAT" -s wspp.test -c "$SUB_URL" -w 1
subprotocol_cell wscat "wscat -s wspp.test -c $SUB_URL -w 1" "$before"
before=$(chosen)
run_tty 8 "$WSSTAT" -n 1 -H 'Sec-WebSocket-Protocol: wspp.test' "$SUB_URL"
subprotocol_cell wsstat "wsstat -n 1 -H 'Sec-WebSocket-Protocol: wspp.test' $SUB_URL" "$before"

# 7. HTTP CONNECT proxy.
row="Through an HTTP CONNECT proxy"
proxy_cell() {
    local tool=$1 command=$2 before=$3 pattern=$4
    if (($(grep -c "^CONNECT 127.0.0.1:$port" "$runs/proxy.log") > before)) && grep -aqE "$pattern" "$out"; then
        cell "$row" "$tool" yes "$command" "the proxy logged CONNECT 127.0.0.1:$port; $(shows "$pattern")"
    else
        cell "$row" "$tool" no "$command" "the proxy saw nothing; $(first_line)"
    fi
}
connects() { grep -c "^CONNECT" "$runs/proxy.log"; }
before=$(connects)
if wspp_has | grep -q -- '--proxy'; then
    run 5 "$WSPP" --proxy "$PROXY" ping -c 2 -i 0.2 "$URL"
    proxy_cell wsppclient "wsppclient --proxy $PROXY ping -c 2 -i 0.2 $URL" "$before" 'rtt='
else
    run 5 env HTTPS_PROXY="$PROXY" HTTP_PROXY="$PROXY" "$WSPP" ping -c 2 -i 0.2 "$URL"
    proxy_cell wsppclient "HTTP_PROXY=$PROXY wsppclient ping -c 2 -i 0.2 $URL (no --proxy)" "$before" 'rtt='
fi
before=$(connects)
n=$((n + 1))
out=$runs/$n.out
{
    echo hello
    sleep 1
} | timeout -k 1 3 env HTTP_PROXY="$PROXY" http_proxy="$PROXY" ALL_PROXY="$PROXY" "$WEBSOCAT" "$URL" >"$out" 2>&1
proxy_cell websocat "(echo hello; sleep 1) | HTTP_PROXY=$PROXY ALL_PROXY=$PROXY websocat $URL (no proxy option in --help=long)" "$before" hello
before=$(connects)
run 8 "$WSCAT" --proxy "$PROXY" -c "$URL" -x hello -w 1
proxy_cell wscat "wscat --proxy $PROXY -c $URL -x hello -w 1" "$before" hello
before=$(connects)
run_tty 8 env HTTP_PROXY="$PROXY" HTTPS_PROXY="$PROXY" "$WSSTAT" -n 1 "$URL"
proxy_cell wsstat "HTTP_PROXY=$PROXY wsstat -n 1 $URL (no proxy option)" "$before" 'Connected in'

# 8. TLS key log for Wireshark.
row="TLS key log for Wireshark (SSLKEYLOGFILE)"
keylog_cell() {
    local tool=$1 command=$2 file=$3
    if grep -q 'CLIENT_TRAFFIC_SECRET_0\|CLIENT_RANDOM' "$file" 2>/dev/null; then
        cell "$row" "$tool" yes "$command" "$(grep -c . "$file") secrets written to the file"
    else
        cell "$row" "$tool" no "$command" "the file stays empty; $(first_line)"
    fi
}
keys=$runs/keys-wspp.log
run 5 env SSLKEYLOGFILE="$keys" "$WSPP" --insecure ping -c 1 "$TLS_URL"
keylog_cell wsppclient "SSLKEYLOGFILE=keys.log wsppclient --insecure ping -c 1 $TLS_URL" "$keys"
keys=$runs/keys-websocat.log
run 3 env SSLKEYLOGFILE="$keys" "$WEBSOCAT" -k "$TLS_URL"
keylog_cell websocat "SSLKEYLOGFILE=keys.log websocat -k $TLS_URL" "$keys"
keys=$runs/keys-wscat.log
run 8 env SSLKEYLOGFILE="$keys" "$WSCAT" -n -c "$TLS_URL" -x hello -w 1
keylog_cell wscat "SSLKEYLOGFILE=keys.log wscat -n -c $TLS_URL -x hello -w 1" "$keys"
# Node itself can write one, whatever the program: say so next to wscat's cell.
keys=$runs/keys-node.log
run 8 env NODE_OPTIONS="--tls-keylog=$keys" "$WSCAT" -n -c "$TLS_URL" -x hello -w 1
if grep -q 'CLIENT_TRAFFIC_SECRET_0\|CLIENT_RANDOM' "$keys" 2>/dev/null; then
    cell "$row" wscat "with node's flag" "NODE_OPTIONS=--tls-keylog=keys.log wscat -n -c $TLS_URL -x hello -w 1" \
        "$(grep -c . "$keys") secrets: node's own option, not wscat's"
fi
keys=$runs/keys-wsstat.log
run_tty 8 env SSLKEYLOGFILE="$keys" "$WSSTAT" -i -n 1 "$TLS_URL"
keylog_cell wsstat "SSLKEYLOGFILE=keys.log wsstat -i -n 1 $TLS_URL" "$keys"

# 9. Kernel timestamps.
row="RTT from kernel timestamps (the wire's time, not the process's)"
run 5 "$WSPP" ping -c 2 -i 0.2 --json "$URL"
yes_if '"clock":"kernel"' "$row" wsppclient "wsppclient ping -c 2 -i 0.2 --json $URL" \
    "no clock field in the JSON: RTTs are the process's"
for tool in websocat wscat wsstat; do
    case $tool in
    websocat) run 3 "$WEBSOCAT" --help=long ;;
    wscat) run 8 "$WSCAT" --help ;;
    wsstat) run 8 "$WSSTAT" --help ;;
    esac
    yes_if 'SO_TIMESTAMP|[Kk]ernel.*timestamp|timestamp.*[Kk]ernel' "$row" $tool "$tool --help" \
        "no option for it in --help$(grep -aqi timestamp "$out" && echo ' (timestamps, if any, are of messages, from the process clock)')"
done

# 10. What the others do and wsppclient does not, so the table is fair.
row="Many connections from one command"
cell "$row" wsppclient no "wsppclient hold --help" "hold keeps one connection"
cell "$row" websocat no "websocat --help=long" "one connection per run"
cell "$row" wscat no "wscat --help" "one connection per run"
run_tty 8 "$WSSTAT" -n 5 "$URL"
yes_if 'Connections: \[5/5\]' "$row" wsstat "wsstat -n 5 $URL (in a terminal)" "$(shows 'Connections')"
cells[-1]=${cells[-1]%"$US"*}$US$(grep -ao -m1 'Connections: \[[0-9]*/[0-9]*\]' "$out")

row="Listen as a server"
free=$(free_port)
run 2 "$WSPP" listen "$free"
yes_if 'listening on ws://' "$row" wsppclient "wsppclient listen $free" "$(first_line)"
free=$(free_port)
run 2 "$WEBSOCAT" -s "$free"
yes_if 'Listening' "$row" websocat "websocat -s $free" "$(first_line)"
free=$(free_port)
run_tty 6 "$WSCAT" -l "$free"
yes_if 'Listening' "$row" wscat "wscat -l $free" "$(first_line)"
cell "$row" wsstat no "wsstat --help" "client only (--demo starts its own demo server)"

# --- the report ----------------------------------------------------------------------

report() {
    local tool_list=(wsppclient websocat wscat wsstat)
    echo "| feature | wsppclient | websocat | wscat | wsstat |"
    echo "| --- | --- | --- | --- | --- |"
    local rows=() seen=""
    for c in "${cells[@]}"; do
        local r=${c%%"$US"*}
        [[ $seen == *"<$r>"* ]] || {
            rows+=("$r")
            seen+="<$r>"
        }
    done
    for r in "${rows[@]}"; do
        local line="| $r |"
        for t in "${tool_list[@]}"; do
            local j=0 text=""
            for c in "${cells[@]}"; do
                j=$((j + 1))
                IFS=$US read -r cr ct cv _ _ <<<"$c"
                if [[ $cr == "$r" && $ct == "$t" ]]; then
                    text+="${text:+; }$cv [$j]"
                fi
            done
            line+=" ${text:-?} |"
        done
        echo "$line"
    done
    echo
    echo "What each cell ran, and what its output showed:"
    echo
    local k=0
    for c in "${cells[@]}"; do
        k=$((k + 1))
        IFS=$US read -r _ _ _ cc ce <<<"$c"
        ce=${ce//|/\\|}
        echo "$k. \`$cc\`: $ce"
    done
}

versions() {
    local websocat_version="not run"
    [[ -x $WEBSOCAT ]] && websocat_version=$("$WEBSOCAT" --version | awk '{print $2}')
    echo "Versions: wsppclient at commit $(git rev-parse --short HEAD) ($(git log -1 --format=%cs)), websocat $websocat_version, wscat $("$WSCAT" --version), wsstat $WSSTAT_VERSION (websockets 8.1, Python $("$cache/wsstat-venv/bin/python" -c 'import platform; print(platform.python_version())'))."
}

table=$(
    versions
    echo
    report
)
echo "$table"

if $write; then
    doc=docs/comparison.md
    begin="<!-- BEGIN GENERATED by scripts/compare-tools.sh -->"
    end="<!-- END GENERATED -->"
    [[ -f $doc ]] || die "$doc is missing"
    python3 - "$doc" "$begin" "$end" "$table" <<'PY'
import sys
path, begin, end, table = sys.argv[1:]
text = open(path).read()
b, e = text.find(begin), text.find(end)
if b < 0 or e < b:
    sys.exit(f"{path}: no generated part between the markers")
open(path, "w").write(text[:b] + begin + "\n\n" + table + "\n\n" + text[e:])
PY
    echo "compare-tools: wrote $doc" >&2
fi
