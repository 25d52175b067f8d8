//! gst-portrait: real-time portrait animation and lip-sync elements for GStreamer.
//!
//! The plugin `portrait` holds every element; element folders hold only GStreamer
//! glue (mod.rs + imp.rs), the math lives in `portrait-vision` and the inference in
//! `portrait-infer`.
#![allow(clippy::non_send_fields_in_send_ty)]

use gst::glib;

pub mod detector;
mod facedetect;
mod faceoverlay;
pub mod landmarker;
mod lipsync;
pub mod liveportrait;
mod metas;
mod motionextract;
mod portraitanimate;
pub mod source;
pub mod speech;
pub mod video;

pub use portrait_infer::{self as infer, Device};

/// File of MediaPipe's canonical face mesh in the models directory.
pub const CANONICAL_MESH: &str = "canonical_face_mesh.binarypb";

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst_portrait_meta::register();
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
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
