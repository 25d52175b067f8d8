// SPDX-License-Identifier: MIT

//! Raw video buffers for Harness tests: every accepted format, padded strides, a real
//! image pasted in.

use gst_video::{VideoFormat, VideoInfo};
use portrait_vision::{FrameMut, PixelFormat};

pub const FORMATS: [(VideoFormat, PixelFormat); 8] = [
    (VideoFormat::Rgb, PixelFormat::Rgb),
    (VideoFormat::Bgr, PixelFormat::Bgr),
    (VideoFormat::Rgba, PixelFormat::Rgba),
    (VideoFormat::Bgra, PixelFormat::Bgra),
    (VideoFormat::Bgrx, PixelFormat::Bgrx),
    (VideoFormat::Rgbx, PixelFormat::Rgbx),
    (VideoFormat::I420, PixelFormat::I420),
    (VideoFormat::Nv12, PixelFormat::Nv12),
];

/// An RGB image (w×h) to draw at (x, y), each pixel as a `scale`×`scale` block.
pub struct Paste<'a> {
    pub rgb: &'a [u8],
    pub w: usize,
    pub h: usize,
    pub x: usize,
    pub y: usize,
    pub scale: usize,
}

/// Builds a `w`×`h` buffer of `fmt` (strides padded by `pad` bytes, planes laid out
/// with a VideoMeta) filled with grey and with `rgb` (iw×ih) pasted at (ox, oy), each
/// source pixel drawn as a `scale`×`scale` block.
pub fn make_buffer(
    fmt: VideoFormat,
    pf: PixelFormat,
    w: u32,
    h: u32,
    pad: u32,
    img: Option<Paste>,
) -> (gst::Buffer, VideoInfo) {
    let base = VideoInfo::builder(fmt, w, h).build().unwrap();
    let n = base.n_planes() as usize;
    let mut strides = [0i32; 4];
    let mut offsets = [0usize; 4];
    let mut size = 0usize;
    for p in 0..n {
        let stride = base.stride()[p] as usize + pad as usize;
        // Every multi-plane format here is 4:2:0.
        let rows = if p == 0 {
            h as usize
        } else {
            (h as usize).div_ceil(2)
        };
        strides[p] = stride as i32;
        offsets[p] = size;
        size += stride * rows;
    }
    let info = VideoInfo::builder(fmt, w, h)
        .stride(&strides[..n])
        .offset(&offsets[..n])
        .size(size)
        .build()
        .unwrap();
    let mut buf = gst::Buffer::with_size(size).unwrap();
    {
        let b = buf.get_mut().unwrap();
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            fmt,
            w,
            h,
            &offsets[..n],
            &strides[..n],
        )
        .unwrap();
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).unwrap();
        let datas = frame.planes_data_mut();
        let mut planes: [(&mut [u8], usize); 3] = [(&mut [], 0), (&mut [], 0), (&mut [], 0)];
        for (i, d) in datas.into_iter().enumerate().take(n) {
            planes[i] = (d, strides[i] as usize);
        }
        let mut f = FrameMut::new(pf, w as usize, h as usize, planes).unwrap();
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                f.put(x, y, [90, 90, 90]);
            }
        }
        if let Some(p) = img {
            for y in 0..p.h * p.scale {
                for x in 0..p.w * p.scale {
                    let i = ((y / p.scale) * p.w + x / p.scale) * 3;
                    let c = [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]];
                    f.put((p.x + x) as i64, (p.y + y) as i64, c);
                }
            }
        }
    }
    (buf, info)
}
