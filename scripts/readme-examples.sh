#!/usr/bin/env bash
# Regenerates every example output in README.md from real runs, so that they cannot
# drift from what the programs print.
#
#   scripts/readme-examples.sh           rewrite the examples from runs of the debug
#                                        build (the one `cargo test` builds)
#   scripts/readme-examples.sh --release the same with the release build (minutes
#                                        the first time: whole-program optimisation)
#   scripts/readme-examples.sh --check   regenerate them in memory and fail if one no
#                                        longer has the shape of the README's: the
#                                        same lines, the same words; numbers, keys,
#                                        dates and the order of lines may differ
#
# An example is a fenced block right after a marker line:
#
#   <!-- example: wsppclient open-close -->
#   <!-- example exit=2: wsppclient --server 127.0.0.1:1 ping -c 1 -->
#   <!-- example log until="rtt seq=0": wsppclient hold -->
#   <!-- example local: wsppclient ping -c 3 -i 0.2 -->
#   <!-- example local: cargo run -q -p wsppclient -- ping -c 3 -i 0.2 -->
#
# `cargo run -q -p PROGRAM -- ARGS`, as a reader who has not installed the programs
# types it, runs the binary this script built with ARGS: what cargo would run, and
# with -q it prints nothing of its own.
# Each example gets a fresh wsppsrv on a free loopback port (a first client is
# client_id=1, as in a fresh run) and the command runs with WSPP_SERVER pointing at
# it (and 127.0.0.1:8080 in a URL of the command replaced by its address); its stdout and stderr, interleaved as they happened, follow a `$ COMMAND` line.
# Options: `exit=N` the status the command must end with (default 0); `until="TEXT"`
# Ctrl-C (SIGINT) the command once TEXT appears in its output or in the server's log,
# `signal=TERM` with SIGTERM instead;
# `log` shows the server's log lines of the run instead of the command's output;
# `local` runs the command with no server named and none listening, so that it starts
# its own; `interop` runs it against the Python `websockets` server of
# scripts/interop/server.py instead of wsppsrv, `{ws}`, `{nonhttp}` and `{hangup}` in
# the command standing for the ports that server bound (its venv is made by
# scripts/interop-test.sh, which scripts/test.sh runs first).
#
# Normalised, because it must be: the server's port becomes the default 8080 the
# examples show (every other figure, port and time is the run's own); the server's log
# lines lose their leading timestamp.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
profile=debug
for arg in "$@"; do
    case "$arg" in
        --check) mode=check ;;
        --release) profile=release ;;
        *) echo "usage: $0 [--check] [--release]" >&2; exit 2 ;;
    esac
done

if [[ $profile == release ]]; then
    cargo build --locked --quiet --release -p wsppsrv -p wsppclient
else
    cargo build --locked --quiet -p wsppsrv -p wsppclient
fi
bin="${CARGO_TARGET_DIR:-$PWD/target}/$profile"

exec python3 - "$mode" "$bin" README.md <<'PY'
import atexit
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MODE, BIN, README = sys.argv[1:4]
PATIENCE = 30.0  # seconds any one wait may take
MARKER = re.compile(r"^<!-- example(?P<opts>[^:]*): (?P<cmd>.+?) -->$")
PROGRAMS = ("wsppclient", "wsppsrv")
TMP = tempfile.mkdtemp(prefix="readme-examples-")
STARTED = []  # every process started here, stopped by PID on the way out


@atexit.register
def cleanup():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(TMP, ignore_errors=True)


def fail(message):
    print(f"readme-examples: {message}", file=sys.stderr)
    sys.exit(1)


def environment(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSPP_")}
    env.pop("RUST_LOG", None)
    env.pop("SSLKEYLOGFILE", None)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def wait_for(what, found, proc=None):
    """Polls `found()` until it returns something, within PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            fail(f"{what}: the process ended first (status {proc.returncode})")
        time.sleep(0.02)
    fail(f"{what}: not within {PATIENCE:.0f} s")


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class InteropServer:
    """The Python `websockets` server of scripts/interop/server.py, from the venv
    scripts/interop-test.sh makes: someone else's server, on ports of its choosing."""

    PYTHON = os.path.join(".cache", "interop", "venv", "bin", "python")

    def __init__(self):
        probe = subprocess.run([self.PYTHON, "-c", "import websockets"], capture_output=True) \
            if os.path.exists(self.PYTHON) else None
        if probe is None or probe.returncode != 0:
            fail("the interop examples need .cache/interop/venv: run scripts/interop-test.sh once")
        self.out = os.path.join(TMP, "interop.out")
        self.proc = subprocess.Popen(
            [self.PYTHON, os.path.join("scripts", "interop", "server.py")],
            stdin=subprocess.DEVNULL,
            stdout=open(self.out, "w"),
            stderr=subprocess.DEVNULL,
        )
        STARTED.append(self.proc)
        found = lambda: re.search(r"^ports (.*)$", read(self.out), re.M)
        ports = wait_for("the interop server to listen", found, self.proc).group(1)
        self.ports = dict(word.split("=", 1) for word in ports.split())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=PATIENCE)


class Server:
    """A wsppsrv of its own on a free port, its log in a file."""

    def __init__(self, n):
        self.log = os.path.join(TMP, f"server-{n}.log")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "wsppsrv"), "--addr", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),
            env=environment(RUST_LOG="info"),
        )
        STARTED.append(self.proc)
        found = lambda: re.search(r"listening addr=127\.0\.0\.1:(\d+)", read(self.log))
        self.port = int(wait_for("wsppsrv to listen", found, self.proc).group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("wsppsrv did not stop on SIGTERM")

    def connection_lines(self):
        # `2026-11-30T00:00:00.123456Z  INFO conn{...}: ...` -> `INFO conn{...}: ...`
        return [
            re.sub(r"^\S+\s+", "", line)
            for line in read(self.log).splitlines()
            if "conn{" in line
        ]


def program(argv):
    """`cargo run -q -p PROGRAM [-- ARGS]` as `PROGRAM ARGS`; anything else as it is."""
    if argv[:4] == ["cargo", "run", "-q", "-p"] and len(argv) >= 5 and argv[5:6] in ([], ["--"]):
        return argv[4:5] + argv[6:]
    return argv


def run(n, opts, cmd):
    argv = program(shlex.split(cmd))
    if not argv or argv[0] not in PROGRAMS:
        fail(f"{cmd!r}: an example runs wsppclient or wsppsrv, or `cargo run -q -p` one of them")
    local = "local" in opts
    if "interop" in opts:
        # `{ws}`, `{nonhttp}`, `{hangup}` in the command: the ports it bound, shown as is.
        interop = InteropServer()
        cmd = cmd.format(**interop.ports)
        argv = program(shlex.split(cmd))
        local = True
    else:
        interop = None
    server = None if local else Server(n)
    if server is not None:
        # A URL in the command names the default address; the run's server is elsewhere.
        argv = [a.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}") for a in argv]
    if local:
        env = environment(WSPP_DEFAULT_SERVER="127.0.0.1:0")
    else:
        env = environment(WSPP_SERVER=f"127.0.0.1:{server.port}")
    out_path = os.path.join(TMP, f"out-{n}.txt")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [os.path.join(BIN, argv[0])] + argv[1:],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        STARTED.append(proc)
        try:
            until = opts.get("until")
            if until:
                seen = lambda: until in read(out_path) or (
                    server is not None and until in read(server.log)
                )
                wait_for(f"{cmd!r} to show {until!r}", seen, proc)
                proc.send_signal(getattr(signal, "SIG" + opts.get("signal", "INT")))
            proc.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail(f"{cmd!r} did not end within {PATIENCE:.0f} s")
    output = read(out_path)
    for started in (server, interop):
        if started is not None:
            started.stop()
    want = int(opts.get("exit", 0))
    if proc.returncode != want:
        fail(f"{cmd!r} ended with status {proc.returncode}, not {want}:\n{output}")
    if "log" in opts:
        text = "\n".join(server.connection_lines()) + "\n"
    else:
        text = f"$ {cmd}\n{output}"
    if server is not None:
        text = text.replace(f"127.0.0.1:{server.port}", "127.0.0.1:8080")
    elif interop is None:
        # The server this run started, on the port the test default gave it.
        m = re.search(r"no server on 127\.0\.0\.1:0: started one on 127\.0\.0\.1:(\d+) in", text)
        if not m:
            fail(f"{cmd!r} (local) started no server:\n{output}")
        text = text.replace(m.group(0), "no server on 127.0.0.1:8080: started one in")
        text = text.replace(f"127.0.0.1:{m.group(1)}", "127.0.0.1:8080")
    return text


def options(raw):
    opts = {}
    for word in shlex.split(raw):
        key, _, value = word.partition("=")
        if key not in ("exit", "until", "signal", "log", "local", "interop"):
            fail(f"unknown example option {key!r}")
        opts[key] = value
    return opts


def shape(text):
    """What must not change between runs: the kinds of lines and their words. Not the
    numbers, random keys, dates, hex dumps of timestamped payloads, or the padding
    that aligns numbers; nor how many times a line of one shape comes, nor the order
    of lines, which race where two ends write at once (the server's first Ping may
    arrive in the same read as its 101, or once more before a close); nor which
    replies happened to be timed on the user clock because the kernel's stamp was
    missing for them (ping says so per reply and in its summary)."""
    lines = set()
    for line in text.splitlines():
        line = re.sub(r" \(user clock\)", "", line)
        line = re.sub(r"; \d+ repl(?:y|ies) without a kernel stamp timed on the user clock", "", line)
        line = re.sub(r"(?i)^(\s*(?:sec-websocket-key|sec-websocket-accept|date):).*", r"\1 X", line)
        line = re.sub(r"^\s*[0-9a-f]{4}  (?:[0-9a-f]{2} {1,2})+.*", "HEX", line)
        line = re.sub(r"[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?", "N", line)
        lines.add(" ".join(line.split()))
    return sorted(lines)


def main():
    lines = read(README).splitlines(keepends=True)
    out, changed, checked, mismatched = [], 0, 0, []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        m = MARKER.match(line.rstrip("\n"))
        if not m:
            continue
        if i >= len(lines) or not lines[i].startswith("```"):
            fail(f"line {i}: an example marker must be followed by a fenced block")
        out.append(lines[i])
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            fail(f"line {i + 1}: the example's block never closes")
        old = "".join(lines[i + 1:end])
        cmd = m.group("cmd")
        new = run(checked, options(m.group("opts")), cmd)
        checked += 1
        print(f"  {cmd}", file=sys.stderr)
        if shape(old) != shape(new):
            mismatched.append((cmd, old, new))
        if new != old:
            changed += 1
        out.append(new)
        i = end
    if checked == 0:
        fail("README.md has no example markers")
    if MODE == "check":
        for cmd, old, new in mismatched:
            print(f"readme-examples: {cmd!r} no longer prints what README.md shows:",
                  file=sys.stderr)
            print("--- README.md\n" + old + "--- now\n" + new, file=sys.stderr)
        if mismatched:
            fail(f"{len(mismatched)} of {checked} examples changed shape: "
                 "run scripts/readme-examples.sh to regenerate them")
        print(f"readme-examples: {checked} examples have the shape README.md shows")
        return
    with open(README, "w", encoding="utf-8") as f:
        f.write("".join(out))
    print(f"readme-examples: {checked} examples run, {changed} rewritten")


main()
PY
