#!/usr/bin/env bash
# Verified captures: every wsppclient request is run against wsppsrv while tshark
# captures loopback, and tshark's own dissection of each capture is checked against
# what docs/wireshark.md says the wire shows: HTTP statuses, the upgrade and its
# Sec-WebSocket-Accept, opcodes, mask bits, Ping/Pong payloads, close codes, and that
# the `wireshark filter: tcp.port == N` line wsppclient prints isolates its stream.
# Then page, open-close and ping again over wss://, on the server's self-signed TLS
# port, with SSLKEYLOGFILE: read with `-o tls.keylog_file:`, the capture must show the
# same HTTP and frames (and the TLS 1.3 handshake, close_notify, ping's handshake
# line); read without it, only TLS records (docs/wireshark.md, section 6).
#
# Usage: scripts/capture-test.sh   (as root, or with capture rights on the loopback)
#
# It installs tshark (Debian package) when missing, builds the binaries, and keeps
# every capture, transcript and log in target/captures/ (or $CAPTURE_DIR) for a look
# in Wireshark. A second client (`hold`, the "bystander") stays connected throughout,
# so each capture also holds traffic that the printed filter must leave out.
#
# Exit status: 0 when every check passed, 1 when one failed, 2 when nothing could be
# checked (no tshark, no capture rights, no server). The last line is always
# `N passed, M failed`. Only processes started here are stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${CAPTURE_DIR:-target/captures}
IFACE=${CAPTURE_IFACE:-lo}
BIN=${CARGO_TARGET_DIR:-target}/debug
# Bounds, in tenths of a second for the polling loops.
START_WAIT=150 # a program to report that it is ready (tshark, the server)
STOP_WAIT=50   # a program to exit after its signal
SETTLE_WAIT=50 # a connection to finish its close on the wire

PASSED=0
FAILED=0
PIDS=()         # everything started in the background, stopped on exit
CASE=""         # the case being checked, for messages
PCAP=""         # the capture the checks read
CLIENT_PORT=""  # our end of the case's connection, from wsppclient's filter line
CLIENT_RC=0     # wsppclient's exit status
CLIENT_OUT=""   # its transcript
SERVER_PORT=""  # wsppsrv's plain ws:// port
TSHARK_PID=""
BYSTANDER_PORT=""
# How tshark dissects a capture: our server port is not 80, so say it is HTTP (the
# WebSocket dissector takes over after the 101). The wss case adds the key log here.
DISSECT=()

# --- reporting -----------------------------------------------------------------

say() { printf '%s\n' "$*"; }
pass() {
  PASSED=$((PASSED + 1))
  say "  ok    $CASE: $1"
}
fail() {
  FAILED=$((FAILED + 1))
  say "  FAIL  $CASE: $1"
}
summary() { say "$PASSED passed, $FAILED failed"; }

# Stops the run: nothing (more) can be checked. Counts as a failure.
die() {
  say "capture-test: $*" >&2
  FAILED=$((FAILED + 1))
  summary
  exit 2
}

# check_eq DESCRIPTION GOT WANT
check_eq() {
  if [[ $2 == "$3" ]]; then
    pass "$1"
  else
    fail "$1: want [$3], got [$2]"
  fi
}

# check_ge DESCRIPTION GOT MIN
check_ge() {
  if [[ $2 =~ ^[0-9]+$ ]] && ((${2} >= ${3})); then
    pass "$1 ($2)"
  else
    fail "$1: want at least $3, got [$2]"
  fi
}

# --- processes -----------------------------------------------------------------

# Whether PID still runs (a zombie child, exited but not yet reaped, does not).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

# stop PID SIGNAL: signal PID, wait (bounded) for it to exit, SIGKILL it if it does
# not, and reap it. Returns its exit status.
stop() {
  local pid=$1 signal=$2 i rc=0
  if alive "$pid"; then
    kill -s "$signal" "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_WAIT; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "capture-test: PID $pid ignored SIG$signal; killing it" >&2
      kill -s KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    stop "$pid" TERM || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for FILE PATTERN PID: polls FILE until it holds PATTERN (extended regex), for
# at most START_WAIT; fails early if PID has exited.
wait_for() {
  local file=$1 pattern=$2 pid=$3 i
  for ((i = 0; i < START_WAIT; i++)); do
    grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
    alive "$pid" || return 1
    sleep 0.1
  done
  return 1
}

# settle PORT: waits (bounded) until no socket on PORT is still open or closing, so
# that the last FIN and ACK of the connection have crossed the wire. TIME_WAIT (06)
# is the end of a closed connection.
settle() {
  local hex i
  hex=$(printf '%04X' "$1")
  for ((i = 0; i < SETTLE_WAIT; i++)); do
    if ! awk -v p=":$hex" 'NR > 1 && (substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p) && $4 != "06" { found = 1 } END { exit !found }' \
      /proc/net/tcp; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# --- tshark --------------------------------------------------------------------

# shellcheck source=scripts/packages.sh
source scripts/packages.sh

ensure_tshark() {
  command -v tshark >/dev/null && return 0
  # Without this, wireshark-common asks whether non-root users may capture.
  if [[ $(id -u) == 0 ]]; then
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  fi
  ensure_package tshark tshark
}

# tsf FILTER FIELD...: one line per matching frame, the fields separated by tabs
# (several values of one field in a frame by commas), from $PCAP.
tsf() {
  local filter=$1 field args=()
  shift
  for field in "$@"; do
    args+=(-e "$field")
  done
  timeout 120 tshark -r "$PCAP" "${DISSECT[@]}" -Y "$filter" -T fields \
    -E separator=/t -E aggregator=, "${args[@]}" 2>>"$OUT/tshark-read.log"
}

# count FILTER: how many frames of $PCAP match.
count() { tsf "$1" frame.number | wc -l; }

# One line per WebSocket frame of our stream (a TCP segment may carry several):
#   frame time_relative client|server opcode mask(0|1)
ws_frames() {
  tsf "tcp.port == $CLIENT_PORT && websocket" frame.number frame.time_relative tcp.srcport \
    websocket.opcode websocket.mask |
    awk -F'\t' -v c="$CLIENT_PORT" '{
      n = split($4, op, ","); split($5, m, ",")
      for (i = 1; i <= n; i++)
        print $1, $2, ($3 == c ? "client" : "server"), op[i], (m[i] == "1" || m[i] == "True") ? 1 : 0
    }'
}

# `client:9:1 server:10:0 ...`: who sent which opcode with which mask bit, in order.
ws_sequence() { ws_frames | awk '{ printf "%s%s:%s:%s", (NR > 1 ? " " : ""), $3, $4, $5 }'; }

# One line per Ping or Pong of our stream: frame time_relative from ping|pong payload(hex)
controls() {
  tsf "tcp.port == $CLIENT_PORT && (websocket.opcode == 9 || websocket.opcode == 10)" \
    frame.number frame.time_relative tcp.srcport websocket.payload.ping websocket.payload.pong |
    tr -d ':' |
    awk -F'\t' -v c="$CLIENT_PORT" '{
      from = ($3 == c ? "client" : "server")
      n = split($4, a, ","); for (i = 1; i <= n; i++) if (a[i] != "") print $1, $2, from, "ping", a[i]
      n = split($5, a, ","); for (i = 1; i <= n; i++) if (a[i] != "") print $1, $2, from, "pong", a[i]
    }'
}

# Pairs each Ping sent by PINGER (client|server) with the Pong that carries the same
# payload back. One line per ping, in order:
#   seq payload_bytes ping_frame pong_frame|- wire_rtt_ms|-
# then a last line `stray N`: pongs from the other side that answer none of them.
pairs() {
  controls | awk -v who="$1" '
    function hex(h,   i, v) { v = 0; for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1; return v }
    $3 == who && $4 == "ping" { n++; payload[n] = $5; frame[n] = $1; t[n] = $2 }
    $3 != who && $4 == "pong" {
      for (i = 1; i <= n; i++) if (payload[i] == $5 && !(i in answered)) { answered[i] = $1; rtt[i] = ($2 - t[i]) * 1000; next }
      stray++
    }
    END {
      for (i = 1; i <= n; i++)
        if (i in answered) printf "%d %d %s %s %.3f\n", hex(substr(payload[i], 1, 16)), length(payload[i]) / 2, frame[i], answered[i], rtt[i]
        else printf "%d %d %s - -\n", hex(substr(payload[i], 1, 16)), length(payload[i]) / 2, frame[i]
      printf "stray %d\n", stray
    }'
}

# --- one capture per request ------------------------------------------------------

# The server's end of every connection, as a capture filter. Not just `tcp port N`:
# on a busy machine a connection between two other addresses (127.0.0.10:N to
# 127.0.0.1:M, say) may use our server's port number as its ephemeral port.
capture_filter() {
  printf 'tcp and ((src host 127.0.0.1 and src port %s) or (dst host 127.0.0.1 and dst port %s))' \
    "$SERVER_PORT" "$SERVER_PORT"
}

# start_capture FILE: starts tshark on the server's port, writing FILE, and returns
# (in TSHARK_PID) once it really captures: dumpcap writes the file's header only after
# it has opened the interface, whereas tshark prints "Capturing on" even for an
# interface that does not exist. Stops the run if capture is impossible.
start_capture() {
  local file=$1 log=${1%.pcapng}.tshark.log i
  # Emptied here, not by the redirection below: that happens in the child, possibly
  # after the first look at the log.
  rm -f "$file"
  : >"$log"
  tshark -i "$IFACE" -f "$(capture_filter)" -w "$file" >"$log" 2>&1 &
  TSHARK_PID=$!
  PIDS+=("$TSHARK_PID")
  for ((i = 0; i < START_WAIT; i++)); do
    if grep -q '^Capturing on' "$log" && [[ -s $file ]] && alive "$TSHARK_PID"; then
      return 0
    fi
    alive "$TSHARK_PID" || break
    sleep 0.1
  done
  stop "$TSHARK_PID" TERM || true
  die "cannot capture on $IFACE (capturing needs root, or dumpcap with CAP_NET_RAW and CAP_NET_ADMIN); tshark said: $(grep -v 'Running as user' "$log" | tr '\n' ' ')"
}

# The first capture proves that capturing works at all: one TCP connection opened and
# closed by hand must show up in it.
probe_capture() {
  local fd got
  CASE=probe
  PCAP=$OUT/probe.pcapng
  start_capture "$PCAP"
  exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT" || die "cannot connect to wsppsrv on port $SERVER_PORT"
  exec {fd}>&-
  sleep 0.6
  stop "$TSHARK_PID" INT || true
  got=$(count "tcp.flags.syn == 1 && tcp.flags.ack == 0")
  [[ $got -ge 1 ]] || die "tshark runs on $IFACE but captured nothing of a connection to port $SERVER_PORT"
  pass "tshark captures $IFACE (a test connection's SYN is in $PCAP)"
}

# capture NAME COMMAND...: runs COMMAND while tshark captures the server's port into
# $OUT/NAME.pcapng; sets PCAP, CLIENT_OUT, CLIENT_RC and CLIENT_PORT.
capture() {
  local name=$1 log tshark_rc=0 captured in_file
  shift
  CASE=$name
  PCAP=$OUT/$name.pcapng
  CLIENT_OUT=$OUT/$name.txt
  log=$OUT/$name.tshark.log
  say "== $name: $*"
  start_capture "$PCAP"

  CLIENT_RC=0
  "$@" >"$CLIENT_OUT" 2>"$OUT/$name.stderr" || CLIENT_RC=$?
  CLIENT_PORT=$(grep -Eo 'wireshark filter: tcp\.port == [0-9]+' "$CLIENT_OUT" | tail -n 1 | awk '{ print $NF }' || true)

  # Let the connection finish on the wire, and dumpcap read the last packets from the
  # kernel (it hands them over in blocks, every quarter of a second at most).
  if [[ -n $CLIENT_PORT ]] && ! settle "$CLIENT_PORT"; then
    say "  (the connection from port $CLIENT_PORT was still closing when the capture stopped)"
  fi
  sleep 0.6
  stop "$TSHARK_PID" INT || tshark_rc=$?

  sed 's/^/    | /' "$CLIENT_OUT"
  check_eq "tshark stopped cleanly" "$tshark_rc" 0
  check_eq "wsppclient exit status" "$CLIENT_RC" 0
  captured=$(grep -Eo '^[0-9]+ packets? captured' "$log" | awk '{ print $1 }' || true)
  in_file=$(count "frame")
  check_eq "every packet tshark captured is in the file" "$in_file" "${captured:-?}"
  if [[ -z $CLIENT_PORT ]]; then
    fail "wsppclient printed no 'wireshark filter: tcp.port == N' line"
    return 1
  fi
  check_isolation
}

# The printed filter isolates exactly one TCP stream, between our port and the
# server's; everything else in the capture is the bystander's; the stream is complete
# (a FIN each way), so no check below reads a truncated capture.
check_isolation() {
  local streams ends others fins
  streams=$(tsf "tcp.port == $CLIENT_PORT" tcp.stream | sort -u | wc -l)
  check_eq "tcp.port == $CLIENT_PORT is one TCP stream" "$streams" 1
  ends=$(tsf "tcp.port == $CLIENT_PORT" tcp.srcport tcp.dstport | tr '\t' ',' | joined)
  check_eq "its two ends are port $CLIENT_PORT and the server" "$ends" \
    "$(printf '%s\n' "$CLIENT_PORT,$SERVER_PORT" "$SERVER_PORT,$CLIENT_PORT" | joined)"
  others=$(count "!(tcp.port == $CLIENT_PORT) && !(tcp.port == $BYSTANDER_PORT)")
  check_eq "nothing else in the capture but the bystander's stream" "$others" 0
  say "        (the filter leaves out $(count "tcp.port == $BYSTANDER_PORT") packets of the bystander on port $BYSTANDER_PORT)"
  # A loaded machine may resend a FIN whose ACK was late; the resent copy closes
  # nothing new, so only first transmissions are counted.
  fins=$(count "tcp.port == $CLIENT_PORT && tcp.flags.fin == 1 && !tcp.analysis.retransmission")
  check_eq "the stream is closed both ways (2 FINs)" "$fins" 2
}

# The distinct lines of stdin, sorted, on one line.
joined() { sort -u | tr '\n' ' ' | sed 's/ $//'; }

# `METHOD URI` for each request and `STATUS` for each response of our stream, in order.
http_lines() {
  tsf "tcp.port == $CLIENT_PORT && http" http.request.method http.request.uri http.response.code |
    awk -F'\t' '{ print ($1 != "" ? $1 " " $2 : $3) }' | tr '\n' ' ' | sed 's/ $//'
}

# Sec-WebSocket-Accept = base64(SHA-1(key + the RFC 6455 GUID)), with coreutils only.
accept_for() {
  local hex escaped=""
  hex=$(printf '%s' "${1}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -c1-40)
  while [[ -n $hex ]]; do
    escaped+="\\x${hex:0:2}"
    hex=${hex:2}
  done
  # shellcheck disable=SC2059 # the format is the point: \xHH escapes to bytes
  printf "$escaped" | base64
}

# The opening handshake of our stream: a GET of ROUTE with the upgrade headers, and a
# 101 whose Sec-WebSocket-Accept is derived from the key.
check_upgrade() {
  local route=$1 req key resp accept
  req=$(tsf "tcp.port == $CLIENT_PORT && http.request" http.request.uri http.upgrade \
    http.connection http.sec_websocket_version)
  check_eq "GET with Upgrade: websocket, Connection: Upgrade, version 13" "$req" \
    "$(printf '%s\t%s\t%s\t%s' "$route" websocket Upgrade 13)"
  key=$(tsf "tcp.port == $CLIENT_PORT && http.request" http.sec_websocket_key)
  resp=$(tsf "tcp.port == $CLIENT_PORT && http.response" http.response.code http.upgrade)
  check_eq "101 Switching Protocols with Upgrade: websocket" "$resp" "$(printf '101\twebsocket')"
  accept=$(tsf "tcp.port == $CLIENT_PORT && http.response" http.sec_websocket_accept)
  check_eq "Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) of key $key" "$accept" "$(accept_for "$key")"
}

check_masks() {
  local frames wrong
  frames=$(ws_frames)
  wrong=$(awk '($3 == "client") != ($5 == 1)' <<<"$frames" | wc -l)
  check_eq "client frames masked, server frames not ($(wc -l <<<"$frames") frames)" "$wrong" 0
  wrong=$(tsf "tcp.port == $CLIENT_PORT && websocket && tcp.srcport == $SERVER_PORT && websocket.masking_key" frame.number | wc -l)
  check_eq "no masking key on server frames" "$wrong" 0
}

# check_pings PINGER PAYLOAD_LEN: every Ping PINGER sent was answered by the other
# side with a Pong carrying the same payload, in the wspp layout (seq u64 counting
# from 0, send offset u64, 'w' padding). A Ping that crossed the other side's Close
# needs no answer (RFC 6455, 5.5.2 and 7.1.2: once it has sent Close, a peer may stop).
check_pings() {
  local who=$1 len=$2 ponger_port p n close_frame lost excused stray seqs want_seqs sizes padding
  ponger_port=$([[ $who == client ]] && echo "$SERVER_PORT" || echo "$CLIENT_PORT")
  p=$(pairs "$who")
  n=$(grep -vc '^stray' <<<"$p" || true)
  check_ge "Pings from the $who" "$n" 1
  close_frame=$(tsf "tcp.port == $CLIENT_PORT && websocket.opcode == 8 && tcp.srcport == $ponger_port" frame.number | head -n 1)
  lost=$(grep -v '^stray' <<<"$p" | awk -v c="${close_frame:-999999999}" '$4 == "-" && $3 < c' | wc -l)
  excused=$(grep -v '^stray' <<<"$p" | awk -v c="${close_frame:-999999999}" '$4 == "-" && $3 > c' | wc -l)
  ((excused == 0)) || say "        ($excused $who Ping(s) crossed the other side's Close and went unanswered, as the RFC allows)"
  check_eq "each $who Ping answered by a Pong with the same payload" "$lost" 0
  stray=$(awk '$1 == "stray" { print $2 }' <<<"$p")
  check_eq "no Pong to the $who that echoes no Ping" "$stray" 0
  seqs=$(grep -v '^stray' <<<"$p" | awk '{ print $1 }' | tr '\n' ' ' | sed 's/ $//')
  want_seqs=$(seq 0 $((n - 1)) | tr '\n' ' ' | sed 's/ $//')
  check_eq "$who Ping payloads start with seq 0, 1, 2... (u64 big-endian)" "$seqs" "$want_seqs"
  sizes=$(grep -v '^stray' <<<"$p" | awk '{ print $2 }' | sort -u)
  check_eq "$who Ping payloads are $len bytes" "$sizes" "$len"
  if ((len > 16)); then
    padding=$(controls | awk -v who="$who" '$3 == who && $4 == "ping" { print substr($5, 33) }' | sort -u)
    check_eq "bytes 16.. of the payload are 'w' padding" "$padding" "$(printf '77%.0s' $(seq 17 "$len"))"
  fi
}

# check_close WHO CODE REASON: WHO's Close frame carries CODE and REASON.
check_close() {
  local who=$1 port got
  port=$([[ $who == client ]] && echo "$CLIENT_PORT" || echo "$SERVER_PORT")
  got=$(tsf "tcp.port == $CLIENT_PORT && websocket.opcode == 8 && tcp.srcport == $port" \
    websocket.payload.close.status_code websocket.payload.close.reason)
  check_eq "$who Close carries $2 \"$3\"" "$got" "$(printf '%s\t%s' "$2" "$3")"
}

check_no_frames() {
  check_eq "no WebSocket frame" "$(count "tcp.port == $CLIENT_PORT && websocket")" 0
}

# --- wss:// ----------------------------------------------------------------------

# How tshark dissects a wss:// capture with the client's key log: the TLS port's
# records are decrypted with the secrets in $KEYLOG and their contents handed to HTTP
# (the WebSocket dissector takes over after the 101), whatever the port number.
wss_dissect() {
  DISSECT=(-o "tls.keylog_file:$KEYLOG" -d "tcp.port==$TLS_PORT,tls" -d "tls.port==$TLS_PORT,http")
}

# The same without the key log, as anyone else on the path sees it. The empty file
# name also overrides one set in the user's own Wireshark preferences.
nokey_dissect() {
  DISSECT=(-o "tls.keylog_file:" -d "tcp.port==$TLS_PORT,tls" -d "tls.port==$TLS_PORT,http")
}

# The `,`-joined values of FIELD in the frames of our stream that match FILTER, in order.
fields_joined() { tsf "tcp.port == $CLIENT_PORT && $1" "$2" | paste -s -d, -; }

# check_tls SNI: the TLS handshake of our stream. Its ClientHello is in clear (SNI,
# ALPN, the client random that names the session in the key log); the rest of the
# handshake is encrypted in TLS 1.3, and readable here only thanks to the key log.
check_tls() {
  local sni=$1 hello random flight
  hello=$(tsf "tcp.port == $CLIENT_PORT && tls.handshake.type == 1" \
    tls.handshake.extensions_server_name tls.handshake.extensions_alpn_str)
  check_eq "ClientHello in clear, SNI [${sni}], ALPN http/1.1" "$hello" "$(printf '%s\t%s' "$sni" http/1.1)"
  check_eq "ServerHello selects TLS 1.3" \
    "$(fields_joined "tls.handshake.type == 2" tls.handshake.extensions.supported_version)" 0x0304
  random=$(fields_joined "tls.handshake.type == 1" tls.handshake.random | tr -d ':')
  check_eq "the key log holds this session's secrets (client random ${random:0:16}...)" \
    "$(grep -c "^CLIENT_TRAFFIC_SECRET_0 ${random:-none} " "$KEYLOG" || true)" 1
  # 2 ServerHello, 8 EncryptedExtensions, 11 Certificate, 15 CertificateVerify,
  # 20 Finished; then NewSessionTickets (4), as many as the server likes.
  flight=$(fields_joined "tcp.srcport == $TLS_PORT && tls.handshake" tls.handshake.type | sed 's/\(,4\)*$//')
  check_eq "decrypted server flight: ServerHello, EncryptedExtensions, Certificate, CertificateVerify, Finished" \
    "$flight" "2,8,11,15,20"
  flight=$(fields_joined "tcp.srcport == $CLIENT_PORT && tls.handshake" tls.handshake.type)
  check_eq "client handshake: ClientHello, then (decrypted) Finished" "$flight" "1,20"
}

# After the WebSocket close handshake, each side ends TLS with a close_notify alert.
check_close_notify() {
  local last_close alerts
  last_close=$(tsf "tcp.port == $CLIENT_PORT && websocket.opcode == 8" frame.number | tail -n 1)
  alerts=$(tsf "tcp.port == $CLIENT_PORT && tls.alert_message.desc == 0 && frame.number > ${last_close:-0}" tcp.srcport |
    awk -v c="$CLIENT_PORT" '{ print ($1 == c ? "client" : "server") }' | joined)
  check_eq "after the last Close, a TLS close_notify from each side" "$alerts" "client server"
  # The server reads the client's close_notify before it lets the socket go: were it
  # closed already, the kernel would answer those bytes with a reset.
  check_eq "the stream ends without a reset" "$(count "tcp.port == $CLIENT_PORT && tcp.flags.reset == 1")" 0
}

# The negative control: the same capture without the key log shows TLS records and
# nothing of what they carry.
check_opaque() {
  local decrypted records
  decrypted=$(count "tcp.port == $CLIENT_PORT && (http || websocket)")
  nokey_dissect
  check_eq "without the key log: no WebSocket frame" "$(count "tcp.port == $CLIENT_PORT && websocket")" 0
  check_eq "without the key log: no HTTP" "$(count "tcp.port == $CLIENT_PORT && http")" 0
  records=$(count "tcp.port == $CLIENT_PORT && tls.app_data")
  check_ge "without the key log: opaque Application Data records, at least one per decrypted frame ($decrypted), got" \
    "$records" "$((decrypted > 0 ? decrypted : 1))"
  check_eq "no 'websocket' in clear anywhere in the stream's bytes" \
    "$(count "tcp.port == $CLIENT_PORT && frame matches \"(?i)websocket\"")" 0
  wss_dissect
}

# The RTT on the wire (our Ping frame to the server's Pong frame) against the one
# `wsppclient ping` printed: the wire's is the smaller, as the program's also counts its
# own send and receive path (and, over wss://, the encryption and decryption of both).
check_rtts() {
  local slower=0 seq wire printed
  say "        seq  wire (Ping->Pong frames)  printed by wsppclient ping"
  while read -r seq _ _ _ wire; do
    printed=$(grep -Eo "seq=$seq rtt=[0-9.]+" "$CLIENT_OUT" | cut -d= -f3 || true)
    say "        $(printf '%3s  %10s ms %25s ms' "$seq" "$wire" "${printed:-?}")"
    # 0.05 ms of slack for the two clocks (the kernel's capture stamps, the program's).
    if [[ -z $printed ]] || awk -v w="$wire" -v p="$printed" 'BEGIN { exit !(w > p + 0.05) }'; then
      slower=$((slower + 1))
    fi
  done < <(pairs client | grep -v '^stray')
  check_eq "each wire RTT is at most the printed RTT" "$slower" 0
}

# --- start ------------------------------------------------------------------------

mkdir -p "$OUT"
: >"$OUT/tshark-read.log"
[[ $(uname -s) == Linux ]] || die "this script captures on Linux's loopback; see docs/wireshark.md for macOS and Windows"
ensure_tshark
say "== $(tshark --version 2>/dev/null | head -n 1)"

say "== building"
cargo build --locked -p wsppsrv -p wsppclient
[[ -x $BIN/wsppsrv && -x $BIN/wsppclient ]] || die "no binaries in $BIN after cargo build"
CLIENT=("$BIN/wsppclient")

say "== starting wsppsrv"
: >"$OUT/wsppsrv.log"
: >"$OUT/bystander.txt"
# Plain and TLS side by side, both on free ports; the wss:// cases trust the
# self-signed certificate the server writes to $CA_FILE.
CA_FILE=$OUT/wsppsrv-ca.pem
KEYLOG=$OUT/sslkeylog.txt
rm -f "$CA_FILE" "$KEYLOG"
RUST_LOG=info "$BIN/wsppsrv" --addr 127.0.0.1:0 --ping-interval 250ms --open-close-pings 3 \
  --tls-self-signed --tls-self-signed-cert "$CA_FILE" --tls-addr 127.0.0.1:0 \
  >"$OUT/wsppsrv.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for "$OUT/wsppsrv.log" 'listening addr=127\.0\.0\.1:[0-9]+' "$SERVER_PID" ||
  die "wsppsrv did not start: $(tr '\n' ' ' <"$OUT/wsppsrv.log")"
wait_for "$OUT/wsppsrv.log" 'listening \(tls\) addr=127\.0\.0\.1:[0-9]+' "$SERVER_PID" ||
  die "wsppsrv did not start its TLS listener: $(tr '\n' ' ' <"$OUT/wsppsrv.log")"
SERVER_PORT=$(grep -Eo 'listening addr=127\.0\.0\.1:[0-9]+' "$OUT/wsppsrv.log" | head -n 1 | cut -d: -f2)
TLS_PORT=$(grep -Eo 'listening \(tls\) addr=127\.0\.0\.1:[0-9]+' "$OUT/wsppsrv.log" | head -n 1 | cut -d: -f2)
[[ -s $CA_FILE ]] || die "wsppsrv wrote no certificate to $CA_FILE"
SERVER=127.0.0.1:$SERVER_PORT
DISSECT=(-d "tcp.port==$SERVER_PORT,http")
say "   wsppsrv listens on $SERVER and, with TLS, on 127.0.0.1:$TLS_PORT (pid $SERVER_PID)"
probe_capture

"${CLIENT[@]}" --server "$SERVER" hold --interval 700ms >"$OUT/bystander.txt" 2>&1 &
BYSTANDER_PID=$!
PIDS+=("$BYSTANDER_PID")
wait_for "$OUT/bystander.txt" 'upgraded to WebSocket' "$BYSTANDER_PID" ||
  die "the bystander client did not connect: $(tr '\n' ' ' <"$OUT/bystander.txt")"
BYSTANDER_PORT=$(grep -Eo 'from 127\.0\.0\.1:[0-9]+' "$OUT/bystander.txt" | head -n 1 | cut -d: -f2)
say "   bystander: a hold session from port $BYSTANDER_PORT (pid $BYSTANDER_PID)"

# --- the cases, one per menu request -------------------------------------------------

if capture page "${CLIENT[@]}" --server "$SERVER" page; then
  check_eq "GET / then GET /clients.json, both 200" "$(http_lines)" "GET / 200 GET /clients.json 200"
  check_eq "one TCP connection for both (one SYN)" \
    "$(count "tcp.port == $CLIENT_PORT && tcp.flags.syn == 1 && tcp.flags.ack == 0")" 1
  check_no_frames
fi

if capture favicon "${CLIENT[@]}" --server "$SERVER" favicon; then
  check_eq "GET /favicon.ico answered 404" "$(http_lines)" "GET /favicon.ico 404"
  check_no_frames
fi

if capture open-close "${CLIENT[@]}" --server "$SERVER" open-close; then
  check_upgrade /openandclosewebsocket
  check_eq "server pings 3 times, we pong, the server closes, we answer" "$(ws_sequence)" \
    "server:9:0 client:10:1 server:9:0 client:10:1 server:9:0 client:10:1 server:8:0 client:8:1"
  check_masks
  check_pings server 16
  check_close server 1000 "done"
  check_close client 1000 "done"
fi

if capture hold timeout -k 5 -s INT --preserve-status 2 "${CLIENT[@]}" --server "$SERVER" \
  hold --interval 300ms; then
  check_upgrade /pingpong
  check_masks
  check_pings server 16
  texts_sent=$(tsf "tcp.port == $CLIENT_PORT && websocket.opcode == 1 && tcp.srcport == $CLIENT_PORT" websocket.payload.text | tr ',' '\n')
  texts_echoed=$(tsf "tcp.port == $CLIENT_PORT && websocket.opcode == 1 && tcp.srcport == $SERVER_PORT" websocket.payload.text | tr ',' '\n')
  check_ge "masked Text frames from the client" "$(grep -c 'wspp echo seq=' <<<"$texts_sent" || true)" 1
  check_eq "each Text echoed back, same text, unmasked" "$texts_echoed" "$texts_sent"
  check_eq "the session ends with our Close and the server's" \
    "$(ws_sequence | awk '{ print $(NF - 1), $NF }')" "client:8:1 server:8:0"
  check_close client 1000 bye
  check_close server 1000 bye
fi

if capture ping "${CLIENT[@]}" --server "$SERVER" ping -c 5 -i 0.2 -s 24; then
  check_upgrade /pingpong
  check_masks
  check_pings client 24
  # /pingpong pings every client, so the server's own Pings are in this stream too.
  check_pings server 16
  check_close client 1000 ""
  check_rtts
fi

if capture no-key "${CLIENT[@]}" --server "$SERVER" no-key; then
  check_eq "upgrade request without Sec-WebSocket-Key" \
    "$(tsf "tcp.port == $CLIENT_PORT && http.request" http.upgrade http.sec_websocket_version http.sec_websocket_key)" \
    "$(printf 'websocket\t13\t')"
  check_eq "answered 400" "$(http_lines)" "GET /pingpong 400"
  check_eq "the 400 names the missing header" \
    "$(count "tcp.port == $CLIENT_PORT && http.response.code == 400 && http.file_data contains \"missing Sec-WebSocket-Key\"")" 1
  check_no_frames
fi

if capture bad-version "${CLIENT[@]}" --server "$SERVER" bad-version; then
  check_eq "upgrade request with Sec-WebSocket-Version: 8" \
    "$(tsf "tcp.port == $CLIENT_PORT && http.request" http.upgrade http.sec_websocket_version)" \
    "$(printf 'websocket\t8')"
  check_eq "answered 426" "$(http_lines)" "GET /pingpong 426"
  check_eq "the 426 carries Sec-WebSocket-Version: 13" \
    "$(tsf "tcp.port == $CLIENT_PORT && http.response" http.sec_websocket_version)" 13
  check_no_frames
fi

if capture no-upgrade "${CLIENT[@]}" --server "$SERVER" no-upgrade; then
  check_eq "GET /pingpong without Upgrade or Connection headers" \
    "$(tsf "tcp.port == $CLIENT_PORT && http.request" http.upgrade http.connection)" "$(printf '\t')"
  check_eq "answered 400" "$(http_lines)" "GET /pingpong 400"
  check_no_frames
fi

# --- wss:// (TLS) -------------------------------------------------------------------
# The same requests over TLS, on the server's TLS port, with the client's session
# secrets written to $KEYLOG (SSLKEYLOGFILE). Given the key log, tshark must show the
# same HTTP and WebSocket frames as over ws://; without it, only TLS records.

say "== wss:// on 127.0.0.1:$TLS_PORT; certificate $CA_FILE, key log $KEYLOG"
SERVER_PORT=$TLS_PORT # from here on, the capture filter and the server's end
wss_dissect
WSS=(env "SSLKEYLOGFILE=$KEYLOG" "$BIN/wsppclient" --ca "$CA_FILE")

# A bystander of its own on the TLS port, so that each capture again holds a stream
# that the printed filter must leave out. It writes no key log.
"$BIN/wsppclient" --ca "$CA_FILE" --server "wss://127.0.0.1:$TLS_PORT" hold --interval 700ms \
  >"$OUT/wss-bystander.txt" 2>&1 &
WSS_BYSTANDER_PID=$!
PIDS+=("$WSS_BYSTANDER_PID")
wait_for "$OUT/wss-bystander.txt" 'upgraded to WebSocket' "$WSS_BYSTANDER_PID" ||
  die "the wss:// bystander did not connect: $(tr '\n' ' ' <"$OUT/wss-bystander.txt")"
BYSTANDER_PORT=$(grep -Eo 'from 127\.0\.0\.1:[0-9]+' "$OUT/wss-bystander.txt" | head -n 1 | cut -d: -f2)
say "   wss:// bystander: a hold session from port $BYSTANDER_PORT (pid $WSS_BYSTANDER_PID)"

if capture wss-page "${WSS[@]}" --server "wss://localhost:$TLS_PORT" page; then
  check_tls localhost
  check_eq "decrypted: GET / then GET /clients.json, both 200" "$(http_lines)" "GET / 200 GET /clients.json 200"
  check_no_frames
  check_close_notify
  check_opaque
fi

if capture wss-open-close "${WSS[@]}" --server "wss://127.0.0.1:$TLS_PORT" open-close; then
  check_tls "" # no SNI for an IP address
  check_upgrade /openandclosewebsocket
  check_eq "decrypted: server pings 3 times, we pong, the server closes, we answer" "$(ws_sequence)" \
    "server:9:0 client:10:1 server:9:0 client:10:1 server:9:0 client:10:1 server:8:0 client:8:1"
  check_masks
  check_pings server 16
  check_close server 1000 "done"
  check_close client 1000 "done"
  check_close_notify
  check_opaque
fi

if capture wss-ping "${WSS[@]}" ping "wss://localhost:$TLS_PORT/pingpong" -c 5 -i 0.2 -s 24; then
  # The handshake gets its own line, under the header and before any RTT.
  tls_line=$(sed -n 2p "$CLIENT_OUT")
  if [[ $tls_line =~ ^tls\ handshake\ ([0-9.]+)\ ms:\ TLSv1\.3,\ .*SNI\ localhost,\ certificate\ verified ]]; then
    pass "ping prints its TLS handshake line under the header (${BASH_REMATCH[1]} ms)"
    printed_hs=${BASH_REMATCH[1]}
  else
    fail "ping's second line is not 'tls handshake N ms: TLSv1.3, ... SNI localhost, certificate verified': [$tls_line]"
    printed_hs=""
  fi
  check_eq "no RTT line before the TLS handshake line" "$(sed -n '1,2p' "$CLIENT_OUT" | grep -c 'rtt=' || true)" 0
  check_tls localhost
  # On the wire, the handshake takes at least from the ClientHello to the server's
  # Finished; the printed time also counts the client's Finished and its own work.
  wire_hs=$(tsf "tcp.port == $CLIENT_PORT && (tls.handshake.type == 1 || (tcp.srcport == $TLS_PORT && tls.handshake.type == 20))" \
    frame.time_relative | awk 'NR == 1 { t = $1 } END { printf "%.3f", ($1 - t) * 1000 }')
  if [[ -n $printed_hs ]] && awk -v w="$wire_hs" -v p="$printed_hs" 'BEGIN { exit !(w <= p + 0.05) }'; then
    pass "TLS handshake on the wire (ClientHello to server Finished, $wire_hs ms) within the printed $printed_hs ms"
  else
    fail "TLS handshake on the wire ($wire_hs ms) longer than the printed [$printed_hs] ms"
  fi
  check_upgrade /pingpong
  check_masks
  check_pings client 24
  check_pings server 16
  check_close client 1000 ""
  check_close_notify
  check_rtts
  check_opaque
fi

CASE=wss
check_eq "the key log is readable by its owner only" "$(stat -c %a "$KEYLOG" 2>/dev/null || echo missing)" 600
CASE=wss-bystander
if alive "$WSS_BYSTANDER_PID"; then
  pass "the wss:// bystander's session lasted through every wss:// case"
else
  fail "the wss:// bystander's session ended early: $(tail -n 3 "$OUT/wss-bystander.txt" | tr '\n' ' ')"
fi
WSS_BYSTANDER_RC=0
stop "$WSS_BYSTANDER_PID" INT || WSS_BYSTANDER_RC=$?
check_eq "the wss:// bystander stops on Ctrl-C with exit status 0" "$WSS_BYSTANDER_RC" 0

CASE=bystander
if alive "$BYSTANDER_PID"; then
  pass "the bystander's session lasted through every case"
else
  fail "the bystander's session ended early: $(tail -n 3 "$OUT/bystander.txt" | tr '\n' ' ')"
fi
BYSTANDER_RC=0
stop "$BYSTANDER_PID" INT || BYSTANDER_RC=$?
check_eq "the bystander stops on Ctrl-C with exit status 0" "$BYSTANDER_RC" 0

if [[ -s $OUT/tshark-read.log ]] && grep -qv 'Running as user' "$OUT/tshark-read.log"; then
  say "tshark said, while reading captures:"
  grep -v 'Running as user' "$OUT/tshark-read.log" | sort -u | sed 's/^/    /'
fi
say "== captures, transcripts and logs: $OUT/"
summary
((FAILED == 0))
