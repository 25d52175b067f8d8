// SPDX-License-Identifier: MIT

//! Minimal drawing on raw frames, for `faceoverlay`: lines, rectangles, dots and
//! digits, in any accepted pixel format.

use crate::frame::FrameMut;

/// Draws a line `thickness` pixels wide from (x0, y0) to (x1, y1).
pub fn line(f: &mut FrameMut, x0: f32, y0: f32, x1: f32, y1: f32, thickness: i64, rgb: [u8; 3]) {
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return;
    }
    // Clip very long lines to a generous box around the frame to bound the work.
    let lim = 4.0 * (f.width + f.height) as f32;
    let (x0, y0, x1, y1) = (
        x0.clamp(-lim, lim),
        y0.clamp(-lim, lim),
        x1.clamp(-lim, lim),
        y1.clamp(-lim, lim),
    );
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as i64;
    let r0 = -(thickness - 1) / 2;
    let r1 = thickness / 2;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let x = (x0 + (x1 - x0) * t).round() as i64;
        let y = (y0 + (y1 - y0) * t).round() as i64;
        for dy in r0..=r1 {
            for dx in r0..=r1 {
                f.put(x + dx, y + dy, rgb);
            }
        }
    }
}

/// Rectangle outline with top-left (x, y) and size (w, h).
pub fn rect(f: &mut FrameMut, x: f32, y: f32, w: f32, h: f32, thickness: i64, rgb: [u8; 3]) {
    line(f, x, y, x + w, y, thickness, rgb);
    line(f, x + w, y, x + w, y + h, thickness, rgb);
    line(f, x + w, y + h, x, y + h, thickness, rgb);
    line(f, x, y + h, x, y, thickness, rgb);
}

/// Filled square dot of `radius` around (x, y).
pub fn dot(f: &mut FrameMut, x: f32, y: f32, radius: i64, rgb: [u8; 3]) {
    if !(x.is_finite() && y.is_finite()) {
        return;
    }
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if dx * dx + dy * dy <= radius * radius {
                f.put(cx + dx, cy + dy, rgb);
            }
        }
    }
}

// 3×5 bitmaps of 0-9 and '.', one row per 3 bits (MSB left).
const GLYPHS: [[u8; 5]; 11] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
    [0, 0, 0, 0, 2],
];

/// Writes `text` (digits and '.') with its top-left at (x, y), each glyph cell
/// `scale` pixels. Other characters leave a gap.
pub fn text(f: &mut FrameMut, x: f32, y: f32, text: &str, scale: i64, rgb: [u8; 3]) {
    if !(x.is_finite() && y.is_finite()) {
        return;
    }
    let (x, y) = (x.round() as i64, y.round() as i64);
    for (i, ch) in text.chars().enumerate() {
        let g = match ch {
            '0'..='9' => GLYPHS[ch as usize - '0' as usize],
            '.' => GLYPHS[10],
            _ => continue,
        };
        let gx = x + i as i64 * 4 * scale;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            f.put(gx + col * scale + dx, y + row as i64 * scale + dy, rgb);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    #[test]
    fn rect_outline_only_and_clipped() {
        let mut buf = vec![0u8; 20 * 10 * 3];
        {
            let mut f = FrameMut::new(
                PixelFormat::Rgb,
                20,
                10,
                [(&mut buf, 60), (&mut [], 0), (&mut [], 0)],
            )
            .unwrap();
            rect(&mut f, 2.0, 2.0, 5.0, 5.0, 1, [255, 0, 0]);
            rect(&mut f, -100.0, -100.0, 1e9, 1e9, 3, [0, 255, 0]); // mostly off-frame
            line(&mut f, f32::NAN, 0.0, 3.0, 3.0, 1, [0, 0, 255]); // ignored
        }
        let px = |x: usize, y: usize| &buf[(y * 20 + x) * 3..(y * 20 + x) * 3 + 3];
        assert_eq!(px(2, 2), &[255, 0, 0]);
        assert_eq!(px(7, 4), &[255, 0, 0]);
        assert_eq!(px(4, 4), &[0, 0, 0]); // inside stays untouched
    }

    #[test]
    fn digits_render() {
        let mut buf = vec![0u8; 16 * 8 * 3];
        {
            let mut f = FrameMut::new(
                PixelFormat::Rgb,
                16,
                8,
                [(&mut buf, 48), (&mut [], 0), (&mut [], 0)],
            )
            .unwrap();
            text(&mut f, 0.0, 0.0, "1.", 1, [255, 255, 255]);
        }
        let lit = buf.chunks(3).filter(|p| p[0] == 255).count();
        assert_eq!(lit, 8 + 1); // '1' has 8 lit cells, '.' one
    }
}
