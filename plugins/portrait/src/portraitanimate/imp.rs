// SPDX-License-Identifier: MIT

//! portraitanimate: caps and properties, the motion meta in, one render call out. The
//! portrait is [`super::portrait`], the warp `portrait_vision::warp`, the mouth and
//! eyelids `portrait_vision::face_paint`, the LivePortrait backend
//! [`crate::liveportrait_onnx`].

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_portrait_meta::MotionMeta;
use portrait_vision::face_paint;
use portrait_vision::landmarks::{EYE_LEFT_OUTER, EYE_RIGHT_OUTER};
use portrait_vision::resample::Affine;
use portrait_vision::transfer::DrivingMotion;
use portrait_vision::warp::MeshWarp;
use portrait_vision::workers::Workers;

use super::portrait::{self, OutputSize, Source, output_size};
use super::{Backend, Fallback};
use crate::live::{Faults, Live};
use crate::liveportrait_onnx::{self, KeypointParams, MOTION_INPUT_LEN};
use crate::shared::{self, DeviceProp};
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "portraitanimate",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait portrait animator"),
    )
});

/// Frames the last pose is held when the driving face is lost, then the ease rate.
const DEFAULT_HOLD_FRAMES: u32 = 10;
const EASE_PER_FRAME: f32 = 0.15;
const DEFAULT_FAULT_DEADLINE_MS: u32 = 1000;

#[derive(Debug, Clone)]
struct Settings {
    source: Option<String>,
    device: DeviceProp,
    threads: u32,
    hold_frames: u32,
    mouth_interior: bool,
    width: u32,
    height: u32,
    backend: Backend,
    liveportrait_dir: Option<String>,
    fallback: Fallback,
    fault_deadline: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: None,
            device: DeviceProp::Auto,
            threads: 0,
            hold_frames: DEFAULT_HOLD_FRAMES,
            mouth_interior: true,
            width: 0,
            height: 0,
            backend: Backend::Mesh,
            liveportrait_dir: None,
            fallback: Fallback::Neutral,
            fault_deadline: DEFAULT_FAULT_DEADLINE_MS,
        }
    }
}

struct Current {
    source: Arc<Source>,
    /// One warp per source frame (their source points differ).
    warps: Vec<MeshWarp>,
    /// Index of the next source frame (a video source loops).
    next: usize,
    /// The portrait's scaled size and the output frame size.
    size: OutputSize,
}

/// The LivePortrait backend's state.
struct Lp {
    renderer: crate::liveportrait_onnx::Renderer,
    /// The source crop the face is rendered from (256² → source pixels).
    crop: Affine,
    /// The first driving keypoints seen: the driving reference.
    reference: Option<KeypointParams>,
    warned: bool,
    /// Faults of the model runs (failures, stalls past the deadline).
    faults: Faults,
    /// `renderer.image` holds a good render (what `fallback=hold` shows).
    rendered: bool,
}

struct State {
    current: Current,
    lp: Option<Lp>,
    /// A source being prepared off the streaming thread (property change while running).
    pending: Arc<Mutex<Option<Result<Source, String>>>>,
    motion: DrivingMotion,
    lost_frames: u32,
    targets: Vec<[f32; 2]>,
    in_info: Option<gst_video::VideoInfo>,
    /// The CPUs this process may use, for `threads=0`: asked once, as the answer reads
    /// cgroup files (about 2 % of the live chain's time when asked every frame).
    cpus: usize,
    /// The warp's threads and how many were asked for (kept across frames; remade when
    /// `threads` changes).
    workers: (usize, Workers),
}

pub struct PortraitAnimate {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    live: Live,
}

impl Default for PortraitAnimate {
    fn default() -> Self {
        PortraitAnimate {
            settings: Default::default(),
            state: Default::default(),
            live: Live::new(*CAT),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PortraitAnimate {
    const NAME: &'static str = "GstPortraitAnimate";
    type Type = super::PortraitAnimate;
    type ParentType = gst_base::BaseTransform;
}

/// What `fallback` shows while the renderer is at fault.
fn fallback_shown(lp: &Lp, fallback: Fallback) -> &'static str {
    match fallback {
        Fallback::Hold if lp.rendered => "showing the last good face",
        _ => "showing the neutral portrait",
    }
}

/// Runs `paint` on the driving frame `inbuf` (negotiated as `info`) as a pixel view.
fn driver_mouth(
    inbuf: &gst::Buffer,
    info: &gst_video::VideoInfo,
    paint: impl FnOnce(&portrait_vision::FrameRef) -> Result<(), face_paint::NoTransfer>,
) -> Result<(), face_paint::NoTransfer> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), info)
        .map_err(|_| face_paint::NoTransfer::NoPicture)?;
    let view = video::frame_ref(&frame).map_err(|_| face_paint::NoTransfer::NoPicture)?;
    paint(&view)
}

fn current_for(src: Source, size: OutputSize) -> Current {
    let (w, h) = size.frame;
    let warps = src
        .frames
        .iter()
        .map(|f| MeshWarp::new(&f.points, src.triangles.clone(), w, h))
        .collect();
    Current {
        source: Arc::new(src),
        warps,
        next: 0,
        size,
    }
}

impl ObjectImpl for PortraitAnimate {
    fn constructed(&self) {
        self.parent_constructed();
        Live::constructed(&*self.obj());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let mut props = vec![
                glib::ParamSpecString::builder("source")
                    .nick("Source portrait")
                    .blurb("Image or video file of the portrait to animate (any format GStreamer decodes). An image is one still picture, its first (a file with several PNG streams in it is not a video); a video (up to 300 frames, decoded into memory, frames marked corrupted left out) plays in a loop, one source frame per output frame, and its first frame must show the face. The face is found with the project's own models when the element starts, and its landmarks are cached on disk (keyed by the file's hash) so a restart is quick. Changing it while PLAYING prepares the new portrait in the background and keeps rendering the old one meanwhile; the new one is scaled to the output size")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", d.device)
                    .nick("Device")
                    .blurb("Where the source's face analysis runs: auto, cpu, cuda or tensorrt")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Threads for the warp (0: one per core), started once and kept from frame to frame")
                    .maximum(64)
                    .default_value(d.threads)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("hold-frames")
                    .nick("Hold frames")
                    .blurb("When the driving frame has no face, hold the last pose this many frames, then ease back to the neutral source")
                    .maximum(100000)
                    .default_value(d.hold_frames)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("backend", Backend::Mesh)
                    .nick("Backend")
                    .blurb("mesh: weight-free landmark mesh warp (default). liveportrait: LivePortrait from the user-supplied ONNX files in liveportrait-dir; the driving motion must carry LivePortrait keypoints (motionextract liveportrait-model=.../motion_extractor.onnx); the rendered face is pasted back into the portrait's frame")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("liveportrait-dir")
                    .nick("LivePortrait directory")
                    .blurb("Directory of FasterLivePortrait ONNX files for backend=liveportrait: appearance_feature_extractor.onnx, motion_extractor.onnx, warping_spade.onnx, stitching.onnx")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Width")
                    .blurb("Output width in pixels, used as given (0: the source's, made even; with height set and width 0, the width that keeps the source's aspect ratio, made even). Even sizes are what H.264/I420 encoders take: an odd side not set here loses its last column")
                    .maximum(16384)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Height")
                    .blurb("Output height in pixels, used as given (0: the source's, made even; with width set and height 0, the height that keeps the source's aspect ratio, made even). An odd side not set here loses its last row")
                    .maximum(16384)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("mouth-interior")
                    .nick("Mouth interior")
                    .blurb("Where the driven mouth opens wider than the source's, fill it with the driving face's own mouth interior (warped from the driving frame's inner lips, colour-matched to the portrait); when the driving pixels show no open mouth (lipsync's avatar frames, a dubbed mouth), with the portrait's own interior under its upper lip (teeth it shows stay there) and a drawn one below: teeth, a shaded cavity and a tongue, lit like the portrait's lips")
                    .default_value(d.mouth_interior)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("fallback", d.fallback)
                    .nick("Fallback")
                    .blurb("What is shown while a model run fails or stalls past fault-deadline (a warning is posted and the run is retried after a back-off of 1 s, doubling up to 30 s, the pipeline stays PLAYING), and when the driving face stays lost past hold-frames. neutral: the portrait at rest; the lost driver eases back to it. hold: the last good face; the lost driver's last pose stays. error: a failed run is a stream error (a lost driver eases back as with neutral)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("fault-deadline")
                    .nick("Fault deadline")
                    .blurb("A model run taking longer than this many milliseconds counts as a fault (its frame is still shown; the next runs wait out the back-off). 0: no deadline")
                    .maximum(600_000)
                    .default_value(d.fault_deadline)
                    .mutable_playing()
                    .build(),
            ];
            props.extend(Live::properties());
            props
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self.live.set_property(pspec.name(), value) {
            return;
        }
        match pspec.name() {
            "source" => {
                let path = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|p| !p.is_empty());
                let device = {
                    let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
                    s.source = path.clone();
                    s.device
                };
                // Running: prepare the new portrait off the streaming thread, at the
                // current output size.
                let running = self
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map(|st| {
                        (
                            st.pending.clone(),
                            (st.current.source.width, st.current.source.height),
                        )
                    });
                if let (Some((pending, size)), Some(path)) = (running, path) {
                    gst::info!(
                        CAT,
                        imp = self,
                        "preparing new source {path} in the background"
                    );
                    std::thread::spawn(move || {
                        // One inference thread: on a small machine the other cores keep
                        // the streaming thread at its pace meanwhile.
                        let r = portrait::prepare(
                            std::path::Path::new(&path),
                            device.into(),
                            1,
                            Some(size),
                        );
                        *pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                    });
                }
            }
            _ => {
                let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
                match pspec.name() {
                    "device" => s.device = value.get().unwrap_or(s.device),
                    "threads" => s.threads = value.get().unwrap_or(s.threads),
                    "hold-frames" => s.hold_frames = value.get().unwrap_or(s.hold_frames),
                    "mouth-interior" => s.mouth_interior = value.get().unwrap_or(s.mouth_interior),
                    "width" => s.width = value.get().unwrap_or(s.width),
                    "backend" => s.backend = value.get().unwrap_or(s.backend),
                    "liveportrait-dir" => {
                        s.liveportrait_dir = value
                            .get::<Option<String>>()
                            .ok()
                            .flatten()
                            .filter(|p| !p.is_empty())
                    }
                    "height" => s.height = value.get().unwrap_or(s.height),
                    "fallback" => s.fallback = value.get().unwrap_or(s.fallback),
                    "fault-deadline" => s.fault_deadline = value.get().unwrap_or(s.fault_deadline),
                    other => gst::warning!(CAT, imp = self, "unknown property {other}"),
                }
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = self.live.property(self.obj().upcast_ref(), pspec.name()) {
            return v;
        }
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "source" => s.source.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "hold-frames" => s.hold_frames.to_value(),
            "mouth-interior" => s.mouth_interior.to_value(),
            "width" => s.width.to_value(),
            "backend" => s.backend.to_value(),
            "liveportrait-dir" => s.liveportrait_dir.to_value(),
            "height" => s.height.to_value(),
            "fallback" => s.fallback.to_value(),
            "fault-deadline" => s.fault_deadline.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for PortraitAnimate {}

impl ElementImpl for PortraitAnimate {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Portrait animator (gst-portrait)",
                "Filter/Effect/Video",
                "Renders the source portrait moved by the driving face's motion meta (from motionextract): head rotation, scale, position and expression, by warping the portrait's landmark mesh with the background pinned. Weight-free: needs no model download beyond the project's face models",
                "gst-portrait developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let src_caps = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgba)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src_caps,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &video::raw_caps(),
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PortraitAnimate {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.live.reset();
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let path = s.source.clone().ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("portraitanimate: no source portrait: set the source property to an image file")
            )
        })?;
        let src = portrait::prepare(
            std::path::Path::new(&path),
            s.device.into(),
            s.threads as usize,
            None,
        )
        .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("portraitanimate: {}", e)))?;
        gst::info!(
            CAT,
            imp = self,
            "source {} ready ({}×{})",
            path,
            src.width,
            src.height
        );
        let lp = match s.backend {
            Backend::Mesh => None,
            Backend::LivePortrait => Some(self.prepare_liveportrait(&s, &src)?),
        };
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State {
            lp,
            current: {
                let out = output_size(src.width, src.height, s.width, s.height);
                if out.frame != out.render {
                    gst::info!(
                        CAT,
                        imp = self,
                        "output {}×{}: the {}×{} portrait without its last odd row/column (encoders need even sizes)",
                        out.frame.0,
                        out.frame.1,
                        out.render.0,
                        out.render.1
                    );
                }
                current_for(src, out)
            },
            pending: Default::default(),
            motion: DrivingMotion::neutral(),
            lost_frames: 0,
            targets: Vec::new(),
            in_info: None,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            workers: (1, Workers::new(1)),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let size = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|st| {
                let (w, h) = st.current.size.frame;
                (w as i32, h as i32)
            });
        let mut out = gst::Caps::new_empty();
        {
            let out = out.get_mut()?;
            for s in caps.iter() {
                let mut n = if direction == gst::PadDirection::Sink {
                    let mut b =
                        gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::Rgba);
                    if let Some((w, h)) = size {
                        b = b.width(w).height(h);
                    }
                    b.build()
                } else {
                    video::raw_caps()
                };
                if let Ok(fr) = s.value("framerate")
                    && let Some(ns) = n.get_mut().and_then(|c| c.structure_mut(0))
                {
                    ns.set_value("framerate", fr.clone());
                }
                out.append(n);
            }
        }
        match filter {
            Some(f) => Some(f.intersect_with_mode(&out, gst::CapsIntersectMode::First)),
            None => Some(out),
        }
    }

    crate::live_transform_methods!();

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            self.live.flushed();
        }
        self.parent_sink_event(event)
    }

    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        video::offer_pool_if_none(query);
        self.parent_decide_allocation(query)
    }

    fn unit_size(&self, caps: &gst::Caps) -> Option<usize> {
        gst_video::VideoInfo::from_caps(caps).ok().map(|i| i.size())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        if let Some(st) = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            st.in_info = Some(info);
        }
        Ok(())
    }

    fn transform(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let r = self.render(inbuf, outbuf);
        self.live.done(self.obj().upcast_ref());
        r
    }
}

impl PortraitAnimate {
    /// Renders one output frame.
    fn render(
        &self,
        inbuf: &gst::Buffer,
        outbuf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (threads, hold_frames, mouth_interior, fallback, deadline) = {
            let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            (
                s.threads,
                s.hold_frames,
                s.mouth_interior,
                s.fallback,
                Duration::from_millis(s.fault_deadline.into()),
            )
        };
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;

        // A source prepared in the background replaces the current one, scaled to the
        // negotiated output size.
        let ready = st.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        match ready {
            Some(Ok(src)) => {
                let (w, h) = (st.current.source.width, st.current.source.height);
                if src.width == w && src.height == h {
                    st.current = current_for(src, st.current.size);
                    st.motion = DrivingMotion::neutral();
                    gst::info!(CAT, imp = self, "switched source");
                } else {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        (
                            "portraitanimate: new source {} is {}×{}, the output is {}×{}; keeping the current portrait",
                            src.path.display(),
                            src.width,
                            src.height,
                            w,
                            h
                        )
                    );
                }
            }
            Some(Err(e)) => {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenRead,
                    (
                        "portraitanimate: new source rejected, keeping the current one: {}",
                        e
                    )
                );
            }
            None => {}
        }

        // The driving motion: the first face's motion meta; none → hold, then ease back.
        // (In liveportrait mode the mesh part only lays down the neutral portrait.)
        match inbuf.meta::<MotionMeta>().filter(|_| st.lp.is_none()) {
            Some(m) => {
                crate::metas::set_driving_motion(&mut st.motion, &m);
                st.lost_frames = 0;
            }
            None => {
                st.lost_frames += 1;
                if st.lost_frames > hold_frames && fallback != Fallback::Hold {
                    st.motion.ease_to_neutral(EASE_PER_FRAME);
                }
            }
        }

        let src = st.current.source.clone();
        let size = st.current.size;
        let (ow, oh) = size.frame;
        let idx = st.current.next % src.frames.len().max(1);
        st.current.next = idx + 1;
        let (sf, frame, framed) = src.frame(idx).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ["source frame: {}", e]);
            gst::FlowError::Error
        })?;
        sf.face.drive(&st.motion, &mut st.targets);
        st.targets.extend_from_slice(&sf.points[st.targets.len()..]);
        let (rw, rh) = size.render;
        if (rw, rh) != (src.width, src.height) {
            let (sx, sy) = (rw as f32 / src.width as f32, rh as f32 / src.height as f32);
            for p in st.targets.iter_mut() {
                *p = [p[0] * sx, p[1] * sy];
            }
        }
        let mut map = outbuf.map_writable().map_err(|_| gst::FlowError::Error)?;
        let out = map.as_mut_slice();
        if out.len() < ow * oh * 4 {
            return Err(gst::FlowError::NotNegotiated);
        }
        let threads = match threads {
            0 => st.cpus,
            n => n as usize,
        };
        if st.workers.0 != threads {
            st.workers = (threads, Workers::new(threads));
        }
        portrait_infer::stages::enter(portrait_infer::stages::Stage::Render);
        st.current.warps[idx].warp_with_margin(
            &framed,
            portrait::MARGIN,
            &st.targets,
            &mut out[..ow * oh * 4],
            &st.workers.1,
        );
        if let Some(lp) = st.lp.as_mut() {
            let driving = inbuf
                .meta::<MotionMeta>()
                .and_then(|m| m.keypoints.as_ref().and_then(crate::metas::keypoint_params));
            match driving {
                Some(d) => {
                    let reference = *lp.reference.get_or_insert(d);
                    // A run while the breaker is open is skipped: the fallback shows.
                    let good = if lp.faults.allows() {
                        let t = Instant::now();
                        let r = lp.renderer.render(&d, &reference);
                        let took = t.elapsed();
                        match r {
                            Err(e) => {
                                lp.faults.run_failed(
                                    &*self.obj(),
                                    fallback == Fallback::Error,
                                    &format!("portraitanimate: {e}"),
                                    fallback_shown(lp, fallback),
                                )?;
                                false
                            }
                            Ok(_) if !deadline.is_zero() && took > deadline => {
                                let why = format!(
                                    "the rendering took {} ms, over fault-deadline={} ms",
                                    took.as_millis(),
                                    deadline.as_millis()
                                );
                                lp.faults.failed(
                                    &*self.obj(),
                                    &format!("portraitanimate: {why}"),
                                    fallback_shown(lp, fallback),
                                );
                                // The frame itself was rendered: show it.
                                lp.rendered = true;
                                true
                            }
                            Ok(_) => {
                                lp.faults
                                    .succeeded(&*self.obj(), "portraitanimate: rendering");
                                lp.rendered = true;
                                true
                            }
                        }
                    } else {
                        false
                    };
                    // Neutral: the mesh pass already laid down the portrait at rest.
                    if good || (fallback == Fallback::Hold && lp.rendered) {
                        portrait_infer::stages::enter(portrait_infer::stages::Stage::Render);
                        crate::liveportrait_onnx::paste_back(
                            out,
                            size.frame,
                            size.render,
                            (src.width, src.height),
                            &lp.crop,
                            &lp.renderer.image,
                            12.0,
                        );
                    }
                }
                None if !lp.warned && inbuf.meta::<MotionMeta>().is_some() => {
                    lp.warned = true;
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ("portraitanimate: backend=liveportrait needs LivePortrait keypoints in the motion meta: set motionextract liveportrait-model=<dir>/motion_extractor.onnx")
                    );
                }
                None => {}
            }
        } else {
            if mouth_interior {
                // The driving face's own mouth when its pixels show one (below the
                // portrait's own teeth); else the portrait's own interior and a drawn one.
                let from_driver = match (inbuf.meta::<MotionMeta>(), st.in_info.as_ref()) {
                    (Some(m), Some(info)) => driver_mouth(inbuf, info, |driving| {
                        face_paint::transfer_mouth(
                            driving,
                            &frame,
                            &m.landmarks,
                            &sf.points,
                            &st.targets,
                            out,
                            ow,
                            oh,
                        )
                    }),
                    _ => Err(face_paint::NoTransfer::NoPicture),
                };
                match from_driver {
                    Ok(()) | Err(face_paint::NoTransfer::NotOpen) => {}
                    Err(why) => {
                        gst::trace!(CAT, imp = self, "mouth interior from the portrait: {why:?}");
                        face_paint::synth_mouth(&frame, &sf.points, &st.targets, out, ow, oh);
                    }
                }
            }
            face_paint::paint_eyelids(&sf.points, &st.targets, out, ow, oh);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Loads the LivePortrait files and prepares the source face: its 256² crop (2.3×
    /// the landmarks' extent, centred an eighth of the crop above them, levelled on
    /// the eyes, as LivePortrait crops) → appearance features and keypoints.
    fn prepare_liveportrait(&self, s: &Settings, src: &Source) -> Result<Lp, gst::ErrorMessage> {
        let dir = s.liveportrait_dir.as_ref().ok_or_else(|| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("portraitanimate: backend=liveportrait needs liveportrait-dir (a FasterLivePortrait ONNX directory)")
            )
        })?;
        let mut renderer = shared::load_model(
            &*self.obj(),
            "portraitanimate: liveportrait-dir",
            liveportrait_onnx::Renderer::load(
                std::path::Path::new(dir),
                s.device.into(),
                s.threads as usize,
            ),
        )?;
        let (f0, view, _) = src
            .frame(0)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("portraitanimate: {}", e)))?;
        let lm = &f0.points[..468.min(f0.points.len())];
        let (l, r) = (lm[EYE_LEFT_OUTER], lm[EYE_RIGHT_OUTER]);
        let crop = liveportrait_onnx::face_crop(portrait_vision::detect::bounds(lm), l, r);
        let mut tensor = vec![0.0; MOTION_INPUT_LEN];
        liveportrait_onnx::crop_to_tensor(&view, &crop, &mut tensor);
        renderer
            .set_source(&tensor)
            .map_err(|e| shared::infer_error("portraitanimate: liveportrait source", e))?;
        Ok(Lp {
            renderer,
            crop,
            reference: None,
            warned: false,
            faults: Faults::default(),
            rendered: false,
        })
    }
}
