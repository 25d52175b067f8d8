// SPDX-License-Identifier: MIT

//! LivePortrait keypoint math: head-pose bins → degrees, the pose rotation matrix,
//! implicit-keypoint transformation and relative motion (source driven by a video).
//!
//! Follows LivePortrait's `utils/camera.py` and `live_portrait_pipeline.py`:
//!
//! - pose: `deg = 3·Σ i·softmax(logits)_i − 97.5` over 66 bins (3° each, −97.5..97.5);
//! - `R = (Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ`, used on **row** vectors: `x·R`. A row vector
//!   times the transpose is the column-vector product `Rz·Ry·Rx·xᵀ`: pitch is applied
//!   first, about x, then yaw about y, then roll about z;
//! - `x = s·(x_c·R + exp) + [tx, ty, 0]` (t_z is never applied);
//! - relative motion: `R = R_d·R_d0ᵀ·R_s`, `exp = exp_s + (exp_d − exp_d0)`,
//!   `s = s_s·s_d/s_d0`, `t = t_s + (t_d − t_d0)` with t_z = 0, all with the transposed
//!   (row-vector) matrices that [`rotation`] returns, as LivePortrait multiplies them.
//!
//! Keypoint and expression arrays are the models' `[1,63]` outputs read row-major as
//! 21 (x, y, z) points.

/// Implicit keypoints per face.
pub const NUM_KP: usize = 21;
/// Head-pose bins of the motion extractor's pitch/yaw/roll outputs.
pub const POSE_BINS: usize = 66;

/// 3×3 matrix, row-major (`m[row][col]`).
pub type Mat3 = [[f32; 3]; 3];
/// 21 points (x, y, z).
pub type Keypoints = [[f32; 3]; NUM_KP];

/// Expected head angle in degrees of 66 bin logits: `3·Σ i·softmax(logits)_i − 97.5`.
/// The softmax subtracts the largest logit first, so large logits do not overflow.
pub fn headpose_degrees(logits: &[f32; POSE_BINS]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0f64, 0f64);
    for (i, &l) in logits.iter().enumerate() {
        let e = ((l - max) as f64).exp();
        sum += e;
        weighted += e * i as f64;
    }
    (3.0 * weighted / sum - 97.5) as f32
}

fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0f32; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    m
}

fn transpose(a: &Mat3) -> Mat3 {
    let mut m = [[0f32; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = a[c][r];
        }
    }
    m
}

/// LivePortrait's pose matrix for angles in degrees: `(Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ`,
/// with the standard right-handed rotations (counter-clockwise for a positive angle
/// seen from the positive axis looking at the origin, column-vector convention):
///
/// ```text
/// Rx(a) = [1 0 0; 0 cos −sin; 0 sin cos]
/// Ry(a) = [cos 0 sin; 0 1 0; −sin 0 cos]
/// Rz(a) = [cos −sin 0; sin cos 0; 0 0 1]
/// ```
///
/// Apply it to row vectors (`x·R`, as LivePortrait's `kp @ R`), which rotates by
/// `Rz·Ry·Rx` in the column-vector sense. Trigonometry runs in f64.
pub fn rotation(pitch: f32, yaw: f32, roll: f32) -> Mat3 {
    let (sx, cx) = (pitch as f64).to_radians().sin_cos();
    let (sy, cy) = (yaw as f64).to_radians().sin_cos();
    let (sz, cz) = (roll as f64).to_radians().sin_cos();
    // Rz·Ry·Rx expanded, then transposed (m[r][c] = (Rz·Ry·Rx)[c][r]).
    let rzyx = [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ];
    let mut m = [[0f32; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = rzyx[c][r] as f32;
        }
    }
    m
}

/// Row vector times matrix: `p·R`.
pub fn apply_row(p: &[f32; 3], r: &Mat3) -> [f32; 3] {
    [
        p[0] * r[0][0] + p[1] * r[1][0] + p[2] * r[2][0],
        p[0] * r[0][1] + p[1] * r[1][1] + p[2] * r[2][1],
        p[0] * r[0][2] + p[1] * r[1][2] + p[2] * r[2][2],
    ]
}

/// LivePortrait's keypoint transformation: `x = s·(x_c·R + exp) + [tx, ty, 0]` for each
/// canonical keypoint `x_c` (a row vector); `t[2]` is ignored, as in LivePortrait.
pub fn transform_keypoints(
    kp: &Keypoints,
    r: &Mat3,
    exp: &Keypoints,
    scale: f32,
    t: [f32; 3],
) -> Keypoints {
    let mut out = [[0f32; 3]; NUM_KP];
    for ((o, p), e) in out.iter_mut().zip(kp).zip(exp) {
        let q = apply_row(p, r);
        *o = [
            scale * (q[0] + e[0]) + t[0],
            scale * (q[1] + e[1]) + t[1],
            scale * (q[2] + e[2]),
        ];
    }
    out
}

/// What the motion extractor gives for one face: pose in degrees (already reduced from
/// the bin logits), translation, expression deltas, scale and canonical keypoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeypointParams {
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    pub t: [f32; 3],
    pub exp: Keypoints,
    pub scale: f32,
    pub kp: Keypoints,
}

impl Default for KeypointParams {
    fn default() -> Self {
        KeypointParams {
            pitch: 0.0,
            yaw: 0.0,
            roll: 0.0,
            t: [0.0; 3],
            exp: [[0.0; 3]; NUM_KP],
            scale: 1.0,
            kp: [[0.0; 3]; NUM_KP],
        }
    }
}

impl KeypointParams {
    /// The pose matrix ([`rotation`] of pitch, yaw, roll).
    pub fn rotation(&self) -> Mat3 {
        rotation(self.pitch, self.yaw, self.roll)
    }

    /// The face's own transformed keypoints (`x_s` in LivePortrait).
    pub fn transformed(&self) -> Keypoints {
        transform_keypoints(&self.kp, &self.rotation(), &self.exp, self.scale, self.t)
    }
}

/// A combined motion: what relative motion gives. `r` is a row-vector matrix (applied
/// as `x·r`) and need not come from a single (pitch, yaw, roll), so it is kept as is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    pub r: Mat3,
    pub exp: Keypoints,
    pub scale: f32,
    /// t_z is always 0.
    pub t: [f32; 3],
}

impl Motion {
    /// `s·(kp·R + exp) + [tx, ty, 0]`.
    pub fn apply(&self, kp: &Keypoints) -> Keypoints {
        transform_keypoints(kp, &self.r, &self.exp, self.scale, self.t)
    }
}

/// Relative motion: the source face moved by how the driving face moved since the
/// driving reference frame (LivePortrait's `flag_relative_motion`):
/// `R = R_d·R_d0ᵀ·R_s`, `exp = exp_s + (exp_d − exp_d0)`, `s = s_s·s_d/s_d0`,
/// `t = t_s + (t_d − t_d0)` with t_z = 0. Returns the driven keypoints
/// `s·(x_c,s·R + exp) + t` (with `x_c,s` = `source.kp`) and the combined motion.
/// `driving_ref.scale` must not be 0 (the models' scales are positive).
pub fn relative_motion(
    source: &KeypointParams,
    driving: &KeypointParams,
    driving_ref: &KeypointParams,
) -> (Keypoints, Motion) {
    let r = matmul(
        &matmul(&driving.rotation(), &transpose(&driving_ref.rotation())),
        &source.rotation(),
    );
    let mut exp = source.exp;
    for ((e, d), d0) in exp.iter_mut().zip(&driving.exp).zip(&driving_ref.exp) {
        for k in 0..3 {
            e[k] += d[k] - d0[k];
        }
    }
    let motion = Motion {
        r,
        exp,
        scale: source.scale * (driving.scale / driving_ref.scale),
        t: [
            source.t[0] + (driving.t[0] - driving_ref.t[0]),
            source.t[1] + (driving.t[1] - driving_ref.t[1]),
            0.0,
        ],
    };
    (motion.apply(&source.kp), motion)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f32 = 1e-5;

    fn close(a: f32, b: f32, eps: f32) -> bool {
        (a - b).abs() <= eps
    }

    fn assert_mat(a: &Mat3, b: &Mat3) {
        for r in 0..3 {
            for c in 0..3 {
                assert!(close(a[r][c], b[r][c], EPS), "{a:?} != {b:?}");
            }
        }
    }

    fn assert_vec(a: &[f32; 3], b: &[f32; 3], eps: f32) {
        for k in 0..3 {
            assert!(close(a[k], b[k], eps), "{a:?} != {b:?}");
        }
    }

    #[test]
    fn peaked_logits_give_the_bin_angle() {
        for i in [0usize, 1, 32, 40, 65] {
            let mut l = [0f32; POSE_BINS];
            l[i] = 100.0; // e^-100 elsewhere: one-hot in f64
            let want = 3.0 * i as f32 - 97.5;
            assert!(close(headpose_degrees(&l), want, 1e-4), "bin {i}");
            // Shifting every logit changes nothing (and huge logits do not overflow).
            let shifted = l.map(|v| v + 1e4);
            assert!(close(headpose_degrees(&shifted), want, 1e-3), "bin {i}");
        }
        // Uniform logits: the mean bin 32.5 → 0°.
        assert!(close(headpose_degrees(&[0.5; POSE_BINS]), 0.0, 1e-4));
        // Weights 3:1 on bins 10 and 20 (logits differ by ln 3): E[i] = 12.5 → −60°.
        let mut l = [-80f32; POSE_BINS];
        l[10] = 3f32.ln();
        l[20] = 0.0;
        assert!(close(headpose_degrees(&l), -60.0, 1e-4));
    }

    #[test]
    fn rotation_of_90_degrees_about_each_axis() {
        // Row-vector convention: p·R rotates p by the column-vector matrix Rz·Ry·Rx.
        // Pitch 90° about x: y → z, z → −y.
        let r = rotation(90.0, 0.0, 0.0);
        assert_vec(&apply_row(&[1.0, 0.0, 0.0], &r), &[1.0, 0.0, 0.0], EPS);
        assert_vec(&apply_row(&[0.0, 1.0, 0.0], &r), &[0.0, 0.0, 1.0], EPS);
        assert_vec(&apply_row(&[0.0, 0.0, 1.0], &r), &[0.0, -1.0, 0.0], EPS);
        assert_mat(&r, &[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]);
        // Yaw 90° about y: z → x, x → −z.
        let r = rotation(0.0, 90.0, 0.0);
        assert_vec(&apply_row(&[0.0, 0.0, 1.0], &r), &[1.0, 0.0, 0.0], EPS);
        assert_vec(&apply_row(&[1.0, 0.0, 0.0], &r), &[0.0, 0.0, -1.0], EPS);
        assert_vec(&apply_row(&[0.0, 1.0, 0.0], &r), &[0.0, 1.0, 0.0], EPS);
        // Roll 90° about z: x → y, y → −x.
        let r = rotation(0.0, 0.0, 90.0);
        assert_vec(&apply_row(&[1.0, 0.0, 0.0], &r), &[0.0, 1.0, 0.0], EPS);
        assert_vec(&apply_row(&[0.0, 1.0, 0.0], &r), &[-1.0, 0.0, 0.0], EPS);
        assert_vec(&apply_row(&[0.0, 0.0, 1.0], &r), &[0.0, 0.0, 1.0], EPS);
        // Order: pitch first, then yaw, then roll. y →(pitch 90) z →(yaw 90) x
        // →(roll 90) y.
        let r = rotation(90.0, 90.0, 90.0);
        assert_vec(&apply_row(&[0.0, 1.0, 0.0], &r), &[0.0, 1.0, 0.0], EPS);
        // x →(pitch) x →(yaw) −z →(roll) −z.
        assert_vec(&apply_row(&[1.0, 0.0, 0.0], &r), &[0.0, 0.0, -1.0], EPS);
    }

    #[test]
    fn rotation_is_orthonormal() {
        for (p, y, r) in [(10.0, -20.0, 30.0), (-75.0, 44.0, 3.5), (97.5, -97.5, 60.0)] {
            let m = rotation(p, y, r);
            let mmt = matmul(&m, &transpose(&m));
            assert_mat(&mmt, &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
            let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
            assert!(close(det, 1.0, EPS), "det {det}");
        }
        assert_mat(
            &rotation(0.0, 0.0, 0.0),
            &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        );
    }

    #[test]
    fn transform_small_example() {
        // Roll 90° (x → y, y → −x), s = 2, t = (0.5, −1, 7): t_z must be ignored.
        let r = rotation(0.0, 0.0, 90.0);
        let mut kp = [[0f32; 3]; NUM_KP];
        let mut exp = [[0f32; 3]; NUM_KP];
        kp[0] = [1.0, 2.0, 3.0];
        exp[0] = [0.1, 0.2, 0.3];
        kp[1] = [-0.5, 0.0, 0.25];
        let out = transform_keypoints(&kp, &r, &exp, 2.0, [0.5, -1.0, 7.0]);
        // kp0·R = (−2, 1, 3); + exp = (−1.9, 1.2, 3.3); ×2 = (−3.8, 2.4, 6.6);
        // + (0.5, −1, 0) = (−3.3, 1.4, 6.6).
        assert_vec(&out[0], &[-3.3, 1.4, 6.6], 1e-5);
        // kp1·R = (0, −0.5, 0.25); ×2 = (0, −1, 0.5); + t = (0.5, −2, 0.5).
        assert_vec(&out[1], &[0.5, -2.0, 0.5], 1e-5);
        // Zero points only get the translation.
        assert_vec(&out[20], &[0.5, -1.0, 0.0], 1e-6);
    }

    fn params(seed: f32) -> KeypointParams {
        let mut p = KeypointParams {
            pitch: 7.0 * seed,
            yaw: -11.0 * seed,
            roll: 5.0 * seed,
            t: [0.1 * seed, -0.05 * seed, 0.3],
            scale: 1.0 + 0.1 * seed,
            ..Default::default()
        };
        for i in 0..NUM_KP {
            for k in 0..3 {
                let v = (i * 3 + k) as f32;
                p.kp[i][k] = 0.01 * v - 0.3 * seed;
                p.exp[i][k] = 0.002 * v * seed;
            }
        }
        p
    }

    #[test]
    fn relative_motion_with_still_driving_returns_the_source() {
        let s = params(1.0);
        let d = params(2.5);
        let (kp, m) = relative_motion(&s, &d, &d);
        let own = s.transformed();
        for i in 0..NUM_KP {
            assert_vec(&kp[i], &own[i], 1e-5);
        }
        assert_mat(&m.r, &s.rotation());
        assert_eq!(m.exp, s.exp);
        assert!(close(m.scale, s.scale, 1e-6));
        // t_z of the source is dropped, the rest kept.
        assert_eq!(m.t, [s.t[0], s.t[1], 0.0]);
    }

    #[test]
    fn relative_motion_adds_the_driving_change() {
        // Source at rest; driving rolled 90° from its reference, scaled ×2, moved.
        let mut s = KeypointParams::default();
        s.kp[0] = [1.0, 0.0, 0.0];
        s.exp[0] = [0.0, 0.0, 0.5];
        s.t = [1.0, 2.0, 3.0];
        let mut d0 = KeypointParams {
            scale: 0.5,
            t: [0.1, 0.1, 9.0],
            ..Default::default()
        };
        d0.exp[0] = [0.1, 0.0, 0.0];
        let mut d = KeypointParams {
            roll: 90.0,
            scale: 1.0,
            t: [0.4, -0.1, -9.0],
            ..Default::default()
        };
        d.exp[0] = [0.3, 0.0, 0.0];
        let (kp, m) = relative_motion(&s, &d, &d0);
        // exp = (0,0,0.5) + (0.3−0.1, 0, 0) = (0.2, 0, 0.5); s = 1·1/0.5 = 2;
        // t = (1 + 0.3, 2 − 0.2, 0); kp0·R = x rolled 90° = (0, 1, 0).
        // x = 2·((0,1,0) + (0.2,0,0.5)) + (1.3, 1.8, 0) = (1.7, 3.8, 1.0).
        assert_vec(&m.exp[0], &[0.2, 0.0, 0.5], 1e-6);
        assert!(close(m.scale, 2.0, 1e-6));
        assert_vec(&m.t, &[1.3, 1.8, 0.0], 1e-6);
        assert_vec(&kp[0], &[1.7, 3.8, 1.0], 1e-5);
        // Other points: 2·(0 + 0) + t.
        assert_vec(&kp[5], &[1.3, 1.8, 0.0], 1e-6);
    }
}
