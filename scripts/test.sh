#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets everything up (idempotent), checks formatting and lints, builds, and runs every
# test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustfmt and clippy are rustup components that a minimal Rust install lacks: say so
# before the set-up spends time (no cargo at all: setup.sh says what to install).
if command -v cargo >/dev/null; then
  for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
      echo "test: 'cargo $tool' is not installed. Install the rustup components rustfmt and" \
        "clippy: rustup component add rustfmt clippy" >&2
      exit 1
    fi
  done
fi
bash scripts/setup.sh
source scripts/env.sh
# Formatting and lints first (clippy's check build shares CARGO_TARGET_DIR with the build
# below; its metadata-only artefacts are separate from the test build's, as usual).
if ! cargo fmt --all --check; then
  echo "test: formatting differs from rustfmt's (diff above); run: cargo fmt --all" >&2
  exit 1
fi
if ! cargo clippy --workspace --all-targets -- -D warnings; then
  echo "test: clippy found problems (above)" >&2
  exit 1
fi
portrait_plugin_path "$CARGO_TARGET_DIR/debug"
# Tests must not pick up a user's registry cache made with another build of the plugin.
export GST_REGISTRY="$XDG_CACHE_HOME/gst-registry-test.bin"
cargo build --workspace --all-targets
log="$XDG_CACHE_HOME/test-output.log"
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the last of
# which is often an empty doc-test run).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
