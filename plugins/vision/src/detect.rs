// SPDX-License-Identifier: MIT

//! Face detector output decoding: RetinaFace priors, BlazeFace anchors, NMS.

/// One detection in tensor pixels (before mapping back to the frame).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// x0, y0, x1, y1
    pub bbox: [f32; 4],
    pub score: f32,
    /// Five landmarks: image-left eye, image-right eye, nose, image-left and
    /// image-right mouth corners.
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
    /// Applies `f` to every point (box corners and landmarks).
    pub fn map_points(&mut self, f: impl Fn(f32, f32) -> [f32; 2]) {
        let [x0, y0] = f(self.bbox[0], self.bbox[1]);
        let [x1, y1] = f(self.bbox[2], self.bbox[3]);
        self.bbox = [x0, y0, x1, y1];
        for p in &mut self.landmarks {
            *p = f(p[0], p[1]);
        }
    }
}

/// Bounding box x0, y0, x1, y1 of points (their first two coordinates).
pub fn bounds<P: AsRef<[f32]>>(points: impl IntoIterator<Item = P>) -> [f32; 4] {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for p in points {
        let p = p.as_ref();
        b = [
            b[0].min(p[0]),
            b[1].min(p[1]),
            b[2].max(p[0]),
            b[3].max(p[1]),
        ];
    }
    b
}

/// Intersection over union of two x0,y0,x1,y1 boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression in place: sorts by score, drops any box whose IoU
/// with a kept higher-scoring box exceeds `threshold`, keeps at most `max_keep`.
pub fn nms(dets: &mut Vec<Detection>, threshold: f32, max_keep: usize) {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..dets.len() {
        if kept >= max_keep {
            break;
        }
        let cand = dets[i];
        if dets[..kept]
            .iter()
            .all(|k| iou(&k.bbox, &cand.bbox) <= threshold)
        {
            dets[kept] = cand;
            kept += 1;
        }
    }
    dets.truncate(kept);
}

/// Input side, in pixels, of a re-detection in the region around the faces found on
/// the previous frame ([`detection_region`]): a face of the region's usual size then
/// spans about 50 px, inside RetinaFace's range, and 128² is 1/19 of the pixels of a
/// 640×480 frame. 160² gave boxes a little closer to the whole frame's (IoU p50
/// 0.92/0.90 against 0.91/0.88 on WolfgangLanger/single_face) and the same landmarks
/// within 0.3 % of the eye distance, at 1.5 ms per frame against 1.1 ms.
pub const REGION_INPUT: usize = 128;

/// Margin around the previous faces, in sides of the largest, on every side: room for a
/// head's motion between two frames.
const REGION_MARGIN: f32 = 0.5;

/// Smallest face, in pixels of the region's input, a region re-detection is tried for:
/// RetinaFace finds faces down to 16-20 px, with room to spare here (two faces side by
/// side, 80 px each in a 640×480 frame, span 32 px).
const REGION_MIN_FACE: f32 = 30.0;

/// The grid, in frame pixels, regions are placed on (and twice it, their sides).
const REGION_GRID: f32 = 16.0;

/// The longer side of an x0, y0, x1, y1 box.
fn long_side(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]).max(b[3] - b[1])
}

/// The square region (x0, y0, side, in frame pixels) in which to look again for the
/// faces `boxes` (x0, y0, x1, y1) of the previous frame: their union with
/// [`REGION_MARGIN`] of the largest face's side on every side. `None` when there is
/// nothing to look for, or when the smallest face would span under [`REGION_MIN_FACE`]
/// pixels once the region is scaled to [`REGION_INPUT`] (faces spread over the frame:
/// the whole frame then).
pub fn detection_region(boxes: &[[f32; 4]]) -> Option<[f32; 3]> {
    let sides = || boxes.iter().map(long_side);
    let largest = sides().fold(0.0f32, f32::max);
    let smallest = sides().fold(f32::MAX, f32::min);
    if boxes.is_empty() || !largest.is_finite() || smallest < 1.0 {
        return None;
    }
    let [x0, y0, x1, y1] = bounds(boxes.iter().flat_map(|b| [[b[0], b[1]], [b[2], b[3]]]));
    let side = (x1 - x0).max(y1 - y0) + 2.0 * REGION_MARGIN * largest;
    // On a grid: a face that stays still keeps the same region, so the same box (a
    // region a few pixels off gives a box a few pixels off). The side takes the grid's
    // slack on top, so that the snapped region still holds the faces and margins.
    let side = ((side + 2.0 * REGION_GRID) / (2.0 * REGION_GRID)).ceil() * 2.0 * REGION_GRID;
    if !side.is_finite() || smallest * REGION_INPUT as f32 / side < REGION_MIN_FACE {
        return None;
    }
    let snap = |v: f32| (v / REGION_GRID).floor() * REGION_GRID;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    Some([snap(cx - side / 2.0), snap(cy - side / 2.0), side])
}

/// The region to search for the faces `boxes` of the last frame: `prev` while it
/// still serves, else a new one from [`detection_region`] (`None`: the whole frame).
/// `prev` serves while it holds each face with a quarter of the largest face's side to
/// spare and its side is within 0.8-1.25 of the new one's. Kept, the region does not
/// move with the detector's own noise: a still face is searched in the same pixels at
/// the same scale, so it keeps exactly the same box.
pub fn next_region(prev: Option<[f32; 3]>, boxes: &[[f32; 4]]) -> Option<[f32; 3]> {
    let now = detection_region(boxes)?;
    let Some([x0, y0, side]) = prev else {
        return Some(now);
    };
    let largest = boxes.iter().map(long_side).fold(0.0f32, f32::max);
    let spare = 0.25 * largest;
    let inside = boxes.iter().all(|b| {
        b[0] >= x0 + spare
            && b[1] >= y0 + spare
            && b[2] <= x0 + side - spare
            && b[3] <= y0 + side - spare
    });
    Some(if inside && (0.8..=1.25).contains(&(now[2] / side)) {
        [x0, y0, side]
    } else {
        now
    })
}

/// Whether any of the boxes `found` (frame pixels) is a face other than the `tracked`
/// ones: its centre lies outside every tracked box grown by a quarter of its size on
/// each side. By centre rather than overlap, so that another detector's box for a
/// tracked face (BlazeFace's is larger and squarer than RetinaFace's) is that face.
pub fn has_new_face<'a>(
    found: impl IntoIterator<Item = &'a [f32; 4]>,
    tracked: &[[f32; 4]],
) -> bool {
    found.into_iter().any(|f| {
        let (cx, cy) = ((f[0] + f[2]) / 2.0, (f[1] + f[3]) / 2.0);
        tracked.iter().all(|t| {
            let (gx, gy) = (0.25 * (t[2] - t[0]), 0.25 * (t[3] - t[1]));
            cx < t[0] - gx || cx > t[2] + gx || cy < t[1] - gy || cy > t[3] + gy
        })
    })
}

/// Whether detection box `b` (frame pixels) reaches an edge of `region` (as
/// [`detection_region`] gives) that lies inside the `w`×`h` frame: a face cut by the
/// region, whose box cannot be trusted. Edges beyond the frame do not count (boxes are
/// clipped to the frame, a face cut by the frame's edge is cut there in any case).
pub fn cut_by_region(b: &[f32; 4], region: [f32; 3], w: usize, h: usize) -> bool {
    let [x0, y0, side] = region;
    let (fw, fh) = (w as f32, h as f32);
    let (rx1, ry1) = (x0 + side, y0 + side);
    (x0 > 0.0 && b[0] <= x0 + 1.0)
        || (y0 > 0.0 && b[1] <= y0 + 1.0)
        || (rx1 < fw && b[2] >= rx1 - 1.0)
        || (ry1 < fh && b[3] >= ry1 - 1.0)
}

/// RetinaFace (biubug6 layout) priors: for strides 8/16/32 with min sizes
/// (16,32)/(64,128)/(256,512), one prior per size per cell, cells row-major over
/// ceil(W/stride)×ceil(H/stride). Stored as cx, cy, s (pixels; priors are square).
#[derive(Debug, Default, Clone)]
pub struct RetinaPriors {
    priors: Vec<[f32; 3]>,
    size: (usize, usize),
}

const RETINA_LEVELS: [(usize, [f32; 2]); 3] =
    [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const RETINA_VARIANCE: [f32; 2] = [0.1, 0.2];

impl RetinaPriors {
    /// Priors for a `w`×`h` input (cached: recomputed only when the size changes).
    pub fn for_size(&mut self, w: usize, h: usize) -> &[[f32; 3]] {
        if self.size != (w, h) || self.priors.is_empty() {
            self.priors.clear();
            for (stride, sizes) in RETINA_LEVELS {
                let (nx, ny) = (w.div_ceil(stride), h.div_ceil(stride));
                for iy in 0..ny {
                    for ix in 0..nx {
                        for s in sizes {
                            let cx = (ix as f32 + 0.5) * stride as f32;
                            let cy = (iy as f32 + 0.5) * stride as f32;
                            self.priors.push([cx, cy, s]);
                        }
                    }
                }
            }
            self.size = (w, h);
        }
        &self.priors
    }

    /// Number of priors for a `w`×`h` input.
    pub fn count(w: usize, h: usize) -> usize {
        RETINA_LEVELS
            .iter()
            .map(|(s, sz)| w.div_ceil(*s) * h.div_ceil(*s) * sz.len())
            .sum()
    }
}

/// Decodes RetinaFace outputs (`loc [N,4]`, `conf [N,2]` softmaxed, `landmarks [N,10]`)
/// for every prior whose face probability is at least `threshold`; appends to `out`.
pub fn decode_retinaface(
    priors: &[[f32; 3]],
    loc: &[f32],
    conf: &[f32],
    landmarks: &[f32],
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    let n = priors
        .len()
        .min(loc.len() / 4)
        .min(conf.len() / 2)
        .min(landmarks.len() / 10);
    let [vc, vs] = RETINA_VARIANCE;
    for i in 0..n {
        let score = conf[i * 2 + 1];
        if score < threshold || score.is_nan() {
            continue;
        }
        let [px, py, ps] = priors[i];
        let l = &loc[i * 4..i * 4 + 4];
        let cx = px + l[0] * vc * ps;
        let cy = py + l[1] * vc * ps;
        let w = ps * (l[2] * vs).exp();
        let h = ps * (l[3] * vs).exp();
        let mut lm = [[0.0; 2]; 5];
        for (k, p) in lm.iter_mut().enumerate() {
            let o = i * 10 + k * 2;
            *p = [px + landmarks[o] * vc * ps, py + landmarks[o + 1] * vc * ps];
        }
        out.push(Detection {
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            score,
            landmarks: lm,
        });
    }
}

/// MediaPipe BlazeFace anchors (SSD-style, fixed anchor size 1, centres only), in
/// units of the input size. Front 128 model: strides 8,16,16,16; back 256 model:
/// strides 16,32,32,32. Both yield 896 anchors (2 per cell at the first stride, 6 per
/// cell at the second).
pub fn blazeface_anchors(input: usize) -> Vec<[f32; 2]> {
    let strides: [usize; 4] = if input >= 256 {
        [16, 32, 32, 32]
    } else {
        [8, 16, 16, 16]
    };
    let mut anchors = Vec::new();
    let mut i = 0;
    while i < strides.len() {
        // Layers sharing a stride are merged: 2 anchors each.
        let mut n = 0;
        let s = strides[i];
        while i < strides.len() && strides[i] == s {
            n += 2;
            i += 1;
        }
        let cells = input.div_ceil(s);
        for y in 0..cells {
            for x in 0..cells {
                for _ in 0..n {
                    anchors.push([
                        (x as f32 + 0.5) / cells as f32,
                        (y as f32 + 0.5) / cells as f32,
                    ]);
                }
            }
        }
    }
    anchors
}

/// Decodes BlazeFace outputs (`regressors [896,16]`, `classificators [896]` logits)
/// into detections in input pixels (`input`×`input`). Keypoints 0..4 of BlazeFace are
/// right eye, left eye (subject's: image-left first), nose, mouth centre, right ear,
/// left ear; mouth corners are not given, so both mouth landmarks are the mouth centre
/// shifted by a quarter of the eye distance.
pub fn decode_blazeface(
    anchors: &[[f32; 2]],
    regressors: &[f32],
    logits: &[f32],
    input: usize,
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    let n = anchors.len().min(regressors.len() / 16).min(logits.len());
    let s = input as f32;
    for i in 0..n {
        let score = 1.0 / (1.0 + (-logits[i].clamp(-100.0, 100.0)).exp());
        if score < threshold {
            continue;
        }
        let r = &regressors[i * 16..i * 16 + 16];
        let [ax, ay] = anchors[i];
        let cx = r[0] + ax * s;
        let cy = r[1] + ay * s;
        let (w, h) = (r[2], r[3]);
        let kp = |k: usize| [r[4 + 2 * k] + ax * s, r[5 + 2 * k] + ay * s];
        let (el, er, nose, mouth) = (kp(0), kp(1), kp(2), kp(3));
        let half = [(er[0] - el[0]) * 0.35, (er[1] - el[1]) * 0.35];
        out.push(Detection {
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            score,
            landmarks: [
                el,
                er,
                nose,
                [mouth[0] - half[0], mouth[1] - half[1]],
                [mouth[0] + half[0], mouth[1] + half[1]],
            ],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_face_is_one_away_from_the_tracked_ones() {
        let tracked = [[100.0, 100.0, 200.0, 220.0]];
        // The same face as another detector boxes it: larger, squarer, shifted.
        let same = [[85.0, 95.0, 215.0, 225.0]];
        assert!(!has_new_face(&same, &tracked));
        // A second face beside it.
        let other = [[300.0, 120.0, 380.0, 210.0]];
        assert!(has_new_face(&other, &tracked));
        assert!(has_new_face(same.iter().chain(&other), &tracked));
        // Nothing found, or nothing tracked.
        assert!(!has_new_face(&[], &tracked));
        assert!(has_new_face(&other, &[]));
    }

    fn det(b: [f32; 4], s: f32) -> Detection {
        Detection {
            bbox: b,
            score: s,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn bounds_of_points() {
        assert_eq!(
            bounds([[1.0, 5.0, 9.0], [-2.0, 3.0, 0.0]]),
            [-2.0, 3.0, 1.0, 5.0]
        );
        assert_eq!(bounds([[4.0f32, 2.0]]), [4.0, 2.0, 4.0, 2.0]);
    }

    #[test]
    fn iou_values() {
        assert_eq!(iou(&[0., 0., 10., 10.], &[0., 0., 10., 10.]), 1.0);
        assert_eq!(iou(&[0., 0., 10., 10.], &[20., 20., 30., 30.]), 0.0);
        let v = iou(&[0., 0., 10., 10.], &[5., 0., 15., 10.]);
        assert!((v - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_best_of_overlaps() {
        let mut d = vec![
            det([0., 0., 10., 10.], 0.8),
            det([1., 1., 11., 11.], 0.9),
            det([50., 50., 60., 60.], 0.7),
            det([51., 50., 61., 60.], 0.6),
        ];
        nms(&mut d, 0.4, 10);
        let scores: Vec<f32> = d.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
        nms(&mut d, 0.4, 1);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn retina_prior_count_and_layout() {
        assert_eq!(RetinaPriors::count(640, 640), 16800); // the well-known figure
        let mut p = RetinaPriors::default();
        let pr = p.for_size(64, 32);
        assert_eq!(pr.len(), RetinaPriors::count(64, 32));
        assert_eq!(pr[0], [4.0, 4.0, 16.0]);
        assert_eq!(pr[1], [4.0, 4.0, 32.0]);
        assert_eq!(pr[2], [12.0, 4.0, 16.0]);
    }

    #[test]
    fn retina_decode_zero_offsets_gives_prior_box() {
        let priors = [[100.0, 50.0, 32.0]];
        let mut out = vec![];
        decode_retinaface(&priors, &[0.0; 4], &[0.1, 0.9], &[0.0; 10], 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, [84.0, 34.0, 116.0, 66.0]);
        assert_eq!(out[0].landmarks[3], [100.0, 50.0]);
        decode_retinaface(&priors, &[0.0; 4], &[0.6, 0.4], &[0.0; 10], 0.5, &mut out);
        assert_eq!(out.len(), 1, "below threshold is skipped");
        // Offsets: x by 1 → +0.1·s; log-size by 1 → ×e^0.2.
        out.clear();
        decode_retinaface(
            &priors,
            &[1.0, 0.0, 1.0, 0.0],
            &[0.0, 1.0],
            &[0.0; 10],
            0.5,
            &mut out,
        );
        let w = out[0].width();
        assert!((w - 32.0 * 0.2f32.exp()).abs() < 1e-4);
        assert!(((out[0].bbox[0] + out[0].bbox[2]) / 2.0 - 103.2).abs() < 1e-4);
    }

    #[test]
    fn the_region_holds_the_faces_with_margins() {
        // One 100-px face: 200 px around its centre, on the 16-px grid with its slack.
        let r = detection_region(&[[200.0, 100.0, 300.0, 200.0]]).unwrap();
        assert_eq!(r, [112.0, 16.0, 256.0]);
        // Moved by a pixel or two: the same region.
        assert_eq!(detection_region(&[[201.5, 98.5, 301.5, 198.5]]), Some(r));
        assert!(!cut_by_region(&[200.0, 100.0, 300.0, 200.0], r, 640, 480));
        // Two faces: their union, with the larger face's margins.
        let r = detection_region(&[[100.0, 100.0, 180.0, 180.0], [220.0, 110.0, 300.0, 190.0]])
            .unwrap();
        assert_eq!(r, [32.0, -16.0, 320.0]);
        // Nothing to look for, or a face that the region would shrink under 30 px.
        assert_eq!(detection_region(&[]), None);
        assert_eq!(detection_region(&[[0.0, 0.0, 0.0, 0.0]]), None);
        assert_eq!(
            detection_region(&[[20.0, 100.0, 120.0, 200.0], [500.0, 100.0, 560.0, 160.0]]),
            None
        );
    }

    #[test]
    fn a_region_is_kept_while_the_faces_stay_well_inside() {
        let face = [200.0, 100.0, 300.0, 200.0];
        let r = detection_region(&[face]).unwrap();
        let holds = |b: &[[f32; 4]]| next_region(Some(r), b) == Some(r);
        assert!(holds(&[face]));
        // A few pixels of detector noise: kept.
        assert!(holds(&[[203.0, 98.0, 304.0, 197.0]]));
        // Moved to within a quarter face of the edge, or grown by half: a new one.
        let moved = [250.0, 100.0, 350.0, 200.0];
        assert_eq!(next_region(Some(r), &[moved]), detection_region(&[moved]));
        assert!(!holds(&[[175.0, 75.0, 325.0, 225.0]]));
        // No faces: the whole frame.
        assert_eq!(next_region(Some(r), &[]), None);
    }

    #[test]
    fn a_face_cut_by_the_region_is_not_trusted() {
        // x 125..375, y 25..275.
        let r = [125.0, 25.0, 250.0];
        // Reaching the region's left or bottom edge inside the frame: cut.
        assert!(cut_by_region(&[120.0, 100.0, 200.0, 180.0], r, 640, 480));
        assert!(cut_by_region(&[200.0, 200.0, 280.0, 275.0], r, 640, 480));
        // A region beyond the frame's top: a box clipped at the frame's top is fine.
        let r = [125.0, -50.0, 250.0];
        assert!(!cut_by_region(&[200.0, 0.0, 280.0, 80.0], r, 640, 480));
    }

    #[test]
    fn blazeface_anchor_counts() {
        for size in [128, 256] {
            let a = blazeface_anchors(size);
            assert_eq!(a.len(), 896);
            assert_eq!(a[0], a[1]);
        }
        let a = blazeface_anchors(128);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
    }
}
