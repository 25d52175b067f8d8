// SPDX-License-Identifier: MIT

//! Motion transfer for the weight-free animator: where the source portrait's landmarks
//! go when the driving face moves. The driving motion is relative to its reference
//! frame (rotation, scale, shift, pose-free expression offsets) and is applied on top
//! of the source's own pose, so a still neutral driver leaves the source unchanged.

use crate::expression::{self, BROW_REST, EYE_RATIO_CLOSED};
use crate::landmarks::{
    BROW_LEFT_ALL, BROW_RIGHT_ALL, EYE_LEFT_CONTOUR, EYE_RIGHT_CONTOUR, FACE_OVAL,
};
use crate::pose::{self, Mat3, Similarity, Vec3};

/// How far a driven eye may open beyond the portrait's own neutral opening (× its lid
/// gap): a wide-eyed driver moment widens the portrait's eye a little, never balloons it.
pub const EYE_OPEN_MAX: f32 = 1.3;

/// How far the collar ([`SourceFace::collar`]) lies outside the face oval, as a share of
/// each oval point's distance from the oval's centre.
const COLLAR_MARGIN: f32 = 0.2;

/// The share of its oval point's expression offset a collar point takes: the neck and
/// hair follow an opening jaw or a raised brow only part of the way.
const COLLAR_FOLLOW: f32 = 0.5;

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
    /// Brow-to-eye distance over eye-corner distance of the neutral source.
    pub brow_ratio: f32,
    /// Eye-open ratios (lid gap over eye width) of the source, image-left eye first.
    pub eye_ratios: [f32; 2],
    /// Points around the face oval, pose-free like the landmarks, each
    /// [`COLLAR_MARGIN`] farther out than its oval point at the same depth (none for
    /// fewer than 468 landmarks). Driven with the head, they carry the cheek edges,
    /// the hair and the neck next to the face along rigidly: without them the skin and
    /// hair just outside the oval stretch between the moving oval and the still frame
    /// border.
    pub collar: Vec<Vec3>,
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
    /// Per eye (image-left, image-right), how open the driving eye is as a fraction of
    /// its own neutral opening (1 = as on the driver's reference frame, or as an open
    /// eye when that frame caught it squinting, see [`eye_openness`]; 0 = shut), or NaN
    /// when unknown (then the lids follow `offsets` like every other landmark).
    pub eyes: [f32; 2],
    /// The driver's eye-open ratios on her reference frame, NaN when unknown.
    pub eye_reference: [f32; 2],
    /// The driver's brow-to-eye distance over eye-corner distance on its reference
    /// frame: its brow offsets are scaled by the source's over this, so each face's
    /// brows move within its own range. NaN when unknown (offsets as they are).
    pub brow_reference: f32,
}

/// Eye-open ratio below which the mesh's lids stop following a closing eye: a shut eye
/// still reads about [`EYE_RATIO_CLOSED`], while a laughing squint above it looks as
/// open as its ratio says (single_face's frames 29–30, by eye and in
/// tests/portraitanimate.rs).
const EYE_RATIO_KNEE: f32 = EYE_RATIO_CLOSED + 0.05;

/// How open an eye is as a fraction of its neutral opening, from eye-open ratios (lid
/// gap over eye width) now and on the reference frame: the ratio itself (now ÷
/// reference) down to [`EYE_RATIO_KNEE`], then falling linearly to shut at
/// [`EYE_RATIO_CLOSED`], so a squint keeps its share of the eye and a blink closes it.
/// A reference less open than an open eye ([`expression::EYE_RATIO_OPEN`]) caught the
/// driver squinting or blinking: an open eye's ratio stands in for it. Otherwise a
/// driver whose first frame has shut eyes would leave the portrait's eyes open while
/// hers stay shut (the lids then followed the offsets from that shut reference), and
/// open them wide when hers open. NaN when a ratio is unknown (0 or NaN: a meta made
/// without them).
pub fn eye_openness(now: f32, reference: f32) -> f32 {
    if !(now.is_finite() && reference > 0.0) {
        return f32::NAN;
    }
    // At least an open eye's ratio, so always above the knee.
    let reference = reference.max(expression::EYE_RATIO_OPEN);
    let knee = EYE_RATIO_KNEE;
    let f = if now >= knee {
        now / reference
    } else {
        (now - EYE_RATIO_CLOSED) / (knee - EYE_RATIO_CLOSED) * knee / reference
    };
    f.clamp(0.0, EYE_OPEN_MAX)
}

/// The collar of a pose-free face ([`SourceFace::collar`]): each oval point pushed
/// out from the oval's centre in the face plane (x, y), at its own depth.
fn collar(pose_free: &[Vec3]) -> Vec<Vec3> {
    if pose_free.len() < 468 {
        return Vec::new();
    }
    let n = FACE_OVAL.len() as f32;
    let (cx, cy) = FACE_OVAL.iter().fold((0.0, 0.0), |(x, y), &i| {
        (x + pose_free[i][0] / n, y + pose_free[i][1] / n)
    });
    FACE_OVAL
        .iter()
        .map(|&i| {
            let [x, y, z] = pose_free[i];
            let k = 1.0 + COLLAR_MARGIN;
            [cx + (x - cx) * k, cy + (y - cy) * k, z]
        })
        .collect()
}

impl DrivingMotion {
    pub fn neutral() -> Self {
        DrivingMotion {
            rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            scale: 1.0,
            shift: [0.0, 0.0],
            reference_scale: 1.0,
            offsets: Vec::new(),
            eyes: [f32::NAN; 2],
            eye_reference: [f32::NAN; 2],
            brow_reference: f32::NAN,
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
        for e in &mut self.eyes {
            *e += (1.0 - *e) * k;
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
        let pose_free: Vec<Vec3> = observed.iter().map(|p| sim.unapply(*p)).collect();
        let controls = expression::controls(&pose_free);
        let brow_ratio = controls.map_or(f32::NAN, |c| c.brow_raise + BROW_REST);
        let eye_ratios = controls.map_or([f32::NAN; 2], |c| {
            [c.eye_open_ratio_left, c.eye_open_ratio_right]
        });
        let collar = collar(&pose_free);
        Some(SourceFace {
            sim,
            collar,
            pose_free,
            weights: weights.to_vec(),
            anchor: pose::weighted_centroid(&observed, weights),
            brow_ratio,
            eye_ratios,
        })
    }

    /// Target positions (image pixels x, y) of the source's landmarks, then of its
    /// collar, under `motion`, written into `out` (resized to their count).
    pub fn drive(&self, motion: &DrivingMotion, out: &mut Vec<[f32; 2]>) {
        let r = pose::mat_mul(&motion.rotation, &self.sim.r);
        let s = self.sim.scale * motion.scale;
        let n = self.pose_free.len();
        // Brow motion within each face's own range (at most ×2 either way).
        let brow_k = (self.brow_ratio / motion.brow_reference).clamp(0.5, 2.0);
        let brow_k = if brow_k.is_finite() { brow_k } else { 1.0 };
        let offset = |i: usize| {
            let o = motion.offsets.get(i).copied().unwrap_or([0.0; 3]);
            if brow_k != 1.0 && (BROW_LEFT_ALL.contains(&i) || BROW_RIGHT_ALL.contains(&i)) {
                o.map(|v| v * brow_k)
            } else {
                o
            }
        };
        // Each eye's openness, NaN where its lids follow the offsets: unknown, or a
        // portrait's eye as narrow as the driver's was on her reference frame (a
        // portrait made from her own shut-eyed frame), which follows her lids' offsets
        // from there: a fraction of its small gap would keep it shut.
        let open = expression::EYE_RATIO_OPEN;
        let eyes: [f32; 2] = std::array::from_fn(|e| {
            let narrow = self.eye_ratios[e] < open && motion.eye_reference[e] < open;
            if narrow || n < 468 {
                f32::NAN
            } else {
                motion.eyes[e]
            }
        });
        // The pose-free point i under the expression: its offset, except on the upper
        // lids of an eye whose openness is known, which close toward the lower lid by
        // that fraction of the portrait's own gap.
        let upper_lid = |i: usize| -> Option<Vec3> {
            for (e, c) in [&EYE_LEFT_CONTOUR, &EYE_RIGHT_CONTOUR]
                .into_iter()
                .enumerate()
            {
                let f = eyes[e];
                if !f.is_finite() {
                    continue;
                }
                // Contour 9..=15 is the upper lid, above lower-lid points 1..=7.
                if let Some(k) = c[9..].iter().position(|&u| u == i) {
                    let l = c[1 + k];
                    let (pu, pl, ol) = (self.pose_free[i], self.pose_free[l], offset(l));
                    return Some(std::array::from_fn(|d| pl[d] + ol[d] + f * (pu[d] - pl[d])));
                }
            }
            None
        };
        out.clear();
        // Rotated, scaled points (model axes), and their weighted centroid (of the
        // landmarks only), then the collar's.
        let mut c = [0.0f32; 3];
        let mut wsum = 0.0;
        for i in 0..n + self.collar.len() {
            let q = if i >= n {
                let (p, o) = (self.collar[i - n], offset(FACE_OVAL[i - n]));
                std::array::from_fn(|d| p[d] + COLLAR_FOLLOW * o[d])
            } else {
                upper_lid(i).unwrap_or_else(|| {
                    let (p, o) = (self.pose_free[i], offset(i));
                    [p[0] + o[0], p[1] + o[1], p[2] + o[2]]
                })
            };
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

    /// A 468-point pose-free face with both eyes 1 cm open, on an identity pose.
    fn eyed_face() -> SourceFace {
        let mut p = vec![[0.0, -5.0, 0.0]; 468];
        for (cx, c) in [(-3.0, &EYE_LEFT_CONTOUR), (3.0, &EYE_RIGHT_CONTOUR)] {
            for (k, &i) in c.iter().enumerate() {
                let (x, y) = if k <= 8 {
                    (cx - 1.0 + k as f32 * 0.25, 2.5)
                } else {
                    (cx - 1.0 + (k - 8) as f32 * 0.25, 3.5)
                };
                p[i] = [x, y, 0.0];
            }
        }
        let weights = vec![1.0; 468];
        SourceFace {
            sim: Similarity {
                r: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                scale: 1.0,
                t: [0.0; 3],
            },
            anchor: pose::weighted_centroid(&p, &weights),
            collar: collar(&p),
            pose_free: p,
            weights,
            brow_ratio: 0.3,
            eye_ratios: [0.5, 0.5],
        }
    }

    /// The collar rings the face oval a fifth farther out, and turns with the head:
    /// unmoved by a neutral drive, rolled with it.
    #[test]
    fn the_collar_rings_the_oval_and_moves_with_the_head() {
        let mut face = eyed_face();
        for (k, &i) in FACE_OVAL.iter().enumerate() {
            let a = k as f32 / FACE_OVAL.len() as f32 * std::f32::consts::TAU;
            face.pose_free[i] = [6.0 * a.sin(), 6.0 * a.cos(), 2.0];
        }
        face.collar = collar(&face.pose_free);
        let n = face.pose_free.len();
        let mut m = DrivingMotion::neutral();
        for roll in [0.0, 30.0] {
            m.rotation = pose::rotation_from_euler(0.0, 0.0, roll);
            let mut out = Vec::new();
            face.drive(&m, &mut out);
            assert_eq!(out.len(), n + FACE_OVAL.len());
            let c = FACE_OVAL.iter().fold([0.0, 0.0], |c, &i| {
                [c[0] + out[i][0] / 36.0, c[1] + out[i][1] / 36.0]
            });
            let dist = |p: [f32; 2]| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt();
            for (k, &i) in FACE_OVAL.iter().enumerate() {
                let (o, r) = (out[i], out[n + k]);
                assert!(
                    (dist(r) - 1.2 * dist(o)).abs() < 1e-3,
                    "roll {roll}, point {k}"
                );
                // On the same ray from the centre.
                let cross = (o[0] - c[0]) * (r[1] - c[1]) - (o[1] - c[1]) * (r[0] - c[0]);
                assert!(cross.abs() < 1e-2, "roll {roll}, point {k}: {cross}");
            }
        }
    }

    /// Mean upper-to-lower lid gap (output pixels) of the eye with `contour`.
    fn gap(t: &[[f32; 2]], c: &[usize; 16]) -> f32 {
        (0..7).map(|k| t[c[1 + k]][1] - t[c[9 + k]][1]).sum::<f32>() / 7.0
    }

    #[test]
    fn eyes_open_as_a_fraction_of_the_portraits_own_gap() {
        let f = eyed_face();
        let mut out = Vec::new();
        let mut m = DrivingMotion::neutral();
        f.drive(&m, &mut out);
        assert!((gap(&out, &EYE_LEFT_CONTOUR) - 1.0).abs() < 1e-4);
        // Left eye shut, right as the driver's neutral.
        m.eyes = [0.0, 1.0];
        f.drive(&m, &mut out);
        assert!(gap(&out, &EYE_LEFT_CONTOUR).abs() < 1e-4, "shut");
        assert!((gap(&out, &EYE_RIGHT_CONTOUR) - 1.0).abs() < 1e-4);
        // Offsets that would close the lids by 2 cm do not when the openness is known:
        // a narrow driver blink on a wide portrait closes it exactly, no overshoot.
        m.offsets = vec![[0.0; 3]; 468];
        for &i in &EYE_LEFT_CONTOUR[9..] {
            m.offsets[i] = [0.0, -2.0, 0.0];
        }
        m.eyes = [0.5, f32::NAN];
        f.drive(&m, &mut out);
        assert!((gap(&out, &EYE_LEFT_CONTOUR) - 0.5).abs() < 1e-4);
        // Unknown openness: the offsets apply as before (lids cross by 1 cm).
        m.eyes = [f32::NAN; 2];
        f.drive(&m, &mut out);
        assert!((gap(&out, &EYE_LEFT_CONTOUR) + 1.0).abs() < 1e-4);
        // A portrait's eye as narrow as the driver's on her reference frame follows the
        // offsets too (a portrait made from her own shut-eyed frame); an open one keeps
        // its fraction.
        let mut narrow = eyed_face();
        narrow.eye_ratios = [0.1, 0.5];
        for &i in &EYE_LEFT_CONTOUR[9..] {
            m.offsets[i] = [0.0, 0.5, 0.0];
        }
        for &i in &EYE_RIGHT_CONTOUR[9..] {
            m.offsets[i] = [0.0, 0.5, 0.0];
        }
        m.eyes = [0.0, 0.0];
        m.eye_reference = [0.1, 0.1];
        narrow.drive(&m, &mut out);
        assert!((gap(&out, &EYE_LEFT_CONTOUR) - 1.5).abs() < 1e-4, "offsets");
        assert!(gap(&out, &EYE_RIGHT_CONTOUR).abs() < 1e-4, "fraction");
        // A driver whose reference was open: the fraction, whatever the portrait.
        m.eye_reference = [0.3, 0.3];
        narrow.drive(&m, &mut out);
        assert!(gap(&out, &EYE_LEFT_CONTOUR).abs() < 1e-4);
        (m.eyes, m.eye_reference) = ([f32::NAN; 2], [f32::NAN; 2]);
        // Brows move within each face's range: a driver whose neutral brows sit at 0.2
        // (over eye width) raising them 1 cm raises this portrait's (0.3) 1.5 cm.
        let brow = BROW_LEFT_ALL[0];
        m.offsets = vec![[0.0; 3]; 468];
        m.offsets[brow] = [0.0, 1.0, 0.0];
        m.brow_reference = 0.2;
        let before = {
            let mut o = Vec::new();
            f.drive(&DrivingMotion::neutral(), &mut o);
            o[brow][1]
        };
        f.drive(&m, &mut out);
        // (The toy's weighted centroid moves with the point by 1/468 of it.)
        assert!(
            ((before - out[brow][1]) - 1.5).abs() < 1e-2,
            "{}",
            before - out[brow][1]
        );
        m.brow_reference = f32::NAN;
        f.drive(&m, &mut out);
        assert!(((before - out[brow][1]) - 1.0).abs() < 1e-2);
        // Easing back brings the eyes to their neutral opening.
        m.eyes = [0.0, 0.0];
        m.ease_to_neutral(1.0);
        assert_eq!(m.eyes, [1.0, 1.0]);
    }

    #[test]
    fn openness_is_measured_on_the_drivers_own_range() {
        assert_eq!(eye_openness(EYE_RATIO_CLOSED, 0.3), 0.0);
        assert!((eye_openness(0.3, 0.3) - 1.0).abs() < 1e-6);
        // A squint keeps its own share of the eye: its ratio over the reference's.
        assert!((eye_openness(0.19, 0.3) - 0.19 / 0.3).abs() < 1e-6);
        assert!((eye_openness(0.13, 0.3) - 0.13 / 0.3).abs() < 1e-6);
        // Below the knee the opening falls to shut, continuously.
        let below = eye_openness(0.105, 0.3);
        assert!(below > 0.0 && below < 0.7 * 0.105 / 0.3, "{below}");
        assert_eq!(eye_openness(0.6, 0.3), EYE_OPEN_MAX, "capped");
        assert_eq!(eye_openness(0.0, 0.3), 0.0);
        // A reference that caught a squint or a shut eye counts as an open eye's: a
        // shut eye now is shut, an open one as open as the portrait's.
        let open = expression::EYE_RATIO_OPEN;
        for reference in [0.05, 0.09, 0.12, 0.2] {
            assert_eq!(eye_openness(0.06, reference), 0.0, "{reference}");
            assert!(
                (eye_openness(open, reference) - 1.0).abs() < 1e-6,
                "{reference}"
            );
            assert!((eye_openness(0.2, reference) - 0.2 / open).abs() < 1e-6);
        }
        assert!(
            (eye_openness(0.27, 0.27) - 1.0).abs() < 1e-6,
            "an open reference is kept"
        );
        assert!(eye_openness(f32::NAN, 0.3).is_nan());
        assert!(eye_openness(0.2, 0.0).is_nan(), "no reference measured");
        assert!(eye_openness(0.2, f32::NAN).is_nan());
    }
}
