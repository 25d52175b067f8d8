//! `lipsync`: speech audio → mouth motion, by running time.
//!
//! Pads: `sink` (audio), `video_sink` (optional driving video with motion metas),
//! `src` (video with motion metas), `audio_src` (the audio, passed through for
//! muxing). With `video_sink` linked it dubs: each frame's mouth is replaced by the
//! one computed from the audio at that frame's running time. Without it, it makes the
//! frames itself at `framerate`, timestamped from the audio, with a speech-driven
//! mouth and idle blinks and head sway: `lipsync ! portraitanimate source=face.png`
//! is a talking avatar. Like a demuxer it pushes on two pads from one thread, so put
//! a `queue` on each branch that meets again (a muxer).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LipSync(ObjectSubclass<imp::LipSync>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "lipsync",
        gst::Rank::NONE,
        LipSync::static_type(),
    )
}
