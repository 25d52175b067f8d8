// SPDX-License-Identifier: MIT

//! Piecewise-affine image warping driven by a point layout, the core of a weight-free
//! portrait animator: the face landmarks (plus points on the frame border so the
//! background stays put) are triangulated once per source image
//! ([`crate::delaunay`]); then the landmarks move and every output triangle is
//! rasterised from its source triangle.
//!
//! Coordinates are continuous image coordinates: pixel (x, y) covers
//! [x, x+1)×[y, y+1) and its centre is (x + 0.5, y + 0.5), as in [`crate::resample`].
//! Border points therefore run from (0, 0) to (w, h).

use crate::delaunay::orient;
use crate::frame::{FrameRef, PixelFormat, yuv_to_rgb};
use crate::prefetch;
use crate::workers::Workers;
use std::sync::{Mutex, PoisonError};

/// A copy of the packed `w`×`h` image `src` (`bpp` bytes a pixel, rows
/// `w`·`bpp` bytes apart) framed by `margin` px that repeat its edge pixels outwards,
/// for [`MeshWarp::warp_with_margin`]: (w + 2·margin) × (h + 2·margin), packed.
pub fn pad_edges(src: &[u8], w: usize, h: usize, bpp: usize, margin: usize) -> Vec<u8> {
    let row = w * bpp;
    assert!(src.len() >= row * h, "image smaller than {w}×{h}×{bpp}");
    let (pw, ph) = (w + 2 * margin, h + 2 * margin);
    let mut out = Vec::with_capacity(pw * ph * bpp);
    if w == 0 || h == 0 {
        out.resize(pw * ph * bpp, 0);
        return out;
    }
    for py in 0..ph {
        let y = py.saturating_sub(margin).min(h - 1);
        let line = &src[y * row..(y + 1) * row];
        for _ in 0..margin {
            out.extend_from_slice(&line[..bpp]);
        }
        out.extend_from_slice(line);
        for _ in 0..margin {
            out.extend_from_slice(&line[row - bpp..]);
        }
    }
    out
}

/// Points along the border of a `w`×`h` frame (continuous coordinates, so the corners
/// are (0, 0), (w, 0), (w, h), (0, h)): each side split into `per_side` equal
/// segments (at least 1), clockwise on screen from the top-left corner, each point
/// once: 4·per_side points in all.
pub fn border_points(w: usize, h: usize, per_side: usize) -> Vec<[f32; 2]> {
    let n = per_side.max(1);
    let (w, h) = (w as f64, h as f64);
    let corners = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let mut out = Vec::with_capacity(4 * n);
    for s in 0..4 {
        let (a, b) = (corners[s], corners[(s + 1) % 4]);
        for i in 0..n {
            let t = i as f64 / n as f64;
            out.push([
                (a[0] + (b[0] - a[0]) * t) as f32,
                (a[1] + (b[1] - a[1]) * t) as f32,
            ]);
        }
    }
    out
}

/// Sub-pixel bits of the rasteriser's fixed-point vertices.
const SUB: i64 = 8;
const ONE: i64 = 1 << SUB;
const HALF: i64 = ONE / 2;
/// Vertices further than this from the origin (in pixels) disable their triangle.
const MAX_COORD: f64 = 1.0e6;
/// Bits of the bilinear weights.
const WB: u32 = 11;
const W: u32 = 1 << WB;

/// One destination triangle ready to rasterise.
#[derive(Clone, Copy, Debug, Default)]
struct Prepared {
    /// Fixed-point vertices (1/256 px), positive orientation.
    v: [[i64; 2]; 3],
    /// 0 for top-left edges (pixel centres on them are inside), 1 otherwise.
    bias: [i64; 3],
    /// Output rows [y0, y1) whose centres it may cover.
    y0: usize,
    y1: usize,
    /// Output pixel centre (px, py) → source sample position (pixel index units):
    /// `sx = m0·px + m1·py + m2`, `sy = m3·px + m4·py + m5`.
    m: [f64; 6],
    /// Every sample lies inside the source as [`Sampler::fill_inner`] needs: its
    /// spans skip the clamping tests.
    inner: bool,
}

impl Prepared {
    /// Column bounds of the three edges at row `y`, to step down the rows.
    #[inline]
    fn edges(&self, y: usize) -> [EdgeWalk; 3] {
        let yc = y as i64 * ONE + HALF;
        let edge = |k: usize| {
            let [xi, yi] = self.v[k];
            let [xj, yj] = self.v[(k + 1) % 3];
            let (dx, dy) = (xj - xi, yj - yi);
            // E(x) = dx·(Y − yi) − dy·(X − xi) with X = 256·x + 128; inside: E ≥ bias,
            // i.e. c − 256·dy·x ≥ 0.
            let c = dx * (yc - yi) - dy * (HALF - xi) - self.bias[k];
            EdgeWalk::new(c, ONE * dx, ONE * dy)
        };
        // Written out: `array::map` was not inlined here (1 % of the live chain).
        [edge(0), edge(1), edge(2)]
    }

    /// Columns [x0, x1) of row `y` whose pixel centres lie inside (reference for the
    /// stepped version).
    #[cfg(test)]
    fn span(&self, y: usize, w: usize) -> (usize, usize) {
        span_of(&self.edges(y), w)
    }
}

/// `c − a·x ≥ 0` along the rows (c grows by `s` per row), as a bound on x kept exactly:
/// `q = ⌊c / |a|⌋` with remainder `r` (for a = 0, `q = c`).
#[derive(Clone, Copy, Debug, Default)]
struct EdgeWalk {
    /// Sign of `a`: −1 gives x ≥ −q, +1 gives x ≤ q, 0 gives all or nothing (q ≥ 0).
    kind: i64,
    q: i64,
    r: i64,
    d: i64,
    sq: i64,
    sr: i64,
}

impl EdgeWalk {
    #[inline]
    fn new(c: i64, s: i64, a: i64) -> Self {
        if a == 0 {
            return EdgeWalk {
                kind: 0,
                q: c,
                r: 0,
                d: 1,
                sq: s,
                sr: 0,
            };
        }
        let d = a.abs();
        let (q, sq) = (floor_div(c, d), floor_div(s, d));
        EdgeWalk {
            kind: a.signum(),
            q,
            r: c - q * d,
            d,
            sq,
            sr: s - sq * d,
        }
    }

    #[inline]
    fn step(&mut self) {
        // Branch-free: the carry follows the edge's slope, which no predictor learns.
        self.q += self.sq;
        self.r += self.sr;
        let carry = (self.r >= self.d) as i64;
        self.r -= carry * self.d;
        self.q += carry;
    }
}

/// Columns [x0, x1) inside all three edges (top-left rule in exact integers, so
/// triangles sharing an edge neither overlap nor leave a gap), clipped to [0, w).
#[inline]
fn span_of(e: &[EdgeWalk; 3], w: usize) -> (usize, usize) {
    let (mut lo, mut hi) = (0i64, w as i64 - 1);
    for k in e {
        match k.kind {
            -1 => lo = lo.max(-k.q),
            1 => hi = hi.min(k.q),
            _ if k.q < 0 => return (0, 0),
            _ => {}
        }
    }
    if lo > hi {
        (0, 0)
    } else {
        (lo as usize, hi as usize + 1)
    }
}

/// ⌊n / d⌋ for d > 0 (|n| < 2^62): a float estimate corrected exactly, cheaper than
/// an integer division on the hot path.
#[inline]
fn floor_div(n: i64, d: i64) -> i64 {
    let mut q = (n as f64 / d as f64) as i64;
    while q * d > n {
        q -= 1;
    }
    while (q + 1) * d <= n {
        q += 1;
    }
    q
}

/// Orders `triangles` back to front for [`MeshWarp`], which draws them in order, by
/// the mean `depth` of their corners (larger is farther; a point without depth, past
/// the end of `depth`, such as a frame border point, is farthest): where the warped
/// mesh folds over itself (a turned head squeezes its far cheek behind the nose, the
/// face slides over its background), the nearer surface ends up on top. Where the
/// mesh does not fold, every pixel has one triangle and the order changes nothing.
pub fn order_back_to_front(triangles: &mut [[u32; 3]], depth: &[f32]) {
    let mean = |t: &[u32; 3]| -> f32 {
        t.iter()
            .map(|&i| depth.get(i as usize).copied().unwrap_or(f32::INFINITY))
            .sum::<f32>()
            / 3.0
    };
    // Stable: equal depths keep the triangulation's order.
    triangles.sort_by(|a, b| mean(b).total_cmp(&mean(a)));
}

/// A piecewise-affine warp prepared once from a source layout and its triangles.
#[derive(Debug)]
pub struct MeshWarp {
    src: Vec<[f64; 2]>,
    triangles: Vec<[u32; 3]>,
    out_w: usize,
    out_h: usize,
    tris: Vec<Prepared>,
    mask: Vec<u64>,
    /// Per band, each triangle's edges where its last tile left them.
    walks: Vec<[EdgeWalk; 3]>,
}

impl MeshWarp {
    /// `src_points` are in the source frame's coordinates; `triangles` index them (and
    /// the matching destination points given to [`MeshWarp::warp`]); the output is
    /// `out_w`×`out_h` packed RGBA.
    pub fn new(
        src_points: &[[f32; 2]],
        triangles: Vec<[u32; 3]>,
        out_w: usize,
        out_h: usize,
    ) -> Self {
        let words = out_w.div_ceil(64);
        MeshWarp {
            src: src_points.iter().map(|p| p.map(|v| v as f64)).collect(),
            tris: Vec::with_capacity(triangles.len()),
            triangles,
            out_w,
            out_h,
            mask: vec![0; words * out_h],
            walks: Vec::new(),
        }
    }

    pub fn triangles(&self) -> &[[u32; 3]] {
        &self.triangles
    }

    pub fn out_size(&self) -> (usize, usize) {
        (self.out_w, self.out_h)
    }

    /// Warps `src` so that each source point moves to the matching `dst_points` entry,
    /// writing packed RGBA (alpha 255) into `out` (`out_w·out_h·4` bytes). Each output
    /// triangle is sampled bilinearly from its source triangle; triangles with
    /// non-finite, far-off (> 10⁶ px) or zero-area vertices are skipped; pixels no
    /// triangle covers get the source pixel at the same position (clamped to the
    /// source). Rows are split over `threads` threads started for this call (a caller
    /// that warps every frame keeps a [`Workers`] and calls
    /// [`Self::warp_with_margin`]).
    pub fn warp(
        &mut self,
        src: &FrameRef,
        dst_points: &[[f32; 2]],
        out: &mut [u8],
        threads: usize,
    ) {
        let workers = Workers::new(threads.clamp(1, self.out_h.max(1)));
        self.warp_with_margin(src, 0, dst_points, out, &workers);
    }

    /// [`Self::warp`] from the part of `src` inside a `margin` px frame, when that
    /// margin repeats the part's edge pixels outwards (as [`pad_edges`] makes it): the
    /// same bytes as [`Self::warp`] of the part alone, since a sample up to `margin`
    /// px outside it reads what clamping would have read, but the triangles along the
    /// border (whose samples reach half a pixel past the edge) need no clamping then.
    /// A margin holding other pixels shows through there; one that leaves no part
    /// counts as 0. Rows are split over `workers`.
    pub fn warp_with_margin(
        &mut self,
        src: &FrameRef,
        margin: usize,
        dst_points: &[[f32; 2]],
        out: &mut [u8],
        workers: &Workers,
    ) {
        assert_eq!(dst_points.len(), self.src.len(), "destination point count");
        assert_eq!(out.len(), self.out_w * self.out_h * 4, "output buffer size");
        if out.is_empty() {
            return;
        }
        if src.width == 0 || src.height == 0 {
            for px in out.chunks_exact_mut(4) {
                px.copy_from_slice(&[0, 0, 0, 255]);
            }
            return;
        }
        let margin = if 2 * margin < src.width.min(src.height) {
            margin
        } else {
            0
        };
        let max = (src.width - 1, src.height - 1);
        self.prepare(dst_points, max, margin as f64);
        let job = Job {
            tris: &self.tris,
            w: self.out_w,
            h: self.out_h,
            words: self.out_w.div_ceil(64),
            parts: match workers.threads() {
                1 => 1,
                n => (n * BANDS_PER_THREAD).min(self.out_h),
            },
            margin,
        };
        // Grown once, then reused: no allocation per frame.
        let walks = job.parts * self.tris.len().max(1);
        if self.walks.len() < walks {
            self.walks.resize(walks, Default::default());
        }
        let scratch = (&mut self.mask[..], &mut self.walks[..walks]);
        let (data, stride) = (src.planes[0].data, src.planes[0].stride);
        match src.format {
            PixelFormat::Rgb => job.run(
                &Packed::<3, false> { data, stride, max },
                out,
                scratch,
                workers,
            ),
            PixelFormat::Bgr => job.run(
                &Packed::<3, true> { data, stride, max },
                out,
                scratch,
                workers,
            ),
            PixelFormat::Rgba | PixelFormat::Rgbx => job.run(
                &Packed::<4, false> { data, stride, max },
                out,
                scratch,
                workers,
            ),
            PixelFormat::Bgra | PixelFormat::Bgrx => job.run(
                &Packed::<4, true> { data, stride, max },
                out,
                scratch,
                workers,
            ),
            PixelFormat::I420 | PixelFormat::Nv12 => {
                job.run(&Yuv { f: *src, max }, out, scratch, workers)
            }
        }
    }

    /// The triangles to draw for `dst`, on a source whose last column and row are
    /// `max` and whose points lie `margin` px in from its corner.
    fn prepare(&mut self, dst: &[[f32; 2]], max: (usize, usize), margin: f64) {
        self.tris.clear();
        let n = self.src.len();
        let (w, h) = (self.out_w as i64, self.out_h as i64);
        'tri: for t in &self.triangles {
            if t.iter().any(|&i| i as usize >= n) {
                continue;
            }
            let d = t.map(|i| dst[i as usize].map(|v| v as f64));
            let s = t.map(|i| self.src[i as usize]);
            let mut v = [[0i64; 2]; 3];
            for k in 0..3 {
                for c in 0..2 {
                    let x = d[k][c];
                    if !x.is_finite() || x.abs() > MAX_COORD || !s[k][c].is_finite() {
                        continue 'tri;
                    }
                    v[k][c] = (x * ONE as f64).round() as i64;
                }
            }
            let area = orient(v[0], v[1], v[2]);
            if area == 0 {
                continue;
            }
            if area < 0 {
                v.swap(1, 2);
            }
            let (ymin, ymax) = (
                v.iter().map(|p| p[1]).min().unwrap_or(0),
                v.iter().map(|p| p[1]).max().unwrap_or(0),
            );
            let (xmin, xmax) = (
                v.iter().map(|p| p[0]).min().unwrap_or(0),
                v.iter().map(|p| p[0]).max().unwrap_or(0),
            );
            let y0 = (-floor_div(HALF - ymin, ONE)).max(0);
            let y1 = ((ymax - HALF).div_euclid(ONE) + 1).min(h);
            if y0 >= y1 || xmax < HALF || xmin > (w - 1) * ONE + HALF {
                continue;
            }
            let Some(mut m) = affine(d, s) else {
                continue;
            };
            m[2] += margin;
            m[5] += margin;
            let mut bias = [0i64; 3];
            for (k, b) in bias.iter_mut().enumerate() {
                let (dx, dy) = (v[(k + 1) % 3][0] - v[k][0], v[(k + 1) % 3][1] - v[k][1]);
                *b = if dy < 0 || (dy == 0 && dx > 0) { 0 } else { 1 };
            }
            self.tris.push(Prepared {
                v,
                bias,
                y0: y0 as usize,
                y1: y1 as usize,
                m,
                inner: maps_inside(&m, &v, max),
            });
        }
    }
}

/// How far (px) inside the last column and row a sample must lie to need no clamping
/// ([`Sampler::fill_inner`]): it always has a second tap.
const INSIDE: f64 = 1e-3;

/// Whether `m` takes the fixed-point triangle `v` (and so every pixel centre it
/// covers) at least 1/1000 px inside the last column and row of the source, with room
/// for the rounding of a span's positions and their 32.32 steps.
fn maps_inside(m: &[f64; 6], v: &[[i64; 2]; 3], max: (usize, usize)) -> bool {
    const ROOM: f64 = 1e-3;
    let hi = [max.0 as f64 - INSIDE - ROOM, max.1 as f64 - INSIDE - ROOM];
    v.iter().all(|p| {
        let [sx, sy] = sample_at(m, p.map(|c| c as f64 / ONE as f64));
        (ROOM..=hi[0]).contains(&sx) && (ROOM..=hi[1]).contains(&sy)
    })
}

/// The source sample position of output point `p` under a [`Prepared::m`].
#[inline(always)]
fn sample_at(m: &[f64; 6], [x, y]: [f64; 2]) -> [f64; 2] {
    [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]]
}

/// The affine map taking triangle `d` onto triangle `s` (continuous coordinates),
/// expressed from output pixel centres to source pixel indices (−0.5 folded in).
fn affine(d: [[f64; 2]; 3], s: [[f64; 2]; 3]) -> Option<[f64; 6]> {
    let (e1, e2) = (
        [d[1][0] - d[0][0], d[1][1] - d[0][1]],
        [d[2][0] - d[0][0], d[2][1] - d[0][1]],
    );
    let (f1, f2) = (
        [s[1][0] - s[0][0], s[1][1] - s[0][1]],
        [s[2][0] - s[0][0], s[2][1] - s[0][1]],
    );
    let det = e1[0] * e2[1] - e1[1] * e2[0];
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let a = (f1[0] * e2[1] - f2[0] * e1[1]) / det;
    let b = (f2[0] * e1[0] - f1[0] * e2[0]) / det;
    let c = (f1[1] * e2[1] - f2[1] * e1[1]) / det;
    let e = (f2[1] * e1[0] - f1[1] * e2[0]) / det;
    let m = [
        a,
        b,
        s[0][0] - a * d[0][0] - b * d[0][1] - 0.5,
        c,
        e,
        s[0][1] - c * d[0][0] - e * d[0][1] - 0.5,
    ];
    m.iter().all(|v| v.is_finite()).then_some(m)
}

/// Bilinear RGB of a source frame in fixed point. Weights have 11 bits, rounded to
/// nearest, which snaps positions within 1/4096 px of a pixel onto it exactly.
trait Sampler: Sync {
    /// Largest column and row index.
    fn max_xy(&self) -> (usize, usize);

    /// RGB from taps (x0, x1 = x0 or x0 + 1, weight of x1) and the same for rows.
    fn px(&self, x: (usize, usize, i32), y: (usize, usize, i32)) -> [u8; 3];

    /// `px` for taps known to be inside: x1 = x0 + 1 ≤ max x, y1 = y0 + 1 ≤ max y.
    #[inline(always)]
    fn px_inner(&self, x0: usize, wx: i32, y0: usize, wy: i32) -> [u8; 3] {
        self.px((x0, x0 + 1, wx), (y0, y0 + 1, wy))
    }

    /// Fills `row` (packed RGBA) with samples at 32.32 fixed-point positions (x, y) +
    /// i·`st`, every one at least 1/1000 px inside the last column and row.
    #[inline(always)]
    fn fill_inner(&self, row: &mut [u8], xy: (i64, i64), st: (i64, i64))
    where
        Self: Sized,
    {
        fill_inner_scalar(self, row, xy, st);
    }

    /// Hints that source rows `rows` (clamped to the frame) will be read soon.
    fn prefetch_rows(&self, rows: std::ops::Range<usize>) {
        let _ = rows;
    }

    /// RGB at a sample position in pixel-index units, clamped to the frame.
    #[inline(always)]
    fn at(&self, sx: f64, sy: f64) -> [u8; 3] {
        let (xm, ym) = self.max_xy();
        self.px(taps(sx, xm), taps(sy, ym))
    }
}

/// Fixed-point taps of one coordinate (f64 path).
#[inline(always)]
fn taps(s: f64, max: usize) -> (usize, usize, i32) {
    // Non-negative after the clamp, so the cast truncates = floors.
    let f = (s.max(0.0).min(max as f64) * W as f64 + 0.5) as u32;
    tap_split(f as usize, max)
}

/// Splits an 11-bit fixed-point position into taps.
#[inline(always)]
fn tap_split(f: usize, max: usize) -> (usize, usize, i32) {
    let i0 = f >> WB;
    (
        i0,
        if i0 < max { i0 + 1 } else { i0 },
        (f & (W as usize - 1)) as i32,
    )
}

/// Bilinear blend of four samples with 11-bit weights, rounded to nearest; equals
/// `(p00·(W−wx)(W−wy) + p01·wx(W−wy) + p10·(W−wx)wy + p11·wx·wy + W²/2) / W²`.
#[inline(always)]
fn lerp2(p00: u8, p01: u8, p10: u8, p11: u8, wx: i32, wy: i32) -> u8 {
    let (p00, p01, p10, p11) = (p00 as i32, p01 as i32, p10 as i32, p11 as i32);
    let top = (p00 << WB) + (p01 - p00) * wx;
    let bot = (p10 << WB) + (p11 - p10) * wx;
    (((top << WB) + (bot - top) * wy + (1 << (2 * WB - 1))) >> (2 * WB)) as u8
}

/// Fills `row` (packed RGBA) with samples at (sx, sy) + i·(dx, dy), stepping in 32.32
/// fixed point (drift over a 2^20-pixel span stays below 2^-12 px); `inner`: every
/// sample is known to be inside as [`Sampler::fill_inner`] needs.
#[inline(always)]
fn fill_span<S: Sampler>(
    s: &S,
    row: &mut [u8],
    [sx, sy]: [f64; 2],
    [dx, dy]: [f64; 2],
    inner: bool,
) {
    const LIM: f64 = (1u64 << 28) as f64;
    const F: f64 = (1u64 << 32) as f64;
    if inner {
        let fixed = |v: f64| (v * F) as i64;
        s.fill_inner(row, (fixed(sx), fixed(sy)), (fixed(dx), fixed(dy)));
        return;
    }
    let last = (row.len() / 4).saturating_sub(1) as f64;
    let (ex, ey) = (sx + dx * last, sy + dy * last);
    if !(sx.abs() < LIM && sy.abs() < LIM && ex.abs() < LIM && ey.abs() < LIM) {
        for (i, p) in row.chunks_exact_mut(4).enumerate() {
            let fi = i as f64;
            let [r, g, b] = s.at(sx + dx * fi, sy + dy * fi);
            p.copy_from_slice(&[r, g, b, 255]);
        }
        return;
    }
    let (xm, ym) = s.max_xy();
    let (x, y) = ((sx * F) as i64, (sy * F) as i64);
    let (stx, sty) = ((dx * F) as i64, (dy * F) as i64);
    // The samples at least 1/1000 px inside the last column and row need no clamping
    // and always have a second tap; a span crossing the frame's edge (the border
    // triangles) clamps only its ends.
    let n = row.len() / 4;
    let (a, b) = inner_range([sx, sy], [dx, dy], n, [xm, ym]);
    let at = |i: usize| (x + i as i64 * stx, y + i as i64 * sty);
    fill_clamped(s, &mut row[..a * 4], at(0), (stx, sty));
    if a < b {
        s.fill_inner(&mut row[a * 4..b * 4], at(a), (stx, sty));
    }
    fill_clamped(s, &mut row[b * 4..], at(b), (stx, sty));
}

/// Samples [a, b) of the `n` at `s` + i·`d` that lie at least 1/1000 px inside the
/// last column and row (`max`); (0, 0) when none do.
#[inline(always)]
fn inner_range(s: [f64; 2], d: [f64; 2], n: usize, max: [usize; 2]) -> (usize, usize) {
    let hi = max.map(|m| m as f64 - INSIDE);
    // Written out (no iterator): this runs for every span of every triangle.
    let ok = |i: usize| {
        let f = i as f64;
        (0.0..=hi[0]).contains(&(s[0] + d[0] * f)) && (0.0..=hi[1]).contains(&(s[1] + d[1] * f))
    };
    crate::inside_interval(s, d, n, hi, ok)
}

/// Fills `row` with samples at 32.32 positions `xy` + i·`st`, clamped to the frame.
#[inline(always)]
fn fill_clamped<S: Sampler>(s: &S, row: &mut [u8], (mut x, mut y): (i64, i64), st: (i64, i64)) {
    let (xm, ym) = s.max_xy();
    let (xmax, ymax) = ((xm as i64) << 32, (ym as i64) << 32);
    for p in row.chunks_exact_mut(4) {
        let fx = ((x.clamp(0, xmax) + R) >> (32 - WB)) as usize;
        let fy = ((y.clamp(0, ymax) + R) >> (32 - WB)) as usize;
        let [r, g, b] = s.px(tap_split(fx, xm), tap_split(fy, ym));
        p.copy_from_slice(&[r, g, b, 255]);
        x += st.0;
        y += st.1;
    }
}

/// Bands of rows per worker: a thread that finishes its band early (few triangles
/// there) takes another, where one band per thread waits for the slowest.
const BANDS_PER_THREAD: usize = 2;

/// Rows per tile of a band (see [`Job::band`]): 32 rows of a 512-wide RGBA source are
/// 64 KB, about what the core's L1 and L2 keep beside the output.
const TILE_ROWS: usize = 32;

/// Source rows above and below the next tile's own that [`Job::band`] prefetches, for
/// the head's motion.
const PREFETCH_MARGIN: usize = 8;

/// Rounding offset of a 32.32 position onto the 11-bit grid.
const R: i64 = 1 << (31 - WB);
const MASK: usize = W as usize - 1;

/// [`Sampler::fill_inner`] one pixel at a time.
#[inline(always)]
fn fill_inner_scalar<S: Sampler>(
    s: &S,
    row: &mut [u8],
    (mut x, mut y): (i64, i64),
    st: (i64, i64),
) {
    for p in row.chunks_exact_mut(4) {
        let fx = ((x + R) >> (32 - WB)) as usize;
        let fy = ((y + R) >> (32 - WB)) as usize;
        let [r, g, b] = s.px_inner(fx >> WB, (fx & MASK) as i32, fy >> WB, (fy & MASK) as i32);
        p.copy_from_slice(&[r, g, b, 255]);
        x += st.0;
        y += st.1;
    }
}

/// Packed 8-bit RGB-like layouts: `BPP` bytes per pixel, blue first when `BGR`.
struct Packed<'a, const BPP: usize, const BGR: bool> {
    data: &'a [u8],
    stride: usize,
    max: (usize, usize),
}

impl<const BPP: usize, const BGR: bool> Packed<'_, BPP, BGR> {
    /// Byte offset of red in a pixel (blue is at 2 − RED).
    const RED: usize = if BGR { 2 } else { 0 };
}

impl<const BPP: usize, const BGR: bool> Sampler for Packed<'_, BPP, BGR> {
    #[inline(always)]
    fn max_xy(&self) -> (usize, usize) {
        self.max
    }

    #[inline(always)]
    fn px(&self, (x0, x1, wx): (usize, usize, i32), (y0, y1, wy): (usize, usize, i32)) -> [u8; 3] {
        let d = self.data;
        let (r0, r1) = (y0 * self.stride, y1 * self.stride);
        let (c0, c1) = (x0 * BPP, x1 * BPP);
        let get = |i: usize| -> [u8; 3] {
            let q = &d[i..i + 3];
            [q[0], q[1], q[2]]
        };
        let (a, b, c, e) = (get(r0 + c0), get(r0 + c1), get(r1 + c0), get(r1 + c1));
        // Explicit per channel: `array::map` is not reliably inlined here.
        let ch = |k: usize| lerp2(a[k], b[k], c[k], e[k], wx, wy);
        let (r, g, b) = (ch(Self::RED), ch(1), ch(2 - Self::RED));
        [r, g, b]
    }

    fn prefetch_rows(&self, rows: std::ops::Range<usize>) {
        let row_bytes = (self.max.0 + 1) * BPP;
        for y in rows.start..rows.end.min(self.max.1 + 1) {
            if let Some(r) = self.data.get(y * self.stride..y * self.stride + row_bytes) {
                prefetch(r);
            }
        }
    }

    #[inline(always)]
    fn fill_inner(&self, row: &mut [u8], xy: (i64, i64), st: (i64, i64)) {
        #[cfg(target_arch = "x86_64")]
        // Positions below 2^20 px and offsets below 2^31 keep the kernel's 32-bit
        // lanes exact.
        if BPP == 4
            && self.max.0 < 1 << 20
            && self.max.1 < 1 << 20
            && self.data.len() <= rgba_avx2::MAX_BYTES
            && self.stride <= rgba_avx2::MAX_BYTES
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2 and the source is within the kernel's limit,
            // checked just above.
            unsafe { rgba_avx2::fill_inner::<BGR>(self.data, self.stride, row, xy, st) };
            return;
        }
        fill_inner_scalar(self, row, xy, st);
    }

    #[inline(always)]
    fn px_inner(&self, x0: usize, wx: i32, y0: usize, wy: i32) -> [u8; 3] {
        // Both taps of a row in one slice: one bounds check per row.
        let i = y0 * self.stride + x0 * BPP;
        let top = &self.data[i..i + 2 * BPP];
        let bot = &self.data[i + self.stride..i + self.stride + 2 * BPP];
        let ch = |k: usize| lerp2(top[k], top[BPP + k], bot[k], bot[BPP + k], wx, wy);
        let (r, g, b) = (ch(Self::RED), ch(1), ch(2 - Self::RED));
        [r, g, b]
    }
}

/// The inner spans of 4-byte sources four pixels at a time with AVX2, the same
/// fixed-point arithmetic as [`lerp2`] (so the bytes are identical): the four
/// positions step in 64-bit lanes and become tap offsets in 32-bit lanes; each
/// pixel's two taps of a row are one 8-byte load, spread into (left, right) 16-bit
/// pairs per channel, blended across by `madd` with (W − wx, wx), then down in 32-bit
/// lanes, and the four pixels leave in one 16-byte store.
#[cfg(target_arch = "x86_64")]
mod rgba_avx2 {
    use super::{MASK, R, W, WB, fill_inner_scalar};
    use std::arch::x86_64::*;

    /// Largest source (bytes) whose tap offsets fit the 32-bit lanes.
    pub(super) const MAX_BYTES: usize = i32::MAX as usize;

    /// # Safety
    /// The CPU must support AVX2; `data` and `stride` at most [`MAX_BYTES`]. Every
    /// position must be inside as for [`super::Sampler::fill_inner`]. A tap outside
    /// `data` is still never read: those
    /// pixels go the checked scalar way (which panics, as a broken precondition).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill_inner<const BGR: bool>(
        data: &[u8],
        stride: usize,
        row: &mut [u8],
        (x, y): (i64, i64),
        st: (i64, i64),
    ) {
        let n = row.len() / 4;
        // Byte k of a lane's 8-byte pixel pair → 16-bit pairs (left, right) for
        // R, G, B; alpha left 0 and set to 255 at the end.
        let (r, b) = if BGR { (2, 0) } else { (0, 2) };
        let z = -1i8;
        let lo = _mm_setr_epi8(r, z, 4 + r, z, 1, z, 5, z, b, z, 4 + b, z, z, z, z, z);
        let hi = _mm_setr_epi8(
            8 + r,
            z,
            12 + r,
            z,
            9,
            z,
            13,
            z,
            8 + b,
            z,
            12 + b,
            z,
            z,
            z,
            z,
            z,
        );
        let k = Kernel {
            spread: _mm256_set_m128i(hi, lo),
            round: _mm256_set1_epi32(1 << (2 * WB - 1)),
            rr: _mm256_set1_epi64x(R),
            stride: _mm_set1_epi32(stride as i32),
            data,
            stride_usize: stride,
        };
        let at = |i: [i64; 4]| {
            (
                _mm256_setr_epi64x(
                    x + i[0] * st.0,
                    x + i[1] * st.0,
                    x + i[2] * st.0,
                    x + i[3] * st.0,
                ),
                _mm256_setr_epi64x(
                    y + i[0] * st.1,
                    y + i[1] * st.1,
                    y + i[2] * st.1,
                    y + i[3] * st.1,
                ),
            )
        };
        let (mut xs, mut ys) = at([0, 1, 2, 3]);
        let (sx4, sy4) = (_mm256_set1_epi64x(4 * st.0), _mm256_set1_epi64x(4 * st.1));
        let mut quads = row.chunks_exact_mut(16);
        for out in &mut quads {
            match k.quad(xs, ys) {
                // SAFETY: `out` is 16 bytes.
                Some(p) => unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, p) },
                None => k.scalar::<BGR>(out, xs, ys, st),
            }
            xs = _mm256_add_epi64(xs, sx4);
            ys = _mm256_add_epi64(ys, sy4);
        }
        let rest = quads.into_remainder();
        if !rest.is_empty() {
            // The last 1–3 pixels: the lanes past the end repeat the last one (inside).
            let done = (n - rest.len() / 4) as i64;
            let last = (rest.len() / 4) as i64 - 1;
            let (xs, ys) = at([0, 1, 2, 3].map(|i: i64| done + i.min(last)));
            match k.quad(xs, ys) {
                Some(p) => {
                    // One 4-byte store per pixel (a copy through memory would be a
                    // library call).
                    let px = [
                        _mm_extract_epi32::<0>(p),
                        _mm_extract_epi32::<1>(p),
                        _mm_extract_epi32::<2>(p),
                    ];
                    for (o, v) in rest.chunks_exact_mut(4).zip(px) {
                        o.copy_from_slice(&v.to_le_bytes());
                    }
                }
                None => k.scalar::<BGR>(rest, xs, ys, st),
            }
        }
    }

    struct Kernel<'a> {
        spread: __m256i,
        round: __m256i,
        rr: __m256i,
        stride: __m128i,
        data: &'a [u8],
        stride_usize: usize,
    }

    impl Kernel<'_> {
        /// Four RGBA pixels at the 32.32 positions in the lanes of `xs`, `ys`; `None`
        /// when a tap would fall outside the source.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn quad(&self, xs: __m256i, ys: __m256i) -> Option<__m128i> {
            // 11-bit fixed-point positions, low 32 bits of each 64-bit lane.
            let even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
            let fx = _mm256_srli_epi64::<{ 32 - WB as i32 }>(_mm256_add_epi64(xs, self.rr));
            let fy = _mm256_srli_epi64::<{ 32 - WB as i32 }>(_mm256_add_epi64(ys, self.rr));
            let fx = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(fx, even));
            let fy = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(fy, even));
            let off = _mm_add_epi32(
                _mm_mullo_epi32(_mm_srli_epi32::<{ WB as i32 }>(fy), self.stride),
                _mm_slli_epi32::<2>(_mm_srli_epi32::<{ WB as i32 }>(fx)),
            );
            let o = [
                _mm_extract_epi32::<0>(off) as u32 as usize,
                _mm_extract_epi32::<1>(off) as u32 as usize,
                _mm_extract_epi32::<2>(off) as u32 as usize,
                _mm_extract_epi32::<3>(off) as u32 as usize,
            ];
            let top = o[0].max(o[1]).max(o[2].max(o[3]));
            if top + self.stride_usize + 8 > self.data.len() {
                return None;
            }
            let p = self.data.as_ptr();
            let s = self.stride_usize;
            // SAFETY: every offset + stride + 8 is within `data` (checked above).
            let (t01, t23, b01, b23) = unsafe {
                let pair = |a: usize, b: usize| {
                    _mm_castpd_si128(_mm_loadh_pd(
                        _mm_castsi128_pd(_mm_loadl_epi64(p.add(a) as *const __m128i)),
                        p.add(b) as *const f64,
                    ))
                };
                (
                    pair(o[0], o[1]),
                    pair(o[2], o[3]),
                    pair(o[0] + s, o[1] + s),
                    pair(o[2] + s, o[3] + s),
                )
            };
            let mask = _mm_set1_epi32(MASK as i32);
            let (wx, wy) = (_mm_and_si128(fx, mask), _mm_and_si128(fy, mask));
            // (W − wx) in the low, wx in the high 16 bits of each pixel's lane.
            let kx = _mm_or_si128(
                _mm_slli_epi32::<16>(wx),
                _mm_sub_epi32(_mm_set1_epi32(W as i32), wx),
            );
            let (kx, wy) = (_mm256_castsi128_si256(kx), _mm256_castsi128_si256(wy));
            let (i01, i23) = (
                _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
                _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
            );
            let v01 = self.blend(
                t01,
                b01,
                _mm256_permutevar8x32_epi32(kx, i01),
                _mm256_permutevar8x32_epi32(wy, i01),
            );
            let v23 = self.blend(
                t23,
                b23,
                _mm256_permutevar8x32_epi32(kx, i23),
                _mm256_permutevar8x32_epi32(wy, i23),
            );
            // 32 → 16 → 8 bits: lane 0 holds pixels 0 and 2, lane 1 pixels 1 and 3.
            let v = _mm256_packus_epi32(v01, v23);
            let v = _mm256_packus_epi16(v, v);
            let v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
            Some(_mm_or_si128(
                _mm256_castsi256_si128(v),
                _mm_set1_epi32(0xff00_0000u32 as i32),
            ))
        }

        /// Two pixels (`top`, `bot`: their taps of the upper and lower row, 8 bytes
        /// each) blended across by `kx` and down by `wy`: 32-bit R, G, B, 0 per lane.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn blend(&self, top: __m128i, bot: __m128i, kx: __m256i, wy: __m256i) -> __m256i {
            let top = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(top), self.spread);
            let bot = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(bot), self.spread);
            // Across: p_left·(W − wx) + p_right·wx; down: top·2^WB + (bot − top)·wy.
            let t = _mm256_madd_epi16(top, kx);
            let u = _mm256_madd_epi16(bot, kx);
            let v = _mm256_add_epi32(
                _mm256_slli_epi32::<{ WB as i32 }>(t),
                _mm256_mullo_epi32(_mm256_sub_epi32(u, t), wy),
            );
            _mm256_srli_epi32::<{ 2 * WB as i32 }>(_mm256_add_epi32(v, self.round))
        }

        /// The pixels of `out` one at a time with checked reads, from the first
        /// lane's position onwards by `st` (a broken precondition panics here rather
        /// than read outside `data`).
        #[cold]
        fn scalar<const BGR: bool>(
            &self,
            out: &mut [u8],
            xs: __m256i,
            ys: __m256i,
            st: (i64, i64),
        ) {
            let (mut x, mut y) = ([0i64; 4], [0i64; 4]);
            // SAFETY: the arrays are 32 bytes.
            unsafe {
                _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, xs);
                _mm256_storeu_si256(y.as_mut_ptr() as *mut __m256i, ys);
            }
            let s = super::Packed::<4, BGR> {
                data: self.data,
                stride: self.stride_usize,
                max: (0, 0),
            };
            fill_inner_scalar(&s, out, (x[0], y[0]), st);
        }
    }
}

/// I420 / NV12: luma bilinear, chroma from the nearest luma tap's 2×2 block (as in
/// [`crate::resample`]), converted like [`FrameRef::rgb`].
struct Yuv<'a> {
    f: FrameRef<'a>,
    max: (usize, usize),
}

impl Sampler for Yuv<'_> {
    #[inline(always)]
    fn max_xy(&self) -> (usize, usize) {
        self.max
    }

    #[inline(always)]
    fn px(&self, (x0, x1, wx): (usize, usize, i32), (y0, y1, wy): (usize, usize, i32)) -> [u8; 3] {
        let p = &self.f.planes[0];
        let g = |y: usize, x: usize| p.data[y * p.stride + x];
        let yv = lerp2(g(y0, x0), g(y0, x1), g(y1, x0), g(y1, x1), wx, wy);
        let half = W as i32 / 2;
        let xc = if wx < half { x0 } else { x1 } / 2;
        let yc = if wy < half { y0 } else { y1 } / 2;
        debug_assert!(matches!(
            self.f.format,
            PixelFormat::I420 | PixelFormat::Nv12
        ));
        let (u, v) = self.f.chroma(xc, yc);
        let [r, g, b] = yuv_to_rgb(yv as f32, u as f32, v as f32);
        let q = |c: f32| c.clamp(0.0, 255.0) as u8;
        [q(r), q(g), q(b)]
    }
}

/// A band's scratch: its rows' coverage masks, and each triangle's edges where the
/// band's last tile left them.
type Scratch<'a> = (&'a mut [u64], &'a mut [[EdgeWalk; 3]]);

/// What every band of rows needs.
struct Job<'a> {
    tris: &'a [Prepared],
    w: usize,
    h: usize,
    words: usize,
    /// Bands of rows, as many as [`BANDS_PER_THREAD`] for each worker.
    parts: usize,
    /// Of the source (see [`MeshWarp::warp_with_margin`]).
    margin: usize,
}

impl Job<'_> {
    /// The scratch holds the masks of all rows and, `parts` times over, a walk per
    /// triangle. The bands go to the workers as they come free.
    fn run<S: Sampler + Sync>(
        &self,
        s: &S,
        out: &mut [u8],
        (mask, walks): Scratch<'_>,
        workers: &Workers,
    ) {
        let h = out.len() / (self.w * 4);
        if self.parts == 1 {
            self.band(s, out, (mask, walks), 0);
            return;
        }
        let band = h.div_ceil(self.parts);
        let bands = Mutex::new(
            out.chunks_mut(band * self.w * 4)
                .zip(mask.chunks_mut(band * self.words))
                .zip(walks.chunks_mut(self.tris.len().max(1)))
                .enumerate(),
        );
        workers.run(self.parts, &|_| {
            let next = bands.lock().unwrap_or_else(PoisonError::into_inner).next();
            if let Some((i, ((o, m), wk))) = next {
                self.band(s, o, (m, wk), i * band);
            }
        });
    }

    /// Renders output rows [y_start, y_start + out.len() / (4·w)).
    fn band<S: Sampler>(&self, s: &S, out: &mut [u8], (mask, walks): Scratch<'_>, y_start: usize) {
        let (w, words) = (self.w, self.words);
        let rows = out.len() / (w * 4);
        let y_end = y_start + rows;
        let mask = &mut mask[..rows * words];
        mask.fill(0);
        // Tiles of TILE_ROWS rows, each drawing its part of every triangle in order:
        // the source rows a tile reads stay in cache, where the depth-sorted order jumps
        // across the whole source (the bytes are the same either way).
        // Each tile also asks the cache for the source rows around the next tile's: the
        // models run between two frames evict them, and the triangles' order reads them
        // too irregularly for the hardware to foresee (in the live chain this took a
        // fifth off the warp; prefetching the output rows as well changed nothing).
        let (_, ym) = s.max_xy();
        let margin = self.margin;
        let scale = (ym + 1 - 2 * margin) as f64 / self.h as f64;
        for tile in (y_start..y_end).step_by(TILE_ROWS) {
            let (next, next_end) = (tile + TILE_ROWS, (tile + 2 * TILE_ROWS).min(y_end));
            if next < next_end {
                let src = |y: usize| (y as f64 * scale) as usize + margin;
                s.prefetch_rows(
                    src(next).saturating_sub(PREFETCH_MARGIN)..src(next_end) + PREFETCH_MARGIN,
                );
            }
            let rows = tile..(tile + TILE_ROWS).min(y_end);
            self.tile(s, out, (mask, walks), y_start, rows);
        }
        // Pixels no triangle covered: the source pixel at the same position.
        for r in 0..rows {
            let y = (y_start + r + margin) as f64;
            for (wi, &word) in mask[r * words..(r + 1) * words].iter().enumerate() {
                let mut free = !word;
                while free != 0 {
                    let x = wi * 64 + free.trailing_zeros() as usize;
                    if x >= w {
                        break;
                    }
                    free &= free - 1;
                    let [cr, cg, cb] = s.at((x + margin) as f64, y);
                    out[(r * w + x) * 4..(r * w + x + 1) * 4].copy_from_slice(&[cr, cg, cb, 255]);
                }
            }
        }
    }

    /// Draws `rows` of every triangle into a band that starts at row `y0`.
    fn tile<S: Sampler>(
        &self,
        s: &S,
        out: &mut [u8],
        (mask, walks): Scratch<'_>,
        y0: usize,
        rows: std::ops::Range<usize>,
    ) {
        let (w, words) = (self.w, self.words);
        for (t, edges) in self.tris.iter().zip(walks.iter_mut()) {
            let m = &t.m;
            let (ya, yb) = (t.y0.max(rows.start), t.y1.min(rows.end));
            if ya >= yb {
                continue;
            }
            // A triangle begun in an earlier tile of this band goes on from the row
            // where that tile left its edges (the same numbers, without the divisions).
            if t.y0.max(y0) >= rows.start {
                *edges = t.edges(ya);
            }
            for y in ya..yb {
                let (xa, xb) = span_of(edges, w);
                edges.iter_mut().for_each(EdgeWalk::step);
                if xa >= xb {
                    continue;
                }
                let r = y - y0;
                let start = sample_at(m, [xa as f64 + 0.5, y as f64 + 0.5]);
                let row = &mut out[(r * w + xa) * 4..(r * w + xb) * 4];
                fill_span(s, row, start, [m[0], m[3]], t.inner);
                set_bits(&mut mask[r * words..(r + 1) * words], xa, xb);
            }
        }
    }
}

/// Sets bits [a, b) of a row mask.
fn set_bits(row: &mut [u64], a: usize, b: usize) {
    let (mut i, end) = (a, b);
    while i < end {
        let (wi, bit) = (i / 64, i % 64);
        let n = (end - i).min(64 - bit);
        let bits = if n == 64 {
            !0
        } else {
            ((1u64 << n) - 1) << bit
        };
        row[wi] |= bits;
        i += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delaunay::delaunay;
    use crate::frame::Plane;
    use crate::test_util::Lcg;

    #[test]
    fn border_points_ring_the_frame() {
        let b = border_points(40, 30, 4);
        assert_eq!(b.len(), 16);
        for c in [[0.0, 0.0], [40.0, 0.0], [40.0, 30.0], [0.0, 30.0]] {
            assert!(b.contains(&c), "{c:?}");
        }
        assert_eq!(b[1], [10.0, 0.0]);
        assert_eq!(b[5], [40.0, 7.5]);
        assert_eq!(border_points(8, 8, 0).len(), 4);
    }

    /// A textured RGB test image (gradient plus noise).
    fn image(w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut rng = Lcg(seed);
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let n = (rng.next() * 60.0) as usize;
                v.extend_from_slice(&[
                    ((x * 255) / w.max(1)) as u8,
                    ((y * 255) / h.max(1)) as u8,
                    ((x * 7 + y * 13 + n) % 256) as u8,
                ]);
            }
        }
        v
    }

    /// Face-like landmarks inside the frame plus the border points.
    fn layout(w: usize, h: usize, n: usize, seed: u64) -> Vec<[f32; 2]> {
        let mut rng = Lcg(seed);
        let mut p: Vec<[f32; 2]> = (0..n)
            .map(|_| {
                [
                    w as f32 * (0.2 + 0.6 * rng.next()),
                    h as f32 * (0.15 + 0.7 * rng.next()),
                ]
            })
            .collect();
        p.extend(border_points(w, h, 6));
        p
    }

    fn rgba_of(f: &FrameRef) -> Vec<u8> {
        let mut v = Vec::with_capacity(f.width * f.height * 4);
        for y in 0..f.height {
            for x in 0..f.width {
                v.extend_from_slice(&f.rgb(x, y));
                v.push(255);
            }
        }
        v
    }

    /// Re-packs an RGB image into `fmt` with a padded stride (YUV through `put`).
    fn convert(rgb: &[u8], w: usize, h: usize, fmt: PixelFormat) -> (Vec<u8>, [usize; 3]) {
        match fmt.packed_layout() {
            Some((bpp, o)) => {
                let stride = w * bpp + 5;
                let mut d = vec![0u8; stride * h];
                for y in 0..h {
                    for x in 0..w {
                        for c in 0..3 {
                            d[y * stride + x * bpp + o[c]] = rgb[(y * w + x) * 3 + c];
                        }
                    }
                }
                (d, [stride, 0, 0])
            }
            None => {
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let strides = if fmt == PixelFormat::I420 {
                    [w, cw, cw]
                } else {
                    [w, 2 * cw, 0]
                };
                let sizes = [strides[0] * h, strides[1] * ch, strides[2] * ch];
                let mut d = vec![0u8; sizes.iter().sum()];
                {
                    let (a, rest) = d.split_at_mut(sizes[0]);
                    let (b, c) = rest.split_at_mut(sizes[1]);
                    let mut f = crate::frame::FrameMut::new(
                        fmt,
                        w,
                        h,
                        [(a, strides[0]), (b, strides[1]), (c, strides[2])],
                    )
                    .unwrap();
                    for y in 0..h {
                        for x in 0..w {
                            let i = (y * w + x) * 3;
                            f.put(x as i64, y as i64, [rgb[i], rgb[i + 1], rgb[i + 2]]);
                        }
                    }
                }
                (d, strides)
            }
        }
    }

    fn frame<'a>(
        d: &'a [u8],
        strides: [usize; 3],
        w: usize,
        h: usize,
        fmt: PixelFormat,
    ) -> FrameRef<'a> {
        let ch = h.div_ceil(2);
        let mut planes = [Plane {
            data: &[],
            stride: 0,
        }; 3];
        let lens = match fmt.n_planes() {
            1 => [d.len(), 0, 0],
            _ => [strides[0] * h, strides[1] * ch, strides[2] * ch],
        };
        let mut off = 0;
        for i in 0..fmt.n_planes() {
            planes[i] = Plane {
                data: &d[off..off + lens[i]],
                stride: strides[i],
            };
            off += lens[i];
        }
        FrameRef::new(fmt, w, h, planes).unwrap()
    }

    fn run(src: &FrameRef, sp: &[[f32; 2]], dp: &[[f32; 2]], threads: usize) -> Vec<u8> {
        let mut mw = MeshWarp::new(sp, delaunay(sp), src.width, src.height);
        let mut out = vec![0u8; src.width * src.height * 4];
        mw.warp(src, dp, &mut out, threads);
        out
    }

    #[test]
    fn identity_reproduces_every_format_exactly() {
        use PixelFormat::*;
        let (w, h) = (61, 47);
        let rgb = image(w, h, 7);
        let pts = layout(w, h, 120, 3);
        for fmt in [Rgb, Bgr, Rgba, Bgra, Bgrx, Rgbx, I420, Nv12] {
            let (d, strides) = convert(&rgb, w, h, fmt);
            let f = frame(&d, strides, w, h, fmt);
            let out = run(&f, &pts, &pts, 1);
            assert!(out == rgba_of(&f), "{fmt:?}");
        }
    }

    #[test]
    fn integer_translation_shifts_exactly() {
        let (w, h) = (64, 48);
        let rgb = image(w, h, 11);
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let sp = layout(w, h, 80, 5);
        let dp: Vec<[f32; 2]> = sp.iter().map(|p| [p[0] + 3.0, p[1] + 2.0]).collect();
        let out = run(&f, &sp, &dp, 1);
        for y in 0..h {
            for x in 0..w {
                // Inside the moved frame: shifted content; outside: the source itself.
                let (sx, sy) = if x >= 3 && y >= 2 {
                    (x - 3, y - 2)
                } else {
                    (x, y)
                };
                let want = f.rgb(sx, sy);
                assert_eq!(
                    &out[(y * w + x) * 4..][..4],
                    &[want[0], want[1], want[2], 255],
                    "({x}, {y})"
                );
            }
        }
    }

    /// Bilinear sample of channel `c` of an RGB image at pixel-index position (sx, sy),
    /// clamped to the image, rounded.
    fn direct(rgb: &[u8], w: usize, h: usize, sx: f64, sy: f64, c: usize) -> f64 {
        let (sx, sy) = (sx.clamp(0.0, (w - 1) as f64), sy.clamp(0.0, (h - 1) as f64));
        let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
        let g = |xx: usize, yy: usize| rgb[(yy * w + xx) * 3 + c] as f64;
        let top = g(x0, y0) * (1.0 - fx) + g(x1, y0) * fx;
        let bot = g(x0, y1) * (1.0 - fx) + g(x1, y1) * fx;
        (top * (1.0 - fy) + bot * fy).round()
    }

    /// Where the warped mesh folds, the nearer triangle is on top once ordered: two
    /// source triangles, one on a dark half and one on a light half, warped onto the
    /// same place.
    #[test]
    fn the_nearer_triangle_covers_a_fold() {
        let (w, h) = (20, 10);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = if i % w < 10 { 50 } else { 200 };
                [v, v, v]
            })
            .collect();
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let src = [
            [1.0, 1.0],
            [9.0, 1.0],
            [1.0, 9.0],
            [11.0, 1.0],
            [19.0, 1.0],
            [11.0, 9.0],
        ];
        let dst = [[2.0, 2.0], [8.0, 2.0], [2.0, 8.0]].repeat(2);
        let (near_dark, near_light) = (
            [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, -1.0, -1.0, -1.0],
        );
        for (depth, want) in [(near_dark, 50), (near_light, 200)] {
            let mut tris = vec![[0, 1, 2], [3, 4, 5]];
            order_back_to_front(&mut tris, &depth);
            let mut warp = MeshWarp::new(&src, tris, w, h);
            let mut out = vec![0; w * h * 4];
            warp.warp(&f, &dst, &mut out, 1);
            assert_eq!(out[(3 * w + 3) * 4], want, "depths {depth:?}");
        }
        // Points past the depths (the frame border) count as farthest.
        let mut tris = vec![[0, 1, 2], [3, 4, 5]];
        order_back_to_front(&mut tris, &[0.0; 3]);
        assert_eq!(tris, vec![[3, 4, 5], [0, 1, 2]]);
    }

    #[test]
    fn rotation_matches_direct_bilinear() {
        let (w, h) = (80, 64);
        let rgb = image(w, h, 13);
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let sp = layout(w, h, 150, 17);
        let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
        let (sin, cos) = 10f64.to_radians().sin_cos();
        let dp: Vec<[f32; 2]> = sp
            .iter()
            .map(|p| {
                let (x, y) = (p[0] as f64 - cx, p[1] as f64 - cy);
                [
                    (cx + cos * x - sin * y) as f32,
                    (cy + sin * x + cos * y) as f32,
                ]
            })
            .collect();
        let out = run(&f, &sp, &dp, 1);
        let mut checked = 0;
        for y in 0..h {
            for x in 0..w {
                // Inverse rotation of the output pixel centre, in source pixel indices.
                let (px, py) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                let sx = cx + cos * px + sin * py - 0.5;
                let sy = cy - sin * px + cos * py - 0.5;
                if sx < 2.0 || sy < 2.0 || sx > w as f64 - 3.0 || sy > h as f64 - 3.0 {
                    continue;
                }
                for c in 0..3 {
                    let want = direct(&rgb, w, h, sx, sy, c);
                    let got = out[(y * w + x) * 4 + c] as f64;
                    assert!(
                        (got - want).abs() <= 1.0,
                        "({x}, {y}) c{c}: {got} vs {want}"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > w * h / 2, "{checked}");
    }

    /// `inner_range` is exactly the samples inside: all of [a, b), none next to it.
    #[test]
    fn inner_range_is_the_inside_samples() {
        let mut rng = Lcg(43);
        let max = [30usize, 20];
        let inside = |p: [f64; 2]| (0..2).all(|k| p[k] >= 0.0 && p[k] <= max[k] as f64 - INSIDE);
        let mut partial = 0;
        for case in 0..2000 {
            let n = 1 + (rng.next() * 60.0) as usize;
            let s = [
                rng.next() as f64 * 50.0 - 10.0,
                rng.next() as f64 * 40.0 - 10.0,
            ];
            let mut d = [rng.next() as f64 - 0.5, rng.next() as f64 - 0.5];
            if case % 7 == 0 {
                d[case % 2] = 0.0;
            }
            let at = |i: usize| [s[0] + d[0] * i as f64, s[1] + d[1] * i as f64];
            let (a, b) = inner_range(s, d, n, max);
            let want: Vec<usize> = (0..n).filter(|&i| inside(at(i))).collect();
            let got: Vec<usize> = (a..b).collect();
            assert_eq!(got, want, "case {case}: s {s:?} d {d:?} n {n}");
            partial += (!want.is_empty() && want.len() < n) as usize;
        }
        assert!(partial > 200, "{partial}");
    }

    /// The AVX2 spans give the scalar path's bytes, for both byte orders, odd and even
    /// lengths, fractional and exact positions.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_spans_match_the_scalar_ones() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let (w, h) = (61, 47);
        let mut rng = Lcg(41);
        let data: Vec<u8> = (0..w * h * 4).map(|_| (rng.next() * 256.0) as u8).collect();
        let f = |v: f32| (v as f64 * (1u64 << 32) as f64) as i64;
        let (mut rgba, mut bgra) = (0, 0);
        for case in 0..400 {
            let n = 1 + (rng.next() * 40.0) as usize;
            // Start and end inside [0, w − 2] × [0, h − 2] so both taps exist.
            let (x0, y0) = (rng.next() * (w - 2) as f32, rng.next() * (h - 2) as f32);
            let (x1, y1) = (rng.next() * (w - 2) as f32, rng.next() * (h - 2) as f32);
            let (x0, y0) = if case % 5 == 0 {
                (x0.floor(), y0.floor())
            } else {
                (x0, y0)
            };
            let d = (n.max(2) - 1) as f32;
            let st = (f((x1 - x0) / d), f((y1 - y0) / d));
            let (mut a, mut b) = (vec![0u8; n * 4], vec![1u8; n * 4]);
            let s = Packed::<4, false> {
                data: &data,
                stride: w * 4,
                max: (w - 1, h - 1),
            };
            fill_inner_scalar(&s, &mut a, (f(x0), f(y0)), st);
            // SAFETY: AVX2 checked above; the source is far below the size limit.
            unsafe { rgba_avx2::fill_inner::<false>(&data, w * 4, &mut b, (f(x0), f(y0)), st) };
            assert_eq!(a, b, "RGBA case {case}");
            rgba += 1;
            let s = Packed::<4, true> {
                data: &data,
                stride: w * 4,
                max: (w - 1, h - 1),
            };
            fill_inner_scalar(&s, &mut a, (f(x0), f(y0)), st);
            b.fill(1);
            // SAFETY: AVX2 checked above; the source is far below the size limit.
            unsafe { rgba_avx2::fill_inner::<true>(&data, w * 4, &mut b, (f(x0), f(y0)), st) };
            assert_eq!(a, b, "BGRA case {case}");
            bgra += 1;
        }
        assert_eq!((rgba, bgra), (400, 400));
    }

    #[test]
    fn threads_give_identical_bytes() {
        let (w, h) = (97, 75);
        let rgb = image(w, h, 19);
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let sp = layout(w, h, 200, 23);
        let mut rng = Lcg(29);
        let dp: Vec<[f32; 2]> = sp
            .iter()
            .map(|p| {
                [
                    p[0] + 4.0 * (rng.next() - 0.5),
                    p[1] + 4.0 * (rng.next() - 0.5),
                ]
            })
            .collect();
        let mut mw = MeshWarp::new(&sp, delaunay(&sp), w, h);
        let mut outs = Vec::new();
        for threads in [1, 2, 3, 8, 500, 0] {
            let mut out = vec![0u8; w * h * 4];
            mw.warp(&f, &dp, &mut out, threads);
            outs.push(out);
        }
        for o in &outs[1..] {
            assert!(*o == outs[0]);
        }
    }

    #[test]
    fn rasteriser_covers_each_pixel_once() {
        // Vertices on pixel centres and pixel edges (the tie cases of the fill rule).
        let (w, h) = (48, 40);
        let mut sp: Vec<[f32; 2]> = Vec::new();
        for j in 0..9 {
            for i in 0..11 {
                sp.push([
                    2.5 + 4.0 * i as f32 + (j % 2) as f32 * 0.5,
                    2.0 + 4.5 * j as f32,
                ]);
            }
        }
        sp.extend(border_points(w, h, 8));
        let mut rng = Lcg(31);
        let jitter: Vec<[f32; 2]> = sp
            .iter()
            .map(|p| {
                let on_border = p[0] == 0.0 || p[1] == 0.0 || p[0] == w as f32 || p[1] == h as f32;
                if on_border {
                    *p
                } else {
                    [
                        p[0] + (rng.next() - 0.5).round(),
                        p[1] + (rng.next() - 0.5) * 0.5,
                    ]
                }
            })
            .collect();
        for dp in [&sp, &jitter] {
            let mut mw = MeshWarp::new(&sp, delaunay(&sp), w, h);
            let max = (w - 1, h - 1);
            mw.prepare(dp, max, 0.0);
            let mut count = vec![0u32; w * h];
            let mut inner = 0;
            for t in &mw.tris {
                let mut e = t.edges(t.y0);
                inner += t.inner as usize;
                for y in t.y0..t.y1 {
                    let (a, b) = span_of(&e, w);
                    // Stepping row by row stays exact.
                    assert_eq!((a, b), t.span(y, w));
                    e.iter_mut().for_each(EdgeWalk::step);
                    for x in a..b {
                        count[y * w + x] += 1;
                        // An inner triangle's samples need no clamping.
                        let [sx, sy] = sample_at(&t.m, [x as f64 + 0.5, y as f64 + 0.5]);
                        let inside = (0.0..=max.0 as f64 - INSIDE).contains(&sx)
                            && (0.0..=max.1 as f64 - INSIDE).contains(&sy);
                        assert!(inside || !t.inner, "({x}, {y}) → ({sx}, {sy})");
                    }
                }
            }
            assert!(
                count.iter().all(|&c| c == 1),
                "{:?}",
                count.iter().position(|&c| c != 1)
            );
            // The triangles away from the frame's edge are inner, those on it are not.
            assert!(
                inner > mw.tris.len() / 2 && inner < mw.tris.len(),
                "{inner}"
            );
        }
    }

    #[test]
    fn a_repeated_edge_margin_gives_the_same_bytes_without_clamping() {
        let (w, h, margin) = (57, 43, 2);
        let rgb = image(w, h, 19);
        let rgba: Vec<u8> = rgb
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let sp = layout(w, h, 60, 23);
        let mut rng = Lcg(29);
        // The landmarks move (and the border triangles stretch towards them); a
        // background that bulges out samples up to a pixel past the edge.
        let moved: Vec<[f32; 2]> = sp
            .iter()
            .map(|p| {
                [
                    p[0] + (rng.next() - 0.5) * 6.0,
                    p[1] + (rng.next() - 0.5) * 6.0,
                ]
            })
            .collect();
        let bulge: Vec<[f32; 2]> = sp
            .iter()
            .map(|p| {
                let c = [w as f32 / 2.0, h as f32 / 2.0];
                [c[0] + (p[0] - c[0]) * 0.97, c[1] + (p[1] - c[1]) * 0.97]
            })
            .collect();
        for (bpp, fmt, data) in [(3, PixelFormat::Rgb, &rgb), (4, PixelFormat::Rgba, &rgba)] {
            let padded = pad_edges(data, w, h, bpp, margin);
            let (pw, ph) = (w + 2 * margin, h + 2 * margin);
            assert_eq!(padded.len(), pw * ph * bpp);
            // Corners and edges repeat the image's.
            assert_eq!(padded[..bpp], data[..bpp]);
            let last = ((ph - 1) * pw + pw - 1) * bpp;
            assert_eq!(padded[last..last + bpp], data[data.len() - bpp..]);
            let plain = FrameRef::packed(fmt, w, h, data).unwrap();
            let framed = FrameRef::packed(fmt, pw, ph, &padded).unwrap();
            for dp in [&sp, &moved, &bulge] {
                let mut mw = MeshWarp::new(&sp, delaunay(&sp), w, h);
                let mut a = vec![0u8; w * h * 4];
                let mut b = vec![1u8; w * h * 4];
                mw.warp(&plain, dp, &mut a, 1);
                mw.warp_with_margin(&framed, margin, dp, &mut b, &Workers::new(1));
                assert!(a == b, "{fmt:?}");
                // Every triangle reads inside the framed source.
                assert!(mw.tris.iter().all(|t| t.inner), "{fmt:?}");
            }
        }
        // A margin the frame cannot hold counts as none.
        let tiny = FrameRef::packed(PixelFormat::Rgb, 3, 3, &rgb[..27]).unwrap();
        let pts = border_points(3, 3, 1);
        let mut mw = MeshWarp::new(&pts, delaunay(&pts), 3, 3);
        let (mut a, mut b) = (vec![0u8; 36], vec![1u8; 36]);
        mw.warp(&tiny, &pts, &mut a, 1);
        mw.warp_with_margin(&tiny, 2, &pts, &mut b, &Workers::new(1));
        assert!(a == b);
    }

    #[test]
    fn degenerate_and_wild_points_do_not_panic() {
        let (w, h) = (40, 30);
        let rgb = image(w, h, 37);
        let bgrx: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0], 0]).collect();
        let f = FrameRef::packed(PixelFormat::Bgrx, w, h, &bgrx).unwrap();
        let sp = layout(w, h, 30, 41);
        let n = sp.len();
        let mut mw = MeshWarp::new(&sp, delaunay(&sp), w, h);
        let mut out = vec![0u8; w * h * 4];
        let cases: Vec<Vec<[f32; 2]>> = vec![
            vec![[20.0, 15.0]; n],                                  // everything collapsed
            sp.iter().map(|p| [p[0], 10.0 + 0.0 * p[1]]).collect(), // all on one line
            {
                let mut v = sp.clone();
                v[0] = [1e9, -1e9];
                v[1] = [5000.0, -3000.0];
                v[2] = [f32::NAN, 3.0];
                v[3] = [f32::INFINITY, f32::NEG_INFINITY];
                v
            },
            sp.iter().map(|p| [p[0] * 1e4, p[1] * -1e4]).collect(),
            sp.iter().map(|p| [p[1], p[0]]).collect(), // mesh folded over itself
        ];
        for dp in &cases {
            mw.warp(&f, dp, &mut out, 2);
            assert!(out.chunks(4).all(|p| p[3] == 255));
        }
        // Triangles untouched by the wild points still warp (here: identity).
        let out_id = rgba_of(&f);
        mw.warp(&f, &cases[2], &mut out, 1);
        let same = out.iter().zip(&out_id).filter(|(a, b)| a == b).count();
        assert!(same > out.len() / 2, "{same}");
        // A zero-sized source and an empty output.
        let empty = FrameRef::packed(PixelFormat::Rgb, 0, 0, &[]).unwrap();
        mw.warp(&empty, &sp, &mut out, 1);
        assert_eq!(&out[..4], &[0, 0, 0, 255]);
        let mut none = MeshWarp::new(&sp, delaunay(&sp), 0, 0);
        none.warp(&f, &sp, &mut [], 3);
    }

    #[test]
    fn output_size_may_differ_from_source() {
        let (w, h) = (32, 24);
        let rgb = image(w, h, 43);
        let f = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let sp = layout(w, h, 20, 47);
        // Scale the layout ×2 into a 64×48 output: an upscale of the source.
        let dp: Vec<[f32; 2]> = sp.iter().map(|p| [p[0] * 2.0, p[1] * 2.0]).collect();
        let mut mw = MeshWarp::new(&sp, delaunay(&sp), 64, 48);
        let mut out = vec![0u8; 64 * 48 * 4];
        mw.warp(&f, &dp, &mut out, 2);
        for y in 0..48 {
            for x in 0..64 {
                // Output centre (x + 0.5) ↔ source centre (x + 0.5) / 2.
                let sx = (x as f64 + 0.5) / 2.0 - 0.5;
                let sy = (y as f64 + 0.5) / 2.0 - 0.5;
                for c in 0..3 {
                    let want = direct(&rgb, w, h, sx, sy, c);
                    let got = out[(y * 64 + x) * 4 + c] as f64;
                    assert!(
                        (got - want).abs() <= 1.0,
                        "({x}, {y}) c{c}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
