// SPDX-License-Identifier: MIT

//! What a mesh warp alone cannot show, painted over the warped RGBA portrait: the
//! mouth interior where the driven lips part wider than the source's, and closing
//! eyelids where the driven eyes open less. Both compare the source's landmark layout
//! with the driven one (468 FaceMesh points, output pixels) and do nothing when the
//! driven face is not more open / more closed than the source.

use crate::draw::fill_polygon_rgba;
use crate::landmarks::{
    EYE_LEFT_CONTOUR, EYE_RIGHT_CONTOUR, INNER_LIPS, LIP_LOWER_INNER, LIP_UPPER_INNER,
    MOUTH_INNER_LEFT, MOUTH_INNER_RIGHT,
};

/// Colour of the painted mouth interior.
pub const MOUTH_RGB: [u8; 3] = [48, 18, 22];

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Opacity of the mouth interior: how much wider than the source's the lips part (gap
/// over inner-mouth width); it fades in over the first 0.15 of that, so a source that
/// already shows its teeth keeps them for small openings. 0 when not wider.
pub fn mouth_alpha(source: &[[f32; 2]], targets: &[[f32; 2]]) -> f32 {
    if targets.len() < 468 || source.len() < 468 {
        return 0.0;
    }
    let ratio = |p: &[[f32; 2]]| {
        dist(p[LIP_UPPER_INNER], p[LIP_LOWER_INNER])
            / dist(p[MOUTH_INNER_LEFT], p[MOUTH_INNER_RIGHT]).max(1.0)
    };
    let opened = ratio(targets) - ratio(source);
    ((opened - 0.02) / 0.15).clamp(0.0, 0.9)
}

/// Paints the driven inner-lip polygon dark where it is open wider than the source's.
pub fn paint_mouth(source: &[[f32; 2]], targets: &[[f32; 2]], out: &mut [u8], w: usize, h: usize) {
    let alpha = mouth_alpha(source, targets);
    if alpha <= 0.0 {
        return;
    }
    let poly = INNER_LIPS.map(|i| targets[i]);
    fill_polygon_rgba(out, w, h, &poly, MOUTH_RGB, alpha);
}

/// Lid gap over eye width of one eye, from its 16-point contour: lid pairs (upper,
/// lower) 11/3, 12/4, 13/5 across the middle, corners 0 and 8.
fn eye_ratio(p: &[[f32; 2]], c: &[usize; 16]) -> f32 {
    let gap = (dist(p[c[11]], p[c[3]]) + dist(p[c[12]], p[c[4]]) + dist(p[c[13]], p[c[5]])) / 3.0;
    gap / dist(p[c[0]], p[c[8]]).max(1.0)
}

/// Opacity of a closing eyelid over the eye of `contour`: 0 while the driven eye is as
/// open as the source's, reaching 1 when it has closed by 1/1.6 of that.
pub fn eyelid_alpha(source: &[[f32; 2]], targets: &[[f32; 2]], contour: &[usize; 16]) -> f32 {
    if targets.len() < 468 || source.len() < 468 {
        return 0.0;
    }
    let (rs, rt) = (eye_ratio(source, contour), eye_ratio(targets, contour));
    if rs <= 1e-3 {
        return 0.0;
    }
    ((1.0 - rt / rs) * 1.6).clamp(0.0, 1.0)
}

/// Mean RGB of the 5×5 patch around (`cx`, `cy`) inside the image, if any of it is.
fn patch_mean(out: &[u8], w: usize, h: usize, cx: isize, cy: isize) -> Option<[u8; 3]> {
    let mut acc = [0u32; 3];
    let mut n = 0;
    for y in cy - 2..=cy + 2 {
        for x in cx - 2..=cx + 2 {
            if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                let o = (y as usize * w + x as usize) * 4;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += out[o + c] as u32;
                }
                n += 1;
            }
        }
    }
    (n > 0).then(|| acc.map(|v| (v / n) as u8))
}

/// Draws closing eyelids: where a driven eye opens less than the source's, its opening
/// (the 16-point eye contour) is covered with the skin just above the upper lid, the
/// more the closer it is to shut. The warp alone only squashes the eye.
pub fn paint_eyelids(
    source: &[[f32; 2]],
    targets: &[[f32; 2]],
    out: &mut [u8],
    w: usize,
    h: usize,
) {
    for contour in [&EYE_LEFT_CONTOUR, &EYE_RIGHT_CONTOUR] {
        let alpha = eyelid_alpha(source, targets, contour);
        if alpha <= 0.05 {
            continue;
        }
        // Skin colour: a small patch above the upper lid's middle, in the output.
        let up = targets[contour[12]];
        let lift = 0.3 * dist(targets[contour[0]], targets[contour[8]]);
        let Some(skin) = patch_mean(
            out,
            w,
            h,
            up[0].round() as isize,
            (up[1] - lift).round() as isize,
        ) else {
            continue;
        };
        // Lower lid 0..=8, then the upper lid back from 15 to 9: the eye opening.
        let mut poly = [[0f32; 2]; 16];
        for (k, &i) in contour[..9]
            .iter()
            .chain(contour[9..].iter().rev())
            .enumerate()
        {
            poly[k] = targets[i];
        }
        fill_polygon_rgba(out, w, h, &poly, skin, alpha);
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

    #[test]
    fn mouth_interior_only_where_wider_than_the_source() {
        let closed = face(1.0, 6.0);
        let open = face(12.0, 6.0);
        assert_eq!(mouth_alpha(&closed, &closed), 0.0);
        assert_eq!(mouth_alpha(&open, &closed), 0.0, "closing paints nothing");
        let a = mouth_alpha(&closed, &open);
        assert!(a > 0.5 && a <= 0.9, "alpha {a}");
        let mut img = image([200, 150, 120]);
        paint_mouth(&closed, &open, &mut img, 100, 100);
        let inside = px(&img, 50, 72);
        assert!(inside[0] < 120, "mouth centre darkened: {inside:?}");
        assert_eq!(px(&img, 50, 40), [200, 150, 120], "outside untouched");
        let mut same = image([200, 150, 120]);
        paint_mouth(&open, &open, &mut same, 100, 100);
        assert_eq!(same, image([200, 150, 120]));
    }

    #[test]
    fn eyelids_close_with_skin_from_above() {
        let open = face(1.0, 6.0);
        let shut = face(1.0, 0.5);
        assert_eq!(eyelid_alpha(&open, &open, &EYE_LEFT_CONTOUR), 0.0);
        assert_eq!(eyelid_alpha(&open, &shut, &EYE_LEFT_CONTOUR), 1.0);
        // Skin above the eyes, a dark eye opening: the lid covers it with the skin.
        let mut img = image([40, 40, 40]);
        for y in 0..37 {
            for x in 0..100 {
                let o = (y * 100 + x) * 4;
                img[o..o + 3].copy_from_slice(&[210, 170, 140]);
            }
        }
        let before = img.clone();
        paint_eyelids(&open, &open, &mut img, 100, 100);
        assert_eq!(img, before, "an eye as open as the source's is left alone");
        // Driven half shut: the opening (still 3 px) gets the skin colour.
        let half = face(1.0, 3.0);
        paint_eyelids(&open, &half, &mut img, 100, 100);
        let c = px(&img, 30, 40);
        assert!(c[0] > 150, "left eye covered with skin: {c:?}");
        let c = px(&img, 70, 40);
        assert!(c[0] > 150, "right eye covered with skin: {c:?}");
    }
}
