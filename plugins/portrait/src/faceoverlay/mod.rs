// SPDX-License-Identifier: MIT

//! `faceoverlay`: draws what the face and motion metas say onto the video.
//!
//! Draws, in place, the faces of each `FaceMeta` (from `facedetect`: boxes, green where the
//! detector ran on this frame and orange where the face was carried over, the five landmarks, track
//! ids and scores) and of each `MotionMeta` (from `motionextract`: the dense landmarks as points
//! and the head-pose axes from the nose tip). It is the way to see what the other elements found; a
//! frame without metas passes untouched. Also registered as `portraitfaceoverlay`, a name that no
//! other plugin uses (gstreamer1.0-plugins-bad has a `faceoverlay` too).
//!
//! Caps: `sink` and `src` are `video/x-raw` in RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420 or NV12, any
//! size, stride and frame rate.
//!
//! Properties: `draw-boxes`, `draw-landmarks`, `draw-labels`, `draw-mesh`, `draw-pose`,
//! `line-width`.
//!
//! ## Example launch line
//!
//! ```shell
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! facedetect \
//!     ! faceoverlay ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceOverlay(ObjectSubclass<imp::FaceOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element as `faceoverlay` and as `portraitfaceoverlay`. The plain name is shared
/// with another GStreamer plugin (gstreamer1.0-plugins-bad); whichever plugin the registry scans
/// last owns it, so the prefixed name is the one that always means this element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    for name in ["portraitfaceoverlay", "faceoverlay"] {
        gst::Element::register(
            Some(plugin),
            name,
            gst::Rank::NONE,
            FaceOverlay::static_type(),
        )?;
    }
    Ok(())
}
