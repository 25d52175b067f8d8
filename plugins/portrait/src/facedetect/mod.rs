// SPDX-License-Identifier: MIT

//! `facedetect`: finds faces and attaches a face meta per face; pixels are untouched.
//!
//! Runs a face detector with ONNX Runtime (RetinaFace-MobileNet0.25 by default, or BlazeFace) and
//! attaches per face a typed `FaceMeta` (box, score, 5 landmarks, track id) and a standard
//! `GstVideoRegionOfInterestMeta` of type `face`, so elements and C or Python apps that do not know
//! our meta see the faces too. It works in place: the frame is never copied. With `interval=N` the
//! detector runs every N frames; the frames in between carry the last faces with `detected=false`,
//! for `motionextract` to follow (re-detections then use a cheaper model, `redetect-model`,
//! and behind a live source run on a thread of their own, `redetect-async`). At
//! the default `interval=1`, while faces are found, RetinaFace looks for them again only in the
//! region around them (`region-detect`), and searches the whole frame every 30 frames and
//! whenever one is missing there. Also registered as `portraitfacedetect`, a name that no other
//! plugin uses (gstreamer1.0-opencv has a `facedetect` too).
//!
//! Caps: `sink` and `src` are `video/x-raw` in RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420 or NV12, any
//! size, stride and frame rate; no `videoconvert` needed in front.
//!
//! Properties: `model`, `threshold`, `nms-threshold`, `max-faces`, `min-size`, `detection-size`,
//! `interval`, `redetect-model`, `redetect-async`, `region-detect`, `device`, `threads`, `post-messages`, `fallback` (skip|error), and the live ones every video element has
//! (`qos`, `degradation`, `stats-interval`, `stats`: see [`crate::live`]); degradation tier 1
//! and up detects 4× less often.
//!
//! ## Example launch line
//!
//! ```shell
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! facedetect interval=3 \
//!     ! faceoverlay ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

/// The `redetect-async` property: where `interval`'s re-detections run while faces are
/// tracked.
#[derive(Debug, Eq, PartialEq, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPortraitRedetectAsync")]
pub enum RedetectAsync {
    #[default]
    #[enum_value(name = "Auto: on when upstream is live", nick = "auto")]
    Auto = 0,
    #[enum_value(
        name = "On: on a thread of their own, the result the next frame's detection",
        nick = "on"
    )]
    On = 1,
    #[enum_value(
        name = "Off: in the streaming thread, on the frame itself",
        nick = "off"
    )]
    Off = 2,
}

glib::wrapper! {
    pub struct FaceDetect(ObjectSubclass<imp::FaceDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element as `facedetect` and as `portraitfacedetect`. The plain name is shared
/// with another GStreamer plugin (gstreamer1.0-opencv); whichever plugin the registry scans
/// last owns it, so the prefixed name is the one that always means this element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    for name in ["portraitfacedetect", "facedetect"] {
        gst::Element::register(
            Some(plugin),
            name,
            gst::Rank::NONE,
            FaceDetect::static_type(),
        )?;
    }
    Ok(())
}
