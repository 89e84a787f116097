#!/usr/bin/env bash
# Benchmark: what hostile, unauthenticated clients cost `keyroll serve` (release build, default
# front-door settings: 5 s to send headers, 10 s to send a body, 512 connections, 5 MiB per
# body, 64 MiB of bodies at once). Four phases, one after the other, each opening all its
# connections at once (tests/bench/front-door-load.py):
#
#   1. 100 slowloris connections (request headers a byte every 100 ms, never finished);
#   2. 300 slowloris connections and 50 bodies trickling 64 bytes every 100 ms;
#   3. 100 unsigned bodies declaring 5 MiB, sending 4 MiB at once, then stalling;
#   4. 600 slowloris connections, over the 512-connection cap.
#
# For each: the server's resident memory (VmRSS) before, at its peak (sampled every 50 ms) and
# 2 s after; /healthz and a signed delivery sent 1 s into the phase (answer and seconds); how
# many connections the server closed, the longest one stayed open, and what they were answered.
#
#   bash tests/bench-front-door.sh            # optionally KEYROLL=/path/to/keyroll
#
# Prints a Markdown table. It asserts nothing about timings or memory: it fails only when the
# server does not start. Needs python3 and curl. Builds keyroll in release mode into
# $CARGO_TARGET_DIR unless KEYROLL names a binary. Takes about a minute once built.
set -euo pipefail

cd "$(dirname "$0")/.."
SECRET=bench-front-door-secret

if [ -z "${KEYROLL:-}" ]; then
  echo "building keyroll (release) in ${CARGO_TARGET_DIR:-target}" >&2
  cargo build --quiet --release --locked
  KEYROLL="${CARGO_TARGET_DIR:-target}/release/keyroll"
fi
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dead_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env KEYROLL_APP_ID=1234 \
  KEYROLL_APP_KEY_FILE=fixtures/github-app/test-app-key.pem \
  KEYROLL_WEBHOOK_SECRETS="$SECRET" \
  KEYROLL_AGE_IDENTITY_FILE=fixtures/demo-age-key.txt \
  KEYROLL_DATABASE_URL="sqlite://$work/keyroll.db" \
  KEYROLL_LISTEN="127.0.0.1:$port" \
  KEYROLL_GITHUB_API_URL="http://127.0.0.1:$dead_port" \
  RUST_LOG=warn \
  "$KEYROLL" serve >"$work/keyroll.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" || { echo "keyroll did not start:" >&2; cat "$work/keyroll.log" >&2; exit 1; }
sleep 1
idle="$(awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")"

python3 tests/bench/front-door-load.py --port "$port" --pid "$server_pid" --secret "$SECRET" >"$work/phases.jsonl"
hwm="$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")"

echo "## keyroll serve under hostile clients"
echo
echo "- keyroll: $("$KEYROLL" --version) (release), default front-door settings; machine: nproc $(nproc), $(uname -sm); loopback"
echo "- RSS idle after start-up: $idle MiB; peak over the whole run (VmHWM): $hwm MiB"
echo
python3 - "$work/phases.jsonl" <<'PY'
import json, sys
print("| phase | RSS before / peak / after (MiB) | closed by the server | longest open | answers to the hostile requests | /healthz during | signed delivery during |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    answers = ", ".join(f"{n}× {s}" for s, n in sorted(r["statuses"].items()))
    print(f"| {r['phase']} | {r['rss_before_mib']} / {r['rss_peak_mib']} / {r['rss_after_mib']} "
          f"| {r['closed_by_server']} of {r['connections']} | {r['longest_open_s']} s | {answers} "
          f"| {r['healthz_during']} in {r['healthz_s']} s | {r['signed_during']} in {r['signed_s']} s |")
PY
if grep -q panicked "$work/keyroll.log"; then
  echo; echo "keyroll's log shows a panic:"; grep panicked "$work/keyroll.log"; exit 1
fi
