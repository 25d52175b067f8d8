//! Pure-Rust vision math of gst-portrait: no GStreamer here, so every piece is unit
//! tested on its own. Elements wire these to buffers and metas.

pub mod detect;
pub mod draw;
pub mod expression;
pub mod face_rig;
pub mod frame;
pub mod liveportrait;
pub mod mesh;
pub mod one_euro;
pub mod pose;
pub mod resample;
pub mod speech;
pub mod track;
pub mod transfer;
pub mod warp;

pub use frame::{FrameMut, FrameRef, PixelFormat, Plane};
