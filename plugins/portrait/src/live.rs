// SPDX-License-Identifier: MIT

//! Staying live, for the video elements (facedetect, motionextract,
//! portraitanimate): each owns a [`Live`] and calls it from its BaseTransform
//! virtual methods. It
//! - drops a frame before any work when it is already late: in a live pipeline when
//!   it reaches the element later than the latency upstream of it plus a frame duration
//!   and one of its own per-frame times (it sat in a queue behind earlier frames: the
//!   newest frame is worth more), and on any sink that sends QoS events when the sink says frames
//!   that old are late (the `qos` property of the base class, on by default here,
//!   turns both off); dropped frames, like those a tier leaves out, are counted and
//!   announced with QoS messages;
//! - answers latency queries with what the element adds (the p95 of its own
//!   per-frame time, posting a latency message when that moves);
//! - steps the degradation tier (see [`crate::telemetry::Degrader`]) from the frames
//!   lost on the way, announcing each change with a `portrait-degradation` element
//!   message and a log line;
//! - keeps per-stage telemetry: the `stats` property and, every `stats-interval`
//!   ms, a `portrait-stats` element message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_base::prelude::*;
use portrait_infer::stages::{self, Stage};

use crate::telemetry::{
    Breaker, DegradeParams, Degrader, Telemetry, TierChange, Window, half_rate_skips,
    missing_between,
};

/// Processed frames the reported latency is the p95 of: about a second, so it follows
/// a tier change or a load that went away (a sink that syncs waits out whatever
/// latency is reported, in the streaming thread, on every frame).
const RECENT: usize = 16;

/// The `degradation` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPortraitDegradation")]
pub enum Degradation {
    /// Steps tiers up under load and back down when it passes.
    #[default]
    #[enum_value(
        name = "Auto: adapt to load (live pipelines, or a sink sending QoS)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "Off: full quality always", nick = "off")]
    Off = 1,
    #[enum_value(
        name = "Pinned tier 1: track longer between detections",
        nick = "tier-1"
    )]
    Tier1 = 2,
    #[enum_value(name = "Pinned tier 2: tier 1 and no eye refinement", nick = "tier-2")]
    Tier2 = 3,
    #[enum_value(
        name = "Pinned tier 3: tier 2 and every other frame left out (the same ones in every element)",
        nick = "tier-3"
    )]
    Tier3 = 4,
}

impl Degradation {
    /// The tier in force when the controller would choose `auto`.
    fn tier(self, auto: u8) -> u8 {
        match self {
            Degradation::Auto => auto,
            Degradation::Off => 0,
            Degradation::Tier1 => 1,
            Degradation::Tier2 => 2,
            Degradation::Tier3 => 3,
        }
    }
}

/// What `facedetect` and `motionextract` do when a model run fails (`fallback`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPortraitAnalysisFallback")]
pub enum AnalysisFallback {
    #[default]
    #[enum_value(
        name = "Skip: while the fault lasts frames pass on without this element's metas (a warning, retries after a back-off)",
        nick = "skip"
    )]
    Skip = 0,
    #[enum_value(name = "Error: a failed model run ends the stream", nick = "error")]
    Error = 1,
}

/// The `fallback` property of `facedetect` and `motionextract`.
pub fn analysis_fallback_property() -> glib::ParamSpec {
    glib::ParamSpecEnum::builder_with_default("fallback", AnalysisFallback::Skip)
        .nick("Fallback")
        .blurb("When a model run fails: skip (default): a warning, frames pass on without this element's metas (downstream, portraitanimate holds and then eases to the neutral portrait), the model is retried after a back-off of 1 s doubling up to 30 s, an info message on recovery; error: the stream ends with an error")
        .mutable_playing()
        .build()
}

/// Circuit breaker back-off after a model fault: the first, and the most.
const BACK_OFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// An element's model faults: a [`Breaker`] on the element's own clock, and the
/// warning and info messages that go with it.
#[derive(Debug)]
pub struct Faults {
    breaker: Mutex<Breaker>,
    epoch: Instant,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            breaker: Mutex::new(Breaker::new(BACK_OFF.0, BACK_OFF.1)),
            epoch: Instant::now(),
        }
    }
}

impl Faults {
    /// Whether the model may run now (no fault, or the back-off is over).
    pub fn allows(&self) -> bool {
        lock(&self.breaker).allows(self.epoch.elapsed())
    }

    /// A run failed or stalled (`why`): opens the breaker and posts a warning saying
    /// what is shown `meanwhile`.
    pub fn failed(&self, element: &impl IsA<gst::Element>, why: &str, meanwhile: &str) {
        let (back_off, faults) = {
            let mut b = lock(&self.breaker);
            (b.fault(self.epoch.elapsed()), b.faults())
        };
        gst::element_warning!(
            element,
            gst::StreamError::Failed,
            (
                "{}; {} and retrying in {} ms (fault {} in a row)",
                why,
                meanwhile,
                back_off.as_millis(),
                faults
            )
        );
    }

    /// A model run failed (`why`, naming the element): with `error` (the element's
    /// `fallback=error`) the element error, and the stream ends (`Err`); else as
    /// [`Faults::failed`], and the caller shows its fallback (`Ok`).
    pub fn run_failed(
        &self,
        element: &impl IsA<gst::Element>,
        error: bool,
        why: &str,
        meanwhile: &str,
    ) -> Result<(), gst::FlowError> {
        if error {
            gst::element_error!(element, gst::StreamError::Failed, ("{}", why));
            return Err(gst::FlowError::Error);
        }
        self.failed(element, why, meanwhile);
        Ok(())
    }

    /// A run succeeded: after a fault, an info message that `what` recovered.
    pub fn succeeded(&self, element: &impl IsA<gst::Element>, what: &str) {
        if lock(&self.breaker).success() {
            gst::element_info!(element, gst::CoreError::Failed, ("{} recovered", what));
        }
    }

    /// Back to healthy (a restart).
    pub fn reset(&self) {
        lock(&self.breaker).success();
    }
}

/// Detection interval multiplier from tier 1 on (facedetect).
pub const TIER1_INTERVAL_FACTOR: u32 = 4;
/// From this tier, no eye refinement (motionextract).
pub const TIER_NO_EYES: u8 = 2;
/// From this tier, every element leaves out the odd frames (by running time).
pub const TIER_HALF_RATE: u8 = 3;

/// A processed frame is let through at least this often, even late, so the element
/// keeps measuring itself (and the viewer sees something) however bad the load.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// What the element asked for.
#[derive(Debug, Clone, Copy)]
struct Settings {
    degradation: Degradation,
    stats_interval: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            degradation: Degradation::Auto,
            stats_interval: 0,
        }
    }
}

#[derive(Debug)]
struct State {
    telemetry: Telemetry,
    degrader: Degrader,
    /// Upstream is live (from a latency query; None: not asked yet).
    live: Option<bool>,
    /// The latency upstream of this element (from the last latency query).
    upstream: gst::ClockTime,
    /// From QoS events: frames ending before this running time are late.
    qos_earliest: Option<gst::ClockTime>,
    qos_proportion: f64,
    /// Stream index (running time / duration) of the previous frame that arrived.
    prev_index: Option<u64>,
    /// The latency this element reports, and when it last changed.
    reported: gst::ClockTime,
    reported_at: Option<Instant>,
    /// Per-frame times of the last processed frames (ms), for the latency.
    recent: Window,
    last_processed: Option<Instant>,
    frame_start: Option<Instant>,
    last_stats: Option<Instant>,
    scratch: Vec<f32>,
}

impl Default for State {
    fn default() -> Self {
        State {
            telemetry: Telemetry::default(),
            degrader: Degrader::new(DegradeParams::default()),
            live: None,
            upstream: gst::ClockTime::ZERO,
            qos_earliest: None,
            qos_proportion: 1.0,
            prev_index: None,
            reported: gst::ClockTime::ZERO,
            reported_at: None,
            recent: Window::with_capacity(RECENT),
            last_processed: None,
            frame_start: None,
            last_stats: None,
            scratch: Vec::new(),
        }
    }
}

/// The `BaseTransformImpl` methods of a video element with a `live: Live` field: QoS
/// events and latency queries go through it, and each input buffer is admitted or
/// dropped before the base class sees it.
#[macro_export]
macro_rules! live_transform_methods {
    () => {
        fn src_event(&self, event: gst::Event) -> bool {
            self.live.src_event(&event);
            gst_base::subclass::prelude::BaseTransformImplExt::parent_src_event(self, event)
        }

        fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
            let ok = gst_base::subclass::prelude::BaseTransformImplExt::parent_query(
                self, direction, query,
            );
            if ok && direction == gst::PadDirection::Src {
                self.live.latency_query(query);
            }
            ok
        }

        fn submit_input_buffer(
            &self,
            is_discont: bool,
            inbuf: gst::Buffer,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            use gst::prelude::Cast;
            match self.live.admit(self.obj().upcast_ref(), &inbuf) {
                $crate::live::Admit::Drop => Ok(gst::FlowSuccess::Ok),
                $crate::live::Admit::Process => {
                    gst_base::subclass::prelude::BaseTransformImplExt::parent_submit_input_buffer(
                        self, is_discont, inbuf,
                    )
                }
            }
        }
    };
}

/// Whether a frame is worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Process it (at [`Live::tier`]); call [`Live::done`] after.
    Process,
    /// Drop it: it would be late, or the tier skips it.
    Drop,
}

/// One element's live control (see the module documentation).
#[derive(Debug)]
pub struct Live {
    cat: gst::DebugCategory,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Live {
    pub fn new(cat: gst::DebugCategory) -> Self {
        Live {
            cat,
            settings: Default::default(),
            state: Default::default(),
        }
    }

    /// The properties every video element gets: degradation, stats-interval, stats.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecEnum::builder_with_default("degradation", Degradation::Auto)
                .nick("Degradation")
                .blurb("How the work adapts to load. auto: when frames keep getting lost (late at the sink, or never delivered while the chain was busy) in a live pipeline or under a sink's QoS, step up one tier at a time: 1 tracks longer between detections (facedetect interval ×4), 2 also drops the eye refinement (motionextract), 3 also leaves out every other frame (odd frames by running time, so every element drops the same ones); step back down after 3 s without losses (longer when a recovery had to be undone). Each change posts a \"portrait-degradation\" element message. off: never; tier-N: pinned")
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("stats-interval")
                .nick("Statistics interval")
                .blurb("Post a \"portrait-stats\" element message (the stats property's fields) every this many milliseconds (0: never)")
                .maximum(3_600_000)
                .default_value(0)
                .mutable_playing()
                .build(),
            glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Statistics")
                .blurb("\"portrait-stats\": element, live, tier, frames-in, frames-out, dropped-late, dropped-degraded, lost-upstream, latency-ms (what the element reports), and p50/p95/p99 in ms (e.g. inference-p95-ms) of the per-frame stages pre, inference, post, render, their total, and lateness (how old frames are when they arrive: clock − running time, live pipelines)")
                .read_only()
                .build(),
        ]
    }

    /// Sets one of [`Live::properties`]; false when `name` is not one.
    pub fn set_property(&self, name: &str, value: &glib::Value) -> bool {
        let mut s = lock(&self.settings);
        match name {
            "degradation" => s.degradation = value.get().unwrap_or(s.degradation),
            "stats-interval" => s.stats_interval = value.get().unwrap_or(s.stats_interval),
            _ => return false,
        }
        true
    }

    /// Reads one of [`Live::properties`].
    pub fn property(&self, element: &gst::Element, name: &str) -> Option<glib::Value> {
        let s = *lock(&self.settings);
        match name {
            "degradation" => Some(s.degradation.to_value()),
            "stats-interval" => Some(s.stats_interval.to_value()),
            "stats" => Some(self.stats(element).to_value()),
            _ => None,
        }
    }

    /// Turns QoS handling on (the base class's `qos` property, off by default there).
    pub fn constructed(element: &impl IsA<gst_base::BaseTransform>) {
        element.set_qos(true);
    }

    /// Back to a fresh start (start, stop, flush).
    pub fn reset(&self) {
        let mut st = lock(&self.state);
        let reported = st.reported;
        *st = State::default();
        // The latency measured stays: the pipeline was told it.
        st.reported = reported;
    }

    /// A flush: the next frame starts a new sequence (no gap, no stale QoS).
    pub fn flushed(&self) {
        let mut st = lock(&self.state);
        st.prev_index = None;
        st.qos_earliest = None;
    }

    /// The tier in force.
    pub fn tier(&self) -> u8 {
        let d = lock(&self.settings).degradation;
        d.tier(lock(&self.state).degrader.tier())
    }

    /// Upstream QoS events seen on the source pad.
    pub fn src_event(&self, event: &gst::Event) {
        if let gst::EventView::Qos(q) = event.view() {
            let (_, proportion, diff, ts) = q.get();
            let mut st = lock(&self.state);
            st.qos_proportion = proportion;
            st.qos_earliest =
                ts.map(|ts| {
                    // Late: the next frame worth rendering is about twice as far on (as
                    // GstBaseTransform estimates it).
                    let d = if diff > 0 { 2 * diff } else { diff };
                    gst::ClockTime::from_nseconds(
                        (ts.nseconds() as i64).saturating_add(d).max(0) as u64
                    )
                });
        }
    }

    /// Whether upstream is live (as the first frame's latency query found).
    pub fn is_live(&self) -> bool {
        lock(&self.state).live == Some(true)
    }

    /// A latency query answered upstream: add what this element takes per frame.
    pub fn latency_query(&self, query: &mut gst::QueryRef) {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            let mut st = lock(&self.state);
            st.live = Some(live);
            st.upstream = min;
            if live {
                let own = st.reported;
                q.set(live, min + own, max.map(|m| m + own));
            }
        }
    }

    /// Decides on a frame arriving at `element` (from `submit_input_buffer`); a frame
    /// to process starts the stage clock.
    pub fn admit(&self, element: &gst_base::BaseTransform, buf: &gst::BufferRef) -> Admit {
        let settings = *lock(&self.settings);
        let need_live = lock(&self.state).live.is_none();
        if need_live {
            let mut q = gst::query::Latency::new();
            let live = element.sink_pad().peer_query(&mut q) && q.result().0;
            lock(&self.state).live = Some(live);
        }
        let segment = element.segment();
        let seg = segment.downcast_ref::<gst::ClockTime>();
        let rt = seg.and_then(|s| s.to_running_time(buf.pts()));
        let now = element.current_running_time();
        let qos = element.is_qos();

        let mut messages = Vec::new();
        let verdict = {
            let mut st = lock(&self.state);
            st.telemetry.frames_in += 1;
            let live = st.live == Some(true);
            let dur = buf.duration().filter(|d| !d.is_zero());
            let index = match (rt, dur) {
                (Some(rt), Some(d)) => Some((rt.nseconds() + d.nseconds() / 2) / d.nseconds()),
                _ => None,
            };
            let tier = settings.degradation.tier(st.degrader.tier());
            let half_rate = tier >= TIER_HALF_RATE;
            // Frames that never arrived (live only: a file with a variable frame rate
            // loses nothing).
            let missing = match (live, st.prev_index, index) {
                (true, Some(prev), Some(i)) => missing_between(prev, i, half_rate),
                _ => 0,
            };
            if index.is_some() {
                st.prev_index = index;
            }
            st.telemetry.lost_upstream += u64::from(missing);
            let age = match (live, rt, now) {
                (true, Some(rt), Some(now)) => Some(now.saturating_sub(rt)),
                _ => None,
            };
            if let Some(age) = age {
                st.telemetry.lateness.push(age.nseconds() as f32 / 1e6);
            }
            // Late: it waited longer than upstream's latency plus a frame and one frame
            // of our own (it sat behind older frames), or the sink's QoS says so.
            let deadline_late =
                age.is_some_and(|a| a > st.upstream + st.reported + dur.unwrap_or_default());
            let qos_late = match (rt, st.qos_earliest) {
                (Some(rt), Some(e)) => rt + dur.unwrap_or_default() <= e,
                _ => false,
            };
            let starving = st.last_processed.is_none_or(|t| t.elapsed() >= KEEP_ALIVE);
            let late = qos && (deadline_late || qos_late) && !starving;
            // Only under pressure the pipeline can tell us about.
            let engaged = live || st.qos_earliest.is_some();
            if engaged && let Some(c) = st.degrader.observe(missing, late) {
                gst::info!(
                    self.cat,
                    obj = element,
                    "degradation tier {} → {}: {}",
                    c.from,
                    c.to,
                    reason(&c)
                );
                if settings.degradation == Degradation::Auto {
                    messages.push(tier_message(element, &c));
                }
            }
            let skipped = !late && half_rate && !starving && index.is_some_and(half_rate_skips);
            if late || skipped {
                if late {
                    st.telemetry.dropped_late += 1;
                } else {
                    st.telemetry.dropped_degraded += 1;
                }
                let jitter = match (now, rt) {
                    (Some(now), Some(rt)) => now.nseconds() as i64 - rt.nseconds() as i64,
                    _ => 0,
                };
                let (processed, dropped) = (
                    st.telemetry.frames_out,
                    st.telemetry.dropped_late + st.telemetry.dropped_degraded,
                );
                // Late or left out by the tier, a QoS drop either way; the quality
                // (1 000 000 = full) halves with each tier.
                messages.push(
                    gst::message::Qos::builder(live)
                        .running_time(rt)
                        .stream_time(seg.and_then(|s| s.to_stream_time(buf.pts())))
                        .timestamp(buf.pts())
                        .duration(buf.duration())
                        .values(jitter, st.qos_proportion, 1_000_000 >> tier.min(6))
                        .stats(
                            gst::format::Buffers::from_u64(processed),
                            gst::format::Buffers::from_u64(dropped),
                        )
                        .src(element)
                        .build(),
                );
                gst::debug!(
                    self.cat,
                    obj = element,
                    "dropping a frame {} ms old ({})",
                    jitter / 1_000_000,
                    if late {
                        "late"
                    } else {
                        "degraded: every other frame"
                    }
                );
                Admit::Drop
            } else {
                st.frame_start = Some(Instant::now());
                Admit::Process
            }
        };
        if let Some(m) = self.due_stats(element) {
            messages.push(m);
        }
        for m in messages {
            let _ = element.post_message(m);
        }
        if verdict != Admit::Drop {
            stages::begin(Stage::Pre);
        }
        verdict
    }

    /// The admitted frame is done: its stage times are recorded, the reported latency
    /// follows the p95 per-frame time (a latency message when it rises by a quarter, or
    /// falls by a fifth at most once a second), a statistics message when one is due.
    pub fn done(&self, element: &gst_base::BaseTransform) {
        let spent = stages::finish();
        let mut latency_changed = false;
        {
            let mut st = lock(&self.state);
            let Some(start) = st.frame_start.take() else {
                return;
            };
            let now = Instant::now();
            st.telemetry.record(&spent, now - start);
            st.recent.push((now - start).as_secs_f32() * 1e3);
            st.last_processed = Some(now);
            if st.live == Some(true) {
                let st = &mut *st;
                let [p95, max] = st.recent.quantiles([0.95, 1.0], &mut st.scratch);
                // Few samples yet: the worst of them (the first inferences are slow).
                let want = if st.telemetry.frames_out < 10 {
                    max
                } else {
                    p95
                };
                let want = gst::ClockTime::from_nseconds((want.ceil() as u64) * 1_000_000);
                let r = st.reported.nseconds() as f64;
                let w = want.nseconds() as f64;
                // Up at once; down by a fifth or more, at most once a second.
                let settled = st
                    .reported_at
                    .is_none_or(|t| now - t >= Duration::from_secs(1));
                if w > r * 1.25 + 1e6 || (w < r * 0.8 && settled) {
                    st.reported_at = Some(now);
                    gst::info!(
                        self.cat,
                        obj = element,
                        "reporting {} ms of latency (was {} ms)",
                        want.mseconds(),
                        st.reported.mseconds()
                    );
                    st.reported = want;
                    latency_changed = true;
                }
            }
        }
        if latency_changed {
            let _ = element.post_message(gst::message::Latency::builder().src(element).build());
        }
        if let Some(m) = self.due_stats(element) {
            let _ = element.post_message(m);
        }
    }

    /// The `portrait-stats` message when `stats-interval` says one is due.
    fn due_stats(&self, element: &gst_base::BaseTransform) -> Option<gst::Message> {
        let interval = lock(&self.settings).stats_interval;
        if interval == 0 {
            return None;
        }
        {
            let mut st = lock(&self.state);
            let now = Instant::now();
            match st.last_stats {
                Some(t) if now - t < Duration::from_millis(interval.into()) => return None,
                None => {
                    // The first interval starts now.
                    st.last_stats = Some(now);
                    return None;
                }
                _ => st.last_stats = Some(now),
            }
        }
        let s = self.stats(element.upcast_ref());
        Some(gst::message::Element::builder(s).src(element).build())
    }

    /// The `stats` structure.
    pub fn stats(&self, element: &gst::Element) -> gst::Structure {
        let tier = self.tier();
        let mut st = lock(&self.state);
        let st = &mut *st;
        let t = &st.telemetry;
        let mut b = gst::Structure::builder("portrait-stats")
            .field("element", element.name().as_str())
            .field("live", st.live == Some(true))
            .field("tier", u32::from(tier))
            .field("frames-in", t.frames_in)
            .field("frames-out", t.frames_out)
            .field("dropped-late", t.dropped_late)
            .field("dropped-degraded", t.dropped_degraded)
            .field("lost-upstream", t.lost_upstream)
            .field("latency-ms", st.reported.nseconds() as f64 / 1e6);
        for (name, [p50, p95, p99]) in t.percentiles(&mut st.scratch) {
            b = b
                .field(format!("{name}-p50-ms"), f64::from(p50))
                .field(format!("{name}-p95-ms"), f64::from(p95))
                .field(format!("{name}-p99-ms"), f64::from(p99));
        }
        b.build()
    }
}

fn reason(c: &TierChange) -> String {
    let lost = format!("{:.0} % of the last frames lost", c.lost * 100.0);
    let what = match c.to.max(c.from) {
        1 => "tracking longer between detections",
        2 => "the eye refinement",
        _ => "every other frame left out",
    };
    if c.to > c.from {
        format!("{lost} (late, or not delivered while busy): now {what}")
    } else {
        format!("load eased ({lost}): back from {what}")
    }
}

fn tier_message(element: &gst_base::BaseTransform, c: &TierChange) -> gst::Message {
    let s = gst::Structure::builder("portrait-degradation")
        .field("element", element.name().as_str())
        .field("tier", u32::from(c.to))
        .field("previous", u32::from(c.from))
        .field("lost", f64::from(c.lost))
        .field("reason", reason(c))
        .build();
    gst::message::Element::builder(s).src(element).build()
}
