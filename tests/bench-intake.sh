#!/usr/bin/env bash
# Benchmark: webhook intake. `keyroll serve` (release build, every delivery stored durably in
# a fresh SQLite file) against the Node.js receiver a GitHub App author would otherwise run,
# @octokit/webhooks 14 behind createNodeMiddleware (same secret, same signature check,
# dispatch to handlers that do nothing, nothing stored: tests/bench/node-webhooks-server.mjs).
# Both on loopback, one at a time, each with the whole machine, fed the same signed `ping`
# delivery (the real payload from @octokit/webhooks-examples, minus its repository, so keyroll
# never calls GitHub):
#
#   1. valid deliveries/s at full load: wrk, 2 threads, 64 connections, 15 s, a delivery id
#      of its own on every request (tests/bench/webhook.lua); every answer must be 2xx, and
#      keyroll's `webhooks` table must then hold every delivery it answered 202;
#   2. latency at a fixed 500 deliveries/s for 20 s: p50, p99, p99.9, max, timed from each
#      request's due time by an open-loop client (tests/bench/fixed-rate.py), so a stall shows;
#   3. mis-signed deliveries rejected/s: wrk as in 1 with a wrong signature; keyroll's log
#      must stay at about one line a second and never show the body;
#   4. resident memory (VmRSS) after start-up, after the runs, and the peak (VmHWM).
#
#   bash tests/bench-intake.sh
#
# Prints a Markdown table (metric | keyroll | Node | ratio) and the issue's targets for
# reference. It asserts nothing about timings: it fails only when a server does not start or
# answers something other than what it should (or keyroll answers 202 to a delivery it did not
# store). Takes about 4 minutes once built. Installs what it needs as tests/run.sh does
# (tests/tools.sh; wrk from Debian; @octokit/webhooks with npm ci from tests/bench/package-lock.json
# into the cache ${KEYROLL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/keyroll}, not into the repository);
# needs node >= 20. Builds keyroll in release mode into $CARGO_TARGET_DIR (as tests/bench.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
THREADS=2           # wrk
CONNECTIONS=64      # wrk
LOAD_SECONDS=15     # each wrk run
WARMUP_SECONDS=3    # a wrk run before the measured ones, on each server
RATE=500            # fixed-rate run: deliveries per second
RATE_SECONDS=20     # fixed-rate run: measured seconds (after one of warm-up)
DRAIN_LIMIT=120     # seconds keyroll's worker may take to read the backlog of the load run
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

# @octokit/webhooks, installed from the lock file into the cache (keyed by the lock file), and
# the server script beside a link to it so that node resolves the import.
lock_hash="$(sha256sum tests/bench/package-lock.json | cut -c1-16)"
node_deps="$KEYROLL_CACHE/bench-intake-node-$lock_hash"
if [ ! -f "$node_deps/node_modules/@octokit/webhooks/package.json" ]; then
  echo "tests/bench-intake.sh: installing @octokit/webhooks (npm ci) into $node_deps" >&2
  rm -rf "$node_deps" && mkdir -p "$node_deps"
  cp tests/bench/package.json tests/bench/package-lock.json "$node_deps/"
  (cd "$node_deps" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
mkdir -p "$work/node"
ln -s "$node_deps/node_modules" "$work/node/node_modules"
cp tests/bench/node-webhooks-server.mjs "$work/node/"
octokit_version="$(node -p 'require(process.argv[1]).version' "$node_deps/node_modules/@octokit/webhooks/package.json")"

# The delivery: the real `ping` payload, without `repository`, compact; its signature with the
# secret both servers share, and a wrong one of the same shape.
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

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
clk_tck="$(getconf CLK_TCK)"
rss_mib() { awk -v k="${2:-VmRSS}:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, all threads

results="$work/results"
: >"$results"
problems=()
put() { echo "$1=$2" >>"$results"; }
problem() { problems+=("$1"); say "PROBLEM: $1"; }
say() { echo "tests/bench-intake.sh [${SECONDS}s]: $*" >&2; }

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

# run_wrk SERVER PHASE PORT SIGNATURE SECONDS EXPECTED_STATUS: one wrk run; records
# SERVER.PHASE.{rps,p50_ms,p99_ms,requests,cpu_us} and checks every answer was EXPECTED_STATUS.
run_wrk() {
  local server="$1" phase="$2" port="$3" sig="$4" secs="$5" expect="$6"
  local out="$work/$server-$phase.wrk" c0 c1
  say "$server: $phase (wrk -t$THREADS -c$CONNECTIONS -d${secs}s)"
  c0="$(cpu_ticks "$server_pid")"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s -s tests/bench/webhook.lua \
    "http://127.0.0.1:$port" -- "$body" "$sig" "$EVENT" "$phase" >"$out"
  c1="$(cpu_ticks "$server_pid")"
  python3 - "$out" "$server.$phase" "$expect" "$((c1 - c0))" "$clk_tck" >>"$results" <<'PY'
import re, sys
out, key, expect, ticks, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
text = open(out).read()
summary = dict(kv.split("=") for kv in re.search(r"^summary (.*)$", text, re.M).group(1).split())
statuses = {int(c): int(n) for c, n in re.findall(r"^status (\d+) (\d+)$", text, re.M)}
requests, secs = int(summary["requests"]), int(summary["duration_us"]) / 1e6
print(f"{key}.rps={requests / secs:.0f}")
print(f"{key}.requests={requests}")
print(f"{key}.p50_ms={int(summary['p50_us']) / 1000:.2f}")
print(f"{key}.p99_ms={int(summary['p99_us']) / 1000:.2f}")
print(f"{key}.cpu_us={ticks / hz * 1e6 / max(1, requests):.0f}")
print(f"{key}.statuses={','.join(f'{c}:{n}' for c, n in sorted(statuses.items()))}")
sock = sum(int(summary[k]) for k in ("connect", "read", "write", "timeout"))
print(f"{key}.socket_errors={sock}")
wrong = sum(n for c, n in statuses.items() if c != int(expect))
print(f"{key}.wrong={wrong}")
PY
  local wrong sock
  wrong="$(sed -n "s/^$server\.$phase\.wrong=//p" "$results")"
  sock="$(sed -n "s/^$server\.$phase\.socket_errors=//p" "$results")"
  if [ "$wrong" != 0 ] || [ "$sock" != 0 ]; then
    problem "$server, $phase: $wrong answers other than $expect, $sock socket errors ($(sed -n "s/^$server\.$phase\.statuses=//p" "$results"); wrk's report: $out)"
    cp "$out" "${TMPDIR:-/tmp}/bench-intake-$server-$phase.wrk" 2>/dev/null || true
  fi
}

# run_rate SERVER PORT EXPECTED_STATUS: the fixed-rate run.
run_rate() {
  local server="$1" port="$2" expect="$3" out="$work/$1-rate.json"
  say "$server: $RATE deliveries/s for ${RATE_SECONDS}s (open loop)"
  python3 tests/bench/fixed-rate.py --port "$port" --rate "$RATE" --duration "$RATE_SECONDS" --warmup 1 \
    --body "$body" --signature "$good_sig" --event "$EVENT" --prefix rate >"$out"
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
wrong = r["requests"] - r["statuses"].get(expect, 0)
print(f"{key}.rate.wrong={wrong}")
print(f"{key}.rate.statuses={','.join(f'{c}:{n}' for c, n in r['statuses'].items())};errors:{r['errors']};unanswered:{r['unanswered']}")
PY
  local wrong
  wrong="$(sed -n "s/^$server\.rate\.wrong=//p" "$results")"
  if [ "$wrong" != 0 ]; then
    problem "$server, fixed rate: $wrong of the deliveries not answered $expect ($(sed -n "s/^$server\.rate\.statuses=//p" "$results"))"
  fi
}

db="$work/keyroll.db"
db_count() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0] or 0)' "$db" "$1"; }

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
run_wrk keyroll warmup "$port" "$good_sig" "$WARMUP_SECONDS" 202
run_wrk keyroll load "$port" "$good_sig" "$LOAD_SECONDS" 202
# Every delivery answered 202 is in the table (a few more: those in flight when wrk stopped).
stored="$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'load-%'")"
answered="$(sed -n 's/^keyroll\.load\.statuses=.*202:\([0-9]*\).*/\1/p' "$results")"
put keyroll.load.stored "$stored"
put keyroll.load.answered "${answered:-0}"
if [ "$stored" -lt "${answered:-0}" ]; then
  problem "keyroll answered 202 to ${answered} deliveries of the load run but its webhooks table holds $stored"
fi
# The worker reads what intake stored (one UPDATE each); let it finish before the latency run.
backlog="$(db_count "SELECT count(*) FROM webhooks WHERE processed_at IS NULL")"
put keyroll.backlog "$backlog"
say "keyroll: waiting (at most ${DRAIN_LIMIT}s) for its worker to read the $backlog deliveries stored and not read yet"
python3 - "$db" "$DRAIN_LIMIT" >>"$results" <<'PY'
import sqlite3, sys, time
db, limit = sqlite3.connect(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
while True:
    left = db.execute("SELECT count(*) FROM webhooks WHERE processed_at IS NULL").fetchone()[0]
    if left == 0 or time.monotonic() - start > limit:
        break
    time.sleep(0.1)
print(f"keyroll.drain_s={time.monotonic() - start:.1f}")
print(f"keyroll.drain_left={left}")
PY
sleep 1
run_rate keyroll "$port" 202
stored_rate="$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'rate-%'")"
put keyroll.rate.stored "$stored_rate"
sleep 1
log_before="$(wc -l <"$work/keyroll.log")"
run_wrk keyroll bad "$port" "$bad_sig" "$LOAD_SECONDS" 401
log_after="$(wc -l <"$work/keyroll.log")"
put keyroll.bad.log_lines "$((log_after - log_before))"
put keyroll.bad.stored "$(db_count "SELECT count(*) FROM webhooks WHERE delivery_id LIKE 'bad-%'")"
if grep -qF -e "$marker" -e '"hook_id"' "$work/keyroll.log"; then
  problem "keyroll's log shows the body of a delivery"
  put keyroll.bad.body_in_log yes
else
  put keyroll.bad.body_in_log no
fi
sed -n "$((log_before + 1)),$((log_before + 2))p" "$work/keyroll.log" | sed 's/\x1b\[[0-9;]*m//g' >"$work/keyroll-bad-sample.log"
sleep 3
put keyroll.rss_end "$(rss_mib "$server_pid")"
put keyroll.rss_peak "$(rss_mib "$server_pid" VmHWM)"
put keyroll.threads "$(awk '$1 == "Threads:" { print $2 }' "/proc/$server_pid/status")"
stop_servers

# ---------------------------------------------------------------------------------------
# Node.js, @octokit/webhooks
say "node: starting tests/bench/node-webhooks-server.mjs"
port="$(free_port)"
start_server node "$port" "$work/node.log" env BENCH_WEBHOOK_SECRET="$SECRET" BENCH_LISTEN_PORT="$port" \
  node "$work/node/node-webhooks-server.mjs"
sleep 2
put node.rss_start "$(rss_mib "$server_pid")"
run_wrk node warmup "$port" "$good_sig" "$WARMUP_SECONDS" 200
run_wrk node load "$port" "$good_sig" "$LOAD_SECONDS" 200
sleep 1
run_rate node "$port" 200
sleep 1
log_before="$(wc -l <"$work/node.log")"
run_wrk node bad "$port" "$bad_sig" "$LOAD_SECONDS" 400
log_after="$(wc -l <"$work/node.log")"
put node.bad.log_lines "$((log_after - log_before))"
sleep 3
put node.rss_end "$(rss_mib "$server_pid")"
put node.rss_peak "$(rss_mib "$server_pid" VmHWM)"
put node.threads "$(awk '$1 == "Threads:" { print $2 }' "/proc/$server_pid/status")"
stop_servers

# ---------------------------------------------------------------------------------------
echo
echo "## Webhook intake: keyroll serve vs Node.js @octokit/webhooks $octokit_version"
echo
echo "- machine: nproc $(nproc), $(uname -sm); load generators on the same machine (loopback)"
echo "- keyroll: $("$KEYROLL" --version) (release build, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ', uncommitted changes in src/')); SQLite WAL, synchronous=FULL, file in $(df --output=source "$work" | tail -n 1)"
echo "- node $(node --version), @octokit/webhooks $octokit_version (createNodeMiddleware, logger silenced, nothing stored)"
echo "- delivery: \`$EVENT\`, $body_bytes bytes, HMAC-SHA256 signed; wrk $(wrk --version 2>&1 | head -n 1 | awk '{print $2}') -t$THREADS -c$CONNECTIONS, ${LOAD_SECONDS}s per run after ${WARMUP_SECONDS}s of warm-up"
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
    ("  server CPU per delivery, full load", "load.cpu_us", " µs"),
    ("  wrk latency p50 / p99 at full load (closed loop)", None, None),
    (f"latency p50 at {rate}/s", "rate.p50_ms", " ms"),
    (f"latency p99 at {rate}/s", "rate.p99_ms", " ms"),
    (f"latency p99.9 at {rate}/s", "rate.p99.9_ms", " ms"),
    (f"latency max at {rate}/s", "rate.max_ms", " ms"),
    ("mis-signed deliveries rejected/s (wrk)", "bad.rps", ""),
    ("  server CPU per mis-signed delivery", "bad.cpu_us", " µs"),
    (f"  log lines during the {load_secs}s mis-signed run", "bad.log_lines", ""),
    ("RSS idle after start-up", "rss_start", " MiB"),
    ("RSS idle after the runs", "rss_end", " MiB"),
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
stored, answered = get("keyroll.load.stored"), get("keyroll.load.answered")
print(f"| deliveries stored (keyroll: rows in `webhooks`) | {int(stored):,} of {int(answered):,} answered 202 (+{int(stored) - int(answered)} in flight at wrk's stop) | none (not stored) | |")
print()

def verdict(ok):
    return "met" if ok else "**not met**"

kl, nl = num(get("keyroll.load.rps")), num(get("node.load.rps"))
kb, nb = num(get("keyroll.bad.rps")), num(get("node.bad.rps"))
p99 = num(get("keyroll.rate.p99_ms"))
rss = max(num(get("keyroll.rss_start")) or 0, num(get("keyroll.rss_end")) or 0)
print("Targets from the issue (for reference; nothing is asserted):")
print()
if kl and nl:
    print(f"- max throughput >= 1.5x Node's: {kl / nl:.2f}x, {verdict(kl / nl >= 1.5)}")
if p99 is not None:
    print(f"- p99 <= 2 ms at {rate}/s: {p99:.2f} ms, {verdict(p99 <= 2)}")
if kb and nb:
    print(f"- mis-signed rejection >= 2x Node's rate: {kb / nb:.2f}x, {verdict(kb / nb >= 2)}")
print(f"- idle RSS <= 30 MiB: {rss:.1f} MiB (the larger of start-up and after the runs), {verdict(rss <= 30)}")
print()
print("Notes:")
print()
print(f"- ratio = keyroll's figure / Node's (throughput: higher is better for keyroll; latency, CPU and memory: lower is).")
print(f"- keyroll stored every delivery before answering 202 (SQLite, synchronous=FULL); Node stored nothing. keyroll's worker reads each stored delivery afterwards: the {int(get('keyroll.backlog') or 0):,} left unread after the load run took {get('keyroll.drain_s')} s to read ({get('keyroll.drain_left')} still unread), before the fixed-rate run started.")
print(f"- fixed-rate client: open loop, latency from each request's due time; {rate}/s for {rate_secs}s after 1 s of warm-up; "
      f"achieved {get('keyroll.rate.achieved')}/s (keyroll) and {get('node.rate.achieved')}/s (Node); "
      f"connections opened {get('keyroll.rate.connections')} / {get('node.rate.connections')}; "
      f"latency from the actual send, p99: {get('keyroll.rate.svc_p99_ms')} / {get('node.rate.svc_p99_ms')} ms; "
      f"the client's own lateness sending, p99 {get('keyroll.rate.late_p99_ms')} / {get('node.rate.late_p99_ms')} ms, max {get('keyroll.rate.late_max_ms')} / {get('node.rate.late_max_ms')} ms.")
print(f"- keyroll stored {int(get('keyroll.rate.stored') or 0):,} deliveries of the fixed-rate run and {get('keyroll.bad.stored')} mis-signed ones; its log showed the body: {get('keyroll.bad.body_in_log')}.")
print(f"- answers: keyroll {get('keyroll.load.statuses')} (load), {get('keyroll.bad.statuses')} (mis-signed); Node {get('node.load.statuses')} (load), {get('node.bad.statuses')} (mis-signed).")
print(f"- threads at the end: keyroll {get('keyroll.threads')}, Node {get('node.threads')}.")
PY
if [ -s "$work/keyroll-bad-sample.log" ]; then
  echo "- keyroll's log during the mis-signed run, first line: \`$(head -n 1 "$work/keyroll-bad-sample.log")\`"
fi
if [ "${#problems[@]}" -gt 0 ]; then
  echo
  echo "PROBLEMS:"
  for p in "${problems[@]}"; do echo "- $p"; done
  exit 1
fi
exit 0
