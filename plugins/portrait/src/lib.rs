// SPDX-License-Identifier: MIT

//! gst-portrait: real-time portrait animation and lip-sync elements for GStreamer.
//!
//! The plugin `portrait` holds every element. Element folders (mod.rs + imp.rs) are
//! GStreamer wiring only; the library modules below hold the per-frame work and are
//! called by the elements, the tests and the benchmarks alike. The pure math lives in
//! `portrait-vision`, the ONNX Runtime sessions in `portrait-infer`. Elements share
//! through [`shared`] and never import each other.
#![allow(clippy::non_send_fields_in_send_ty)]

use gst::glib;

// Library modules.
pub mod avatar;
pub mod detector;
pub mod face_motion;
pub mod landmarker;
pub mod live;
pub mod liveportrait_onnx;
pub mod metas;
pub mod shared;
pub mod speech_engine;
pub mod telemetry;
pub mod video;

// Elements (public for their documentation and types; apps make them by name).
pub mod facedetect;
pub mod faceoverlay;
pub mod lipsync;
pub mod motionextract;
pub mod portraitanimate;

pub use portrait_infer::{self as infer, Device};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst_portrait_meta::register();
    shared::register_types();
    facedetect::register(plugin)?;
    faceoverlay::register(plugin)?;
    motionextract::register(plugin)?;
    portraitanimate::register(plugin)?;
    lipsync::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    portrait,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // GStreamer's name for the MIT licence (LICENSE).
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // No public repository yet: GStreamer's own default origin.
    "Unknown package origin",
    env!("BUILD_REL_DATE")
);
