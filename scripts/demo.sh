#!/usr/bin/env bash
# Sets everything up (idempotent), builds the plugin, and runs the demo on the
# built-in default models: face detection, dense landmarks and head-pose axes drawn
# over a real registry video, written to demo-out.mp4 (H.264).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release -p gst-portrait
portrait_plugin_path "$CARGO_TARGET_DIR/release"
export GST_REGISTRY="$XDG_CACHE_HOME/gst-registry-demo.bin"
OUT="${1:-demo-out.mp4}"
gst-launch-1.0 -e \
  filesrc location="$MEDIA/WolfgangLanger_Pexels.mp4" ! decodebin ! videoconvert \
  ! facedetect interval=3 ! motionextract ! faceoverlay ! videoconvert ! x264enc tune=zerolatency ! mp4mux \
  ! filesink location="$OUT"
echo "demo: wrote $OUT"
