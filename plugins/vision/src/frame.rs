// SPDX-License-Identifier: MIT

//! Borrowed views of raw video frames in the formats the elements accept, with the
//! per-format pixel access the rest of the crate builds on.

/// Pixel layouts accepted without a `videoconvert` in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Bgrx,
    Rgbx,
    I420,
    Nv12,
}

impl PixelFormat {
    /// For packed formats: (bytes per pixel, offsets of R, G, B).
    pub fn packed_layout(self) -> Option<(usize, [usize; 3])> {
        match self {
            PixelFormat::Rgb => Some((3, [0, 1, 2])),
            PixelFormat::Bgr => Some((3, [2, 1, 0])),
            PixelFormat::Rgba | PixelFormat::Rgbx => Some((4, [0, 1, 2])),
            PixelFormat::Bgra | PixelFormat::Bgrx => Some((4, [2, 1, 0])),
            PixelFormat::I420 | PixelFormat::Nv12 => None,
        }
    }

    pub fn n_planes(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }
}

/// One plane: its bytes (starting at the plane's first row) and its row stride.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// A read-only frame. Planes not used by the format are empty.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [Plane<'a>; 3],
}

/// Error for a frame whose planes are too small for its size/stride.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for FrameError {}

/// Sizes (width, height in samples, bytes per sample group) of each plane.
fn plane_dims(format: PixelFormat, w: usize, h: usize) -> [(usize, usize); 3] {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format.packed_layout() {
        Some((bpp, _)) => [(w * bpp, h), (0, 0), (0, 0)],
        None if format == PixelFormat::I420 => [(w, h), (cw, ch), (cw, ch)],
        None => [(w, h), (cw * 2, ch), (0, 0)],
    }
}

fn check_planes(
    format: PixelFormat,
    width: usize,
    height: usize,
    lens_strides: [(usize, usize); 3],
) -> Result<(), FrameError> {
    for (i, ((row_bytes, rows), (len, stride))) in plane_dims(format, width, height)
        .into_iter()
        .zip(lens_strides)
        .enumerate()
        .take(format.n_planes())
    {
        if stride < row_bytes {
            return Err(FrameError(format!(
                "plane {i}: stride {stride} < row size {row_bytes}"
            )));
        }
        let need = if rows == 0 {
            0
        } else {
            stride * (rows - 1) + row_bytes
        };
        if len < need {
            return Err(FrameError(format!(
                "plane {i}: {len} bytes < {need} needed"
            )));
        }
    }
    Ok(())
}

impl<'a> FrameRef<'a> {
    /// Checks that the planes hold `width`×`height` pixels of `format`.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: [Plane<'a>; 3],
    ) -> Result<Self, FrameError> {
        check_planes(
            format,
            width,
            height,
            planes.map(|p| (p.data.len(), p.stride)),
        )?;
        Ok(FrameRef {
            format,
            width,
            height,
            planes,
        })
    }

    /// A tightly packed frame in one contiguous buffer (tests, tools).
    pub fn packed(
        format: PixelFormat,
        width: usize,
        height: usize,
        data: &'a [u8],
    ) -> Result<Self, FrameError> {
        let dims = plane_dims(format, width, height);
        let mut planes = [Plane {
            data: &[],
            stride: 0,
        }; 3];
        let mut off = 0;
        for (i, (row, rows)) in dims.into_iter().enumerate().take(format.n_planes()) {
            let len = row * rows;
            let end = (off + len).min(data.len());
            planes[i] = Plane {
                data: &data[off.min(end)..end],
                stride: row,
            };
            off += len;
        }
        Self::new(format, width, height, planes)
    }

    /// The part of a packed frame inside a `margin` px frame (a view, no copy); `None`
    /// for planar formats or a margin that leaves nothing.
    pub fn inset(&self, margin: usize) -> Option<FrameRef<'a>> {
        let (bpp, _) = self.format.packed_layout()?;
        let (w, h) = (
            self.width.checked_sub(2 * margin).filter(|&w| w > 0)?,
            self.height.checked_sub(2 * margin).filter(|&h| h > 0)?,
        );
        let p = self.planes[0];
        let data = p.data.get(margin * p.stride + margin * bpp..)?;
        let none = Plane {
            data: &[],
            stride: 0,
        };
        FrameRef::new(
            self.format,
            w,
            h,
            [
                Plane {
                    data,
                    stride: p.stride,
                },
                none,
                none,
            ],
        )
        .ok()
    }

    /// RGB of pixel (x, y), which must be inside the frame. BT.601 limited range for YUV.
    #[inline]
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        match self.format.packed_layout() {
            Some((bpp, o)) => {
                let p = &self.planes[0];
                let i = y * p.stride + x * bpp;
                [p.data[i + o[0]], p.data[i + o[1]], p.data[i + o[2]]]
            }
            None => {
                let yv = self.planes[0].data[y * self.planes[0].stride + x];
                let (u, v) = self.chroma(x / 2, y / 2);
                let c = yuv_to_rgb(yv as f32, u as f32, v as f32);
                c.map(|v| v.clamp(0.0, 255.0) as u8)
            }
        }
    }

    /// Chroma (U, V) at chroma-plane coordinates.
    #[inline]
    pub(crate) fn chroma(&self, cx: usize, cy: usize) -> (u8, u8) {
        if self.format == PixelFormat::I420 {
            let (pu, pv) = (&self.planes[1], &self.planes[2]);
            (pu.data[cy * pu.stride + cx], pv.data[cy * pv.stride + cx])
        } else {
            let p = &self.planes[1];
            let i = cy * p.stride + cx * 2;
            (p.data[i], p.data[i + 1])
        }
    }
}

/// BT.601 limited-range YUV → RGB (unclamped).
#[inline]
pub fn yuv_to_rgb(y: f32, u: f32, v: f32) -> [f32; 3] {
    let c = 1.164 * (y - 16.0);
    let d = u - 128.0;
    let e = v - 128.0;
    [c + 1.596 * e, c - 0.392 * d - 0.813 * e, c + 2.017 * d]
}

/// BT.601 limited-range RGB → YUV.
#[inline]
pub fn rgb_to_yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|v| v as f32);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

/// A writable frame, for drawing.
#[derive(Debug)]
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [(&'a mut [u8], usize); 3],
}

impl<'a> FrameMut<'a> {
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: [(&'a mut [u8], usize); 3],
    ) -> Result<Self, FrameError> {
        check_planes(
            format,
            width,
            height,
            [0, 1, 2].map(|i| (planes[i].0.len(), planes[i].1)),
        )?;
        Ok(FrameMut {
            format,
            width,
            height,
            planes,
        })
    }

    /// Sets pixel (x, y) to `rgb` if it is inside the frame. For subsampled formats the
    /// chroma of the 2×2 block is set too.
    #[inline]
    pub fn put(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let (x, y) = (x as usize, y as usize);
        match self.format.packed_layout() {
            Some((bpp, o)) => {
                let (data, stride) = (&mut *self.planes[0].0, self.planes[0].1);
                let i = y * stride + x * bpp;
                data[i + o[0]] = rgb[0];
                data[i + o[1]] = rgb[1];
                data[i + o[2]] = rgb[2];
            }
            None => {
                let [yv, u, v] = rgb_to_yuv(rgb);
                let s0 = self.planes[0].1;
                self.planes[0].0[y * s0 + x] = yv;
                let (cx, cy) = (x / 2, y / 2);
                if self.format == PixelFormat::I420 {
                    let (s1, s2) = (self.planes[1].1, self.planes[2].1);
                    self.planes[1].0[cy * s1 + cx] = u;
                    self.planes[2].0[cy * s2 + cx] = v;
                } else {
                    let s1 = self.planes[1].1;
                    self.planes[1].0[cy * s1 + cx * 2] = u;
                    self.planes[1].0[cy * s1 + cx * 2 + 1] = v;
                }
            }
        }
    }

    pub fn as_ref(&self) -> FrameRef<'_> {
        let p = |i: usize| Plane {
            data: &*self.planes[i].0,
            stride: self.planes[i].1,
        };
        FrameRef {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: [p(0), p(1), p(2)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rejects_short_buffers() {
        assert!(FrameRef::packed(PixelFormat::Rgb, 4, 4, &[0; 47]).is_err());
        assert!(FrameRef::packed(PixelFormat::Rgb, 4, 4, &[0; 48]).is_ok());
        // I420 3×5: Y 15, U 2×3, V 2×3.
        assert!(FrameRef::packed(PixelFormat::I420, 3, 5, &[0; 27]).is_ok());
        assert!(FrameRef::packed(PixelFormat::I420, 3, 5, &[0; 26]).is_err());
    }

    #[test]
    fn inset_views_the_inner_part() {
        // 5×4 RGB whose pixel (x, y) is [x, y, 7].
        let d: Vec<u8> = (0..4)
            .flat_map(|y| (0..5).flat_map(move |x| [x, y, 7]))
            .collect();
        let f = FrameRef::packed(PixelFormat::Rgb, 5, 4, &d).unwrap();
        let i = f.inset(1).unwrap();
        assert_eq!((i.width, i.height, i.planes[0].stride), (3, 2, 15));
        assert_eq!(i.rgb(0, 0), [1, 1, 7]);
        assert_eq!(i.rgb(2, 1), [3, 2, 7]);
        assert!(f.inset(2).is_none());
        assert!(f.inset(0).is_some());
        let yuv = [0u8; 27];
        assert!(
            FrameRef::packed(PixelFormat::I420, 3, 5, &yuv)
                .unwrap()
                .inset(0)
                .is_none()
        );
    }

    #[test]
    fn yuv_round_trip_is_close() {
        for rgb in [[0, 0, 0], [255, 255, 255], [200, 30, 90], [10, 240, 120]] {
            let [y, u, v] = rgb_to_yuv(rgb);
            let back = yuv_to_rgb(y as f32, u as f32, v as f32);
            for c in 0..3 {
                assert!((back[c] - rgb[c] as f32).abs() < 4.0, "{rgb:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn put_and_read_every_format() {
        use PixelFormat::*;
        for fmt in [Rgb, Bgr, Rgba, Bgra, Bgrx, Rgbx, I420, Nv12] {
            let (w, h) = (6, 4);
            let mut buf = vec![0u8; 6 * 4 * 4];
            let dims = plane_dims(fmt, w, h);
            let mut rest: &mut [u8] = &mut buf;
            let mut planes: [(&mut [u8], usize); 3] = [(&mut [], 0), (&mut [], 0), (&mut [], 0)];
            for (i, (row, rows)) in dims.into_iter().enumerate() {
                let (a, b) = rest.split_at_mut(row * rows);
                planes[i] = (a, row);
                rest = b;
            }
            let mut f = FrameMut::new(fmt, w, h, planes).unwrap();
            f.put(3, 2, [200, 100, 50]);
            f.put(-1, 0, [1, 1, 1]); // outside: ignored
            let got = f.as_ref().rgb(3, 2);
            for c in 0..3 {
                assert!(
                    (got[c] as i32 - [200, 100, 50][c]).abs() <= 3,
                    "{fmt:?} {got:?}"
                );
            }
        }
    }
}
