# SPDX-License-Identifier: MIT
# Sourced by the scripts: where the plugin, runtime and caches are.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GST_PORTRAIT_CACHE_DIR="${GST_PORTRAIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-portrait}"
# ONNX Runtime 1.31 writes under $XDG_CACHE_HOME: keep that inside the project.
export XDG_CACHE_HOME="$REPO/.cache/xdg"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
export MEDIA="$GST_PORTRAIT_CACHE_DIR/media"
mkdir -p "$XDG_CACHE_HOME"
# Put this project's plugin directory *last* in the system plugin path: for element
# names that another installed plugin also uses (facedetect: gstreamer1.0-opencv;
# faceoverlay: gstreamer1.0-plugins-bad), the plugin scanned last owns the name.
portrait_plugin_path() {
  local sys
  sys="$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/gstreamer-1.0)"
  # gst-plugins/: webrtcsink & co., built by scripts/build_webrtc.sh.
  export GST_PLUGIN_SYSTEM_PATH="$HOME/.local/share/gstreamer-1.0/plugins:$sys:$GST_PORTRAIT_CACHE_DIR/gst-plugins:$1"
}
