// SPDX-License-Identifier: MIT

//! Image quality against a reference, over a box: PSNR over RGB and SSIM over luma
//! (Wang et al. 2004: an 11×11 Gaussian window of σ 1.5, C1 = (0.01·255)²,
//! C2 = (0.03·255)², the mean over every window that fits in the box), for comparing
//! rendered frames with real ones.

/// A box of pixels, `x0..x1` × `y0..y1` (exclusive ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    /// The box `[x0, y0, x1, y1]` (pixels, any order of magnitude) grown by `pad` × its
    /// size on each side and clipped to a `w`×`h` image; `None` when nothing is left.
    pub fn around(b: [f32; 4], pad: f32, w: usize, h: usize) -> Option<Rect> {
        let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
        if !(bw.is_finite() && bh.is_finite()) || bw <= 0.0 || bh <= 0.0 {
            return None;
        }
        let clip = |v: f32, max: usize| v.round().clamp(0.0, max as f32) as usize;
        let r = Rect {
            x0: clip(b[0] - pad * bw, w),
            y0: clip(b[1] - pad * bh, h),
            x1: clip(b[2] + pad * bw, w),
            y1: clip(b[3] + pad * bh, h),
        };
        (r.x1 > r.x0 && r.y1 > r.y0).then_some(r)
    }

    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }
}

/// A packed 8-bit image: RGB (3) or RGBA (4) bytes per pixel, `width` pixels a row.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub bpp: usize,
}

impl<'a> Image<'a> {
    pub fn new(data: &'a [u8], width: usize, bpp: usize) -> Self {
        Image { data, width, bpp }
    }

    fn rgb(&self, x: usize, y: usize) -> [f64; 3] {
        let o = (y * self.width + x) * self.bpp;
        [
            self.data[o] as f64,
            self.data[o + 1] as f64,
            self.data[o + 2] as f64,
        ]
    }

    fn luma(&self, x: usize, y: usize) -> f64 {
        let [r, g, b] = self.rgb(x, y);
        0.299 * r + 0.587 * g + 0.114 * b
    }
}

/// PSNR (dB) of `a` against `b` over RGB in `r`; infinite when they are equal there.
pub fn psnr(a: &Image, b: &Image, r: Rect) -> f64 {
    let mut se = 0.0;
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let (p, q) = (a.rgb(x, y), b.rgb(x, y));
            se += (0..3).map(|c| (p[c] - q[c]).powi(2)).sum::<f64>();
        }
    }
    let n = (r.width() * r.height() * 3) as f64;
    if se == 0.0 || n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / (se / n)).log10()
    }
}

const WIN: usize = 11;
const SIGMA: f64 = 1.5;

fn gaussian() -> [f64; WIN] {
    let mut g = [0.0; WIN];
    let c = (WIN / 2) as f64;
    for (i, v) in g.iter_mut().enumerate() {
        *v = (-((i as f64 - c).powi(2)) / (2.0 * SIGMA * SIGMA)).exp();
    }
    let s: f64 = g.iter().sum();
    g.map(|v| v / s)
}

/// Separable Gaussian filtering of a `w`×`h` plane, keeping only the windows that fit:
/// (w − 10)×(h − 10) values.
fn blur(p: &[f64], w: usize, h: usize, g: &[f64; WIN]) -> Vec<f64> {
    let (ow, oh) = (w + 1 - WIN, h + 1 - WIN);
    let mut rows = vec![0.0; ow * h];
    for y in 0..h {
        for x in 0..ow {
            rows[y * ow + x] = (0..WIN).map(|k| g[k] * p[y * w + x + k]).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = (0..WIN).map(|k| g[k] * rows[(y + k) * ow + x]).sum();
        }
    }
    out
}

/// Mean SSIM of `a` against `b` over luma in `r`; `None` when the box is smaller than
/// the 11×11 window.
pub fn ssim(a: &Image, b: &Image, r: Rect) -> Option<f64> {
    let (w, h) = (r.width(), r.height());
    if w < WIN || h < WIN {
        return None;
    }
    let plane = |img: &Image| -> Vec<f64> {
        (r.y0..r.y1)
            .flat_map(|y| (r.x0..r.x1).map(move |x| (x, y)))
            .map(|(x, y)| img.luma(x, y))
            .collect()
    };
    let (pa, pb) = (plane(a), plane(b));
    let g = gaussian();
    let prod = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).collect::<Vec<_>>();
    let (ma, mb) = (blur(&pa, w, h, &g), blur(&pb, w, h, &g));
    let (saa, sbb, sab) = (
        blur(&prod(&pa, &pa), w, h, &g),
        blur(&prod(&pb, &pb), w, h, &g),
        blur(&prod(&pa, &pb), w, h, &g),
    );
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let n = ma.len();
    let total: f64 = (0..n)
        .map(|i| {
            let (mx, my) = (ma[i], mb[i]);
            let (vx, vy, cxy) = (saa[i] - mx * mx, sbb[i] - my * my, sab[i] - mx * my);
            ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        })
        .sum();
    Some(total / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Lcg;

    fn noise(w: usize, h: usize, seed: u64) -> Vec<u8> {
        let mut r = Lcg(seed);
        (0..w * h * 3).map(|_| (r.next() * 255.0) as u8).collect()
    }

    fn img(d: &[u8], w: usize) -> Image<'_> {
        Image {
            data: d,
            width: w,
            bpp: 3,
        }
    }

    #[test]
    fn identical_images_are_perfect() {
        let a = noise(40, 30, 1);
        let r = Rect {
            x0: 0,
            y0: 0,
            x1: 40,
            y1: 30,
        };
        assert_eq!(psnr(&img(&a, 40), &img(&a, 40), r), f64::INFINITY);
        let s = ssim(&img(&a, 40), &img(&a, 40), r).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn psnr_of_a_known_error() {
        // Every byte off by 5: MSE 25 → 10·log10(255²/25) = 34.15 dB.
        let a = vec![100u8; 20 * 20 * 3];
        let b = vec![105u8; 20 * 20 * 3];
        let r = Rect {
            x0: 2,
            y0: 3,
            x1: 18,
            y1: 17,
        };
        let p = psnr(&img(&a, 20), &img(&b, 20), r);
        assert!((p - 34.151).abs() < 1e-3, "{p}");
        // RGB against RGBA of the same pixels: equal.
        let rgba: Vec<u8> = a.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        let c = Image {
            data: &rgba,
            width: 20,
            bpp: 4,
        };
        assert_eq!(psnr(&img(&a, 20), &c, r), f64::INFINITY);
    }

    #[test]
    fn ssim_ranks_distortions() {
        let (w, h) = (48, 40);
        let a = noise(w, h, 3);
        let r = Rect {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        };
        // A small brightness shift keeps the structure: high SSIM.
        let shifted: Vec<u8> = a.iter().map(|&v| v.saturating_add(4)).collect();
        // Unrelated noise: no structure in common, SSIM near 0.
        let other = noise(w, h, 4);
        let s_shift = ssim(&img(&a, w), &img(&shifted, w), r).unwrap();
        let s_other = ssim(&img(&a, w), &img(&other, w), r).unwrap();
        assert!(s_shift > 0.95, "{s_shift}");
        assert!(s_other.abs() < 0.1, "{s_other}");
        // Symmetric.
        let back = ssim(&img(&other, w), &img(&a, w), r).unwrap();
        assert!((back - s_other).abs() < 1e-12);
        // Too small a box.
        let tiny = Rect {
            x0: 0,
            y0: 0,
            x1: 10,
            y1: 40,
        };
        assert!(ssim(&img(&a, w), &img(&a, w), tiny).is_none());
    }

    #[test]
    fn boxes_grow_and_clip() {
        let r = Rect::around([10.0, 20.0, 30.0, 60.0], 0.25, 100, 50).unwrap();
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (5, 10, 35, 50));
        assert!(Rect::around([10.0, 10.0, 10.0, 20.0], 0.1, 100, 100).is_none());
        assert!(Rect::around([f32::NAN, 0.0, 1.0, 1.0], 0.1, 100, 100).is_none());
        assert!(Rect::around([200.0, 200.0, 300.0, 300.0], 0.0, 100, 100).is_none());
    }
}
