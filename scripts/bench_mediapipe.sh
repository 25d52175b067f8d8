#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Face tracking next to MediaPipe 0.10.21 on the same frames (scripts/bench_mediapipe.py):
# sets up (idempotently) the assets, a release build of the plugin and a Python venv
# with mediapipe==0.10.21 in .cache/mp-venv, then runs it. Table on stderr, JSON on
# stdout and in target/bench-mediapipe.json. Extra arguments go to the script
# (--frames N, --reps R, --only TEXT, --cores "0;0,1").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
source scripts/env.sh
VENV="$REPO/.cache/mp-venv"
if ! "$VENV/bin/python" -c "import mediapipe, sys; sys.exit(mediapipe.__version__ != '0.10.21')" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install -q "mediapipe==0.10.21" >&2
fi
cargo build --release -p gst-portrait >&2
portrait_plugin_path "$CARGO_TARGET_DIR/release"
export GST_REGISTRY="$XDG_CACHE_HOME/gst-registry-bench.bin"
"$VENV/bin/python" scripts/bench_mediapipe.py "$MEDIA" --json "$CARGO_TARGET_DIR/bench-mediapipe.json" "$@"
