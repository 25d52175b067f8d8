// SPDX-License-Identifier: MIT

//! Head pose from landmarks: weighted similarity Procrustes (Horn's closed form with
//! quaternions) fitting a canonical 3D face to observed 3D landmarks, and Euler angles.
//!
//! Frames: "model" points are the canonical face (x right, y up, z towards the viewer);
//! observed image landmarks (x right, y down, z away from the camera as MediaPipe
//! gives them) are turned into the same handedness with [`image_to_model_axes`].

pub type Vec3 = [f32; 3];
pub type Mat3 = [[f32; 3]; 3];

/// Image landmark (x right, y down, z into the screen) → y up, z towards the viewer.
#[inline]
pub fn image_to_model_axes(p: Vec3) -> Vec3 {
    [p[0], -p[1], -p[2]]
}

/// A similarity transform `observed ≈ scale · R · model + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub r: Mat3,
    pub scale: f32,
    pub t: Vec3,
}

impl Similarity {
    pub fn apply(&self, p: Vec3) -> Vec3 {
        let q = mat_vec(&self.r, p);
        [
            self.scale * q[0] + self.t[0],
            self.scale * q[1] + self.t[1],
            self.scale * q[2] + self.t[2],
        ]
    }

    /// Observed point → model frame (undoes pose, scale and position).
    pub fn unapply(&self, p: Vec3) -> Vec3 {
        let d = [p[0] - self.t[0], p[1] - self.t[1], p[2] - self.t[2]];
        let q = mat_t_vec(&self.r, d);
        let inv = if self.scale.abs() > 1e-12 {
            1.0 / self.scale
        } else {
            0.0
        };
        [q[0] * inv, q[1] * inv, q[2] * inv]
    }
}

pub fn mat_vec(m: &Mat3, v: Vec3) -> Vec3 {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

pub fn mat_t_vec(m: &Mat3, v: Vec3) -> Vec3 {
    [
        m[0][0] * v[0] + m[1][0] * v[1] + m[2][0] * v[2],
        m[0][1] * v[0] + m[1][1] * v[1] + m[2][1] * v[2],
        m[0][2] * v[0] + m[1][2] * v[1] + m[2][2] * v[2],
    ]
}

pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

pub fn transpose(a: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = a[j][i];
        }
    }
    m
}

/// Weighted centroid of `p` (zero when the weights sum to zero).
pub fn weighted_centroid(p: &[Vec3], w: &[f32]) -> Vec3 {
    let mut c = [0.0f32; 3];
    let mut sum = 0.0;
    for (p, &w) in p.iter().zip(w) {
        for k in 0..3 {
            c[k] += w * p[k];
        }
        sum += w;
    }
    if sum > 0.0 { c.map(|v| v / sum) } else { c }
}

/// Eigen-decomposition of a symmetric 4×4 matrix by cyclic Jacobi rotations:
/// returns (eigenvalues, eigenvectors as columns).
fn jacobi4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|i| ((i + 1)..4).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..4 {
            for q in (p + 1)..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p], a[q]);
                for k in 0..4 {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

/// Weighted least-squares similarity mapping `model[i]` onto `observed[i]` (Horn 1987,
/// with Umeyama's asymmetric scale). `None` with fewer than 3 weighted points or a
/// degenerate configuration.
pub fn fit_similarity(model: &[Vec3], observed: &[Vec3], weights: &[f32]) -> Option<Similarity> {
    let n = model.len().min(observed.len()).min(weights.len());
    let wsum: f64 = weights[..n].iter().map(|&w| w.max(0.0) as f64).sum();
    if n < 3 || wsum <= 0.0 {
        return None;
    }
    let mut ca = [0.0f64; 3];
    let mut cb = [0.0f64; 3];
    for i in 0..n {
        let w = weights[i].max(0.0) as f64;
        for k in 0..3 {
            ca[k] += w * model[i][k] as f64;
            cb[k] += w * observed[i][k] as f64;
        }
    }
    for k in 0..3 {
        ca[k] /= wsum;
        cb[k] /= wsum;
    }
    // S[a][b] = Σ w · A_a · B_b (A: centred model, B: centred observed)
    let mut s = [[0.0f64; 3]; 3];
    let mut var_a = 0.0f64;
    for i in 0..n {
        let w = weights[i].max(0.0) as f64;
        let a = [0, 1, 2].map(|k| model[i][k] as f64 - ca[k]);
        let b = [0, 1, 2].map(|k| observed[i][k] as f64 - cb[k]);
        for r in 0..3 {
            for c in 0..3 {
                s[r][c] += w * a[r] * b[c];
            }
        }
        var_a += w * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    }
    if var_a <= 1e-18 {
        return None;
    }
    let (sxx, sxy, sxz) = (s[0][0], s[0][1], s[0][2]);
    let (syx, syy, syz) = (s[1][0], s[1][1], s[1][2]);
    let (szx, szy, szz) = (s[2][0], s[2][1], s[2][2]);
    let nmat = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let (vals, vecs) = jacobi4(nmat);
    let best = (0..4).max_by(|&i, &j| vals[i].total_cmp(&vals[j]))?;
    let q = [vecs[0][best], vecs[1][best], vecs[2][best], vecs[3][best]];
    let r = quat_to_mat(q);
    // Scale: Σ w B·(R A) / Σ w |A|²
    let mut num = 0.0f64;
    for i in 0..n {
        let w = weights[i].max(0.0) as f64;
        let a = [0, 1, 2].map(|k| model[i][k] as f64 - ca[k]);
        let b = [0, 1, 2].map(|k| observed[i][k] as f64 - cb[k]);
        for rr in 0..3 {
            let ra: f64 = (0..3).map(|c| r[rr][c] * a[c]).sum();
            num += w * b[rr] * ra;
        }
    }
    let scale = num / var_a;
    let mut t = [0.0f32; 3];
    for rr in 0..3 {
        let ra: f64 = (0..3).map(|c| r[rr][c] * ca[c]).sum();
        t[rr] = (cb[rr] - scale * ra) as f32;
    }
    let r32 = r.map(|row| row.map(|v| v as f32));
    (scale.is_finite() && scale > 0.0).then_some(Similarity {
        r: r32,
        scale: scale as f32,
        t,
    })
}

fn quat_to_mat(q: [f64; 4]) -> [[f64; 3]; 3] {
    let norm = (q.iter().map(|v| v * v).sum::<f64>()).sqrt().max(1e-300);
    let [w, x, y, z] = q.map(|v| v / norm);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// Pitch, yaw, roll (degrees) of R = Rz(roll)·Ry(yaw)·Rx(pitch), in the model frame
/// (x right, y up, z towards the viewer). For a face whose front is +z: pitch > 0
/// turns it down, yaw > 0 turns it towards the image's right (the subject's left),
/// roll > 0 tilts it counter-clockwise as seen in the image.
pub fn euler_degrees(r: &Mat3) -> [f32; 3] {
    let yaw = (-r[2][0]).clamp(-1.0, 1.0).asin();
    let pitch = r[2][1].atan2(r[2][2]);
    let roll = r[1][0].atan2(r[0][0]);
    [pitch.to_degrees(), yaw.to_degrees(), roll.to_degrees()]
}

/// R = Rz(roll)·Ry(yaw)·Rx(pitch) from degrees.
pub fn rotation_from_euler(pitch: f32, yaw: f32, roll: f32) -> Mat3 {
    let (sp, cp) = pitch.to_radians().sin_cos();
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sr, cr) = roll.to_radians().sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    mat_mul(&rz, &mat_mul(&ry, &rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud() -> Vec<Vec3> {
        vec![
            [0.0, 0.0, 1.0],
            [3.0, 0.5, -0.2],
            [-2.5, 1.0, 0.3],
            [0.5, -3.0, 0.8],
            [1.0, 2.0, -1.5],
            [-1.0, -1.2, 2.0],
        ]
    }

    #[test]
    fn recovers_a_known_similarity() {
        let r = rotation_from_euler(12.0, -25.0, 33.0);
        let truth = Similarity {
            r,
            scale: 7.5,
            t: [100.0, -40.0, 5.0],
        };
        let model = cloud();
        let obs: Vec<Vec3> = model.iter().map(|p| truth.apply(*p)).collect();
        let w = vec![1.0; model.len()];
        let fit = fit_similarity(&model, &obs, &w).unwrap();
        assert!((fit.scale - 7.5).abs() < 1e-3, "{}", fit.scale);
        let e = euler_degrees(&fit.r);
        for (got, want) in e.iter().zip([12.0, -25.0, 33.0]) {
            assert!((got - want).abs() < 0.01, "{e:?}");
        }
        for k in 0..3 {
            assert!((fit.t[k] - truth.t[k]).abs() < 1e-2);
        }
        let back = fit.unapply(obs[3]);
        for k in 0..3 {
            assert!((back[k] - model[3][k]).abs() < 1e-3);
        }
    }

    #[test]
    fn weights_ignore_an_outlier() {
        let model = cloud();
        let truth = Similarity {
            r: rotation_from_euler(0.0, 0.0, 10.0),
            scale: 2.0,
            t: [1.0, 2.0, 3.0],
        };
        let mut obs: Vec<Vec3> = model.iter().map(|p| truth.apply(*p)).collect();
        obs[5] = [50.0, 50.0, 50.0];
        let mut w = vec![1.0; model.len()];
        w[5] = 0.0;
        let fit = fit_similarity(&model, &obs, &w).unwrap();
        assert!((euler_degrees(&fit.r)[2] - 10.0).abs() < 0.01);
    }

    #[test]
    fn euler_round_trip_and_roll_sign() {
        let r = rotation_from_euler(-20.0, 40.0, -70.0);
        let e = euler_degrees(&r);
        assert!(
            (e[0] + 20.0).abs() < 1e-3 && (e[1] - 40.0).abs() < 1e-3 && (e[2] + 70.0).abs() < 1e-3
        );
        // Positive roll turns +x towards +y (up): counter-clockwise in the image.
        let p = mat_vec(&rotation_from_euler(0.0, 0.0, 90.0), [1.0, 0.0, 0.0]);
        assert!((p[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(fit_similarity(&[[0.0; 3]; 2], &[[0.0; 3]; 2], &[1.0; 2]).is_none());
        assert!(fit_similarity(&[[1.0; 3]; 5], &[[2.0; 3]; 5], &[1.0; 5]).is_none());
        assert!(fit_similarity(&cloud(), &cloud(), &[0.0; 6]).is_none());
    }
}
