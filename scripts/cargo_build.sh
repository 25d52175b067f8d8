#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# meson helper: cargo-builds the plugin and copies it to meson's output path.
# Usage: cargo_build.sh SOURCE_ROOT TARGET_DIR (debug|release) OUTPUT
set -euo pipefail
src="$1"; target="$2"; profile="$3"; out="$4"
args=(build --manifest-path "$src/Cargo.toml" --target-dir "$target" -p gst-portrait)
[ "$profile" = release ] && args+=(--release)
cargo "${args[@]}"
cp "$target/$profile/libgstportrait.so" "$out"
