// SPDX-License-Identifier: MIT

//! FaceMesh 468 on a roll-aligned square crop: crop placement (from detector landmarks
//! or from the previous frame's mesh), fused crop sampling into one reused tensor,
//! ONNX Runtime, and landmarks mapped back to frame pixels. No GStreamer here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portrait_infer::ort::value::TensorRef;
use portrait_infer::{Device, InferError, Loaded, SharedSession, Signature};
use portrait_vision::FrameRef;
use portrait_vision::mesh::CanonicalMesh;
use portrait_vision::resample::{Affine, Normalize, frame_to_tensor_affine};

/// Input side of the FaceMesh model.
pub const CROP: usize = 192;
/// Crop side over face size, as MediaPipe's face-landmark ROI (1.5×).
pub const CROP_SCALE: f32 = 1.5;
/// Built-in model file in the models directory.
pub const BUILTIN: (&str, &str) = ("facemesh", "face_landmark.onnx");

/// `model` property value → file.
pub fn resolve_model(model: &str) -> PathBuf {
    if model == BUILTIN.0 {
        portrait_infer::models_dir().join(BUILTIN.1)
    } else {
        PathBuf::from(model)
    }
}

/// Crop from the detector's five landmarks and box: centred on the box, rotated so the
/// eyes are level, side `CROP_SCALE` × the box's longer side.
pub fn crop_from_detection(bbox: [f32; 4], eye_l: [f32; 2], eye_r: [f32; 2]) -> Affine {
    let angle = (eye_r[1] - eye_l[1]).atan2(eye_r[0] - eye_l[0]);
    let (cx, cy) = (bbox[0] + bbox[2] / 2.0, bbox[1] + bbox[3] / 2.0);
    Affine::square_crop(cx, cy, bbox[2].max(bbox[3]) * CROP_SCALE, angle, CROP)
}

/// Crop from the previous frame's mesh (tracking): the landmarks' extent in the
/// eye-aligned frame, centred, `CROP_SCALE` × its longer side.
pub fn crop_from_landmarks(pts: &[[f32; 3]]) -> Option<Affine> {
    use portrait_vision::landmarks::{EYE_LEFT_OUTER, EYE_RIGHT_OUTER};
    if pts.len() < 468 {
        return None;
    }
    let (l, r) = (pts[EYE_LEFT_OUTER], pts[EYE_RIGHT_OUTER]);
    let angle = (r[1] - l[1]).atan2(r[0] - l[0]);
    let (s, c) = angle.sin_cos();
    // Extent in the rotated frame.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in pts {
        let u = c * p[0] + s * p[1];
        let v = -s * p[0] + c * p[1];
        x0 = x0.min(u);
        x1 = x1.max(u);
        y0 = y0.min(v);
        y1 = y1.max(v);
    }
    let (uc, vc) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (cx, cy) = (c * uc - s * vc, s * uc + c * vc);
    let side = (x1 - x0).max(y1 - y0) * CROP_SCALE;
    (side.is_finite() && side > 1.0).then(|| Affine::square_crop(cx, cy, side, angle, CROP))
}

/// MediaPipe's canonical face mesh in the models directory (the head-pose reference).
pub const CANONICAL_MESH: &str = "canonical_face_mesh.binarypb";

/// Reads and parses the canonical face mesh; the error names the file.
pub fn canonical_mesh() -> Result<CanonicalMesh, String> {
    let path = portrait_infer::models_dir().join(CANONICAL_MESH);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    CanonicalMesh::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// MediaPipe's attention FaceMesh (the model of its `refine_landmarks=True`), converted
/// by scripts/setup.sh: FaceMesh's input and outputs, with the lips and eyes refined by
/// the model's own sub-networks, plus 10 iris points. One run instead of FaceMesh and
/// two Iris crops.
pub const ATTENTION_MODEL: &str = "face_landmark_with_attention.onnx";

/// The attention mesh's file, where scripts/setup.sh has converted it (an older cache
/// may lack it: the callers then refine with Iris).
pub fn attention_model() -> Option<PathBuf> {
    Some(portrait_infer::models_dir().join(ATTENTION_MODEL)).filter(|p| p.is_file())
}

/// Input side of the eye-contour (MediaPipe Iris) model.
pub const EYE_CROP: usize = 64;
/// Eye crop side over the eye-corner extent (MediaPipe's iris ROI).
pub const EYE_CROP_SCALE: f32 = 2.3;
/// Built-in eye-contour model file.
pub const IRIS_MODEL: &str = "iris_landmark.onnx";
/// Square eye crop between two eye corners, levelled on them; `mirror` flips it
/// horizontally (the model is trained on image-left eyes).
pub fn eye_crop(a: [f32; 3], b: [f32; 3], mirror: bool) -> Affine {
    let angle = (b[1] - a[1]).atan2(b[0] - a[0]);
    let side = (b[0] - a[0]).abs().max((b[1] - a[1]).abs()) * EYE_CROP_SCALE;
    let m = Affine::square_crop(
        (a[0] + b[0]) / 2.0,
        (a[1] + b[1]) / 2.0,
        side.max(1.0),
        angle,
        EYE_CROP,
    )
    .0;
    if mirror {
        // x → EYE_CROP − x before the crop map.
        let n = EYE_CROP as f32;
        Affine([-m[0], m[1], m[2] + n * m[0], -m[3], m[4], m[5] + n * m[3]])
    } else {
        Affine(m)
    }
}

/// Refines the eyelids of a FaceMesh-468 result with the MediaPipe Iris eye-contour
/// model: the 468 mesh alone barely moves its lids when the eyes close.
pub struct EyeRefiner {
    session: Arc<SharedSession>,
    input: String,
    contour_out: String,
    /// Both eyes in one run (the model's batch dimension is symbolic).
    batched: bool,
    /// Both eye crops, one after the other.
    tensor: Vec<f32>,
}

impl EyeRefiner {
    pub fn load(path: &Path, device: Device, threads: usize) -> Result<Loaded<Self>, InferError> {
        portrait_infer::load(path, device, threads)?.try_map(|session| {
            let sig = session.signature();
            // 71 x, y, z per eye; a batch dimension that is symbolic (-1) takes both eyes
            // in one run (scripts/setup.sh converts the model that way).
            let contour = sig
                .outputs
                .iter()
                .find(|(_, s)| s.len() == 2 && s[1] == 213 && (s[0] == 1 || s[0] == -1));
            let (input, contour_out, batched) = match (sig.inputs.as_slice(), contour) {
                ([(input, shape)], Some(c))
                    if shape.len() == 4
                        && shape[1..] == [3, 64, 64]
                        && (shape[0] == 1 || shape[0] == -1) =>
                {
                    (input.clone(), c.0.clone(), shape[0] == -1)
                }
                _ => {
                    return Err(InferError::ModelInvalid(
                        path.to_path_buf(),
                        format!(
                            "model {} is not MediaPipe Iris (one [1,3,64,64] or [N,3,64,64] input → [1 or N, 213] eye-contour values)",
                            sig.describe()
                        ),
                    ));
                }
            };
            Ok(EyeRefiner {
                session,
                input,
                contour_out,
                batched,
                tensor: vec![0.0; 2 * 3 * EYE_CROP * EYE_CROP],
            })
        })
    }

    /// Replaces the x, y of both eyes' 16 contour landmarks in `landmarks` (frame
    /// pixels, 468 points) by the eye-contour model's.
    pub fn refine(
        &mut self,
        frame: &FrameRef,
        landmarks: &mut [[f32; 3]],
    ) -> Result<(), InferError> {
        use portrait_vision::landmarks::*;
        portrait_infer::stages::enter(portrait_infer::stages::Stage::Pre);
        if landmarks.len() < 468 {
            return Ok(());
        }
        let norm = Normalize {
            mean: [0.0; 3],
            mul: [1.0 / 255.0; 3],
            bgr: false,
            nchw: true,
        };
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let eyes = [
            (EYE_LEFT_OUTER, EYE_LEFT_INNER, false, &EYE_LEFT_CONTOUR),
            (EYE_RIGHT_INNER, EYE_RIGHT_OUTER, true, &EYE_RIGHT_CONTOUR),
        ];
        let one = 3 * EYE_CROP * EYE_CROP;
        let crops = eyes.map(|(a, b, mirror, _)| eye_crop(landmarks[a], landmarks[b], mirror));
        for (m, t) in crops.iter().zip(self.tensor.chunks_exact_mut(one)) {
            frame_to_tensor_affine(frame, m, EYE_CROP, EYE_CROP, &norm, t);
        }
        // Both crops in one run when the model takes a batch, else one run each.
        let runs: &[(usize, usize)] = if self.batched {
            &[(0, 2)]
        } else {
            &[(0, 1), (1, 1)]
        };
        for &(first, n) in runs {
            let mut session = self.session.lock();
            let t = TensorRef::from_array_view((
                [n, 3, EYE_CROP, EYE_CROP],
                &self.tensor[first * one..(first + n) * one],
            ))
            .map_err(run_err)?;
            let out = session
                .run(portrait_infer::ort::inputs![self.input.as_str() => t])
                .map_err(run_err)?;
            let (_, c) = out[self.contour_out.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(run_err)?;
            for (e, c) in c.chunks_exact(213).take(n).enumerate() {
                let (_, _, _, table) = eyes[first + e];
                let m = &crops[first + e];
                for (k, &mesh_i) in table.iter().enumerate() {
                    let [x, y] = m.apply(c[3 * k], c[3 * k + 1]);
                    landmarks[mesh_i][0] = x;
                    landmarks[mesh_i][1] = y;
                }
            }
        }
        Ok(())
    }
}

pub struct FaceMesh {
    session: Arc<SharedSession>,
    input: String,
    landmarks_out: String,
    presence_out: String,
    tensor: Vec<f32>,
    /// The model refines lips and eyes itself (the attention mesh).
    refined: bool,
    /// The last run's landmarks in frame pixels.
    pub landmarks: Vec<[f32; 3]>,
}

impl std::fmt::Debug for FaceMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceMesh")
            .field("session", &self.session)
            .finish()
    }
}

/// Recognises a FaceMesh model: one [1,3,192,192] input, a 1404-value output and a
/// 1-value output. Returns (input, landmarks output, presence output, refined): refined
/// when a 30-value output (10 iris points) says it is the attention mesh.
pub fn recognise(sig: &Signature) -> Result<(String, String, String, bool), String> {
    let count = |s: &[i64]| s.iter().product::<i64>();
    let lm = sig.outputs.iter().find(|(_, s)| count(s) == 1404);
    let pr = sig.outputs.iter().find(|(_, s)| count(s) == 1);
    let refined = sig.outputs.iter().any(|(_, s)| count(s) == 30);
    match (sig.inputs.as_slice(), lm, pr) {
        ([(input, shape)], Some(lm), Some(pr)) if shape.as_slice() == [1, 3, 192, 192] => {
            Ok((input.clone(), lm.0.clone(), pr.0.clone(), refined))
        }
        _ => Err(format!(
            "model {} is not FaceMesh-468 (one [1,3,192,192] input → 1404 landmark values and 1 presence value)",
            sig.describe()
        )),
    }
}

impl FaceMesh {
    pub fn load(path: &Path, device: Device, threads: usize) -> Result<Loaded<Self>, InferError> {
        portrait_infer::load(path, device, threads)?.try_map(|session| {
            let (input, landmarks_out, presence_out, refined) = recognise(&session.signature())
                .map_err(|m| InferError::ModelInvalid(path.to_path_buf(), m))?;
            Ok(FaceMesh {
                session,
                input,
                landmarks_out,
                presence_out,
                tensor: vec![0.0; 3 * CROP * CROP],
                refined,
                landmarks: Vec::with_capacity(468),
            })
        })
    }

    pub fn provider(&self) -> &'static str {
        self.session.provider
    }

    /// Whether the model refines the lips and eyes itself (no eye model needed).
    pub fn refined(&self) -> bool {
        self.refined
    }

    /// Runs on the crop `m` (tensor → frame) of `frame`; returns the presence
    /// probability, with the landmarks in `self.landmarks` (frame pixels; z scaled
    /// like x).
    pub fn run(&mut self, frame: &FrameRef, m: &Affine) -> Result<f32, InferError> {
        portrait_infer::stages::enter(portrait_infer::stages::Stage::Pre);
        // FaceMesh takes RGB in [0, 1].
        let norm = Normalize {
            mean: [0.0; 3],
            mul: [1.0 / 255.0; 3],
            bgr: false,
            nchw: true,
        };
        frame_to_tensor_affine(frame, m, CROP, CROP, &norm, &mut self.tensor);
        let run_err = |e: portrait_infer::ort::Error| InferError::Run(e.to_string());
        let mut session = self.session.lock();
        let t = TensorRef::from_array_view(([1usize, 3, CROP, CROP], &self.tensor[..]))
            .map_err(run_err)?;
        let out = session
            .run(portrait_infer::ort::inputs![self.input.as_str() => t])
            .map_err(run_err)?;
        let (_, lm) = out[self.landmarks_out.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        let (_, pr) = out[self.presence_out.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        let presence = 1.0 / (1.0 + (-pr.first().copied().unwrap_or(-100.0)).exp());
        let s = m.scale();
        self.landmarks.clear();
        self.landmarks.extend(lm.chunks_exact(3).take(468).map(|p| {
            let [x, y] = m.apply(p[0], p[1]);
            [x, y, p[2] * s]
        }));
        Ok(presence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_crop_is_centred_and_level() {
        let m = crop_from_detection([100.0, 50.0, 80.0, 100.0], [120.0, 90.0], [160.0, 90.0]);
        let c = m.apply(96.0, 96.0);
        assert!((c[0] - 140.0).abs() < 1e-3 && (c[1] - 100.0).abs() < 1e-3);
        assert!((m.scale() - 150.0 / 192.0).abs() < 1e-5);
        // Tilted eyes: the crop's x axis follows the eye line.
        let m = crop_from_detection([0.0, 0.0, 100.0, 100.0], [0.0, 0.0], [10.0, 10.0]);
        let a = m.apply(0.0, 0.0);
        let b = m.apply(1.0, 0.0);
        assert!(((b[1] - a[1]) / (b[0] - a[0]) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn landmark_crop_covers_the_points() {
        let mut pts = vec![[50.0, 50.0, 0.0]; 468];
        pts[0] = [30.0, 40.0, 0.0];
        pts[1] = [70.0, 60.0, 0.0];
        pts[33] = [40.0, 50.0, 0.0];
        pts[263] = [60.0, 50.0, 0.0];
        let m = crop_from_landmarks(&pts).unwrap();
        let c = m.apply(96.0, 96.0);
        assert!((c[0] - 50.0).abs() < 1e-3 && (c[1] - 50.0).abs() < 1e-3);
        assert!((m.scale() * 192.0 - 60.0).abs() < 1e-3);
    }

    #[test]
    fn mirrored_eye_crop_flips_x_only() {
        let (a, b) = ([100.0, 50.0, 0.0], [120.0, 50.0, 0.0]);
        let m = eye_crop(a, b, false);
        let f = eye_crop(a, b, true);
        // The crop's left edge is the mirrored crop's right edge; centres agree.
        let (p, q) = (m.apply(0.0, 10.0), f.apply(64.0, 10.0));
        assert!((p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3);
        let (c1, c2) = (m.apply(32.0, 32.0), f.apply(32.0, 32.0));
        assert!((c1[0] - 110.0).abs() < 1e-3 && (c2[0] - 110.0).abs() < 1e-3);
        assert!((m.scale() - 20.0 * EYE_CROP_SCALE / 64.0).abs() < 1e-5);
    }

    #[test]
    fn recognises_the_converted_signature() {
        let sig = Signature {
            inputs: vec![("input_1".into(), vec![1, 3, 192, 192])],
            outputs: vec![
                ("conv2d_20".into(), vec![1, 1404, 1, 1]),
                ("conv2d_30".into(), vec![1, 1, 1, 1]),
            ],
        };
        assert_eq!(
            recognise(&sig).unwrap(),
            (
                "input_1".into(),
                "conv2d_20".into(),
                "conv2d_30".into(),
                false
            )
        );
        // The attention mesh as convert_facemesh_attention.py writes it.
        let att = Signature {
            inputs: sig.inputs.clone(),
            outputs: vec![
                ("landmarks".into(), vec![1, 1404]),
                ("iris".into(), vec![1, 30]),
                ("presence".into(), vec![1, 1]),
            ],
        };
        assert_eq!(
            recognise(&att).unwrap(),
            (
                "input_1".into(),
                "landmarks".into(),
                "presence".into(),
                true
            )
        );
        let bad = Signature {
            inputs: vec![("x".into(), vec![1, 3, 128, 128])],
            outputs: sig.outputs.clone(),
        };
        assert!(recognise(&bad).is_err());
    }
}
