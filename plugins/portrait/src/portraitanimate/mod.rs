// SPDX-License-Identifier: MIT

//! `portraitanimate`: a portrait moved by the driving face's motion meta.
//!
//! Renders the `source` portrait (an image, or a video of up to 300 frames that loops) with
//! the head rotation, scale, position and expression of the first `MotionMeta` on each driving
//! frame (from `motionextract`, or from `lipsync` for a talking avatar). The default
//! `backend=mesh` is weight-free: it warps the portrait's 468-landmark mesh with the background
//! pinned, fills the mouth where it opens wider than the portrait's with the driving face's own
//! mouth interior (when the driving pixels show none, or a hand covers the driver's mouth: the
//! portrait's own interior under its upper lip and drawn teeth, cavity and tongue below) and paints
//! closing eyelids where the eyes shut. `backend=liveportrait` runs user-supplied
//! FasterLivePortrait ONNX files (`liveportrait-dir`; the driver's `motionextract` needs
//! `liveportrait-model=`) and pastes the rendered face back into the portrait. When the
//! driving frame has no face it holds the last pose for `hold-frames` frames, then eases back
//! to the neutral portrait. The portrait's landmarks are cached on disk; a new `source` set
//! while PLAYING is prepared in a background thread.
//!
//! Caps: `sink` is `video/x-raw` in RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420 or NV12 (the
//! driving video, any size); `src` is `video/x-raw` RGBA at the portrait's size (or
//! `width`/`height`; sides not set are made even, as encoders need) and the driving
//! video's frame rate.
//!
//! Properties: `source`, `backend`, `liveportrait-dir`, `width`, `height`, `hold-frames`,
//! `mouth-interior`, `fallback`, `fault-deadline`, `device`, `threads`, and the live ones
//! every video element has (`qos`, `degradation`, `stats-interval`, `stats`: see
//! [`crate::live`]).
//!
//! Faults: with `fallback=neutral` (default) or `hold`, a model run that fails or takes
//! longer than `fault-deadline` posts a warning and opens a circuit breaker: the
//! neutral portrait (or the last good face) is shown without trying the model for a
//! back-off of 1 s, doubling with each fault in a row up to 30 s; the first good run
//! after it posts an info message. The pipeline stays PLAYING. A new `source` that
//! cannot be prepared is rejected with a warning and the current one kept.
//!
//! ## Example launch line
//!
//! ```shell
//! gst-launch-1.0 filesrc location=drive.mp4 ! decodebin ! videoconvert ! facedetect interval=5 \
//!     ! motionextract ! portraitanimate source=avatar.png ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod portrait;

glib::wrapper! {
    pub struct PortraitAnimate(ObjectSubclass<imp::PortraitAnimate>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Rendering backend (`backend` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPortraitAnimateBackend")]
pub enum Backend {
    #[enum_value(name = "Mesh: weight-free landmark mesh warp", nick = "mesh")]
    Mesh = 0,
    #[enum_value(
        name = "LivePortrait: user-supplied FasterLivePortrait ONNX files (liveportrait-dir)",
        nick = "liveportrait"
    )]
    LivePortrait = 1,
}

/// What is shown when the driving motion cannot be rendered (`fallback` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPortraitAnimateFallback")]
pub enum Fallback {
    #[enum_value(
        name = "Neutral: the portrait at rest while the fault lasts; a lost driver eases back to it",
        nick = "neutral"
    )]
    Neutral = 0,
    #[enum_value(
        name = "Hold: the last good frame's face while the fault lasts; a lost driver's last pose is held",
        nick = "hold"
    )]
    Hold = 1,
    #[enum_value(name = "Error: a failed model run ends the stream", nick = "error")]
    Error = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "portraitanimate",
        gst::Rank::NONE,
        PortraitAnimate::static_type(),
    )
}
