// SPDX-License-Identifier: MIT

//! facedetect: finds faces and attaches a `FaceMeta` + ROI meta per face; pixels untouched.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_portrait_meta::{Face, FaceMeta};
use portrait_vision::track::IdTracker;

use super::RedetectAsync;
use crate::detector::{self, Background, Detector, Params};
use crate::live::{self, AnalysisFallback, Faults, Live};
use crate::shared::DeviceProp;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "facedetect",
        gst::DebugColorFlags::empty(),
        Some("gst-portrait face detector"),
    )
});

const DEFAULT_MODEL: &str = "retinaface";
const DEFAULT_REDETECT_MODEL: &str = "auto";
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_REGION_DETECT: bool = true;
/// With region-detect, the whole frame is searched for new faces this often, in frames:
/// by the re-detector (BlazeFace 128, about 1 ms; what MediaPipe's face mesh runs on the
/// whole frame on every frame), the main model's whole-frame search (10-14 ms at
/// 640×480) following only when it shows a face away from the found ones. Not while
/// `max-faces` faces are found already: no other face could be kept (as MediaPipe
/// searches only while it tracks fewer than max_num_faces). Before, this whole-frame
/// search cost as much as the 30 region passes between two of them together.
const WHOLE_FRAME_EVERY: u32 = 30;
/// ... and the main model searches the whole frame at least this often, for new faces
/// too small for the re-detector (under ~100 px at 640×480).
const SMALL_FACES_EVERY: u32 = 300;

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    redetect_model: String,
    redetect_async: RedetectAsync,
    params: Params,
    interval: u32,
    region_detect: bool,
    device: DeviceProp,
    threads: u32,
    post_messages: bool,
    fallback: AnalysisFallback,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: DEFAULT_MODEL.into(),
            redetect_model: DEFAULT_REDETECT_MODEL.into(),
            redetect_async: RedetectAsync::Auto,
            params: Params::default(),
            interval: DEFAULT_INTERVAL,
            region_detect: DEFAULT_REGION_DETECT,
            device: DeviceProp::Auto,
            threads: DEFAULT_THREADS,
            post_messages: false,
            fallback: AnalysisFallback::Skip,
        }
    }
}

struct State {
    detector: Detector,
    /// The cheaper detector of `interval`'s re-detections while faces are tracked.
    redetector: Option<Background>,
    info: Option<gst_video::VideoInfo>,
    frame_count: u64,
    /// Region re-detections since the whole frame was last searched.
    regions_run: u32,
    /// Faces of the last detection, carried onto frames `interval` skips.
    faces: Vec<Face>,
    tracker: IdTracker,
    ids: Vec<u64>,
    boxes: Vec<[f32; 4]>,
    /// The region of the last region detection (kept while the faces stay in it).
    region: Option<[f32; 3]>,
    /// The detections the faces are made from (reused).
    dets: Vec<portrait_vision::detect::Detection>,
}

pub struct FaceDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    live: Live,
    faults: Faults,
}

impl Default for FaceDetect {
    fn default() -> Self {
        FaceDetect {
            settings: Default::default(),
            state: Default::default(),
            live: Live::new(*CAT),
            faults: Faults::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FaceDetect {
    const NAME: &'static str = "GstPortraitFaceDetect";
    type Type = super::FaceDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceDetect {
    fn constructed(&self) {
        self.parent_constructed();
        Live::constructed(&*self.obj());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Params::default();
            let mut props = vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Face detector: \"retinaface\" (RetinaFace-MobileNet0.25, default), \"blazeface\" (BlazeFace 128, fast, near faces), \"blazeface-back\" (BlazeFace 256, far faces), or the path of a user-supplied ONNX file of one of these families (recognised by its input/output shapes). Built-in models are looked up in $GST_PORTRAIT_MODEL_DIR (default ~/.cache/gst-portrait/models, filled by scripts/setup.sh)")
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("redetect-model")
                    .nick("Re-detection model")
                    .blurb("Detector for the re-detections of interval > 1 while faces are being tracked (motionextract follows them in between): \"auto\" (BlazeFace 128 when model is RetinaFace: about 1 ms where RetinaFace takes 10-14 ms at 640x480, so tracking has no cost spike every interval frames; RetinaFace still runs on a frame where BlazeFace finds fewer faces than are tracked, and for every first detection; a new face only RetinaFace can see, small or far, is found when BlazeFace next misses a tracked one), \"none\" (always model: scenes where small faces come and go), or a model name or path as for model")
                    .default_value(Some(DEFAULT_REDETECT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("redetect-async", RedetectAsync::Auto)
                    .nick("Re-detect asynchronously")
                    .blurb("Where the re-detections of interval > 1 run while faces are tracked. on: on a thread of their own, while their frame goes on downstream with the tracked faces; the result is the next frame's detection (that frame waits for it if it is not done), so on two cores a re-detection frame costs about what the others do, and in a live pipeline the run fits between frames. off: in the streaming thread, on the frame itself. auto: on when upstream is live")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("threshold")
                    .nick("Score threshold")
                    .blurb("Minimum detection confidence of a face")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("nms-threshold")
                    .nick("NMS threshold")
                    .blurb("Overlap (IoU) above which the weaker of two detections is dropped")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.nms_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Keep at most this many faces per frame, the most confident first")
                    .minimum(1)
                    .maximum(1024)
                    .default_value(d.max_faces as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-size")
                    .nick("Minimum face size")
                    .blurb("Drop faces whose box is smaller than this many pixels on its shorter side (0: keep all)")
                    .maximum(65535)
                    .default_value(d.min_size as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detection-size")
                    .nick("Detection size")
                    .blurb("Longest side, in pixels, that frames are scaled to (down or up) before RetinaFace runs. Smaller is faster but misses small faces: RetinaFace finds faces down to about 16-20 px at this scale")
                    .minimum(32)
                    .maximum(8192)
                    .default_value(d.detection_size as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Detection interval")
                    .blurb("Run the detector every N frames; frames in between carry the last faces with detected=false (a tracker such as motionextract can follow them)")
                    .minimum(1)
                    .maximum(10000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("region-detect")
                    .nick("Region detection")
                    .blurb("With interval=1 (a detection on every frame) and RetinaFace: while faces are found, look for them again in the region around them (the faces and half a face on every side, scaled to 128x128: about 1 ms where the whole 640x480 frame takes 10-14 ms; the same model, so the same boxes within a few pixels; the region stays put while the faces stay well inside it, so a still face keeps exactly one box). The whole frame is searched on the first frame and whenever a face is not found in its region; while fewer than max-faces faces are found, also every 30 frames by the re-detector (redetect-model: BlazeFace 128 by default, about 1 ms; none: the whole-frame search itself), with the whole-frame search following when it shows a new face and at least every 300 frames (faces under ~100 px), so a new face away from the others is found within 30 frames, a small one within 300. false: the whole frame every frame")
                    .default_value(DEFAULT_REGION_DETECT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", DeviceProp::Auto)
                    .nick("Device")
                    .blurb("Where inference runs: auto (CUDA when usable, else the CPU: quietly on a machine without a GPU, with a warning when a GPU is there but unusable), cpu, cuda or tensorrt (an error when unusable)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU threads for inference (0: automatic: one for BlazeFace, which runs slower on more, one per core this process may use for RetinaFace)")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post an element message named \"facedetect\" on the bus for each frame with faces, as OpenCV's facedetect does: timestamp, stream-time, running-time, duration, and faces (a list of \"face\" structures: x, y, width, height, score, track-id, detected, eye-left-x, ...)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                live::analysis_fallback_property(),
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
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_MODEL.into())
            }
            "threshold" => s.params.threshold = value.get().unwrap_or(s.params.threshold),
            "nms-threshold" => {
                s.params.nms_threshold = value.get().unwrap_or(s.params.nms_threshold)
            }
            "max-faces" => {
                s.params.max_faces = value
                    .get::<u32>()
                    .map(|v| v as usize)
                    .unwrap_or(s.params.max_faces)
            }
            "min-size" => {
                s.params.min_size = value
                    .get::<u32>()
                    .map(|v| v as f32)
                    .unwrap_or(s.params.min_size)
            }
            "detection-size" => {
                s.params.detection_size = value
                    .get::<u32>()
                    .map(|v| v as usize)
                    .unwrap_or(s.params.detection_size)
            }
            "interval" => s.interval = value.get().unwrap_or(s.interval),
            "redetect-async" => s.redetect_async = value.get().unwrap_or(s.redetect_async),
            "region-detect" => s.region_detect = value.get().unwrap_or(s.region_detect),
            "redetect-model" => {
                s.redetect_model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_REDETECT_MODEL.into())
            }
            "device" => s.device = value.get().unwrap_or(s.device),
            "threads" => s.threads = value.get().unwrap_or(s.threads),
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
            "threshold" => s.params.threshold.to_value(),
            "nms-threshold" => s.params.nms_threshold.to_value(),
            "max-faces" => (s.params.max_faces as u32).to_value(),
            "min-size" => (s.params.min_size as u32).to_value(),
            "detection-size" => (s.params.detection_size as u32).to_value(),
            "interval" => s.interval.to_value(),
            "redetect-async" => s.redetect_async.to_value(),
            "region-detect" => s.region_detect.to_value(),
            "redetect-model" => s.redetect_model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "fallback" => s.fallback.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for FaceDetect {}

impl ElementImpl for FaceDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Face detector (gst-portrait)",
                "Filter/Analyzer/Video",
                "Finds faces (RetinaFace or BlazeFace, ONNX Runtime) and attaches a face meta (box, score, 5 landmarks, track id) and a \"face\" GstVideoRegionOfInterestMeta per face; pixels are untouched",
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

impl BaseTransformImpl for FaceDetect {
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
        let path = detector::resolve_model(&s.model);
        let detector = crate::shared::load_model(
            &*self.obj(),
            "facedetect",
            Detector::load(&path, s.device.into(), s.threads as usize),
        )?;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({}) on {}",
            path.display(),
            detector.family.name(),
            detector.provider()
        );
        let redetector = match detector::redetect_model(&s.redetect_model, &detector.family) {
            // "auto" is a speed-up, not a requirement: without its model, the main one.
            Some(path) if s.redetect_model == "auto" && !path.is_file() => {
                gst::info!(
                    CAT,
                    imp = self,
                    "no {}: re-detections use the main model",
                    path.display()
                );
                None
            }
            Some(path) => {
                let r = crate::shared::load_model(
                    &*self.obj(),
                    "facedetect redetect-model",
                    Detector::load(&path, s.device.into(), 0),
                )?;
                gst::info!(
                    CAT,
                    imp = self,
                    "re-detections while tracking: {} ({})",
                    path.display(),
                    r.family.name()
                );
                Some(Background::new(r))
            }
            None => None,
        };
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State {
            detector,
            redetector,
            info: None,
            frame_count: 0,
            regions_run: 0,
            faces: Vec::new(),
            tracker: IdTracker::new(),
            ids: Vec::new(),
            boxes: Vec::new(),
            region: None,
            dets: Vec::new(),
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = state.as_mut() {
            // Another frame size: the last faces' boxes (and their region) are in the
            // old one's pixels, so they are not carried over.
            if st
                .info
                .as_ref()
                .is_some_and(|old| (old.width(), old.height()) != (info.width(), info.height()))
            {
                st.frame_count = 0;
                st.faces.clear();
                st.boxes.clear();
                st.region = None;
                st.tracker.reset();
                if let Some(r) = st.redetector.as_mut() {
                    let _ = r.finish();
                }
            }
            st.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            // After a seek, don't carry faces from before it.
            if let Some(st) = self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                st.frame_count = 0;
                st.faces.clear();
                st.tracker.reset();
                // A re-detection of a frame from before the seek is not this one's.
                if let Some(r) = st.redetector.as_mut() {
                    let _ = r.finish();
                }
            }
            self.live.flushed();
        }
        self.parent_sink_event(event)
    }

    crate::live_transform_methods!();

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let r = self.detect(buf);
        self.live.done(self.obj().upcast_ref());
        r
    }
}

/// The region to look for `boxes` in: the last one while it holds them, else a new one
/// (kept in `last`).
fn region_for(last: &mut Option<[f32; 3]>, boxes: &[[f32; 4]]) -> Option<[f32; 3]> {
    *last = portrait_vision::detect::next_region(*last, boxes);
    *last
}

impl FaceDetect {
    /// Detects (or carries the last faces onto) one frame.
    fn detect(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let tier = self.live.tier();

        let (params, interval, tracking, region, post, fallback, asynchronous) = {
            let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            // Degraded: detect less often, motionextract tracks in between.
            let factor = if tier >= 1 {
                live::TIER1_INTERVAL_FACTOR
            } else {
                1
            };
            let interval = (s.interval.max(1) * factor) as u64;
            // The cheap re-detector serves an `interval` the user chose; the
            // degradation's longer interval keeps the main model (its tier 1 is about
            // detecting less often, not with another detector).
            let tracking = s.interval > 1;
            (
                s.params.clone(),
                interval,
                tracking,
                s.region_detect && interval == 1,
                s.post_messages,
                s.fallback,
                match s.redetect_async {
                    RedetectAsync::On => true,
                    RedetectAsync::Off => false,
                    RedetectAsync::Auto => self.live.is_live(),
                },
            )
        };
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = st.info.clone().ok_or(gst::FlowError::NotNegotiated)?;

        let run_detector = st.frame_count % interval == 0;
        st.frame_count += 1;
        // A re-detection handed to its thread on the last frame: its result is this
        // frame's detection.
        let pending = st.redetector.as_ref().is_some_and(Background::pending);
        let handed_over = run_detector
            && !pending
            && asynchronous
            && tracking
            && !st.faces.is_empty()
            && self.faults.allows()
            && match st.redetector.as_mut() {
                Some(r) => {
                    let frame = video::map_readable(self, buf, &info)?;
                    r.start(&video::view(self, &frame)?, &params)
                        .unwrap_or_else(|e| {
                            gst::warning!(
                                CAT,
                                imp = self,
                                "re-detecting in the streaming thread: {e}"
                            );
                            false
                        })
                }
                None => false,
            };
        if run_detector && !pending && !self.faults.allows() {
            // A faulty model is left alone for its back-off: no faces meanwhile.
            st.faces.clear();
        } else if (run_detector && !handed_over) || pending {
            let frame = video::map_readable(self, buf, &info)?;
            let view = video::view(self, &frame)?;
            let tracked = st.faces.len();
            // Due a search for new faces (see WHOLE_FRAME_EVERY): the re-detector
            // first; the main model's whole-frame search if it shows a new face, errs,
            // or is missing, and every SMALL_FACES_EVERY frames.
            let due = region && tracked > 0 && tracked < params.max_faces;
            let search = due
                && (st.regions_run >= SMALL_FACES_EVERY
                    || (st.regions_run > 0
                        && st.regions_run.is_multiple_of(WHOLE_FRAME_EVERY)
                        && match st
                            .redetector
                            .as_mut()
                            .and_then(Background::here)
                            .map(|r| r.detect(&view, &params))
                        {
                            Some(Ok(d)) => portrait_vision::detect::has_new_face(
                                d.iter().map(|f| &f.bbox),
                                &st.boxes,
                            ),
                            _ => true,
                        }));
            // A re-detection while faces are tracked: the cheap detector, unless it
            // loses one of them.
            let redetected = match st.redetector.as_mut() {
                Some(r) if pending => r.finish(),
                Some(r) if tracked > 0 && tracking => r.here().map(|r| r.detect(&view, &params)),
                _ => None,
            };
            let fast = match redetected {
                Some(Ok(d)) if detector::redetection_holds(d.len(), tracked) => Some(Ok(d)),
                Some(Ok(_)) | None => None,
                Some(Err(e)) => Some(Err(e)),
            };
            // Detecting every frame: the region around the faces found on the last one,
            // unless one of them is not found there (or it errs: the whole frame then).
            let around = (region && tracked > 0 && !search)
                .then(|| region_for(&mut st.region, &st.boxes))
                .flatten()
                .filter(|_| st.detector.detects_regions());
            let in_region = around.is_some_and(|r| {
                st.detector
                    .detect_region(&view, &params, r)
                    .is_ok_and(|d| detector::redetection_holds(d.len(), tracked))
            });
            st.regions_run = if in_region {
                st.regions_run.saturating_add(1)
            } else {
                0
            };
            let found = if in_region {
                Ok(st.detector.last())
            } else {
                fast.unwrap_or_else(|| st.detector.detect(&view, &params))
            };
            let dets = match found {
                Ok(d) => d,
                Err(e) => {
                    self.faults.run_failed(
                        &*self.obj(),
                        fallback == AnalysisFallback::Error,
                        &format!("facedetect: {e}"),
                        "frames pass on without faces",
                    )?;
                    st.faces.clear();
                    return Ok(gst::FlowSuccess::Ok);
                }
            };
            self.faults.succeeded(&*self.obj(), "facedetect: detection");
            st.dets.clear();
            st.dets.extend_from_slice(dets);
            // Faces the whole frame showed: their boxes from their region too, as on the
            // frames that follow, so that a still face keeps one box (a region's boxes
            // differ from the whole frame's by a few pixels).
            st.boxes.clear();
            st.boxes.extend(st.dets.iter().map(|d| d.bbox));
            let mut in_region = in_region;
            if region
                && !in_region
                && !st.dets.is_empty()
                && st.detector.detects_regions()
                && let Some(r) = region_for(&mut st.region, &st.boxes)
                && let Ok(d) = st.detector.detect_region(&view, &params, r)
                && detector::redetection_holds(d.len(), st.dets.len())
            {
                st.dets.clear();
                st.dets.extend_from_slice(d);
                st.boxes.clear();
                st.boxes.extend(st.dets.iter().map(|d| d.bbox));
                in_region = true;
            }
            st.tracker.assign(&st.boxes, &mut st.ids, 0.3);
            st.faces.clear();
            st.faces.extend(
                st.dets
                    .iter()
                    .zip(&st.ids)
                    .map(|(d, id)| crate::metas::detected_face(d, *id)),
            );
            drop(frame);
            gst::trace!(
                CAT,
                imp = self,
                "{} faces ({})",
                st.faces.len(),
                if in_region { "region" } else { "whole frame" }
            );
        } else {
            for f in &mut st.faces {
                f.detected = false;
            }
        }

        for face in &st.faces {
            let rect = (
                face.x.max(0.0).round() as u32,
                face.y.max(0.0).round() as u32,
                face.width.max(0.0).round() as u32,
                face.height.max(0.0).round() as u32,
            );
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, "face", rect);
            let roi_id = face.track_id.min(i32::MAX as u64) as i32;
            roi.set_id(roi_id);
            roi.add_param(face.to_structure());
            let mut f = face.clone();
            f.roi_id = roi_id;
            FaceMeta::add(buf, f);
        }

        if post && !st.faces.is_empty() {
            let msg = self.faces_message(buf, &st.faces);
            drop(guard);
            let _ = self.obj().post_message(msg);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn faces_message(&self, buf: &gst::BufferRef, faces: &[Face]) -> gst::Message {
        let segment = self.obj().segment();
        let seg = segment.downcast_ref::<gst::ClockTime>();
        let pts = buf.pts();
        let list = gst::List::new(faces.iter().map(|f| f.to_structure().to_send_value()));
        let s = gst::Structure::builder("facedetect")
            .field("timestamp", pts)
            .field("stream-time", seg.and_then(|s| s.to_stream_time(pts)))
            .field("running-time", seg.and_then(|s| s.to_running_time(pts)))
            .field("duration", buf.duration())
            .field("faces", list)
            .build();
        gst::message::Element::builder(s).src(&*self.obj()).build()
    }
}
