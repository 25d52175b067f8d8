use gst::glib;
use gst::prelude::*;

mod imp;

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

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "portraitanimate",
        gst::Rank::NONE,
        PortraitAnimate::static_type(),
    )
}
