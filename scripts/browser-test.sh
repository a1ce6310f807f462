#!/usr/bin/env bash
# End-to-end test of wsppsrv's clients page, and of wsppclient listen, in a real browser.
#
# Installs Debian's chromium (if /usr/bin/chromium is missing) and playwright-core
# (from scripts/browser/package-lock.json, into scripts/browser/node_modules), builds
# wsppsrv and wsppclient, starts wsppsrv on a free loopback port, and runs
# scripts/browser/page.test.mjs, which drives headless Chromium through the page and
# takes two screenshots: into target/screenshots/ by default, so a test run leaves the
# work tree alone, or over img/page.png and img/page-phone.png with
# --update-screenshots. Then `wsppclient --deflate listen` on another free port, and
# scripts/browser/listen.test.mjs, whose Chromium connects to it. Each test file ends
# with "N passed, M failed"; the exit status is non-zero on any failure.
#
# Then, on a second wsppsrv serving TLS with a self-signed certificate,
# scripts/browser/http2.test.mjs loads the page over HTTPS/2 and connects its
# WebSocket over HTTP/2 (RFC 8441).
#
# Needs Node.js 20 or later, and root (or sudo) only to install chromium.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/children.sh
source scripts/children.sh

shots="$root/target/screenshots"
if [ "${1:-}" = "--update-screenshots" ]; then
  shots="$root/img"
fi

chromium=/usr/bin/chromium

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$chromium" ]; then
  echo "browser-test: installing Debian's chromium" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "browser-test: Node.js 20 or later is needed (playwright-core requires it)" >&2
  exit 1
fi
# Exactly the locked playwright-core; it drives the system Chromium and downloads no
# browser of its own.
npm ci --prefix scripts/browser --no-audit --no-fund --loglevel=error >&2

build_binaries >&2
server="$bin/wsppsrv"

work=$(mktemp -d)
log="$work/server.log"
server_pid=
tls_server_pid=

finish() {
  local status=$? pid
  stop_children
  for pid in "$server_pid" "$tls_server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" || true
    fi
  done
  if [ "$status" -ne 0 ] && [ -s "$log" ]; then
    echo "browser-test: the server's log ends with:" >&2
    tail -n 40 "$log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT

# listened PID LISTENER: the address the server PID logs for LISTENER (`listening` or
# `listening (tls)`) in $log, once it has; fails if it exits first or takes over 10 s.
listened() {
  local pid=$1 listener=$2 found=
  for _ in $(seq 100); do
    found=$(sed -e 's/\x1b\[[0-9;]*m//g' -n -e "s/.*$listener addr=\([0-9.]*:[0-9]*\).*/\1/p" "$log" | head -n 1)
    [ -n "$found" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "browser-test: wsppsrv exited before listening" >&2
      return 1
    fi
    sleep 0.1
  done
  if [ -z "$found" ]; then
    echo "browser-test: wsppsrv did not log its address within 10 s" >&2
    return 1
  fi
  echo "$found"
}

# Port 0: the kernel picks a free port, and the server logs the address it got.
NO_COLOR=1 RUST_LOG=info "$server" --addr 127.0.0.1:0 --ping-interval 500ms >"$log" 2>&1 &
server_pid=$!
addr=$(listened "$server_pid" listening)

# listen_test: `wsppclient --deflate listen` on a free port, its transcript in a file,
# and Chromium's WebSocket to it (scripts/browser/listen.test.mjs reads the transcript).
listen_test() {
  local port out="$work/listen.out" err="$work/listen.err" pid i status=0
  port=$(free_port)
  if [ -z "$port" ]; then
    echo "browser-test: no free port for listen" >&2
    return 1
  fi
  "$bin/wsppclient" --deflate listen "127.0.0.1:$port" </dev/null >"$out" 2>"$err" &
  pid=$!
  pids+=("$pid")
  for ((i = 0; i < 100; i++)); do
    grep -q '^listening on ' "$err" && break
    if ! alive "$pid"; then
      echo "browser-test: listen exited: $(cat "$err")" >&2
      return 1
    fi
    sleep 0.1
  done
  if ! grep -q '^listening on ' "$err"; then
    echo "browser-test: listen did not say where it listens within 10 s" >&2
    return 1
  fi
  LISTEN_PORT="$port" LISTEN_OUT="$out" CHROMIUM="$chromium" \
    node scripts/browser/listen.test.mjs || status=1
  stop_child "$pid" INT
  if [ "$status" -ne 0 ]; then
    echo "browser-test: listen printed:" >&2
    tail -n 60 "$out" >&2
  fi
  return "$status"
}

status=0
WSPP_URL="http://$addr" \
  CHROMIUM="$chromium" \
  SCREENSHOT="$shots/page.png" \
  PHONE_SCREENSHOT="$shots/page-phone.png" \
  node scripts/browser/page.test.mjs || status=1
listen_test || status=1

# HTTP/2 over TLS: a server of its own, so that the story above keeps its counts.
log="$work/tls-server.log"
NO_COLOR=1 RUST_LOG=info "$server" --addr 127.0.0.1:0 --tls-self-signed --tls-addr 127.0.0.1:0 \
  --tls-self-signed-cert "$work/cert.pem" --ping-interval 500ms >"$log" 2>&1 &
tls_server_pid=$!
tls_addr=$(listened "$tls_server_pid" "listening (tls)")

WSPP_TLS_URL="https://localhost:${tls_addr##*:}" \
  CHROMIUM="$chromium" \
  node scripts/browser/http2.test.mjs || status=1
exit "$status"
