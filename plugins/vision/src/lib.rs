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
