// SPDX-License-Identifier: MIT

//! What a mesh warp alone cannot show, painted over the warped RGBA portrait: the
//! mouth interior where the driven lips part wider than the source's, and closing
//! eyelids where the driven eyes open less. Both compare the source's landmark layout
//! with the driven one (468 FaceMesh points, output pixels) and do nothing when the
//! driven face is not more open / more closed than the source.
//!
//! The mouth interior comes from the driving frame when a real face drives
//! ([`transfer_mouth`]), else from the portrait itself ([`synth_mouth`]): its own
//! interior (teeth it shows) kept under the upper lip, and below it a cavity, tongue
//! and lower teeth drawn in the portrait's lip colour. Both fill the driven inner-lip
//! ring through a fan of triangles around its centroid, so every point of the opening
//! has a place in the other ring (the driver's, the portrait's, or the unit "mouth
//! square" of the synthesized interior: u across, v from the upper lip down).

use crate::landmarks::{
    CHEEKS, EYE_LEFT_CONTOUR, EYE_RIGHT_CONTOUR, INNER_LIPS, LIP_LOWER_INNER, LIP_UPPER_INNER,
    LIPS_LOWER_OUTER, LIPS_UPPER_OUTER, MOUTH_INNER_LEFT, MOUTH_INNER_RIGHT,
};
use crate::{FrameRef, smoothstep};

/// Rec. 601 luma of an RGB colour.
fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Inner-lip gap over inner-mouth width of the landmarks `q` gives by index.
fn lip_ratio(q: impl Fn(usize) -> [f32; 2]) -> f32 {
    dist(q(LIP_UPPER_INNER), q(LIP_LOWER_INNER))
        / dist(q(MOUTH_INNER_LEFT), q(MOUTH_INNER_RIGHT)).max(1.0)
}

/// Opacity of the mouth interior: 0 while the driven lips part no wider than the
/// source's (gap over inner-mouth width), 1 from 0.07 wider (a real or drawn interior
/// reads as a mouth at any opening).
pub fn mouth_alpha(source: &[[f32; 2]], targets: &[[f32; 2]]) -> f32 {
    if targets.len() < 468 || source.len() < 468 {
        return 0.0;
    }
    let opened = lip_ratio(|i| targets[i]) - lip_ratio(|i| source[i]);
    ((opened - 0.01) / 0.06).clamp(0.0, 1.0)
}

/// The inner-lip ring (`INNER_LIPS` order) and its centroid: the fan of 20 triangles
/// that maps a mouth opening onto another.
#[derive(Clone, Copy, Debug)]
struct Ring {
    pts: [[f32; 2]; 20],
    centre: [f32; 2],
}

impl Ring {
    fn of(pts: [[f32; 2]; 20]) -> Ring {
        let s = pts
            .iter()
            .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
        Ring {
            pts,
            centre: [s[0] / 20.0, s[1] / 20.0],
        }
    }

    /// The ring of landmarks `q` gives by index.
    fn from(q: impl Fn(usize) -> [f32; 2]) -> Ring {
        Ring::of(INNER_LIPS.map(q))
    }

    /// The unit mouth square: u across (0 left corner … 1 right), v from the upper lip
    /// (0) to the lower (1), corners at v = ½. `INNER_LIPS` runs along the lower lip
    /// from the left corner (0..=10), then back along the upper lip (11..=19).
    fn unit() -> Ring {
        Ring::of(std::array::from_fn(|k| match k {
            0 => [0.0, 0.5],
            10 => [1.0, 0.5],
            1..=9 => [k as f32 / 10.0, 1.0],
            _ => [(20 - k) as f32 / 10.0, 0.0],
        }))
    }

    /// Where `p` falls in `other`: through the fan triangle of this ring that holds it.
    fn map(&self, p: [f32; 2], other: &Ring) -> Option<[f32; 2]> {
        (0..20).find_map(|i| {
            let j = (i + 1) % 20;
            let l = barycentric(p, self.centre, self.pts[i], self.pts[j])?;
            l.iter().all(|&v| v >= -1e-4).then(|| {
                let (a, b, c) = (other.centre, other.pts[i], other.pts[j]);
                [
                    l[0] * a[0] + l[1] * b[0] + l[2] * c[0],
                    l[0] * a[1] + l[1] * b[1] + l[2] * c[1],
                ]
            })
        })
    }

    /// Distance from `p` to the ring's outline.
    fn edge_distance(&self, p: [f32; 2]) -> f32 {
        (0..20)
            .map(|i| segment_dist(p, self.pts[i], self.pts[(i + 1) % 20]))
            .fold(f32::MAX, f32::min)
    }
}

/// Blends `colour(p)` over every output pixel p inside `ring` with opacity `alpha`,
/// feathered over `feather` pixels inside the outline.
fn fill_ring(
    ring: &Ring,
    out: &mut [u8],
    w: usize,
    h: usize,
    alpha: f32,
    feather: f32,
    mut colour: impl FnMut([f32; 2]) -> Option<[f32; 3]>,
) {
    let [x0, y0, x1, y1] = crate::detect::bounds(ring.pts.iter());
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return;
    }
    let xs = (x0.floor().max(0.0) as usize)..(x1.ceil().min(w as f32) as usize);
    let ys = (y0.floor().max(0.0) as usize)..(y1.ceil().min(h as f32) as usize);
    for y in ys {
        for x in xs.clone() {
            let p = [x as f32 + 0.5, y as f32 + 0.5];
            let Some(c) = colour(p) else { continue };
            let a = alpha * (ring.edge_distance(p) / feather).min(1.0);
            let o = (y * w + x) * 4;
            for k in 0..3 {
                let base = out[o + k] as f32;
                out[o + k] = (base + (c[k].clamp(0.0, 255.0) - base) * a).round() as u8;
            }
        }
    }
}

/// Mean RGB of the output around the outer lip contour of `targets`: the portrait's lip
/// colour and light, as rendered.
fn lip_colour(out: &[u8], w: usize, h: usize, targets: &[[f32; 2]]) -> Option<[f32; 3]> {
    let f = FrameRef::packed(crate::PixelFormat::Rgba, w, h, out).ok()?;
    let lips = LIPS_UPPER_OUTER.iter().chain(&LIPS_LOWER_OUTER);
    Some(mean_around(&f, lips.map(|&i| targets[i])))
}

/// Feather width of the mouth's edge: 5 % of the inner-mouth width, at least 1 px.
fn mouth_feather(targets: &[[f32; 2]]) -> f32 {
    (0.05 * dist(targets[MOUTH_INNER_LEFT], targets[MOUTH_INNER_RIGHT])).max(1.0)
}

/// Bilinear RGB of `f` at continuous coordinates (pixel centres at +0.5), clamped to
/// the frame.
fn sample(f: &FrameRef, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (f.width as f32, f.height as f32);
    let (x, y) = ((x - 0.5).clamp(0.0, w - 1.0), (y - 0.5).clamp(0.0, h - 1.0));
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(f.width - 1), (y0 + 1).min(f.height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (a, b, c, d) = (f.rgb(x0, y0), f.rgb(x1, y0), f.rgb(x0, y1), f.rgb(x1, y1));
    std::array::from_fn(|k| {
        let top = a[k] as f32 + (b[k] as f32 - a[k] as f32) * fx;
        let bot = c[k] as f32 + (d[k] as f32 - c[k] as f32) * fx;
        top + (bot - top) * fy
    })
}

/// Mean RGB of 3×3 patches of `f` around `pts`.
fn mean_around(f: &FrameRef, pts: impl Iterator<Item = [f32; 2]>) -> [f32; 3] {
    let mut acc = [0.0f32; 3];
    let mut n = 0.0f32;
    for p in pts {
        for dy in [-1.0, 0.0, 1.0] {
            for dx in [-1.0, 0.0, 1.0] {
                let c = sample(f, p[0] + dx, p[1] + dy);
                for k in 0..3 {
                    acc[k] += c[k];
                }
                n += 1.0;
            }
        }
    }
    acc.map(|v| v / n.max(1.0))
}

/// Barycentric coordinates of `p` in triangle (a, b, c), or `None` when degenerate.
fn barycentric(p: [f32; 2], a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> Option<[f32; 3]> {
    let d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    if d.abs() < 1e-6 {
        return None;
    }
    let l0 = ((b[1] - c[1]) * (p[0] - c[0]) + (c[0] - b[0]) * (p[1] - c[1])) / d;
    let l1 = ((c[1] - a[1]) * (p[0] - c[0]) + (a[0] - c[0]) * (p[1] - c[1])) / d;
    Some([l0, l1, 1.0 - l0 - l1])
}

/// Distance from `p` to the segment a–b.
fn segment_dist(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (vx, vy) = (b[0] - a[0], b[1] - a[1]);
    let t =
        (((p[0] - a[0]) * vx + (p[1] - a[1]) * vy) / (vx * vx + vy * vy).max(1e-6)).clamp(0.0, 1.0);
    dist(p, [a[0] + t * vx, a[1] + t * vy])
}

/// Why the driving frame's mouth was not used (the caller then paints the plain
/// interior).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoTransfer {
    /// The driven mouth is not open wider than the source's: nothing to paint.
    NotOpen,
    /// The driving frame's own lips are not parted enough to show an interior that
    /// could fill the driven opening (e.g. a dubbed mouth opened over a closed one).
    DriverClosed,
    /// The driving pixels hold no picture of a mouth (a flat, blank frame such as a
    /// talking avatar's).
    NoPicture,
    /// Something skin-coloured covers the driver's mouth (a hand, fingers): copied in,
    /// it would show as a pale block where the interior should be.
    Occluded,
}

/// How much `c` looks like the skin colour `skin`, from 1 (skin: a hand or fingers
/// over the mouth) to 0. A mouth interior is mostly darker than the skin (the cavity,
/// the tongue in shadow); skin differs from the cheeks by little in hue and light.
/// Teeth can pass for skin in a desaturated grade (WolfgangLanger's are within 0.01 of
/// its cheeks' chromaticity, as its fingers are), so this is only ever used over the
/// whole opening ([`skin_share`]), never pixel by pixel: tried so, it left dark holes
/// among real teeth.
fn skin_likeness(c: [f32; 3], skin: [f32; 3]) -> f32 {
    let chroma = |c: [f32; 3]| {
        let s = (c[0] + c[1] + c[2]).max(1.0);
        [c[0] / s, c[1] / s]
    };
    let hue = 1.0 - smoothstep(0.008, 0.014, dist(chroma(c), chroma(skin)));
    let l = luma(c) / luma(skin).max(1.0);
    let light = smoothstep(0.72, 0.82, l) * (1.0 - smoothstep(1.28, 1.38, l));
    hue * light
}

/// Share of the driver's mouth opening (`ring`, in `frame`'s pixels) that has the
/// driver's own skin colour (`skin`), on an 8 × 5 grid of the unit mouth square away
/// from the lips' edges: over the whole grid, and the largest over one of its 8
/// columns (a finger across a corner covers a column or two of an open mouth).
fn skin_share(frame: &FrameRef, ring: &Ring, skin: [f32; 3]) -> (f32, f32) {
    let unit = Ring::unit();
    let (mut n, mut like, mut column) = (0.0f32, 0.0f32, 0.0f32);
    for i in 1..9 {
        let (mut cn, mut cl) = (0.0f32, 0.0f32);
        for j in 1..6 {
            if let Some(p) = unit.map([i as f32 / 9.0, j as f32 / 6.0], ring) {
                cn += 1.0;
                cl += skin_likeness(sample(frame, p[0], p[1]), skin);
            }
        }
        (n, like) = (n + cn, like + cl);
        if cn > 0.0 {
            column = column.max(cl / cn);
        }
    }
    (like / n.max(1.0), column)
}

/// [`skin_share`] over the whole opening from which the driver's mouth counts as
/// covered. Measured on the frames where the driver's mouth is open wider than the
/// portrait's: WolfgangLanger's fingers over her mouth 0.30-0.63, her open mouths
/// 0.00-0.28; the webcam videos (single_face, face_noface, noface_face) at most 0.09.
const OCCLUDED_SHARE: f32 = 0.3;

/// [`skin_share`] in one column from which the driver's mouth counts as covered: the
/// webcam videos' open mouths reach at most 0.40 in a column (151 frames), and
/// WolfgangLanger's fingers over a corner 0.55-1.0 while the whole share stays at
/// 0.06-0.20.
const OCCLUDED_COLUMN: f32 = 0.6;

/// Fills the driven mouth opening with the driving frame's own mouth interior: its
/// inner-lip ring (`driver`, 468 landmarks in `frame`'s pixels) is mapped onto the
/// driven one (`targets`, output pixels) triangle by triangle (a fan around the ring's
/// centroid, so the lip edges meet), its light scaled so that the driver's lips match
/// the output's in luminance, and blended over the warped portrait with the opening's
/// opacity and a feathered edge. Used when a real face drives the portrait: teeth,
/// tongue and shading come from the driver, frame by frame. A portrait that shows its
/// own teeth keeps them under its upper lip, as far down as its own opening reached (as
/// in [`synth_mouth`]), as long as the driver shows none there: its cavity would
/// otherwise punch a hole into the smile.
#[allow(clippy::too_many_arguments)]
pub fn transfer_mouth(
    frame: &FrameRef,
    portrait: &FrameRef,
    driver: &[[f32; 3]],
    source: &[[f32; 2]],
    targets: &[[f32; 2]],
    out: &mut [u8],
    w: usize,
    h: usize,
) -> Result<(), NoTransfer> {
    if driver.len() < 468 || frame.width < 2 || frame.height < 2 {
        return Err(NoTransfer::NoPicture);
    }
    if targets.len() < 468 || source.len() < 468 {
        return Err(NoTransfer::NotOpen);
    }
    let alpha = mouth_alpha(source, targets);
    if alpha <= 0.0 {
        return Err(NoTransfer::NotOpen);
    }
    let drv = |i: usize| [driver[i][0], driver[i][1]];
    let (rd, rt) = (lip_ratio(drv), lip_ratio(|i| targets[i]));
    if rd < 0.05 || rd < 0.6 * rt {
        return Err(NoTransfer::DriverClosed);
    }
    // Colour: the driver's lips against the output's, per channel.
    let lips = || LIPS_UPPER_OUTER.iter().chain(&LIPS_LOWER_OUTER).copied();
    let d_mean = mean_around(frame, lips().map(drv));
    let o_mean = lip_colour(out, w, h, targets).ok_or(NoTransfer::NoPicture)?;
    // A blank driving frame (no picture): flat, dark lips.
    let interior = mean_around(frame, INNER_LIPS.iter().map(|&i| drv(i)));
    let spread = (0..3)
        .map(|k| (d_mean[k] - interior[k]).abs())
        .fold(0.0f32, f32::max);
    if d_mean.iter().all(|&v| v < 24.0) && spread < 2.0 {
        return Err(NoTransfer::NoPicture);
    }
    let d = Ring::from(drv);
    let skin = mean_around(frame, CHEEKS.iter().map(|&i| drv(i)));
    let (share, column) = skin_share(frame, &d, skin);
    if share >= OCCLUDED_SHARE || column >= OCCLUDED_COLUMN {
        return Err(NoTransfer::Occluded);
    }
    // One gain for the three channels, from the lips' luminance: the portrait's light
    // without its lip colour, so the driver's teeth stay white on a redder-lipped face.
    let gain = [(luma(o_mean) / luma(d_mean).max(1.0)).clamp(0.5, 2.0); 3];

    let t = Ring::from(|i| targets[i]);
    let driver_at = |p: [f32; 2]| -> Option<[f32; 3]> {
        let sp = t.map(p, &d)?;
        let c = sample(frame, sp[0], sp[1]);
        Some(std::array::from_fn(|k| c[k] * gain[k]))
    };
    let own = OwnInterior::new(portrait, source, targets);
    let k = own.driver_weight(&t, driver_at);
    fill_ring(&t, out, w, h, alpha, mouth_feather(targets), |p| {
        let c = driver_at(p)?;
        Some(match own.colour(&t, p) {
            // The driver's where it shows teeth (k), else the portrait's own.
            Some((o, w)) => {
                let keep = w * (1.0 - k);
                std::array::from_fn(|i| c[i] + (o[i] - c[i]) * keep)
            }
            None => c,
        })
    });
    Ok(())
}

/// The portrait's own mouth interior (teeth it shows), kept right under the driven upper
/// lip down to the depth of the portrait's own opening.
struct OwnInterior<'a> {
    portrait: &'a FrameRef<'a>,
    source: Ring,
    unit: Ring,
    /// The driven opening's height and the portrait's own (0: lips closed), in output
    /// pixels.
    gap_t: f32,
    gap_own: f32,
}

impl<'a> OwnInterior<'a> {
    fn new(portrait: &'a FrameRef<'a>, source: &[[f32; 2]], targets: &[[f32; 2]]) -> Self {
        let width_t = dist(targets[MOUTH_INNER_LEFT], targets[MOUTH_INNER_RIGHT]).max(1.0);
        let width_s = dist(source[MOUTH_INNER_LEFT], source[MOUTH_INNER_RIGHT]).max(1.0);
        let gap_own = if portrait.width >= 2 && lip_ratio(|i| source[i]) >= 0.04 {
            dist(source[LIP_UPPER_INNER], source[LIP_LOWER_INNER]) * width_t / width_s
        } else {
            0.0
        };
        OwnInterior {
            portrait,
            source: Ring::from(|i| source[i]),
            unit: Ring::unit(),
            gap_t: dist(targets[LIP_UPPER_INNER], targets[LIP_LOWER_INNER]).max(1.0),
            gap_own,
        }
    }

    /// Where output pixel `p` sits in the driven ring `t`: (u across, depth below the
    /// upper lip in pixels).
    fn place(&self, t: &Ring, p: [f32; 2]) -> Option<(f32, f32)> {
        let [u, v] = t.map(p, &self.unit)?;
        Some((u, v * self.gap_t))
    }

    /// How much of a driver's interior (`driver_at`, output pixels) shows within the
    /// portrait's own opening: 1 where the driver's is as bright there as the
    /// portrait's own (its teeth show: a real mouth, frame by frame), falling to 0 as
    /// it gets darker (teeth hidden or dark: the portrait keeps its own). One weight
    /// for the whole band, so no pixel of it flickers between the two.
    fn driver_weight(&self, t: &Ring, driver_at: impl Fn([f32; 2]) -> Option<[f32; 3]>) -> f32 {
        if self.gap_own <= 0.0 {
            return 1.0;
        }
        let (mut own, mut drv) = (0.0, 0.0);
        for u in [0.3, 0.4, 0.5, 0.6, 0.7] {
            for v in [0.25, 0.5, 0.75] {
                let depth = v * self.gap_own.min(self.gap_t);
                let Some(p) = self.unit.map([u, depth / self.gap_t], t) else {
                    continue;
                };
                if let (Some((o, _)), Some(d)) = (self.colour(t, p), driver_at(p)) {
                    own += luma(o);
                    drv += luma(d);
                }
            }
        }
        if own <= 0.0 {
            return 1.0;
        }
        smoothstep(0.6, 0.9, drv / own)
    }

    /// The portrait's own interior at `p` and how much of it shows there: 1 within its
    /// own opening's depth, fading to 0 over a few pixels around that depth (a graded
    /// edge to what lies below, not a seam); None where it does not show at all.
    fn colour(&self, t: &Ring, p: [f32; 2]) -> Option<([f32; 3], f32)> {
        if self.gap_own <= 0.0 {
            return None;
        }
        let (u, depth) = self.place(t, p)?;
        self.colour_at(u, depth)
    }

    /// [`Self::colour`] at a place [`Self::place`] gave.
    fn colour_at(&self, u: f32, depth: f32) -> Option<([f32; 3], f32)> {
        if self.gap_own <= 0.0 {
            return None;
        }
        let g = (0.15 * self.gap_own).max(1.5);
        let k = 1.0 - smoothstep(self.gap_own - g, self.gap_own + g, depth);
        if k <= 0.0 {
            return None;
        }
        // Past its own depth, the last row of its own interior.
        let v = (depth / self.gap_own).min(0.98);
        let sp = self.unit.map([u, v], &self.source)?;
        Some((sample(self.portrait, sp[0], sp[1]), k))
    }
}

/// Fills the driven mouth opening from the portrait alone (a talking avatar, or a
/// driver whose pixels cannot serve). Under the upper lip, the portrait's own interior
/// when its lips are parted (its teeth stay with the upper lip, as far down as the
/// portrait's own opening reached); below that, or everywhere when the portrait's lips
/// are closed, a drawn interior lit like the portrait's lips: an upper teeth row (only
/// when the portrait shows none), a cavity darkest at the back, a tongue rising from
/// the lower lip and, when wide open, the lower teeth. `portrait` is the source frame
/// (`source` landmarks in its pixels); `targets` and `out` are the output's.
pub fn synth_mouth(
    portrait: &FrameRef,
    source: &[[f32; 2]],
    targets: &[[f32; 2]],
    out: &mut [u8],
    w: usize,
    h: usize,
) {
    let alpha = mouth_alpha(source, targets);
    if alpha <= 0.0 || portrait.width < 2 || portrait.height < 2 {
        return;
    }
    let Some(lips) = lip_colour(out, w, h, targets) else {
        return;
    };
    let t = Ring::from(|i| targets[i]);
    let own = OwnInterior::new(portrait, source, targets);
    let (gap_t, gap_own) = (own.gap_t, own.gap_own);
    let width_t = dist(targets[MOUTH_INNER_LEFT], targets[MOUTH_INNER_RIGHT]).max(1.0);
    let teeth_h = 0.11 * width_t;
    let light = (luma(lips) / 150.0).clamp(0.5, 1.3);
    let teeth = [232.0 * light, 225.0 * light, 212.0 * light];
    let mix = |a: [f32; 3], b: [f32; 3], k: f32| -> [f32; 3] {
        std::array::from_fn(|c| a[c] + (b[c] - a[c]) * k)
    };
    fill_ring(&t, out, w, h, alpha, mouth_feather(targets), |p| {
        let (u, depth) = own.place(&t, p)?;
        let own_here = own.colour_at(u, depth);
        if let Some((o, k)) = own_here
            && k >= 1.0
        {
            return Some(o);
        }
        let v = depth / gap_t;
        let side = (2.0 * u - 1.0).abs();
        // The cavity: the lips' colour in deep shadow, darkest at the back and a little
        // lit just inside the lips (no cut-out black).
        let front = 1.0 - smoothstep(0.0, 0.6, t.edge_distance(p) / (0.5 * gap_t));
        let mut c = lips.map(|x| x * (0.2 * (0.75 + 0.25 * side) + 0.18 * front));
        // The tongue, rising from the lower lip, lighter at its middle.
        let e = ((u - 0.5) / 0.32).powi(2) + ((v - 1.0) / 0.42).powi(2);
        if e < 1.0 {
            // Pinker than lips and a little lit at its middle.
            let hue = mix(lips, [185.0 * light, 85.0 * light, 95.0 * light], 0.5);
            let tongue = hue.map(|x| x * (0.6 + 0.2 * (1.0 - e)));
            c = mix(c, tongue, 1.0 - smoothstep(0.7, 1.0, e));
        }
        let fade = |half: f32| 1.0 - smoothstep(half - 0.06, half, (u - 0.5).abs());
        // Drawn upper teeth when the portrait shows none, shaded toward the corners.
        if gap_own == 0.0 && depth < teeth_h {
            let k = fade(0.36) * (1.0 - smoothstep(0.7, 1.0, depth / teeth_h) * 0.5);
            // Darker toward the corners, with a faint gap between teeth.
            let g = ((u - 0.5) / 0.085 + 0.5).rem_euclid(1.0);
            let gaps = 0.85 + 0.15 * smoothstep(0.0, 0.15, g) * smoothstep(0.0, 0.15, 1.0 - g);
            let shade = (1.0 - 0.3 * ((u - 0.5) / 0.36).powi(2)) * gaps;
            c = mix(c, teeth.map(|x| x * shade), k);
        }
        // The lower teeth's edges, in shadow, once the mouth is wide open.
        let from_lower = gap_t - depth;
        if gap_t > 3.5 * teeth_h && from_lower < 0.4 * teeth_h {
            let k = fade(0.24) * smoothstep(0.0, 0.4, from_lower / teeth_h) * 0.8;
            c = mix(c, teeth.map(|x| x * 0.62), k);
        }
        Some(match own_here {
            Some((o, k)) => mix(c, o, k),
            None => c,
        })
    });
}

/// Lid gap over eye width of one eye, from its 16-point contour: lid pairs (upper,
/// lower) 11/3, 12/4, 13/5 across the middle, corners 0 and 8.
fn eye_ratio(p: &[[f32; 2]], c: &[usize; 16]) -> f32 {
    let gap = (dist(p[c[11]], p[c[3]]) + dist(p[c[12]], p[c[4]]) + dist(p[c[13]], p[c[5]])) / 3.0;
    gap / dist(p[c[0]], p[c[8]]).max(1.0)
}

/// Share of its own opening below which a driven eye starts to get a drawn lid, and
/// share at which the lid is opaque: above it a squinting eye stays the portrait's own
/// (iris and all), below it the warp has squashed the eye into a few rows of white
/// and iris that only a lid hides.
const LID_FROM: f32 = 0.3;
const LID_SHUT: f32 = 0.1;

/// Opacity of a closing eyelid over the eye of `contour`: 0 while the driven eye is
/// open by at least [`LID_FROM`] of the source's opening, 1 from [`LID_SHUT`] down.
pub fn eyelid_alpha(source: &[[f32; 2]], targets: &[[f32; 2]], contour: &[usize; 16]) -> f32 {
    if targets.len() < 468 || source.len() < 468 {
        return 0.0;
    }
    let (rs, rt) = (eye_ratio(source, contour), eye_ratio(targets, contour));
    if rs <= 1e-3 {
        return 0.0;
    }
    ((LID_FROM - rt / rs) / (LID_FROM - LID_SHUT)).clamp(0.0, 1.0)
}

/// How far a drawn lid reaches past each lid line (× eye width, at least 1 px, tapered
/// to 0 at the corners): the mesh's lid points sit a little inside the visible eye, so
/// a warp that closes them leaves a row of white just past them.
const LID_REACH: f32 = 0.12;
/// How dark the lash line where the drawn lids meet is (share of the skin's colour
/// taken away at its centre), and its half-width in px.
const LASH_DARK: f32 = 0.55;
const LASH_HALF: f32 = 1.0;

/// y of the polyline through `pts` (ordered by x) at `x`, if `x` is within it.
fn polyline_y(pts: &[[f32; 2]], x: f32) -> Option<f32> {
    pts.windows(2).find_map(|s| {
        let (a, b) = (s[0], s[1]);
        let (lo, hi) = (a[0].min(b[0]), a[0].max(b[0]));
        (x >= lo && x <= hi && hi > lo).then(|| a[1] + (x - a[0]) / (b[0] - a[0]) * (b[1] - a[1]))
    })
}

/// RGB of the output pixel at column `x`, row `y` clamped into the image.
fn pixel(out: &[u8], w: usize, h: usize, x: usize, y: isize) -> [f32; 3] {
    let o = (y.clamp(0, h as isize - 1) as usize * w + x) * 4;
    [out[o], out[o + 1], out[o + 2]].map(f32::from)
}

/// Draws closing eyelids: where a driven eye opens less than [`LID_FROM`] of the
/// source's, its opening (the 16-point eye contour), grown by [`LID_REACH`], is covered
/// column by column with the skin just above and below it (a vertical blend, so the
/// lid keeps the face's shading), with a soft lash line where the lids meet; the more
/// the closer the eye is to shut. The warp alone only squashes the eye.
pub fn paint_eyelids(
    source: &[[f32; 2]],
    targets: &[[f32; 2]],
    out: &mut [u8],
    w: usize,
    h: usize,
) {
    if w == 0 || h == 0 || out.len() < w * h * 4 {
        return;
    }
    for contour in [&EYE_LEFT_CONTOUR, &EYE_RIGHT_CONTOUR] {
        let alpha = eyelid_alpha(source, targets, contour);
        if alpha <= 0.05 {
            continue;
        }
        // Lower lid 0..=8 left to right; the upper lid from corner 0 over 9..=15 to 8.
        let lower: [[f32; 2]; 9] = std::array::from_fn(|k| targets[contour[k]]);
        let upper: [[f32; 2]; 9] = std::array::from_fn(|k| match k {
            0 => targets[contour[0]],
            8 => targets[contour[8]],
            _ => targets[contour[8 + k]],
        });
        let (x0, x1) = (lower[0][0].min(lower[8][0]), lower[0][0].max(lower[8][0]));
        if !(x0.is_finite() && x1.is_finite()) || x1 - x0 < 1.0 {
            continue;
        }
        let reach = (LID_REACH * dist(lower[0], lower[8])).max(1.0);
        let first = (x0.floor().max(0.0) as usize).min(w);
        let last = (x1.ceil().max(0.0) as usize).min(w);
        for x in first..last {
            let xc = x as f32 + 0.5;
            let (Some(yu), Some(yl)) = (polyline_y(&upper, xc), polyline_y(&lower, xc)) else {
                continue;
            };
            let taper = (std::f32::consts::PI * (xc - x0) / (x1 - x0)).sin();
            let g = reach * taper;
            let (top, bottom) = (yu.min(yl) - g, yu.max(yl) + g);
            let meet = (yu + yl) / 2.0;
            // The skin just outside the grown lid, above and below.
            let (ya, yb) = (
                (top - 0.5).floor() as isize,
                (bottom - 0.5).ceil() as isize + 1,
            );
            let (above, below) = (pixel(out, w, h, x, ya - 1), pixel(out, w, h, x, yb));
            for y in (ya.max(0) as usize)..(yb.max(0) as usize).min(h) {
                let yc = y as f32 + 0.5;
                // Pixel centres strictly inside the grown lid.
                if yc <= top || yc >= bottom {
                    continue;
                }
                let t = (yc - top) / (bottom - top);
                let lash = 1.0 - LASH_DARK * alpha * (-((yc - meet) / LASH_HALF).powi(2)).exp();
                let o = (y * w + x) * 4;
                for c in 0..3 {
                    let skin = (above[c] + (below[c] - above[c]) * t) * lash;
                    let p = out[o + c] as f32;
                    out[o + c] = (p + (skin - p) * alpha).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 468-point layout with a mouth and two eyes drawn as ellipses: lips parted by
    /// `gap` px, eyes open by `eye` px, on a 100×100 image.
    fn face(gap: f32, eye: f32) -> Vec<[f32; 2]> {
        let mut p = vec![[50.0, 50.0]; 468];
        // Inner lips: lower half of the ring below y=70, upper half above.
        for (k, &i) in INNER_LIPS.iter().enumerate() {
            let t = k as f32 / 10.0 * std::f32::consts::PI;
            let (x, y) = (50.0 - 15.0 * t.cos(), 70.0 + gap / 2.0 * t.sin());
            p[i] = [x, y];
        }
        for (cx, c) in [(30.0, &EYE_LEFT_CONTOUR), (70.0, &EYE_RIGHT_CONTOUR)] {
            for (k, &i) in c.iter().enumerate() {
                // 0..=8 lower lid left to right, 9..=15 upper lid left to right.
                let (t, s) = if k <= 8 {
                    (k as f32 / 8.0, 1.0)
                } else {
                    ((k - 8) as f32 / 8.0, -1.0)
                };
                let a = t * std::f32::consts::PI;
                p[i] = [cx - 8.0 * a.cos(), 40.0 + s * eye / 2.0 * a.sin()];
            }
        }
        p
    }

    fn image(rgb: [u8; 3]) -> Vec<u8> {
        [rgb[0], rgb[1], rgb[2], 255].repeat(100 * 100)
    }

    fn px(img: &[u8], x: usize, y: usize) -> [u8; 3] {
        let o = (y * 100 + x) * 4;
        [img[o], img[o + 1], img[o + 2]]
    }

    /// Paints `rgb` over columns `xs` × rows `ys` of a 100-px-wide image of `bpp` bytes
    /// a pixel.
    fn fill(
        img: &mut [u8],
        bpp: usize,
        xs: std::ops::Range<usize>,
        ys: std::ops::Range<usize>,
        rgb: [u8; 3],
    ) {
        for y in ys {
            for x in xs.clone() {
                let o = (y * 100 + x) * bpp;
                img[o..o + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Skin with blue-white "teeth" (a colour nothing drawn has) inside a smile 6 px
    /// apart (`face(6.0, …)`).
    fn smile_teeth() -> Vec<u8> {
        let mut rgba = image([200, 150, 120]);
        fill(&mut rgba, 4, 36..64, 64..76, [200, 220, 255]);
        rgba
    }

    fn lum(c: [u8; 3]) -> f32 {
        luma(c.map(f32::from))
    }

    #[test]
    fn a_drawn_interior_only_where_wider_than_the_portrait() {
        use crate::PixelFormat;
        let closed = face(1.0, 6.0);
        let open = face(16.0, 6.0);
        assert_eq!(mouth_alpha(&closed, &closed), 0.0);
        assert_eq!(mouth_alpha(&open, &closed), 0.0, "closing paints nothing");
        assert_eq!(mouth_alpha(&closed, &open), 1.0);
        // Skin with lips a darker red along the outer lip contour's points (all at
        // (50, 50) in this toy face, where the colour is sampled).
        let mut skin = image([200, 150, 120]);
        fill(&mut skin, 4, 47..54, 47..54, [170, 90, 90]);
        let portrait_rgba = skin.clone();
        let portrait = FrameRef::packed(PixelFormat::Rgba, 100, 100, &portrait_rgba).unwrap();
        let mut out = skin.clone();
        synth_mouth(&portrait, &closed, &open, &mut out, 100, 100);
        // The opening spans y 62..78 at x 50: teeth under the upper lip, a dark cavity,
        // a tongue on the lower lip; the portrait outside it untouched.
        let (teeth, cavity, tongue) = (px(&out, 50, 63), px(&out, 50, 68), px(&out, 50, 75));
        println!("teeth {teeth:?} cavity {cavity:?} tongue {tongue:?}");
        assert!(lum(teeth) > 150.0 && teeth[2] > 130, "teeth {teeth:?}");
        assert!(lum(cavity) < 45.0, "cavity {cavity:?}");
        assert!(
            tongue[0] > tongue[1] + 20 && lum(tongue) > lum(cavity) + 20.0,
            "{tongue:?}"
        );
        assert_eq!(px(&out, 50, 40), [200, 150, 120]);
        // Deterministic: the same input paints the same pixels (no flicker).
        let mut again = skin.clone();
        synth_mouth(&portrait, &closed, &open, &mut again, 100, 100);
        assert_eq!(again, out);
        // As open as the portrait: nothing to paint.
        let mut same = skin.clone();
        synth_mouth(&portrait, &open, &open, &mut same, 100, 100);
        assert_eq!(same, skin);
    }

    #[test]
    fn the_portraits_own_teeth_stay_under_its_upper_lip() {
        use crate::PixelFormat;
        // The portrait smiles with its lips 6 px apart, showing blue-white "teeth"
        // (a colour nothing drawn has), and is driven to 16 px.
        let smile = face(6.0, 6.0);
        let open = face(16.0, 6.0);
        let rgba = smile_teeth();
        let portrait = FrameRef::packed(PixelFormat::Rgba, 100, 100, &rgba).unwrap();
        let mut out = image([200, 150, 120]);
        synth_mouth(&portrait, &smile, &open, &mut out, 100, 100);
        // Right under the upper lip: the portrait's own teeth; below its own 6 px, the
        // drawn tongue.
        let top = px(&out, 50, 64);
        let below = px(&out, 50, 73);
        assert!(top[2] > 200 && top[2] > top[0], "own teeth kept: {top:?}");
        assert!(
            below[2] < 150 && below[0] > below[2],
            "drawn below the own opening: {below:?}"
        );
    }

    #[test]
    fn the_drivers_own_mouth_fills_the_opening() {
        use crate::PixelFormat;
        let closed = face(1.0, 6.0);
        let open = face(12.0, 6.0);
        // The driver: skin, with a teeth-white interior inside its open lips.
        let driver: Vec<[f32; 3]> = open.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let mut rgb = [200u8, 150, 120].repeat(100 * 100);
        for y in 0..100 {
            for x in 0..100 {
                let (dx, dy) = (
                    (x as f32 + 0.5 - 50.0) / 15.0,
                    (y as f32 + 0.5 - 70.0) / 6.0,
                );
                if dx * dx + dy * dy < 1.3 {
                    rgb[(y * 100 + x) * 3..(y * 100 + x) * 3 + 3].copy_from_slice(&[240, 240, 230]);
                }
            }
        }
        let frame = FrameRef::packed(PixelFormat::Rgb, 100, 100, &rgb).unwrap();
        let skin = image([200, 150, 120]);

        let mut out = skin.clone();
        assert_eq!(
            transfer_mouth(&frame, &frame, &driver, &closed, &open, &mut out, 100, 100),
            Ok(())
        );
        let c = px(&out, 50, 70);
        assert!(c[0] > 230 && c[2] > 220, "interior from the driver: {c:?}");
        assert_eq!(px(&out, 50, 40), [200, 150, 120], "outside untouched");
        // The opening's edge is feathered: between skin and teeth.
        let edge = px(&out, 50, 75);
        assert!(edge[2] > 120 && edge[2] < 230, "feathered edge {edge:?}");

        // The portrait's own opening as wide: nothing to paint.
        let mut out = skin.clone();
        let r = transfer_mouth(&frame, &frame, &driver, &open, &open, &mut out, 100, 100);
        assert_eq!(r, Err(NoTransfer::NotOpen));
        assert_eq!(out, skin);
        // A closed driver mouth cannot fill a dubbed opening.
        let shut: Vec<[f32; 3]> = closed.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let r = transfer_mouth(&frame, &frame, &shut, &closed, &open, &mut out, 100, 100);
        assert_eq!(r, Err(NoTransfer::DriverClosed));
        // A blank (black) driving frame, as a talking avatar's.
        let black = vec![0u8; 100 * 100 * 3];
        let blank = FrameRef::packed(PixelFormat::Rgb, 100, 100, &black).unwrap();
        let r = transfer_mouth(&blank, &frame, &driver, &closed, &open, &mut out, 100, 100);
        assert_eq!(r, Err(NoTransfer::NoPicture));
        assert_eq!(out, skin);
        // A hand over the driver's mouth: skin where its interior would show, a little
        // lighter and redder than the cheeks (at (50, 50) in this toy face).
        let mut covered = [200u8, 150, 120].repeat(100 * 100);
        fill(&mut covered, 3, 30..70, 60..80, [214, 158, 126]);
        let hand = FrameRef::packed(PixelFormat::Rgb, 100, 100, &covered).unwrap();
        let r = transfer_mouth(&hand, &frame, &driver, &closed, &open, &mut out, 100, 100);
        assert_eq!(r, Err(NoTransfer::Occluded));
        assert_eq!(out, skin);
        // A finger across one corner only: little of the whole opening, all of a
        // column of it.
        let mut corner = rgb.clone();
        fill(&mut corner, 3, 30..39, 55..85, [214, 158, 126]);
        let finger = FrameRef::packed(PixelFormat::Rgb, 100, 100, &corner).unwrap();
        let ring = Ring::from(|i| [driver[i][0], driver[i][1]]);
        let (share, column) = skin_share(&finger, &ring, [200.0, 150.0, 120.0]);
        assert!(
            share < OCCLUDED_SHARE && column >= OCCLUDED_COLUMN,
            "{share} {column}"
        );
        let r = transfer_mouth(&finger, &frame, &driver, &closed, &open, &mut out, 100, 100);
        assert_eq!(r, Err(NoTransfer::Occluded));
        assert_eq!(out, skin);
    }

    #[test]
    fn a_smiles_teeth_stay_when_a_driver_opens_the_mouth() {
        use crate::PixelFormat;
        // The portrait smiles 6 px apart with blue-white "teeth"; the driver's mouth,
        // open 16 px, is dark inside (no teeth showing).
        let smile = face(6.0, 6.0);
        let open = face(16.0, 6.0);
        let rgba = smile_teeth();
        let portrait = FrameRef::packed(PixelFormat::Rgba, 100, 100, &rgba).unwrap();
        let mut rgb = [200u8, 150, 120].repeat(100 * 100);
        fill(&mut rgb, 3, 35..66, 62..79, [40, 20, 20]);
        let frame = FrameRef::packed(PixelFormat::Rgb, 100, 100, &rgb).unwrap();
        let driver: Vec<[f32; 3]> = open.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let mut out = image([200, 150, 120]);
        assert_eq!(
            transfer_mouth(
                &frame, &portrait, &driver, &smile, &open, &mut out, 100, 100
            ),
            Ok(())
        );
        let (top, below) = (px(&out, 50, 64), px(&out, 50, 73));
        assert!(top[2] > 200 && top[2] > top[0], "own teeth kept: {top:?}");
        assert!(lum(below) < 80.0, "the driver's interior below: {below:?}");
    }

    #[test]
    fn eyelids_close_with_skin_from_above() {
        let open = face(1.0, 6.0);
        let shut = face(1.0, 0.5);
        assert_eq!(eyelid_alpha(&open, &open, &EYE_LEFT_CONTOUR), 0.0);
        assert_eq!(eyelid_alpha(&open, &shut, &EYE_LEFT_CONTOUR), 1.0);
        // Skin around the eyes, a dark eye opening (rows 39..41): the lid covers it
        // with the skin.
        let mut img = image([210, 170, 140]);
        fill(&mut img, 4, 0..100, 39..41, [40, 40, 40]);
        let before = img.clone();
        paint_eyelids(&open, &open, &mut img, 100, 100);
        assert_eq!(img, before, "an eye as open as the source's is left alone");
        // Half open: still the portrait's own eye.
        let half = face(1.0, 3.0);
        paint_eyelids(&open, &half, &mut img, 100, 100);
        assert_eq!(img, before, "a half-open eye is left alone");
        // Nearly shut (an eye 10 px open driven to 1.2 px, 0.12 of it): the opening
        // and a pixel past it get the skin from around it, almost opaque, darkened
        // along the line where the lids meet.
        let (wide, nearly) = (face(1.0, 10.0), face(1.0, 1.2));
        assert!((eyelid_alpha(&wide, &nearly, &EYE_LEFT_CONTOUR) - 0.9).abs() < 0.02);
        paint_eyelids(&wide, &nearly, &mut img, 100, 100);
        let (lid, lash) = (px(&img, 30, 38), px(&img, 30, 39));
        assert!(
            lid[0] > 190 && lid[0] <= 210,
            "skin just above the lash line: {lid:?}"
        );
        assert!(
            lash[0] > 90 && lash[0] < lid[0] - 20,
            "a softer lash line: {lash:?}"
        );
        // The dark opening (40) under the lash line is skin now, in both eyes.
        let c = px(&img, 30, 40);
        assert!(c[0] > 90, "left eye covered with skin: {c:?}");
        let c = px(&img, 70, 40);
        assert!(c[0] > 90, "right eye covered with skin: {c:?}");
        // Outside the eyes nothing changed.
        assert_eq!(px(&img, 50, 40), [40, 40, 40]);
        assert_eq!(px(&img, 30, 30), [210, 170, 140]);
    }
}
