// SPDX-License-Identifier: MIT

//! Motion transfer for the weight-free animator: where the source portrait's landmarks
//! go when the driving face moves. The driving motion is relative to its reference
//! frame (rotation, scale, shift, pose-free expression offsets) and is applied on top
//! of the source's own pose, so a still neutral driver leaves the source unchanged.

use crate::pose::{self, Mat3, Similarity, Vec3};

/// The source face, prepared once.
#[derive(Clone, Debug)]
pub struct SourceFace {
    /// Pose fit of the canonical mesh onto the source landmarks (model axes).
    pub sim: Similarity,
    /// Source landmarks in the canonical, pose-free frame (centimetres).
    pub pose_free: Vec<Vec3>,
    /// Pose-fit weights (canonical basis), for the position anchor.
    pub weights: Vec<f32>,
    /// Weighted centroid of the source landmarks (model axes: x right, y up).
    pub anchor: Vec3,
}

/// The driving motion relative to its reference frame.
#[derive(Clone, Debug, PartialEq)]
pub struct DrivingMotion {
    /// R·R_ref⁻¹ of the driving face (model axes).
    pub rotation: Mat3,
    /// Scale over the reference's.
    pub scale: f32,
    /// Shift of the driving face in its own frame pixels (image axes, y down).
    pub shift: [f32; 2],
    /// The driving reference's scale (driving pixels per canonical cm), to bring the
    /// shift into source pixels.
    pub reference_scale: f32,
    /// Pose-free expression offsets (cm), 468 or empty.
    pub offsets: Vec<Vec3>,
}

impl DrivingMotion {
    pub fn neutral() -> Self {
        DrivingMotion {
            rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            scale: 1.0,
            shift: [0.0, 0.0],
            reference_scale: 1.0,
            offsets: Vec::new(),
        }
    }

    /// Moves this motion a fraction `k` (0..1) of the way back to neutral (used to
    /// ease back when the driving face is lost).
    pub fn ease_to_neutral(&mut self, k: f32) {
        let k = k.clamp(0.0, 1.0);
        // Interpolate the rotation through its Euler angles (small angles in practice).
        let [p, y, r] = pose::euler_degrees(&self.rotation);
        self.rotation = pose::rotation_from_euler(p * (1.0 - k), y * (1.0 - k), r * (1.0 - k));
        self.scale += (1.0 - self.scale) * k;
        self.shift = self.shift.map(|v| v * (1.0 - k));
        for o in &mut self.offsets {
            *o = o.map(|v| v * (1.0 - k));
        }
    }
}

impl SourceFace {
    /// Prepares a source from its landmarks (image px, 468×3), the canonical mesh and
    /// its weights. `None` if the pose cannot be fitted.
    pub fn new(landmarks: &[Vec3], canonical: &[Vec3], weights: &[f32]) -> Option<Self> {
        let observed: Vec<Vec3> = landmarks
            .iter()
            .map(|p| pose::image_to_model_axes(*p))
            .collect();
        let sim = pose::fit_similarity(canonical, &observed, weights)?;
        let pose_free = observed.iter().map(|p| sim.unapply(*p)).collect();
        Some(SourceFace {
            sim,
            pose_free,
            weights: weights.to_vec(),
            anchor: pose::weighted_centroid(&observed, weights),
        })
    }

    /// Target landmark positions (image pixels x, y) of the source under `motion`,
    /// written into `out` (resized to the landmark count).
    pub fn drive(&self, motion: &DrivingMotion, out: &mut Vec<[f32; 2]>) {
        let r = pose::mat_mul(&motion.rotation, &self.sim.r);
        let s = self.sim.scale * motion.scale;
        let n = self.pose_free.len();
        out.clear();
        // Rotated, scaled points (model axes), and their weighted centroid.
        let mut c = [0.0f32; 3];
        let mut wsum = 0.0;
        for i in 0..n {
            let mut q = self.pose_free[i];
            if let Some(o) = motion.offsets.get(i) {
                q = [q[0] + o[0], q[1] + o[1], q[2] + o[2]];
            }
            let p = pose::mat_vec(&r, q);
            let p = [s * p[0], s * p[1]];
            let w = self.weights.get(i).copied().unwrap_or(0.0);
            c[0] += w * p[0];
            c[1] += w * p[1];
            wsum += w;
            out.push(p);
        }
        if wsum > 0.0 {
            c[0] /= wsum;
            c[1] /= wsum;
        }
        // The face's anchor moves by the driving shift, in source pixels.
        let k = if motion.reference_scale > 0.0 {
            self.sim.scale / motion.reference_scale
        } else {
            1.0
        };
        let ax = self.anchor[0] + motion.shift[0] * k;
        let ay = self.anchor[1] - motion.shift[1] * k; // image y down → model y up
        for p in out.iter_mut() {
            // Model axes → image axes.
            *p = [p[0] - c[0] + ax, -(p[1] - c[1] + ay)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy 6-point "face" with all weights 1.
    fn canonical() -> Vec<Vec3> {
        vec![
            [-3.0, 2.0, 1.0],
            [3.0, 2.0, 1.0],
            [0.0, 0.0, 3.0],
            [-2.0, -3.0, 1.0],
            [2.0, -3.0, 1.0],
            [0.0, 5.0, 0.0],
        ]
    }

    fn source() -> (SourceFace, Vec<Vec3>) {
        let truth = Similarity {
            r: pose::rotation_from_euler(5.0, -10.0, 8.0),
            scale: 12.0,
            t: [200.0, -150.0, 0.0],
        };
        let lm: Vec<Vec3> = canonical()
            .iter()
            .map(|p| {
                let q = truth.apply(*p);
                [q[0], -q[1], -q[2]] // model → image axes
            })
            .collect();
        let w = vec![1.0; 6];
        (SourceFace::new(&lm, &canonical(), &w).unwrap(), lm)
    }

    #[test]
    fn neutral_motion_keeps_the_source() {
        let (src, lm) = source();
        let mut out = vec![];
        src.drive(&DrivingMotion::neutral(), &mut out);
        for (o, l) in out.iter().zip(&lm) {
            assert!(
                (o[0] - l[0]).abs() < 1e-3 && (o[1] - l[1]).abs() < 1e-3,
                "{o:?} {l:?}"
            );
        }
    }

    #[test]
    fn roll_scale_and_shift_transfer() {
        let (src, lm) = source();
        let mut m = DrivingMotion::neutral();
        m.rotation = pose::rotation_from_euler(0.0, 0.0, 20.0);
        m.scale = 1.5;
        // Driver's face is half the source's size: 10 driving px = 20 source px.
        m.reference_scale = 6.0;
        m.shift = [10.0, -5.0];
        let mut out = vec![];
        src.drive(&m, &mut out);
        // The eye line (points 0 → 1) turns 20° counter-clockwise (as seen) more.
        let ang = |a: [f32; 2], b: [f32; 2]| (-(b[1] - a[1])).atan2(b[0] - a[0]).to_degrees();
        let before = ang([lm[0][0], lm[0][1]], [lm[1][0], lm[1][1]]);
        let after = ang(out[0], out[1]);
        assert!((after - before - 20.0).abs() < 0.5, "{before} → {after}");
        // The eye distance grows 1.5×.
        let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let d0 = d([lm[0][0], lm[0][1]], [lm[1][0], lm[1][1]]);
        assert!((d(out[0], out[1]) / d0 - 1.5).abs() < 1e-3);
        // The centroid moves by (20, -10) source px.
        let cen = |p: &[[f32; 2]]| {
            let n = p.len() as f32;
            [
                p.iter().map(|q| q[0]).sum::<f32>() / n,
                p.iter().map(|q| q[1]).sum::<f32>() / n,
            ]
        };
        let lm2: Vec<[f32; 2]> = lm.iter().map(|p| [p[0], p[1]]).collect();
        let (c0, c1) = (cen(&lm2), cen(&out));
        assert!(
            (c1[0] - c0[0] - 20.0).abs() < 1e-2 && (c1[1] - c0[1] + 10.0).abs() < 1e-2,
            "{c0:?} {c1:?}"
        );
    }

    #[test]
    fn offsets_move_points_and_easing_returns_to_neutral() {
        let (src, lm) = source();
        let mut m = DrivingMotion::neutral();
        m.offsets = vec![[0.0; 3]; 6];
        m.offsets[4] = [0.0, -1.0, 0.0]; // one point 1 cm down (pose-free)
        m.rotation = pose::rotation_from_euler(0.0, 0.0, 30.0);
        let mut out = vec![];
        src.drive(&m, &mut out);
        assert!(out.iter().zip(&lm).any(|(o, l)| (o[0] - l[0]).abs() > 1.0));
        for _ in 0..60 {
            m.ease_to_neutral(0.2);
        }
        src.drive(&m, &mut out);
        for (o, l) in out.iter().zip(&lm) {
            assert!((o[0] - l[0]).abs() < 0.01 && (o[1] - l[1]).abs() < 0.01);
        }
    }
}
