// SPDX-License-Identifier: MIT

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
//!
//! Weight-free by default: Silero VAD gates the speech, the mouth opens with the
//! voice-band level and the first formant, spreads or rounds with the second, and closes
//! on /p b m/, smoothed with a look-ahead that it reports as latency. `audio-model=` plugs
//! in a neural audio-to-mouth ONNX model instead.
//!
//! Caps: `sink` and `audio_src` are `audio/x-raw`, F32LE or S16LE, interleaved, any rate,
//! 1 to 64 channels (put `audioconvert ! audioresample` in front for anything else);
//! `video_sink` and `src` are `video/x-raw` in RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420 or NV12.
//! Avatar frames are black, `width`×`height` at `framerate`, each carrying the motion meta.
//!
//! Properties: `framerate`, `width`, `height`, `lookahead`, `smoothing`, `max-open`,
//! `idle-motion`, `seed`, `vad`, `audio-model`, `device`, `threads`.
//!
//! ## Example launch line
//!
//! A talking avatar from one portrait and a WAV, the audio muxed back in (`x264enc` holds
//! about 1.6 s of frames, so the audio queue gets room):
//!
//! ```shell
//! gst-launch-1.0 filesrc location=speech.wav ! wavparse ! audioconvert ! audioresample \
//!     ! lipsync name=l ! queue ! portraitanimate source=avatar.png ! videoconvert ! x264enc \
//!     ! mp4mux name=m ! filesink location=talking.mp4 \
//!     l.audio_src ! queue max-size-time=5000000000 max-size-bytes=0 max-size-buffers=0 \
//!     ! audioconvert ! avenc_aac ! m.
//! ```

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
