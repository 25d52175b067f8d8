// SPDX-License-Identifier: MIT

//! motionextract: the face metas in, one call per face into
//! [`crate::face_motion::MotionEstimator`], motion metas (and optional messages) out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_portrait_meta::{Face, FaceMeta, MotionMeta};

use crate::face_motion::{self, EyeModel, MotionEstimator, MotionParams};
use crate::landmarker::{self, EyeRefiner, FaceMesh};
use crate::live::{self, AnalysisFallback, Faults, Live};
use crate::liveportrait_onnx::MotionExtractor;
use crate::shared::{self, DeviceProp};
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "motionextract",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait motion extractor"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    liveportrait_model: Option<String>,
    device: DeviceProp,
    threads: u32,
    refine_eyes: bool,
    /// What each frame reads (Copy: no per-buffer clone of the strings above).
    params: MotionParams,
    post_messages: bool,
    fallback: AnalysisFallback,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: landmarker::BUILTIN.0.into(),
            liveportrait_model: None,
            device: DeviceProp::Auto,
            threads: 0,
            refine_eyes: true,
            params: MotionParams::default(),
            post_messages: false,
            fallback: AnalysisFallback::Skip,
        }
    }
}

struct State {
    estimator: MotionEstimator,
    info: Option<gst_video::VideoInfo>,
    /// The frame's faces (copied: the frame map borrows the buffer), reused.
    faces: Vec<Face>,
}

pub struct MotionExtract {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    reset_reference: AtomicBool,
    live: Live,
    faults: Faults,
}

impl Default for MotionExtract {
    fn default() -> Self {
        MotionExtract {
            settings: Default::default(),
            state: Default::default(),
            reset_reference: Default::default(),
            live: Live::new(*CAT),
            faults: Faults::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MotionExtract {
    const NAME: &'static str = "GstPortraitMotionExtract";
    type Type = super::MotionExtract;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for MotionExtract {
    fn constructed(&self) {
        self.parent_constructed();
        Live::constructed(&*self.obj());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let mut props = vec![
                glib::ParamSpecString::builder("model")
                    .nick("Landmark model")
                    .blurb("Dense landmark model: \"facemesh\" (MediaPipe FaceMesh 468, built in; $GST_PORTRAIT_MODEL_DIR/face_landmark.onnx, fetched by scripts/setup.sh) or the path of an ONNX file with the same signature ([1,3,192,192] RGB in [0,1] → 1404 landmark values + 1 presence logit)")
                    .default_value(Some(landmarker::BUILTIN.0))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("liveportrait-model")
                    .nick("LivePortrait motion extractor")
                    .blurb("Path of a user-supplied LivePortrait motion_extractor.onnx (FasterLivePortrait layout). When set, each motion meta also carries the face's implicit-keypoint parameters (pose from the bin logits, t, exp, scale, kp). Unset: FaceMesh only")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", d.device)
                    .nick("Device")
                    .blurb("Where inference runs: auto (CUDA when usable, else the CPU: quietly on a machine without a GPU, with a warning when a GPU is there but unusable), cpu, cuda or tensorrt (an error when unusable)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for inference (0: automatic: one for FaceMesh and the eye model, which run slower on more, one per core this process may use for a LivePortrait extractor)")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("presence-threshold")
                    .nick("Presence threshold")
                    .blurb("FaceMesh presence probability under which a face is dropped (no motion meta) and its track forgotten")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.params.presence_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("refine-eyes")
                    .nick("Refine eyes")
                    .blurb("Refine the lips and eyelids: the 468 mesh alone barely follows closing eyes, so eye-blink-* needs this. With the built-in model, MediaPipe's attention mesh runs instead of the plain mesh ($GST_PORTRAIT_MODEL_DIR/face_landmark_with_attention.onnx, MediaPipe's refine_landmarks=True; about 1.5 ms more per face on one core); with a custom model, the MediaPipe Iris eye-contour model refines its eyelids (iris_landmark.onnx, two eye crops, about 2.5 ms)")
                    .default_value(d.refine_eyes)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("Smooth landmarks (and so the pose and expression derived from them) over time with a One-Euro filter")
                    .default_value(d.params.smoothing)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-cutoff")
                    .nick("Minimum cutoff")
                    .blurb("One-Euro minimum cutoff frequency in Hz: lower removes more jitter from a still face (and adds lag to slow motion)")
                    .minimum(0.01)
                    .maximum(30.0)
                    .default_value(d.params.filter.min_cutoff)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("beta")
                    .nick("Speed coefficient")
                    .blurb("One-Euro speed coefficient: higher follows fast motion with less lag (speed measured in face widths per second)")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(d.params.filter.beta)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("reset-reference")
                    .nick("Reset reference")
                    .blurb("Set to true to take the next frame of each face as the new reference for relative motion (reads back false once done). The reference is otherwise each face's first frame. Same as the reset-reference action signal")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an element message named \"motionextract\" for each frame with faces: timestamp, running-time and motions (a list of \"motion\" structures: track-id, pitch, yaw, roll, tx, ty, scale, rel-*, mouth-open, eye-blink-left, ...)")
                    .default_value(d.post_messages)
                    .mutable_playing()
                    .build(),
                live::analysis_fallback_property(),
            ];
            props.extend(Live::properties());
            props
        });
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("reset-reference")
                    .action()
                    .class_handler(|args| {
                        if let Some(Ok(obj)) = args.first().map(|a| a.get::<super::MotionExtract>())
                        {
                            obj.imp().reset_reference.store(true, Ordering::SeqCst);
                        }
                        None
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self.live.set_property(pspec.name(), value) {
            return;
        }
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| landmarker::BUILTIN.0.into())
            }
            "liveportrait-model" => {
                s.liveportrait_model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|p| !p.is_empty())
            }
            "device" => s.device = value.get().unwrap_or(s.device),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
            "presence-threshold" => {
                s.params.presence_threshold = value.get().unwrap_or(s.params.presence_threshold)
            }
            "refine-eyes" => s.refine_eyes = value.get().unwrap_or(s.refine_eyes),
            "smoothing" => s.params.smoothing = value.get().unwrap_or(s.params.smoothing),
            "min-cutoff" => {
                s.params.filter.min_cutoff = value.get().unwrap_or(s.params.filter.min_cutoff)
            }
            "beta" => s.params.filter.beta = value.get().unwrap_or(s.params.filter.beta),
            "reset-reference" => {
                if value.get().unwrap_or(false) {
                    self.reset_reference.store(true, Ordering::SeqCst);
                }
            }
            "post-messages" => s.post_messages = value.get().unwrap_or(s.post_messages),
            "fallback" => s.fallback = value.get().unwrap_or(s.fallback),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = self.live.property(self.obj().upcast_ref(), pspec.name()) {
            return v;
        }
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "model" => s.model.to_value(),
            "liveportrait-model" => s.liveportrait_model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "presence-threshold" => s.params.presence_threshold.to_value(),
            "refine-eyes" => s.refine_eyes.to_value(),
            "smoothing" => s.params.smoothing.to_value(),
            "min-cutoff" => s.params.filter.min_cutoff.to_value(),
            "beta" => s.params.filter.beta.to_value(),
            "reset-reference" => self.reset_reference.load(Ordering::SeqCst).to_value(),
            "post-messages" => s.post_messages.to_value(),
            "fallback" => s.fallback.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for MotionExtract {}

impl ElementImpl for MotionExtract {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face motion extractor (gst-portrait)",
                "Filter/Analyzer/Video",
                "For each face of the face meta (from facedetect): FaceMesh 468 landmarks, head pose, expression controls, motion relative to a reference frame, smoothed, as a motion meta; follows faces between detections (facedetect interval=N). Pixels are untouched",
                "gst-portrait developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(video::filter_pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for MotionExtract {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.live.reset();
        self.faults.reset();
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (device, threads) = (s.device.into(), s.threads as usize);
        // The per-face models are small: on more than one thread the pool's hand-offs
        // cost more than they save (FaceMesh 1.4 ms on one thread, 2.4 on two; Iris 1.7
        // and 2.8, onnxruntime 1.31 on 2 cores, before their NCHWc rewrite), so 0 means
        // one for them.
        let face_threads = if threads == 0 { 1 } else { threads };
        let obj = self.obj();
        let path = landmarker::resolve_model(&s.model);
        let mesh = shared::load_model(
            &*obj,
            "motionextract: landmark model",
            FaceMesh::load(&path, device, face_threads),
        )?;
        // The built-in mesh is refined by MediaPipe's attention mesh (one run for mesh,
        // lips and eyes); a user's own mesh by the Iris eye model, as is an old cache
        // without the attention mesh. A user's attention mesh refines itself.
        let attention = landmarker::attention_model().filter(|_| s.model == landmarker::BUILTIN.0);
        let eyes = if !s.refine_eyes || mesh.refined() {
            None
        } else if let Some(attention) = attention {
            Some(EyeModel::Attention(shared::load_model(
                &*obj,
                "motionextract: attention mesh (refine-eyes)",
                FaceMesh::load(&attention, device, face_threads),
            )?))
        } else {
            let p = portrait_infer::models_dir().join(landmarker::IRIS_MODEL);
            Some(EyeModel::Iris(shared::load_model(
                &*obj,
                "motionextract: eye-contour model (refine-eyes)",
                EyeRefiner::load(&p, device, face_threads),
            )?))
        };
        let canonical = shared::canonical_mesh("motionextract")?;
        let liveportrait = match &s.liveportrait_model {
            Some(p) => Some(shared::load_model(
                &*obj,
                "motionextract: liveportrait-model",
                MotionExtractor::load(std::path::Path::new(p), device, threads),
            )?),
            None => None,
        };
        gst::info!(
            CAT,
            imp = self,
            "loaded {} on {}",
            path.display(),
            mesh.provider()
        );
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State {
            estimator: MotionEstimator::new(mesh, eyes, liveportrait, canonical),
            info: None,
            faces: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
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
            st.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(st) = self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
        {
            // After a seek, smoothing and tracking restart (the reference is kept).
            st.estimator.restart();
        }
        if let gst::EventView::FlushStop(_) = event.view() {
            self.live.flushed();
        }
        self.parent_sink_event(event)
    }
    crate::live_transform_methods!();

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let r = self.extract(buf);
        self.live.done(self.obj().upcast_ref());
        r
    }
}

impl MotionExtract {
    /// The motion of each face of one frame.
    fn extract(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (mut params, post_messages, fallback) = {
            let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            (s.params, s.post_messages, s.fallback)
        };
        params.refine_eyes = self.live.tier() < live::TIER_NO_EYES;
        let reset = self.reset_reference.swap(false, Ordering::SeqCst);
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = st.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        st.estimator.begin_frame(reset);

        crate::metas::copy_metas::<FaceMeta, _>(buf, &mut st.faces, |m| m.face());
        // A faulty model is left alone for its back-off: no motion meanwhile.
        if st.faces.is_empty() || !self.faults.allows() {
            st.estimator.end_frame();
            return Ok(gst::FlowSuccess::Ok);
        }

        let pts = buf.pts();
        let mut motions = Vec::with_capacity(st.faces.len());
        {
            let frame = video::map_readable(self, buf, &info)?;
            let view = video::view(self, &frame)?;
            for (fi, face) in st.faces.iter().enumerate() {
                match st
                    .estimator
                    .face(&view, face, pts.map(|t| t.nseconds()), &params)
                {
                    Ok(Some(m)) => {
                        self.faults
                            .succeeded(&*self.obj(), "motionextract: the face models");
                        motions.push((fi, m))
                    }
                    Ok(None) => gst::debug!(
                        CAT,
                        imp = self,
                        "face {}: no motion (mesh presence under the threshold, or lost)",
                        face.track_id
                    ),
                    Err(e) => {
                        self.faults.run_failed(
                            &*self.obj(),
                            fallback == AnalysisFallback::Error,
                            &format!("motionextract: {e}"),
                            "frames pass on without motion",
                        )?;
                        motions.clear();
                        break;
                    }
                }
            }
        }
        st.estimator.end_frame();

        // Faces followed by our tracking get their box and 5 landmarks from the mesh.
        for (i, mut fm) in buf.iter_meta_mut::<FaceMeta>().enumerate() {
            if let Some((_, m)) = motions.iter().find(|(fi, m)| *fi == i && m.tracked) {
                face_motion::update_face_from_mesh(fm.face_mut(), &m.landmarks);
            }
        }
        let post = post_messages && !motions.is_empty();
        let structures: Vec<gst::Structure> = if post {
            motions.iter().map(|(_, m)| m.to_structure()).collect()
        } else {
            Vec::new()
        };
        for (_, m) in motions {
            MotionMeta::add(buf, m);
        }
        drop(guard);
        if post {
            let running_time = self
                .obj()
                .segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|seg| seg.to_running_time(pts));
            let msg = gst::Structure::builder("motionextract")
                .field("timestamp", pts)
                .field("running-time", running_time)
                .field(
                    "motions",
                    gst::List::new(structures.into_iter().map(|s| s.to_send_value())),
                )
                .build();
            let _ = self.obj().post_message(
                gst::message::Element::builder(msg)
                    .src(&*self.obj())
                    .build(),
            );
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
