#!/usr/bin/env bash
# Runs the Autobahn|Testsuite case files against wspp, through kosoku (PyPI), and fails
# on any FAILED case.
#
#   scripts/autobahn.sh [server]      wsppsrv's /pingpong echo, kosoku as the fuzzing client
#   scripts/autobahn.sh client        kosoku as the fuzzing server, wsppclient driving it
#   scripts/autobahn.sh all           both, one after the other; fails if either fails
#
# Why kosoku: the original `autobahntestsuite` package is Python 2 only; kosoku runs the
# same case files from Python 3 and writes the same report (index.json + HTML per case).
# It lives in a throw-away virtualenv under .cache/autobahn/ (gitignored), created once
# and reused while its pinned version stays the same.
#
# The permessage-deflate groups (12.*, 13.*) run unless compression is turned off
# (WSPP_DEFLATE=off: wsppsrv takes no offer, and the client driver makes none).
#
# Environment:
#   AUTOBAHN_PROFILE=debug|release   how to build (default debug: CI has just built the
#                                    debug tree for the tests, and the suite runs as fast
#                                    against it; see docs/conformance.md)
#   AUTOBAHN_CASES='1.* 9.1.1'       run only these case globs (default: all; 12/13 only
#                                    where compression is on, see above)
#   WSPP_*                           wsppsrv's own variables pass through; the script
#                                    sets WSPP_FIRST_PING_DELAY=1h and
#                                    WSPP_MAX_MESSAGE_SIZE=16 MiB unless they are set
#                                    (WSPP_FIRST_PING_DELAY=0s shows what pings do)
#   AUTOBAHN_CLIENT_CMD              client mode only: the command that drives the fuzzing
#                                    server; it gets the server's ws:// URL as its last
#                                    argument (default: wsppclient's autobahn_client
#                                    example, built here; see docs/conformance.md)
#
# Exit status: 0 when no case FAILED, 1 when one did, 2 when the run itself broke.
set -euo pipefail

readonly KOSOKU_VERSION=0.1.0
# Autobahn's 9.* cases send messages of up to 16 MiB, in one frame or many.
readonly MAX_MESSAGE=$((16 * 1024 * 1024))
# Bounds the whole suite; a healthy run takes about 15 s without the compression
# groups, and minutes with them (12.* and 13.* push gigabytes through zlib both ways).
suite_timeout=600

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache/autobahn"
venv="$cache/venv"
mode=${1:-server}
profile=${AUTOBAHN_PROFILE:-debug}

die() { echo "autobahn: $*" >&2; exit 2; }

case "$mode" in server | client | all) ;; *) die "unknown mode '$mode' (server, client or all)" ;; esac
case "$profile" in debug | release) ;; *) die "AUTOBAHN_PROFILE must be debug or release" ;; esac

setup_venv() {
    if [[ -x "$venv/bin/kosoku" ]] &&
        [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null)" == "$KOSOKU_VERSION" ]]; then
        return
    fi
    echo "autobahn: installing kosoku $KOSOKU_VERSION into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
}

# Case selection as kosoku arguments.
case_args=()
if [[ -n "${AUTOBAHN_CASES:-}" ]]; then
    for glob in $AUTOBAHN_CASES; do case_args+=(-i "$glob"); done
fi
# Without compression the suite has nothing to judge in 12.* and 13.*.
if [[ "${WSPP_DEFLATE:-on}" == off ]]; then
    case_args+=(-x '12.*' -x '13.*')
else
    suite_timeout=1800
fi

# Prints the one-line summary of an index.json and exits 1 if any case failed.
# A case fails on a FAILED (or kosoku's ERROR) behaviour, or on a closing handshake that
# the suite judges FAILED, UNCLEAN, WRONG CODE or FAILED BY CLIENT.
summarise() {
    "$venv/bin/python" - "$1" "$2" <<'PY'
import collections, json, sys

index_path, label = sys.argv[1], sys.argv[2]
with open(index_path) as f:
    index = json.load(f)
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
counts = collections.Counter()
bad, notable = [], []
for agent, cases in index.items():
    for case, result in cases.items():
        behaviour, close = result["behavior"], result["behaviorClose"]
        counts[behaviour] += 1
        if behaviour in ("FAILED", "ERROR") or close in ("FAILED", "UNCLEAN", "WRONG CODE", "FAILED BY CLIENT"):
            bad.append(f"{case} ({behaviour}, close {close})")
        elif behaviour != "OK":
            notable.append(f"{case} {behaviour}")
key = lambda case: [int(part) for part in case.split(" ")[0].split(".")]
parts = [f"{counts.pop(name, 0)} {name}" for name in order]
parts += [f"{n} {name}" for name, n in sorted(counts.items())]
total = sum(len(cases) for cases in index.values())
print(f"autobahn {label}: {total} cases: " + ", ".join(parts))
if notable:
    print("  not OK but allowed: " + ", ".join(sorted(notable, key=key)))
if bad:
    print("  failing: " + ", ".join(sorted(bad, key=key)))
    sys.exit(1)
PY
}

# shellcheck source=scripts/children.sh
source "$root/scripts/children.sh"

# Waits (bounded) for a line matching $2 in file $1 and prints the first 127.0.0.1:PORT
# on it: both wsppsrv and kosoku log the address they really bound, so port 0 is safe.
bound_addr() {
    local file=$1 pattern=$2 pid=$3
    for _ in $(seq 1 200); do
        if grep -q "$pattern" "$file" 2>/dev/null; then
            grep "$pattern" "$file" | head -n1 | grep -o '127\.0\.0\.1:[0-9]\+' | head -n1
            return
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "process $pid exited before listening"; }
        sleep 0.05
    done
    cat "$file" >&2
    die "no address in $file after 10 s"
}

build_server() {
    local flags=()
    [[ "$profile" == release ]] && flags+=(--release)
    (cd "$root" && cargo build --quiet "${flags[@]}" -p wsppsrv) || die "cargo build failed"
    echo "$root/target/$profile/wsppsrv"
}

# The client driver: an example of wsppclient that connects through the client's own
# connect path (crates/wsppclient/examples/autobahn_client.rs).
build_client_driver() {
    local flags=()
    [[ "$profile" == release ]] && flags+=(--release)
    (cd "$root" && cargo build --quiet "${flags[@]}" -p wsppclient --example autobahn_client) ||
        die "cargo build failed"
    echo "$root/target/$profile/examples/autobahn_client"
}

# A well-behaved client, stdlib only: upgrade, one masked text frame, expect its echo.
# Run after the suite, it proves no case left the server unable to serve others.
check_still_serving() {
    "$venv/bin/python" - "$1" <<'PY'
import base64, os, socket, struct, sys

host, port = sys.argv[1].rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((
    "GET /pingpong HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    f"Sec-WebSocket-Key: {key}\r\nUser-Agent: autobahn.sh check\r\n\r\n").encode())
head = b""
while not head.endswith(b"\r\n\r\n"):
    byte = sock.recv(1)
    if not byte:
        sys.exit("server hung up during the handshake")
    head += byte
if not head.startswith(b"HTTP/1.1 101"):
    sys.exit("upgrade refused: " + head.decode(errors="replace").splitlines()[0])

def recv_exact(n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            sys.exit("server hung up")
        out += chunk
    return out

payload, mask = b"still serving", os.urandom(4)
masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
while True:
    b0, b1 = recv_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(8))[0]
    data = recv_exact(n)
    if b0 & 0x0F == 0x1:
        break
if data != payload:
    sys.exit(f"wrong echo: {data!r}")
close = struct.pack("!H", 1000)
sock.sendall(bytes([0x88, 0x80 | len(close)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(close)))
sock.close()

# Every session the suite opened, and this one, must have left the registry.
import json, time, urllib.request
deadline = time.monotonic() + 10
while True:
    with urllib.request.urlopen(f"http://{host}:{port}/clients.json", timeout=5) as response:
        now = json.load(response)["server"]["clients_now"]
    if now == 0:
        break
    if time.monotonic() > deadline:
        sys.exit(f"{now} clients still listed 10 s after the suite")
    time.sleep(0.05)
print("autobahn server: a well-behaved /pingpong client is still answered; no client left listed")
PY
}

run_server_mode() {
    local server log addr report rc=0 started
    server=$(build_server)
    log="$cache/wsppsrv.log"
    mkdir -p "$cache"
    # The server pings /pingpong at once and then every second by default. Autobahn
    # scripts every frame a case may see, so an unrequested ping reads as a wrong
    # answer (RFC 6455 allows it): pings are held off for the run. See docs/conformance.md.
    RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 \
        WSPP_FIRST_PING_DELAY=${WSPP_FIRST_PING_DELAY:-1h} \
        WSPP_MAX_MESSAGE_SIZE=${WSPP_MAX_MESSAGE_SIZE:-$MAX_MESSAGE} \
        "$server" --addr 127.0.0.1:0 >"$log" 2>&1 &
    pids+=($!)
    addr=$(bound_addr "$log" listening "${pids[-1]}")
    report="$cache/reports/server"
    rm -rf "$report"
    started=$SECONDS
    timeout "$suite_timeout" "$venv/bin/kosoku" "${case_args[@]}" -o "$report" \
        "ws://$addr/pingpong" >"$cache/kosoku-server.log" 2>&1 || rc=$?
    [[ -f "$report/index.json" ]] || { cat "$cache/kosoku-server.log" >&2; die "kosoku wrote no report (exit $rc)"; }
    echo "autobahn server: suite ran in $((SECONDS - started)) s against $addr ($profile build); report: $report/index.html"
    rc=0
    summarise "$report/index.json" "server (wsppsrv /pingpong)" || rc=$?
    kill -0 "${pids[-1]}" 2>/dev/null || die "wsppsrv died during the suite; see $log"
    check_still_serving "$addr" || die "wsppsrv no longer answers a well-behaved client; see $log"
    return "$rc"
}

run_client_mode() {
    local log addr report rc=0 started driver=${AUTOBAHN_CLIENT_CMD:-}
    [[ -n "$driver" ]] || driver=$(build_client_driver)
    log="$cache/kosoku-client.log"
    report="$cache/reports/client"
    rm -rf "$report"
    mkdir -p "$cache"
    timeout "$suite_timeout" "$venv/bin/kosoku" -m fuzzingserver "${case_args[@]}" -o "$report" \
        127.0.0.1:0 >"$log" 2>&1 &
    pids+=($!)
    addr=$(bound_addr "$log" "fuzzingserver listening" "${pids[-1]}")
    started=$SECONDS
    # shellcheck disable=SC2086 # the command is a command line, split on purpose
    RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 timeout "$suite_timeout" $driver "ws://$addr" \
        >"$cache/driver.log" 2>&1 || rc=$?
    wait "${pids[-1]}" || true
    [[ -f "$report/index.json" ]] || {
        cat "$log" "$cache/driver.log" >&2
        die "kosoku wrote no report (driver exit $rc)"
    }
    echo "autobahn client: suite ran in $((SECONDS - started)) s against $addr ($profile build); report: $report/index.html"
    [[ "$rc" == 0 ]] || { cat "$cache/driver.log" >&2; die "the driver failed (exit $rc); see $cache/driver.log"; }
    summarise "$report/index.json" "client (wsppclient)"
}

# Both modes, each its own run of this script (its own processes, traps and `set -e`);
# the worse exit status wins (2 over 1 over 0).
run_all_mode() {
    local server_rc=0 client_rc=0
    "${BASH_SOURCE[0]}" server || server_rc=$?
    "${BASH_SOURCE[0]}" client || client_rc=$?
    return $((server_rc > client_rc ? server_rc : client_rc))
}

setup_venv
"run_${mode}_mode"
