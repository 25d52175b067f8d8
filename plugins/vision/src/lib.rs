// SPDX-License-Identifier: MIT

//! Pure-Rust vision math of gst-portrait: no GStreamer here, so every piece is unit
//! tested on its own. Elements wire these to buffers and metas.

pub mod delaunay;
pub mod detect;
pub mod draw;
pub mod expression;
pub mod face_paint;
pub mod face_rig;
pub mod frame;
pub mod implicit_keypoints;
pub mod landmarks;
pub mod mesh;
pub mod one_euro;
pub mod pose;
pub mod quality;
pub mod resample;
pub mod speech;
pub mod track;
pub mod transfer;
pub mod warp;
pub mod workers;

pub use frame::{FrameMut, FrameRef, PixelFormat, Plane};

/// Hermite smoothstep: 0 at or below `e0`, 1 at or above `e1`, smooth in between.
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Asks the cache for every 64-byte line of `bytes`: a hint, no effect on any result.
/// For frames the models' runs have evicted and that are read too irregularly (a
/// triangle at a time, a rotated crop) for the hardware to foresee.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch reads nothing architecturally; the address is in `bytes`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// The samples i ∈ [0, n) of the line `start + step·i` that the caller's exact test
/// `inside` accepts, where that test is "both coordinates within [0, max]" in the
/// caller's own arithmetic (and its own open or closed ends): an interval, because
/// each coordinate is monotonic in i, so it is estimated from the line and then its
/// ends are stepped inwards until `inside` holds at both. (0, 0) when empty. Used to
/// split a row into the part that needs no clamping and the ends that do (the warp's
/// spans, the crop's rows).
#[inline]
pub(crate) fn inside_interval(
    start: [f64; 2],
    step: [f64; 2],
    n: usize,
    max: [f64; 2],
    inside: impl Fn(usize) -> bool,
) -> (usize, usize) {
    if n == 0 {
        return (0, 0);
    }
    if inside(0) && inside(n - 1) {
        return (0, n);
    }
    let (mut lo, mut hi) = (0.0f64, n as f64 - 1.0);
    for k in 0..2 {
        if step[k] == 0.0 {
            if !(0.0..=max[k]).contains(&start[k]) {
                return (0, 0);
            }
            continue;
        }
        let (t0, t1) = (-start[k] / step[k], (max[k] - start[k]) / step[k]);
        lo = lo.max(t0.min(t1));
        hi = hi.min(t0.max(t1));
    }
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0, 0);
    }
    let (mut a, mut b) = (lo.ceil() as usize, (hi.floor() as usize + 1).min(n));
    // Rounding can put an end a sample outside.
    while a < b && !inside(a) {
        a += 1;
    }
    while a < b && !inside(b - 1) {
        b -= 1;
    }
    if a < b { (a, b) } else { (0, 0) }
}

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    /// A small deterministic generator of values in [0, 1).
    pub struct Lcg(pub u64);

    impl Lcg {
        pub fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_util::Lcg;

    /// The interval is exactly the samples the exact test accepts, for closed and for
    /// open ends, on random lines that cross the box, miss it or run along an edge.
    #[test]
    fn inside_interval_is_exactly_the_accepted_samples() {
        let mut rng = Lcg(7);
        let max = [37.0, 21.0];
        for case in 0..4000 {
            let r = |rng: &mut Lcg, a: f64, b: f64| a + (b - a) * rng.next() as f64;
            let mut s = [r(&mut rng, -30.0, 70.0), r(&mut rng, -30.0, 50.0)];
            let mut d = [r(&mut rng, -3.0, 3.0), r(&mut rng, -3.0, 3.0)];
            if case % 7 == 0 {
                d[case % 2] = 0.0;
            }
            // Quarter-pixel positions land exactly on the bounds: the open ends must be
            // stepped in from the line's estimate.
            if case % 3 == 0 {
                let q = |v: f64| (v * 4.0).round() / 4.0;
                (s, d) = (s.map(q), d.map(q));
            }
            let n = (rng.next() * 60.0) as usize;
            let open = case % 2 == 0;
            let ok = |i: usize| {
                let p = [s[0] + d[0] * i as f64, s[1] + d[1] * i as f64];
                (0..2).all(|k| p[k] >= 0.0 && if open { p[k] < max[k] } else { p[k] <= max[k] })
            };
            let want: Vec<usize> = (0..n).filter(|&i| ok(i)).collect();
            let (a, b) = inside_interval(s, d, n, max, ok);
            assert_eq!((a..b).collect::<Vec<_>>(), want, "s {s:?} d {d:?} n {n}");
        }
    }
}
