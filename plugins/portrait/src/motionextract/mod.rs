// SPDX-License-Identifier: MIT

//! `motionextract`: head pose and expression of each detected face, as a motion meta.
//!
//! For each `FaceMeta` on a frame (from `facedetect`) it finds the 468 MediaPipe FaceMesh
//! landmarks on a roll-aligned crop (lips and eyelids refined by MediaPipe's attention mesh,
//! or the eyelids by its Iris eye-contour model for a custom `model`),
//! smooths them with a One-Euro filter, fits MediaPipe's canonical face mesh for the head pose
//! (pitch, yaw, roll, position, scale) and derives the expression (mouth open/width, eye
//! blinks, brows, LivePortrait-style lip/eye ratios, 468 pose-free offsets). It attaches one
//! `MotionMeta` per face with the landmarks, the pose, the pose relative to the face's
//! reference frame, the expression and the offsets; pixels are untouched. Between detections
//! (`facedetect interval=N`) it follows the faces with its own landmarks. With
//! `liveportrait-model=` each meta also carries the implicit keypoints of a user-supplied
//! LivePortrait motion extractor.
//!
//! Caps: `sink` and `src` are `video/x-raw` in RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420 or NV12,
//! any size, stride and frame rate.
//!
//! Properties: `model`, `liveportrait-model`, `refine-eyes`, `presence-threshold`,
//! `smoothing`, `min-cutoff`, `beta`, `reset-reference` (also an action signal), `device`,
//! `threads`, `post-messages`, `fallback` (skip|error: what a failed model run does).
//! The live ones every video element has: `qos`, `degradation`, `stats-interval`, `stats`
//! (see [`crate::live`]); degradation tier 2 and up skips the eye refinement.
//!
//! ## Example launch line
//!
//! ```shell
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! facedetect interval=5 \
//!     ! motionextract post-messages=true ! faceoverlay ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct MotionExtract(ObjectSubclass<imp::MotionExtract>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "motionextract",
        gst::Rank::NONE,
        MotionExtract::static_type(),
    )
}
