use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PortraitAnimate(ObjectSubclass<imp::PortraitAnimate>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "portraitanimate",
        gst::Rank::NONE,
        PortraitAnimate::static_type(),
    )
}
