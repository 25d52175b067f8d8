use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceDetect(ObjectSubclass<imp::FaceDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Where inference runs (`device` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstPortraitDevice")]
pub enum DeviceProp {
    #[enum_value(
        name = "Auto: CUDA when usable, else CPU (with a warning saying why)",
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

/// Registers the element as `facedetect` and as `portraitfacedetect`. The plain name is shared
/// with another GStreamer plugin (gstreamer1.0-opencv); whichever plugin the registry scans
/// last owns it, so the prefixed name is the one that always means this element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    DeviceProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
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
