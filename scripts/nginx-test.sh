#!/usr/bin/env bash
# wsppsrv behind nginx, with the nginx snippet of docs/operations.md as written (only
# its two addresses replaced by this run's): Debian's nginx (installed if missing) runs
# as this script's own process, with a configuration in a temporary directory, on
# loopback ports chosen free; wsppsrv trusts it with --trusted-proxy 127.0.0.1/32.
# Checks that
#   - wsppclient pings through nginx (the upgrade and the pings pass),
#   - a client connecting to nginx from 127.0.0.2 is listed by /clients.json and the
#     page as 127.0.0.2, with nginx's address in `via`, and logged with that peer,
#   - an X-Forwarded-For the client forged is not taken (nginx appends the real one),
#   - the same forged header sent straight to wsppsrv from 127.0.0.2, which is not a
#     trusted proxy, is ignored.
# The clients with a source address of their own are a few lines of Python (wsppclient
# has no option to bind one). Every wait is bounded; only the processes started here
# are stopped, by PID. Prints one line per check and `N passed, N failed`; exit status 1
# when a check failed, 2 when the run itself broke.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/packages.sh
source scripts/packages.sh
ensure_package nginx nginx
ensure_package curl curl
ensure_package jq jq
ensure_package python3 python3
# shellcheck source=scripts/children.sh
source scripts/children.sh

readonly WAIT=300 # tenths of a second: a program to start, a client to be listed

say() { echo "nginx-test: $*"; }
die() {
    echo "nginx-test: $*" >&2
    exit 2
}

work_dir
build_binaries || die "build failed"

# --- wsppsrv --------------------------------------------------------------------------
# A long ping timeout: the Python clients below hold their sessions without answering.
start_wsppsrv "$work/wsppsrv.log" "$bin/wsppsrv" --trusted-proxy 127.0.0.1/32 \
    --ping-interval 200ms --ping-timeout 1h
srv_port=$wsppsrv_port
[[ -n $srv_port ]] || die "wsppsrv did not say where it listens: $(cat "$work/wsppsrv.log")"
say "wsppsrv on 127.0.0.1:$srv_port"

# --- nginx, with the snippet of docs/operations.md -------------------------------------
# A port nothing listens on; should another program take it first, nginx exits and the
# wait below says so.
nginx_port=$(free_port)
[[ -n $nginx_port ]] || die "no free port for nginx"

snippet=$(awk '/^```nginx$/ { inside = 1; next } /^```$/ { inside = 0 } inside' docs/operations.md)
[[ -n $snippet ]] || die "no nginx snippet in docs/operations.md"
grep -q 'server 127\.0\.0\.1:8080;' <<<"$snippet" || die "the snippet's upstream is not 127.0.0.1:8080"
grep -q 'listen 80;' <<<"$snippet" || die "the snippet does not listen on 80"
snippet=${snippet//server 127.0.0.1:8080;/server 127.0.0.1:$srv_port;}
snippet=${snippet//listen 80;/listen 127.0.0.1:$nginx_port;}
mkdir -p "$work/nginx"
# One process, in the foreground, everything it writes under $work: this run's own.
cat >"$work/nginx.conf" <<EOF
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
$snippet
}
EOF
nginx -t -q -c "$work/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" 2>"$work/nginx-t.log" ||
    die "nginx refuses the configuration: $(cat "$work/nginx-t.log")"
nginx -c "$work/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" >"$work/nginx.out" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
for ((i = 0; i < WAIT; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/clients.json" 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(tail -n 5 "$work/nginx/error.log" "$work/nginx.out")"
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/clients.json" || die "nginx does not answer on $nginx_port"
say "$(nginx -v 2>&1 | sed 's/^nginx version: //') on 127.0.0.1:$nginx_port, proxying to wsppsrv"

# --- clients with a source address of their own ----------------------------------------
cat >"$work/client.py" <<'EOF'
"""Opens a WebSocket to HOST:PORT/pingpong from the address SOURCE, with User-Agent AGENT
and the extra header lines EXTRA; writes the answer's status line to READY, then holds
the session until the server or a signal ends it (the server's pings go unanswered)."""
import base64
import os
import socket
import sys

source, host, port, agent, extra, ready = sys.argv[1:7]
sock = socket.socket()
sock.bind((source, 0))
sock.connect((host, int(port)))
key = base64.b64encode(os.urandom(16)).decode()
request = (
    f"GET /pingpong HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    f"User-Agent: {agent}\r\n{extra}\r\n"
)
sock.sendall(request.encode())
head = b""
while b"\r\n\r\n" not in head:
    chunk = sock.recv(4096)
    if not chunk:
        break
    head += chunk
with open(ready, "w") as out:
    out.write(head.split(b"\r\n", 1)[0].decode(errors="replace") + "\n")
while sock.recv(4096):
    pass
EOF

# hold SOURCE PORT AGENT EXTRA: a held session from SOURCE to 127.0.0.1:PORT; waits for
# its answer and fails the run unless it is 101.
hold() {
    local ready="$work/ready-$3"
    python3 "$work/client.py" "$1" 127.0.0.1 "$2" "$3" "$4" "$ready" &
    pids+=($!)
    for ((i = 0; i < WAIT; i++)); do
        [[ -s $ready ]] && break
        sleep 0.1
    done
    grep -q ' 101 ' "$ready" 2>/dev/null || die "$3: no 101 from 127.0.0.1:$2: $(cat "$ready" 2>/dev/null)"
}

passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
    fi
}

# client_field AGENT FIELD: FIELD of the client listed with User-Agent AGENT.
client_field() {
    curl -fsS "http://127.0.0.1:$srv_port/clients.json" |
        jq -r --arg agent "$1" --arg field "$2" '.clients[] | select(.user_agent == $agent) | .[$field] // "null"'
}

# --- the checks -------------------------------------------------------------------------
ping_through_nginx() {
    local out
    out=$(timeout 60 "$bin/wsppclient" ping -c 3 -i 0.2 "ws://127.0.0.1:$nginx_port/pingpong" 2>&1) ||
        { echo "    $out" | tail -n 3; return 1; }
    grep -q '3 pings sent, 3 pongs received' <<<"$out" || { echo "    $out" | tail -n 3; return 1; }
}

hold 127.0.0.2 "$nginx_port" behind-nginx $'X-Forwarded-For: 203.0.113.9\r\n'
hold 127.0.0.2 "$srv_port" straight $'X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n'

json_names_the_client() {
    local peer via
    peer=$(client_field behind-nginx peer)
    via=$(client_field behind-nginx via)
    [[ $peer == 127.0.0.2 && $via == 127.0.0.1:* ]] ||
        { echo "    /clients.json: peer=$peer via=$via"; return 1; }
}

page_names_the_client() {
    local page
    page=$(curl -fsS "http://127.0.0.1:$nginx_port/") || return 1
    grep -q '<td>127\.0\.0\.2 <small>via 127\.0\.0\.1:[0-9]*</small></td>' <<<"$page" ||
        { echo "    the page has no row of 127.0.0.2 via 127.0.0.1"; return 1; }
}

log_names_the_client() {
    grep -Eq 'via=127\.0\.0\.1:[0-9]+.*peer=127\.0\.0\.2[^:0-9].*websocket open' "$work/wsppsrv.log" ||
        { echo "    no 'websocket open' line with via=127.0.0.1 and peer=127.0.0.2"; return 1; }
}

forged_header_is_not_taken() {
    ! grep -q '203\.0\.113\.9' <(curl -fsS "http://127.0.0.1:$srv_port/clients.json")
}

untrusted_peer_is_listed_as_itself() {
    local peer via
    peer=$(client_field straight peer)
    via=$(client_field straight via)
    [[ $peer == 127.0.0.2:* && $via == null ]] || { echo "    peer=$peer via=$via"; return 1; }
}

check "wsppclient pings through nginx" ping_through_nginx
check "/clients.json: the client behind nginx is 127.0.0.2, via nginx" json_names_the_client
check "the page (through nginx) shows 127.0.0.2 via nginx" page_names_the_client
check "the log's span names the client and nginx" log_names_the_client
check "a forged X-Forwarded-For is not taken" forged_header_is_not_taken
check "from an untrusted peer the headers are ignored" untrusted_peer_is_listed_as_itself

echo "$passed passed, $failed failed"
((failed == 0))
