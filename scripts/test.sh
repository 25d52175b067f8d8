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
cargo test --workspace "$@"
