#!/usr/bin/env bash
# A path that goes silent under `wsppclient load`: wsppsrv runs in a network namespace
# made here, joined to this one by a veth pair with a private /30 (10.213.x.0/30); the
# load runs outside against it. While the connections are held, an nftables rule in
# the namespace drops every packet the server sends, for SILENT_S seconds; then it is
# removed. Checked:
#   - the run ends on its own within its bound (nothing hangs) and prints its summary;
#   - probes sent into the silence count as lost after -W;
#   - afterwards every connection either answers again or is counted dropped: the
#     connections still open some seconds after the rule went plus those dropped are
#     all of them, and those open are answered again.
#
# Needs root, network namespaces and nftables (Debian's nftables package, installed if
# missing). Where any of these is not allowed, it says so in one line and exits 0.
# Everything made here (namespace, veth pair, processes by PID, the work folder) is
# removed on exit, however the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CONNECTIONS=20
readonly SILENT_S=4
readonly HOLD_S=20
# Seconds after the rule goes for TCP's retransmission timer (backed off to ~3 s by
# then) to bring the path back, and for -W to settle what was sent before.
readonly RECOVER_S=7

say() { echo "silent-path-test: $*"; }
skip() {
    say "skipped: $*"
    exit 0
}
die() {
    echo "silent-path-test: FAIL: $*" >&2
    exit 1
}

[[ $(uname -s) == Linux ]] || skip "network namespaces are Linux's"
[[ $(id -u) == 0 ]] || skip "making a network namespace needs root"
command -v ip >/dev/null || skip "no ip command (iproute2)"

# shellcheck source=scripts/children.sh
source scripts/children.sh
# shellcheck source=scripts/packages.sh
source scripts/packages.sh

# Short names: an interface name has at most 15 characters.
ns=wspp-silent-$$
host_if=wsps$$h
ns_if=wsps$$n
net=10.213.$((RANDOM % 250))
host_ip=$net.1
server_ip=$net.2
made_ns=
work=$(mktemp -d)

# shellcheck disable=SC2317 # called by the EXIT trap
clean_up() {
    stop_children
    # Deleting the namespace deletes its end of the pair, and so the pair; the host
    # end is deleted too in case the namespace was never reached.
    # Under `set -e` a failing command here would become the script's exit status:
    # the host end is usually gone with the namespace already.
    if [[ -n $made_ns ]]; then ip netns del "$ns" 2>/dev/null || true; fi
    ip link del "$host_if" 2>/dev/null || true
    rm -rf "$work"
}
trap clean_up EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(ip -4 -o addr show) == *"inet $net."* ]] && skip "$net.0/24 is already in use here"
ip netns add "$ns" 2>"$work/netns.err" || skip "cannot make a network namespace: $(head -n 1 "$work/netns.err")"
made_ns=1
ip link add "$host_if" type veth peer name "$ns_if" 2>"$work/veth.err" ||
    skip "cannot make a veth pair: $(head -n 1 "$work/veth.err")"
ip link set "$ns_if" netns "$ns"
ip addr add "$host_ip/30" dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add "$server_ip/30" dev "$ns_if"
ip -n "$ns" link set "$ns_if" up
ip -n "$ns" link set lo up

if ! command -v nft >/dev/null; then
    (ensure_package nft nftables) || skip "nftables is missing and could not be installed"
fi
ip netns exec "$ns" nft list tables >/dev/null 2>"$work/nft.err" ||
    skip "nft cannot run in the namespace: $(head -n 1 "$work/nft.err")"

build_binaries || die "the build failed"

# The namespace is the server's alone: its fixed port is free there.
port=8080
RUST_LOG=info NO_COLOR=1 ip netns exec "$ns" "$bin/wsppsrv" --addr "$server_ip:$port" \
    2>"$work/wsppsrv.log" &
server=$!
pids+=("$server")
for ((i = 0; i < 300; i++)); do
    grep -qs 'listening addr=' "$work/wsppsrv.log" && break
    alive "$server" || die "wsppsrv exited: $(cat "$work/wsppsrv.log")"
    sleep 0.1
done
((i < 300)) || die "wsppsrv did not listen within 30 s"
say "wsppsrv (pid $server) on $server_ip:$port in namespace $ns"

# The hard deadline bounds the run whatever the path does; timeout bounds the process.
timeout 120 "$bin/wsppclient" --server "$server_ip:$port" --no-local-server load \
    --connections "$CONNECTIONS" -i 0.2 -W 1 --duration "$HOLD_S" -w $((HOLD_S + 40)) --ndjson \
    >"$work/load.ndjson" 2>"$work/load.err" &
load=$!
pids+=("$load")

seconds() { grep -c '"record":"second"' "$work/load.ndjson" 2>/dev/null || true; }
for ((i = 0; i < 300; i++)); do
    grep -s '"record":"second"' "$work/load.ndjson" | grep -q "\"connections\":$CONNECTIONS[,}]" && break
    alive "$load" || die "the load ended before its connections were open: $(cat "$work/load.err")"
    sleep 0.1
done
((i < 300)) || die "the $CONNECTIONS connections did not open within 30 s: $(cat "$work/load.err")"
sleep 2

ip netns exec "$ns" nft -f - <<EOF
table inet wspp_silent {
    chain out {
        type filter hook output priority 0; policy accept;
        tcp sport $port drop
    }
}
EOF
silent_from=$(seconds)
say "the server's packets dropped from second $silent_from for $SILENT_S s"
sleep "$SILENT_S"
ip netns exec "$ns" nft delete table inet wspp_silent
back_at=$(seconds)
say "the rule removed at second $back_at"

for ((i = 0; i < (HOLD_S + 60) * 10; i++)); do
    alive "$load" || break
    sleep 0.1
done
alive "$load" && die "the load run did not end within $((HOLD_S + 60)) s of its start"
status=0
wait "$load" || status=$?
((status == 0 || status == 1)) || die "the load run ended with $status (124: it hung): $(cat "$work/load.err")"

summary=$(grep '"record":"summary"' "$work/load.ndjson" || true)
[[ -n $summary ]] || die "no summary: $(tail -n 3 "$work/load.err")"
say "the run ended ($status) with its summary"

python3 - "$work/load.ndjson" "$CONNECTIONS" "$silent_from" "$back_at" "$RECOVER_S" <<'PY' || exit 1
import json, sys

path, n, silent_from, back_at, recover = sys.argv[1], *map(int, sys.argv[2:])
records = [json.loads(line) for line in open(path) if line.startswith("{")]
seconds = [r for r in records if r["record"] == "second"]
summary = records[-1]
fail = lambda why: sys.exit(f"silent-path-test: FAIL: {why}")

if summary["record"] != "summary":
    fail("the last record is not the summary")
if summary["connections_opened"] != n:
    fail(f"{summary['connections_opened']} of {n} connections opened")
lost_in_silence = sum(r["lost"] for r in seconds[silent_from:])
if summary["lost"] == 0 or lost_in_silence == 0:
    fail(f"no probe counted lost while the path was silent ({summary['lost']} lost in all)")
print(f"silent-path-test: {summary['sent']} probes sent, {summary['received']} answered, "
      f"{summary['lost']} lost (after -W 1)")

# Well after the path came back, before the hold ended: what is open answers again.
after = [r for r in seconds[back_at + recover:] if r["sent"] > 0]
if not after:
    fail(f"the run held no second {recover} s after the path came back")
probe = after[0]
dropped = summary["connections_dropped"]
open_then = probe["connections"]
print(f"silent-path-test: {recover} s after the path came back: {open_then} connections open "
      f"({probe['received']} answers that second), {dropped} counted dropped")
if open_then + dropped != n:
    fail(f"{open_then} open and {dropped} dropped are not the {n} connections")
if open_then > 0 and probe["received"] == 0:
    fail("the connections still open are not answered again")
PY
say "ok"
