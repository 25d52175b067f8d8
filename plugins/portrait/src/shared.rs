// SPDX-License-Identifier: MIT

//! What the elements share: the `device` property, model loading at start (the
//! element error for a failed load, the warning when `device=auto` fell back to the
//! CPU) and MediaPipe's canonical face mesh. Elements import from here, never from
//! each other.

use gst::glib;
use gst::prelude::*;
use portrait_infer::{InferError, Loaded};

/// Where inference runs (`device` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPortraitDevice")]
pub enum DeviceProp {
    #[enum_value(
        name = "Auto: CUDA when usable, else CPU (a warning says why when a GPU is present but unusable)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu = 1,
    #[enum_value(name = "CUDA (error if unusable)", nick = "cuda")]
    Cuda = 2,
    #[enum_value(name = "TensorRT, then CUDA (error if unusable)", nick = "tensorrt")]
    TensorRt = 3,
}

impl From<DeviceProp> for portrait_infer::Device {
    fn from(d: DeviceProp) -> Self {
        match d {
            DeviceProp::Auto => portrait_infer::Device::Auto,
            DeviceProp::Cpu => portrait_infer::Device::Cpu,
            DeviceProp::Cuda => portrait_infer::Device::Cuda,
            DeviceProp::TensorRt => portrait_infer::Device::TensorRt,
        }
    }
}

/// The element error for a failed model load or run: `{what}: {error}`, with the
/// resource error kind that matches (missing file, unreadable model, settings).
pub fn infer_error(what: &str, e: InferError) -> gst::ErrorMessage {
    use InferError::*;
    let kind = match e {
        ModelMissing(_) => gst::ResourceError::NotFound,
        ModelInvalid(..) => gst::ResourceError::OpenRead,
        Runtime(_) | Device(_) => gst::ResourceError::Settings,
        Run(_) => gst::ResourceError::Failed,
    };
    gst::error_msg!(kind, ("{}: {}", what, e))
}

static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "gstportrait",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait shared element code"),
    )
});

/// A model loaded at an element's start: a failure becomes the element error for
/// `what` (e.g. "motionextract: landmark model"). A `device=auto` that fell back to
/// the CPU posts a warning saying why when the machine has a GPU it could not use;
/// without any GPU, running on the CPU is what `auto` means: an INFO log line.
pub fn load_model<T>(
    element: &impl IsA<gst::Element>,
    what: &str,
    loaded: Result<Loaded<T>, InferError>,
) -> Result<T, gst::ErrorMessage> {
    let loaded = loaded.map_err(|e| infer_error(what, e))?;
    if let Some(why) = &loaded.fallback {
        if portrait_infer::gpu_present() {
            gst::element_warning!(
                element,
                gst::ResourceError::Settings,
                ("{}: device=auto is running on CPU: {}", what, why)
            );
        } else {
            gst::info!(
                CAT,
                obj = element,
                "{}: device=auto runs on the CPU: {}",
                what,
                why
            );
        }
    }
    Ok(loaded.model)
}

/// MediaPipe's canonical face mesh from the models directory, or `element`'s error.
pub fn canonical_mesh(
    element: &str,
) -> Result<portrait_vision::mesh::CanonicalMesh, gst::ErrorMessage> {
    crate::landmarker::canonical_mesh().map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::NotFound,
            (
                "{}: canonical face mesh unavailable ({}); run scripts/setup.sh",
                element,
                e
            )
        )
    })
}

/// Marks the shared types for the plugin's documentation.
pub fn register_types() {
    #[cfg(feature = "doc")]
    DeviceProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
}
