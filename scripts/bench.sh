#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs benches/facedetect.rs: facedetect (Detector::detect and the element) next to
# the same ONNX model from Python onnxruntime, on the same real frames, in one run;
# then benches/motionextract.rs: the motion stage (FaceMesh + pose + expression, the
# library and the element) next to the same FaceMesh model from Python, and whole
# pipelines' frames/s; then benches/portraitanimate.rs: the animator alone and the live
# chain facedetect ! motionextract ! portraitanimate, per-frame latency and frames/s;
# then benches/lipsync.rs: 45 s of real speech rendered to a 512² talking-avatar H.264
# (wall time against the clip's duration, per stage and x264 preset) and, in a live
# pipeline, each frame's lateness against the latency lipsync reports; then
# benches/reenact.rs: self-reenactment (the portrait is frame k of a real video, driven by
# the same video), PSNR/SSIM of the face and mouth boxes against the real frames, next to
# the static frame k (REENACT_FRAMES per video, default 150); then benches/broadcast.rs:
# capture-to-receive latency of a live 640x480@25 chain over RTMP to a real nginx-rtmp
# and over WebRTC (webrtcsink) to the aiortc viewer, on 127.0.0.1, next to the same
# lines without the elements.
# Sets up (idempotently) the assets and a Python venv with numpy + onnxruntime 1.31.1
# in .cache/bench-venv. JSON on stdout (one document per bench) and in
# target/bench-<name>.json, tables on stderr. Extra arguments go to `cargo bench`.
# BENCHES (default "facedetect motionextract portraitanimate lipsync reenact broadcast")
# picks the benches,
# BENCH_FRAMES (frames per video, default 30; portraitanimate: 120) and BENCH_ROUNDS
# (passes over the frames, default 3) tune the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
source scripts/env.sh

VENV="$REPO/.cache/bench-venv"
ORT_VERSION=1.31.1
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" >&2; then
    # Debian's python3 ships venv without ensurepip unless python3-venv is installed.
    rm -rf "$VENV"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv >&2
    python3 -m venv "$VENV" >&2
  fi
fi
if ! "$VENV/bin/python" -c "import numpy, onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q numpy "onnxruntime==$ORT_VERSION" >&2
fi
export BENCH_PYTHON="$VENV/bin/python"

# Elements are registered in-process by the bench; keep its registry cache apart.
export GST_REGISTRY="$XDG_CACHE_HOME/gst-registry-bench.bin"
# webrtcsink (scripts/build_webrtc.sh) for benches/broadcast.rs.
export GST_PLUGIN_PATH="$GST_PORTRAIT_CACHE_DIR/gst-plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
BENCH_ARGS=()
for b in ${BENCHES:-facedetect motionextract portraitanimate lipsync reenact broadcast}; do BENCH_ARGS+=(--bench "$b"); done
cargo bench "${BENCH_ARGS[@]}" "$@"
