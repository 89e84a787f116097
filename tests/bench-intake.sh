#!/usr/bin/env bash
# Benchmark: webhook intake. `keyroll serve` (release build, every delivery stored durably in
# a fresh SQLite file) against the Node.js receiver a GitHub App author would otherwise run,
# @octokit/webhooks 14 behind createNodeMiddleware (same secret, same signature check,
# dispatch to handlers that do nothing, nothing stored: tests/bench/node-webhooks-server.mjs).
# Both on loopback, one after the other, each with the whole machine, fed the same signed
# `ping` delivery (the real payload from @octokit/webhooks-examples without its repository,
# so keyroll never calls GitHub). For each server, in this order:
#
#   1. resident memory (VmRSS) once started;
#   2. mis-signed deliveries rejected/s: wrk, 2 threads, 64 connections, 15 s, a wrong
#      signature (tests/bench/webhook.lua); every answer must be the rejection (keyroll 401,
#      Node 400), keyroll's log must stay at about a line a second and never show the body;
#   3. latency at a fixed 500 deliveries/s for 20 s (after 1 s of warm-up): p50, p99, p99.9,
#      max, timed from each request's due time by an open-loop client
#      (tests/bench/fixed-rate.py), so that a stall cannot hide; every answer must be 2xx;
#   4. valid deliveries/s at full load: wrk as in 2 (after 3 s of warm-up), correctly signed,
#      a delivery id of its own on every request; every answer must be 2xx (keyroll 202,
#      Node 200), and keyroll's `webhooks` table must then hold every delivery it answered 202;
#   5. VmRSS 3 s after the runs, and the peak (VmHWM).
#
#   bash tests/bench-intake.sh
#
# The fixed-rate run comes before the full-load one so that it is measured in a steady state:
# keyroll's worker reads each stored delivery after intake answered, and the full-load run
# leaves it a backlog of minutes (its reading rate is reported).
#
# Prints a Markdown table (metric | keyroll | Node | ratio) and the issue's targets for
# reference. It asserts nothing about timings: it fails only when a server does not start or
# answers something other than what it should (or keyroll answers 202 to a delivery it did not
# store). It also reports how much of the machine other processes used meanwhile: a build
# running beside it disturbs every figure. Takes about 3 minutes once built. Installs what it
# needs as tests/run.sh does (tests/tools.sh; wrk from Debian; @octokit/webhooks with npm ci
# from tests/bench/package-lock.json into the cache ${KEYROLL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/keyroll},
# not into the repository); needs node >= 20. Builds keyroll in release mode into
# $CARGO_TARGET_DIR (as tests/bench.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=2           # wrk
CONNECTIONS=64      # wrk
LOAD_SECONDS=15     # each measured wrk run
WARMUP_SECONDS=3    # a wrk run of valid deliveries before the measured one
RATE=500            # fixed-rate run: deliveries per second
RATE_SECONDS=20     # fixed-rate run: measured seconds (after one of warm-up)
SECRET=bench-intake-webhook-secret
EVENT=ping

# shellcheck source=tests/tools.sh
source tests/tools.sh
keyroll_tools
command -v wrk >/dev/null 2>&1 || { echo "tests/bench-intake.sh: installing wrk" >&2; keyroll_apt_install wrk; }
command -v curl >/dev/null 2>&1 || keyroll_apt_install curl
command -v npm >/dev/null 2>&1 || keyroll_apt_install npm
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "tests/bench-intake.sh: needs node >= 20 for @octokit/webhooks 14 (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

keyroll_bench_setup

# Servers started here, stopped on any exit (keyroll_bench_setup's trap only removed $work).
pids=()
stop_servers() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_servers; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

say() { echo "tests/bench-intake.sh [${SECONDS}s]: $*" >&2; }

# @octokit/webhooks, installed from the lock file into the cache (keyed by the lock file), and
# the server script beside a link to it so that node resolves the import.
lock_hash="$(sha256sum tests/bench/package-lock.json | cut -c1-16)"
node_deps="$KEYROLL_CACHE/bench-intake-node-$lock_hash"
if [ ! -f "$node_deps/node_modules/@octokit/webhooks/package.json" ]; then
  say "installing @octokit/webhooks (npm ci) into $node_deps"
  rm -rf "$node_deps" && mkdir -p "$node_deps"
  cp tests/bench/package.json tests/bench/package-lock.json "$node_deps/"
  (cd "$node_deps" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
mkdir -p "$work/node"
ln -s "$node_deps/node_modules" "$work/node/node_modules"
cp tests/bench/node-webhooks-server.mjs "$work/node/"
octokit_version="$(node -p 'require(process.argv[1]).version' "$node_deps/node_modules/@octokit/webhooks/package.json")"

# The delivery: the real `ping` payload, without `repository`, compact; its signature with the
# secret both servers share, and a wrong one of the same shape. `marker` (the payload's zen
# line) must never show in keyroll's log.
body="$work/ping.json"
marker="$(python3 - "$KEYROLL_TEST_WEBHOOK_EXAMPLES" "$body" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))
ping = dict(next(e for e in events if e["name"] == "ping")["examples"][0])
ping.pop("repository", None)
open(sys.argv[2], "w").write(json.dumps(ping, separators=(",", ":")))
print(ping["zen"])
PY
)"
sign() { python3 -c 'import hashlib, hmac, sys; print("sha256=" + hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest())' "$1" "$2"; }
good_sig="$(sign "$SECRET" "$body")"
bad_sig="$(sign "not-the-$SECRET" "$body")"
body_bytes="$(wc -c <"$body")"

results="$work/results"
: >"$results"
problems=()
put() { echo "$1=$2" >>"$results"; }
got() { sed -n "s/^$1=//p" "$results" | tail -n 1; }
problem() { problems+=("$1"); say "PROBLEM: $1"; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
clk_tck="$(getconf CLK_TCK)"
rss_mib() { awk -v k="${2:-VmRSS}:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# CPU time in clock ticks: of a process (all its threads), and of this shell's finished
# children (the load generators).
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cpu_children() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
# others_snapshot FILE: the CPU ticks so far (their own and their finished children's) of every
# process outside this script's process group, kernel threads left out: what a build or test
# run beside the benchmark costs it.
others_snapshot() {
  python3 - "$1" "$$" <<'PY'
import json, os, sys
group = os.getpgid(int(sys.argv[2]))
ticks = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    f = stat[stat.rindex(")") + 2:].split()   # f[0] is field 3 of proc(5)
    if int(f[6]) & 0x00200000 or int(f[2]) == group:   # PF_KTHREAD, or ours
        continue
    ticks[f"{pid}:{f[19]}"] = sum(int(f[i]) for i in (11, 12, 13, 14))   # utime stime cutime cstime
json.dump(ticks, open(sys.argv[1], "w"))
PY
}

# measure SERVER PHASE COMMAND...: runs a load generator in the foreground and records the
# CPU the server, the generator and other processes used meanwhile, as shares of the whole
# machine (SERVER.PHASE.*).
measure() {
  local server="$1" phase="$2"; shift 2
  local s0 g0 t0 s1 g1 t1
  others_snapshot "$work/others0.json"
  s0="$(cpu_of "$server_pid")"; g0="$(cpu_children)"; t0="$(date +%s%N)"
  "$@"
  s1="$(cpu_of "$server_pid")"; g1="$(cpu_children)"; t1="$(date +%s%N)"
  others_snapshot "$work/others1.json"
  python3 - "$server.$phase" "$s0" "$s1" "$g0" "$g1" "$t0" "$t1" "$clk_tck" "$(nproc)" "$work/others0.json" "$work/others1.json" >>"$results" <<'PY'
import json, sys
key = sys.argv[1]
s0, s1, g0, g1, t0, t1, hz, cores = map(int, sys.argv[2:10])
before, after = (json.load(open(f)) for f in sys.argv[10:12])
capacity = max(1e-9, (t1 - t0) / 1e9 * hz * cores)
others = sum(t - before.get(p, 0) for p, t in after.items())
print(f"{key}.server_ticks={s1 - s0}")
print(f"{key}.server_pct={100 * (s1 - s0) / capacity:.0f}")
print(f"{key}.generator_pct={100 * (g1 - g0) / capacity:.0f}")
print(f"{key}.others_pct={100 * others / capacity:.0f}")
PY
}

# start_server NAME PORT LOG COMMAND...: starts it in the background, waits for /healthz.
start_server() {
  local name="$1" port="$2" log="$3"; shift 3
  "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 200); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "tests/bench-intake.sh: $name did not start; its log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

# run_wrk SERVER PHASE PORT SIGNATURE SECONDS EXPECTED_STATUS: one wrk run (delivery ids
# PHASE-<thread>-<n>); records SERVER.PHASE.{rps,requests,p50_ms,p99_ms,cpu_us,statuses} and
# checks that every answer was EXPECTED_STATUS.
run_wrk() {
  local server="$1" phase="$2" port="$3" sig="$4" secs="$5" expect="$6"
  local out="$work/$server-$phase.wrk"
  say "$server: $phase (wrk -t$THREADS -c$CONNECTIONS -d${secs}s)"
  measure "$server" "$phase" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s \
    -s tests/bench/webhook.lua "http://127.0.0.1:$port" -- "$body" "$sig" "$EVENT" "$phase" >"$out"
  python3 - "$out" "$server.$phase" "$expect" "$(got "$server.$phase.server_ticks")" "$clk_tck" >>"$results" <<'PY'
import re, sys
out, key, expect, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = open(out).read()
summary = dict(kv.split("=") for kv in re.search(r"^summary (.*)$", text, re.M).group(1).split())
statuses = {int(c): int(n) for c, n in re.findall(r"^status (\d+) (\d+)$", text, re.M)}
requests, secs = int(summary["requests"]), int(summary["duration_us"]) / 1e6
print(f"{key}.rps={requests / secs:.0f}")
print(f"{key}.requests={requests}")
print(f"{key}.expected={statuses.get(expect, 0)}")
print(f"{key}.p50_ms={int(summary['p50_us']) / 1000:.2f}")
print(f"{key}.p99_ms={int(summary['p99_us']) / 1000:.2f}")
print(f"{key}.cpu_us={ticks / hz * 1e6 / max(1, requests):.0f}")
print(f"{key}.statuses={' '.join(f'{c}:{n}' for c, n in sorted(statuses.items()))}")
print(f"{key}.socket_errors={sum(int(summary[k]) for k in ('connect', 'read', 'write', 'timeout'))}")
print(f"{key}.wrong={sum(n for c, n in statuses.items() if c != expect)}")
PY
  if [ "$(got "$server.$phase.wrong")" != 0 ] || [ "$(got "$server.$phase.socket_errors")" != 0 ]; then
    problem "$server, $phase: $(got "$server.$phase.wrong") answers other than $expect, $(got "$server.$phase.socket_errors") socket errors (answers: $(got "$server.$phase.statuses"))"
  fi
}

# run_rate SERVER PORT EXPECTED_STATUS: the fixed-rate run (delivery ids rate-<n>).
run_rate() {
  local server="$1" port="$2" expect="$3" out="$work/$1-rate.json"
  say "$server: $RATE deliveries/s for ${RATE_SECONDS}s after 1s of warm-up (open loop)"
  measure "$server" rate python3 tests/bench/fixed-rate.py --port "$port" --rate "$RATE" \
    --duration "$RATE_SECONDS" --warmup 1 --body "$body" --signature "$good_sig" \
    --event "$EVENT" --prefix rate >"$out"
  python3 - "$out" "$server" "$expect" >>"$results" <<'PY'
import json, sys
r, key, expect = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for p in ("50", "99", "99.9"):
    print(f"{key}.rate.p{p}_ms={r['latency_ms'][p]:.2f}")
print(f"{key}.rate.max_ms={r['latency_max_ms']:.2f}")
print(f"{key}.rate.svc_p99_ms={r['service_ms']['99']:.2f}")
print(f"{key}.rate.late_p99_ms={r['send_late_ms']['99']:.2f}")
print(f"{key}.rate.late_max_ms={r['send_late_max_ms']:.2f}")
print(f"{key}.rate.achieved={r['achieved_rate']}")
print(f"{key}.rate.connections={r['connections_used']}")
print(f"{key}.rate.wrong={r['requests'] - r['statuses'].get(expect, 0)}")
print(f"{key}.rate.statuses={' '.join(f'{c}:{n}' for c, n in r['statuses'].items())} errors:{r['errors']} unanswered:{r['unanswered']}")
PY
  put "$server.rate.cpu_us" "$(python3 -c 'import sys; print(round(int(sys.argv[1]) / int(sys.argv[2]) * 1e6 / (int(sys.argv[3]) * (int(sys.argv[4]) + 1))))' \
    "$(got "$server.rate.server_ticks")" "$clk_tck" "$RATE" "$RATE_SECONDS")"
  if [ "$(got "$server.rate.wrong")" != 0 ]; then
    problem "$server, fixed rate: $(got "$server.rate.wrong") deliveries not answered $expect ($(got "$server.rate.statuses"))"
  fi
}

db="$work/keyroll.db"
db_count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0] or 0)' "$db" "$1"; }
unread="SELECT count(*) FROM webhooks WHERE processed_at IS NULL"

# ---------------------------------------------------------------------------------------
# keyroll
say "keyroll: starting $KEYROLL serve"
port="$(free_port)"
dead_port="$(free_port)"   # KEYROLL_GITHUB_API_URL: nothing listens there (no delivery names a repository)
start_server keyroll "$port" "$work/keyroll.log" env \
  KEYROLL_APP_ID=1234 \
  KEYROLL_APP_KEY_FILE=fixtures/github-app/test-app-key.pem \
  KEYROLL_WEBHOOK_SECRETS="$SECRET" \
  KEYROLL_AGE_IDENTITY_FILE=fixtures/demo-age-key.txt \
  KEYROLL_DATABASE_URL="sqlite://$db" \
  KEYROLL_LISTEN="127.0.0.1:$port" \
  KEYROLL_GITHUB_API_URL="http://127.0.0.1:$dead_port" \
  "$KEYROLL" serve
sleep 2
put keyroll.rss_start "$(rss_mib "$server_pid")"

log_before="$(wc -l <"$work/keyroll.log")"
run_wrk keyroll bad "$port" "$bad_sig" "$LOAD_SECONDS" 401
log_after="$(wc -l <"$work/keyroll.log")"
put keyroll.bad.log_lines "$((log_after - log_before))"
put keyroll.bad.stored "$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'bad-%'")"
sed -n "$((log_before + 1))p" "$work/keyroll.log" | sed 's/\x1b\[[0-9;]*m//g' >"$work/keyroll-bad-sample.log"
sleep 1

run_rate keyroll "$port" 202
put keyroll.rate.stored "$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'rate-%'")"
sleep 1

run_wrk keyroll warmup "$port" "$good_sig" "$WARMUP_SECONDS" 202
run_wrk keyroll load "$port" "$good_sig" "$LOAD_SECONDS" 202
# Every delivery answered 202 is in the table (and a few more: those in flight when wrk stopped).
stored="$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'load-%'")"
put keyroll.load.stored "$stored"
if [ "$stored" -lt "$(got keyroll.load.expected)" ]; then
  problem "keyroll answered 202 to $(got keyroll.load.expected) deliveries of the load run but its webhooks table holds $stored of them"
fi
# How fast the worker reads what intake stored: the backlog now and 3 s later.
u0="$(db_count "$unread")"
sleep 3
u1="$(db_count "$unread")"
put keyroll.backlog "$u0"
put keyroll.read_rate "$(((u0 - u1) / 3))"
put keyroll.rss_end "$(rss_mib "$server_pid")"
put keyroll.rss_peak "$(rss_mib "$server_pid" VmHWM)"
put keyroll.threads "$(awk '$1 == "Threads:" { print $2 }' "/proc/$server_pid/status")"
if grep -qF -e "$marker" -e '"hook_id"' "$work/keyroll.log"; then
  problem "keyroll's log shows the body of a delivery"
  put keyroll.body_in_log yes
else
  put keyroll.body_in_log no
fi
stop_servers

# ---------------------------------------------------------------------------------------
# Node.js, @octokit/webhooks
say "node: starting tests/bench/node-webhooks-server.mjs"
port="$(free_port)"
start_server node "$port" "$work/node.log" env BENCH_WEBHOOK_SECRET="$SECRET" BENCH_LISTEN_PORT="$port" \
  node "$work/node/node-webhooks-server.mjs"
sleep 2
put node.rss_start "$(rss_mib "$server_pid")"
log_before="$(wc -l <"$work/node.log")"
run_wrk node bad "$port" "$bad_sig" "$LOAD_SECONDS" 400
log_after="$(wc -l <"$work/node.log")"
put node.bad.log_lines "$((log_after - log_before))"
sleep 1
run_rate node "$port" 200
sleep 1
run_wrk node warmup "$port" "$good_sig" "$WARMUP_SECONDS" 200
run_wrk node load "$port" "$good_sig" "$LOAD_SECONDS" 200
sleep 3
put node.rss_end "$(rss_mib "$server_pid")"
put node.rss_peak "$(rss_mib "$server_pid" VmHWM)"
put node.threads "$(awk '$1 == "Threads:" { print $2 }' "/proc/$server_pid/status")"
stop_servers
say "done"

# ---------------------------------------------------------------------------------------
echo
echo "## Webhook intake: keyroll serve vs Node.js @octokit/webhooks $octokit_version"
echo
echo "- machine: nproc $(nproc), $(uname -sm); servers and load generators share it (loopback)"
echo "- keyroll: $("$KEYROLL" --version) (release build, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ', uncommitted changes in src/')); SQLite WAL, synchronous=FULL, on $(df --output=source "$work" | tail -n 1)"
echo "- node $(node --version), @octokit/webhooks $octokit_version (createNodeMiddleware, logger silenced, nothing stored)"
echo "- delivery: \`$EVENT\`, $body_bytes bytes, HMAC-SHA256 signed; wrk $(wrk --version 2>&1 | head -n 1 | awk '{print $2}') -t$THREADS -c$CONNECTIONS, ${LOAD_SECONDS}s a run"
echo
python3 - "$results" "$RATE" "$RATE_SECONDS" "$LOAD_SECONDS" <<'PY'
import sys
r = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[1]) if "=" in line)
rate, rate_secs, load_secs = sys.argv[2], sys.argv[3], int(sys.argv[4])

def get(k):
    return r.get(k, "")

def num(v):
    try:
        return float(v)
    except ValueError:
        return None

def fmt(v, unit=""):
    x = num(v)
    if x is None:
        return v or "n/a"
    s = f"{x:,.0f}" if abs(x) >= 100 else (f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}")
    return s + unit

def ratio(k, n):
    a, b = num(k), num(n)
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"

rows = [
    ("valid deliveries/s, full load (wrk)", "load.rps", ""),
    ("  server CPU per valid delivery, full load", "load.cpu_us", " µs"),
    ("  wrk's latency p50 / p99 at full load (closed loop)", None, None),
    (f"latency p50 at {rate}/s (open loop)", "rate.p50_ms", " ms"),
    (f"latency p99 at {rate}/s", "rate.p99_ms", " ms"),
    (f"latency p99.9 at {rate}/s", "rate.p99.9_ms", " ms"),
    (f"latency max at {rate}/s", "rate.max_ms", " ms"),
    (f"  server CPU per delivery at {rate}/s", "rate.cpu_us", " µs"),
    ("mis-signed deliveries rejected/s (wrk)", "bad.rps", ""),
    ("  server CPU per mis-signed delivery", "bad.cpu_us", " µs"),
    (f"  log lines during the {load_secs}s mis-signed run", "bad.log_lines", ""),
    ("RSS idle after start-up", "rss_start", " MiB"),
    ("RSS 3 s after the runs", "rss_end", " MiB"),
    ("RSS peak (VmHWM)", "rss_peak", " MiB"),
]
print("| metric | keyroll | Node @octokit/webhooks | ratio keyroll/Node |")
print("|---|---:|---:|---:|")
for label, key, unit in rows:
    if key is None:
        k = f"{fmt(get('keyroll.load.p50_ms'), ' ms')} / {fmt(get('keyroll.load.p99_ms'), ' ms')}"
        n = f"{fmt(get('node.load.p50_ms'), ' ms')} / {fmt(get('node.load.p99_ms'), ' ms')}"
        print(f"| {label} | {k} | {n} | |")
        continue
    k, n = get("keyroll." + key), get("node." + key)
    if key == "bad.log_lines":
        print(f"| {label} | {k} | {n} (logger silenced) | |")
        continue
    print(f"| {label} | {fmt(k, unit)} | {fmt(n, unit)} | {ratio(k, n)} |")
stored, answered = int(get("keyroll.load.stored") or 0), int(get("keyroll.load.expected") or 0)
print(f"| deliveries stored after the full-load run | {stored:,} rows for {answered:,} answers 202 (+{stored - answered} in flight when wrk stopped) | none (nothing stored) | |")
print()

def verdict(ok):
    return "met" if ok else "**not met**"

kl, nl = num(get("keyroll.load.rps")), num(get("node.load.rps"))
kb, nb = num(get("keyroll.bad.rps")), num(get("node.bad.rps"))
p99 = num(get("keyroll.rate.p99_ms"))
rss = num(get("keyroll.rss_start"))
print("Targets from the issue (for reference; nothing is asserted):")
print()
if kl and nl:
    print(f"- max throughput >= 1.5x Node's: {kl / nl:.2f}x, {verdict(kl / nl >= 1.5)}")
if p99 is not None:
    print(f"- p99 <= 2 ms at {rate}/s: {p99:.2f} ms, {verdict(p99 <= 2)}")
if kb and nb:
    print(f"- mis-signed rejection >= 2x Node's rate: {kb / nb:.2f}x, {verdict(kb / nb >= 2)}")
if rss is not None:
    print(f"- idle RSS <= 30 MiB: {rss:.1f} MiB after start-up ({get('keyroll.rss_end')} MiB 3 s after the runs), {verdict(rss <= 30)}")
print()
print("Notes:")
print()
print("- ratio = keyroll's figure / Node's: above 1 is better for keyroll in throughput, below 1 in latency, CPU and memory.")
print(f"- keyroll stored every delivery before answering 202 (SQLite, synchronous=FULL); Node stored nothing. "
      f"keyroll's worker then reads each stored delivery: {int(get('keyroll.backlog') or 0):,} were still unread after the full-load run, "
      f"read at {int(get('keyroll.read_rate') or 0):,}/s over the next 3 s.")
print(f"- keyroll stored {int(get('keyroll.rate.stored') or 0):,} deliveries of the fixed-rate run (1 s of warm-up included) and {get('keyroll.bad.stored')} mis-signed ones; "
      f"its log showed a body: {get('keyroll.body_in_log')}.")
print(f"- fixed-rate client (keyroll / Node): achieved {get('keyroll.rate.achieved')} / {get('node.rate.achieved')} deliveries/s over "
      f"{get('keyroll.rate.connections')} / {get('node.rate.connections')} connections; p99 from the actual send "
      f"{get('keyroll.rate.svc_p99_ms')} / {get('node.rate.svc_p99_ms')} ms; the client's own lateness sending, p99 "
      f"{get('keyroll.rate.late_p99_ms')} / {get('node.rate.late_p99_ms')} ms, max {get('keyroll.rate.late_max_ms')} / {get('node.rate.late_max_ms')} ms.")
print(f"- answers, keyroll: {get('keyroll.bad.statuses')} (mis-signed), {get('keyroll.rate.statuses')} (fixed rate), {get('keyroll.load.statuses')} (full load); "
      f"Node: {get('node.bad.statuses')}, {get('node.rate.statuses')}, {get('node.load.statuses')}.")
print(f"- threads at the end: keyroll {get('keyroll.threads')}, Node {get('node.threads')}.")
share = []
worst = 0
for s in ("keyroll", "node"):
    for ph, name in (("bad", "mis-signed"), ("rate", "fixed rate"), ("load", "full load")):
        k = f"{s}.{ph}"
        share.append(f"{s} {name}: server {get(k + '.server_pct')}%, load generator {get(k + '.generator_pct')}%, other processes {get(k + '.others_pct')}%")
        worst = max(worst, int(get(k + ".others_pct") or 0))
print("- share of the machine's cores during each run (kernel threads not counted): " + "; ".join(share) + ".")
if worst > 5:
    print(f"- **WARNING: other processes used up to {worst}% of the machine during a run: the figures are disturbed; rerun on a quiet machine.**")
PY
if [ -s "$work/keyroll-bad-sample.log" ]; then
  echo "- keyroll's log during the mis-signed run, first line: \`$(cat "$work/keyroll-bad-sample.log")\`"
fi
if [ "${#problems[@]}" -gt 0 ]; then
  echo
  echo "PROBLEMS:"
  for p in "${problems[@]}"; do echo "- $p"; done
  exit 1
fi
exit 0
