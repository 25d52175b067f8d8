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
