use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceOverlay(ObjectSubclass<imp::FaceOverlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element as `faceoverlay` and as `portraitfaceoverlay`. The plain name is shared
/// with another GStreamer plugin (gstreamer1.0-plugins-bad); whichever plugin the registry scans
/// last owns it, so the prefixed name is the one that always means this element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    for name in ["portraitfaceoverlay", "faceoverlay"] {
        gst::Element::register(
            Some(plugin),
            name,
            gst::Rank::NONE,
            FaceOverlay::static_type(),
        )?;
    }
    Ok(())
}
