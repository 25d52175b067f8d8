// SPDX-License-Identifier: MIT

//! A small face rig on MediaPipe's canonical mesh (centimetres, x right, y up): mouth
//! open / spread / round and per-eye blink as pose-free landmark offsets — the form
//! `MotionMeta::expression_offsets` carries — plus idle head motion and blinks for an
//! avatar with no driving video.
//!
//! Each control has a unit displacement field over the 468 landmarks, built once
//! from the mesh's own geometry and MediaPipe's lip and eyelid contours; a face is a
//! weighted sum of fields.

use crate::expression::LIP_RATIO_WIDE;
use crate::landmarks;
use crate::pose::{self, Mat3, Vec3};
use crate::smoothstep;

/// What the rig is asked to show (all 0..1, see [`crate::speech_engine::Mouth`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RigControls {
    /// Same scale as `Expression::mouth_open`: 1 = inner-lip gap of 0.6 × mouth width.
    pub open: f32,
    pub spread: f32,
    pub round: f32,
    pub blink_left: f32,
    pub blink_right: f32,
}

/// Unit displacement fields over the canonical mesh.
#[derive(Clone, Debug)]
pub struct Rig {
    open: Vec<Vec3>,
    spread: Vec<Vec3>,
    round: Vec<Vec3>,
    blink_left: Vec<Vec3>,
    blink_right: Vec<Vec3>,
}

/// Fraction of a spread/round that reaches a point at distance `d` from the mouth
/// centre: all of it out to the corners, none past 1.8 half-widths.
fn lip_falloff(d: f32, half_w: f32) -> f32 {
    1.0 - smoothstep(1.05 * half_w, 1.8 * half_w, d)
}

impl Rig {
    /// The rig of a 468-point canonical mesh; `None` for fewer points.
    pub fn new(mesh: &[Vec3]) -> Option<Rig> {
        use landmarks::*;
        if mesh.len() < 468 {
            return None;
        }
        let n = mesh.len();
        let (l, r) = (mesh[landmarks::MOUTH_LEFT], mesh[landmarks::MOUTH_RIGHT]);
        let centre = [
            (l[0] + r[0]) / 2.0,
            (l[1] + r[1]) / 2.0,
            (l[2] + r[2]) / 2.0,
        ];
        let width = (r[0] - l[0]).abs().max(1e-3);
        let half_w = width / 2.0;
        let nose_y = mesh[landmarks::NOSE_TIP][1];
        // The gap at open = 1; the jaw takes 85% of it, the upper lip 15%.
        let gap = LIP_RATIO_WIDE * width;
        let (down, up) = (0.85 * gap, 0.15 * gap);
        let face_x = |p: Vec3| 1.0 - smoothstep(3.0, 7.5, (p[0] - centre[0]).abs());
        let lip_x =
            |p: Vec3| 1.0 - 0.7 * ((p[0] - centre[0]).abs() / half_w).clamp(0.0, 1.0).powi(2);

        let mut open = vec![[0.0; 3]; n];
        for (i, p) in mesh.iter().enumerate() {
            let dy = p[1] - centre[1];
            // Below the mouth line: carried by the jaw; above: the upper lip rises,
            // less towards the nose.
            let below = 1.0 - smoothstep(-0.6, 0.2, dy);
            let above = if dy > 0.0 {
                (1.0 - dy / (nose_y - centre[1]).max(0.5)).clamp(0.0, 1.0) * (1.0 - below)
            } else {
                0.0
            };
            open[i][1] = (-down * below + up * above) * face_x(*p);
        }
        let lower = LIPS_LOWER_INNER.iter().chain(&LIPS_LOWER_OUTER);
        for &i in lower.filter(|i| !CORNERS.contains(i)) {
            open[i][1] = -down * lip_x(mesh[i]);
        }
        let upper = LIPS_UPPER_INNER.iter().chain(&LIPS_UPPER_OUTER);
        for &i in upper.filter(|i| !CORNERS.contains(i)) {
            open[i][1] = up * lip_x(mesh[i]);
        }
        for i in CORNERS {
            open[i][1] = -0.3 * down;
        }

        // Spread (/i e/): the mouth 25% wider, the lips thinner (their outer edges
        // 30% nearer the mouth line) and the corners a little up. Round (/u o w/): 35%
        // narrower, the lips pursed (their outer edges 30% further out, so the mouth
        // reads as an "O" from the front) and pushed 0.5 cm forward.
        let mut spread = vec![[0.0; 3]; n];
        let mut round = vec![[0.0; 3]; n];
        for (i, p) in mesh.iter().enumerate() {
            let d = ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)).sqrt();
            let w = lip_falloff(d, half_w);
            spread[i][0] = 0.25 * (p[0] - centre[0]) * w;
            round[i][0] = -0.35 * (p[0] - centre[0]) * w;
            round[i][2] = 0.5 * w;
        }
        let outer = LIPS_UPPER_OUTER.iter().chain(&LIPS_LOWER_OUTER);
        for &i in outer.filter(|i| !CORNERS.contains(i)) {
            let dy = (mesh[i][1] - centre[1]) * lip_x(mesh[i]);
            spread[i][1] = -0.3 * dy;
            round[i][1] = 0.3 * dy;
        }
        for i in [MOUTH_LEFT, MOUTH_RIGHT] {
            spread[i][1] = 0.08 * width;
        }

        let blink = |upper: &[usize], lower: &[usize], crease: &[usize]| {
            let mut f = vec![[0.0; 3]; n];
            // Lower-lid height under a point, interpolated along the lower contour.
            let lid_y = |x: f32| {
                let mut pts: Vec<[f32; 2]> =
                    lower.iter().map(|&i| [mesh[i][0], mesh[i][1]]).collect();
                pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
                let k = pts.partition_point(|p| p[0] < x).clamp(1, pts.len() - 1);
                let (a, b) = (pts[k - 1], pts[k]);
                let t = ((x - a[0]) / (b[0] - a[0]).max(1e-4)).clamp(0.0, 1.0);
                a[1] + t * (b[1] - a[1])
            };
            for &i in upper {
                f[i][1] = lid_y(mesh[i][0]) - mesh[i][1];
            }
            for &i in crease {
                f[i][1] = 0.4 * (lid_y(mesh[i][0]) - mesh[i][1]).min(0.0);
            }
            f
        };
        Some(Rig {
            open,
            spread,
            round,
            blink_left: blink(&EYE_LEFT_UPPER, &EYE_LEFT_LOWER, &EYE_LEFT_CREASE),
            blink_right: blink(&EYE_RIGHT_UPPER, &EYE_RIGHT_LOWER, &EYE_RIGHT_CREASE),
        })
    }

    /// Pose-free offsets (cm) of `c`, written into `out` (resized to the mesh).
    pub fn offsets(&self, c: &RigControls, out: &mut Vec<Vec3>) {
        out.clear();
        out.resize(self.open.len(), [0.0; 3]);
        let fields = [
            (&self.open, c.open),
            (&self.spread, c.spread),
            (&self.round, c.round),
            (&self.blink_left, c.blink_left),
            (&self.blink_right, c.blink_right),
        ];
        for (field, k) in fields {
            if k == 0.0 {
                continue;
            }
            for (o, d) in out.iter_mut().zip(field.iter()) {
                o[0] += k * d[0];
                o[1] += k * d[1];
                o[2] += k * d[2];
            }
        }
    }

    /// Adds the mouth part of `c` to `out` (468 offsets) after removing whatever mouth
    /// motion they had: the offsets of the mouth region are replaced, the rest (eyes,
    /// brows) kept. Used to dub a driving face's expression.
    pub fn replace_mouth(&self, c: &RigControls, out: &mut [Vec3]) {
        let fields = self.open.iter().zip(&self.spread).zip(&self.round);
        for (o, ((op, sp), ro)) in out.iter_mut().zip(fields) {
            // Mouth region = where any mouth field moves this point.
            let m = |d: &Vec3| d[0].abs() + d[1].abs();
            let w = ((m(op) + m(sp) + m(ro)) / 0.05).min(1.0);
            for (a, v) in o.iter_mut().enumerate() {
                let d = c.open * op[a] + c.spread * sp[a] + c.round * ro[a];
                *v = (1.0 - w) * *v + d;
            }
        }
    }
}

/// Image landmarks of the canonical face with `offsets` (pose-free, cm), rotated by
/// `r` (model axes), `scale` pixels per cm, its weighted centroid (pose-fit weights)
/// at `centre` (image pixels). z follows FaceMesh: negative towards the camera.
pub fn pose_landmarks(
    canonical: &[Vec3],
    weights: &[f32],
    offsets: &[Vec3],
    r: &Mat3,
    scale: f32,
    centre: [f32; 2],
    out: &mut Vec<Vec3>,
) {
    out.clear();
    let (mut c, mut wsum) = ([0.0f32; 3], 0.0);
    for (i, q) in canonical.iter().enumerate() {
        let o = offsets.get(i).copied().unwrap_or([0.0; 3]);
        let p = pose::mat_vec(r, [q[0] + o[0], q[1] + o[1], q[2] + o[2]]);
        let p = p.map(|v| v * scale);
        let w = weights.get(i).copied().unwrap_or(0.0);
        for a in 0..3 {
            c[a] += w * p[a];
        }
        wsum += w;
        out.push(p);
    }
    if wsum > 0.0 {
        c = c.map(|v| v / wsum);
    }
    for p in out.iter_mut() {
        *p = [
            centre[0] + p[0] - c[0],
            centre[1] - (p[1] - c[1]),
            -(p[2] - c[2]),
        ];
    }
}

/// Idle motion of an avatar: blinks at human rates and a slow head sway, a
/// deterministic function of time and a seed.
#[derive(Clone, Debug)]
pub struct Idle {
    rng: u64,
    /// Start time (s) of the next blink.
    next_blink: f64,
    /// Start of the current/last blink.
    blink_start: f64,
    phases: [f32; 6],
}

/// Head pose offsets (degrees) and blink amount.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IdleState {
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    pub blink: f32,
}

/// Blink timing (Kwon et al. 2013 and others: ~15–20 blinks/min at rest, a blink
/// lasts 100–400 ms with a faster close than reopening).
const BLINK_CLOSE: f64 = 0.08;
const BLINK_HOLD: f64 = 0.05;
const BLINK_OPEN: f64 = 0.15;

impl Idle {
    pub fn new(seed: u64, start: f64) -> Self {
        let mut s = Idle {
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            next_blink: 0.0,
            blink_start: f64::NEG_INFINITY,
            phases: [0.0; 6],
        };
        for i in 0..6 {
            s.phases[i] = (s.uniform() * std::f64::consts::TAU) as f32;
        }
        s.next_blink = start + 0.5 + 2.5 * s.uniform();
        s
    }

    fn uniform(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The state at time `t` (seconds, non-decreasing between calls); `speech` (0..1)
    /// adds a small nod with the voice.
    pub fn at(&mut self, t: f64, speech: f32) -> IdleState {
        while t >= self.next_blink {
            self.blink_start = self.next_blink;
            // 2–5.5 s between blinks: ~17 per minute.
            self.next_blink += 2.0 + 3.5 * self.uniform();
        }
        let d = t - self.blink_start;
        let blink = if d < 0.0 {
            0.0
        } else if d < BLINK_CLOSE {
            d / BLINK_CLOSE
        } else if d < BLINK_CLOSE + BLINK_HOLD {
            1.0
        } else if d < BLINK_CLOSE + BLINK_HOLD + BLINK_OPEN {
            1.0 - (d - BLINK_CLOSE - BLINK_HOLD) / BLINK_OPEN
        } else {
            0.0
        } as f32;
        let tf = t as f32;
        let w = |hz: f32, i: usize| (std::f32::consts::TAU * hz * tf + self.phases[i]).sin();
        IdleState {
            yaw: 2.5 * w(0.11, 0) + 1.0 * w(0.29, 1),
            pitch: 1.5 * w(0.13, 2) + 0.6 * w(0.37, 3) + 2.0 * speech,
            roll: 1.2 * w(0.07, 4) + 0.5 * w(0.23, 5),
            blink,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expression::controls;

    /// A stand-in mesh with the canonical mesh's layout where the rig looks (the real
    /// one is a downloaded asset; the element tests use it).
    fn mesh() -> Vec<Vec3> {
        let mut m = vec![[0.0, 0.0, 0.0]; 468];
        for (i, p) in m.iter_mut().enumerate() {
            // Scatter the unlisted points over the face, away from the features.
            let a = i as f32 * 2.399;
            *p = [6.0 * a.cos(), 6.0 * a.sin() + 1.0, 0.0];
        }
        let place = |m: &mut Vec<Vec3>, ids: &[usize], x0: f32, x1: f32, y: f32| {
            for (k, &i) in ids.iter().enumerate() {
                let t = k as f32 / (ids.len() - 1) as f32;
                m[i] = [x0 + t * (x1 - x0), y, 0.0];
            }
        };
        use landmarks::*;
        place(&mut m, &LIPS_UPPER_OUTER, -2.5, 2.5, -3.8);
        place(&mut m, &LIPS_LOWER_OUTER[..9], -2.2, 2.0, -4.8);
        place(&mut m, &LIPS_UPPER_INNER, -2.3, 2.3, -4.2);
        place(&mut m, &LIPS_LOWER_INNER, -2.3, 2.3, -4.2);
        m[61] = [-2.5, -4.2, 0.0];
        m[291] = [2.5, -4.2, 0.0];
        place(&mut m, &EYE_LEFT_LOWER, -4.5, -1.5, 2.5);
        place(&mut m, &EYE_LEFT_UPPER, -4.2, -1.8, 3.3);
        place(&mut m, &EYE_LEFT_CREASE, -4.2, -1.8, 3.8);
        place(&mut m, &EYE_RIGHT_LOWER, 4.5, 1.5, 2.5);
        place(&mut m, &EYE_RIGHT_UPPER, 4.2, 1.8, 3.3);
        place(&mut m, &EYE_RIGHT_CREASE, 4.2, 1.8, 3.8);
        m[landmarks::NOSE_TIP] = [0.0, -1.0, 1.0];
        m[landmarks::BROW_LEFT] = [-3.0, 4.5, 0.0];
        m[landmarks::BROW_RIGHT] = [3.0, 4.5, 0.0];
        m
    }

    fn apply(mesh: &[Vec3], off: &[Vec3]) -> Vec<Vec3> {
        mesh.iter()
            .zip(off)
            .map(|(p, o)| [p[0] + o[0], p[1] + o[1], p[2] + o[2]])
            .collect()
    }

    #[test]
    fn open_reads_back_as_mouth_open() {
        let m = mesh();
        let rig = Rig::new(&m).unwrap();
        let mut off = Vec::new();
        for open in [0.0, 0.2, 0.5, 0.8] {
            let c = RigControls {
                open,
                ..Default::default()
            };
            rig.offsets(&c, &mut off);
            let got = controls(&apply(&m, &off)).unwrap().mouth_open;
            assert!((got - open).abs() < 0.02, "{open} → {got}");
        }
    }

    #[test]
    fn blink_closes_the_eye_and_spread_widens_the_mouth() {
        let m = mesh();
        let rig = Rig::new(&m).unwrap();
        let mut off = Vec::new();
        let base = controls(&m).unwrap();
        rig.offsets(
            &RigControls {
                blink_left: 1.0,
                spread: 1.0,
                ..Default::default()
            },
            &mut off,
        );
        let c = controls(&apply(&m, &off)).unwrap();
        assert!(c.eye_open_ratio_left < 0.02, "{}", c.eye_open_ratio_left);
        assert!((c.eye_open_ratio_right - base.eye_open_ratio_right).abs() < 1e-4);
        assert!(c.mouth_width > base.mouth_width * 1.15);
        // Dubbing: the mouth is replaced, the blink kept.
        let mut dub = off.clone();
        rig.replace_mouth(&RigControls::default(), &mut dub);
        let c = controls(&apply(&m, &dub)).unwrap();
        assert!((c.mouth_width - base.mouth_width).abs() < 1e-3);
        assert!(c.eye_open_ratio_left < 0.02);
    }

    #[test]
    fn visemes_change_the_lip_shape() {
        use landmarks::{LIPS_LOWER_OUTER, LIPS_UPPER_OUTER};
        let m = mesh();
        let rig = Rig::new(&m).unwrap();
        let base = controls(&m).unwrap();
        // Outer lip height at the middle: upper outer centre to lower outer centre.
        let height = |p: &[Vec3]| p[LIPS_UPPER_OUTER[5]][1] - p[LIPS_LOWER_OUTER[4]][1];
        let shape = |c: RigControls| {
            let mut off = Vec::new();
            rig.offsets(&c, &mut off);
            let q = apply(&m, &off);
            (controls(&q).unwrap().mouth_width, height(&q))
        };
        let (w0, h0) = (base.mouth_width, height(&m));
        let (ws, hs) = shape(RigControls {
            spread: 1.0,
            ..Default::default()
        });
        let (wr, hr) = shape(RigControls {
            round: 1.0,
            ..Default::default()
        });
        println!(
            "width/height: rest {w0:.3}/{h0:.2}, spread {ws:.3}/{hs:.2}, round {wr:.3}/{hr:.2}"
        );
        assert!(
            ws > 1.2 * w0 && hs < 0.85 * h0,
            "spread: wider, thinner lips"
        );
        assert!(
            wr < 0.75 * w0 && hr > 1.15 * h0,
            "round: narrower, pursed lips"
        );
    }

    #[test]
    fn posed_landmarks_fit_back_to_the_pose() {
        let m = mesh();
        let w: Vec<f32> = (0..468)
            .map(|i| if i % 7 == 0 { 1.0 } else { 0.0 })
            .collect();
        let r = pose::rotation_from_euler(5.0, -10.0, 8.0);
        let mut out = Vec::new();
        pose_landmarks(&m, &w, &[], &r, 12.0, [256.0, 200.0], &mut out);
        let obs: Vec<Vec3> = out.iter().map(|p| pose::image_to_model_axes(*p)).collect();
        let sim = pose::fit_similarity(&m, &obs, &w).unwrap();
        let [p, y, ro] = pose::euler_degrees(&sim.r);
        assert!((p - 5.0).abs() < 0.01 && (y + 10.0).abs() < 0.01 && (ro - 8.0).abs() < 0.01);
        assert!((sim.scale - 12.0).abs() < 1e-3);
        let c = pose::weighted_centroid(&obs, &w);
        assert!((c[0] - 256.0).abs() < 1e-3 && (c[1] + 200.0).abs() < 1e-3);
    }

    #[test]
    fn idle_blinks_at_human_rates_and_sways_a_little() {
        let mut idle = Idle::new(7, 0.0);
        let (mut blinks, mut was_closed, mut max_angle) = (0, false, 0.0f32);
        for k in 0..(60 * 25) {
            let s = idle.at(k as f64 / 25.0, 0.0);
            let closed = s.blink > 0.9;
            if closed && !was_closed {
                blinks += 1;
            }
            was_closed = closed;
            max_angle = max_angle
                .max(s.yaw.abs())
                .max(s.pitch.abs())
                .max(s.roll.abs());
        }
        assert!((10..=25).contains(&blinks), "{blinks} blinks/min");
        assert!(max_angle > 1.0 && max_angle < 5.0, "{max_angle}");
    }
}
