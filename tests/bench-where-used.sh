#!/usr/bin/env bash
# Benchmark: finding where a value is used across 1,000 SOPS files of 20 values each.
#   keyroll where-used --value-stdin   against   a loop of `sops -d FILE | grep`
# (the runbooks' way). Both run on the same files; the figure to quote is the ratio.
#
#   bash tests/bench-where-used.sh [FILES]       # FILES defaults to 1000
#
# Installs what it needs as tests/run.sh does (tests/tools.sh), plus hyperfine.
set -euo pipefail

cd "$(dirname "$0")/.."
FILES="${1:-1000}"
# shellcheck source=tests/tools.sh
source tests/tools.sh
keyroll_tools hyperfine
SOPS_BIN="$KEYROLL_TEST_SOPS"

keyroll_bench_setup

# 1,000 files of 20 values; the needle sits in one value of the last file.
mkdir -p "$work/repo/vars"
python3 - "$work/repo/vars" "$FILES" <<'PY'
import sys, secrets
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(f"{out}/app-{i:04d}.yaml", "w") as f:
        f.write(f"service: app-{i:04d}\n")
        for j in range(19):
            value = secrets.token_hex(20)
            if i == n - 1 and j == 7:
                value = "needle-" + "7" * 33
            f.write(f"secret_{j:02d}: {value}\n")
PY
for f in "$work"/repo/vars/*.yaml; do
  "$KEYROLL" sops encrypt --age "$RECIPIENT" -i "$f"
done
echo "needle-$(printf '7%.0s' $(seq 33))" > "$work/needle"
"$SOPS_BIN" -d "$work/repo/vars/app-$(printf '%04d' $((FILES - 1))).yaml" | grep -q needle   # sops reads them

loop="for f in $work/repo/vars/*.yaml; do $SOPS_BIN -d \$f | grep -q -F -f $work/needle && echo \$f; done"
hyperfine --style basic --warmup 1 --runs 5 --export-json "$work/keyroll.json" \
  "$KEYROLL where-used --value-stdin --repo $work/repo < $work/needle"
hyperfine --style basic --runs 2 --export-json "$work/sops.json" "$loop"

python3 - "$work" "$FILES" <<'PY'
import json, sys, os
work, n = sys.argv[1], sys.argv[2]
k = json.load(open(os.path.join(work, "keyroll.json")))["results"][0]["mean"]
s = json.load(open(os.path.join(work, "sops.json")))["results"][0]["mean"]
print()
print(f"| files | keyroll where-used | sops -d \\| grep loop | ratio |")
print(f"| --- | --- | --- | --- |")
print(f"| {n} x 20 values | {k*1000:.0f} ms | {s:.2f} s | {s/k:.0f}x |")
print(f"\n{os.cpu_count()} cores")
PY
