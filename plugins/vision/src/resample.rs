// SPDX-License-Identifier: MIT

//! One fused pass from a raw frame (any accepted format, any size, any stride) to a
//! normalised float tensor: resize (bilinear), colour conversion, channel order,
//! mean/scale and layout, written into a caller-owned buffer that is reused.

use crate::frame::{FrameRef, PixelFormat, yuv_to_rgb};

/// Maps tensor pixels to frame pixels: `frame = (tensor - offset) / scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub off_x: f32,
    pub off_y: f32,
}

impl Letterbox {
    /// Fits a `w`×`h` frame into `tw`×`th`, keeping the aspect ratio, anchored at the
    /// top-left corner (`center == false`) or centred.
    pub fn fit(w: usize, h: usize, tw: usize, th: usize, center: bool) -> Self {
        let scale = (tw as f32 / w.max(1) as f32).min(th as f32 / h.max(1) as f32);
        let (off_x, off_y) = if center {
            (
                (tw as f32 - w as f32 * scale) / 2.0,
                (th as f32 - h as f32 * scale) / 2.0,
            )
        } else {
            (0.0, 0.0)
        };
        Letterbox {
            scale,
            off_x,
            off_y,
        }
    }

    /// Tensor point → frame point.
    #[inline]
    pub fn to_frame(&self, x: f32, y: f32) -> [f32; 2] {
        [(x - self.off_x) / self.scale, (y - self.off_y) / self.scale]
    }
}

/// How RGB values in 0..=255 become tensor values: `(v - mean[c]) * mul[c]`, written
/// in BGR order when `bgr`, planar (NCHW) or interleaved (NHWC).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub mul: [f32; 3],
    pub bgr: bool,
    pub nchw: bool,
}

impl Normalize {
    /// Where source channel c (R, G, B) of tensor pixel i (row-major) goes in a
    /// `plane`-pixel tensor: index `first[c] + i · step`, in its plane (NCHW) or its
    /// slot (NHWC).
    fn layout(&self, plane: usize) -> ([usize; 3], usize) {
        let out_channel = |c: usize| if self.bgr { 2 - c } else { c };
        if self.nchw {
            ([0, 1, 2].map(|c| out_channel(c) * plane), 1)
        } else {
            ([0, 1, 2].map(out_channel), 3)
        }
    }
}

/// Per-column sampling taps, kept between frames so the hot path does not allocate.
#[derive(Default, Debug)]
pub struct ResampleScratch {
    cols: Vec<Tap>,
    key: (usize, usize, u32, u32),
}

#[derive(Clone, Copy, Debug, Default)]
struct Tap {
    i0: u32,
    i1: u32,
    w1: f32,
    inside: bool,
}

/// The two source samples and weight for destination index `d` (pixel centres
/// aligned: src = (d + 0.5 - off) / scale - 0.5).
#[inline]
fn tap_at(d: usize, src_len: usize, scale: f32, off: f32) -> Tap {
    let s = (d as f32 + 0.5 - off) / scale - 0.5;
    let inside = s > -1.0 && s < src_len as f32;
    let sc = s.clamp(0.0, (src_len - 1) as f32);
    let i0 = sc.floor() as u32;
    Tap {
        i0,
        i1: (i0 + 1).min(src_len as u32 - 1),
        w1: sc - i0 as f32,
        inside,
    }
}

/// Fills `dst` (length 3·tw·th) from `frame` through `lb`; tensor pixels that fall
/// outside the frame get value 0 (i.e. the mean colour).
pub fn frame_to_tensor(
    frame: &FrameRef,
    lb: &Letterbox,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
    scratch: &mut ResampleScratch,
) {
    assert_eq!(dst.len(), 3 * tw * th, "tensor buffer size");
    if frame.width == 0 || frame.height == 0 {
        dst.fill(0.0);
        return;
    }
    let key = (tw, frame.width, lb.scale.to_bits(), lb.off_x.to_bits());
    if scratch.key != key || scratch.cols.len() != tw {
        scratch.cols.clear();
        scratch
            .cols
            .extend((0..tw).map(|d| tap_at(d, frame.width, lb.scale, lb.off_x)));
        scratch.key = key;
    }
    match frame.format.packed_layout() {
        Some((3, offsets)) => packed_to_tensor::<3>(frame, offsets, lb, tw, th, norm, dst, scratch),
        Some((4, offsets)) => packed_to_tensor::<4>(frame, offsets, lb, tw, th, norm, dst, scratch),
        _ => any_to_tensor(frame, lb, tw, th, norm, dst, scratch),
    }
}

/// [`frame_to_tensor`] one sample at a time, for any format (YUV too).
fn any_to_tensor(
    frame: &FrameRef,
    lb: &Letterbox,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
    scratch: &ResampleScratch,
) {
    let plane = tw * th;
    let ch = |c: usize| if norm.bgr { 2 - c } else { c };
    for ty in 0..th {
        let ry = tap_at(ty, frame.height, lb.scale, lb.off_y);
        for (tx, cx) in scratch.cols.iter().enumerate() {
            // Outside the frame: the mean colour, i.e. 0 after normalisation.
            let rgb = if ry.inside && cx.inside {
                sample(frame, cx, &ry)
            } else {
                norm.mean
            };
            for (c, value) in rgb.iter().enumerate() {
                let v = (value - norm.mean[c]) * norm.mul[c];
                let oc = ch(c);
                let idx = if norm.nchw {
                    oc * plane + ty * tw + tx
                } else {
                    (ty * tw + tx) * 3 + oc
                };
                dst[idx] = v;
            }
        }
    }
}

/// [`frame_to_tensor`] for packed RGB formats: the same arithmetic, bit for bit, a
/// tensor row and channel at a time, with the pixel size a constant. A whole 640×480
/// RGB frame into RetinaFace's tensor: 2.6 → 0.8 ms; a 128² region: 136 → 121 µs
/// (one core, p50).
#[allow(clippy::too_many_arguments)]
fn packed_to_tensor<const BPP: usize>(
    frame: &FrameRef,
    offsets: [usize; 3],
    lb: &Letterbox,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
    scratch: &ResampleScratch,
) {
    let p = &frame.planes[0];
    let (first, step) = norm.layout(tw * th);
    let row_len = frame.width * BPP;
    // Columns that fall on source pixels exactly (scale 1, whole-pixel offset, the
    // usual whole-frame detection): a copy, which the interpolation would give too.
    let exact = scratch.cols.iter().all(|c| c.inside && c.w1 == 0.0);
    for ty in 0..th {
        let ry = tap_at(ty, frame.height, lb.scale, lb.off_y);
        let row = |i: u32| {
            let start = i as usize * p.stride;
            p.data.get(start..start + row_len)
        };
        let rows = match (row(ry.i0), row(ry.i1)) {
            (Some(r0), Some(r1)) if ry.inside => Some((r0, r1)),
            _ => None,
        };
        for (c, &o) in offsets.iter().enumerate() {
            let (mean, mul) = (norm.mean[c], norm.mul[c]);
            let out = dst[first[c] + ty * tw * step..]
                .iter_mut()
                .step_by(step)
                .take(tw);
            match rows {
                // Outside the frame: the mean colour, i.e. 0 after normalisation.
                None => out.for_each(|d| *d = 0.0 * mul),
                Some((r0, _)) if exact && ry.w1 == 0.0 => {
                    for (d, cx) in out.zip(&scratch.cols) {
                        *d = (r0[cx.i0 as usize * BPP + o] as f32 - mean) * mul;
                    }
                }
                Some((r0, r1)) => {
                    for (d, cx) in out.zip(&scratch.cols) {
                        let (a, b) = (cx.i0 as usize * BPP + o, cx.i1 as usize * BPP + o);
                        let v = if cx.inside {
                            lerp2(
                                r0[a] as f32,
                                r0[b] as f32,
                                r1[a] as f32,
                                r1[b] as f32,
                                cx.w1,
                                ry.w1,
                            )
                        } else {
                            mean
                        };
                        *d = (v - mean) * mul;
                    }
                }
            }
        }
    }
}

#[inline]
fn lerp2(a: f32, b: f32, c: f32, d: f32, wx: f32, wy: f32) -> f32 {
    let top = a + (b - a) * wx;
    let bot = c + (d - c) * wx;
    top + (bot - top) * wy
}

/// Bilinear RGB at the taps. YUV is interpolated in its own space, then converted.
#[inline]
fn sample(f: &FrameRef, cx: &Tap, ry: &Tap) -> [f32; 3] {
    let (x0, x1, y0, y1) = (
        cx.i0 as usize,
        cx.i1 as usize,
        ry.i0 as usize,
        ry.i1 as usize,
    );
    match f.format.packed_layout() {
        Some((bpp, o)) => {
            let p = &f.planes[0];
            let r0 = y0 * p.stride;
            let r1 = y1 * p.stride;
            let mut out = [0.0; 3];
            for c in 0..3 {
                let g = |r: usize, x: usize| p.data[r + x * bpp + o[c]] as f32;
                out[c] = lerp2(g(r0, x0), g(r0, x1), g(r1, x0), g(r1, x1), cx.w1, ry.w1);
            }
            out
        }
        None => {
            let p = &f.planes[0];
            let g = |y: usize, x: usize| p.data[y * p.stride + x] as f32;
            let yv = lerp2(g(y0, x0), g(y0, x1), g(y1, x0), g(y1, x1), cx.w1, ry.w1);
            // Chroma: nearest sample of the 2×2-subsampled planes.
            let xc = if cx.w1 < 0.5 { x0 } else { x1 } / 2;
            let yc = if ry.w1 < 0.5 { y0 } else { y1 } / 2;
            let (u, v) = f.chroma(xc, yc);
            debug_assert!(matches!(f.format, PixelFormat::I420 | PixelFormat::Nv12));
            yuv_to_rgb(yv, u as f32, v as f32)
        }
    }
}

/// A 2×3 affine map from tensor pixels to frame pixels:
/// `frame = [m[0]·x + m[1]·y + m[2], m[3]·x + m[4]·y + m[5]]` (pixel centres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [f32; 6]);

impl Affine {
    /// A square crop of side `size` frame pixels centred on (cx, cy), rotated by
    /// `angle` radians (counter-clockwise in the image, y down), sampled onto an
    /// `n`×`n` tensor: the face's roll is undone in the tensor.
    pub fn square_crop(cx: f32, cy: f32, size: f32, angle: f32, n: usize) -> Self {
        let s = size / n as f32;
        let (sin, cos) = angle.sin_cos();
        let half = n as f32 / 2.0;
        // frame = c + s·R(angle)·(t − half), with R rotating tensor axes into the frame.
        let (a, b, c, d) = (s * cos, -s * sin, s * sin, s * cos);
        Affine([
            a,
            b,
            cx - a * half - b * half,
            c,
            d,
            cy - c * half - d * half,
        ])
    }

    #[inline]
    pub fn apply(&self, x: f32, y: f32) -> [f32; 2] {
        let m = &self.0;
        [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]]
    }

    /// The inverse map (frame → tensor); `None` when singular.
    pub fn inverse(&self) -> Option<Affine> {
        let m = &self.0;
        let det = m[0] * m[4] - m[1] * m[3];
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
        Some(Affine([
            a,
            b,
            -(a * m[2] + b * m[5]),
            c,
            d,
            -(c * m[2] + d * m[5]),
        ]))
    }

    /// Frame pixels per tensor pixel.
    pub fn scale(&self) -> f32 {
        (self.0[0] * self.0[4] - self.0[1] * self.0[3]).abs().sqrt()
    }
}

/// Fills `dst` (3·tw·th) by sampling `frame` bilinearly through `m` (tensor → frame);
/// tensor pixels outside the frame get 0 after normalisation.
pub fn frame_to_tensor_affine(
    frame: &FrameRef,
    m: &Affine,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
) {
    assert_eq!(dst.len(), 3 * tw * th, "tensor buffer size");
    match frame.format.packed_layout() {
        Some((bpp, offsets)) if frame.width > 0 && frame.height > 0 => {
            packed_to_tensor_affine(frame, bpp, offsets, m, tw, th, norm, dst)
        }
        _ => any_to_tensor_affine(frame, m, tw, th, norm, dst),
    }
}

/// [`frame_to_tensor_affine`] for packed RGB formats, with the pixel size a constant.
#[allow(clippy::too_many_arguments)]
fn packed_to_tensor_affine(
    frame: &FrameRef,
    bpp: usize,
    offsets: [usize; 3],
    m: &Affine,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
) {
    match bpp {
        3 => packed_affine::<3>(frame, offsets, m, tw, th, norm, dst),
        4 => packed_affine::<4>(frame, offsets, m, tw, th, norm, dst),
        _ => any_to_tensor_affine(frame, m, tw, th, norm, dst),
    }
}

/// Tensor pixels per batch of [`packed_affine`]: its arrays (about 4 KB) live on the
/// stack, in L1.
const BATCH: usize = 64;

/// The source position of tensor row `ty`'s pixel `tx`, on the sample grid (pixel
/// centres at integers): the y terms once per row. Both affine paths use it, so they
/// round alike.
#[inline]
fn row_terms(m: &Affine, ty: usize) -> [f32; 2] {
    let y = ty as f32 + 0.5;
    [m.0[1] * y + m.0[2] - 0.5, m.0[4] * y + m.0[5] - 0.5]
}

#[inline]
fn source_pos(m: &Affine, tx: usize, row: [f32; 2]) -> [f32; 2] {
    let x = tx as f32 + 0.5;
    [m.0[0] * x + row[0], m.0[3] * x + row[1]]
}

/// [`frame_to_tensor_affine`] for packed RGB formats: the generic path's arithmetic,
/// bit for bit, in batches along each tensor row, one pass each for the positions,
/// the weights, the neighbours' bytes and the interpolation, loops the compiler can
/// pipeline (1.3× faster than one pixel at a time on a 192² crop; the face crops run
/// it for every face of every frame).
fn packed_affine<const BPP: usize>(
    frame: &FrameRef,
    offsets: [usize; 3],
    m: &Affine,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
) {
    let (first, step) = norm.layout(tw * th);
    let job = AffineJob::<BPP> {
        frame,
        offsets,
        m,
        tw,
        norm,
        first,
        step,
    };
    #[cfg(target_arch = "x86_64")]
    let avx2 = step == 1 && affine_avx2::usable(frame, BPP);
    for ty in 0..PREFETCH_AHEAD.min(th) {
        prefetch_source_row::<BPP>(frame, m, ty, tw);
    }
    for ty in 0..th {
        if ty + PREFETCH_AHEAD < th {
            prefetch_source_row::<BPP>(frame, m, ty + PREFETCH_AHEAD, tw);
        }
        let row = row_terms(m, ty);
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            let (a, b) = affine_avx2::inside_run(frame, m, row, tw);
            job.scalar(ty, row, 0, a, dst);
            // SAFETY: `usable` checked AVX2 and the frame; [a, b) is inside.
            unsafe { affine_avx2::run(&job, ty, row, a, b, dst) };
            job.scalar(ty, row, b, tw, dst);
            continue;
        }
        job.scalar(ty, row, 0, tw, dst);
    }
}

/// Tensor rows ahead of the one being drawn whose source pixels are prefetched: the
/// frame is usually cold (just captured, or evicted by the previous model's run), and
/// a rotated crop reads it too irregularly for the hardware prefetcher.
const PREFETCH_AHEAD: usize = 4;

/// Prefetches the source rectangle tensor row `ty` of crop `m` reads.
fn prefetch_source_row<const BPP: usize>(frame: &FrameRef, m: &Affine, ty: usize, tw: usize) {
    let row = row_terms(m, ty);
    let ([ax, ay], [bx, by]) = (source_pos(m, 0, row), source_pos(m, tw.max(1) - 1, row));
    if ![ax, ay, bx, by].iter().all(|v| v.is_finite()) {
        return;
    }
    let (w, h) = (frame.width as f32, frame.height as f32);
    let span = |a: f32, b: f32, max: f32| {
        let (lo, hi) = (
            a.min(b).floor().max(0.0),
            (a.max(b).ceil() + 1.0).min(max - 1.0),
        );
        (lo <= hi).then_some((lo as usize, hi as usize))
    };
    let (Some((x0, x1)), Some((y0, y1))) = (span(ax, bx, w), span(ay, by, h)) else {
        return;
    };
    let p = &frame.planes[0];
    for y in y0..=y1 {
        if let Some(r) = p
            .data
            .get(y * p.stride + x0 * BPP..y * p.stride + (x1 + 1) * BPP)
        {
            crate::prefetch(r);
        }
    }
}

/// What every row of [`packed_affine`] needs.
struct AffineJob<'a, const BPP: usize> {
    frame: &'a FrameRef<'a>,
    offsets: [usize; 3],
    m: &'a Affine,
    tw: usize,
    norm: &'a Normalize,
    first: [usize; 3],
    step: usize,
}

impl<const BPP: usize> AffineJob<'_, BPP> {
    /// Tensor pixels [lo, hi) of row `ty`, in batches (the arithmetic per pixel is the
    /// generic path's, so the values are bit-identical to it).
    fn scalar(&self, ty: usize, row: [f32; 2], lo: usize, hi: usize, dst: &mut [f32]) {
        let (frame, m, norm, tw, step) = (self.frame, self.m, self.norm, self.tw, self.step);
        let (w, h) = (frame.width, frame.height);
        let (fw, fh) = (w as f32, h as f32);
        let p = &frame.planes[0];
        // What the generic path writes outside: the mean, normalised (0, or −0 for a
        // negative scale).
        let outside = [0, 1, 2].map(|c| 0.0 * norm.mul[c]);
        let mut pos = [[0f32; 2]; BATCH];
        let mut weights = [[0f32; 2]; BATCH];
        let mut inside = [false; BATCH];
        let mut corner = [[0u32; 2]; BATCH];
        // The channels of the four neighbours: top-left, top-right, bottom-left, bottom-right.
        let mut near = [[0f32; 12]; BATCH];
        for start in (lo..hi).step_by(BATCH) {
            let n = BATCH.min(hi - start);
            for (k, s) in pos[..n].iter_mut().enumerate() {
                *s = source_pos(m, start + k, row);
            }
            for k in 0..n {
                let [sx, sy] = pos[k];
                inside[k] = sx > -1.0 && sy > -1.0 && sx < fw && sy < fh;
                let xc = sx.clamp(0.0, fw - 1.0);
                let yc = sy.clamp(0.0, fh - 1.0);
                // Truncation is the floor here (both are ≥ 0).
                let (x0, y0) = (xc as i32, yc as i32);
                weights[k] = [xc - x0 as f32, yc - y0 as f32];
                corner[k] = [x0 as u32, y0 as u32];
            }
            for k in 0..n {
                let (x0, y0) = (corner[k][0] as usize, corner[k][1] as usize);
                let r = if x0 + 1 < w { BPP } else { 0 };
                let d = if y0 + 1 < h { p.stride } else { 0 };
                let a = y0 * p.stride + x0 * BPP;
                let mut q = [0f32; 12];
                // The planes were checked to hold every pixel: these always succeed.
                if let (Some(t), Some(b)) = (
                    p.data.get(a..a + r + BPP),
                    p.data.get(a + d..a + d + r + BPP),
                ) {
                    for (c, &o) in self.offsets.iter().enumerate() {
                        q[c] = t[o] as f32;
                        q[3 + c] = t[r + o] as f32;
                        q[6 + c] = b[o] as f32;
                        q[9 + c] = b[r + o] as f32;
                    }
                }
                near[k] = q;
            }
            for c in 0..3 {
                let (mean, mul) = (norm.mean[c], norm.mul[c]);
                let base = self.first[c] + (ty * tw + start) * step;
                for k in 0..n {
                    let q = &near[k];
                    let [wx, wy] = weights[k];
                    let v = lerp2(q[c], q[3 + c], q[6 + c], q[9 + c], wx, wy);
                    dst[base + k * step] = if inside[k] {
                        (v - mean) * mul
                    } else {
                        outside[c]
                    };
                }
            }
        }
    }
}

/// Eight tensor pixels at a time with AVX2 where a whole run of a row lies inside the
/// frame, away from its last column and its last two rows (so every tap exists and a
/// 4-byte load at any tap stays inside the plane): the same f32 operations in the
/// same order as [`AffineJob::scalar`], so the values are bit-identical.
#[cfg(target_arch = "x86_64")]
mod affine_avx2 {
    use super::{Affine, AffineJob, FrameRef, source_pos};
    use std::arch::x86_64::*;

    /// AVX2 is there, the plane holds every pixel (checked again here: the gathers'
    /// bounds rest on it) and its byte offsets fit the 32-bit gather indices.
    pub(super) fn usable(frame: &FrameRef, bpp: usize) -> bool {
        let p = &frame.planes[0];
        std::arch::is_x86_feature_detected!("avx2")
            && frame.width >= 2
            && frame.height >= 3
            && p.data.len() < i32::MAX as usize
            && p.stride >= frame.width * bpp
            && p.data.len() >= p.stride * (frame.height - 1) + frame.width * bpp
    }

    /// Tensor pixels [a, b) of a row (b − a a multiple of 8) whose source positions
    /// lie in [0, w − 1) × [0, h − 2).
    pub(super) fn inside_run(
        frame: &FrameRef,
        m: &Affine,
        row: [f32; 2],
        tw: usize,
    ) -> (usize, usize) {
        let (xm, ym) = ((frame.width - 1) as f32, (frame.height - 2) as f32);
        let ok = |i: usize| {
            let [x, y] = source_pos(m, i, row);
            (0.0..xm).contains(&x) && (0.0..ym).contains(&y)
        };
        let d = [m.0[0] as f64, m.0[3] as f64];
        // Tensor pixel i samples at i + 0.5.
        let start = [row[0] as f64 + d[0] * 0.5, row[1] as f64 + d[1] * 0.5];
        let (a, b) = crate::inside_interval(start, d, tw, [xm as f64, ym as f64], ok);
        (a, a + (b - a) / 8 * 8)
    }

    /// # Safety
    /// The CPU has AVX2 and `usable` held for the frame; every tensor pixel of
    /// [a, b) of row `ty` is inside as [`inside_run`] defines it; `job.step == 1`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn run<const BPP: usize>(
        job: &AffineJob<BPP>,
        ty: usize,
        row: [f32; 2],
        a: usize,
        b: usize,
        dst: &mut [f32],
    ) {
        let (m, norm) = (&job.m.0, job.norm);
        let p = &job.frame.planes[0];
        let base = p.data.as_ptr() as *const i32;
        let stride = _mm256_set1_epi32(p.stride as i32);
        let bpp = _mm256_set1_epi32(BPP as i32);
        let byte = _mm256_set1_epi32(0xff);
        let lanes = _mm256_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5);
        let (m0, m3) = (_mm256_set1_ps(m[0]), _mm256_set1_ps(m[3]));
        let (r0, r1) = (_mm256_set1_ps(row[0]), _mm256_set1_ps(row[1]));
        let mut out = [0f32; 8];
        for start in (a..b).step_by(8) {
            // x = tx + 0.5 exactly as `source_pos` forms it (tx < 2^24).
            let x = _mm256_add_ps(_mm256_set1_ps(start as f32), lanes);
            let sx = _mm256_add_ps(_mm256_mul_ps(m0, x), r0);
            let sy = _mm256_add_ps(_mm256_mul_ps(m3, x), r1);
            let (x0, y0) = (_mm256_cvttps_epi32(sx), _mm256_cvttps_epi32(sy));
            let wx = _mm256_sub_ps(sx, _mm256_cvtepi32_ps(x0));
            let wy = _mm256_sub_ps(sy, _mm256_cvtepi32_ps(y0));
            let at = _mm256_add_epi32(_mm256_mullo_epi32(y0, stride), _mm256_mullo_epi32(x0, bpp));
            // SAFETY: every tap is inside the plane and at least 4 bytes before its end
            // (the caller's contract); gathers read unaligned 4-byte words.
            let (tl, tr, bl, br) = unsafe {
                (
                    _mm256_i32gather_epi32::<1>(base, at),
                    _mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(at, bpp)),
                    _mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(at, stride)),
                    _mm256_i32gather_epi32::<1>(
                        base,
                        _mm256_add_epi32(_mm256_add_epi32(at, stride), bpp),
                    ),
                )
            };
            for (c, &o) in job.offsets.iter().enumerate() {
                let sh = _mm_cvtsi32_si128(8 * o as i32);
                let ch = |v| _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(v, sh), byte));
                let (q0, q1, q2, q3) = (ch(tl), ch(tr), ch(bl), ch(br));
                // lerp2: top = a + (b − a)·wx, bot likewise, top + (bot − top)·wy.
                let top = _mm256_add_ps(q0, _mm256_mul_ps(_mm256_sub_ps(q1, q0), wx));
                let bot = _mm256_add_ps(q2, _mm256_mul_ps(_mm256_sub_ps(q3, q2), wx));
                let v = _mm256_add_ps(top, _mm256_mul_ps(_mm256_sub_ps(bot, top), wy));
                let v = _mm256_mul_ps(
                    _mm256_sub_ps(v, _mm256_set1_ps(norm.mean[c])),
                    _mm256_set1_ps(norm.mul[c]),
                );
                let i = job.first[c] + ty * job.tw + start;
                // SAFETY: `out` holds 8 floats.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
                dst[i..i + 8].copy_from_slice(&out);
            }
        }
    }
}

/// [`frame_to_tensor_affine`] for any format (YUV too), one sample at a time.
fn any_to_tensor_affine(
    frame: &FrameRef,
    m: &Affine,
    tw: usize,
    th: usize,
    norm: &Normalize,
    dst: &mut [f32],
) {
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let plane = tw * th;
    for ty in 0..th {
        let row = row_terms(m, ty);
        for tx in 0..tw {
            let [sx, sy] = source_pos(m, tx, row);
            let inside = frame.width > 0 && sx > -1.0 && sy > -1.0 && sx < fw && sy < fh;
            let rgb = if inside {
                let xc = sx.clamp(0.0, fw - 1.0);
                let yc = sy.clamp(0.0, fh - 1.0);
                let (x0, y0) = (xc.floor() as u32, yc.floor() as u32);
                let cx = Tap {
                    i0: x0,
                    i1: (x0 + 1).min(frame.width as u32 - 1),
                    w1: xc - x0 as f32,
                    inside: true,
                };
                let ry = Tap {
                    i0: y0,
                    i1: (y0 + 1).min(frame.height as u32 - 1),
                    w1: yc - y0 as f32,
                    inside: true,
                };
                sample(frame, &cx, &ry)
            } else {
                norm.mean
            };
            for (c, value) in rgb.iter().enumerate() {
                let v = (value - norm.mean[c]) * norm.mul[c];
                let oc = if norm.bgr { 2 - c } else { c };
                let idx = if norm.nchw {
                    oc * plane + ty * tw + tx
                } else {
                    (ty * tw + tx) * 3 + oc
                };
                dst[idx] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameMut, FrameRef, PixelFormat, Plane};

    const RGB: Normalize = Normalize {
        mean: [0.0; 3],
        mul: [1.0; 3],
        bgr: false,
        nchw: true,
    };

    fn gradient(w: usize, h: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 10) as u8, (y * 10) as u8, 77]);
            }
        }
        v
    }

    /// Calls `check` with a 37×23 frame of each packed format (a padded stride) and
    /// each tensor layout (NCHW or NHWC, RGB or BGR order), and a label for failures.
    fn each_packed_frame_and_layout(mut check: impl FnMut(&FrameRef, &Normalize, String)) {
        let (w, h) = (37, 23);
        for format in [
            PixelFormat::Rgb,
            PixelFormat::Bgr,
            PixelFormat::Rgba,
            PixelFormat::Bgrx,
        ] {
            let (bpp, _) = format.packed_layout().unwrap();
            let stride = w * bpp + 5;
            let data: Vec<u8> = (0..stride * h).map(|i| (i * 37 % 251) as u8).collect();
            let empty = Plane {
                data: &[],
                stride: 0,
            };
            let planes = [
                Plane {
                    data: &data,
                    stride,
                },
                empty,
                empty,
            ];
            let f = FrameRef::new(format, w, h, planes).unwrap();
            for (bgr, nchw) in [(false, true), (true, true), (false, false), (true, false)] {
                let norm = Normalize {
                    mean: [127.5, 120.0, 3.0],
                    mul: [1.0 / 127.5, 0.5, 2.0],
                    bgr,
                    nchw,
                };
                check(&f, &norm, format!("{format:?} bgr {bgr} nchw {nchw}"));
            }
        }
    }

    fn bit_identical(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// The packed affine path gives the generic path's values exactly, with rotations
    /// and scales reaching outside the frame.
    #[test]
    fn packed_affine_path_matches_the_generic_one_bit_for_bit() {
        each_packed_frame_and_layout(|f, norm, what| {
            for (k, angle) in [0.0f32, 0.3, -1.1, 2.5].into_iter().enumerate() {
                let m =
                    Affine::square_crop(15.0 + k as f32, 11.0, 30.0 + 9.0 * k as f32, angle, 16);
                let (mut fast, mut slow) = (vec![9.0; 3 * 256], vec![9.0; 3 * 256]);
                frame_to_tensor_affine(f, &m, 16, 16, norm, &mut fast);
                any_to_tensor_affine(f, &m, 16, 16, norm, &mut slow);
                assert!(bit_identical(&fast, &slow), "{what} angle {angle}");
            }
        });
    }

    /// The AVX2 runs give the generic path's values bit for bit, on a plane that ends
    /// right after its last pixel, with crops reaching every edge of the frame.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn affine_runs_match_the_generic_path_up_to_the_frame_edges() {
        let (w, h) = (53, 41);
        let mut simd_pixels = 0;
        for format in [PixelFormat::Rgb, PixelFormat::Bgra] {
            let (bpp, _) = format.packed_layout().unwrap();
            let data: Vec<u8> = (0..w * h * bpp).map(|i| (i * 73 % 253) as u8).collect();
            let f = FrameRef::packed(format, w, h, &data).unwrap();
            let norm = Normalize {
                mean: [127.5, 120.0, 3.0],
                mul: [1.0 / 127.5, 0.5, 2.0],
                bgr: format == PixelFormat::Rgb,
                nchw: true,
            };
            for (k, angle) in [0.0f32, 0.05, -0.4, 1.3, 3.1].into_iter().enumerate() {
                for (cx, cy, size) in [
                    (26.5, 20.5, 40.0),
                    (26.5, 20.5, 60.0),
                    (50.0, 38.0, 20.0),
                    (3.0, 2.0, 12.0),
                ] {
                    let m = Affine::square_crop(cx, cy, size + k as f32, angle, 40);
                    let (mut fast, mut slow) = (vec![9.0; 3 * 1600], vec![9.0; 3 * 1600]);
                    frame_to_tensor_affine(&f, &m, 40, 40, &norm, &mut fast);
                    any_to_tensor_affine(&f, &m, 40, 40, &norm, &mut slow);
                    assert!(
                        bit_identical(&fast, &slow),
                        "{format:?} angle {angle} crop {cx} {cy} {size}"
                    );
                    if std::arch::is_x86_feature_detected!("avx2") {
                        simd_pixels += (0..40)
                            .map(|ty| {
                                let (a, b) = affine_avx2::inside_run(&f, &m, row_terms(&m, ty), 40);
                                b - a
                            })
                            .sum::<usize>();
                    }
                }
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            assert!(simd_pixels > 20_000, "{simd_pixels}");
        }
    }

    /// The packed letterbox path gives the generic path's values exactly, with scales
    /// up, down and 1 (a copy), and offsets into and out of the frame (a region of it).
    #[test]
    fn packed_letterbox_path_matches_the_generic_one_bit_for_bit() {
        each_packed_frame_and_layout(|f, norm, what| {
            for (scale, off_x, off_y) in [(1.0, 0.0, 0.0), (0.43, 2.0, 3.5), (2.5, -30.0, -11.0)] {
                let lb = Letterbox {
                    scale,
                    off_x,
                    off_y,
                };
                let (tw, th) = (24, 16);
                let mut scratch = ResampleScratch::default();
                let (mut fast, mut slow) = (vec![9.0; 3 * tw * th], vec![9.0; 3 * tw * th]);
                frame_to_tensor(f, &lb, tw, th, norm, &mut fast, &mut scratch);
                any_to_tensor(f, &lb, tw, th, norm, &mut slow, &scratch);
                assert!(bit_identical(&fast, &slow), "{what} scale {scale}");
            }
        });
    }

    #[test]
    fn identity_copy_is_exact() {
        let data = gradient(8, 6);
        let f = FrameRef::packed(PixelFormat::Rgb, 8, 6, &data).unwrap();
        let lb = Letterbox::fit(8, 6, 8, 6, false);
        let mut t = vec![0.0; 3 * 48];
        frame_to_tensor(&f, &lb, 8, 6, &RGB, &mut t, &mut Default::default());
        assert_eq!(t[3 * 8 + 5], 50.0); // R at (5,3)
        assert_eq!(t[48 + 3 * 8 + 5], 30.0); // G
        assert_eq!(t[96], 77.0); // B
    }

    #[test]
    fn letterbox_pads_with_zero_and_maps_back() {
        let data = gradient(8, 4);
        let f = FrameRef::packed(PixelFormat::Rgb, 8, 4, &data).unwrap();
        let lb = Letterbox::fit(8, 4, 16, 16, true);
        assert_eq!(lb.scale, 2.0);
        assert_eq!(lb.off_y, 4.0);
        let mut t = vec![1.0; 3 * 256];
        let n = Normalize {
            mean: [127.5; 3],
            mul: [1.0 / 127.5; 3],
            bgr: true,
            nchw: false,
        };
        frame_to_tensor(&f, &lb, 16, 16, &n, &mut t, &mut Default::default());
        assert_eq!(&t[0..3], &[0.0, 0.0, 0.0]); // top padding
        // BGR order: channel 0 is blue = 77
        let v = t[(8 * 16 + 8) * 3];
        assert!((v - (77.0 - 127.5) / 127.5).abs() < 1e-5);
        assert_eq!(lb.to_frame(8.0, 8.0), [4.0, 2.0]);
    }

    #[test]
    fn yuv_matches_rgb_on_flat_colour() {
        // Paint the same colour into an I420 and an RGB frame; tensors must agree.
        let (w, h) = (7, 5);
        let mut rgb = vec![0u8; w * h * 3];
        let mut yuv = vec![0u8; w * h + 2 * 4 * 3];
        {
            let (yp, rest) = yuv.split_at_mut(w * h);
            let (up, vp) = rest.split_at_mut(12);
            let mut fy =
                FrameMut::new(PixelFormat::I420, w, h, [(yp, w), (up, 4), (vp, 4)]).unwrap();
            let mut fr = FrameMut::new(
                PixelFormat::Rgb,
                w,
                h,
                [(&mut rgb, w * 3), (&mut [], 0), (&mut [], 0)],
            )
            .unwrap();
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    fy.put(x, y, [180, 120, 60]);
                    fr.put(x, y, [180, 120, 60]);
                }
            }
        }
        let lb = Letterbox::fit(w, h, 4, 3, false);
        let mut a = vec![0.0; 36];
        let mut b = vec![0.0; 36];
        let fy = FrameRef::packed(PixelFormat::I420, w, h, &yuv).unwrap();
        let fr = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        frame_to_tensor(&fy, &lb, 4, 3, &RGB, &mut a, &mut Default::default());
        frame_to_tensor(&fr, &lb, 4, 3, &RGB, &mut b, &mut Default::default());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 4.0, "{x} vs {y}");
        }
    }

    #[test]
    fn affine_crop_round_trips_and_samples() {
        let m = Affine::square_crop(40.0, 30.0, 20.0, 0.3, 10);
        let inv = m.inverse().unwrap();
        let p = m.apply(3.0, 7.0);
        let q = inv.apply(p[0], p[1]);
        assert!((q[0] - 3.0).abs() < 1e-4 && (q[1] - 7.0).abs() < 1e-4);
        // The crop centre maps to the requested centre, and scale is 2 px per cell.
        assert_eq!(
            m.apply(5.0, 5.0).map(|v| (v * 1e3).round() / 1e3),
            [40.0, 30.0]
        );
        assert!((m.scale() - 2.0).abs() < 1e-5);
        // Unrotated crop of the gradient equals direct sampling.
        let data = gradient(8, 6);
        let f = FrameRef::packed(PixelFormat::Rgb, 8, 6, &data).unwrap();
        let id = Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let mut t = vec![0.0; 3 * 48];
        frame_to_tensor_affine(&f, &id, 8, 6, &RGB, &mut t);
        assert_eq!(t[3 * 8 + 5], 50.0);
        assert_eq!(t[48 + 3 * 8 + 5], 30.0);
        // Rotating by 90°: the tensor's x axis runs down the frame.
        let r = Affine::square_crop(4.0, 3.0, 4.0, std::f32::consts::FRAC_PI_2, 4);
        let mut t = vec![0.0; 3 * 16];
        frame_to_tensor_affine(&f, &r, 4, 4, &RGB, &mut t);
        // Tensor row 0 runs down frame column 5 (R = 50) from row 1 to row 4 (G 10..40).
        assert_eq!(&t[..4], &[50.0; 4]);
        for (got, want) in t[16..20].iter().zip([10.0, 20.0, 30.0, 40.0]) {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
    }

    #[test]
    fn one_pixel_frame() {
        let f = FrameRef::packed(PixelFormat::Bgrx, 1, 1, &[1, 2, 3, 0]).unwrap();
        let lb = Letterbox::fit(1, 1, 32, 32, false);
        let mut t = vec![0.0; 3 * 1024];
        frame_to_tensor(&f, &lb, 32, 32, &RGB, &mut t, &mut Default::default());
        assert_eq!(t[0], 3.0);
        assert_eq!(t[1024 + 31 * 32 + 31], 2.0); // scaled up to cover the tensor
    }
}
