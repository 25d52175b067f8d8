#!/usr/bin/env bash
# Sets everything up (idempotent), builds, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
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
