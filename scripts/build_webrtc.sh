#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds GStreamer's Rust WebRTC plugin (webrtcsink, webrtcsrc, whipclientsink; crate
# gst-plugin-webrtc 0.15.4, not packaged by Debian 12) once into the asset cache, from
# the sha256-checked crate and the Cargo.lock it ships (--locked). Seconds when done.
# Features: WHIP and the built-in web server; rustls on ring rather than aws-lc-rs, which
# would add a C build (aws-lc-sys) for TLS we do not use on loopback.
# Called by setup.sh; writes $GST_PORTRAIT_CACHE_DIR/gst-plugins/libgstrswebrtc.so.
set -euo pipefail
source "$(dirname "$0")/env.sh"
VERSION=0.15.4
SHA256=109f4436f64ad986eac95b5a17995ea110d19bfad65b5b9cddca80af012b5e79
FEATURES=whip,web_server,rustls-ring
out="$GST_PORTRAIT_CACHE_DIR/gst-plugins"
stamp="$out/.rswebrtc-$VERSION-$FEATURES"
if [ -f "$stamp" ] && [ -f "$out/libgstrswebrtc.so" ]; then exit 0; fi
src="$GST_PORTRAIT_CACHE_DIR/sources/gst-plugin-webrtc-$VERSION"
crate="$GST_PORTRAIT_CACHE_DIR/sources/gst-plugin-webrtc-$VERSION.crate"
mkdir -p "$out" "$GST_PORTRAIT_CACHE_DIR/sources"
if [ ! -f "$src/Cargo.lock" ]; then
  curl -sSfL --retry 3 -o "$crate.part" \
    "https://static.crates.io/crates/gst-plugin-webrtc/gst-plugin-webrtc-$VERSION.crate"
  echo "$SHA256  $crate.part" | sha256sum -c --quiet
  mv "$crate.part" "$crate"
  tar -xzf "$crate" -C "$GST_PORTRAIT_CACHE_DIR/sources"
fi
echo "setup: building webrtcsink/whipclientsink (gst-plugin-webrtc $VERSION, once; minutes)"
# Its own target dir: the project's `cargo clean` must not cost this build again.
(cd "$src" && CARGO_TARGET_DIR="$src/target" cargo build --release --locked --lib \
  --no-default-features --features "$FEATURES")
cp "$src/target/release/libgstrswebrtc.so" "$out/libgstrswebrtc.so.part"
mv "$out/libgstrswebrtc.so.part" "$out/libgstrswebrtc.so"
# The build tree (~1 GB) is not needed once the library is out.
rm -rf "$src/target"
touch "$stamp"
