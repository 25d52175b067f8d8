// SPDX-License-Identifier: MIT

//! One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): an adaptive low-pass that
//! smooths hard when a signal is still (no jitter) and little when it moves fast
//! (little lag). `min_cutoff` (Hz) sets the still-time smoothing, `beta` how fast the
//! cutoff rises with speed.

use std::f32::consts::PI;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroParams {
    pub min_cutoff: f32,
    pub beta: f32,
    pub d_cutoff: f32,
}

impl Default for OneEuroParams {
    fn default() -> Self {
        OneEuroParams {
            min_cutoff: 1.0,
            beta: 0.05,
            d_cutoff: 1.0,
        }
    }
}

#[inline]
fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff.max(1e-6));
    1.0 / (1.0 + tau / dt)
}

/// Filters a fixed-length vector of values (all with the same parameters).
#[derive(Clone, Debug, Default)]
pub struct OneEuro {
    x: Vec<f32>,
    dx: Vec<f32>,
    started: bool,
}

impl OneEuro {
    pub fn reset(&mut self) {
        self.started = false;
    }

    /// Filters `values` in place; `dt` is the time since the previous call, seconds.
    /// `scale` converts the values' speed into the units `beta` was tuned for (e.g.
    /// the face size in pixels, so smoothing does not depend on how big the face is).
    pub fn filter(&mut self, values: &mut [f32], dt: f32, p: &OneEuroParams, scale: f32) {
        if !self.started || self.x.len() != values.len() || dt.is_nan() || dt <= 0.0 {
            self.x.clear();
            self.x.extend_from_slice(values);
            self.dx.clear();
            self.dx.resize(values.len(), 0.0);
            self.started = true;
            return;
        }
        let ad = alpha(p.d_cutoff, dt);
        let inv_scale = if scale > 0.0 { 1.0 / scale } else { 1.0 };
        for ((v, x), dx) in values.iter_mut().zip(&mut self.x).zip(&mut self.dx) {
            let raw_dx = (*v - *x) / dt;
            *dx += ad * (raw_dx - *dx);
            let cutoff = p.min_cutoff + p.beta * (*dx * inv_scale).abs();
            *x += alpha(cutoff, dt) * (*v - *x);
            *v = *x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn still_noise_is_smoothed_and_steps_are_followed() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        // Deterministic pseudo-noise of ±1 around 10.
        let mut seed = 12345u32;
        let mut out = vec![];
        for _ in 0..200 {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
            let mut v = [10.0 + noise];
            f.filter(&mut v, 1.0 / 30.0, &p, 1.0);
            out.push(v[0]);
        }
        let tail = &out[50..];
        let mean = tail.iter().sum::<f32>() / tail.len() as f32;
        let sd = (tail.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / tail.len() as f32).sqrt();
        assert!(sd < 0.25, "sd {sd}"); // raw noise sd is 0.58
        // A large fast step is followed within a few frames.
        let mut last = 0.0;
        for _ in 0..10 {
            let mut v = [110.0];
            f.filter(&mut v, 1.0 / 30.0, &p, 1.0);
            last = v[0];
        }
        assert!(last > 100.0, "{last}");
    }

    #[test]
    fn first_value_passes_and_reset_restarts() {
        let mut f = OneEuro::default();
        let mut v = [3.0, 4.0];
        f.filter(&mut v, 0.04, &OneEuroParams::default(), 1.0);
        assert_eq!(v, [3.0, 4.0]);
        f.reset();
        let mut v = [7.0, 8.0];
        f.filter(&mut v, 0.04, &OneEuroParams::default(), 1.0);
        assert_eq!(v, [7.0, 8.0]);
    }
}
