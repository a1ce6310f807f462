#!/usr/bin/env bash
# The screenshots of docs/wireshark.md, made with Wireshark itself: wsppsrv and
# wsppclient talk over loopback while tshark captures, then the Wireshark GUI opens
# the capture under Xvfb, once per picture, with a display filter and a selected
# packet, and ImageMagick's `import` takes the screen.
#
# Usage: scripts/wireshark-screenshots.sh [all|ws|wss]   (as root on Debian; not in CI)
#
#   ws   the plain ws:// tour: img/{upgrade-request,upgrade-response,wireshark,ping,
#        pong,close,rtt,bad-version}.png and docs/wireshark-tour.pcapng
#   wss  a ping over wss:// with SSLKEYLOGFILE, decrypted by Wireshark with the key
#        log (-o tls.keylog_file:FILE): img/wss-decrypted.png, and the capture and
#        its key log as docs/wireshark-wss.pcapng and docs/wireshark-wss.keys
#   all  both (the default)
#
# Installs what it lacks (tshark, wireshark, xvfb, imagemagick, xdotool), writes
# img/*.png and docs/wireshark-tour.pcapng (the capture they show, which the tour
# quotes: after a new run, update the port and frame numbers quoted in
# docs/wireshark.md), and keeps every request's transcript, Wireshark's settings
# and the logs in target/screenshots/ (or $SCREENSHOT_DIR). wsppsrv listens on
# 127.0.0.1:8080 as in the tour (or $SCREENSHOT_PORT), and with TLS on 127.0.0.1:8443
# (or $SCREENSHOT_TLS_PORT). Everything it starts is stopped by PID.
#
# Wireshark has no option to open a packet's details expanded, so xdotool clicks in
# the details pane and presses End (the top protocol) and Shift+Right (Expand
# Subtrees), as a user would.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${SCREENSHOT_DIR:-target/screenshots}
IMG=img
PORT=${SCREENSHOT_PORT:-8080}
TLS_PORT=${SCREENSHOT_TLS_PORT:-8443}
WHAT=${1:-all}
BIN=${CARGO_TARGET_DIR:-target}/debug
WIDTH=1280
HEIGHT=860
PIDS=()

say() { printf '%s\n' "$*"; }
case $WHAT in
  all | ws | wss) ;;
  *)
    say "usage: $0 [all|ws|wss]" >&2
    exit 2
    ;;
esac
# want ws|wss: whether this run makes that part.
want() { [[ $WHAT == all || $WHAT == "$1" ]]; }
die() {
  say "wireshark-screenshots: $*" >&2
  exit 1
}

alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

# stop PID SIGNAL: signal, wait (bounded), SIGKILL if need be, reap.
stop() {
  local pid=$1 i
  if alive "$pid"; then
    kill -s "$2" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    alive "$pid" && kill -s KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    stop "$pid" TERM
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS COMMAND...: polls COMMAND every tenth of a second.
wait_until() {
  local tenths=$(($1 * 10)) i
  shift
  for ((i = 0; i < tenths; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# --- tools --------------------------------------------------------------------------

missing=()
for pair in tshark:tshark wireshark:wireshark Xvfb:xvfb import:imagemagick xdotool:xdotool; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  say "== installing ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or run as root"
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 1800 apt-get install -y -qq "${missing[@]}" >/dev/null
fi
say "== $(wireshark --version 2>/dev/null | head -n 1)"

say "== building"
cargo build --locked -p wsppsrv -p wsppclient
mkdir -p "$OUT" "$IMG"

# --- the capture --------------------------------------------------------------------

say "== starting wsppsrv on 127.0.0.1:$PORT, and with TLS on 127.0.0.1:$TLS_PORT"
: >"$OUT/wsppsrv.log"
CA=$OUT/wsppsrv-ca.pem
rm -f "$CA"
RUST_LOG=info "$BIN/wsppsrv" --addr "127.0.0.1:$PORT" \
  --tls-self-signed --tls-self-signed-cert "$CA" --tls-addr "127.0.0.1:$TLS_PORT" \
  >"$OUT/wsppsrv.log" 2>&1 &
PIDS+=($!)
wait_until 10 grep -q 'listening (tls)' "$OUT/wsppsrv.log" ||
  die "wsppsrv did not start on ports $PORT and $TLS_PORT (busy? set SCREENSHOT_PORT and SCREENSHOT_TLS_PORT): $(cat "$OUT/wsppsrv.log")"

PCAP=$OUT/tour.pcapng
REQUESTS=(page favicon open-close hold ping no-key bad-version no-upgrade)
declare -A PORT_OF

# client NAME ARGS...: runs wsppclient, keeps its output in $OUT/NAME.txt and notes
# the port of its 'wireshark filter: tcp.port == N' line.
client() {
  local name=$1
  shift
  "$@" >"$OUT/$name.txt"
  PORT_OF[$name]=$(grep -Eo 'tcp\.port == [0-9]+' "$OUT/$name.txt" | tail -n 1 | awk '{ print $3 }')
  [[ -n ${PORT_OF[$name]} ]] || die "$name printed no filter: $(cat "$OUT/$name.txt")"
}

# One capture with every request of the menu, in menu order, as the tour runs them.
capture_tour() {
  local wc=("$BIN/wsppclient" --server "127.0.0.1:$PORT")
  capture_on "$PORT" "$PCAP"
  client page "${wc[@]}" page
  client favicon "${wc[@]}" favicon
  client open-close "${wc[@]}" open-close
  client hold timeout -k 5 -s INT --preserve-status 2.5 "${wc[@]}" hold
  client ping "${wc[@]}" ping -c 3 -i 0.2 -s 24
  client no-key "${wc[@]}" no-key
  client bad-version "${wc[@]}" bad-version
  client no-upgrade "${wc[@]}" no-upgrade
  sleep 0.6
  stop "$TSHARK_PID" INT
}

# capture_on TCP_PORT FILE: starts tshark on the server's end of TCP_PORT, into FILE;
# sets TSHARK_PID once it captures. `tcp port N`, as the tour says, but only where the
# server's end is 127.0.0.1:N: on a busy machine other connections may use N as an
# ephemeral port.
capture_on() {
  rm -f "$2"
  : >"$2.log"
  tshark -i lo -f "tcp and ((src host 127.0.0.1 and src port $1) or (dst host 127.0.0.1 and dst port $1))" \
    -w "$2" >"$2.log" 2>&1 &
  TSHARK_PID=$!
  PIDS+=("$TSHARK_PID")
  wait_until 15 test -s "$2" || die "tshark cannot capture on lo: $(cat "$2.log")"
}

# Linux may give a later connection the local port of an earlier one, and then
# `tcp.port == N` shows two streams: capture again (the pictures show one).
want ws && for attempt in 1 2 3; do
  say "== capturing on lo, tcp port $PORT (attempt $attempt)"
  capture_tour
  reused=0
  for name in "${REQUESTS[@]}"; do
    streams=$(tshark -r "$PCAP" -Y "tcp.port == ${PORT_OF[$name]}" -T fields -e tcp.stream 2>/dev/null | sort -u | wc -l)
    say "   $name: tcp.port == ${PORT_OF[$name]} (TCP streams: $streams)"
    ((streams == 1)) || reused=1
  done
  ((reused)) || break
  ((attempt < 3)) || die "local ports were reused in every attempt"
done

# first_frame FILTER [TSHARK OPTION...]: the number of the first frame of $PCAP
# matching FILTER.
first_frame() {
  local n filter=$1
  shift
  n=$(tshark -r "$PCAP" -d "tcp.port==$PORT,http" "$@" -Y "$filter" -T fields -e frame.number 2>/dev/null | head -n 1)
  [[ -n $n ]] || die "no frame matches: $filter"
  echo "$n"
}
if want ws; then
  # The tour quotes this capture; readers can open it without running anything.
  cp "$PCAP" docs/wireshark-tour.pcapng
  chmod 644 docs/wireshark-tour.pcapng
  OC=${PORT_OF[open-close]}
  PING=${PORT_OF[ping]}
  BV=${PORT_OF[bad-version]}
  GET=$(first_frame "tcp.port == $OC && http.request")
  UPGRADED=$(first_frame "tcp.port == $OC && http.response.code == 101")
  SERVER_PING=$(first_frame "tcp.port == $OC && websocket.opcode == 9")
  CLOSE=$(first_frame "tcp.port == $OC && websocket.opcode == 8 && tcp.srcport == $PORT")
  CLIENT_PING=$(first_frame "tcp.port == $PING && websocket.opcode == 9 && websocket.mask == 1")
  PONG=$(first_frame "tcp.port == $PING && websocket.opcode == 10 && websocket.mask == 0 && frame.number > $CLIENT_PING")
  REFUSED=$(first_frame "tcp.port == $BV && http.response.code == 426")
fi

# --- the wss:// capture ---------------------------------------------------------------

# A ping over wss:// with the client's TLS secrets in a key log, as docs/wireshark.md
# (section 6) tells the reader to do.
if want wss; then
  WSS_PCAP=$OUT/wss.pcapng
  KEYS=$OUT/wss.keys
  say "== capturing on lo, tcp port $TLS_PORT (wss://)"
  rm -f "$KEYS"
  capture_on "$TLS_PORT" "$WSS_PCAP"
  SSLKEYLOGFILE=$KEYS "$BIN/wsppclient" --ca "$CA" ping "wss://localhost:$TLS_PORT/pingpong" -c 3 -i 0.2 \
    >"$OUT/wss-ping.txt"
  sleep 0.6
  stop "$TSHARK_PID" INT
  WSS=$(grep -Eo 'tcp\.port == [0-9]+' "$OUT/wss-ping.txt" | tail -n 1 | awk '{ print $3 }')
  [[ -n $WSS ]] || die "the wss:// ping printed no filter: $(cat "$OUT/wss-ping.txt")"
  say "   wss-ping: tcp.port == $WSS"
  cp "$WSS_PCAP" docs/wireshark-wss.pcapng
  cp "$KEYS" docs/wireshark-wss.keys
  chmod 644 docs/wireshark-wss.pcapng docs/wireshark-wss.keys
  WSS_KEYS=(-o "tls.keylog_file:$KEYS")
  WSS_PING=$(PCAP=$WSS_PCAP first_frame "tcp.port == $WSS && websocket.opcode == 9 && websocket.mask == 1" "${WSS_KEYS[@]}")
  WSS_PONG=$(PCAP=$WSS_PCAP first_frame "tcp.port == $WSS && websocket.opcode == 10 && websocket.mask == 0 && frame.number > $WSS_PING" "${WSS_KEYS[@]}")
fi

# --- Wireshark under Xvfb ------------------------------------------------------------

# Settings of our own, so that the user's do not change the pictures: ports instead
# of the (always 127.0.0.1) addresses, no bytes pane, a fixed window.
CONFIG=$OUT/wireshark-config
rm -rf "$CONFIG"
mkdir -p "$CONFIG"
cat >"$CONFIG/preferences" <<'EOF'
gui.column.format: "No.", "%m", "Time", "%t", "Src port", "%uS", "Dst port", "%uD", "Protocol", "%p", "Length", "%L", "Info", "%i"
gui.update.enabled: FALSE
gui.layout_content_3: NONE
EOF
cat >"$CONFIG/recent_common" <<EOF
gui.geometry_main_x: 0
gui.geometry_main_y: 0
gui.geometry_main_width: $WIDTH
gui.geometry_main_height: $HEIGHT
gui.geometry_main_maximized: FALSE
privs.warn_if_elevated: FALSE
EOF
cat >"$CONFIG/recent" <<'EOF'
gui.byte_view_show: FALSE
gui.packet_diagram_show: FALSE
EOF
export WIRESHARK_CONFIG_DIR=$CONFIG XDG_RUNTIME_DIR=$OUT/xdg-runtime
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

# A display nobody uses.
for ((d = 99; d < 140; d++)); do
  [[ -e /tmp/.X$d-lock || -e /tmp/.X11-unix/X$d ]] || break
done
export DISPLAY=:$d
Xvfb "$DISPLAY" -screen 0 "${WIDTH}x${HEIGHT}x24" -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
PIDS+=($!)
wait_until 10 xdotool getmouselocation >/dev/null 2>&1 || die "Xvfb did not start: $(cat "$OUT/xvfb.log")"

# shot NAME FILTER FRAME [WIRESHARK OPTION...]: img/NAME.png of Wireshark showing
# FILTER's packets of $PCAP, FRAME selected and its top protocol expanded; with UP=N,
# the protocol N places above the top one (e.g. HTTP under its text body); with
# ALSO_UP=N, that and the protocol N places above it.
shot() {
  local name=$1 filter=$2 frame=$3 pid window i
  shift 3
  say "== img/$name.png: -Y '$filter' -g $frame $*"
  wireshark -r "$PCAP" -d "tcp.port==$PORT,http" -Y "$filter" -g "$frame" "$@" \
    >"$OUT/wireshark-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  window_of() { window=$(xdotool search --onlyvisible --name "$(basename "$PCAP")" 2>/dev/null | head -n 1) && [[ -n $window ]]; }
  wait_until 60 window_of || die "Wireshark did not open a window: $(cat "$OUT/wireshark-$name.log")"
  xdotool windowmove --sync "$window" 0 0 windowsize --sync "$window" "$WIDTH" "$HEIGHT"
  sleep 3 # the file loads, the filter applies, the packet gets selected
  # An empty spot low in the details pane takes the focus without selecting anything.
  xdotool mousemove --sync $((WIDTH / 2)) $((HEIGHT - 60)) click 1
  sleep 0.3
  xdotool key End
  for ((i = 0; i < ${UP:-0}; i++)); do
    xdotool key Up
  done
  sleep 0.3
  xdotool key shift+Right
  # With ALSO_UP=N, the protocol N places above is expanded too (the TLS record
  # that carried a decrypted frame).
  if ((${ALSO_UP:-0})); then
    for ((i = 0; i < ALSO_UP; i++)); do
      xdotool key Up
    done
    sleep 0.3
    xdotool key shift+Right
  fi
  xdotool mousemove --sync $((WIDTH - 1)) $((HEIGHT - 1)) # no hover highlight
  sleep 1
  # 256 colours are plenty for a Wireshark window, and halve the file.
  import -window root -colors 256 "PNG8:$IMG/$name.png"
  stop "$pid" TERM
}

if want ws; then
  shot upgrade-request "tcp.port == $OC" "$GET"
  shot upgrade-response "tcp.port == $OC" "$UPGRADED"
  shot wireshark "tcp.port == $OC" "$SERVER_PING"
  shot ping "tcp.port == $PING && websocket" "$CLIENT_PING"
  shot pong "tcp.port == $PING && websocket" "$PONG"
  shot close "tcp.port == $OC" "$CLOSE"
  shot rtt "tcp.port == $PING && ((websocket.opcode == 9 && websocket.mask == 1) || (websocket.opcode == 10 && websocket.mask == 0))" "$PONG" \
    -o 'gui.column.format:"No.","%m","Time","%t","Delta displayed","%Gt","Src port","%uS","Dst port","%uD","Protocol","%p","Length","%L","Info","%i"'
  UP=1 shot bad-version "tcp.port == $BV" "$REFUSED"
  say "== done: $IMG/{upgrade-request,upgrade-response,wireshark,ping,pong,close,rtt,bad-version}.png"
fi

if want wss; then
  # Every TLS record of the session (no bare ACKs), decrypted with the key log: the
  # handshake, the upgrade, and the Pings and Pongs as WebSocket; our Ping's Pong
  # selected, its WebSocket layer expanded, and the TLS record that carried it.
  PCAP=$WSS_PCAP ALSO_UP=1 shot wss-decrypted "tcp.port == $WSS && tls" "$WSS_PONG" "${WSS_KEYS[@]}"
  say "== done: $IMG/wss-decrypted.png"
fi
