// SPDX-License-Identifier: MIT

//! `lipsync` glue: pads, events, running time, frames. The audio analysis lives in
//! `crate::speech_engine` / `portrait_vision::speech`, the face rig in
//! `portrait_vision::face_rig`.

use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_portrait_meta::MotionMeta;
use gst_video::prelude::*;
use portrait_vision::speech::{EnergyVad, MouthParams, Vad};

use crate::avatar::Avatar;
use crate::shared::{self, DeviceProp};
use crate::speech_engine::{
    AudioModel, Engine, EngineParams, SILERO_VAD, SampleFormat, SileroVad, decode_pcm,
};
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "lipsync",
        gst::DebugColorFlags::empty(),
        Some("Speech-driven mouth motion"),
    )
});

const DEFAULT_SIZE: u32 = 512;
const DEFAULT_LOOKAHEAD_MS: u32 = 60;
const DEFAULT_SMOOTHING_MS: u32 = 30;
/// How long a waiting video frame sleeps before it looks again at the flags (a
/// safety net: every change notifies the condition variable).
const WAIT_SLICE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
struct Settings {
    framerate: gst::Fraction,
    width: u32,
    height: u32,
    lookahead_ms: u32,
    smoothing_ms: u32,
    max_open: f64,
    idle_motion: bool,
    seed: u64,
    vad: bool,
    audio_model: Option<String>,
    device: DeviceProp,
    threads: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            framerate: gst::Fraction::new(25, 1),
            width: DEFAULT_SIZE,
            height: DEFAULT_SIZE,
            lookahead_ms: DEFAULT_LOOKAHEAD_MS,
            smoothing_ms: DEFAULT_SMOOTHING_MS,
            max_open: MouthParams::default().max_open as f64,
            idle_motion: true,
            seed: 0,
            vad: true,
            audio_model: None,
            device: DeviceProp::Auto,
            threads: 1,
        }
    }
}

impl Settings {
    fn engine_params(&self) -> EngineParams {
        EngineParams {
            smoothing: self.smoothing_ms as f64 / 1000.0,
            lookahead: self.lookahead_ms as f64 / 1000.0,
            mouth: MouthParams {
                max_open: self.max_open as f32,
                ..Default::default()
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No data yet.
    Undecided,
    /// A driving video comes in on `video_sink`: its mouths are replaced.
    Dub,
    /// No video in: the frames are made here.
    Avatar,
}

/// What the audio thread pushes on `src` once the state lock is released.
enum Out {
    Event(gst::Event),
    Buffer(gst::Buffer),
}

struct State {
    engine: Engine,
    face: Avatar,
    mode: Mode,
    format: Option<(SampleFormat, u32, usize)>,
    audio_segment: gst::FormattedSegment<gst::ClockTime>,
    video_segment: gst::FormattedSegment<gst::ClockTime>,
    audio_eos: bool,
    video_flushing: bool,
    /// Interleaved f32 samples of the current buffer (reused).
    samples: Vec<f32>,
    // Avatar frames.
    video_info: Option<gst_video::VideoInfo>,
    blank: Option<gst::Buffer>,
    stream_start: Option<gst::Event>,
    need_segment: bool,
    frame_base: Option<gst::ClockTime>,
    frame_index: u64,
    audio_end: Option<gst::ClockTime>,
    warned_video: bool,
    last_seek: Option<gst::Seqnum>,
}

pub struct LipSync {
    audio_sink: gst::Pad,
    video_sink: gst::Pad,
    src: gst::Pad,
    audio_src: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    cond: Condvar,
    flow: Mutex<gst_base::UniqueFlowCombiner>,
}

fn audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", gst::List::new(["F32LE", "S16LE"]))
        .field("layout", "interleaved")
        .field("rate", gst::IntRange::new(1, i32::MAX))
        .field("channels", gst::IntRange::new(1, 64))
        .build()
}

impl LipSync {
    fn lock_state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn prepare(&self) -> Result<State, gst::ErrorMessage> {
        let s = self.settings();
        let threads = s.threads as usize;
        let model = match &s.audio_model {
            Some(p) => Some(shared::load_model(
                &*self.obj(),
                "lipsync: audio-model",
                AudioModel::load(std::path::Path::new(p), s.device.into(), threads),
            )?),
            None => None,
        };
        let vad: Box<dyn Vad + Send> = if s.vad && model.is_none() {
            let p = portrait_infer::models_dir().join(SILERO_VAD);
            Box::new(
                SileroVad::load(&p, 1)
                    .map_err(|e| shared::infer_error("lipsync: Silero VAD (vad=true)", e))?,
            )
        } else {
            Box::new(EnergyVad)
        };
        let mesh = shared::canonical_mesh("lipsync")?;
        let face = Avatar::new(mesh, s.seed).ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::Failed,
                ("lipsync: the canonical face mesh has too few vertices")
            )
        })?;
        let engine = Engine::new(&s.engine_params(), vad, model);
        Ok(State {
            engine,
            face,
            mode: Mode::Undecided,
            format: None,
            audio_segment: gst::FormattedSegment::new(),
            video_segment: gst::FormattedSegment::new(),
            audio_eos: false,
            video_flushing: false,
            samples: Vec::new(),
            video_info: None,
            blank: None,
            stream_start: None,
            need_segment: true,
            frame_base: None,
            frame_index: 0,
            audio_end: None,
            warned_video: false,
            last_seek: None,
        })
    }

    /// Dub or avatar, decided by the first data: avatar when nothing is linked to
    /// `video_sink`.
    fn decide(&self, st: &mut State) -> Mode {
        if st.mode == Mode::Undecided {
            st.mode = if self.video_sink.is_linked() {
                Mode::Dub
            } else {
                Mode::Avatar
            };
            gst::info!(CAT, imp = self, "mode {:?}", st.mode);
        }
        st.mode
    }

    fn post_engine_error(&self, st: &mut State) {
        if let Some(e) = st.engine.take_error() {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                ("lipsync: {}; the mouth follows the signal without it", e)
            );
        }
    }

    // ---- audio ---------------------------------------------------------------

    fn audio_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.decide_now() == Mode::Avatar {
            self.negotiate_video()?;
        }
        let mut out = Vec::new();
        {
            let mut guard = self.lock_state();
            let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let Some((fmt, rate, channels)) = st.format else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("lipsync: audio buffer before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            let bytes = map.as_slice();
            decode_pcm(bytes, fmt, &mut st.samples);
            // Whole frames only.
            let n = st.samples.len() / channels * channels;
            st.samples.truncate(n);
            let rt = buffer
                .pts()
                .and_then(|p| st.audio_segment.to_running_time(p))
                .map(|t| t.nseconds());
            let discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
            if st.frame_base.is_none() {
                let start = st.audio_segment.start();
                st.frame_base = buffer
                    .pts()
                    .map(|p| start.map_or(p, |s| p.max(s)))
                    .or(start);
            }
            let samples = std::mem::take(&mut st.samples);
            st.engine.push(rt, &samples, discont);
            st.samples = samples;
            // Untimestamped buffers follow on from the previous end.
            if let Some(pts) = buffer.pts().or(st.audio_end).or(st.frame_base) {
                let dur = buffer.duration().unwrap_or_else(|| {
                    gst::ClockTime::SECOND
                        .mul_div_floor((n / channels) as u64, rate as u64)
                        .unwrap_or(gst::ClockTime::ZERO)
                });
                let end = pts + dur;
                st.audio_end = Some(st.audio_end.map_or(end, |e| e.max(end)));
            }
            self.post_engine_error(st);
            if st.mode == Mode::Avatar {
                self.make_frames(st, false, &mut out);
            }
            drop(map);
            self.cond.notify_all();
        }
        // Audio first: a sink on the audio branch can then preroll even when this
        // thread then blocks in the video sink's preroll (the audio branch needs a
        // queue for that, as after any demuxer).
        let audio = self.audio_src.push(buffer);
        let video = self.push_out(out);
        let mut flow = self.flow.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = video {
            flow.update_pad_flow(&self.src, v)?;
        }
        flow.update_pad_flow(&self.audio_src, audio)
    }

    fn decide_now(&self) -> Mode {
        match self.lock_state().as_mut() {
            Some(st) => self.decide(st),
            None => Mode::Undecided,
        }
    }

    /// Pushes what the audio thread made for `src`; the last buffer flow, if any.
    fn push_out(&self, out: Vec<Out>) -> Option<Result<gst::FlowSuccess, gst::FlowError>> {
        let mut flow = None;
        for o in out {
            match o {
                Out::Event(e) => {
                    self.src.push_event(e);
                }
                Out::Buffer(b) => {
                    let r = self.src.push(b);
                    flow = Some(r);
                    if matches!(r, Err(e) if e != gst::FlowError::NotLinked) {
                        break;
                    }
                }
            }
        }
        flow
    }

    /// Fixes the avatar frames' caps with downstream (no lock held: downstream may
    /// query back).
    fn negotiate_video(&self) -> Result<(), gst::FlowError> {
        if self
            .lock_state()
            .as_ref()
            .is_none_or(|st| st.video_info.is_some())
        {
            return Ok(());
        }
        let ours = self.avatar_caps();
        let caps = match self.src.peer() {
            Some(peer) => peer.query_caps(Some(&ours)),
            None => ours.clone(),
        };
        if caps.is_empty() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "lipsync: downstream accepts none of {} (set width/height/framerate to what it takes)",
                    ours
                )
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        let mut caps = caps;
        caps.fixate();
        let info =
            gst_video::VideoInfo::from_caps(&caps).map_err(|_| gst::FlowError::NotNegotiated)?;
        let blank = blank_frame(&info).ok_or(gst::FlowError::Error)?;
        if let Some(st) = self.lock_state().as_mut() {
            st.video_info = Some(info);
            st.blank = Some(blank);
        }
        Ok(())
    }

    fn avatar_caps(&self) -> gst::Caps {
        let s = self.settings();
        gst_video::VideoCapsBuilder::new()
            .format_list(video::FORMATS)
            .width(s.width as i32)
            .height(s.height as i32)
            .framerate(s.framerate)
            .pixel_aspect_ratio(gst::Fraction::new(1, 1))
            .build()
    }

    /// Avatar frames whose mouth is final (all remaining ones at `eos`), with the
    /// events that must precede them.
    fn make_frames(&self, st: &mut State, eos: bool, out: &mut Vec<Out>) {
        let (Some(info), Some(blank)) = (st.video_info.clone(), st.blank.clone()) else {
            return;
        };
        let Some(first) = st.frame_base else {
            return;
        };
        let fps = info.fps();
        if fps.numer() <= 0 || fps.denom() <= 0 {
            return;
        }
        let (num, den) = (fps.numer() as u64, fps.denom() as u64);
        if let Some(e) = st.stream_start.take() {
            out.push(Out::Event(e));
            if let Ok(caps) = info.to_caps() {
                out.push(Out::Event(gst::event::Caps::new(&caps)));
            }
        }
        if st.need_segment {
            st.need_segment = false;
            out.push(Out::Event(gst::event::Segment::new(&st.audio_segment)));
        }
        // Only the one flag that may change while playing (no settings clone per buffer).
        let idle_motion = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .idle_motion;
        let (w, h) = (info.width() as f32, info.height() as f32);
        loop {
            let k = st.frame_index;
            let Some(offset) = (k * den).mul_div_floor(*gst::ClockTime::SECOND, num) else {
                break;
            };
            let pts = first + gst::ClockTime::from_nseconds(offset);
            if st.audio_end.is_none_or(|end| pts >= end) && eos {
                break;
            }
            if st.audio_segment.stop().is_some_and(|stop| pts >= stop) {
                break;
            }
            let Some(rt) = st.audio_segment.to_running_time(pts) else {
                st.frame_index += 1;
                continue;
            };
            if !eos && !st.engine.ready(rt.nseconds()) {
                break;
            }
            let mouth = st.engine.mouth_at(rt.nseconds());
            let motion = st.face.motion(idle_motion, rt.seconds_f64(), mouth, w, h);
            let mut buf = blank.copy();
            {
                let b = buf.make_mut();
                b.set_pts(pts);
                let next = (k + 1)
                    .mul_div_floor(den * *gst::ClockTime::SECOND, num)
                    .unwrap_or(offset);
                b.set_duration(gst::ClockTime::from_nseconds(next.saturating_sub(offset)));
                b.set_offset(k);
                if k == 0 {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
                MotionMeta::add(b, motion);
            }
            out.push(Out::Buffer(buf));
            st.frame_index += 1;
        }
    }

    fn audio_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::StreamStart(e) => {
                if let Some(st) = self.lock_state().as_mut() {
                    // The made video is a stream of its own, derived from the audio's.
                    let id = format!("{}/lipsync-video", e.stream_id());
                    st.stream_start = Some(
                        gst::event::StreamStart::builder(id.as_str())
                            .group_id(gst::GroupId::next())
                            .build(),
                    );
                    st.audio_eos = false;
                }
                self.audio_src.push_event(event)
            }
            EventView::Caps(c) => {
                let s = c.caps().structure(0);
                let parsed = s.and_then(|s| {
                    let fmt = match s.get::<&str>("format").ok()? {
                        "F32LE" => SampleFormat::F32,
                        "S16LE" => SampleFormat::S16,
                        _ => return None,
                    };
                    let rate = s.get::<i32>("rate").ok().filter(|r| *r > 0)? as u32;
                    let ch = s.get::<i32>("channels").ok().filter(|c| *c > 0)? as usize;
                    Some((fmt, rate, ch))
                });
                let Some((fmt, rate, ch)) = parsed else {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ("lipsync: unsupported audio caps {}", c.caps())
                    );
                    return false;
                };
                if let Some(st) = self.lock_state().as_mut()
                    && st.format != Some((fmt, rate, ch))
                {
                    st.engine.set_format(rate, ch);
                    st.format = Some((fmt, rate, ch));
                }
                self.audio_src.push_event(event)
            }
            EventView::Segment(e) => {
                let Ok(seg) = e.segment().clone().downcast::<gst::ClockTime>() else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("lipsync: audio segment not in TIME format")
                    );
                    return false;
                };
                if let Some(st) = self.lock_state().as_mut() {
                    st.audio_segment = seg;
                    st.need_segment = true;
                    st.frame_base = None;
                    st.frame_index = 0;
                }
                self.audio_src.push_event(event)
            }
            EventView::Gap(g) => {
                // A gap is silence: its time passes for the mouth too.
                let (ts, dur) = g.get();
                let mut out = Vec::new();
                if let Some(st) = self.lock_state().as_mut()
                    && let Some((_, rate, ch)) = st.format
                {
                    let rt = st.audio_segment.to_running_time(ts).map(|t| t.nseconds());
                    let secs = dur.map_or(0.0, |d| d.seconds_f64()).min(10.0);
                    let n = (secs * rate as f64) as usize * ch;
                    st.samples.clear();
                    st.samples.resize(n, 0.0);
                    let samples = std::mem::take(&mut st.samples);
                    st.engine.push(rt, &samples, true);
                    st.samples = samples;
                    if st.frame_base.is_none() {
                        st.frame_base = Some(ts.max(st.audio_segment.start().unwrap_or(ts)));
                    }
                    if let Some(d) = dur {
                        st.audio_end = Some(st.audio_end.map_or(ts + d, |e| e.max(ts + d)));
                    }
                    if st.mode == Mode::Avatar {
                        self.make_frames(st, false, &mut out);
                    }
                }
                self.cond.notify_all();
                let audio = self.audio_src.push_event(event);
                self.push_out(out);
                audio
            }
            EventView::Eos(_) => {
                let mode = self.decide_now();
                if mode == Mode::Avatar {
                    let _ = self.negotiate_video();
                }
                let mut out = Vec::new();
                if let Some(st) = self.lock_state().as_mut() {
                    st.engine.finish();
                    st.audio_eos = true;
                    if mode == Mode::Avatar {
                        self.make_frames(st, true, &mut out);
                        // Zero-length audio: the stream still starts and ends.
                        if let Some(e) = st.stream_start.take() {
                            out.insert(0, Out::Event(e));
                        }
                    }
                }
                self.cond.notify_all();
                let audio = self.audio_src.push_event(event.clone());
                self.push_out(out);
                if mode == Mode::Avatar {
                    self.src.push_event(event);
                }
                audio
            }
            EventView::FlushStart(_) => {
                let avatar = self
                    .lock_state()
                    .as_ref()
                    .is_some_and(|st| st.mode == Mode::Avatar);
                self.cond.notify_all();
                if avatar {
                    self.src.push_event(event.clone());
                }
                self.audio_src.push_event(event)
            }
            EventView::FlushStop(_) => {
                let mut avatar = false;
                if let Some(st) = self.lock_state().as_mut() {
                    st.engine.reset();
                    st.audio_eos = false;
                    st.frame_base = None;
                    st.frame_index = 0;
                    st.audio_end = None;
                    st.need_segment = true;
                    avatar = st.mode == Mode::Avatar;
                }
                self.flow.lock().unwrap_or_else(|e| e.into_inner()).reset();
                if avatar {
                    self.src.push_event(event.clone());
                }
                self.audio_src.push_event(event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    // ---- video (dubbing) -----------------------------------------------------

    fn video_chain(&self, mut buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let has_motion = buffer.meta::<MotionMeta>().is_some();
        let mut edit = None;
        {
            let mut guard = self.lock_state();
            let Some(st) = guard.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            if st.mode == Mode::Avatar {
                if !st.warned_video {
                    st.warned_video = true;
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Failed,
                        ("lipsync: video arrived after the audio started without it; making the frames from the audio and dropping this video")
                    );
                }
                return Ok(gst::FlowSuccess::Ok);
            }
            st.mode = Mode::Dub;
            let rt = buffer
                .pts()
                .and_then(|p| st.video_segment.to_running_time(p))
                .map(|t| t.nseconds());
            if let (true, Some(rt)) = (has_motion, rt) {
                // Wait until the audio has reached this frame's look-ahead (or ends).
                loop {
                    let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
                    if st.video_flushing {
                        return Err(gst::FlowError::Flushing);
                    }
                    let audio_live = self.audio_sink.is_linked() && !st.audio_eos;
                    if st.engine.ready(rt) || !audio_live {
                        if st.engine.has_audio() {
                            let m = st.engine.mouth_at(rt);
                            edit = Some((m, st.face.dub()));
                        }
                        break;
                    }
                    guard = self
                        .cond
                        .wait_timeout(guard, WAIT_SLICE)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        if let Some((m, dub)) = edit {
            let b = buffer.make_mut();
            for mut meta in b.iter_meta_mut::<MotionMeta>() {
                dub.apply(meta.motion_mut(), &m);
            }
        }
        let r = self.src.push(buffer);
        self.flow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update_pad_flow(&self.src, r)
    }

    fn video_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        let avatar = {
            let mut guard = self.lock_state();
            match guard.as_mut() {
                Some(st) => {
                    match event.view() {
                        EventView::Segment(e) => {
                            if let Ok(seg) = e.segment().clone().downcast::<gst::ClockTime>() {
                                st.video_segment = seg;
                            }
                        }
                        EventView::FlushStart(_) => st.video_flushing = true,
                        EventView::FlushStop(_) => st.video_flushing = false,
                        _ => {}
                    }
                    if st.mode == Mode::Undecided && event.is_serialized() {
                        st.mode = Mode::Dub;
                    }
                    st.mode == Mode::Avatar
                }
                None => false,
            }
        };
        self.cond.notify_all();
        if avatar {
            // The frames come from the audio; this input is ignored.
            return true;
        }
        if let EventView::Caps(_) = event.view() {
            // The default handler forwards caps only for proxy-caps pads.
            return self.src.push_event(event);
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    // ---- queries and upstream events -----------------------------------------

    /// True when the frames come from `video_sink` (or will: it is linked and the
    /// audio has not started the avatar).
    fn dubbing(&self) -> bool {
        self.video_sink.is_linked()
            && self
                .lock_state()
                .as_ref()
                .is_none_or(|st| st.mode != Mode::Avatar)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        use gst::QueryViewMut;
        let dub = self.dubbing();
        match query.view_mut() {
            QueryViewMut::Latency(q) => {
                let upstream = if dub {
                    &self.video_sink
                } else {
                    &self.audio_sink
                };
                let mut uq = gst::query::Latency::new();
                let (live, min, max) = if upstream.peer_query(&mut uq) {
                    uq.result()
                } else {
                    (false, gst::ClockTime::ZERO, gst::ClockTime::NONE)
                };
                let lookahead = self.settings().engine_params().lookahead;
                let ours =
                    gst::ClockTime::from_nseconds(crate::speech_engine::latency_ns(lookahead));
                gst::debug!(CAT, imp = self, "latency: upstream {min} + ours {ours}");
                q.set(live, min + ours, max.map(|m| m + ours));
                true
            }
            QueryViewMut::Caps(q) => {
                let caps = if dub {
                    caps_through(q, &video::raw_caps(), &self.video_sink)
                } else {
                    let ours = self.avatar_caps();
                    match q.filter() {
                        Some(f) => f.intersect(&ours),
                        None => ours,
                    }
                };
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_event(&self, event: gst::Event) -> bool {
        let dub = self.dubbing();
        if dub {
            self.video_sink.push_event(event)
        } else {
            self.audio_upstream(event)
        }
    }

    /// Sends an upstream event to the audio, once per seek (both src pads send it).
    fn audio_upstream(&self, event: gst::Event) -> bool {
        if let gst::EventView::Seek(_) = event.view()
            && let Some(st) = self.lock_state().as_mut()
        {
            if st.last_seek == Some(event.seqnum()) {
                return true;
            }
            st.last_seek = Some(event.seqnum());
        }
        self.audio_sink.push_event(event)
    }

    fn audio_sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            let caps = caps_through(q, &audio_caps(), &self.audio_src);
            q.set_result(&caps);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn video_sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            let caps = caps_through(q, &video::raw_caps(), &self.src);
            q.set_result(&caps);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn internal_links(&self, pad: &gst::Pad) -> gst::Iterator<gst::Pad> {
        let dub = self.video_sink.is_linked();
        // The audio's own events (tags...) go to audio_src only: the made video has
        // its own stream.
        let other = if pad == &self.audio_sink {
            vec![self.audio_src.clone()]
        } else if pad == &self.audio_src {
            vec![self.audio_sink.clone()]
        } else if pad == &self.video_sink {
            vec![self.src.clone()]
        } else if dub {
            vec![self.video_sink.clone()]
        } else {
            vec![self.audio_sink.clone()]
        };
        gst::Iterator::from_vec(other)
    }
}

/// Caps for a caps query on a pad whose data passes to `other`: the query's filter
/// and `template`, narrowed by what `other`'s peer takes when it is linked.
fn caps_through(q: &gst::query::Caps, template: &gst::Caps, other: &gst::Pad) -> gst::Caps {
    let ours = match q.filter() {
        Some(f) => f.intersect(template),
        None => template.clone(),
    };
    if other.is_linked() {
        other.peer_query_caps(Some(&ours)).intersect(template)
    } else {
        ours
    }
}

/// A black frame of `info` (Y 16, chroma 128 for YUV; opaque alpha).
fn blank_frame(info: &gst_video::VideoInfo) -> Option<gst::Buffer> {
    use gst_video::VideoFormat::*;
    let buf = gst::Buffer::with_size(info.size()).ok()?;
    let mut frame = gst_video::VideoFrame::from_buffer_writable(buf, info).ok()?;
    match info.format() {
        I420 | Nv12 => {
            frame.plane_data_mut(0).ok()?.fill(16);
            for p in 1..frame.n_planes() {
                frame.plane_data_mut(p).ok()?.fill(128);
            }
        }
        Rgba | Bgra => {
            for px in frame.plane_data_mut(0).ok()?.chunks_exact_mut(4) {
                px.copy_from_slice(&[0, 0, 0, 255]);
            }
        }
        _ => frame.plane_data_mut(0).ok()?.fill(0),
    }
    Some(frame.into_buffer())
}

#[glib::object_subclass]
impl ObjectSubclass for LipSync {
    const NAME: &'static str = "GstPortraitLipSync";
    type Type = super::LipSync;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        // Every pad: a template pad whose internal links follow the mode.
        let pad = |name: &str| {
            let tmpl = klass.pad_template(name).expect("pad template");
            gst::Pad::builder_from_template(&tmpl).iterate_internal_links_function(|pad, parent| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || gst::Iterator::from_vec(vec![]),
                    |imp| imp.internal_links(pad),
                )
            })
        };
        let audio_sink = pad("sink")
            .chain_function(|_pad, parent, buffer| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.audio_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.audio_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.audio_sink_query(pad, query),
                )
            })
            .build();
        let video_sink = pad("video_sink")
            .chain_function(|_pad, parent, buffer| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.video_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.video_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                LipSync::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.video_sink_query(pad, query),
                )
            })
            .build();
        let src = pad("src")
            .event_function(|_pad, parent, event| {
                LipSync::catch_panic_pad_function(parent, || false, |imp| imp.src_event(event))
            })
            .query_function(|pad, parent, query| {
                LipSync::catch_panic_pad_function(parent, || false, |imp| imp.src_query(pad, query))
            })
            .build();
        let audio_src = pad("audio_src")
            .event_function(|_pad, parent, event| {
                LipSync::catch_panic_pad_function(parent, || false, |imp| imp.audio_upstream(event))
            })
            .build();
        let mut flow = gst_base::UniqueFlowCombiner::new();
        flow.add_pad(&src);
        flow.add_pad(&audio_src);
        LipSync {
            audio_sink,
            video_sink,
            src,
            audio_src,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            cond: Condvar::new(),
            flow: Mutex::new(flow),
        }
    }
}

impl ObjectImpl for LipSync {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for pad in [
            &self.audio_sink,
            &self.video_sink,
            &self.src,
            &self.audio_src,
        ] {
            obj.add_pad(pad).expect("adding a template pad");
        }
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                gst::ParamSpecFraction::builder("framerate")
                    .nick("Frame rate")
                    .blurb("Frame rate of the frames made when no video is linked to video_sink (talking-avatar mode)")
                    .minimum(gst::Fraction::new(1, 1))
                    .maximum(gst::Fraction::new(240, 1))
                    .default_value(d.framerate)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Width of the frames made in talking-avatar mode (black, carrying the motion meta; portraitanimate renders at its portrait's size whatever this is)")
                    .minimum(16)
                    .maximum(8192)
                    .default_value(d.width)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Height of the frames made in talking-avatar mode")
                    .minimum(16)
                    .maximum(8192)
                    .default_value(d.height)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("lookahead")
                    .nick("Look-ahead (ms)")
                    .blurb("Audio after a frame's time that its mouth may use (the mouth opens slightly before the sound, smoothing is centred). Adds this much latency (in 10 ms steps), plus 32 ms of analysis, reported in the latency query; 0 for the least latency (the mouth then lags by about the smoothing)")
                    .maximum(1000)
                    .default_value(d.lookahead_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("smoothing")
                    .nick("Smoothing (ms)")
                    .blurb("Standard deviation of the Gaussian that smooths the mouth over time; 0 follows every 10 ms hop")
                    .maximum(500)
                    .default_value(d.smoothing_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("max-open")
                    .nick("Maximum mouth opening")
                    .blurb("mouth-open on the loudest open vowel (mouth-open scale: 1 = inner-lip gap of 0.6 × mouth width)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.max_open)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("idle-motion")
                    .nick("Idle motion")
                    .blurb("In talking-avatar mode, blink at human rates (~17/min) and sway the head slightly (a few degrees), nodding a little with the voice")
                    .default_value(d.idle_motion)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Seed of the idle motion (blink times, sway phases): the same seed gives the same motion")
                    .default_value(d.seed)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("vad")
                    .nick("Voice activity detection")
                    .blurb("Gate the mouth with Silero VAD ($GST_PORTRAIT_MODEL_DIR/silero_vad.onnx, fetched by scripts/setup.sh) so breaths and noise do not move it; false uses a plain energy threshold")
                    .default_value(d.vad)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("audio-model")
                    .nick("Audio-to-mouth model")
                    .blurb("Optional neural audio-to-mouth ONNX model replacing the weight-free analysis: one float32 [1,S] input of 16 kHz mono samples (the S samples ending 16 ms after the hop) → 1–3 values in 0..1 (mouth open, spread, round), run every 40 ms")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", d.device)
                    .nick("Device")
                    .blurb("Where the audio-model runs (Silero VAD always runs on the CPU)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Inference threads for the audio models (0 = ONNX Runtime's default)")
                    .maximum(64)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "framerate" => s.framerate = value.get().unwrap_or(s.framerate),
            "width" => s.width = value.get().unwrap_or(s.width),
            "height" => s.height = value.get().unwrap_or(s.height),
            "lookahead" => s.lookahead_ms = value.get().unwrap_or(s.lookahead_ms),
            "smoothing" => s.smoothing_ms = value.get().unwrap_or(s.smoothing_ms),
            "max-open" => s.max_open = value.get().unwrap_or(s.max_open),
            "idle-motion" => s.idle_motion = value.get().unwrap_or(s.idle_motion),
            "seed" => s.seed = value.get().unwrap_or(s.seed),
            "vad" => s.vad = value.get().unwrap_or(s.vad),
            "audio-model" => {
                s.audio_model = value
                    .get::<Option<String>>()
                    .unwrap_or(None)
                    .filter(|p| !p.is_empty())
            }
            "device" => s.device = value.get().unwrap_or(s.device),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "framerate" => s.framerate.to_value(),
            "width" => s.width.to_value(),
            "height" => s.height.to_value(),
            "lookahead" => s.lookahead_ms.to_value(),
            "smoothing" => s.smoothing_ms.to_value(),
            "max-open" => s.max_open.to_value(),
            "idle-motion" => s.idle_motion.to_value(),
            "seed" => s.seed.to_value(),
            "vad" => s.vad.to_value(),
            "audio-model" => s.audio_model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for LipSync {}

impl ElementImpl for LipSync {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Lip sync",
                "Filter/Analyzer/Audio/Video",
                "Moves a face's mouth with speech, by running time. With a driving video (motion metas from motionextract) on video_sink, replaces each frame's mouth by the audio's (dubbing); without one, makes the frames itself at framerate with a speech-driven mouth, idle blinks and head sway, for portraitanimate (talking avatar). Weight-free: Silero VAD gating, mouth open/spread/round from the voice-band level and LPC formants, closures on /p b m/, smoothing with a tunable look-ahead. The audio is passed through on audio_src; queue each branch, as after a demuxer",
                "gst-portrait developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let v = video::raw_caps();
            let a = audio_caps();
            let t = |name: &str, dir, caps: &gst::Caps| {
                gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps)
                    .expect("static pad template")
            };
            vec![
                t("sink", gst::PadDirection::Sink, &a),
                t("video_sink", gst::PadDirection::Sink, &v),
                t("src", gst::PadDirection::Src, &v),
                t("audio_src", gst::PadDirection::Src, &a),
            ]
        });
        T.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                let st = self.prepare().map_err(|e| {
                    self.post_error_message(e);
                    gst::StateChangeError
                })?;
                *self.lock_state() = Some(st);
                self.flow.lock().unwrap_or_else(|e| e.into_inner()).reset();
            }
            gst::StateChange::PausedToReady => {
                // Release a video frame waiting for audio before the pads deactivate.
                if let Some(st) = self.lock_state().as_mut() {
                    st.video_flushing = true;
                }
                self.cond.notify_all();
            }
            _ => {}
        }
        let r = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady {
            *self.lock_state() = None;
        }
        r
    }
}
